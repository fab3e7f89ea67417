package uringnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/sock"
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
		sa, err := sock.IPSockaddr(fam, a.IP, a.Port, a.Zone)
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
	if raddr != nil {
		family = dialFamily(family, network, laddr, raddr)
	}
	sysfd, err := newSocket(family, unix.SOCK_DGRAM, 0, network)
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
	if family != unix.AF_UNIX {
		// As net does for every UDP socket.
		if err := unix.SetsockoptInt(sysfd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
			return nil, os.NewSyscallError("setsockopt", err)
		}
	}
	if control != nil {
		if err := control(ctrlNetwork(network, family), a.String(), &rawConn{fd: fd}); err != nil {
			return nil, err
		}
	}
	if laddr != nil {
		sa, err := familySockaddr(family, network, laddr)
		if err != nil {
			return nil, err
		}
		if err := unix.Bind(sysfd, sa); err != nil {
			return nil, os.NewSyscallError("bind", err)
		}
	}
	if raddr != nil {
		sa, err := familySockaddr(family, network, raddr)
		if err != nil {
			return nil, err
		}
		// A datagram connect only records the peer: it never waits.
		if err := unix.Connect(sysfd, sa); err != nil {
			return nil, os.NewSyscallError("connect", err)
		}
	}
	fd.setLocalAddr(sock.LocalAddr(sysfd, unix.SOCK_DGRAM))
	if raddr != nil {
		fd.setRemoteAddr(raddr)
		if ra := sock.RemoteAddr(sysfd, unix.SOCK_DGRAM); ra != nil {
			fd.setRemoteAddr(ra)
		}
	}
	fd.attachPoller()
	ok = true
	return &PacketConn{fd: fd, connected: raddr != nil}, nil
}

// ReadFrom reads one datagram into b and returns its length and sender.
// A datagram longer than b is truncated: the rest is lost and n is
// len(b), with no error, as with net on Linux (ReadMsgUDP and
// ReadMsgUnix report MSG_TRUNC). The address is a *net.UDPAddr or a
// *net.UnixAddr; nil for an unnamed Unix sender.
func (c *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, _, _, src, err := c.readMsg(b, nil)
	if err != nil || !src.ok {
		return n, nil, err
	}
	if c.fd.family == unix.AF_UNIX {
		return n, &net.UnixAddr{Name: src.name, Net: c.fd.network()}, nil
	}
	a := &net.UDPAddr{}
	setUDPAddr(a, src.ap)
	return n, a, nil
}

// setUDPAddr fills a with ap as net reports a sender: a 4-byte IP from
// an IPv4 socket, a 16-byte one from an IPv6 socket.
func setUDPAddr(a *net.UDPAddr, ap netip.AddrPort) {
	ip := ap.Addr()
	*a = net.UDPAddr{IP: ip.AsSlice(), Port: int(ap.Port()), Zone: ip.Zone()}
}

// ReadFromUDP is ReadFrom with the sender as a *net.UDPAddr.
func (c *PacketConn) ReadFromUDP(b []byte) (n int, addr *net.UDPAddr, err error) {
	// As net's, this is small enough to be inlined, so that the
	// address can live in the caller's frame: only its IP is
	// allocated when the caller keeps it to itself.
	return c.readFromUDP(b, &net.UDPAddr{})
}

// readFromUDP is ReadFromUDP filling addr with the sender. It calls
// ReadMsgUDPAddrPort itself rather than through readMsgUDP, whose five
// results would make ReadFromUDP too costly to inline.
func (c *PacketConn) readFromUDP(b []byte, addr *net.UDPAddr) (int, *net.UDPAddr, error) {
	n, _, _, ap, err := c.ReadMsgUDPAddrPort(b, nil)
	if !ap.IsValid() {
		return n, nil, err
	}
	setUDPAddr(addr, ap)
	return n, addr, err
}

// ReadFromUDPAddrPort is ReadFrom with the sender as a netip.AddrPort,
// which allocates nothing. On an IPv6 socket an IPv4 sender's address is
// IPv4-mapped; netip.Addr.Unmap removes the prefix.
func (c *PacketConn) ReadFromUDPAddrPort(b []byte) (n int, addr netip.AddrPort, err error) {
	n, _, _, addr, err = c.ReadMsgUDPAddrPort(b, nil)
	return n, addr, err
}

