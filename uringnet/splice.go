package uringnet

import (
	"io"
	"net"
	"syscall"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// spliceChunk is how much one splice moves through the pipe: the default
// pipe capacity, so that filling the pipe never blocks.
const spliceChunk = 64 << 10

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

	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, false, nil
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])

	// Control keeps the source open for the whole copy.
	cerr := raw.Control(func(src uintptr) {
		for remain != 0 {
			n := spliceChunk
			if remain > 0 && remain < int64(n) {
				n = int(remain)
			}
			res, e := fd.run(&fd.wr, func(r *reactor.Ring, o *reactor.Op) (uring.Job, error) {
				return r.SpliceStream(int(src), p[1], n, o)
			})
			if e != nil {
				if written == 0 && (e == syscall.EINVAL || e == syscall.ENOSYS) {
					// This file cannot be spliced: copy instead.
					handled = false
					return
				}
				err = fd.opError("readfrom", "splice", e)
				break
			}
			if res.Res == 0 {
				break // end of file
			}
			inPipe := int(res.Res)
			for inPipe > 0 {
				res, e := fd.run(&fd.wr, func(r *reactor.Ring, o *reactor.Op) (uring.Job, error) {
					return r.SpliceStream(p[0], fd.sysfd, inPipe, o)
				})
				if e != nil {
					err = fd.opError("readfrom", "splice", e)
					break
				}
				inPipe -= int(res.Res)
				written += int64(res.Res)
				if remain > 0 {
					remain -= int64(res.Res)
				}
			}
			if err != nil {
				break
			}
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
