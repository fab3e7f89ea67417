package uringnet

import (
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

// fileOf returns a copy of c's socket as a file, through package net's
// File method, as a parent process or systemd hands one over.
func fileOf(t *testing.T, c interface{ File() (*os.File, error) }) *os.File {
	t.Helper()
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestFileListener adopts listening sockets made by package net, with
// FileListener and net.FileListener from the same file: same address,
// the adopted listener accepts on io_uring, closing it leaves the file's
// socket (and a Unix socket's path) alone, and the errors are net's.
func TestFileListener(t *testing.T) {
	testutil.CheckFDs(t)
	for _, network := range []string{"tcp", "tcp4", "tcp6", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := map[string]string{"tcp": "127.0.0.1:0", "tcp4": "127.0.0.1:0", "tcp6": "[::1]:0", "unix": filepath.Join(t.TempDir(), "s")}[network]
			orig, err := net.Listen(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer orig.Close()
			f := fileOf(t, orig.(interface{ File() (*os.File, error) }))
			ln, err := FileListener(f)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			nl, err := net.FileListener(f)
			if err != nil {
				t.Fatal(err)
			}
			defer nl.Close()
			if _, ok := ln.(*Listener); !ok {
				t.Fatalf("FileListener gave a %T", ln)
			}
			if got, want := addrKey(ln.Addr()), addrKey(nl.Addr()); got != want {
				t.Errorf("Addr %s; net's %s", got, want)
			}
			// The file is the caller's: closing it leaves ours working.
			f.Close()
			c, err := net.Dial(orig.Addr().Network(), orig.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := ln.(*Listener).AcceptUring()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			exchange(t, "through the adopted listener", c, s)

			// Closing the adopted listener leaves the others listening,
			// and a Unix socket's file in place, as net's does.
			ln.Close()
			if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Accept after Close: %v", err)
			}
			if network == "unix" {
				if _, err := os.Stat(addr); err != nil {
					t.Errorf("socket file after the adopted listener's Close: %v", err)
				}
			}
			// Accepted conns are configured as net's adopted listener's.
			nc, err := net.Dial(orig.Addr().Network(), orig.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			ns, err := nl.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer ns.Close()
			for _, p := range []struct {
				what      string
				got, want net.Addr
			}{
				{"accepted LocalAddr", s.LocalAddr(), ns.LocalAddr()},
				{"accepted RemoteAddr", s.RemoteAddr(), ns.RemoteAddr()},
			} {
				if got, want := ipKey(p.got), ipKey(p.want); got != want {
					t.Errorf("%s %s; net's %s", p.what, got, want)
				}
			}
			if network != "unix" {
				if got, want := readKeepAlive(t, s), readKeepAlive(t, ns.(*net.TCPConn)); got != want {
					t.Errorf("accepted keep-alive %+v; net's %+v", got, want)
				}
			}
			nl.Close()
			c2, err := net.Dial(orig.Addr().Network(), orig.Addr().String())
			if err != nil {
				t.Fatalf("dial after the adopted listener's Close: %v", err)
			}
			defer c2.Close()
			s2, err := orig.Accept()
			if err != nil {
				t.Fatal(err)
			}
			s2.Close()
		})
	}
}

// TestFileErrors checks the errors of FileListener, FileConn and
// FilePacketConn against net's for files that cannot be adopted.
func TestFileErrors(t *testing.T) {
	testutil.CheckFDs(t)
	regular, err := os.Create(filepath.Join(t.TempDir(), "regular"))
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	closed, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	files := []struct {
		name string
		f    *os.File
	}{
		{"regular file", regular},
		{"closed file", closed},
		{"udp socket", fileOf(t, udp)},
		{"tcp listener", fileOf(t, tcp)},
	}
	closeIt := func(c interface{ Close() error }, err error) {
		if err == nil {
			c.Close()
		}
	}
	for _, tc := range files {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "udp socket" {
				ln, err := FileListener(tc.f)
				nl, nerr := net.FileListener(tc.f)
				closeIt(ln, err)
				closeIt(nl, nerr)
				sameErr(t, "FileListener", err, nerr)
			}
			if tc.name != "tcp listener" {
				pc, err := FilePacketConn(tc.f)
				npc, nerr := net.FilePacketConn(tc.f)
				closeIt(pc, err)
				closeIt(npc, nerr)
				sameErr(t, "FilePacketConn", err, nerr)
			}
			if tc.name != "udp socket" && tc.name != "tcp listener" {
				c, err := FileConn(tc.f)
				nc, nerr := net.FileConn(tc.f)
				closeIt(c, err)
				closeIt(nc, nerr)
				sameErr(t, "FileConn", err, nerr)
			}
		})
	}
	if _, err := FileListener(fileOf(t, udp)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("FileListener of a UDP socket: %v, want EINVAL", err)
	}
	if _, err := FilePacketConn(fileOf(t, tcp)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("FilePacketConn of a TCP listener: %v, want EINVAL", err)
	}

	// What this package has no type for: a unixpacket socket, which net
	// adopts.
	up, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "p"), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	var une net.UnknownNetworkError
	if _, err := FileListener(fileOf(t, up)); !errors.As(err, &une) || string(une) != "unixpacket" {
		t.Errorf("FileListener of a unixpacket socket: %v", err)
	}
}

