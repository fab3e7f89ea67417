package engine

import (
	"io"
	"net"
	"time"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"github.com/panjf2000/gnet/v2/pkg/socket"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/sock"
	"github.com/uring-go/uring/uring"
)

var _ gnet.Conn = (*udpConn)(nil)

// udpConn is the Conn OnTraffic receives for a datagram: gnet's UDP conn,
// which stands for the sender rather than a connection. Its Reader
// methods see the one datagram being delivered; Write and SendTo queue a
// datagram on the loop's ring, to go out when the callback returns; like
// gnet's, they are for the loop goroutine (inside callbacks). AsyncWrite
// and the Socket methods may be called from any goroutine.
type udpConn struct {
	loop *loop
	sock *udpSock // the socket it sends on
	// A registered (connected) socket's Conn, as gnet's registered UDP
	// conn: opened from OnOpen until closed, with a Context that persists.
	opened bool
	// The sender's address as the kernel encoded it, and as gnet
	// reports it; both fixed for the Conn's life.
	peer    [udpNameLen]byte
	peerLen uint8
	raddr   *net.UDPAddr

	inbound // the unread part of the datagram being delivered
	ctx     any
}

func newUDPConn(l *loop, u *udpSock, name []byte) *udpConn {
	c := &udpConn{loop: l, sock: u}
	c.peerLen = uint8(copy(c.peer[:], name))
	c.raddr = rawToUDPAddr(c.peer[:c.peerLen])
	return c
}

// rawToUDPAddr converts a kernel-encoded IP address.
func rawToUDPAddr(raw []byte) *net.UDPAddr {
	var rsa unix.RawSockaddrAny
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&rsa)), unsafe.Sizeof(rsa)), raw)
	if a, ok := sock.RawAddr(unix.SOCK_DGRAM, &rsa).(*net.UDPAddr); ok {
		return a
	}
	return &net.UDPAddr{}
}

func (c *udpConn) sender() []byte { return c.peer[:c.peerLen] }

// Reader: the methods of inbound, over the datagram being delivered.
// What the handler leaves unread is dropped with it, as in gnet.

// Writer.

// Write queues p as one datagram to the sender; it goes out when the
// callback returns. A datagram too large for UDP fails at once with
// EMSGSIZE, as gnet's sendto does; a later failure is logged.
func (c *udpConn) Write(p []byte) (int, error) {
	peer := c.sender()
	if len(p) > maxPayload(peer) {
		return 0, unix.EMSGSIZE
	}
	if err := c.loop.sendUDP(c.sock, p, peer, nil); err != nil {
		return 0, err
	}
	return len(p), nil
}

// SendTo queues p as one datagram to addr, which gnet converts with
// socket.NetAddrToSockaddr: a *net.UDPAddr, *net.TCPAddr or *net.IPAddr.
func (c *udpConn) SendTo(p []byte, addr net.Addr) (int, error) {
	family := c.sock.family
	var set func(*uring.Datagram) error
	if ua, ok := addr.(*net.UDPAddr); ok && ua != nil && ua.Zone == "" && ua.IP != nil {
		set = func(d *uring.Datagram) error { return d.SetUDPAddr(family, ua.IP, ua.Port, 0) }
	} else {
		sa := socket.NetAddrToSockaddr(addr)
		if sa == nil {
			return 0, errorx.ErrInvalidNetworkAddress
		}
		switch sa := sa.(type) {
		case *unix.SockaddrInet4:
			// A dual-stack socket takes IPv4 destinations mapped.
			set = func(d *uring.Datagram) error { return d.SetUDPAddr(family, sa.Addr[:], sa.Port, 0) }
		case *unix.SockaddrInet6:
			set = func(d *uring.Datagram) error { return d.SetAddr(sa) }
		default:
			// Not an IP address: sendto(2) itself says what is wrong
			// with it, as it does to gnet.
			if err := unix.Sendto(c.sock.fd, p, 0, sa); err != nil {
				return 0, err
			}
			c.loop.countWrite(len(p))
			return len(p), nil
		}
	}
	max := maxUDP6Payload
	ip, ok := addrIP(addr)
	if !ok || ip.To4() != nil {
		max = maxUDP4Payload
	} else if family == unix.AF_INET {
		// What sendto(2) says of an IPv6 destination on an IPv4 socket.
		return 0, unix.EAFNOSUPPORT
	}
	if len(p) > max {
		return 0, unix.EMSGSIZE
	}
	if err := c.loop.sendUDP(c.sock, p, nil, set); err != nil {
		return 0, err
	}
	return len(p), nil
}

func addrIP(a net.Addr) (net.IP, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.IP, a != nil
	case *net.TCPAddr:
		return a.IP, a != nil
	case *net.IPAddr:
		return a.IP, a != nil
	}
	return nil, false
}

// Writev is not supported for UDP, as in gnet: it returns ErrUnsupportedOp.
func (c *udpConn) Writev([][]byte) (int, error) { return 0, errorx.ErrUnsupportedOp }

// ReadFrom is not supported for UDP: it returns ErrUnsupportedOp. (gnet
// accepts the bytes into an outbound buffer that a UDP conn never sends.)
func (c *udpConn) ReadFrom(io.Reader) (int64, error) { return 0, errorx.ErrUnsupportedOp }

// Flush does nothing: datagrams are not buffered in the Conn, as in gnet.
func (c *udpConn) Flush() error { return nil }

// OutboundBuffered is 0: datagrams are not buffered in the Conn.
func (c *udpConn) OutboundBuffered() int { return 0 }

