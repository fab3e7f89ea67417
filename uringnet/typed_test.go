package uringnet

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

// TestTypedSignatures checks that net's typed constructors have their
// counterparts here, taking the same arguments, with this package's
// types where net returns its own.
func TestTypedSignatures(t *testing.T) {
	var (
		_ func(string, string, time.Duration) (net.Conn, error)         = DialTimeout
		_ func(string, *net.TCPAddr) (*Listener, error)                 = ListenTCP
		_ func(string, *net.UnixAddr) (*Listener, error)                = ListenUnix
		_ func(string, *net.UDPAddr) (*PacketConn, error)               = ListenUDP
		_ func(string, *net.UnixAddr) (*PacketConn, error)              = ListenUnixgram
		_ func(string, *net.TCPAddr, *net.TCPAddr) (*Conn, error)       = DialTCP
		_ func(string, *net.UDPAddr, *net.UDPAddr) (*PacketConn, error) = DialUDP
		_ func(string, *net.UnixAddr, *net.UnixAddr) (*Conn, error)     = DialUnix
		_ func(*Listener) (*Conn, error)                                = (*Listener).AcceptTCP
		_ func(*Listener) (*Conn, error)                                = (*Listener).AcceptUnix
	)
}

// errSentinels are the conditions sameErr compares with errors.Is.
var errSentinels = []error{
	net.ErrClosed, os.ErrDeadlineExceeded, context.DeadlineExceeded, context.Canceled,
	syscall.EADDRINUSE, syscall.ECONNREFUSED, syscall.ENOENT, syscall.EINVAL,
	syscall.EBADF, syscall.ENOTSOCK, syscall.EAFNOSUPPORT, syscall.EADDRNOTAVAIL,
}

// sameErr checks that got, from this package, is what net gave for the
// same call: both nil, or the same message, the same *net.OpError
// fields and the same answers to errors.Is and errors.As.
func sameErr(t *testing.T, what string, got, want error) {
	t.Helper()
	sameErrLike(t, what, got, want, nil, nil)
}

// sameErrLike is sameErr for errors of two different sockets, whose
// addresses differ: ours[i] in got stands for nets[i] in want.
func sameErrLike(t *testing.T, what string, got, want error, ours, nets []net.Addr) {
	t.Helper()
	key := func(a net.Addr, side []net.Addr) string {
		for i, s := range side {
			if a != nil && s != nil && a.String() == s.String() {
				return sprintT(a) + " " + a.Network() + " (the socket's address " + string(rune('0'+i)) + ")"
			}
		}
		return addrKey(a)
	}
	msg := func(err error, side []net.Addr) string {
		m := err.Error()
		for i, s := range side {
			if s != nil && s.String() != "" {
				m = strings.ReplaceAll(m, s.String(), "ADDR"+string(rune('0'+i)))
			}
		}
		return m
	}
	if (got == nil) != (want == nil) {
		t.Errorf("%s: %v; net's %v", what, got, want)
		return
	}
	if got == nil {
		return
	}
	if msg(got, ours) != msg(want, nets) {
		t.Errorf("%s: %q; net's %q", what, got, want)
	}
	var goe, woe *net.OpError
	if errors.As(got, &goe) != errors.As(want, &woe) {
		t.Errorf("%s: %T; net's %T", what, got, want)
	} else if goe != nil {
		if goe.Op != woe.Op || goe.Net != woe.Net {
			t.Errorf("%s: Op %q Net %q; net's Op %q Net %q", what, goe.Op, goe.Net, woe.Op, woe.Net)
		}
		if a, b := key(goe.Source, ours), key(woe.Source, nets); a != b {
			t.Errorf("%s: Source %s; net's %s", what, a, b)
		}
		if a, b := key(goe.Addr, ours), key(woe.Addr, nets); a != b {
			t.Errorf("%s: Addr %s; net's %s", what, a, b)
		}
		if goe.Timeout() != woe.Timeout() {
			t.Errorf("%s: Timeout() %v; net's %v", what, goe.Timeout(), woe.Timeout())
		}
	}
	for _, s := range errSentinels {
		if s == os.ErrDeadlineExceeded && goe != nil && goe.Op == "dial" && woe.Timeout() {
			// A dial timeout of net's matches it or not by a race
			// (see TestDialSplitsTime); ours always does.
			continue
		}
		if errors.Is(got, s) != errors.Is(want, s) {
			t.Errorf("%s: errors.Is(%v) %v; net's %v", what, s, errors.Is(got, s), errors.Is(want, s))
		}
	}
	var gu, wu net.UnknownNetworkError
	var ga, wa *net.AddrError
	var gs, ws *os.SyscallError
	if errors.As(got, &gu) != errors.As(want, &wu) || errors.As(got, &ga) != errors.As(want, &wa) || errors.As(got, &gs) != errors.As(want, &ws) {
		t.Errorf("%s: %#v; net's %#v", what, got, want)
	}
}

