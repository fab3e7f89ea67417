package uringnet

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// mptcpSetting is one way to leave or set a Dialer's or ListenConfig's
// MPTCP choice, applied alike to ours and net's.
type mptcpSetting struct {
	name string
	set  func(interface{ SetMultipathTCP(bool) })
}

var mptcpSettings = []mptcpSetting{
	{"default", func(interface{ SetMultipathTCP(bool) }) {}},
	{"on", func(x interface{ SetMultipathTCP(bool) }) { x.SetMultipathTCP(true) }},
	{"off", func(x interface{ SetMultipathTCP(bool) }) { x.SetMultipathTCP(false) }},
}

// TestMultipathTCPGODEBUG checks that the Dialer's and ListenConfig's
// MultipathTCP answer as net's do, left alone and set, under each
// GODEBUG=multipathtcp value (net reads it at each call, so a change to
// the environment reaches both).
func TestMultipathTCPGODEBUG(t *testing.T) {
	for _, godebug := range []string{
		"", "multipathtcp=0", "multipathtcp=1", "multipathtcp=2", "multipathtcp=3",
		"multipathtcp=9", "http2client=0,multipathtcp=3", "multipathtcp=0,multipathtcp=1",
	} {
		t.Setenv("GODEBUG", godebug)
		for _, s := range mptcpSettings {
			var d Dialer
			var nd net.Dialer
			s.set(&d)
			s.set(&nd)
			if got, want := d.MultipathTCP(), nd.MultipathTCP(); got != want {
				t.Errorf("GODEBUG=%q, Dialer %s: MultipathTCP %v, net's %v", godebug, s.name, got, want)
			}
			var lc ListenConfig
			var nlc net.ListenConfig
			s.set(&lc)
			s.set(&nlc)
			if got, want := lc.MultipathTCP(), nlc.MultipathTCP(); got != want {
				t.Errorf("GODEBUG=%q, ListenConfig %s: MultipathTCP %v, net's %v", godebug, s.name, got, want)
			}
		}
	}
}

// TestMultipathTCPConformance checks listeners and dials against net's
// for every pairing of the two settings: the sockets' protocol and each
// end's MultipathTCP must be net's. Where the kernel has MPTCP (the
// net.mptcp.enabled sysctl is 1) net's listeners use it by default, and
// so must ours; where it has not, both fall back to plain TCP (see
// TestMultipathTCPRefused for that case on a kernel that has it).
func TestMultipathTCPConformance(t *testing.T) {
	testutil.CheckFDs(t)
	used := mptcpConformance(t)
	t.Logf("MPTCP in use by net's connections: %v", used)
}

