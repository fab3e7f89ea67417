package testutil

import (
	"fmt"
	"net"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

// SameAddr reports whether a and b are the same address as a program
// sees it: the same type, network and text, or both nil.
func SameAddr(a, b net.Addr) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return reflect.TypeOf(a) == reflect.TypeOf(b) && a.Network() == b.Network() && a.String() == b.String()
}

// CheckAddr fails the test unless got is the address net reports (want):
// SameAddr.
func CheckAddr(tb testing.TB, what string, got, want net.Addr) {
	tb.Helper()
	if !SameAddr(got, want) {
		tb.Errorf("%s: %s, net's is %s", what, FmtAddr(got), FmtAddr(want))
	}
}

// FmtAddr shows a's type, network and text, for a test's failure.
func FmtAddr(a net.Addr) string {
	if a == nil {
		return "nil"
	}
	return fmt.Sprintf("%T %s %q", a, a.Network(), a)
}

// LinkLocal returns an IPv6 link-local address of an interface that is
// up, and the interface's name (the address's zone), or skips the test.
func LinkLocal(tb testing.TB) (net.IP, string) {
	tb.Helper()
	ip, zone := linkLocal()
	if ip == nil {
		tb.Skip("no interface with an IPv6 link-local address")
	}
	return ip, zone
}

func linkLocal() (net.IP, string) {
	ifs, _ := net.Interfaces()
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() == nil && ipn.IP.IsLinkLocalUnicast() {
				return ipn.IP, ifi.Name
			}
		}
	}
	return nil, ""
}

// Connect dials ln with dial and accepts the connection, and closes both
// ends when the test ends. zone, if not empty, is added to the
// listener's address: the kernel gives a listener on a link-local
// address none, and the dialer needs it.
func Connect(tb testing.TB, ln net.Listener, dial func(network, address string) (net.Conn, error), zone string) (client, server net.Conn) {
	tb.Helper()
	raddr := ln.Addr().String()
	if zone != "" {
		ta := *ln.Addr().(*net.TCPAddr)
		ta.Zone = zone
		raddr = ta.String()
	}
	client, err := dial(ln.Addr().Network(), raddr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { server.Close() })
	return client, server
}

// RawDial connects a blocking stream socket to a (a *net.TCPAddr or
// *net.UnixAddr) with connect(2) alone, where net's dial would also ask
// getpeername whether its connect has completed, and returns it with
// its own address as a server should name the peer ("@" for an unnamed
// Unix socket).
func RawDial(a net.Addr) (int, net.Addr, error) {
	var (
		sa     unix.Sockaddr
		family = unix.AF_UNIX
	)
	switch a := a.(type) {
	case *net.TCPAddr:
		if ip4 := a.IP.To4(); ip4 != nil {
			family = unix.AF_INET
			sa4 := &unix.SockaddrInet4{Port: a.Port}
			copy(sa4.Addr[:], ip4)
			sa = sa4
		} else {
			family = unix.AF_INET6
			sa6 := &unix.SockaddrInet6{Port: a.Port}
			copy(sa6.Addr[:], a.IP.To16())
			if a.Zone != "" {
				ifi, err := net.InterfaceByName(a.Zone)
				if err != nil {
					return -1, nil, err
				}
				sa6.ZoneId = uint32(ifi.Index)
			}
			sa = sa6
		}
	case *net.UnixAddr:
		sa = &unix.SockaddrUnix{Name: a.Name}
	default:
		return -1, nil, fmt.Errorf("RawDial: address %T", a)
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, err
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	if family == unix.AF_UNIX {
		return fd, &net.UnixAddr{Name: "@", Net: "unix"}, nil
	}
	local, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	switch s := local.(type) {
	case *unix.SockaddrInet4:
		return fd, &net.TCPAddr{IP: net.IP(s.Addr[:]).To16(), Port: s.Port}, nil
	case *unix.SockaddrInet6:
		ta := &net.TCPAddr{IP: net.IP(s.Addr[:]), Port: s.Port}
		if s.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(s.ZoneId)); err == nil {
				ta.Zone = ifi.Name
			}
		}
		return fd, ta, nil
	}
	unix.Close(fd)
	return -1, nil, fmt.Errorf("RawDial: local address %T", local)
}
