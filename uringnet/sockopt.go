package uringnet

import (
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/sock"
)

// net's defaults for keep-alive probes (net/dial.go, go.dev/issue/31510).
const (
	defaultKeepAliveIdle     = 15 * time.Second
	defaultKeepAliveInterval = 15 * time.Second
	defaultKeepAliveCount    = 9
)

// KeepAliveConfig is net.KeepAliveConfig, named here too so that code
// written against net compiles with only the package name changed.
type KeepAliveConfig = net.KeepAliveConfig

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
// (TCP_KEEPIDLE), rounded up to whole seconds, as net's does: 0 means the
// default (15s), a negative period leaves it unchanged. The interval
// between probes is SetKeepAliveConfig's.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	return c.setsockopt(func(fd int) error { return setKeepAliveIdle(fd, d) })
}

// SetKeepAliveConfig configures keep-alive probes as net's does:
// SO_KEEPALIVE from Enable, then TCP_KEEPIDLE, TCP_KEEPINTVL and
// TCP_KEEPCNT from Idle, Interval and Count, where zero means net's
// default (15s, 15s, 9) and a negative value leaves the option unchanged.
// Durations are rounded up to whole seconds.
func (c *Conn) SetKeepAliveConfig(config KeepAliveConfig) error {
	return c.setsockopt(func(fd int) error { return setKeepAliveConfig(fd, config) })
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
func (c *Conn) SetReadBuffer(bytes int) error { return c.fd.setBuffer(unix.SO_RCVBUF, bytes) }

// SetWriteBuffer sets the socket's send buffer size (SO_SNDBUF).
func (c *Conn) SetWriteBuffer(bytes int) error { return c.fd.setBuffer(unix.SO_SNDBUF, bytes) }

func setNoDelay(fd int, on bool) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, boolint(on))
}

// keepAliveSecs is d in whole seconds, rounded up as net rounds it; def
// replaces zero, and a negative d is -1 (leave unchanged).
func keepAliveSecs(d, def time.Duration) int {
	if d < 0 {
		return -1
	}
	if d == 0 {
		d = def
	}
	return int((d + time.Second - 1) / time.Second)
}

func setKeepAliveIdle(fd int, d time.Duration) error {
	secs := keepAliveSecs(d, defaultKeepAliveIdle)
	if secs < 0 {
		return nil
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs)
}

// setKeepAliveConfig applies cfg as net's SetKeepAliveConfig does, with
// net's defaults for zero values.
func setKeepAliveConfig(fd int, cfg KeepAliveConfig) error {
	count := cfg.Count
	if count == 0 {
		count = defaultKeepAliveCount
	}
	return sock.SetKeepAlive(fd, cfg.Enable, keepAliveSecs(cfg.Idle, defaultKeepAliveIdle),
		keepAliveSecs(cfg.Interval, defaultKeepAliveInterval), count)
}

// setKeepAlive applies a Dialer's or ListenConfig's keep-alive settings to
// a new TCP connection, as net's newTCPConn does: KeepAliveConfig if its
// Enable is set, else probes after KeepAlive (0 for the default) with the
// default interval and count, else (KeepAlive negative) none: the
// socket's own default, off, stays.
func setKeepAlive(fd int, period time.Duration, cfg KeepAliveConfig) error {
	if !cfg.Enable {
		if period < 0 {
			return nil
		}
		cfg = KeepAliveConfig{Enable: true, Idle: period}
	}
	return setKeepAliveConfig(fd, cfg)
}

func boolint(b bool) int {
	if b {
		return 1
	}
	return 0
}
