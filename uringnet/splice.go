package uringnet

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/uring-go/uring/internal/fdlife"
	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/splice"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// ReadFrom copies from r until io.EOF or an error, with io.Copy's
// semantics. When r is a regular file (an *os.File or anything with
// SyscallConn or Fd, possibly inside an *io.LimitedReader), the bytes move
// inside the kernel, file to pipe to socket, with io_uring splice
// operations, never through user memory; the file's offset advances by
// what reached the socket, even when the copy fails. Other readers are
// copied through a buffer.
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
	if raw, fdOnly = rawConnOf(w); raw == nil {
		return nil, false, false
	}
	if err := raw.Control(func(fd uintptr) {
		switch splice.Mode(int(fd)) {
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

// rawConnOf is the RawConn of v, if it has SyscallConn, or a Control-only
// one (fdOnly) if it has just Fd; nil if neither.
func rawConnOf(v any) (raw syscall.RawConn, fdOnly bool) {
	switch v := v.(type) {
	case syscall.Conn:
		if raw, err := v.SyscallConn(); err == nil {
			return raw, false
		}
	case interface{ Fd() uintptr }:
		return fdRawConn(v.Fd()), true
	}
	return nil, false
}

// spliceTo moves the connection's bytes into w, socket to pipe to w,
// until the peer closes its end. The reads wait as Read does (the read
// deadline, Close); the writes wait as w's own do, inside its RawConn.
func (c *Conn) spliceTo(w io.Writer) (int64, bool, error) {
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
	// If w's file system takes no splice, w.Write gets what is in the
	// pipe, and the caller copies the rest.
	e := sockToW{fd: fd, raw: raw, fdOnly: fdOnly}
	res := splice.Copy(splice.Ends{In: e.In, Out: e.Out}, splice.All, w, nil)
	return res.N, res.Handled || res.Err != nil, spliceErr(fd, "writeto", res)
}

// spliceErr is the error of a copy for op: a splice's, or that of the
// plain write of what the pipe held.
func spliceErr(fd *netFD, op string, res splice.Result) error {
	switch {
	case res.Err == nil:
		return nil
	case !res.Handled:
		return fd.opError(op, "", res.Err)
	}
	return fd.opError(op, "splice", res.Err)
}

// sockToW is a copy from the socket fd to w, through raw.
type sockToW struct {
	fd     *netFD
	raw    syscall.RawConn
	fdOnly bool // raw is an fdRawConn: Control only
}

func (e *sockToW) In(p, n int) (int, error) { return e.fd.splice(&e.fd.rd, e.fd.sysfd, p, n) }

func (e *sockToW) Out(p, n int) (moved int, err error) {
	// Runs inside w's RawConn: false (w is a full pipe) waits in the
	// netpoller until w can take more. It names no field of e, which
	// stays on the stack.
	exec := e.fd.e
	try := func(wfd uintptr) bool {
		for {
			var res reactor.Result
			res, err = exec.Do(context.Background(), int(wfd), time.Time{}, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
				return r.SpliceStream(p, int(wfd), n, o)
			})
			switch {
			case errors.Is(err, syscall.EINTR):
				continue
			case errors.Is(err, syscall.EAGAIN):
				return false
			}
			moved = int(res.Res)
			return true
		}
	}
	var rerr error
	if e.fdOnly {
		rerr = e.raw.Control(func(wfd uintptr) { try(wfd) })
	} else {
		rerr = e.raw.Write(try)
	}
	if rerr != nil {
		return 0, rerr
	}
	return moved, err
}

// splice runs one splice of up to n bytes from src to dst, waiting as
// fd's operations in p's direction wait.
func (fd *netFD) splice(p *fdlife.Waiter, src, dst, n int) (int, error) {
	res, err := fd.run(p, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.SpliceStream(src, dst, n, o)
	})
	return int(res.Res), err
}

// spliceSource finds the fd behind r, if it is a regular file, and the
// limit io.LimitedReader puts on it.
func spliceSource(r io.Reader) (raw syscall.RawConn, limit int64, lr *io.LimitedReader, ok bool) {
	r, limit, lr = splice.Limited(r)
	if raw, _ = rawConnOf(r); raw == nil {
		return nil, 0, nil, false
	}
	if err := raw.Control(func(fd uintptr) { ok = splice.Mode(int(fd)) == unix.S_IFREG }); err != nil || !ok {
		return nil, 0, nil, false
	}
	return raw, limit, lr, true
}

// fdRawConn is enough of a RawConn for Control over a bare fd.
type fdRawConn uintptr

func (f fdRawConn) Control(fn func(uintptr)) error { fn(uintptr(f)); return nil }
func (f fdRawConn) Read(func(uintptr) bool) error  { return syscall.ENOTSUP }
func (f fdRawConn) Write(func(uintptr) bool) error { return syscall.ENOTSUP }

// spliceFrom moves a regular file's bytes from its offset to the socket,
// file to pipe to socket, both waiting as Write does. The file's offset
// advances by what reached the socket: bytes read into the pipe that the
// socket did not take go back.
func (c *Conn) spliceFrom(r io.Reader) (written int64, handled bool, err error) {
	raw, limit, lr, ok := spliceSource(r)
	if !ok {
		return 0, false, nil
	}
	if limit <= 0 {
		return 0, true, nil
	}
	fd := c.fd
	if !fd.incref() {
		return 0, true, fd.opError("readfrom", "", net.ErrClosed)
	}
	defer fd.decref()
	fd.wmu.Lock()
	defer fd.wmu.Unlock()

	var res splice.Result
	// Control keeps the source open for the whole copy.
	cerr := raw.Control(func(src uintptr) {
		e := fileToSock{fd: fd, src: int(src)}
		res = splice.Copy(splice.Ends{In: e.In, Out: e.Out}, limit, nil, nil)
		if res.Left > 0 {
			unix.Seek(int(src), -int64(res.Left), io.SeekCurrent)
		}
	})
	if lr != nil {
		lr.N -= res.N
	}
	if !res.Handled {
		// This file cannot be spliced: copy instead.
		return res.N, false, nil
	}
	if cerr != nil && res.Err == nil {
		return res.N, true, fd.opError("readfrom", "", cerr)
	}
	return res.N, true, spliceErr(fd, "readfrom", res)
}

// fileToSock is a copy from the file src to the socket fd.
type fileToSock struct {
	fd  *netFD
	src int
}

func (e fileToSock) In(p, n int) (int, error)  { return e.fd.splice(&e.fd.wr, e.src, p, n) }
func (e fileToSock) Out(p, n int) (int, error) { return e.fd.splice(&e.fd.wr, p, e.fd.sysfd, n) }