// AsyncWrite sends buf to the sender at once with sendto(2), from the
// calling goroutine, as gnet does for UDP; callback, if not nil, runs
// before it returns, with a nil Conn, as in gnet.
func (c *udpConn) AsyncWrite(buf []byte, callback gnet.AsyncCallback) error {
	err := c.sendNow(buf)
	if callback != nil {
		_ = callback(nil, nil)
	}
	return err
}

// sendNow is sendto(2) on the loop's socket. The loop's task lock is held
// so that the socket cannot be closed under it: it is closed only after
// the loop has ended, which marks the tasks closed first.
func (c *udpConn) sendNow(buf []byte) error {
	l := c.loop
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tasksClosed {
		return errorx.ErrEngineInShutdown
	}
	fd := c.sock.fd
	if fd < 0 {
		return net.ErrClosed
	}
	var p unsafe.Pointer
	if len(buf) > 0 {
		p = unsafe.Pointer(unsafe.SliceData(buf))
	}
	for {
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(p), uintptr(len(buf)), 0,
			uintptr(unsafe.Pointer(&c.peer)), uintptr(c.peerLen))
		switch e {
		case 0:
			l.countWrite(len(buf))
			return nil
		case unix.EINTR:
			continue
		default:
			return e
		}
	}
}

// AsyncWritev is not supported for UDP, as in gnet.
func (c *udpConn) AsyncWritev([][]byte, gnet.AsyncCallback) error {
	return errorx.ErrUnsupportedOp
}

// Socket: the loop's UDP socket, as in gnet.

// Fd returns the loop's UDP socket.
func (c *udpConn) Fd() int { return c.sock.fd }

// Dup returns a duplicate of the socket; the caller closes it.
func (c *udpConn) Dup() (int, error) { return socket.Dup(c.sock.fd) }

// SetReadBuffer sets the socket's SO_RCVBUF.
func (c *udpConn) SetReadBuffer(bytes int) error { return socket.SetRecvBuffer(c.sock.fd, bytes) }

// SetWriteBuffer sets the socket's SO_SNDBUF.
func (c *udpConn) SetWriteBuffer(bytes int) error { return socket.SetSendBuffer(c.sock.fd, bytes) }

// SetLinger sets SO_LINGER, as gnet does on a UDP socket too.
func (c *udpConn) SetLinger(sec int) error { return socket.SetLinger(c.sock.fd, sec) }

// SetNoDelay fails as gnet's does on a UDP socket: TCP_NODELAY is a TCP
// option.
func (c *udpConn) SetNoDelay(noDelay bool) error {
	v := 0
	if noDelay {
		v = 1
	}
	return socket.SetNoDelay(c.sock.fd, v)
}

// SetKeepAlivePeriod is TCP only: ErrUnsupportedOp.
func (c *udpConn) SetKeepAlivePeriod(time.Duration) error { return errorx.ErrUnsupportedOp }

// SetKeepAlive is TCP only: ErrUnsupportedOp.
func (c *udpConn) SetKeepAlive(bool, time.Duration, time.Duration, int) error {
	return errorx.ErrUnsupportedOp
}

// Context returns the user-defined context, which starts nil for each
// datagram, as gnet's per-datagram conn does.
func (c *udpConn) Context() any { return c.ctx }

// SetContext sets the user-defined context for this datagram's callback.
func (c *udpConn) SetContext(ctx any) { c.ctx = ctx }

// EventLoop returns the loop the datagram arrived on.
func (c *udpConn) EventLoop() gnet.EventLoop { return c.loop }

// LocalAddr returns the address the socket is bound to.
func (c *udpConn) LocalAddr() net.Addr { return c.sock.laddr }

// RemoteAddr returns the sender's address, a *net.UDPAddr.
func (c *udpConn) RemoteAddr() net.Addr { return c.raddr }

// registered reports whether c is a registered socket's Conn.
func (c *udpConn) registered() bool { return c.sock.conn == c }

// Wake does not run OnTraffic on a sender's Conn, as in gnet, where such
// a conn is never open; on a registered socket's open Conn it does, as
// gnet's does. callback, if not nil, runs on the loop.
func (c *udpConn) Wake(callback gnet.AsyncCallback) error {
	return c.loop.enqueue(func() {
		var err error
		if c.opened && !c.loop.quiescing && !c.loop.stopping {
			if c.loop.handler.OnTraffic(c) == gnet.Shutdown {
				c.loop.quiesce()
			}
		}
		if callback != nil {
			_ = callback(c, err)
		}
	})
}

// CloseWithCallback closes nothing on a sender's Conn, as in gnet, where
// such a conn is never open; a registered socket's Conn is closed, with
// OnClose, as gnet's is. callback, if not nil, runs on the loop.
func (c *udpConn) CloseWithCallback(callback gnet.AsyncCallback) error {
	return c.loop.enqueue(func() {
		if c.registered() {
			_ = c.loop.closeUDP(c, nil)
		}
		if callback != nil {
			_ = callback(c, nil)
		}
	})
}

// Close is CloseWithCallback without a callback.
func (c *udpConn) Close() error { return c.CloseWithCallback(nil) }

// SetDeadline is not supported, as in gnet.
func (*udpConn) SetDeadline(time.Time) error { return errorx.ErrUnsupportedOp }

// SetReadDeadline is not supported, as in gnet.
func (*udpConn) SetReadDeadline(time.Time) error { return errorx.ErrUnsupportedOp }

// SetWriteDeadline is not supported, as in gnet.
func (*udpConn) SetWriteDeadline(time.Time) error { return errorx.ErrUnsupportedOp }
