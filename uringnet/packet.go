package uringnet

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// PacketConn is a datagram socket (UDP or unixgram) whose reads and
// writes run on io_uring, as recvmsg and sendmsg operations. It
// implements net.PacketConn and, when connected by Dial, net.Conn;
// like *net.UDPConn and *net.UnixConn it is safe for concurrent use, with
// one read and one write running at a time.
type PacketConn struct {
	fd        *netFD
	connected bool
}

var (
	_ net.PacketConn = (*PacketConn)(nil)
	_ net.Conn       = (*PacketConn)(nil)
	_ syscall.Conn   = (*PacketConn)(nil)
)

// ListenPacket opens a datagram socket bound to address on the named
// network ("udp", "udp4", "udp6" or "unixgram"), like net.ListenPacket;
// the connection is a *PacketConn. A port of 0 picks a free one;
// LocalAddr tells which.
func ListenPacket(network, address string) (net.PacketConn, error) {
	var lc ListenConfig
	return lc.ListenPacket(context.Background(), network, address)
}

// ListenPacket opens a datagram socket bound to address, like
// net.ListenConfig's; the connection is a *PacketConn. The context is
// checked before the socket is created; it does not affect the
// connection afterwards.
func (lc *ListenConfig) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	if useNet(lc.FallbackToNet) {
		return lc.netListenConfig().ListenPacket(ctx, network, address)
	}
	c, err := lc.listenPacket(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (lc *ListenConfig) listenPacket(ctx context.Context, network, address string) (*PacketConn, error) {
	opErr := func(a net.Addr, err error) error {
		return &net.OpError{Op: "listen", Net: network, Source: nil, Addr: a, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr(nil, err)
	}
	la, err := resolvePacket(ctx, network, address, true)
	if err != nil {
		return nil, opErr(nil, err)
	}
	c, err := openPacket(network, la, nil, lc.Control)
	if err != nil {
		return nil, opErr(la, err)
	}
	return c, nil
}

// DialPacket opens a datagram socket connected to address on the named
// network ("udp", "udp4", "udp6" or "unixgram"). It is Dial for those
// networks returning the concrete *PacketConn, as net.DialUDP and
// net.DialUnix return theirs: Read and Write exchange datagrams with that
// peer only. A unixgram socket dialed this way is unnamed, so the peer
// cannot answer it, as with net.Dial.
func DialPacket(network, address string) (*PacketConn, error) {
	if !isPacketNetwork(network) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	var d Dialer
	return d.dialPacket(context.Background(), network, address)
}

// resolvePacket resolves a datagram address. A missing host means every
// interface to listen on, and the local system to dial.
func resolvePacket(ctx context.Context, network, address string, listen bool) (net.Addr, error) {
	switch network {
	case "udp", "udp4", "udp6":
		if !listen {
			host, _, err := net.SplitHostPort(address)
			if err == nil && host == "" {
				addrs, err := resolveDial(ctx, "tcp"+network[3:], address)
				if err != nil {
					return nil, err
				}
				ta := addrs[0].(*net.TCPAddr)
				return &net.UDPAddr{IP: ta.IP, Port: ta.Port, Zone: ta.Zone}, nil
			}
		}
		return net.ResolveUDPAddr(network, address)
	case "unixgram":
		return net.ResolveUnixAddr(network, address)
	}
	return nil, net.UnknownNetworkError(network)
}

// packetSockaddr converts a resolved address to the socket family and the
// kernel address. For UDP the family follows the rules of tcpFamily.
func packetSockaddr(network string, a net.Addr) (int, unix.Sockaddr, error) {
	switch a := a.(type) {
	case *net.UDPAddr:
		if a == nil {
			return 0, nil, errMissingAddress
		}
		fam, err := tcpFamily("tcp"+network[3:], a.IP)
		if err != nil {
			return 0, nil, err
		}
		sa, err := tcpSockaddr(fam, a.IP, a.Port, a.Zone)
		return fam, sa, err
	case *net.UnixAddr:
		if a == nil {
			return 0, nil, errMissingAddress
		}
		return unix.AF_UNIX, &unix.SockaddrUnix{Name: a.Name}, nil
	case nil:
		return 0, nil, errMissingAddress
	}
	return 0, nil, &net.AddrError{Err: "unexpected address type", Addr: a.String()}
}

var errMissingAddress = errors.New("missing address")

// openPacket creates the socket, binds it to laddr and connects it to
// raddr, either of which may be nil. control, if not nil, runs before the
// bind, as a ListenConfig's or Dialer's Control.
func openPacket(network string, laddr, raddr net.Addr, control func(network, address string, c syscall.RawConn) error) (*PacketConn, error) {
	e, err := executor()
	if err != nil {
		return nil, err
	}
	// The peer's address decides the family: a local address may be a
	// wildcard, which fits either.
	a := raddr
	if a == nil {
		a = laddr
	}
	family, _, err := packetSockaddr(network, a)
	if err != nil {
		return nil, err
	}
	sysfd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	fd := newFD(e, sysfd, family, network)
	ok := false
	defer func() {
		if !ok {
			fd.Close()
		}
	}()
	if family == unix.AF_INET6 {
		v6only := 0
		if network == "udp6" {
			v6only = 1
		}
		if err := unix.SetsockoptInt(sysfd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			return nil, os.NewSyscallError("setsockopt", err)
		}
	}
	if family != unix.AF_UNIX {
		// As net does for every UDP socket.
		if err := unix.SetsockoptInt(sysfd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
			return nil, os.NewSyscallError("setsockopt", err)
		}
	}
	if control != nil {
		if err := control(network, a.String(), &rawConn{fd: fd}); err != nil {
			return nil, err
		}
	}
	if laddr != nil {
		_, sa, err := packetSockaddr(network, laddr)
		if err != nil {
			return nil, err
		}
		if err := unix.Bind(sysfd, sa); err != nil {
			return nil, os.NewSyscallError("bind", err)
		}
	}
	if raddr != nil {
		_, sa, err := packetSockaddr(network, raddr)
		if err != nil {
			return nil, err
		}
		// A datagram connect only records the peer: it never waits.
		if err := unix.Connect(sysfd, sa); err != nil {
			return nil, os.NewSyscallError("connect", err)
		}
	}
	fd.laddr = fd.packetAddr(getsockname(sysfd))
	if raddr != nil {
		fd.raddr = raddr
		if sa, err := unix.Getpeername(sysfd); err == nil {
			if ra := fd.packetAddr(sa); ra != nil {
				fd.raddr = ra
			}
		}
	}
	fd.attachPoller()
	ok = true
	return &PacketConn{fd: fd, connected: raddr != nil}, nil
}

func getsockname(sysfd int) unix.Sockaddr {
	sa, _ := unix.Getsockname(sysfd)
	return sa
}

// packetAddr converts a kernel address to what net reports for a
// datagram socket: a *net.UDPAddr, or a *net.UnixAddr with Net
// "unixgram". An unnamed Unix socket, or no address, gives nil.
func (fd *netFD) packetAddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.UDPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.UDPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port, Zone: zoneName(sa.ZoneId)}
	case *unix.SockaddrUnix:
		if sa.Name == "" {
			return nil
		}
		return &net.UnixAddr{Name: sa.Name, Net: fd.net}
	}
	return nil
}

