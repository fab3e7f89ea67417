package uringnet

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// bufferConn is what SetReadBuffer and SetWriteBuffer are on, in both
// packages.
type bufferConn interface {
	net.Conn
	syscall.Conn
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
}

// sockoptInt reads an int socket option through c's RawConn.
func sockoptInt(t *testing.T, c syscall.Conn, level, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil || gerr != nil {
		t.Fatalf("getsockopt: %v %v", err, gerr)
	}
	return v
}

// TestBufferSizes checks SetReadBuffer and SetWriteBuffer on every kind
// of connection against net's: the sizes read back with getsockopt, and
// the errors (with the deadline setters') once closed.
func TestBufferSizes(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	kinds := []struct {
		name string
		// open returns a connection of ours and one of net's.
		open func(t *testing.T) (bufferConn, bufferConn)
	}{
		{"tcp", func(t *testing.T) (bufferConn, bufferConn) {
			c, _ := pair(t, listenLocal(t, "tcp", ListenConfig{}))
			nl, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nl.Close() })
			nc, _ := netPair(t, nl)
			return c, nc.(*net.TCPConn)
		}},
		{"unix", func(t *testing.T) (bufferConn, bufferConn) {
			c, _ := pair(t, listenLocal(t, "unix", ListenConfig{}))
			nl, err := net.Listen("unix", filepath.Join(t.TempDir(), "n"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nl.Close() })
			nc, _ := netPair(t, nl)
			return c, nc.(*net.UnixConn)
		}},
		{"udp", func(t *testing.T) (bufferConn, bufferConn) {
			c := listenPacketLocal(t, "udp4", "127.0.0.1:0")
			nc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			return c, nc
		}},
		{"unixgram", func(t *testing.T) (bufferConn, bufferConn) {
			c := listenPacketLocal(t, "unixgram", filepath.Join(dir, "g"))
			nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "ng"), Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			return c, nc
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			c, nc := k.open(t)
			for _, size := range []int{0, 1, 4096, 100000, 1 << 30, -1} {
				sameErr(t, "SetReadBuffer", c.SetReadBuffer(size), nc.SetReadBuffer(size))
				sameErr(t, "SetWriteBuffer", c.SetWriteBuffer(size), nc.SetWriteBuffer(size))
				for _, opt := range []int{unix.SO_RCVBUF, unix.SO_SNDBUF} {
					if got, want := sockoptInt(t, c, unix.SOL_SOCKET, opt), sockoptInt(t, nc, unix.SOL_SOCKET, opt); got != want {
						t.Errorf("size %d: option %d is %d; net's %d", size, opt, got, want)
					}
				}
			}
			c.Close()
			nc.Close()
			// Different sockets: the same error with each one's own
			// addresses.
			ours := []net.Addr{c.LocalAddr(), c.RemoteAddr()}
			nets := []net.Addr{nc.LocalAddr(), nc.RemoteAddr()}
			same := func(what string, got, want error) {
				t.Helper()
				sameErrLike(t, what, got, want, ours, nets)
			}
			same("SetReadBuffer after Close", c.SetReadBuffer(4096), nc.SetReadBuffer(4096))
			same("SetWriteBuffer after Close", c.SetWriteBuffer(4096), nc.SetWriteBuffer(4096))
			now := time.Now()
			same("SetDeadline after Close", c.SetDeadline(now), nc.SetDeadline(now))
			same("SetReadDeadline after Close", c.SetReadDeadline(now), nc.SetReadDeadline(now))
			same("SetWriteDeadline after Close", c.SetWriteDeadline(now), nc.SetWriteDeadline(now))
			rc, _ := c.SyscallConn()
			nrc, _ := nc.SyscallConn()
			same("RawConn.Control after Close", rc.Control(func(uintptr) {}), nrc.Control(func(uintptr) {}))
		})
	}
}

