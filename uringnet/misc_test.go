package uringnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestReadFromFile(t *testing.T) {
	testutil.CheckFDs(t)
	data := make([]byte, 1<<20+123)
	for i := range data {
		data[i] = byte(i * 13)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		skip   int64 // file offset before the copy
		limit  int64 // -1: no LimitedReader
		wrap   bool  // hide *os.File behind an io.Reader
		source string
	}{
		{name: "file", limit: -1},
		{name: "offset", skip: 1000, limit: -1},
		{name: "limited", skip: 7, limit: 70000},
		{name: "limit-beyond-eof", limit: 5 << 20},
		{name: "generic", limit: -1, wrap: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln := listenLocal(t, "tcp", ListenConfig{})
			c, s := pair(t, ln)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.Seek(tc.skip, io.SeekStart)
			want := data[tc.skip:]
			var r io.Reader = f
			var lr *io.LimitedReader
			if tc.limit >= 0 {
				lr = &io.LimitedReader{R: f, N: tc.limit}
				r = lr
				want = want[:min(int64(len(want)), tc.limit)]
			}
			if tc.wrap {
				r = struct{ io.Reader }{r}
			}
			got := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(c); got <- b }()
			n, err := s.ReadFrom(r)
			if err != nil || n != int64(len(want)) {
				t.Fatalf("ReadFrom = %d, %v; want %d", n, err, len(want))
			}
			s.CloseWrite()
			if b := <-got; !bytes.Equal(b, want) {
				t.Fatalf("peer got %d bytes, want %d equal", len(b), len(want))
			}
			if off, _ := f.Seek(0, io.SeekCurrent); off != tc.skip+n {
				t.Errorf("file offset %d after the copy, want %d", off, tc.skip+n)
			}
			if lr != nil && lr.N != tc.limit-n {
				t.Errorf("LimitedReader.N = %d, want %d", lr.N, tc.limit-n)
			}
		})
	}
}

func TestSyscallConn(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listenLocal(t, "tcp", ListenConfig{})
	c, s := pair(t, ln)
	raw, err := s.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// Read with the callback protocol: the first call finds nothing
	// (EAGAIN), then the wait for readiness lets it see the data.
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.Write([]byte("raw"))
	}()
	var buf [8]byte
	var n, calls int
	err = raw.Read(func(fd uintptr) bool {
		calls++
		var rerr error
		n, rerr = unix.Read(int(fd), buf[:])
		return rerr != unix.EAGAIN
	})
	if err != nil || string(buf[:n]) != "raw" {
		t.Fatalf("RawConn.Read: %q, %v", buf[:n], err)
	}
	err = raw.Write(func(fd uintptr) bool {
		_, werr := unix.Write(int(fd), []byte("back"))
		return werr != unix.EAGAIN
	})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "back" {
		t.Fatalf("peer read %q, %v", b, err)
	}
	// A deadline stops a raw read that waits.
	s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	err = raw.Read(func(fd uintptr) bool {
		_, rerr := unix.Read(int(fd), buf[:])
		return rerr != unix.EAGAIN
	})
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("raw read past the deadline: %v", err)
	}
	s.Close()
	if err := raw.Control(func(uintptr) {}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Control after Close: %v", err)
	}
}

func TestSockopts(t *testing.T) {
	ln := listenLocal(t, "tcp", ListenConfig{})
	c, _ := pair(t, ln)
	for name, err := range map[string]error{
		"SetNoDelay":         c.SetNoDelay(false),
		"SetKeepAlive":       c.SetKeepAlive(true),
		"SetKeepAlivePeriod": c.SetKeepAlivePeriod(42 * time.Second),
		"SetLinger":          c.SetLinger(3),
		"SetReadBuffer":      c.SetReadBuffer(1 << 16),
		"SetWriteBuffer":     c.SetWriteBuffer(1 << 16),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	raw, _ := c.SyscallConn()
	raw.Control(func(fd uintptr) {
		if v, _ := unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY); v != 0 {
			t.Errorf("TCP_NODELAY = %d after SetNoDelay(false)", v)
		}
		if v, _ := unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); v != 42 {
			t.Errorf("TCP_KEEPIDLE = %d, want 42", v)
		}
		if l, _ := unix.GetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER); l.Onoff != 1 || l.Linger != 3 {
			t.Errorf("SO_LINGER = %+v", l)
		}
	})
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	c.Close()
	var oe *net.OpError
	if err := c.SetNoDelay(true); !errors.As(err, &oe) || !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetNoDelay after Close: %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	testutil.CheckFDs(t)
	// A port nobody listens on: take one and close it.
	ln := listenLocal(t, "tcp", ListenConfig{})
	addr := ln.Addr().String()
	ln.Close()
	_, err := Dial("tcp", addr)
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial to a closed port: %v, want a *net.OpError{Op: dial} matching ECONNREFUSED", err)
	}
	if _, err := Dial("sctp", addr); !errors.As(err, new(net.UnknownNetworkError)) {
		t.Errorf("Dial sctp: %v, want net.UnknownNetworkError", err)
	}
	if _, err := Listen("tcp", "127.0.0.1:notaport"); err == nil {
		t.Error("Listen on a bad port succeeded")
	}
	if _, err := Dial("unix", filepath.Join(t.TempDir(), "none")); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("Dial to a missing Unix socket: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DialContext(ctx, "tcp", addr); !errors.Is(err, context.Canceled) {
		t.Errorf("DialContext with a cancelled context: %v", err)
	}
	// The address is already in use.
	ln2 := listenLocal(t, "tcp", ListenConfig{})
	if _, err := Listen("tcp", ln2.Addr().String()); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second Listen on %v: %v", ln2.Addr(), err)
	}
}

