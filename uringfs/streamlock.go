package uringfs

import (
	"sync"

	"golang.org/x/sys/unix"
)

// File kinds, as far as locking goes (File.kind).
const (
	kindUnknown int32 = iota
	kindOffset        // a file with an offset: reads and writes share pos
	kindStream        // a pipe, FIFO, socket or character device
)

// writeLock returns the lock that Write and ReadFrom, which write at the
// file offset, serialise on. On a file with an offset it is pos, which
// reads take too, since both move the offset. A pipe, FIFO, socket or
// character device has none: there, as os keeps one lock for reads and
// one for writes, writes take a lock of their own, so that a Read
// waiting on such a file (for a FIFO opened read-write, perhaps for this
// very Write) does not hold up a Write, nor a Write waiting on a full
// pipe a Read.
func (f *File) writeLock() *sync.Mutex {
	if f.fileKind() == kindStream {
		return &f.wpos
	}
	return &f.pos
}

// fileKind returns f's kind, learnt once, with fstat(2), at the first
// call.
func (f *File) fileKind() int32 {
	k := f.kind.Load()
	if k == kindUnknown {
		k = kindOffset
		var st unix.Stat_t
		if ignoringEINTR(func() error { return unix.Fstat(f.fd, &st) }) == nil {
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFIFO, unix.S_IFSOCK, unix.S_IFCHR:
				k = kindStream
			}
		}
		f.kind.Store(k)
	}
	return k
}
