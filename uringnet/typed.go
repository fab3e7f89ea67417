package uringnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"
)

// This file holds net's typed constructors (ListenTCP, DialUDP, ...) and
// DialTimeout. They take and report net's address types, with net's
// checks and errors, and return this package's types where net returns
// its own: *Listener for *net.TCPListener and *net.UnixListener, *Conn
// for *net.TCPConn and a stream *net.UnixConn, *PacketConn for
// *net.UDPConn and a datagram *net.UnixConn. Those have the methods of
// net's types that code calls (AcceptTCP, SetLinger, ReadFromUDP,
// ReadMsgUnix, File, SyscallConn, ...).

// DialTimeout connects to the address on the named network, like
// net.DialTimeout: Dial bounded by timeout, name resolution included.
// When the address resolves to several IP addresses, they share the
// timeout as with Dialer.Timeout.
func DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	d := Dialer{Timeout: timeout}
	return d.Dial(network, address)
}

// ListenTCP announces on the local TCP address, like net.ListenTCP. The
// network must be "tcp", "tcp4" or "tcp6". A nil laddr, or one with no
// IP, listens on every local address (dual-stack for "tcp"); a port of
// 0 picks one, which Addr tells. The listener is a *Listener, whose
// AcceptTCP gives *Conn as net's gives *net.TCPConn.
func ListenTCP(network string, laddr *net.TCPAddr) (*Listener, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "listen", Net: network, Addr: opAddr(laddr), Err: net.UnknownNetworkError(network)}
	}
	if laddr == nil {
		laddr = &net.TCPAddr{}
	}
	var lc ListenConfig
	ln, err := lc.listenAddr(network, laddr)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: err}
	}
	return ln, nil
}

// ListenUnix announces on the local Unix socket address, like
// net.ListenUnix. The network must be "unix" ("unixpacket" is not
// supported by this package). Close removes the socket file, as net's
// does.
func ListenUnix(network string, laddr *net.UnixAddr) (*Listener, error) {
	if network != "unix" {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: opAddr(laddr), Err: net.UnknownNetworkError(network)}
	}
	if laddr == nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errMissingAddress}
	}
	var lc ListenConfig
	ln, err := lc.listenAddr(network, laddr)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: err}
	}
	return ln, nil
}

// ListenUDP opens a UDP socket bound to laddr, like net.ListenUDP. The
// network must be "udp", "udp4" or "udp6". A nil laddr, or one with no
// IP, binds every local address (dual-stack for "udp"); a port of 0
// picks one, which LocalAddr tells.
func ListenUDP(network string, laddr *net.UDPAddr) (*PacketConn, error) {
	switch network {
	case "udp", "udp4", "udp6":
	default:
		return nil, &net.OpError{Op: "listen", Net: network, Addr: opAddr(laddr), Err: net.UnknownNetworkError(network)}
	}
	if laddr == nil {
		laddr = &net.UDPAddr{}
	}
	c, err := openPacket(network, laddr, nil, nil)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: err}
	}
	return c, nil
}

// ListenUnixgram opens a Unix datagram socket bound to laddr, like
// net.ListenUnixgram. The network must be "unixgram". As with net, the
// socket file stays after Close.
func ListenUnixgram(network string, laddr *net.UnixAddr) (*PacketConn, error) {
	if network != "unixgram" {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: opAddr(laddr), Err: net.UnknownNetworkError(network)}
	}
	if laddr == nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errMissingAddress}
	}
	c, err := openPacket(network, laddr, nil, nil)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: err}
	}
	return c, nil
}

// DialTCP connects to raddr, like net.DialTCP, from laddr if it is not
// nil. The network must be "tcp", "tcp4" or "tcp6". An raddr with no IP
// means the local system. The connection has TCP_NODELAY and net's
// default keep-alive, as one from Dial.
func DialTCP(network string, laddr, raddr *net.TCPAddr) (*Conn, error) {
	return dialTCP(context.Background(), nil, network, laddr, raddr)
}

// dialTCP is DialTCP with a context and, if d is not nil, its options
// (but for LocalAddr, which laddr replaces).
func dialTCP(ctx context.Context, d *Dialer, network string, laddr, raddr *net.TCPAddr) (*Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Source: opAddr(laddr), Addr: opAddr(raddr), Err: net.UnknownNetworkError(network)}
	}
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: opAddr(laddr), Err: errMissingAddress}
	}
	dd := dialerWith(d, opAddr(laddr))
	c, err := dialTyped(ctx, dd, network, raddr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: opAddr(laddr), Addr: raddr, Err: dialError(err)}
	}
	return c, nil
}

// DialUnix connects to the Unix stream socket raddr, like net.DialUnix,
// from laddr if it is not nil. The network must be "unix". net's
// DialUnix also takes "unixgram", returning a *net.UnixConn for both;
// here a stream is a *Conn and a datagram socket a *PacketConn, which
// one function cannot return, so a datagram socket is dialed with
// Dial("unixgram", path) (or DialPacket), or made with ListenUnixgram
// and written to with WriteToUnix.
func DialUnix(network string, laddr, raddr *net.UnixAddr) (*Conn, error) {
	return dialUnix(context.Background(), nil, network, laddr, raddr)
}

