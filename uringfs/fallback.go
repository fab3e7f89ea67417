package uringfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"golang.org/x/sys/unix"
)

// The fallback to package os (Config.FallbackToOS) keeps the File type and
// everything above its transfers: the reference count that Close waits
// on, the file offset lock, directory reading (getdents), Seek, the error
// wrapping. Only the transfers and Close change hands, to an *os.File
// holding the same descriptor. An *os.File rather than bare pread(2) and
// write(2), because it is what waits well without io_uring: a
// non-blocking pipe or socket given to NewFile, or a FIFO os.OpenFile
// makes non-blocking, waits in the runtime netpoller (a parked goroutine,
// not a blocked thread), and a deadline in the past wakes it, which is how
// Close interrupts it. EINTR, short writes and EAGAIN are handled there
// as os handles them. Stat, Sync and Truncate, which never wait on a
// peer, are the plain system calls on the descriptor.
//
// The *os.File owns the descriptor: its own finalizer closes a File
// dropped without Close, so newOSFile registers no cleanup of its own,
// which would close the number twice.

// newOSFile returns a File doing its I/O through osf.
func newOSFile(osf *os.File, name string, appendMode bool) *File {
	fd := -1
	// Not osf.Fd(): that would put a descriptor os made non-blocking
	// back into blocking mode and out of the netpoller.
	if sc, err := osf.SyscallConn(); err == nil {
		sc.Control(func(s uintptr) { fd = int(s) })
	}
	return &File{fd: fd, name: name, osf: osf, appendMode: appendMode}
}

// wrapFd returns a File for fd, which it then owns, running on e or, with
// e nil, on package os.
func wrapFd(e *reactor.Executor, fd int, name string, appendMode bool) *File {
	if e == nil {
		return newOSFile(os.NewFile(uintptr(fd), name), name, appendMode)
	}
	return newFile(e, nil, fd, name, appendMode)
}

// osPread is pread for a File backed by package os: one read at off (-1:
// the file offset), 0 and a nil error at the end.
func (f *File) osPread(b []byte, off int64) (n int, err error) {
	if off < 0 {
		n, err = f.osf.Read(b)
	} else {
		n, err = f.osf.ReadAt(b, off)
	}
	if err == io.EOF {
		err = nil
	}
	return n, f.osErr(err)
}

// osPwrite is pwrite for a File backed by package os. os writes all of b
// or fails.
func (f *File) osPwrite(b []byte, off int64) (n int, err error) {
	if off < 0 {
		n, err = f.osf.Write(b)
	} else {
		n, err = f.osf.WriteAt(b, off)
	}
	return n, f.osErr(err)
}

// osErr turns an error of the *os.File into the cause that File's methods
// wrap themselves: the *fs.PathError comes off, and the deadline with
// which Close interrupts a wait becomes errClosing, as a cancellation by
// Close does on io_uring.
func (f *File) osErr(err error) error {
	if err == nil {
		return nil
	}
	if f.mu.Closed() && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, fs.ErrClosed)) {
		return errClosing
	}
	return unwrapPath(err)
}

// osInterrupt wakes the operations Close waits for: a deadline in the
// past ends every wait in the netpoller. A transfer on a regular file
// cannot be interrupted, on io_uring as here, and finishes. Unlike on
// io_uring, neither can a read waiting on a descriptor os does not poll
// (one that was blocking when NewFile wrapped it, or that Fd put back
// into blocking mode): Close then waits for it to return.
func (f *File) osInterrupt() {
	f.osf.SetDeadline(time.Unix(1, 0))
}

// osStat is Stat for a File backed by package os, from fstat(2).
func (f *File) osStat() (fs.FileInfo, error) {
	var st unix.Stat_t
	if err := ignoringEINTR(func() error { return unix.Fstat(f.fd, &st) }); err != nil {
		return nil, f.wrapErr("stat", err)
	}
	return statInfo(filepath.Base(f.name), &st), nil
}

// osBatch runs a batch for a File backed by package os: one transfer after
// another, each with ReadAt's or WriteAt's results. The caller holds a
// reference.
func (f *File) osBatch(reqs []Request, write bool) error {
	op := "read"
	if write {
		op = "write"
	}
	for i := range reqs {
		q := &reqs[i]
		q.N, q.Err = 0, nil
		if q.Off < 0 {
			q.Err = &fs.PathError{Op: op + "at", Path: f.name, Err: errNegativeOffset}
			continue
		}
		if write {
			q.N, q.Err = f.writeAll(q.Buf, q.Off, op)
			continue
		}
		for q.N < len(q.Buf) {
			n, err := f.pread(q.Buf[q.N:], q.Off+int64(q.N))
			q.N += n
			if err != nil {
				q.Err = f.wrapErr(op, err)
				break
			}
			if n == 0 {
				q.Err = io.EOF
				break
			}
		}
	}
	return nil
}
