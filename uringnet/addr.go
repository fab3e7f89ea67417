package uringnet

import (
	"context"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/sock"
)

// checkNetwork returns net.UnknownNetworkError for networks other than
// tcp, tcp4, tcp6 and unix.
func checkNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
		return nil
	}
	return net.UnknownNetworkError(network)
}

// tcpFamily picks the address family for ip on network, as net does:
// IPv4 addresses use AF_INET unless tcp6 was asked for.
func tcpFamily(network string, ip net.IP) (int, error) {
	switch network {
	case "tcp4":
		if ip != nil && ip.To4() == nil {
			return 0, &net.AddrError{Err: "non-IPv4 address", Addr: ip.String()}
		}
		return unix.AF_INET, nil
	case "tcp6":
		// An IPv4 address goes in as IPv4-mapped, which the kernel
		// refuses on the IPv6-only socket (EINVAL), as with net.
		return unix.AF_INET6, nil
	}
	if ip != nil && ip.To4() != nil {
		return unix.AF_INET, nil
	}
	return unix.AF_INET6, nil
}

// sockaddrToAddr converts a kernel address of a stream socket to the
// net.Addr package net would report for it.
func sockaddrToAddr(sa unix.Sockaddr) net.Addr { return sock.Addr(unix.SOCK_STREAM, sa) }

// resolveDial resolves address for dialing through the standard
// resolver. A missing host means the local system, as with net.Dial.
func resolveDial(ctx context.Context, network, address string) ([]net.Addr, error) {
	return resolveDialWith(ctx, nil, network, address)
}

// resolveDialWith is resolveDial through r (nil for net.DefaultResolver).
// Addresses keep the resolver's order (RFC 6724's, for Go's), whose
// first one's family a "tcp" dial tries first.
func resolveDialWith(ctx context.Context, r *net.Resolver, network, address string) ([]net.Addr, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	if network == "unix" {
		a, err := net.ResolveUnixAddr(network, address)
		if err != nil {
			return nil, err
		}
		return []net.Addr{a}, nil
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	p, err := r.LookupPort(ctx, network, port)
	if err != nil {
		return nil, err
	}
	if host == "" {
		ip := net.IPv4(127, 0, 0, 1)
		if network == "tcp6" {
			ip = net.IPv6loopback
		}
		return []net.Addr{&net.TCPAddr{IP: ip, Port: p}}, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []net.Addr{&net.TCPAddr{IP: net.IP(a.AsSlice()), Port: p, Zone: a.Zone()}}, nil
	}
	ipNet := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[network]
	ips, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	var addrs []net.Addr
	for _, ip := range ips {
		if (ipNet == "ip4" && ip.IP.To4() == nil) || (ipNet == "ip6" && ip.IP.To4() != nil) {
			continue
		}
		addrs = append(addrs, &net.TCPAddr{IP: ip.IP, Port: p, Zone: ip.Zone})
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no suitable address found", Name: host, IsNotFound: true}
	}
	return addrs, nil
}

// addrSockaddr converts a resolved address to the socket family and kernel
// address to connect or bind to.
func addrSockaddr(network string, a net.Addr) (int, unix.Sockaddr, error) {
	switch a := a.(type) {
	case *net.TCPAddr:
		fam, err := tcpFamily(network, a.IP)
		if err != nil {
			return 0, nil, err
		}
		sa, err := sock.IPSockaddr(fam, a.IP, a.Port, a.Zone)
		return fam, sa, err
	case *net.UnixAddr:
		return unix.AF_UNIX, &unix.SockaddrUnix{Name: a.Name}, nil
	}
	return 0, nil, &net.AddrError{Err: "unexpected address type", Addr: a.String()}
}

// newSocket creates a non-blocking, close-on-exec socket of sotype
// (SOCK_STREAM or SOCK_DGRAM) and protocol proto (0 for the family's
// own, or IPPROTO_MPTCP). An IPv6 socket is dual-stack unless the
// network names IPv6 alone ("tcp6", "udp6"), as net's are.
func newSocket(family, sotype, proto int, network string) (int, error) {
	fd, err := unix.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, err
	}
	if family == unix.AF_INET6 {
		v6only := 0
		if network[len(network)-1] == '6' {
			v6only = 1
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

// ctrlNetwork is the network a Control function is given, as net gives
// it: the socket's family spelled out ("tcp4", "udp6"), unix networks as
// they are.
func ctrlNetwork(network string, family int) string {
	switch network {
	case "unix", "unixgram", "unixpacket":
		return network
	}
	switch network[len(network)-1] {
	case '4', '6':
		return network
	}
	if family == unix.AF_INET {
		return network + "4"
	}
	return network + "6"
}

// familySockaddr is the kernel address of a for a socket of family
// (which the peer's address chose): an address without IP is the
// wildcard of that family, as with net. It is what a dialing socket
// binds to and, for a peer without IP (the local system), connects to.
func familySockaddr(family int, network string, laddr net.Addr) (unix.Sockaddr, error) {
	switch a := laddr.(type) {
	case *net.TCPAddr:
		if a != nil && len(a.IP) == 0 && family != unix.AF_UNIX {
			return sock.IPSockaddr(family, nil, a.Port, a.Zone)
		}
	case *net.UDPAddr:
		if a != nil && len(a.IP) == 0 && family != unix.AF_UNIX {
			return sock.IPSockaddr(family, nil, a.Port, a.Zone)
		}
	}
	if isPacketNetwork(network) {
		_, sa, err := packetSockaddr(network, laddr)
		return sa, err
	}
	_, sa, err := addrSockaddr(network, laddr)
	return sa, err
}

// dialFamily is the family of a socket dialing raddr from laddr, given
// the one its address type chose: IPv4 for a remote address without IP
// (the local system) unless the network is IPv6-only or laddr is IPv6,
// as net's favoriteAddrFamily picks. Connecting to 0.0.0.0 then reaches
// 127.0.0.1, as [::] reaches ::1.
func dialFamily(family int, network string, laddr, raddr net.Addr) int {
	if family != unix.AF_INET6 {
		return family
	}
	var ip net.IP
	switch a := raddr.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	default:
		return family
	}
	if len(ip) == 0 && dialsIPv4(network, laddr) {
		return unix.AF_INET
	}
	return family
}