// TestFileConn adopts connected sockets made by package net with
// FileConn and net.FileConn: the same type of connection, addresses and
// socket options, with data flowing through ours.
func TestFileConn(t *testing.T) {
	testutil.CheckFDs(t)
	t.Run("tcp", func(t *testing.T) {
		nl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer nl.Close()
		// One connection for each package, with net's defaults undone
		// first so that what adoption sets shows.
		adopt := func(fc func(*os.File) (net.Conn, error)) (adopted, peer net.Conn) {
			c, s := netPair(t, nl)
			tc := c.(*net.TCPConn)
			tc.SetNoDelay(false)
			tc.SetKeepAlive(false)
			f := fileOf(t, tc)
			a, err := fc(f)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			f.Close()
			tc.Close()
			return a, s
		}
		c, s := adopt(FileConn)
		nc, _ := adopt(net.FileConn)
		if _, ok := c.(*Conn); !ok {
			t.Fatalf("FileConn gave a %T", c)
		}
		if got, want := ipKey(c.LocalAddr()), ipKey(nc.LocalAddr()); got != want {
			t.Errorf("LocalAddr %s; net's %s", got, want)
		}
		if got, want := addrKey(c.RemoteAddr()), addrKey(nc.RemoteAddr()); got != want {
			t.Errorf("RemoteAddr %s; net's %s", got, want)
		}
		if got, want := readKeepAlive(t, c.(*Conn)), readKeepAlive(t, nc.(*net.TCPConn)); got != want {
			t.Errorf("keep-alive %+v; net's %+v", got, want)
		}
		nodelay := func(c syscall.Conn) (v int) {
			rc, _ := c.SyscallConn()
			rc.Control(func(fd uintptr) { v, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY) })
			return v
		}
		if got, want := nodelay(c.(*Conn)), nodelay(nc.(*net.TCPConn)); got != want || got == 0 {
			t.Errorf("TCP_NODELAY %d; net's %d", got, want)
		}
		exchange(t, "adopted TCP conn", c, s)
	})

	t.Run("unix", func(t *testing.T) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f0, f1 := os.NewFile(uintptr(fds[0]), "pair0"), os.NewFile(uintptr(fds[1]), "pair1")
		defer f0.Close()
		defer f1.Close()
		c, err := FileConn(f0)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		nc, err := net.FileConn(f0)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		peer, err := net.FileConn(f1)
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		if _, ok := c.(*Conn); !ok {
			t.Fatalf("FileConn gave a %T", c)
		}
		if got, want := addrKey(c.LocalAddr()), addrKey(nc.LocalAddr()); got != want {
			t.Errorf("LocalAddr %s; net's %s", got, want)
		}
		if got, want := addrKey(c.RemoteAddr()), addrKey(nc.RemoteAddr()); got != want {
			t.Errorf("RemoteAddr %s; net's %s", got, want)
		}
		nc.Close()
		exchange(t, "adopted socketpair", c, peer)
	})

	t.Run("named unix", func(t *testing.T) {
		ln := listenLocal(t, "unix", ListenConfig{})
		nc0, err := net.Dial("unix", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc0.Close()
		s, err := ln.AcceptUring()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// The accepted end, adopted: its local address is the path.
		f := fileOf(t, s)
		c, err := FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		nc, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if got, want := addrKey(c.LocalAddr()), addrKey(nc.LocalAddr()); got != want {
			t.Errorf("LocalAddr %s; net's %s", got, want)
		}
		if got, want := addrKey(c.RemoteAddr()), addrKey(nc.RemoteAddr()); got != want {
			t.Errorf("RemoteAddr %s; net's %s", got, want)
		}
		exchange(t, "adopted accepted unix conn", c, nc0)
	})
}

