package uringnet

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// One splice moves at most the pipe's capacity, so that filling the pipe
// never blocks: splicePipeSize if the kernel grants it (pipe-max-size and
// the per-user pipe limits may not), else the default, spliceChunk. Every
// splice is a trip through io-wq, so the larger pipe pays: fewer trips,
// half the time per 4 MiB received (BenchmarkWriteToFile).
const (
	spliceChunk    = 64 << 10
	splicePipeSize = 1 << 20
)

// ReadFrom copies from r until io.EOF or an error, with io.Copy's
// semantics. When r is a regular file (an *os.File or anything with
// SyscallConn or Fd, possibly inside an *io.LimitedReader), the bytes move
// inside the kernel, file to pipe to socket, with io_uring splice
// operations, never through user memory; the file's offset advances as a
// read would advance it. Other readers are copied through a buffer.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if n, handled, err := c.spliceFrom(r); handled {
		return n, err
	}
	return io.Copy(writerOnly{c}, r)
}

// writerOnly hides Conn.ReadFrom from io.Copy, which would call it back.
type writerOnly struct{ io.Writer }

// WriteTo copies from the connection to w until the peer closes its end
// (io.EOF, which is not returned) or an error, as net.TCPConn's WriteTo.
// When w is a regular file or a pipe (an *os.File or anything with
// SyscallConn; a regular file also through Fd alone, as a *uringfs.File),
// the bytes move socket to pipe to w inside the kernel with io_uring
// splice operations, never through user memory; a file is written at its
// offset, which advances. Other writers get them through a buffer. The
// read deadline bounds waiting for the peer, w's own (a pipe's) waiting
// for w; bytes read from the socket are in w, or counted lost in the
// returned error, when WriteTo returns.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	n, handled, err := c.spliceTo(w)
	if !handled && err == nil {
		var m int64
		m, err = io.Copy(w, readerOnly{c})
		n += m
		if err != nil {
			err = c.fd.opError("writeto", "", err)
		}
	}
	return n, err
}

// readerOnly hides Conn.WriteTo from io.Copy, which would call it back.
type readerOnly struct{ io.Reader }

// spliceDest finds the fd behind w if it is a regular file or a pipe
// (regular files only if w has just Fd, whose fd nothing keeps open and
// no netpoller waits on).
func spliceDest(w io.Writer) (raw syscall.RawConn, fdOnly bool, ok bool) {
	switch d := w.(type) {
	case syscall.Conn:
		var err error
		if raw, err = d.SyscallConn(); err != nil {
			return nil, false, false
		}
	case interface{ Fd() uintptr }:
		raw, fdOnly = fdRawConn(d.Fd()), true
	default:
		return nil, false, false
	}
	if err := raw.Control(func(fd uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) != nil {
			return
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			// splice refuses a file opened O_APPEND.
			fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
			ok = err == nil && fl&unix.O_APPEND == 0
		case unix.S_IFIFO:
			ok = !fdOnly
		}
	}); err != nil {
		return nil, false, false
	}
	return raw, fdOnly, ok
}

func (c *Conn) spliceTo(w io.Writer) (written int64, handled bool, err error) {
	raw, fdOnly, ok := spliceDest(w)
	if !ok {
		return 0, false, nil
	}
	fd := c.fd
	if !fd.incref() {
		return 0, true, fd.opError("writeto", "", net.ErrClosed)
	}
	defer fd.decref()
	fd.rmu.Lock()
	defer fd.rmu.Unlock()

	p, perr := newSplicePipe()
	if perr != nil {
		return 0, false, nil
	}
	defer p.close()

	fill := func(n int) (int, error) {
		res, err := fd.run(&fd.rd, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
			return r.SpliceStream(fd.sysfd, p.w, n, o)
		})
		return int(res.Res), err
	}
	drain := func(n int) (int, error) {
		var (
			moved int
			derr  error
		)
		// Runs inside w's RawConn: false (w is a full pipe) waits in
		// the netpoller until w can take more.
		try := func(wfd uintptr) bool {
			for {
				res, err := fd.e.Do(context.Background(), int(wfd), time.Time{}, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
					return r.SpliceStream(p.r, int(wfd), n, o)
				})
				switch {
				case errors.Is(err, syscall.EINTR):
					continue
				case errors.Is(err, syscall.EAGAIN):
					return false
				}
				moved, derr = int(res.Res), err
				return true
			}
		}
		var err error
		if fdOnly {
			err = raw.Control(func(wfd uintptr) { try(wfd) })
		} else {
			err = raw.Write(try)
		}
		if err != nil {
			return 0, err
		}
		return moved, derr
	}
	written, inPipe, ferr, derr := p.move(-1, fill, drain)
	switch {
	case ferr != nil && written == 0 && (ferr == syscall.EINVAL || ferr == syscall.ENOSYS):
		// This socket cannot be spliced (nothing was read): copy.
		return 0, false, nil
	case ferr != nil:
		return written, true, fd.opError("writeto", "splice", ferr)
	case derr != nil && written == 0 && (errors.Is(derr, syscall.EINVAL) || errors.Is(derr, syscall.ENOSYS)):
		// w's file system cannot take a splice: hand what is in the
		// pipe to w.Write, then copy the rest.
		buf := make([]byte, inPipe)
		if _, err := io.ReadFull(fdReader(p.r), buf); err != nil {
			return 0, true, fd.opError("writeto", "read", err)
		}
		n, err := w.Write(buf)
		if err != nil {
			return int64(n), true, fd.opError("writeto", "", err)
		}
		return int64(n), false, nil
	case derr != nil:
		return written, true, fd.opError("writeto", "splice", derr)
	}
	return written, true, nil
}