// ReadFrom reads one datagram into b and returns its length and sender.
// A datagram longer than b is truncated: the rest is lost and n is
// len(b), with no error, as with net on Linux (ReadMsgUDP and
// ReadMsgUnix report MSG_TRUNC). The address is a *net.UDPAddr or a
// *net.UnixAddr; nil for an unnamed Unix sender.
func (c *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, _, _, sa, err := c.readMsg(b, nil)
	if err != nil {
		return n, nil, err
	}
	if a := c.fd.packetAddr(sa); a != nil {
		return n, a, nil
	}
	return n, nil, nil
}

// ReadFromUDP is ReadFrom with the sender as a *net.UDPAddr.
func (c *PacketConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, _, _, addr, err := c.ReadMsgUDP(b, nil)
	return n, addr, err
}

// ReadMsgUDP reads one datagram into b, like *net.UDPConn's. Of the
// control messages only descriptors (SCM_RIGHTS, which UDP never
// carries) reach oob; others (IP_PKTINFO, timestamps) are not delivered
// and set MSG_CTRUNC. flags has MSG_TRUNC if the datagram was longer
// than b.
func (c *PacketConn) ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	if c.fd.family == unix.AF_UNIX {
		return 0, 0, 0, nil, c.fd.opError("read", "recvmsg", syscall.EINVAL)
	}
	n, oobn, flags, sa, err := c.readMsg(b, oob)
	if a, ok := c.fd.packetAddr(sa).(*net.UDPAddr); ok {
		addr = a
	}
	return n, oobn, flags, addr, err
}