// TestListenerSyscallConn checks Listener.SyscallConn against net's
// listeners': Control reaches the listening socket, Read and Write are
// refused alike, and the errors after Close are net's.
func TestListenerSyscallConn(t *testing.T) {
	testutil.CheckFDs(t)
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			ln := listenLocal(t, network, ListenConfig{})
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = filepath.Join(t.TempDir(), "n")
			}
			nl, err := net.Listen(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nl.Close()
			rc, err := ln.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			nrc, err := nl.(syscall.Conn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []syscall.Conn{ln, nl.(syscall.Conn)} {
				if v := sockoptInt(t, c, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); v != 1 {
					t.Errorf("%T: SO_ACCEPTCONN %d through Control", c, v)
				}
			}
			called := false
			sameErr(t, "Read", rc.Read(func(uintptr) bool { called = true; return true }), nrc.Read(func(uintptr) bool { return true }))
			sameErr(t, "Write", rc.Write(func(uintptr) bool { called = true; return true }), nrc.Write(func(uintptr) bool { return true }))
			if called {
				t.Error("Read or Write called f")
			}
			ln.Close()
			nl.Close()
			sameErrLike(t, "Control after Close", rc.Control(func(uintptr) {}), nrc.Control(func(uintptr) {}),
				[]net.Addr{ln.Addr()}, []net.Addr{nl.Addr()})
			_, err = ln.File()
			_, nerr := nl.(interface{ File() (*os.File, error) }).File()
			sameErrLike(t, "File after Close", err, nerr, []net.Addr{ln.Addr()}, []net.Addr{nl.Addr()})
		})
	}
}

