package uringfs

import (
	"context"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/splice"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// This file holds uringfs's ends of internal/splice's copies: WriteTo from
// a regular file into an *os.File, and ReadFrom from a pipe.

// spliceTo moves the regular file f from off to its end into dst with
// io_uring splice operations: straight into dst if it is a pipe, through
// splice's pipe otherwise. No byte is copied through user memory. The
// kernel runs splices on its io-wq worker threads (a splice may block),
// not inline.
//
// handled is false if dst takes no splices: the caller then copies from
// off+n, n being what was written to dst so far. The caller holds a
// reference and f.pos; Close of f ends the splices and their waits.
func (f *File) spliceTo(dst *os.File, off int64, buf []byte) (n int64, handled bool, err error) {
	rc, err := dst.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var res splice.Result
	// Control keeps dst's descriptor open while it runs.
	cerr := rc.Control(func(dfd uintptr) {
		e := fileToFd{f: f, off: off, dst: int(dfd)}
		if splice.Mode(e.dst) == unix.S_IFIFO {
			res = splice.Direct(e.direct, splice.All)
		} else {
			// dst.Write takes what is in the pipe if dst refuses.
			res = splice.Copy(splice.Ends{In: e.In, Out: e.Out}, splice.All, dst, buf)
		}
	})
	switch {
	case cerr != nil:
		return 0, false, nil
	case !res.Handled || res.Err == nil:
		// An error handing over the pipe is dst.Write's own.
		return res.N, res.Handled || res.Err != nil, res.Err
	case res.Side == splice.Dest || res.Err == syscall.EPIPE:
		return res.N, true, &fs.PathError{Op: "write", Path: dst.Name(), Err: res.Err}
	}
	return res.N, true, f.wrapErr("read", res.Err)
}

// fileToFd is a copy from f at off to dst.
type fileToFd struct {
	f   *File
	off int64
	dst int
}

func (e *fileToFd) In(p, n int) (int, error) {
	m, err := e.f.splice(e.f.fd, e.off, p, n)
	e.off += int64(m)
	return m, err
}

func (e *fileToFd) Out(p, n int) (int, error) { return e.f.splice(p, -1, e.dst, n) }

// direct splices straight into dst, a pipe.
func (e *fileToFd) direct(n int) (int, error) { return e.In(e.dst, n) }

// splice moves up to n bytes from src (at srcOff, or its position if -1)
// to dst at its position, and waits for dst to take bytes when it is a
// full non-blocking pipe. The waits name other descriptors than f's, so
// they wait with runOther, which Close of f ends.
func (f *File) splice(src int, srcOff int64, dst, n int) (int, error) {
	for {
		m, err := f.runOther(func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
			return r.Splice(src, srcOff, dst, -1, n, 0, o)
		})
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if _, err := f.runOther(func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
				return r.PollAdd(dst, uring.PollOut, o)
			}); err != nil {
				return 0, err
			}
			continue
		}
		return m, err
	}
}

// spliceFrom moves a pipe's bytes into f with io_uring's splice when r is
// a pipe (a *File or *os.File, or a LimitedReader around one), so that
// they never pass through user memory. handled is false, with nothing
// moved, when r is not a pipe or the destination cannot take a splice.
//
// Each splice holds a reference on f and its offset lock, as a Write
// does; waiting for the pipe to fill holds neither, so that, as with the
// generic copy, closing f does not wait for the pipe's writer.
func (f *File) spliceFrom(r io.Reader) (n int64, handled bool, err error) {
	if f.appendMode || f.exec == nil {
		return 0, false, nil
	}
	r, limit, lr := splice.Limited(r)
	if limit <= 0 {
		return 0, true, nil
	}
	e := pipeToFile{f: f}
	switch src := r.(type) {
	case *File:
		if src == f || src.exec == nil || src.acquire("read") != nil {
			return 0, false, nil
		}
		defer src.mu.decref()
		if splice.Mode(src.fd) != unix.S_IFIFO {
			return 0, false, nil
		}
		e.src = src
	case *os.File:
		sc, err := src.SyscallConn()
		if err != nil {
			return 0, false, nil
		}
		pipe, pollOS := false, false
		sc.Control(func(fd uintptr) {
			pipe = splice.Mode(int(fd)) == unix.S_IFIFO
			// os polls a descriptor that was non-blocking when it
			// was wrapped, or that it made so (os.Pipe); for a
			// blocking one the wait is a poll on io_uring.
			fl, _ := unix.FcntlInt(fd, unix.F_GETFL, 0)
			pollOS = fl&unix.O_NONBLOCK != 0
		})
		if !pipe {
			return 0, false, nil
		}
		e.osf, e.pollOS = src, pollOS
	default:
		return 0, false, nil
	}
	res := splice.Direct(e.move, limit)
	if lr != nil {
		lr.N -= res.N
	}
	if errno, ok := res.Err.(syscall.Errno); ok {
		res.Err = os.NewSyscallError("splice", errno)
	}
	return res.N, res.Handled, res.Err
}

// pipeToFile is a copy from a pipe, src or osf, into f at its offset.
type pipeToFile struct {
	f      *File
	src    *File
	osf    *os.File
	pollOS bool // osf waits in the netpoller
}

// move splices up to n bytes from the pipe into f, waiting for the pipe
// to hold some.
func (e *pipeToFile) move(n int) (m int, err error) {
	for {
		if e.osf == nil {
			m, err = e.splice(e.src.fd, n)
			if err == syscall.EAGAIN {
				if err = e.src.waitPoll(uring.PollIn); err == nil {
					continue
				}
			}
			return m, err
		}
		// RawConn.Read holds the *os.File's read lock, and waits in
		// the netpoller when the function asks to. (SyscallConn here,
		// not kept, lets the compiler see the RawConn's type and keep
		// the function on the stack.)
		sc, rerr := e.osf.SyscallConn()
		if rerr != nil {
			return 0, rerr
		}
		rerr = sc.Read(func(fd uintptr) bool {
			m, err = e.splice(int(fd), n)
			if err == syscall.EAGAIN && !e.pollOS {
				if err = e.waitPipe(int(fd)); err == nil {
					err = syscall.EINTR // try again
				}
			}
			return err != syscall.EAGAIN
		})
		if rerr != nil {
			err = rerr
		}
		if err != syscall.EINTR {
			return m, err
		}
	}
}

// splice splices once from the pipe src into f.
func (e *pipeToFile) splice(src, n int) (int, error) {
	f := e.f
	if err := f.acquire("write"); err != nil {
		return 0, unwrapPath(err)
	}
	defer f.mu.decref()
	lockOffsets(f, e.src)
	defer unlockOffsets(f, e.src)
	dst := f.fd
	// SPLICE_F_NONBLOCK: an empty pipe fails with EAGAIN rather than
	// hold an io-wq worker until a writer comes.
	return f.run(func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.Splice(src, uring.CurrentPosition, dst, uring.CurrentPosition, n, unix.SPLICE_F_NONBLOCK, o)
	})
}

// waitPipe waits on io_uring for the blocking pipe fd to hold bytes.
func (e *pipeToFile) waitPipe(fd int) error {
	_, err := e.f.exec.Do(context.Background(), fd, time.Time{}, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.PollAdd(fd, uring.PollIn, o)
	})
	return err
}
