package uringfs

import (
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A read of data the kernel already holds (the page cache, a pipe's
// buffer) never waits: io_uring itself first tries such a read inline,
// in the submitting system call, and only hands one that would block to
// its asynchronous path. preadv2(2) with RWF_NOWAIT is that same inline
// attempt without the ring's bookkeeping or the goroutine hand-offs
// around it, so pread makes it first and submits to the ring only what
// would have blocked (EAGAIN): a page-cache hit costs what os's pread
// costs, and a miss still goes to disk asynchronously, with no thread
// blocked per read. Writes do the same with pwritev2(2).
//
// The attempt is not made where it cannot help: on O_DIRECT files, whose
// RWF_NOWAIT transfers still wait for the device; on files whose driver
// does not support RWF_NOWAIT (EOPNOTSUPP); and, for a while, after
// attempts that found nothing ready, backing off exponentially while they
// keep failing, so that transfers of uncached data do not pay a wasted
// system call each.
//
// A file system that cannot write into the page cache without blocking
// (ext4 and tmpfs answer RWF_NOWAIT writes with EOPNOTSUPP) gives io_uring
// no inline attempt either: every buffered write to such a regular file
// runs on an io-wq worker thread, which blocks there as a write(2) would,
// plus two thread hand-offs (BenchmarkRandomWriteAt/ring: about twice
// the CPU time of os's 4 KiB writes on ext4). Writes to such files are therefore made with a plain
// pwritev2(2), as os makes them: the same one blocked thread, without
// the hand-offs.
type directIO struct {
	state   atomic.Int32 // directUnknown, ...
	skip    atomic.Int32 // transfers left to send straight to the ring
	backoff atomic.Int32 // skip's value after the next failed attempt
}

const (
	directUnknown  = iota
	directNowait   // try RWF_NOWAIT, then the ring
	directBlocking // a plain system call (writes to regular files only)
	directOff      // the ring only
)

const maxNowaitBackoff = 1024

// nowaitMax bounds the transfers attempted without telling the scheduler
// of the system call (see transfer): 256 KiB from the page cache takes
// tens of microseconds, as long as a short computation.
const nowaitMax = 256 << 10

// mode returns how the next transfer on fd goes. The counters are updated
// by many goroutines without a lock: a lost update makes one transfer
// more or fewer go straight to the ring.
func (d *directIO) mode(fd int) int32 {
	m := d.state.Load()
	switch m {
	case directUnknown:
		d.decide(fd)
		return d.state.Load()
	case directNowait:
		if d.skip.Load() > 0 {
			d.skip.Add(-1)
			return directOff
		}
	}
	return m
}

// decide sends every transfer of an O_DIRECT fd to the ring, once, on the
// first transfer.
func (d *directIO) decide(fd int) {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_DIRECT != 0 {
		d.state.Store(directOff)
		return
	}
	d.state.CompareAndSwap(directUnknown, directNowait)
}

// hit records an attempt that moved something.
func (d *directIO) hit() {
	if d.backoff.Load() != 0 {
		d.backoff.Store(0)
	}
}

// miss records an attempt that found nothing ready.
func (d *directIO) miss() {
	b := min(max(2*d.backoff.Load(), 1), maxNowaitBackoff)
	d.backoff.Store(b)
	d.skip.Store(b)
}

// unsupported records that fd takes no RWF_NOWAIT transfers in this
// direction: writes to a regular file then use plain system calls, and
// everything else the ring.
func (d *directIO) unsupported(fd int, write bool) {
	var st unix.Stat_t
	if write && unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		d.state.Store(directBlocking)
		return
	}
	d.state.Store(directOff)
}

// direct attempts one transfer of b at off (-1: the file offset) without
// the ring. done is false when it must go to the ring: nothing was ready,
// or the file does not allow such transfers. Otherwise n and err are the
// result (a read of 0 bytes with a nil error is the end of the file).
func (f *File) direct(d *directIO, b []byte, off int64, write bool) (n int, err error, done bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	switch d.mode(f.fd) {
	case directOff:
		return 0, nil, false
	case directBlocking:
		for {
			n, err = transfer(f.fd, b, off, write, 0)
			if err != syscall.EINTR {
				return n, err, true
			}
		}
	}
	n, err = transfer(f.fd, b, off, write, unix.RWF_NOWAIT)
	switch err {
	case nil:
		d.hit()
		return n, nil, true
	case syscall.EAGAIN:
		d.miss()
	case syscall.EINTR:
	case syscall.EOPNOTSUPP, syscall.EINVAL, syscall.ENOSYS:
		// The file (or the kernel) does not do RWF_NOWAIT transfers.
		// EINVAL also covers an unaligned transfer on an fd made
		// O_DIRECT after the first transfer decided: the ring reports
		// its own error for those.
		d.unsupported(f.fd, write)
		if d.state.Load() == directBlocking {
			return f.direct(d, b, off, write)
		}
	default:
		// A real error (EISDIR, EBADF, ENOSPC, EPIPE...): the ring
		// would say the same.
		return 0, err, true
	}
	return 0, nil, false
}

// transfer is preadv2 or pwritev2(fd, [b], off, flags). With RWF_NOWAIT
// the call cannot block, so for a short transfer it skips the scheduler's
// system-call bookkeeping, as a short computation would; a long one (a
// large copy), and any that may block, tells the scheduler, so that the
// processor can be handed on.
func transfer(fd int, b []byte, off int64, write bool, flags int) (int, error) {
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	trap := uintptr(unix.SYS_PREADV2)
	if write {
		trap = unix.SYS_PWRITEV2
	}
	// The offset is passed as two halves, low first (on 64-bit Linux
	// the low one holds all of it); -1 means the file offset.
	lo, hi := uintptr(off), uintptr(uint64(off)>>32>>32)
	var r uintptr
	var e syscall.Errno
	if flags&unix.RWF_NOWAIT != 0 && len(b) <= nowaitMax {
		r, _, e = syscall.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1, lo, hi, uintptr(flags))
	} else {
		r, _, e = syscall.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1, lo, hi, uintptr(flags))
	}
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