// TestMultipathTCP checks Conn.MultipathTCP against net's for plain TCP
// connections, and for MPTCP ones made by net and adopted with FileConn
// (the same socket, so the same answer), where the kernel has MPTCP.
func TestMultipathTCP(t *testing.T) {
	testutil.CheckFDs(t)
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	c, err := Dial("tcp", nl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nc, _ := netPair(t, nl)
	got, err := c.(*Conn).MultipathTCP()
	want, nerr := nc.(*net.TCPConn).MultipathTCP()
	if got != want || err != nil || nerr != nil {
		t.Errorf("plain TCP: MultipathTCP %v, %v; net's %v, %v", got, err, want, nerr)
	}
	s, err := nl.Accept() // ours, accepted by net
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	for _, mptcpServer := range []bool{true, false} {
		var lc net.ListenConfig
		lc.SetMultipathTCP(mptcpServer)
		ml, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ml.Close()
		var d net.Dialer
		d.SetMultipathTCP(true)
		mc, err := d.Dial("tcp", ml.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer mc.Close()
		ms, err := ml.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer ms.Close()
		for _, nc := range []*net.TCPConn{mc.(*net.TCPConn), ms.(*net.TCPConn)} {
			f := fileOf(t, nc)
			c, err := FileConn(f)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := c.(*Conn).MultipathTCP()
			want, nerr := nc.MultipathTCP()
			t.Logf("MPTCP server %v, %v: net's MultipathTCP %v", mptcpServer, nc.LocalAddr(), want)
			if got != want || err != nil || nerr != nil {
				t.Errorf("MPTCP server %v, %v: MultipathTCP %v, %v; net's %v, %v", mptcpServer, nc.LocalAddr(), got, err, want, nerr)
			}
		}
	}
	if got, err := c.(*Conn).MultipathTCP(); got || err != nil {
		t.Errorf("MultipathTCP of a plain TCP conn: %v, %v", got, err)
	}
}

// TestControlContext checks Dialer.ControlContext against net's: the
// same network and address, the dial's context with its values, Control
// ignored, and a failure reported as net reports it.
func TestControlContext(t *testing.T) {
	testutil.CheckFDs(t)
	type key struct{}
	ln := listenLocal(t, "tcp", ListenConfig{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ul := listenLocal(t, "unix", ListenConfig{})
	go func() {
		for {
			c, err := ul.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	gram := listenPacketLocal(t, "unixgram", filepath.Join(t.TempDir(), "g"))
	type call struct {
		network, address string
		value            any
		hasDeadline      bool
		control          bool
	}
	errControl := errors.New("refused by ControlContext")
	for _, tc := range []struct{ network, address string }{
		{"tcp", ln.Addr().String()},
		{"tcp4", ln.Addr().String()},
		{"udp", "127.0.0.1:9"},
		{"unix", ul.Addr().String()},
		{"unixgram", gram.LocalAddr().String()},
	} {
		t.Run(tc.network, func(t *testing.T) {
			for _, fail := range []bool{false, true} {
				var ours, nets []call
				record := func(calls *[]call) func(context.Context, string, string, syscall.RawConn) error {
					return func(ctx context.Context, network, address string, c syscall.RawConn) error {
						_, dl := ctx.Deadline()
						*calls = append(*calls, call{network, address, ctx.Value(key{}), dl, false})
						if fail {
							return errControl
						}
						return nil
					}
				}
				control := func(calls *[]call) func(string, string, syscall.RawConn) error {
					return func(network, address string, c syscall.RawConn) error {
						*calls = append(*calls, call{control: true})
						return nil
					}
				}
				ctx := context.WithValue(t.Context(), key{}, "value")
				d := Dialer{Timeout: time.Minute, ControlContext: record(&ours), Control: control(&ours)}
				nd := net.Dialer{Timeout: time.Minute, ControlContext: record(&nets), Control: control(&nets)}
				c, err := d.DialContext(ctx, tc.network, tc.address)
				nc, nerr := nd.DialContext(ctx, tc.network, tc.address)
				if err == nil {
					c.Close()
				}
				if nerr == nil {
					nc.Close()
				}
				sameErr(t, "DialContext", err, nerr)
				if fail && !errors.Is(err, errControl) {
					t.Errorf("DialContext with a failing ControlContext: %v", err)
				}
				if len(ours) != 1 || len(nets) != 1 || ours[0] != nets[0] {
					t.Errorf("fail %v: calls %+v; net's %+v", fail, ours, nets)
				}
			}
		})
	}
}

// TestTCPSettersLikeNet checks the TCP connection's own settings
// against net.TCPConn's: SetLinger, SetNoDelay, SetKeepAlive,
// SetKeepAlivePeriod and SetKeepAliveConfig read back with getsockopt,
// and their errors once closed (which name both addresses, unlike the
// deadline and buffer settings).
func TestTCPSettersLikeNet(t *testing.T) {
	testutil.CheckFDs(t)
	c, _ := pair(t, listenLocal(t, "tcp", ListenConfig{}))
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	ncc, _ := netPair(t, nl)
	nc := ncc.(*net.TCPConn)
	ours := []net.Addr{c.LocalAddr(), c.RemoteAddr()}
	nets := []net.Addr{nc.LocalAddr(), nc.RemoteAddr()}
	sameErr := func(t *testing.T, what string, got, want error) {
		t.Helper()
		sameErrLike(t, what, got, want, ours, nets)
	}
	linger := func(c syscall.Conn) (l unix.Linger) {
		rc, _ := c.SyscallConn()
		rc.Control(func(fd uintptr) {
			p, err := unix.GetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER)
			if err != nil {
				t.Errorf("getsockopt SO_LINGER: %v", err)
				return
			}
			l = *p
		})
		return l
	}
	for _, sec := range []int{-1, 0, 1, 30, -5} {
		sameErr(t, "SetLinger", c.SetLinger(sec), nc.SetLinger(sec))
		if got, want := linger(c), linger(nc); got != want {
			t.Errorf("SetLinger(%d): %+v; net's %+v", sec, got, want)
		}
	}
	for _, on := range []bool{false, true} {
		sameErr(t, "SetNoDelay", c.SetNoDelay(on), nc.SetNoDelay(on))
		if got, want := sockoptInt(t, c, unix.IPPROTO_TCP, unix.TCP_NODELAY), sockoptInt(t, nc, unix.IPPROTO_TCP, unix.TCP_NODELAY); got != want {
			t.Errorf("SetNoDelay(%v): %d; net's %d", on, got, want)
		}
		sameErr(t, "SetKeepAlive", c.SetKeepAlive(on), nc.SetKeepAlive(on))
		if got, want := readKeepAlive(t, c), readKeepAlive(t, nc); got != want {
			t.Errorf("SetKeepAlive(%v): %+v; net's %+v", on, got, want)
		}
	}
	for _, d := range []time.Duration{time.Second, 90 * time.Second, 1500 * time.Millisecond, 0, -1, 40000 * time.Hour} {
		sameErr(t, "SetKeepAlivePeriod", c.SetKeepAlivePeriod(d), nc.SetKeepAlivePeriod(d))
		if got, want := readKeepAlive(t, c), readKeepAlive(t, nc); got != want {
			t.Errorf("SetKeepAlivePeriod(%v): %+v; net's %+v", d, got, want)
		}
	}
	c.Close()
	nc.Close()
	for _, tc := range []struct {
		name      string
		got, want error
	}{
		{"SetLinger", c.SetLinger(1), nc.SetLinger(1)},
		{"SetNoDelay", c.SetNoDelay(true), nc.SetNoDelay(true)},
		{"SetKeepAlive", c.SetKeepAlive(true), nc.SetKeepAlive(true)},
		{"SetKeepAlivePeriod", c.SetKeepAlivePeriod(time.Second), nc.SetKeepAlivePeriod(time.Second)},
		{"SetKeepAliveConfig", c.SetKeepAliveConfig(KeepAliveConfig{Enable: true}), nc.SetKeepAliveConfig(KeepAliveConfig{Enable: true})},
	} {
		sameErr(t, tc.name+" after Close", tc.got, tc.want)
	}
}
