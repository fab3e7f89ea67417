package testutil

import (
	"fmt"
	"net"
	"reflect"
	"testing"
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
