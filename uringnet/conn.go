package uringnet

import (
	"io"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxRW bounds one send or recv: the length travels in 32 bits, and
// larger writes are looped anyway.
const maxRW = 1 << 30

// Conn is a stream connection (TCP or Unix) whose reads and writes run on
// io_uring. It implements net.Conn; like *net.TCPConn it is safe for
// concurrent use, with one Read and one Write running at a time.
type Conn struct {
	fd *netFD
}

var (
	_ net.Conn      = (*Conn)(nil)
	_ io.ReaderFrom = (*Conn)(nil)
	_ io.WriterTo   = (*Conn)(nil)
	_ syscall.Conn  = (*Conn)(nil)
)

// Read reads up to len(b) bytes. It returns io.EOF, unwrapped, once the
// peer has closed its end and everything it sent has been read.
func (c *Conn) Read(b []byte) (int, error) {
	fd := c.fd
	if !fd.incref() {
		return 0, fd.opError("read", "read", net.ErrClosed)
	}
	fd.rmu.Lock()
	// One deferred call, not two: with Read's other locals it is the
	// frame between the caller and the enter (see below).
	defer fd.readUnlock()
	if len(b) == 0 {
		return 0, fd.readEmpty()
	}
	if len(b) > maxRW {
		b = b[:maxRW]
	}
	// dontWait is written out here: a goroutine's stack grows to fit
	// its deepest call and is never shrunk back to the 2 KiB it starts
	// with while it waits (the runtime halves a stack only if under a
	// quarter is in use), so a frame less below Read keeps an idle
	// conn's goroutine at net's 2 KiB instead of 4 (BenchmarkIdleConns).
	d := &fd.rio
	d.setBuf(b)
	res, err := fd.pollWait(&fd.rd, d.try, &d.pollOutcome)
	d.setBuf(nil)
	if err != nil {
		return 0, fd.opError("read", "read", err)
	}
	if res.Res == 0 {
		return 0, io.EOF
	}
	return int(res.Res), nil
}

// readUnlock ends a Read: it unlocks rmu and drops the Read's reference.
func (fd *netFD) readUnlock() {
	fd.rmu.Unlock()
	fd.decref()
}

// writeUnlock ends a Write, as readUnlock a Read.
func (fd *netFD) writeUnlock() {
	fd.wmu.Unlock()
	fd.decref()
}

// writeEmpty is a Write of no bytes: nil, or the error a write would
// get.
func (fd *netFD) writeEmpty() error {
	if err := fd.wr.Check(); err != nil {
		return fd.opError("write", "write", err)
	}
	return nil
}

// readEmpty is a Read of no bytes: nil, or the error a read would get.
func (fd *netFD) readEmpty() error {
	if err := fd.rd.Check(); err != nil {
		return fd.opError("read", "read", err)
	}
	return nil
}

// Write writes all of b, looping over short sends; it returns fewer bytes
// only with an error.
func (c *Conn) Write(b []byte) (int, error) {
	fd := c.fd
	if !fd.incref() {
		return 0, fd.opError("write", "write", net.ErrClosed)
	}
	fd.wmu.Lock()
	defer fd.writeUnlock() // one deferred call, as in Read
	if len(b) == 0 {
		return 0, fd.writeEmpty()
	}
	nn := 0
	for nn < len(b) {
		chunk := b[nn:min(len(b), nn+maxRW)]
		// As in Read.
		d := &fd.wio
		d.setBuf(chunk)
		res, err := fd.pollWait(&fd.wr, d.try, &d.pollOutcome)
		d.setBuf(nil)
		if err != nil {
			return nn, fd.opError("write", "write", err)
		}
		if res.Res == 0 {
			return nn, fd.opError("write", "write", io.ErrUnexpectedEOF)
		}
		nn += int(res.Res)
	}
	return nn, nil
}

// Close closes the connection. Blocked reads and writes return
// net.ErrClosed; Close returns once they have and the fd is closed.
func (c *Conn) Close() error {
	if err := c.fd.Close(); err != nil {
		return c.fd.opError("close", "close", err)
	}
	return nil
}

// CloseRead shuts down the reading side (shutdown(2) with SHUT_RD).
func (c *Conn) CloseRead() error { return c.shutdown(unix.SHUT_RD) }

// CloseWrite shuts down the writing side (SHUT_WR): the peer reads EOF
// after what was written, and this side can still read.
func (c *Conn) CloseWrite() error { return c.shutdown(unix.SHUT_WR) }

func (c *Conn) shutdown(how int) error {
	fd := c.fd
	if !fd.incref() {
		return fd.opError("close", "shutdown", net.ErrClosed)
	}
	defer fd.decref()
	if err := unix.Shutdown(fd.sysfd, how); err != nil {
		return fd.opError("close", "shutdown", err)
	}
	return nil
}

// LocalAddr returns the local address: a *net.TCPAddr or *net.UnixAddr.
func (c *Conn) LocalAddr() net.Addr { return c.fd.localAddr() }

// RemoteAddr returns the peer's address: a *net.TCPAddr or *net.UnixAddr.
func (c *Conn) RemoteAddr() net.Addr { return c.fd.remoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if !c.fd.incref() {
		return c.fd.connSetErr(net.ErrClosed)
	}
	defer c.fd.decref()
	c.fd.rd.SetOn(t, c.fd.mirror(false))
	c.fd.wr.SetOn(t, c.fd.mirror(true))
	return nil
}

// SetReadDeadline sets the deadline for Read calls, pending ones
// included. A time in the past wakes a pending Read at once with an
// error matching os.ErrDeadlineExceeded; bytes that arrive meanwhile are
// returned by the next Read once the deadline is moved or cleared.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if !c.fd.incref() {
		return c.fd.connSetErr(net.ErrClosed)
	}
	defer c.fd.decref()
	c.fd.rd.SetOn(t, c.fd.mirror(false))
	return nil
}

// SetWriteDeadline sets the deadline for Write calls, pending ones
// included. A Write stopped by it may have written part of its buffer,
// as the count it returns says.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if !c.fd.incref() {
		return c.fd.connSetErr(net.ErrClosed)
	}
	defer c.fd.decref()
	c.fd.wr.SetOn(t, c.fd.mirror(true))
	return nil
}

// setErr is the error of a failed socket option, as net reports it.
func (fd *netFD) setErr(err error) error {
	return fd.opError("set", "setsockopt", err)
}