// dialUnix is DialUnix with a context and, if d is not nil, its options
// (but for LocalAddr, which laddr replaces).
func dialUnix(ctx context.Context, d *Dialer, network string, laddr, raddr *net.UnixAddr) (*Conn, error) {
	switch network {
	case "unix":
	case "unixgram":
		return nil, &net.OpError{Op: "dial", Net: network, Source: opAddr(laddr), Addr: opAddr(raddr), Err: errDialUnixgram}
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Source: opAddr(laddr), Addr: opAddr(raddr), Err: net.UnknownNetworkError(network)}
	}
	if raddr == nil || raddr.Name == "" {
		return nil, &net.OpError{Op: "dial", Net: network, Source: opAddr(laddr), Addr: opAddr(raddr), Err: errMissingAddress}
	}
	var la net.Addr
	if laddr != nil && laddr.Name != "" {
		la = laddr
	}
	c, err := dialTyped(ctx, dialerWith(d, la), network, raddr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: opAddr(laddr), Addr: raddr, Err: dialError(err)}
	}
	return c, nil
}

var errDialUnixgram = errors.New(`uringnet: DialUnix dials "unix" only; use Dial("unixgram", path), DialPacket or ListenUnixgram for a Unix datagram socket`)

// DialUDP connects a UDP socket to raddr, like net.DialUDP, bound to
// laddr if it is not nil. The network must be "udp", "udp4" or "udp6".
// Read and Write exchange datagrams with raddr only.
func DialUDP(network string, laddr, raddr *net.UDPAddr) (*PacketConn, error) {
	return dialUDP(context.Background(), nil, network, laddr, raddr)
}

// dialUDP is DialUDP with a context and, if d is not nil, its Control
// or ControlContext.
func dialUDP(ctx context.Context, d *Dialer, network string, laddr, raddr *net.UDPAddr) (*PacketConn, error) {
	switch network {
	case "udp", "udp4", "udp6":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Source: opAddr(laddr), Addr: opAddr(raddr), Err: net.UnknownNetworkError(network)}
	}
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: opAddr(laddr), Err: errMissingAddress}
	}
	c, err := openPacket(network, opAddr(laddr), raddr, dialerWith(d, nil).control(ctx))
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: opAddr(laddr), Addr: raddr, Err: err}
	}
	return c, nil
}

// dialsIPv4 reports whether a dial to a remote address without IP goes
// to IPv4 (see dialFamily): unless the network is IPv6-only or the local
// address is IPv6.
func dialsIPv4(network string, laddr net.Addr) bool {
	if network[len(network)-1] == '6' {
		return false
	}
	var ip net.IP
	switch a := laddr.(type) {
	case *net.TCPAddr:
		if a != nil {
			ip = a.IP
		}
	case *net.UDPAddr:
		if a != nil {
			ip = a.IP
		}
	}
	return len(ip) <= net.IPv4len || ip.To4() != nil
}

// dialerWith is a copy of d (or a zero Dialer if d is nil) binding to
// laddr.
func dialerWith(d *Dialer, laddr net.Addr) *Dialer {
	var dd Dialer
	if d != nil {
		dd = *d
	}
	dd.LocalAddr = laddr
	return &dd
}

// dialTyped connects one stream socket to raddr through the Dialer's
// dialOne: one address, no Happy Eyeballs, as net's typed dials.
func dialTyped(ctx context.Context, d *Dialer, network string, raddr net.Addr) (*Conn, error) {
	e, err := executor()
	if err != nil {
		return nil, err
	}
	return d.dialOne(ctx, e, network, raddr)
}

// opAddr is a as a net.Addr, nil if a is a nil pointer, as net's
// opAddr methods give the address of an error.
func opAddr(a net.Addr) net.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		if a == nil {
			return nil
		}
	case *net.UDPAddr:
		if a == nil {
			return nil
		}
	case *net.UnixAddr:
		if a == nil {
			return nil
		}
	}
	return a
}

// AcceptTCP waits for and returns the next connection, like
// net.TCPListener's: it is AcceptUring, under the name code written for
// net calls.
func (l *Listener) AcceptTCP() (*Conn, error) { return l.AcceptUring() }

// AcceptUnix waits for and returns the next connection, like
// net.UnixListener's: it is AcceptUring, under the name code written for
// net calls.
func (l *Listener) AcceptUnix() (*Conn, error) { return l.AcceptUring() }

// DialTCP connects to raddr on a TCP network from laddr, like
// net.Dialer's: DialTCP with the Dialer's Timeout, Deadline, keep-alive
// and Control settings and the context bounding the connect. As with
// net, the zero AddrPort as laddr binds the wildcard address and any
// free port, and as raddr means the local system's port 0.
func (d *Dialer) DialTCP(ctx context.Context, network string, laddr, raddr netip.AddrPort) (*Conn, error) {
	ctx, cancel := d.ctxWithDeadline(ctx)
	defer cancel()
	return dialTCP(ctx, d, network, net.TCPAddrFromAddrPort(laddr), net.TCPAddrFromAddrPort(raddr))
}

// DialUDP connects a UDP socket to raddr from laddr, like net.Dialer's:
// DialUDP with the Dialer's Control settings. The zero AddrPort means
// what it does for DialTCP.
func (d *Dialer) DialUDP(ctx context.Context, network string, laddr, raddr netip.AddrPort) (*PacketConn, error) {
	ctx, cancel := d.ctxWithDeadline(ctx)
	defer cancel()
	return dialUDP(ctx, d, network, net.UDPAddrFromAddrPort(laddr), net.UDPAddrFromAddrPort(raddr))
}

// DialUnix connects to the Unix stream socket raddr from laddr, like
// net.Dialer's: DialUnix with the Dialer's Timeout, Deadline and
// Control settings and the context bounding the connect. As DialUnix,
// it dials "unix" only.
func (d *Dialer) DialUnix(ctx context.Context, network string, laddr, raddr *net.UnixAddr) (*Conn, error) {
	ctx, cancel := d.ctxWithDeadline(ctx)
	defer cancel()
	return dialUnix(ctx, d, network, laddr, raddr)
}