// ReadMsgUDP reads one datagram into b and its control messages into
// oob, like *net.UDPConn's: oob receives the raw control messages the
// kernel wrote (those the socket's options ask for: IP_PKTINFO,
// IPV6_PKTINFO, IP_TOS, SO_TIMESTAMPNS, UDP_GRO, ...), oobn bytes of
// them, which golang.org/x/net/ipv4 and ipv6's ControlMessage.Parse or
// syscall.ParseSocketControlMessage decode. flags has MSG_TRUNC if the
// datagram was longer than b and MSG_CTRUNC if the control messages did
// not fit in oob.
func (c *PacketConn) ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	return c.readMsgUDP(b, oob, &net.UDPAddr{})
}

// readMsgUDP is ReadMsgUDP filling addr with the sender.
func (c *PacketConn) readMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn, flags int, _ *net.UDPAddr, err error) {
	n, oobn, flags, ap, err := c.ReadMsgUDPAddrPort(b, oob)
	if !ap.IsValid() {
		return n, oobn, flags, nil, err
	}
	setUDPAddr(addr, ap)
	return n, oobn, flags, addr, err
}

// ReadMsgUDPAddrPort is ReadMsgUDP with the sender as a netip.AddrPort;
// it allocates nothing.
func (c *PacketConn) ReadMsgUDPAddrPort(b, oob []byte) (n, oobn, flags int, addr netip.AddrPort, err error) {
	if c.fd.family == unix.AF_UNIX {
		return 0, 0, 0, netip.AddrPort{}, c.fd.opError("read", "recvmsg", syscall.EINVAL)
	}
	n, oobn, flags, src, err := c.readMsg(b, oob)
	return n, oobn, flags, src.ap, err
}

// ReadMsgUnix reads one message into b and its control messages into
// oob, raw, like *net.UnixConn's: descriptors passed with it arrive as an
// SCM_RIGHTS message (syscall.ParseSocketControlMessage and
// ParseUnixRights decode it), close-on-exec and the caller's to close;
// SO_PASSCRED credentials as SCM_CREDENTIALS. If they did not fit in
// oob, flags has MSG_CTRUNC and the kernel has closed the descriptors
// that did not fit.
func (c *PacketConn) ReadMsgUnix(b, oob []byte) (n, oobn, flags int, addr *net.UnixAddr, err error) {
	if c.fd.family != unix.AF_UNIX {
		return 0, 0, 0, nil, c.fd.opError("read", "recvmsg", errNotUnix)
	}
	n, oobn, flags, src, err := c.readMsg(b, oob)
	if src.ok {
		addr = &net.UnixAddr{Name: src.name, Net: c.fd.network()}
	}
	return n, oobn, flags, addr, err
}

func (c *PacketConn) readMsg(b, oob []byte) (n, oobn, flags int, src packetSource, err error) {
	fd := c.fd
	if !fd.incref() {
		return 0, 0, 0, src, fd.opError("read", "recvmsg", net.ErrClosed)
	}
	defer fd.decref()
	fd.rmu.Lock()
	defer fd.rmu.Unlock()
	d := c.fd.msgReader()
	n, oobn, flags, err = d.read(b, oob, false)
	if err != nil {
		return n, oobn, flags, src, fd.opError("read", "recvmsg", err)
	}
	return n, oobn, flags, d.source(), nil
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
	res, err := fd.dontWait(&fd.rio, &fd.rd, b)
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
	if len(b) == 0 {
		// An empty datagram: send(2) of nothing still sends one.
		d := c.fd.msgWriter(true)
		d.m.SetDestination(nil)
		n, err := d.write(b, nil, false)
		if err != nil {
			return n, fd.opError("write", "write", err)
		}
		return n, nil
	}
	res, err := fd.dontWait(&fd.wio, &fd.wr, b)
	if err != nil {
		return 0, fd.opError("write", "write", err)
	}
	return int(res.Res), nil
}

// WriteTo sends b as one datagram to addr, a *net.UDPAddr or a
// *net.UnixAddr. On a connected socket it fails, as net's does
// (net.ErrWriteToConnected); a nil addr is EINVAL, connected or not, as
// with net.
func (c *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if addr == nil {
		return 0, c.writeErr(packetDest{}, syscall.EINVAL)
	}
	n, _, err := c.writeMsg(b, nil, packetDest{addr: addr})
	return n, sendtoError(err)
}