// TestDialTimeout dials a loopback listener whose accept queue is full,
// so the kernel drops the SYN and the connect waits until the Dialer's
// timeout or the context's deadline cancels it.
func TestDialTimeout(t *testing.T) {
	testutil.CheckFDs(t)
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(lfd)
	addr := sockaddrToAddr(sa).String()
	// Fill the queue; connects that still succeed are kept until the
	// end.
	var filled []*Conn
	defer func() {
		for _, c := range filled {
			c.Close()
		}
	}()
	for i := 0; ; i++ {
		if i == 16 {
			t.Skip("the kernel kept accepting into a backlog-0 queue")
		}
		c, err := (&Dialer{Timeout: 200 * time.Millisecond}).Dial("tcp", addr)
		if err != nil {
			break
		}
		filled = append(filled, c.(*Conn))
	}
	check := func(what string, err error) {
		t.Helper()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v, want a timeout", what, err)
		}
	}
	_, err = (&Dialer{Timeout: 30 * time.Millisecond}).Dial("tcp", addr)
	check("Dialer.Timeout", err)
	_, err = (&Dialer{Deadline: time.Now().Add(30 * time.Millisecond)}).Dial("tcp", addr)
	check("Dialer.Deadline", err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = DialContext(ctx, "tcp", addr)
	check("context deadline", err)
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	if _, err := DialContext(ctx, "tcp", addr); !errors.Is(err, context.Canceled) {
		t.Errorf("DialContext cancelled while connecting: %v", err)
	}
}

func TestDialerLocalAddrAndHostname(t *testing.T) {
	ln := listenLocal(t, "tcp", ListenConfig{})
	port := ln.Addr().(*net.TCPAddr).Port
	d := Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, KeepAlive: -1}
	c, err := d.Dial("tcp", net.JoinHostPort("localhost", itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ip := c.LocalAddr().(*net.TCPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("LocalAddr %v", c.LocalAddr())
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func itoa(n int) string { return (&net.TCPAddr{Port: n}).String()[1:] }

func TestListenerDeadline(t *testing.T) {
	for _, mode := range acceptModes {
		ln := withAcceptMode(listenLocal(t, "tcp", ListenConfig{}), mode)
		ln.SetDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := ln.Accept()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Accept past the deadline: %v", err)
		}
		ln.SetDeadline(time.Time{})
		c, s := pair(t, ln)
		c.Close()
		s.Close()
	}
}

func TestDualStackWildcard(t *testing.T) {
	ln, err := Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, host := range []string{"127.0.0.1", "::1"} {
		c, err := Dial("tcp", net.JoinHostPort(host, itoa(port)))
		if err != nil {
			t.Fatalf("dial %s: %v", host, err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		s.Close()
	}
}

func TestUnixSocketFileRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	ln, err := Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file after Close: %v", err)
	}
}

// TestCancelledReadReleasesBuffer checks that a Read stopped by its
// deadline leaves no operation behind that could still write into its
// buffer: data sent afterwards goes to the next Read, and the first
// buffer stays untouched.
func TestCancelledReadReleasesBuffer(t *testing.T) {
	ln := listenLocal(t, "tcp", ListenConfig{})
	c, s := pair(t, ln)
	first := make([]byte, 16)
	s.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := s.Read(first); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read: %v", err)
	}
	for i := range first {
		first[i] = 0xAA
	}
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("zzzz"))
	second := make([]byte, 16)
	n, err := s.Read(second)
	if err != nil || string(second[:n]) != "zzzz" {
		t.Fatalf("second Read = %q, %v", second[:n], err)
	}
	if !bytes.Equal(first, bytes.Repeat([]byte{0xAA}, 16)) {
		t.Fatalf("the cancelled Read's buffer changed: %x", first)
	}
}