// fdReader reads a blocking fd with read(2).
type fdReader int

func (r fdReader) Read(b []byte) (int, error) {
	n, err := unix.Read(int(r), b)
	if n < 0 {
		n = 0
	}
	if err == nil && n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	return n, err
}

// spliceSource finds the fd behind r, if it is a regular file, and the
// limit io.LimitedReader puts on it (-1 for none).
func spliceSource(r io.Reader) (sc syscall.RawConn, lr *io.LimitedReader, ok bool) {
	if l, isLR := r.(*io.LimitedReader); isLR {
		lr, r = l, l.R
	}
	var raw syscall.RawConn
	switch s := r.(type) {
	case syscall.Conn:
		var err error
		if raw, err = s.SyscallConn(); err != nil {
			return nil, nil, false
		}
	case interface{ Fd() uintptr }:
		raw = fdRawConn(s.Fd())
	default:
		return nil, nil, false
	}
	regular := false
	if err := raw.Control(func(fd uintptr) {
		var st unix.Stat_t
		regular = unix.Fstat(int(fd), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
	}); err != nil || !regular {
		return nil, nil, false
	}
	return raw, lr, true
}

// fdRawConn is enough of a RawConn for Control over a bare fd.
type fdRawConn uintptr

func (f fdRawConn) Control(fn func(uintptr)) error { fn(uintptr(f)); return nil }
func (f fdRawConn) Read(func(uintptr) bool) error  { return syscall.ENOTSUP }
func (f fdRawConn) Write(func(uintptr) bool) error { return syscall.ENOTSUP }

func (c *Conn) spliceFrom(r io.Reader) (written int64, handled bool, err error) {
	raw, lr, ok := spliceSource(r)
	if !ok {
		return 0, false, nil
	}
	remain := int64(-1)
	if lr != nil {
		if lr.N <= 0 {
			return 0, true, nil
		}
		remain = lr.N
	}
	fd := c.fd
	if !fd.incref() {
		return 0, true, fd.opError("readfrom", "", net.ErrClosed)
	}
	defer fd.decref()
	fd.wmu.Lock()
	defer fd.wmu.Unlock()

	p, perr := newSplicePipe()
	if perr != nil {
		return 0, false, nil
	}
	defer p.close()

	// Control keeps the source open for the whole copy.
	cerr := raw.Control(func(src uintptr) {
		fill := func(n int) (int, error) {
			res, err := fd.run(&fd.wr, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
				return r.SpliceStream(int(src), p.w, n, o)
			})
			return int(res.Res), err
		}
		drain := func(n int) (int, error) {
			res, err := fd.run(&fd.wr, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
				return r.SpliceStream(p.r, fd.sysfd, n, o)
			})
			return int(res.Res), err
		}
		var ferr, derr error
		written, _, ferr, derr = p.move(remain, fill, drain)
		switch {
		case ferr != nil && written == 0 && (ferr == syscall.EINVAL || ferr == syscall.ENOSYS):
			// This file cannot be spliced: copy instead.
			return
		case ferr != nil:
			err = fd.opError("readfrom", "splice", ferr)
		case derr != nil:
			err = fd.opError("readfrom", "splice", derr)
		}
		handled = true
	})
	if lr != nil {
		lr.N -= written
	}
	if cerr != nil && err == nil && handled {
		err = fd.opError("readfrom", "", cerr)
	}
	return written, handled, err
}

// splicePipe is the pipe that splice moves bytes through, file to socket
// or socket to file: splice needs a pipe on one side. size is its
// capacity.
type splicePipe struct{ r, w, size int }

func newSplicePipe() (splicePipe, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return splicePipe{}, err
	}
	size := spliceChunk
	if n, err := unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, splicePipeSize); err == nil {
		size = n
	}
	return splicePipe{r: p[0], w: p[1], size: size}, nil
}

func (p splicePipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// move moves up to remain bytes (all, if remain is negative) from a
// source to a destination through the pipe, a chunk at a time: fill moves
// up to n bytes from the source into the pipe, returning 0 at the end of
// the source; drain moves up to n bytes from the pipe to the destination.
// The pipe is empty before each fill, so a fill never waits for room. It
// returns the bytes drained, the bytes left in the pipe if drain failed,
// and which side failed.
func (p splicePipe) move(remain int64, fill, drain func(n int) (int, error)) (written int64, inPipe int, fillErr, drainErr error) {
	for remain != 0 {
		n := p.size
		if remain > 0 && remain < int64(n) {
			n = int(remain)
		}
		m, err := fill(n)
		if err != nil {
			return written, 0, err, nil
		}
		if m == 0 {
			return written, 0, nil, nil
		}
		inPipe = m
		for inPipe > 0 {
			d, err := drain(inPipe)
			if err != nil {
				return written, inPipe, nil, err
			}
			if d == 0 {
				return written, inPipe, nil, io.ErrShortWrite
			}
			inPipe -= d
			written += int64(d)
			if remain > 0 {
				remain -= int64(d)
			}
		}
	}
	return written, 0, nil, nil
}