// TestFilePacketConn adopts datagram sockets made by package net with
// FilePacketConn and FileConn, and net's: same addresses, datagrams
// through ours.
func TestFilePacketConn(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		open func() (net.Conn, error)
	}{
		{"udp", func() (net.Conn, error) { return net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}) }},
		{"udp6", func() (net.Conn, error) { return net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback}) }},
		{"connected udp", func() (net.Conn, error) {
			return net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
		}},
		{"unixgram", func() (net.Conn, error) {
			return net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "g"), Net: "unixgram"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig, err := tc.open()
			if err != nil {
				t.Fatal(err)
			}
			defer orig.Close()
			f := fileOf(t, orig.(interface{ File() (*os.File, error) }))
			pc, err := FilePacketConn(f)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			npc, err := net.FilePacketConn(f)
			if err != nil {
				t.Fatal(err)
			}
			defer npc.Close()
			c, err := FileConn(f)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			nc, err := net.FileConn(f)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, ok := pc.(*PacketConn); !ok {
				t.Fatalf("FilePacketConn gave a %T", pc)
			}
			if _, ok := c.(*PacketConn); !ok {
				t.Fatalf("FileConn gave a %T", c)
			}
			for _, p := range []struct {
				what      string
				got, want net.Addr
			}{
				{"FilePacketConn LocalAddr", pc.LocalAddr(), npc.LocalAddr()},
				{"FileConn LocalAddr", c.LocalAddr(), nc.LocalAddr()},
				{"FileConn RemoteAddr", c.RemoteAddr(), nc.RemoteAddr()},
			} {
				if got, want := addrKey(p.got), addrKey(p.want); got != want {
					t.Errorf("%s %s; net's %s", p.what, got, want)
				}
			}
			if tc.name == "connected udp" {
				return
			}
			// A datagram to the socket, read through ours.
			var w net.Conn
			if tc.name == "unixgram" {
				w, err = net.DialUnix("unixgram", nil, orig.LocalAddr().(*net.UnixAddr))
			} else {
				w, err = net.DialUDP("udp", nil, orig.LocalAddr().(*net.UDPAddr))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := w.Write([]byte("adopted")); err != nil {
				t.Fatal(err)
			}
			pc.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 16)
			n, from, err := pc.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "adopted" {
				t.Fatalf("ReadFrom: %q %v", buf[:n], err)
			}
			if tc.name != "unixgram" {
				if got, want := addrKey(from), addrKey(w.LocalAddr()); got != want {
					t.Errorf("sender %s, want %s", got, want)
				}
				if _, err := pc.WriteTo([]byte("back"), from); err != nil {
					t.Fatal(err)
				}
				w.SetReadDeadline(time.Now().Add(10 * time.Second))
				if n, err := w.Read(buf); err != nil || string(buf[:n]) != "back" {
					t.Fatalf("answer: %q %v", buf[:n], err)
				}
			}
		})
	}

	// A Unix stream socket is not a packet conn here (net's is).
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f0 := os.NewFile(uintptr(fds[0]), "pair0")
	defer f0.Close()
	unix.Close(fds[1])
	if _, err := FilePacketConn(f0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("FilePacketConn of a Unix stream socket: %v, want EINVAL", err)
	}
}