// addrKey describes an address for comparison: its type, network and
// text, or "nil" for none (a nil interface).
func addrKey(a net.Addr) string {
	if a == nil {
		return "nil"
	}
	return sprintT(a) + " " + a.Network() + " " + a.String()
}

func sprintT(v any) string {
	switch v.(type) {
	case *net.TCPAddr:
		return "*net.TCPAddr"
	case *net.UDPAddr:
		return "*net.UDPAddr"
	case *net.UnixAddr:
		return "*net.UnixAddr"
	}
	return "other"
}

// ipKey is an address without its port, for addresses whose ports
// differ between the two packages' sockets: type, network and IP.
func ipKey(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return sprintT(a) + " " + a.Network() + " " + (&net.TCPAddr{IP: a.IP, Zone: a.Zone}).String()
	case *net.UDPAddr:
		return sprintT(a) + " " + a.Network() + " " + (&net.UDPAddr{IP: a.IP, Zone: a.Zone}).String()
	}
	return addrKey(a)
}

// exchange checks that bytes flow both ways between a and b.
func exchange(t *testing.T, what string, a, b net.Conn) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	for _, dir := range [][2]net.Conn{{a, b}, {b, a}} {
		if _, err := io.WriteString(dir[0], "ping"); err != nil {
			t.Fatalf("%s: write: %v", what, err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(dir[1], buf); err != nil || string(buf) != "ping" {
			t.Fatalf("%s: read %q, %v", what, buf, err)
		}
	}
}

// closedTCPPort is a loopback address nobody listens on.
func closedTCPPort(t *testing.T) *net.TCPAddr {
	l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().(*net.TCPAddr)
	l.Close()
	return a
}

// TestListenTCP checks ListenTCP against net.ListenTCP for the same
// arguments: the listener's address, or the error; then that DialTCP
// and AcceptTCP connect to it as net's do.
func TestListenTCP(t *testing.T) {
	testutil.CheckFDs(t)
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	lo := net.IPv4(127, 0, 0, 1)
	cases := []struct {
		name    string
		network string
		laddr   *net.TCPAddr
	}{
		{"loopback", "tcp", &net.TCPAddr{IP: lo}},
		{"tcp4 loopback", "tcp4", &net.TCPAddr{IP: lo}},
		{"tcp6 loopback", "tcp6", &net.TCPAddr{IP: net.IPv6loopback}},
		{"nil", "tcp", nil},
		{"nil tcp4", "tcp4", nil},
		{"nil tcp6", "tcp6", nil},
		{"wildcard", "tcp", &net.TCPAddr{IP: net.IPv4zero}},
		{"udp", "udp", &net.TCPAddr{IP: lo}},
		{"empty network", "", nil},
		{"tcp4 with IPv6", "tcp4", &net.TCPAddr{IP: net.IPv6loopback}},
		{"tcp6 with IPv4", "tcp6", &net.TCPAddr{IP: lo}},
		{"in use", "tcp", busy.Addr().(*net.TCPAddr)},
		{"not local", "tcp", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := ListenTCP(tc.network, tc.laddr)
			nl, nerr := net.ListenTCP(tc.network, tc.laddr)
			sameErr(t, "ListenTCP", err, nerr)
			if err != nil || nerr != nil {
				if err == nil {
					ln.Close()
				}
				if nerr == nil {
					nl.Close()
				}
				return
			}
			defer ln.Close()
			defer nl.Close()
			if got, want := ipKey(ln.Addr()), ipKey(nl.Addr()); got != want {
				t.Errorf("Addr %s; net's %s", got, want)
			}
			if ln.Addr().(*net.TCPAddr).Port == 0 {
				t.Errorf("Addr %v has no port", ln.Addr())
			}

			// Each package dials its own listener, as the address
			// reads (an unspecified IP means the local system).
			raddr := ln.Addr().(*net.TCPAddr)
			c, err := DialTCP(tc.network, nil, raddr)
			nc, nerr := net.DialTCP(tc.network, nil, nl.Addr().(*net.TCPAddr))
			sameErr(t, "DialTCP", err, nerr)
			if err != nil || nerr != nil {
				t.FailNow()
			}
			defer c.Close()
			defer nc.Close()
			s, err := ln.AcceptTCP()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ns, err := nl.AcceptTCP()
			if err != nil {
				t.Fatal(err)
			}
			defer ns.Close()
			for _, p := range []struct {
				what      string
				got, want net.Addr
			}{
				{"dialed LocalAddr", c.LocalAddr(), nc.LocalAddr()},
				{"dialed RemoteAddr", c.RemoteAddr(), nc.RemoteAddr()},
				{"accepted LocalAddr", s.LocalAddr(), ns.LocalAddr()},
				{"accepted RemoteAddr", s.RemoteAddr(), ns.RemoteAddr()},
			} {
				if got, want := ipKey(p.got), ipKey(p.want); got != want {
					t.Errorf("%s %s; net's %s", p.what, got, want)
				}
			}
			exchange(t, "DialTCP to ListenTCP", c, s)
			// Across packages too.
			xc, err := DialTCP(tc.network, nil, nl.Addr().(*net.TCPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer xc.Close()
			xs, err := nl.AcceptTCP()
			if err != nil {
				t.Fatal(err)
			}
			defer xs.Close()
			exchange(t, "DialTCP to net.ListenTCP", xc, xs)
		})
	}
}

// TestDialTCP checks DialTCP against net.DialTCP for the same
// arguments, to a net listener: the addresses, or the error.
func TestDialTCP(t *testing.T) {
	testutil.CheckFDs(t)
	nl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	ln6, err := net.ListenTCP("tcp6", &net.TCPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer ln6.Close()
	port := nl.Addr().(*net.TCPAddr).Port
	lo := net.IPv4(127, 0, 0, 1)
	taken := nl.Addr().(*net.TCPAddr)
	cases := []struct {
		name         string
		network      string
		laddr, raddr *net.TCPAddr
		ln           *net.TCPListener
	}{
		{"loopback", "tcp", nil, &net.TCPAddr{IP: lo, Port: port}, nl},
		{"tcp4", "tcp4", nil, &net.TCPAddr{IP: lo, Port: port}, nl},
		{"no IP", "tcp", nil, &net.TCPAddr{Port: port}, nl},
		{"no IP, tcp4", "tcp4", nil, &net.TCPAddr{Port: port}, nl},
		{"laddr", "tcp", &net.TCPAddr{IP: lo}, &net.TCPAddr{IP: lo, Port: port}, nl},
		{"laddr port taken", "tcp", taken, &net.TCPAddr{IP: lo, Port: port}, nl},
		{"tcp6", "tcp6", nil, ln6.Addr().(*net.TCPAddr), ln6},
		{"nil raddr", "tcp", nil, nil, nil},
		{"nil raddr with laddr", "tcp", &net.TCPAddr{IP: lo}, nil, nil},
		{"udp", "udp", nil, &net.TCPAddr{IP: lo, Port: port}, nil},
		{"refused", "tcp", nil, closedTCPPort(t), nil},
		{"tcp4 to IPv6", "tcp4", nil, &net.TCPAddr{IP: net.IPv6loopback, Port: port}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DialTCP(tc.network, tc.laddr, tc.raddr)
			if err == nil {
				defer c.Close()
			}
			if tc.ln != nil && err == nil {
				s, err := tc.ln.Accept()
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				exchange(t, "DialTCP", c, s)
			}
			nc, nerr := net.DialTCP(tc.network, tc.laddr, tc.raddr)
			if nerr == nil {
				defer nc.Close()
				if tc.ln != nil {
					s, err := tc.ln.Accept()
					if err != nil {
						t.Fatal(err)
					}
					s.Close()
				}
			}
			sameErr(t, "DialTCP", err, nerr)
			if err != nil || nerr != nil {
				return
			}
			if got, want := ipKey(c.LocalAddr()), ipKey(nc.LocalAddr()); got != want {
				t.Errorf("LocalAddr %s; net's %s", got, want)
			}
			if got, want := addrKey(c.RemoteAddr()), addrKey(nc.RemoteAddr()); got != want {
				t.Errorf("RemoteAddr %s; net's %s", got, want)
			}
			// The options net sets on a dialed connection.
			if got, want := readKeepAlive(t, c), readKeepAlive(t, nc); got != want {
				t.Errorf("keep-alive %+v; net's %+v", got, want)
			}
		})
	}
}

// TestListenUDP checks ListenUDP and DialUDP against net's for the same
// arguments: the addresses, or the error, and datagrams between them.
func TestListenUDP(t *testing.T) {
	testutil.CheckFDs(t)
	busy, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	lo := net.IPv4(127, 0, 0, 1)
	for _, tc := range []struct {
		name    string
		network string
		laddr   *net.UDPAddr
	}{
		{"loopback", "udp", &net.UDPAddr{IP: lo}},
		{"udp4", "udp4", &net.UDPAddr{IP: lo}},
		{"udp6", "udp6", &net.UDPAddr{IP: net.IPv6loopback}},
		{"nil", "udp", nil},
		{"nil udp4", "udp4", nil},
		{"nil udp6", "udp6", nil},
		{"tcp", "tcp", &net.UDPAddr{IP: lo}},
		{"udp4 with IPv6", "udp4", &net.UDPAddr{IP: net.IPv6loopback}},
		{"in use", "udp", busy.LocalAddr().(*net.UDPAddr)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ListenUDP(tc.network, tc.laddr)
			nc, nerr := net.ListenUDP(tc.network, tc.laddr)
			sameErr(t, "ListenUDP", err, nerr)
			if err == nil {
				defer c.Close()
			}
			if nerr == nil {
				defer nc.Close()
			}
			if err != nil || nerr != nil {
				return
			}
			if got, want := ipKey(c.LocalAddr()), ipKey(nc.LocalAddr()); got != want {
				t.Errorf("LocalAddr %s; net's %s", got, want)
			}
			if c.RemoteAddr() != nil {
				t.Errorf("RemoteAddr %v; net's %v", c.RemoteAddr(), nc.RemoteAddr())
			}

			// DialUDP to each, from each package.
			for _, to := range []net.PacketConn{c, nc} {
				raddr := to.LocalAddr().(*net.UDPAddr)
				d, err := DialUDP(tc.network, nil, raddr)
				nd, nerr := net.DialUDP(tc.network, nil, raddr)
				sameErr(t, "DialUDP", err, nerr)
				if err != nil || nerr != nil {
					t.FailNow()
				}
				if got, want := ipKey(d.LocalAddr()), ipKey(nd.LocalAddr()); got != want {
					t.Errorf("DialUDP LocalAddr %s; net's %s", got, want)
				}
				if got, want := addrKey(d.RemoteAddr()), addrKey(nd.RemoteAddr()); got != want {
					t.Errorf("DialUDP RemoteAddr %s; net's %s", got, want)
				}
				to.SetDeadline(time.Now().Add(10 * time.Second))
				for _, w := range []net.Conn{d, nd} {
					if _, err := w.Write([]byte("datagram")); err != nil {
						t.Fatal(err)
					}
					buf := make([]byte, 16)
					n, from, err := to.ReadFrom(buf)
					if err != nil || string(buf[:n]) != "datagram" || from.String() != w.LocalAddr().String() {
						t.Fatalf("ReadFrom: %q from %v, %v; sent from %v", buf[:n], from, err, w.LocalAddr())
					}
				}
				d.Close()
				nd.Close()
			}
		})
	}
}

// TestDialUDPErrors checks DialUDP's errors against net.DialUDP's.
func TestDialUDPErrors(t *testing.T) {
	testutil.CheckFDs(t)
	lo := net.IPv4(127, 0, 0, 1)
	busy, err := net.ListenUDP("udp4", &net.UDPAddr{IP: lo})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	raddr := &net.UDPAddr{IP: lo, Port: 9}
	for _, tc := range []struct {
		name         string
		network      string
		laddr, raddr *net.UDPAddr
	}{
		{"nil raddr", "udp", nil, nil},
		{"nil raddr with laddr", "udp", &net.UDPAddr{IP: lo}, nil},
		{"tcp", "tcp", nil, raddr},
		{"laddr in use", "udp", busy.LocalAddr().(*net.UDPAddr), raddr},
		{"udp4 to IPv6", "udp4", nil, &net.UDPAddr{IP: net.IPv6loopback, Port: 9}},
		{"laddr", "udp", &net.UDPAddr{IP: lo}, raddr},
		{"no IP", "udp", nil, &net.UDPAddr{Port: 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DialUDP(tc.network, tc.laddr, tc.raddr)
			nc, nerr := net.DialUDP(tc.network, tc.laddr, tc.raddr)
			sameErr(t, "DialUDP", err, nerr)
			if err == nil {
				defer c.Close()
			}
			if nerr == nil {
				defer nc.Close()
			}
			if err == nil && nerr == nil {
				if got, want := ipKey(c.LocalAddr()), ipKey(nc.LocalAddr()); got != want {
					t.Errorf("LocalAddr %s; net's %s", got, want)
				}
				if got, want := addrKey(c.RemoteAddr()), addrKey(nc.RemoteAddr()); got != want {
					t.Errorf("RemoteAddr %s; net's %s", got, want)
				}
			}
		})
	}
}

// TestListenUnix checks ListenUnix, ListenUnixgram and DialUnix against
// net's: errors, addresses, data, and what Close does to the socket file.
func TestListenUnix(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	path := func(name string) *net.UnixAddr { return &net.UnixAddr{Name: filepath.Join(dir, name), Net: "unix"} }
	existing := path("existing")
	if err := os.WriteFile(existing.Name, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			network string
			laddr   *net.UnixAddr
		}{
			{"nil", "unix", nil},
			{"tcp", "tcp", path("x")},
			{"unixgram", "unixgram", path("x")},
			{"file exists", "unix", existing},
			{"no directory", "unix", path("none/x")},
		} {
			ln, err := ListenUnix(tc.network, tc.laddr)
			nl, nerr := net.ListenUnix(tc.network, tc.laddr)
			sameErr(t, "ListenUnix "+tc.name, err, nerr)
			if err == nil {
				ln.Close()
			}
			if nerr == nil {
				nl.Close()
			}
		}
		for _, tc := range []struct {
			name    string
			network string
			laddr   *net.UnixAddr
		}{
			{"nil", "unixgram", nil},
			{"unix", "unix", path("x")},
			{"file exists", "unixgram", existing},
		} {
			c, err := ListenUnixgram(tc.network, tc.laddr)
			nc, nerr := net.ListenUnixgram(tc.network, tc.laddr)
			sameErr(t, "ListenUnixgram "+tc.name, err, nerr)
			if err == nil {
				c.Close()
			}
			if nerr == nil {
				nc.Close()
			}
		}
		for _, tc := range []struct {
			name         string
			network      string
			laddr, raddr *net.UnixAddr
		}{
			{"nil raddr", "unix", nil, nil},
			{"empty raddr", "unix", nil, &net.UnixAddr{Net: "unix"}},
			{"tcp", "tcp", nil, path("x")},
			{"no such socket", "unix", nil, path("none")},
			{"not a socket", "unix", nil, existing},
		} {
			c, err := DialUnix(tc.network, tc.laddr, tc.raddr)
			nc, nerr := net.DialUnix(tc.network, tc.laddr, tc.raddr)
			sameErr(t, "DialUnix "+tc.name, err, nerr)
			if err == nil {
				c.Close()
			}
			if nerr == nil {
				nc.Close()
			}
		}
		// The one difference: a datagram socket is not a *Conn.
		_, err := DialUnix("unixgram", nil, path("x"))
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "dial" || oe.Net != "unixgram" || !errors.Is(err, errDialUnixgram) {
			t.Errorf("DialUnix(unixgram): %v", err)
		}
	})

	t.Run("stream", func(t *testing.T) {
		ln, err := ListenUnix("unix", path("ours"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		nl, err := net.ListenUnix("unix", path("net"))
		if err != nil {
			t.Fatal(err)
		}
		defer nl.Close()
		if got, want := addrKey(ln.Addr()), addrKey(&net.UnixAddr{Name: path("ours").Name, Net: "unix"}); got != want {
			t.Errorf("Addr %s, want %s", got, want)
		}
		c, err := DialUnix("unix", nil, ln.Addr().(*net.UnixAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		nc, err := net.DialUnix("unix", nil, nl.Addr().(*net.UnixAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		s, err := ln.AcceptUnix()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ns, err := nl.AcceptUnix()
		if err != nil {
			t.Fatal(err)
		}
		defer ns.Close()
		for _, p := range []struct {
			what      string
			got, want net.Addr
		}{
			{"dialed LocalAddr", c.LocalAddr(), nc.LocalAddr()},
			{"accepted RemoteAddr", s.RemoteAddr(), ns.RemoteAddr()},
		} {
			if got, want := addrKey(p.got), addrKey(p.want); got != want {
				t.Errorf("%s %s; net's %s", p.what, got, want)
			}
		}
		exchange(t, "DialUnix to ListenUnix", c, s)

		// A bound client: laddr is the name the server sees.
		bc, err := DialUnix("unix", path("client"), ln.Addr().(*net.UnixAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer bc.Close()
		bs, err := ln.AcceptUnix()
		if err != nil {
			t.Fatal(err)
		}
		defer bs.Close()
		if got, want := addrKey(bs.RemoteAddr()), addrKey(path("client")); got != want {
			t.Errorf("bound client seen as %s, want %s", got, want)
		}

		// Close removes the socket file, as net's does.
		ln.Close()
		nl.Close()
		for _, name := range []string{"ours", "net"} {
			if _, err := os.Stat(path(name).Name); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s socket file after Close: %v", name, err)
			}
		}
	})

	t.Run("datagram", func(t *testing.T) {
		gaddr := &net.UnixAddr{Name: filepath.Join(dir, "gours"), Net: "unixgram"}
		naddr := &net.UnixAddr{Name: filepath.Join(dir, "gnet"), Net: "unixgram"}
		c, err := ListenUnixgram("unixgram", gaddr)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := net.ListenUnixgram("unixgram", naddr)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := addrKey(c.LocalAddr()), addrKey(gaddr); got != want {
			t.Errorf("LocalAddr %s, want %s", got, want)
		}
		if c.RemoteAddr() != nil || nc.RemoteAddr() != nil {
			t.Errorf("RemoteAddr %v; net's %v", c.RemoteAddr(), nc.RemoteAddr())
		}
		deadline := time.Now().Add(10 * time.Second)
		c.SetDeadline(deadline)
		nc.SetDeadline(deadline)
		for _, p := range [][2]net.PacketConn{{c, nc}, {nc, c}} {
			if _, err := p[0].WriteTo([]byte("gram"), p[1].LocalAddr()); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 8)
			n, from, err := p[1].ReadFrom(buf)
			if err != nil || string(buf[:n]) != "gram" || addrKey(from) != addrKey(p[0].LocalAddr()) {
				t.Fatalf("ReadFrom: %q from %v, %v", buf[:n], from, err)
			}
		}
		// Close leaves the socket file, as net's does.
		c.Close()
		nc.Close()
		for _, a := range []*net.UnixAddr{gaddr, naddr} {
			if _, err := os.Stat(a.Name); err != nil {
				t.Errorf("%s after Close: %v, want it kept", a.Name, err)
			}
		}
	})
}

// TestDialTimeoutFunc checks DialTimeout against net.DialTimeout: a
// connection, a refused one, and a timeout that has passed before the
// dial starts.
func TestDialTimeoutFunc(t *testing.T) {
	testutil.CheckFDs(t)
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	closed := closedTCPPort(t).String()
	for _, tc := range []struct {
		name, network, address string
		timeout                time.Duration
		ok                     bool
	}{
		{"connects", "tcp", nl.Addr().String(), time.Minute, true},
		{"no timeout", "tcp", nl.Addr().String(), 0, true},
		{"refused", "tcp", closed, time.Minute, false},
		{"timed out", "tcp", nl.Addr().String(), time.Nanosecond, false},
		{"bad network", "tcp7", nl.Addr().String(), time.Minute, false},
		{"udp", "udp", "127.0.0.1:9", time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DialTimeout(tc.network, tc.address, tc.timeout)
			if err == nil {
				defer c.Close()
			}
			nc, nerr := net.DialTimeout(tc.network, tc.address, tc.timeout)
			if nerr == nil {
				defer nc.Close()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("DialTimeout: %v", err)
			}
			sameErr(t, "DialTimeout", err, nerr)
			if err == nil {
				if got, want := ipKey(c.LocalAddr()), ipKey(nc.LocalAddr()); got != want {
					t.Errorf("LocalAddr %s; net's %s", got, want)
				}
				if got, want := addrKey(c.RemoteAddr()), addrKey(nc.RemoteAddr()); got != want {
					t.Errorf("RemoteAddr %s; net's %s", got, want)
				}
			}
		})
	}
	// Drain what the successful dials queued.
	nl.Close()
}

// TestDialerTyped checks Dialer.DialTCP, DialUDP and DialUnix against
// net.Dialer's: addresses or errors for the same arguments, the
// Dialer's keep-alive and Control applied, the context's end reported.
func TestDialerTyped(t *testing.T) {
	testutil.CheckFDs(t)
	nl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	go func() {
		for {
			c, err := nl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "s"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	go func() {
		for {
			c, err := ul.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	lo := netip.MustParseAddr("127.0.0.1")
	port := uint16(nl.Addr().(*net.TCPAddr).Port)
	closed := uint16(closedTCPPort(t).Port)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	var controls, ncontrols []string
	record := func(calls *[]string) func(context.Context, string, string, syscall.RawConn) error {
		return func(_ context.Context, network, address string, _ syscall.RawConn) error {
			*calls = append(*calls, network+" "+address)
			return nil
		}
	}
	d := Dialer{KeepAlive: 42 * time.Second, ControlContext: record(&controls)}
	nd := net.Dialer{KeepAlive: 42 * time.Second, ControlContext: record(&ncontrols)}
	for _, tc := range []struct {
		name         string
		ctx          context.Context
		network      string
		laddr, raddr netip.AddrPort
	}{
		{"tcp", context.Background(), "tcp", netip.AddrPort{}, netip.AddrPortFrom(lo, port)},
		{"tcp4 with laddr", context.Background(), "tcp4", netip.AddrPortFrom(lo, 0), netip.AddrPortFrom(lo, port)},
		{"no raddr IP", context.Background(), "tcp", netip.AddrPort{}, netip.AddrPortFrom(netip.Addr{}, port)},
		{"zero raddr", context.Background(), "tcp", netip.AddrPort{}, netip.AddrPort{}},
		{"refused", context.Background(), "tcp", netip.AddrPort{}, netip.AddrPortFrom(lo, closed)},
		{"cancelled", done, "tcp", netip.AddrPort{}, netip.AddrPortFrom(lo, port)},
		{"udp network", context.Background(), "udp", netip.AddrPort{}, netip.AddrPortFrom(lo, port)},
	} {
		t.Run("DialTCP "+tc.name, func(t *testing.T) {
			controls, ncontrols = nil, nil
			c, err := d.DialTCP(tc.ctx, tc.network, tc.laddr, tc.raddr)
			nc, nerr := nd.DialTCP(tc.ctx, tc.network, tc.laddr, tc.raddr)
			if !sameDial(t, "DialTCP", c, err, nc, nerr, controls, ncontrols) {
				return
			}
			if got, want := readKeepAlive(t, c), readKeepAlive(t, nc); got != want {
				t.Errorf("keep-alive %+v; net's %+v", got, want)
			}
		})
	}
	for _, tc := range []struct {
		name         string
		network      string
		laddr, raddr netip.AddrPort
	}{
		{"udp", "udp", netip.AddrPort{}, netip.AddrPortFrom(lo, 9)},
		{"udp4 with laddr", "udp4", netip.AddrPortFrom(lo, 0), netip.AddrPortFrom(lo, 9)},
		{"no raddr IP", "udp", netip.AddrPort{}, netip.AddrPortFrom(netip.Addr{}, 9)},
		{"tcp network", "tcp", netip.AddrPort{}, netip.AddrPortFrom(lo, 9)},
	} {
		t.Run("DialUDP "+tc.name, func(t *testing.T) {
			controls, ncontrols = nil, nil
			c, err := d.DialUDP(context.Background(), tc.network, tc.laddr, tc.raddr)
			nc, nerr := nd.DialUDP(context.Background(), tc.network, tc.laddr, tc.raddr)
			if !sameDial(t, "DialUDP", c, err, nc, nerr, controls, ncontrols) {
				return
			}
		})
	}
	t.Run("DialUnix", func(t *testing.T) {
		controls, ncontrols = nil, nil
		c, err := d.DialUnix(context.Background(), "unix", nil, ul.Addr().(*net.UnixAddr))
		nc, nerr := nd.DialUnix(context.Background(), "unix", nil, ul.Addr().(*net.UnixAddr))
		sameErr(t, "DialUnix", err, nerr)
		if err != nil || nerr != nil {
			t.FailNow()
		}
		defer c.Close()
		defer nc.Close()
		if !slices.Equal(controls, ncontrols) || len(controls) != 1 {
			t.Errorf("ControlContext calls %q; net's %q", controls, ncontrols)
		}
		if got, want := addrKey(c.RemoteAddr()), addrKey(nc.RemoteAddr()); got != want {
			t.Errorf("RemoteAddr %s; net's %s", got, want)
		}
		c, err = d.DialUnix(done, "unix", nil, ul.Addr().(*net.UnixAddr))
		nc, nerr = nd.DialUnix(done, "unix", nil, ul.Addr().(*net.UnixAddr))
		sameErr(t, "DialUnix cancelled", err, nerr)
		if err == nil {
			c.Close()
		}
		if nerr == nil {
			nc.Close()
		}
	})

	// A Dialer's LocalAddr without IP binds the wildcard of the
	// family the remote address chose, as net's does.
	for _, la := range []net.Addr{&net.TCPAddr{}, &net.UDPAddr{}} {
		network := la.Network()
		raddr := nl.Addr().String()
		c, err := (&Dialer{LocalAddr: la}).Dial(network, raddr)
		nc, nerr := (&net.Dialer{LocalAddr: la}).Dial(network, raddr)
		sameErr(t, "Dial with LocalAddr "+la.String(), err, nerr)
		if err == nil && nerr == nil {
			if got, want := ipKey(c.LocalAddr()), ipKey(nc.LocalAddr()); got != want {
				t.Errorf("%s LocalAddr %s; net's %s", network, got, want)
			}
		}
		if err == nil {
			c.Close()
		}
		if nerr == nil {
			nc.Close()
		}
	}
}

// sameDial compares a dial of ours with net's: the errors, the
// ControlContext calls and, when both connected, the addresses. It
// closes what connected when the test ends, and reports whether both
// did.
func sameDial(t *testing.T, op string, c net.Conn, err error, nc net.Conn, nerr error, controls, ncontrols []string) bool {
	t.Helper()
	sameErr(t, op, err, nerr)
	if !slices.Equal(controls, ncontrols) {
		t.Errorf("ControlContext calls %q; net's %q", controls, ncontrols)
	}
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	if nerr == nil {
		t.Cleanup(func() { nc.Close() })
	}
	if err != nil || nerr != nil {
		return false
	}
	if got, want := ipKey(c.LocalAddr()), ipKey(nc.LocalAddr()); got != want {
		t.Errorf("LocalAddr %s; net's %s", got, want)
	}
	if got, want := addrKey(c.RemoteAddr()), addrKey(nc.RemoteAddr()); got != want {
		t.Errorf("RemoteAddr %s; net's %s", got, want)
	}
	return true
}
