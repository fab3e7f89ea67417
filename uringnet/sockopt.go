package uringnet

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// defaultKeepAlive is net's default keep-alive period for dialed and
// accepted TCP connections.
const defaultKeepAlive = 15 * time.Second

func (c *Conn) setsockopt(f func(fd int) error) error {
	fd := c.fd
	if !fd.incref() {
		return fd.opError("set", "", net.ErrClosed)
	}
	defer fd.decref()
	if err := f(fd.sysfd); err != nil {
		return fd.setErr(err)
	}
	return nil
}

// SetNoDelay controls Nagle's algorithm (TCP_NODELAY). It is on (no
// delay) by default, as with net.
func (c *Conn) SetNoDelay(noDelay bool) error {
	return c.setsockopt(func(fd int) error { return setNoDelay(fd, noDelay) })
}

// SetKeepAlive turns TCP keep-alive probes on or off.
func (c *Conn) SetKeepAlive(keepalive bool) error {
	return c.setsockopt(func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolint(keepalive))
	})
}

// SetKeepAlivePeriod sets the idle time before the first keep-alive probe
// and the interval between probes, rounded up to whole seconds.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	return c.setsockopt(func(fd int) error { return setKeepAlivePeriod(fd, d) })
}

// SetLinger sets what Close does with unsent data, as net's SetLinger: a
// negative sec lets the kernel send it in the background (the default),
// 0 discards it and resets the connection, a positive sec lets Close's
// close(2) wait up to that long.
func (c *Conn) SetLinger(sec int) error {
	return c.setsockopt(func(fd int) error {
		l := unix.Linger{}
		if sec >= 0 {
			l.Onoff, l.Linger = 1, int32(sec)
		}
		return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &l)
	})
}

// SetReadBuffer sets the socket's receive buffer size (SO_RCVBUF).
func (c *Conn) SetReadBuffer(bytes int) error {
	return c.setsockopt(func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
	})
}

// SetWriteBuffer sets the socket's send buffer size (SO_SNDBUF).
func (c *Conn) SetWriteBuffer(bytes int) error {
	return c.setsockopt(func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, bytes)
	})
}

func setNoDelay(fd int, on bool) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, boolint(on))
}

func setKeepAlivePeriod(fd int, d time.Duration) error {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs); err != nil {
		return err
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs)
}

// setKeepAlive applies a Dialer's or ListenConfig's KeepAlive: negative
// turns probes off, zero means the default period.
func setKeepAlive(fd int, period time.Duration) error {
	if period < 0 {
		return nil
	}
	if period == 0 {
		period = defaultKeepAlive
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return err
	}
	return setKeepAlivePeriod(fd, period)
}

func boolint(b bool) int {
	if b {
		return 1
	}
	return 0
}