// ReadMsgUnix reads one message into b and the descriptors that came
// with it into oob (as an SCM_RIGHTS control message, which
// syscall.ParseSocketControlMessage and ParseUnixRights decode), like
// *net.UnixConn's. The descriptors are close-on-exec and the caller's to
// close. If more came than oob has room for, flags has MSG_CTRUNC and the
// kernel has closed the rest.
func (c *PacketConn) ReadMsgUnix(b, oob []byte) (n, oobn, flags int, addr *net.UnixAddr, err error) {
	if c.fd.family != unix.AF_UNIX {
		return 0, 0, 0, nil, c.fd.opError("read", "recvmsg", errNotUnix)
	}
	n, oobn, flags, sa, err := c.readMsg(b, oob)
	if a, ok := c.fd.packetAddr(sa).(*net.UnixAddr); ok {
		addr = a
	}
	return n, oobn, flags, addr, err
}

func (c *PacketConn) readMsg(b, oob []byte) (n, oobn, flags int, sa unix.Sockaddr, err error) {
	fd := c.fd
	if !fd.incref() {
		return 0, 0, 0, nil, fd.opError("read", "recvmsg", net.ErrClosed)
	}
	defer fd.decref()
	fd.rmu.Lock()
	defer fd.rmu.Unlock()
	n, oobn, flags, sa, err = fd.readMsg(b, oob, false)
	if err != nil {
		return n, oobn, flags, sa, fd.opError("read", "recvmsg", err)
	}
	return n, oobn, flags, sa, nil
}

// Read reads one datagram from the connected peer into b; a longer one
// is truncated to len(b), the rest lost. Unlike a stream's, a read of 0
// bytes is an empty datagram, not the end of anything.
func (c *PacketConn) Read(b []byte) (int, error) {
	fd := c.fd
	if !c.connected {
		n, _, err := c.ReadFrom(b)
		return n, err
	}
	if !fd.incref() {
		return 0, fd.opError("read", "read", net.ErrClosed)
	}
	defer fd.decref()
	fd.rmu.Lock()
	defer fd.rmu.Unlock()
	res, err := fd.recv(b)
	if err != nil {
		return 0, fd.opError("read", "read", err)
	}
	return int(res.Res), nil
}

// Write sends b as one datagram to the connected peer.
func (c *PacketConn) Write(b []byte) (int, error) {
	fd := c.fd
	if !fd.incref() {
		return 0, fd.opError("write", "write", net.ErrClosed)
	}
	defer fd.decref()
	if !c.connected {
		return 0, fd.opError("write", "write", errMissingAddress)
	}
	fd.wmu.Lock()
	defer fd.wmu.Unlock()
	if fd.raw == nil || len(b) == 0 {
		// An empty datagram: send(2) of nothing still sends one.
		n, err := fd.sendMsg(b, nil, nil)
		if err != nil {
			return n, fd.opError("write", "write", err)
		}
		return n, nil
	}
	res, err := fd.dontWait(&fd.wio, b)
	if err != nil {
		return 0, fd.opError("write", "write", err)
	}
	return int(res.Res), nil
}

// WriteTo sends b as one datagram to addr, a *net.UDPAddr or a
// *net.UnixAddr. On a connected socket it fails, as net's does
// (net.ErrWriteToConnected).
func (c *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n, _, err := c.writeMsg(b, nil, addr)
	return n, err
}

// WriteToUDP is WriteTo with a *net.UDPAddr.
func (c *PacketConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return c.WriteTo(b, nil)
	}
	return c.WriteTo(b, addr)
}

