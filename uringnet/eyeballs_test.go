package uringnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
)

// dualStackResolver starts a DNS server on loopback UDP that answers
// every name with 127.0.0.1 (A) and ::1 (AAAA), and returns a resolver
// that asks only it.
func dualStackResolver(t *testing.T) *net.Resolver {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			rh := dnsmessage.ResourceHeader{Name: q.Name, Type: q.Type, Class: dnsmessage.ClassINET, TTL: 60}
			switch q.Type {
			case dnsmessage.TypeA:
				b.AResource(rh, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
			case dnsmessage.TypeAAAA:
				b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: netip.IPv6Loopback().As16()})
			}
			msg, err := b.Finish()
			if err != nil {
				continue
			}
			pc.WriteTo(msg, from)
		}
	})
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// blackhole makes a listener on sa whose accept queue is full, so the
// kernel drops further SYNs and a connect to it waits; ok is false if the
// kernel kept accepting.
func blackhole(t *testing.T, family int, sa unix.Sockaddr) (ok bool) {
	t.Helper()
	lfd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(lfd) })
	if family == unix.AF_INET6 {
		unix.SetsockoptInt(lfd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
	}
	// The port's earlier connections may sit in TIME_WAIT.
	unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(lfd, sa); err != nil {
		t.Fatalf("bind the blackhole: %v", err)
	}
	if err := unix.Listen(lfd, 0); err != nil {
		t.Fatal(err)
	}
	addr := sockaddrToAddr(sa).String()
	for range 16 {
		c, err := (&Dialer{Timeout: 200 * time.Millisecond}).Dial("tcp", addr)
		if err != nil {
			return true
		}
		t.Cleanup(func() { c.Close() })
	}
	return false
}

// TestHappyEyeballs dials a name that resolves to ::1 and 127.0.0.1 (the
// resolver's order puts ::1 first) where only one family listens, or
// where the first family's SYNs go unanswered, and checks which address
// the connection reached, as net.Dialer does it.
func TestHappyEyeballs(t *testing.T) {
	defer testutil.CheckFDs(t)
	res := dualStackResolver(t)
	// A port free in both families.
	ln6 := listenLocal(t, "tcp6", ListenConfig{})
	port := ln6.Addr().(*net.TCPAddr).Port
	ln4, err := Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Skipf("port %d taken on IPv4: %v", port, err)
	}
	name := net.JoinHostPort("dual.test.", strconv.Itoa(port))
	acceptAndClose(ln6)
	acceptAndClose(ln4)

	addrs, err := resolveDialWith(t.Context(), res, "tcp", name)
	if err != nil || len(addrs) != 2 || addrs[0].(*net.TCPAddr).IP.To4() != nil {
		t.Fatalf("resolved %v, %v; want [::1 127.0.0.1]", addrs, err)
	}

	dial := func(d Dialer) (net.Addr, error) {
		t.Helper()
		d.Resolver = res
		c, err := d.Dial("tcp", name)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.RemoteAddr(), nil
	}
	is4 := func(a net.Addr) bool { return a != nil && a.(*net.TCPAddr).IP.To4() != nil }

	// Both listen: the primary family (IPv6) wins.
	if ra, err := dial(Dialer{}); err != nil || is4(ra) {
		t.Fatalf("both listening: reached %v, %v; want ::1", ra, err)
	}
	// Only IPv4 listens: ::1 refuses, and the fallback starts at once
	// (within the test's timeout, far below a long FallbackDelay).
	ln6.Close()
	if ra, err := dial(Dialer{FallbackDelay: time.Hour, Timeout: time.Minute}); err != nil || !is4(ra) {
		t.Fatalf("IPv4 only: reached %v, %v; want 127.0.0.1", ra, err)
	}
	// Without the race the addresses are tried in turn: the same.
	if ra, err := dial(Dialer{FallbackDelay: -1}); err != nil || !is4(ra) {
		t.Fatalf("IPv4 only, no race: reached %v, %v; want 127.0.0.1", ra, err)
	}
	// Only IPv6 listens.
	ln4.Close()
	ln6b, err := Listen("tcp6", net.JoinHostPort("::1", strconv.Itoa(port)))
	if err != nil {
		t.Skipf("port %d taken again on IPv6: %v", port, err)
	}
	defer ln6b.Close()
	acceptAndClose(ln6b)
	if ra, err := dial(Dialer{}); err != nil || is4(ra) {
		t.Fatalf("IPv6 only: reached %v, %v; want ::1", ra, err)
	}
	// Neither: the error is the primary's (::1), as net's.
	ln6b.Close()
	_, err = dial(Dialer{})
	var oe *net.OpError
	if !errors.As(err, &oe) || !errors.Is(err, unix.ECONNREFUSED) || is4(oe.Addr) {
		t.Fatalf("none listening: %v; want ::1's connection refused", err)
	}

	// ::1 drops SYNs, 127.0.0.1 listens: after FallbackDelay the IPv4
	// racer connects and the IPv6 connect is cancelled.
	if !blackhole(t, unix.AF_INET6, &unix.SockaddrInet6{Port: port, Addr: netip.IPv6Loopback().As16()}) {
		t.Skip("the kernel kept accepting into a backlog-0 queue")
	}
	ln4b, err := Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Skipf("port %d taken on IPv4: %v", port, err)
	}
	defer ln4b.Close()
	acceptAndClose(ln4b)
	if ra, err := dial(Dialer{FallbackDelay: 50 * time.Millisecond, Timeout: 20 * time.Second}); err != nil || !is4(ra) {
		t.Fatalf("IPv6 blackholed: reached %v, %v; want 127.0.0.1", ra, err)
	}
	// Without the race the dial waits on ::1 until its timeout.
	if ra, err := dial(Dialer{FallbackDelay: -1, Timeout: 300 * time.Millisecond}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("IPv6 blackholed, no race: reached %v, %v; want a timeout", ra, err)
	}
}

// acceptAndClose accepts and closes connections until ln is closed.
func acceptAndClose(ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}