// mptcpConformance is TestMultipathTCPConformance's body; it reports
// whether any of net's connections used MPTCP.
func mptcpConformance(t *testing.T) (used bool) {
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
	} {
		for _, ls := range mptcpSettings {
			var lc ListenConfig
			var nlc net.ListenConfig
			ls.set(&lc)
			ls.set(&nlc)
			nl, err := nlc.Listen(t.Context(), tc.network, tc.addr)
			if err != nil && tc.network == "tcp6" {
				t.Logf("no IPv6: %v", err)
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nl.Close() })
			l, err := lc.Listen(t.Context(), tc.network, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			if got, want := sockProto(t, l.(*Listener)), sockProto(t, nl.(*net.TCPListener)); got != want {
				t.Errorf("%s listener %s: protocol %d, net's %d", tc.network, ls.name, got, want)
			}
			for _, ds := range mptcpSettings {
				var d Dialer
				var nd net.Dialer
				ds.set(&d)
				ds.set(&nd)
				name := tc.network + " listener " + ls.name + ", dialer " + ds.name
				c, s := dialAccept(t, l, func() (net.Conn, error) { return d.Dial(tc.network, l.Addr().String()) })
				nc, ns := dialAccept(t, nl, func() (net.Conn, error) { return nd.Dial(tc.network, nl.Addr().String()) })
				for _, end := range []struct {
					side         string
					ours, theirs net.Conn
				}{{"client", c, nc}, {"server", s, ns}} {
					got, err := end.ours.(*Conn).MultipathTCP()
					want, nerr := end.theirs.(*net.TCPConn).MultipathTCP()
					if got != want || err != nil || nerr != nil {
						t.Errorf("%s, %s: MultipathTCP %v, %v; net's %v, %v", name, end.side, got, err, want, nerr)
					}
					used = used || want
					if got, want := sockProto(t, end.ours.(*Conn)), sockProto(t, end.theirs.(*net.TCPConn)); got != want {
						t.Errorf("%s, %s: protocol %d, net's %d", name, end.side, got, want)
					}
				}
				exchangeByte(t, name, c, s)
				for _, x := range []net.Conn{c, s, nc, ns} {
					x.Close()
				}
			}
			l.Close()
			nl.Close()
		}
	}

	// The typed calls: ListenTCP listens as a zero ListenConfig does,
	// DialTCP dials as a zero Dialer does, and the Dialer's DialTCP as
	// it is set.
	l, err := ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	nl, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	if got, want := sockProto(t, l), sockProto(t, nl); got != want {
		t.Errorf("ListenTCP: protocol %d, net's %d", got, want)
	}
	raddr := l.Addr().(*net.TCPAddr)
	nraddr := nl.Addr().(*net.TCPAddr)
	var d Dialer
	var nd net.Dialer
	d.SetMultipathTCP(true)
	nd.SetMultipathTCP(true)
	for _, dial := range []struct {
		name         string
		ours, theirs func() (net.Conn, error)
	}{
		{"DialTCP", func() (net.Conn, error) { return DialTCP("tcp4", nil, raddr) },
			func() (net.Conn, error) { return net.DialTCP("tcp4", nil, nraddr) }},
		{"Dialer.DialTCP", func() (net.Conn, error) {
			return d.DialTCP(t.Context(), "tcp4", netip.AddrPort{}, raddr.AddrPort())
		}, func() (net.Conn, error) {
			return nd.DialTCP(t.Context(), "tcp4", netip.AddrPort{}, nraddr.AddrPort())
		}},
	} {
		c, s := dialAccept(t, l, dial.ours)
		nc, ns := dialAccept(t, nl, dial.theirs)
		got, err := c.(*Conn).MultipathTCP()
		want, nerr := nc.(*net.TCPConn).MultipathTCP()
		if got != want || err != nil || nerr != nil {
			t.Errorf("%s: MultipathTCP %v, %v; net's %v, %v", dial.name, got, err, want, nerr)
		}
		for _, x := range []net.Conn{c, s, nc, ns} {
			x.Close()
		}
	}
	return used
}

// TestMultipathTCPTransfer moves data both ways over an MPTCP
// connection made by this package, through Write and Read and through
// ReadFrom a file and WriteTo (the splice paths), and checks every byte.
func TestMultipathTCPTransfer(t *testing.T) {
	testutil.CheckFDs(t)
	var lc ListenConfig
	lc.SetMultipathTCP(true)
	l := listenLocal(t, "tcp4", lc)
	var d Dialer
	d.SetMultipathTCP(true)
	c, s := dialAccept(t, l, func() (net.Conn, error) { return d.Dial("tcp4", l.Addr().String()) })
	defer c.Close()
	defer s.Close()
	for _, x := range []net.Conn{c, s} {
		if mp, err := x.(*Conn).MultipathTCP(); !mp || err != nil {
			t.Skipf("the kernel did not make an MPTCP connection (MultipathTCP %v, %v): net.mptcp.enabled is 0 or MPTCP is missing", mp, err)
		}
	}

	data := make([]byte, 1<<20)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Client to server: ReadFrom a file, then WriteTo a pipe.
	errc := make(chan error, 1)
	go func() {
		_, err := c.(*Conn).ReadFrom(f)
		if err == nil {
			err = c.(*Conn).CloseWrite()
		}
		errc <- err
	}()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(pr)
		got <- b
	}()
	_, err = s.(*Conn).WriteTo(pw)
	pw.Close()
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("ReadFrom: %v", err)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("client to server: %d bytes arrived, not the %d sent", len(b), len(data))
	}
	// Server to client: plain Write and Read.
	go func() {
		_, err := s.Write(data)
		errc <- err
	}()
	back := make([]byte, len(data))
	if _, err := io.ReadFull(c, back); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !bytes.Equal(back, data) {
		t.Fatal("server to client: the bytes differ")
	}
}