// WriteMsgUDP sends b as one datagram to addr, or to the connected peer
// if addr is nil, like *net.UDPConn's. oob may carry only SCM_RIGHTS,
// which UDP refuses; other control messages are refused here.
func (c *PacketConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	if addr == nil {
		return c.writeMsg(b, oob, nil)
	}
	return c.writeMsg(b, oob, addr)
}

// WriteMsgUnix sends b as one message, with the descriptors of oob (built
// with syscall.UnixRights), to addr, or to the connected peer if addr is
// nil, like *net.UnixConn's. The receiver gets duplicates; the caller
// keeps its own descriptors open.
func (c *PacketConn) WriteMsgUnix(b, oob []byte, addr *net.UnixAddr) (n, oobn int, err error) {
	if c.fd.family != unix.AF_UNIX {
		return 0, 0, c.fd.opError("write", "sendmsg", errNotUnix)
	}
	if addr == nil {
		return c.writeMsg(b, oob, nil)
	}
	return c.writeMsg(b, oob, addr)
}

func (c *PacketConn) writeMsg(b, oob []byte, addr net.Addr) (n, oobn int, err error) {
	fd := c.fd
	if !fd.incref() {
		return 0, 0, fd.opError("write", "sendmsg", net.ErrClosed)
	}
	defer fd.decref()
	wrErr := func(err error) error {
		return &net.OpError{Op: "write", Net: fd.net, Source: fd.laddr, Addr: addr, Err: wrapErr("sendmsg", err)}
	}
	var to unix.Sockaddr
	switch {
	case c.connected && addr != nil:
		return 0, 0, wrErr(net.ErrWriteToConnected)
	case !c.connected && addr == nil:
		return 0, 0, wrErr(errMissingAddress)
	case addr != nil:
		fam, sa, err := packetSockaddr(fd.net, addr)
		if err != nil {
			return 0, 0, wrErr(err)
		}
		if (fam == unix.AF_UNIX) != (fd.family == unix.AF_UNIX) {
			return 0, 0, wrErr(syscall.EINVAL)
		}
		to = sa
		if fam == unix.AF_INET && fd.family == unix.AF_INET6 {
			// A dual-stack socket reaches IPv4 peers through
			// IPv4-mapped IPv6 addresses.
			a := addr.(*net.UDPAddr)
			to, _ = tcpSockaddr(unix.AF_INET6, a.IP.To16(), a.Port, a.Zone)
		}
	}
	fds, err := oobFds(oob)
	if err != nil {
		return 0, 0, wrErr(err)
	}
	fd.wmu.Lock()
	defer fd.wmu.Unlock()
	n, err = fd.sendMsg(b, fds, to)
	if err != nil {
		return n, 0, wrErr(err)
	}
	return n, len(oob), nil
}

// Close closes the socket. Blocked reads and writes return net.ErrClosed;
// Close returns once they have and the fd is closed.
func (c *PacketConn) Close() error {
	if err := c.fd.Close(); err != nil {
		return c.fd.opError("close", "close", err)
	}
	return nil
}

// LocalAddr returns the local address: a *net.UDPAddr or *net.UnixAddr
// (nil for an unnamed Unix socket).
func (c *PacketConn) LocalAddr() net.Addr { return c.fd.laddr }

// RemoteAddr returns the connected peer's address, or nil if the socket
// is not connected.
func (c *PacketConn) RemoteAddr() net.Addr { return c.fd.raddr }

// SetDeadline sets the read and write deadlines.
func (c *PacketConn) SetDeadline(t time.Time) error {
	return (&Conn{fd: c.fd}).SetDeadline(t)
}

// SetReadDeadline sets the deadline for reads, pending ones included; a
// time in the past wakes them at once with an error matching
// os.ErrDeadlineExceeded. No datagram is lost to a deadline.
func (c *PacketConn) SetReadDeadline(t time.Time) error {
	return (&Conn{fd: c.fd}).SetReadDeadline(t)
}

// SetWriteDeadline sets the deadline for writes, pending ones included.
func (c *PacketConn) SetWriteDeadline(t time.Time) error {
	return (&Conn{fd: c.fd}).SetWriteDeadline(t)
}

// SyscallConn returns a raw connection for socket options and for I/O
// the package does not offer, as net's does.
func (c *PacketConn) SyscallConn() (syscall.RawConn, error) {
	return &rawConn{fd: c.fd}, nil
}