// WriteToUDP is WriteTo with a *net.UDPAddr. As with net, a nil addr is
// net.ErrWriteToConnected on a connected socket and a missing address
// on another.
func (c *PacketConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		if c.connected {
			return 0, c.writeErr(packetDest{}, net.ErrWriteToConnected)
		}
		return 0, c.writeErr(packetDest{}, errMissingAddress)
	}
	n, _, err := c.writeMsg(b, nil, packetDest{addr: addr})
	return n, sendtoError(err)
}

// WriteToUDPAddrPort is WriteTo with a netip.AddrPort; it allocates
// nothing. On an IPv4 socket the address must be IPv4 or IPv4-mapped,
// as with net.
func (c *PacketConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.connected && !addr.IsValid() {
		// net refuses a destination on a connected socket even when
		// it is the zero AddrPort.
		return 0, c.writeErr(packetDest{}, net.ErrWriteToConnected)
	}
	n, _, err := c.writeMsg(b, nil, packetDest{ap: addr})
	return n, sendtoError(err)
}

// WriteMsgUDP sends b as one datagram to addr, or to the connected peer
// if addr is nil, like *net.UDPConn's, with the control messages of oob
// sent as given: IP_PKTINFO or IPV6_PKTINFO to choose the source address
// or interface, IP_TOS, UDP_SEGMENT, ... (golang.org/x/net/ipv4 and
// ipv6's ControlMessage.Marshal build them). oobn is len(oob).
func (c *PacketConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	if addr == nil {
		return c.writeMsg(b, oob, packetDest{})
	}
	return c.writeMsg(b, oob, packetDest{addr: addr})
}

// WriteMsgUDPAddrPort is WriteMsgUDP with a netip.AddrPort; the zero
// AddrPort means the connected peer. It allocates nothing.
func (c *PacketConn) WriteMsgUDPAddrPort(b, oob []byte, addr netip.AddrPort) (n, oobn int, err error) {
	if c.fd.family == unix.AF_UNIX {
		return 0, 0, c.writeErr(packetDest{ap: addr}, syscall.EINVAL)
	}
	return c.writeMsg(b, oob, packetDest{ap: addr})
}

// WriteMsgUnix sends b as one message to addr, or to the connected peer
// if addr is nil, like *net.UnixConn's, with the control messages of oob
// sent as given: descriptors built with syscall.UnixRights (the receiver
// gets duplicates; the caller keeps its own open), SCM_CREDENTIALS.
func (c *PacketConn) WriteMsgUnix(b, oob []byte, addr *net.UnixAddr) (n, oobn int, err error) {
	if c.fd.family != unix.AF_UNIX {
		return 0, 0, c.fd.opError("write", "sendmsg", errNotUnix)
	}
	if addr == nil {
		return c.writeMsg(b, oob, packetDest{})
	}
	return c.writeMsg(b, oob, packetDest{addr: addr})
}

// writeErr is the error of a send to to, as net reports it.
func (c *PacketConn) writeErr(to packetDest, err error) error {
	fd := c.fd
	return &net.OpError{Op: "write", Net: fd.network(), Source: fd.localAddr(), Addr: to.opAddr(), Err: wrapErr("sendmsg", err)}
}

func (c *PacketConn) writeMsg(b, oob []byte, to packetDest) (n, oobn int, err error) {
	fd := c.fd
	if !fd.incref() {
		return 0, 0, fd.opError("write", "sendmsg", net.ErrClosed)
	}
	defer fd.decref()
	switch {
	case c.connected && to.isSet():
		return 0, 0, c.writeErr(to, net.ErrWriteToConnected)
	case !c.connected && !to.isSet():
		return 0, 0, c.writeErr(to, errMissingAddress)
	}
	fd.wmu.Lock()
	defer fd.wmu.Unlock()
	d := c.fd.msgWriter(true)
	if to.isSet() {
		err = fd.setDest(&d.m, to)
	} else {
		err = d.m.SetDestination(nil)
	}
	if err != nil {
		return 0, 0, c.writeErr(to, err)
	}
	n, err = d.write(b, oob, false)
	if err != nil {
		return n, 0, c.writeErr(to, err)
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
func (c *PacketConn) LocalAddr() net.Addr { return c.fd.localAddr() }

// RemoteAddr returns the connected peer's address, or nil if the socket
// is not connected.
func (c *PacketConn) RemoteAddr() net.Addr { return c.fd.remoteAddr() }

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