// mptcpNetnsEnv marks the child of TestMultipathTCPRefused, which runs
// in a network namespace of its own.
const mptcpNetnsEnv = "URINGNET_MPTCP_NETNS"

// TestMultipathTCPRefused runs the conformance checks where the kernel
// has MPTCP but refuses it: in a network namespace with the
// net.mptcp.enabled sysctl at 0, where an MPTCP socket fails with
// ENOPROTOOPT. Listeners and dials must then fall back to plain TCP,
// as net's do. The test binary runs itself in a new network namespace
// to do it.
func TestMultipathTCPRefused(t *testing.T) {
	if os.Getenv(mptcpNetnsEnv) == "" {
		runInNetns(t)
		return
	}
	if err := os.WriteFile("/proc/sys/net/mptcp/enabled", []byte("0"), 0); err != nil {
		t.Skipf("cannot turn MPTCP off in the namespace: %v", err)
	}
	if err := loopbackUp(); err != nil {
		t.Fatalf("bringing lo up: %v", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_MPTCP)
	if err == nil {
		unix.Close(fd)
		t.Fatal("an MPTCP socket was made with net.mptcp.enabled at 0")
	}
	t.Logf("an MPTCP socket fails with %v", err)
	testutil.CheckFDs(t)
	if mptcpConformance(t) {
		t.Error("net made an MPTCP connection with net.mptcp.enabled at 0")
	}
}

// runInNetns runs TestMultipathTCPRefused in a child of the test binary
// in a new network namespace, or skips where none can be made.
func runInNetns(t *testing.T) {
	if _, err := os.Stat("/proc/sys/net/mptcp/enabled"); err != nil {
		t.Skipf("the kernel has no MPTCP sysctl: %v", err)
	}
	run := func(attr *syscall.SysProcAttr) ([]byte, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMultipathTCPRefused$", "-test.v", "-test.timeout=2m")
		cmd.Env = append(os.Environ(), mptcpNetnsEnv+"=1")
		cmd.SysProcAttr = attr
		return cmd.CombinedOutput()
	}
	out, err := run(&syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET})
	if errors.Is(err, syscall.EPERM) {
		// Not root: a user namespace gives the rights over a network
		// namespace of its own.
		out, err = run(&syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		})
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Skipf("cannot run in a new network namespace: %v", err)
	}
	t.Logf("child in a new network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skip("the child skipped")
	}
}

// loopbackUp brings up lo, which a new network namespace has down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return err
	}
	// ::1 comes with lo, once IPv6 has finished setting it up.
	for range 100 {
		if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
			ln.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// sockProto is the protocol of the socket (SO_PROTOCOL): IPPROTO_TCP or
// IPPROTO_MPTCP.
func sockProto(t *testing.T, sc syscall.Conn) int {
	t.Helper()
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var proto int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		proto, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return proto
}

// dialAccept dials with dial and accepts from ln, ours or net's.
func dialAccept(t *testing.T, ln net.Listener, dial func() (net.Conn, error)) (client, server net.Conn) {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	c, err := dial()
	if err != nil {
		ln.Close()
		<-ch
		t.Fatalf("dial: %v", err)
	}
	r := <-ch
	if r.err != nil {
		c.Close()
		t.Fatalf("accept: %v", r.err)
	}
	t.Cleanup(func() { c.Close(); r.c.Close() })
	return c, r.c
}

// exchangeByte checks that a byte goes each way between the ends.
func exchangeByte(t *testing.T, name string, c, s net.Conn) {
	t.Helper()
	b := []byte{1}
	if _, err := c.Write(b); err != nil {
		t.Fatalf("%s: write: %v", name, err)
	}
	if _, err := io.ReadFull(s, b); err != nil {
		t.Fatalf("%s: read: %v", name, err)
	}
	if _, err := s.Write(b); err != nil {
		t.Fatalf("%s: write back: %v", name, err)
	}
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("%s: read back: %v", name, err)
	}
}
