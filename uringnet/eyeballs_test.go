package uringnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	both := []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}
	return testResolver(t, func(string) []netip.Addr { return both })
}

// testResolver starts a DNS server on loopback UDP that answers a name
// with the addresses answer gives for it (A records for the IPv4 ones,
// AAAA for the IPv6 ones, in answer's order), and returns a resolver that
// asks only it. The resolver still sorts them (RFC 6724) before a dial
// sees them.
func testResolver(t *testing.T, answer func(name string) []netip.Addr) *net.Resolver {
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
			for _, a := range answer(q.Name.String()) {
				switch {
				case q.Type == dnsmessage.TypeA && a.Is4():
					b.AResource(rh, dnsmessage.AResource{A: a.As4()})
				case q.Type == dnsmessage.TypeAAAA && a.Is6():
					b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
				}
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
	testutil.CheckFDs(t)
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

// blackholeNetnsEnv, set in the environment of a child test process,
// holds the parent's network namespace (as /proc/self/ns/net reads): the
// child, which must be in another one, then builds the test network of
// inBlackholeNetns there.
const blackholeNetnsEnv = "URINGNET_TEST_BLACKHOLE_NETNS"

// Addresses of the test network inBlackholeNetns builds.
var (
	// nsBlackhole4, nsBlackhole4b and nsBlackhole6 are routed to an ifb
	// device, which drops what it is given: a SYN to them goes
	// unanswered and a connect waits until it is given up.
	nsBlackhole4  = netip.MustParseAddr("192.0.2.1")
	nsBlackhole4b = netip.MustParseAddr("192.0.2.2")
	nsBlackhole6  = netip.MustParseAddr("2001:db8:0:1::1")
	// nsLocal4 and nsLocal6 are on the loopback device, for listeners.
	nsLocal4 = netip.MustParseAddr("198.51.100.1")
	nsLocal6 = netip.MustParseAddr("2001:db8:0:2::1")
	// nsRefused4 is on the loopback device too, where nothing listens:
	// a connect to it is refused at once.
	nsRefused4 = netip.MustParseAddr("198.51.100.2")
)

// blackholeNetnsSetup is what ip(8) runs in the child's fresh network
// namespace. The blackholed addresses get a device route with a source
// address of their own, so that connects to them leave without error
// and the resolver's RFC 6724 sort sees them as usable as the local
// ones: both are global scope, which keeps the answer's order.
var blackholeNetnsSetup = [][]string{
	{"link", "set", "lo", "up"},
	{"link", "add", "bh0", "type", "ifb"},
	{"link", "set", "bh0", "up"},
	{"addr", "add", "192.0.2.254/24", "dev", "bh0"},
	{"addr", "add", "2001:db8:0:1::fe/64", "dev", "bh0", "nodad"},
	{"addr", "add", nsLocal4.String() + "/32", "dev", "lo"},
	{"addr", "add", nsRefused4.String() + "/32", "dev", "lo"},
	{"addr", "add", nsLocal6.String() + "/128", "dev", "lo", "nodad"},
}

// inBlackholeNetns runs the calling test in a child process of its own
// network namespace, where the addresses above exist, and reports
// whether this is that child: the test body runs only there, and the
// parent reports the child's verdict. Everything the child sets up
// vanishes with its namespace when it exits; the host's network is never
// touched.
func inBlackholeNetns(t *testing.T) bool {
	t.Helper()
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Skipf("network namespaces: %v", err)
	}
	if parent := os.Getenv(blackholeNetnsEnv); parent != "" {
		if parent == self {
			t.Fatalf("%s is set but this process is in its parent's network namespace %s: refusing to change it", blackholeNetnsEnv, self)
		}
		setupBlackholeNetns(t)
		return true
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8) (iproute2) to build the test network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+testutil.RunPattern(t.Name()), "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), blackholeNetnsEnv+"="+self)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a process in a new network namespace (needs CAP_SYS_ADMIN): %v", err)
	}
	err = cmd.Wait()
	switch {
	case err != nil:
		t.Fatalf("in a network namespace: %v\n%s", err, out.String())
	case strings.Contains(out.String(), "--- SKIP: "+t.Name()+" "):
		t.Skipf("in a network namespace:\n%s", out.String())
	case !strings.Contains(out.String(), "--- PASS: "+t.Name()+" "):
		t.Fatalf("in a network namespace: the test did not run\n%s", out.String())
	}
	t.Logf("in a network namespace:\n%s", out.String())
	return false
}

// setupBlackholeNetns builds the test network in the child's namespace.
// A kernel without the ifb device skips the test; any other failure
// fails it.
func setupBlackholeNetns(t *testing.T) {
	t.Helper()
	for _, args := range blackholeNetnsSetup {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			if slices.Contains(args, "ifb") {
				t.Skipf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
}
