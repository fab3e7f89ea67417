package uringnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

func listenPacketLocal(tb testing.TB, network, addr string) *PacketConn {
	tb.Helper()
	c, err := ListenPacket(network, addr)
	if err != nil {
		tb.Fatalf("ListenPacket(%q, %q): %v", network, addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c.(*PacketConn)
}

// echoPackets echoes every datagram c receives back to its sender until
// c is closed; the returned channel is closed when it stops.
func echoPackets(c net.PacketConn) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		udpEcho(c, false)
	}()
	return done
}

func TestUDPEcho(t *testing.T) {
	testutil.CheckFDs(t)
	for _, tc := range []struct{ network, addr string }{
		{"udp4", "127.0.0.1:0"},
		{"udp6", "[::1]:0"},
		{"udp", "127.0.0.1:0"},
	} {
		t.Run(tc.network+"/uring-server", func(t *testing.T) {
			srv := listenPacketLocal(t, tc.network, tc.addr)
			done := echoPackets(srv)
			defer func() { srv.Close(); <-done }()
			cl, err := net.Dial(tc.network, srv.LocalAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			cl.SetDeadline(time.Now().Add(10 * time.Second))
			for i := range 10 {
				msg := []byte("hello " + itoa(i))
				if _, err := cl.Write(msg); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 100)
				n, err := cl.Read(buf)
				if err != nil || !bytes.Equal(buf[:n], msg) {
					t.Fatalf("echo %d: %q, %v; want %q", i, buf[:n], err, msg)
				}
			}
		})
		t.Run(tc.network+"/uring-client", func(t *testing.T) {
			srv, err := net.ListenPacket(tc.network, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			done := echoPackets(srv)
			defer func() { srv.Close(); <-done }()
			cl := listenPacketLocal(t, tc.network, tc.addr)
			cl.SetDeadline(time.Now().Add(10 * time.Second))
			srvAddr := srv.LocalAddr().(*net.UDPAddr)
			if _, err := cl.WriteTo([]byte("ping"), srvAddr); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 100)
			n, from, err := cl.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "ping" {
				t.Fatalf("ReadFrom: %q, %v", buf[:n], err)
			}
			ua, ok := from.(*net.UDPAddr)
			if !ok || !ua.IP.Equal(srvAddr.IP) || ua.Port != srvAddr.Port {
				t.Fatalf("ReadFrom address %v (%T), want %v", from, from, srvAddr)
			}
			// The Msg variants, and the server saw our address.
			if _, _, err := cl.WriteMsgUDP([]byte("pong"), nil, srvAddr); err != nil {
				t.Fatal(err)
			}
			n, oobn, flags, ua, err := cl.ReadMsgUDP(buf, nil)
			if err != nil || string(buf[:n]) != "pong" || oobn != 0 || flags != 0 || ua.Port != srvAddr.Port {
				t.Fatalf("ReadMsgUDP: %q %d %#x %v %v", buf[:n], oobn, flags, ua, err)
			}

			// A connected socket: Read and Write, and its addresses.
			dc, err := DialPacket(tc.network, srvAddr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer dc.Close()
			if ra := dc.RemoteAddr().(*net.UDPAddr); ra.Port != srvAddr.Port || !ra.IP.Equal(srvAddr.IP) {
				t.Fatalf("RemoteAddr %v, want %v", ra, srvAddr)
			}
			dc.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := dc.Write([]byte("connected")); err != nil {
				t.Fatal(err)
			}
			n, err = dc.Read(buf)
			if err != nil || string(buf[:n]) != "connected" {
				t.Fatalf("Read: %q, %v", buf[:n], err)
			}
			if _, err := dc.WriteTo([]byte("x"), srvAddr); !errors.Is(err, net.ErrWriteToConnected) {
				t.Fatalf("WriteTo on a connected socket: %v", err)
			}
			if _, err := cl.Write([]byte("x")); err == nil {
				t.Fatal("Write on an unconnected socket succeeded")
			}
		})
	}
}

// TestUDPEchoAddress checks that the sender address ReadFrom reports is
// the std client's own.
func TestUDPEchoAddress(t *testing.T) {
	srv := listenPacketLocal(t, "udp4", "127.0.0.1:0")
	cl, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.WriteTo([]byte("a"), srv.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 10)
	_, from, err := srv.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if from.String() != cl.LocalAddr().String() || from.Network() != "udp" {
		t.Fatalf("sender %v/%s, want %v", from, from.Network(), cl.LocalAddr())
	}
}

// TestUDPManyDatagrams sends 10,000 numbered datagrams through a
// uringnet echo server and checks that none comes back twice or changed.
// Loopback may drop datagrams under pressure, so at most window are in
// flight and a lost one only shrinks the window after a timeout.
func TestUDPManyDatagrams(t *testing.T) {
	const (
		total  = 10000
		window = 32
		size   = 200
	)
	srv := listenPacketLocal(t, "udp4", "127.0.0.1:0")
	done := echoPackets(srv)
	defer func() { srv.Close(); <-done }()
	cl := listenPacketLocal(t, "udp4", "127.0.0.1:0")
	payload := func(seq uint32, b []byte) {
		binary.BigEndian.PutUint32(b, seq)
		for i := 4; i < len(b); i++ {
			b[i] = byte(seq*7 + uint32(i))
		}
	}
	seen := make([]bool, total)
	sent, got, inflight := 0, 0, 0
	out := make([]byte, size)
	in := make([]byte, size+10)
	end := time.Now().Add(60 * time.Second)
	for (sent < total || inflight > 0) && time.Now().Before(end) {
		for sent < total && inflight < window {
			payload(uint32(sent), out)
			if _, err := cl.WriteTo(out, srv.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			sent++
			inflight++
		}
		cl.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, from, err := cl.ReadFrom(in)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The rest of the window was lost.
			inflight = 0
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if from.String() != srv.LocalAddr().String() {
			t.Fatalf("datagram from %v", from)
		}
		if n != size {
			t.Fatalf("datagram of %d bytes, want %d", n, size)
		}
		seq := binary.BigEndian.Uint32(in)
		if seq >= total {
			t.Fatalf("corrupt sequence number %d", seq)
		}
		payload(seq, out)
		if !bytes.Equal(in[:n], out) {
			t.Fatalf("datagram %d corrupted", seq)
		}
		if seen[seq] {
			t.Fatalf("datagram %d came back twice", seq)
		}
		seen[seq] = true
		got++
		inflight = max(0, inflight-1)
	}
	t.Logf("%d sent, %d echoed", sent, got)
	if sent < total {
		t.Fatalf("only %d of %d sent in time", sent, total)
	}
	if got < total/2 {
		t.Fatalf("only %d of %d echoed: loopback should not lose that many", got, total)
	}
}

func TestUDPTruncation(t *testing.T) {
	srv := listenPacketLocal(t, "udp4", "127.0.0.1:0")
	cl, err := net.Dial("udp4", srv.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	long := bytes.Repeat([]byte("0123456789"), 10)
	srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 10)
	cl.Write(long)
	cl.Write([]byte("short"))
	n, _, err := srv.ReadFrom(buf)
	if err != nil || n != 10 || string(buf) != "0123456789" {
		t.Fatalf("ReadFrom of a long datagram: %d %q %v", n, buf[:n], err)
	}
	// The rest was dropped: the next read is the next datagram.
	n, _, err = srv.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "short" {
		t.Fatalf("after truncation: %q %v", buf[:n], err)
	}
	cl.Write(long)
	n, _, flags, _, err := srv.ReadMsgUDP(buf, nil)
	if err != nil || n != 10 || flags&unix.MSG_TRUNC == 0 {
		t.Fatalf("ReadMsgUDP: n=%d flags=%#x %v; want 10 with MSG_TRUNC", n, flags, err)
	}
}

func TestPacketDeadline(t *testing.T) {
	testutil.CheckFDs(t)
	srv := listenPacketLocal(t, "udp4", "127.0.0.1:0")
	srv.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 10)
	_, _, err := srv.ReadFrom(buf)
	var oe *net.OpError
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &oe) || !oe.Timeout() {
		t.Fatalf("ReadFrom past the deadline: %v", err)
	}
	// The socket stays usable, and nothing is lost.
	cl, err := net.Dial("udp4", srv.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cl.Write([]byte("late"))
	srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := srv.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "late" {
		t.Fatalf("after the deadline: %q %v", buf[:n], err)
	}
	// A deadline moved into the past wakes a blocked read.
	srv.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, _, err := srv.ReadFrom(buf)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	srv.SetReadDeadline(time.Unix(1, 0))
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blocked ReadFrom after a past deadline: %v", err)
	}
	srv.SetWriteDeadline(time.Unix(1, 0))
	if _, err := srv.WriteTo([]byte("x"), cl.LocalAddr()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("WriteTo past the deadline: %v", err)
	}
}

func TestPacketCloseWakesReadFrom(t *testing.T) {
	testutil.CheckFDs(t)
	for _, network := range []string{"udp4", "unixgram"} {
		addr := "127.0.0.1:0"
		if network == "unixgram" {
			addr = filepath.Join(t.TempDir(), "g")
		}
		c, err := ListenPacket(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			_, _, err := c.ReadFrom(make([]byte, 10))
			errc <- err
		}()
		time.Sleep(20 * time.Millisecond)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			var oe *net.OpError
			if !errors.Is(err, net.ErrClosed) || !errors.As(err, &oe) {
				t.Fatalf("%s: blocked ReadFrom after Close: %v", network, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Close did not wake ReadFrom", network)
		}
		if _, _, err := c.ReadFrom(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ReadFrom after Close: %v", err)
		}
		if err := c.Close(); err == nil {
			t.Fatal("second Close succeeded")
		}
	}
}

func TestUnixgramAddresses(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	a := listenPacketLocal(t, "unixgram", filepath.Join(dir, "a"))
	b := listenPacketLocal(t, "unixgram", filepath.Join(dir, "b"))
	if la := a.LocalAddr().(*net.UnixAddr); la.Name != filepath.Join(dir, "a") || la.Net != "unixgram" {
		t.Fatalf("LocalAddr %#v", la)
	}
	a.SetDeadline(time.Now().Add(10 * time.Second))
	b.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := a.WriteTo([]byte("to b"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	n, from, err := b.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "to b" {
		t.Fatalf("ReadFrom: %q %v", buf[:n], err)
	}
	if ua, ok := from.(*net.UnixAddr); !ok || ua.Name != filepath.Join(dir, "a") || ua.Net != "unixgram" {
		t.Fatalf("sender %#v", from)
	}
	// Interoperates with net's unixgram, both ways.
	nc, err := net.ListenPacket("unixgram", filepath.Join(dir, "n"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := b.WriteTo([]byte("to n"), nc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	n, from, err = nc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "to n" || from.String() != filepath.Join(dir, "b") {
		t.Fatalf("net ReadFrom: %q %v %v", buf[:n], from, err)
	}
	if _, err := nc.WriteTo([]byte("back"), from); err != nil {
		t.Fatal(err)
	}
	n, from, err = b.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "back" || from.String() != filepath.Join(dir, "n") {
		t.Fatalf("ReadFrom net: %q %v %v", buf[:n], from, err)
	}
	// An unnamed sender has no address, as with net.
	d, err := DialPacket("unixgram", filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Write([]byte("anon")); err != nil {
		t.Fatal(err)
	}
	n, from, err = a.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "anon" || from != nil {
		t.Fatalf("from an unnamed socket: %q %v %v", buf[:n], from, err)
	}
}

// unixStreamPair returns both ends of a uringnet Unix stream connection.
func unixStreamPair(t *testing.T) (*Conn, *Conn) {
	ln := listenLocal(t, "unix", ListenConfig{})
	return pair(t, ln)
}

func TestPassFd(t *testing.T) {
	testutil.CheckFDs(t)
	check := func(t *testing.T, send func(b, oob []byte) error, recv func(b, oob []byte) (int, int, int, error)) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := send([]byte("fd"), syscall.UnixRights(int(w.Fd()))); err != nil {
			t.Fatal(err)
		}
		w.Close()
		buf := make([]byte, 10)
		oob := make([]byte, 64)
		n, oobn, flags, err := recv(buf, oob)
		if err != nil || string(buf[:n]) != "fd" || flags != 0 {
			t.Fatalf("receive: %q flags=%#x %v", buf[:n], flags, err)
		}
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			t.Fatalf("control messages: %v %v", msgs, err)
		}
		fds, err := syscall.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			t.Fatalf("fds: %v %v", fds, err)
		}
		if fl, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
			t.Errorf("received fd flags %#x %v: not close-on-exec", fl, err)
		}
		got := os.NewFile(uintptr(fds[0]), "passed")
		if _, err := got.Write([]byte("through")); err != nil {
			t.Fatal(err)
		}
		got.Close()
		b, err := os.ReadFile("/dev/fd/" + itoa(int(r.Fd())))
		if err != nil || string(b) != "through" {
			t.Fatalf("read from the pipe: %q %v", b, err)
		}
	}
	t.Run("stream", func(t *testing.T) {
		a, b := unixStreamPair(t)
		check(t, func(p, oob []byte) error {
			_, _, err := a.WriteMsgUnix(p, oob, nil)
			return err
		}, func(p, oob []byte) (int, int, int, error) {
			n, oobn, flags, _, err := b.ReadMsgUnix(p, oob)
			return n, oobn, flags, err
		})
	})
	t.Run("unixgram", func(t *testing.T) {
		dir := t.TempDir()
		a := listenPacketLocal(t, "unixgram", filepath.Join(dir, "a"))
		b := listenPacketLocal(t, "unixgram", filepath.Join(dir, "b"))
		check(t, func(p, oob []byte) error {
			_, _, err := a.WriteMsgUnix(p, oob, b.LocalAddr().(*net.UnixAddr))
			return err
		}, func(p, oob []byte) (int, int, int, error) {
			n, oobn, flags, addr, err := b.ReadMsgUnix(p, oob)
			if addr == nil || addr.Name != filepath.Join(dir, "a") {
				t.Errorf("sender %v", addr)
			}
			return n, oobn, flags, err
		})
	})
	t.Run("net-peer", func(t *testing.T) {
		// Descriptors from net's WriteMsgUnix, and no data.
		ln := listenLocal(t, "unix", ListenConfig{})
		nc, err := net.Dial("unix", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		sc, err := ln.AcceptUring()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		check(t, func(p, oob []byte) error {
			_, _, err := nc.(*net.UnixConn).WriteMsgUnix(p, oob, nil)
			return err
		}, func(p, oob []byte) (int, int, int, error) {
			n, oobn, flags, _, err := sc.ReadMsgUnix(p, oob)
			return n, oobn, flags, err
		})
	})
}

// TestPassFdTruncated sends more descriptors than the receiver has room
// for: it gets MSG_CTRUNC and those that fit, and none leaks.
func TestPassFdTruncated(t *testing.T) {
	testutil.CheckFDs(t)
	a, b := unixStreamPair(t)
	var files []*os.File
	var fds []int
	for range 3 {
		f, err := os.Open("/dev/null")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
		fds = append(fds, int(f.Fd()))
	}
	if _, _, err := a.WriteMsgUnix([]byte("three"), syscall.UnixRights(fds...), nil); err != nil {
		t.Fatal(err)
	}
	// Room for one descriptor, which rounds up to room for two on
	// 64-bit systems, as with net.
	oob := make([]byte, syscall.CmsgSpace(4))
	room := (len(oob) - syscall.CmsgSpace(0)) / 4
	buf := make([]byte, 10)
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, oobn, flags, _, err := b.ReadMsgUnix(buf, oob)
	if err != nil || string(buf[:n]) != "three" {
		t.Fatalf("ReadMsgUnix: %q %v", buf[:n], err)
	}
	if flags&unix.MSG_CTRUNC == 0 {
		t.Fatalf("flags %#x: want MSG_CTRUNC", flags)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages: %v %v", msgs, err)
	}
	got, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(got) != room {
		t.Fatalf("fds: %v %v; want %d", got, err, room)
	}
	for _, fd := range got {
		unix.Close(fd)
	}
	// No room at all: every descriptor is dropped.
	if _, _, err := a.WriteMsgUnix([]byte("x"), syscall.UnixRights(fds...), nil); err != nil {
		t.Fatal(err)
	}
	n, oobn, flags, _, err = b.ReadMsgUnix(buf, nil)
	if err != nil || n != 1 || oobn != 0 || flags&unix.MSG_CTRUNC == 0 {
		t.Fatalf("ReadMsgUnix with no oob: n=%d oobn=%d flags=%#x %v", n, oobn, flags, err)
	}
}

func TestMsgUnixErrors(t *testing.T) {
	ln := listenLocal(t, "tcp", ListenConfig{})
	c, _ := pair(t, ln)
	if _, _, _, _, err := c.ReadMsgUnix(make([]byte, 1), nil); err == nil {
		t.Fatal("ReadMsgUnix on TCP succeeded")
	}
	if _, _, err := c.WriteMsgUnix([]byte("x"), nil, nil); err == nil {
		t.Fatal("WriteMsgUnix on TCP succeeded")
	}
	a, b := unixStreamPair(t)
	a.Close()
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, _, _, err := b.ReadMsgUnix(make([]byte, 1), nil); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadMsgUnix at the end of the stream: %v", err)
	}
	if _, err := ListenPacket("tcp", "127.0.0.1:0"); err == nil {
		t.Fatal("ListenPacket tcp succeeded")
	}
}

// TestPacketWriteToNil: a nil destination fails as with net's *UDPConn,
// on a connected and on an unconnected socket, and sends nothing.
func TestPacketWriteToNil(t *testing.T) {
	testutil.CheckFDs(t)
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	type udpWriter interface {
		WriteTo([]byte, net.Addr) (int, error)
		WriteToUDP([]byte, *net.UDPAddr) (int, error)
		Close() error
	}
	open := func(std, connected bool) udpWriter {
		t.Helper()
		var c udpWriter
		var err error
		switch {
		case std && connected:
			c, err = net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
		case std:
			c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		case connected:
			c, err = DialPacket("udp4", srv.LocalAddr().String())
		default:
			var pc net.PacketConn
			pc, err = ListenPacket("udp4", "127.0.0.1:0")
			if err == nil {
				c = any(pc).(*PacketConn)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, connected := range []bool{false, true} {
		std, ours := open(true, connected), open(false, connected)
		for _, call := range []struct {
			name string
			do   func(udpWriter) error
		}{
			{"WriteTo", func(c udpWriter) error { _, err := c.WriteTo([]byte("x"), nil); return err }},
			{"WriteToUDP", func(c udpWriter) error { _, err := c.WriteToUDP([]byte("x"), nil); return err }},
		} {
			want, got := call.do(std), call.do(ours)
			if want == nil || got == nil {
				t.Fatalf("connected=%v %s(nil): net %v, uringnet %v: want both to fail", connected, call.name, want, got)
			}
			for _, sentinel := range []error{syscall.EINVAL, net.ErrWriteToConnected} {
				if errors.Is(want, sentinel) != errors.Is(got, sentinel) {
					t.Errorf("connected=%v %s(nil): net %v, uringnet %v", connected, call.name, want, got)
				}
			}
			if strings.Contains(want.Error(), "missing address") != strings.Contains(got.Error(), "missing address") {
				t.Errorf("connected=%v %s(nil): net %v, uringnet %v", connected, call.name, want, got)
			}
		}
		std.Close()
		ours.Close()
	}
	// Nothing was sent.
	srv.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, from, err := srv.ReadFrom(make([]byte, 8)); err == nil {
		t.Fatalf("the server received %d bytes from %v", n, from)
	}
}

// TestPacketBlockedWriteTo fills a unixgram peer's queue so that sends
// must wait for room (in the netpoller, after a sendmsg with
// MSG_DONTWAIT answers EAGAIN), and checks that a write deadline and
// Close wake a waiting WriteTo without sending its datagram, and that a
// waiting WriteTo sends once the peer reads: every datagram arrives
// once, whole and in order. A sendmsg left to wait inside io_uring
// instead fails the last part: the kernel's retry sends an empty
// datagram. The same runs on a sender the netpoller did not take, whose
// sends wait for room in an io_uring poll instead.
func TestPacketBlockedWriteTo(t *testing.T) {
	testutil.CheckFDs(t)
	t.Run("netpoller", func(t *testing.T) { packetBlockedWriteTo(t, false) })
	t.Run("detached", func(t *testing.T) { packetBlockedWriteTo(t, true) })
}

func packetBlockedWriteTo(t *testing.T, detach bool) {
	dir := t.TempDir()
	rcv := listenPacketLocal(t, "unixgram", filepath.Join(dir, "r"))
	snd := listenPacketLocal(t, "unixgram", filepath.Join(dir, "s"))
	if detach {
		// As attachPoller leaves a socket that epoll_ctl refused.
		snd.fd.raw = nil
	}
	to := rcv.LocalAddr()
	msg := func(i int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(i)) }
	// fill sends numbered datagrams from next on until the peer's
	// queue is full and a send times out; it returns the next number.
	fill := func(next int) int {
		snd.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			_, err := snd.WriteTo(msg(next), to)
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("WriteTo %d into a full peer: %v", next, err)
				}
				snd.SetWriteDeadline(time.Time{})
				return next
			}
			next++
		}
	}
	// drain reads datagrams until one is missing for a while and checks
	// that they are numbered from first to last, exclusive. Each one
	// expected may take seconds on a loaded machine (the last may come
	// from a WriteTo that was waiting for room); none more may come
	// within 200 ms.
	drain := func(first, last int) {
		buf := make([]byte, 16)
		for want := first; ; want++ {
			wait := 10 * time.Second
			if want == last {
				wait = 200 * time.Millisecond
			}
			rcv.SetReadDeadline(time.Now().Add(wait))
			n, _, err := rcv.ReadFrom(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) && want == last {
				return
			}
			if err != nil {
				t.Fatalf("reading datagram %d of [%d, %d): %v", want, first, last, err)
			}
			if n != 4 || int(binary.BigEndian.Uint32(buf[:n])) != want {
				t.Fatalf("datagram %d of [%d, %d) is %x", want, first, last, buf[:n])
			}
		}
	}

	queued := fill(0)
	if queued == 0 {
		t.Fatal("no datagram fits in the peer's queue")
	}
	// A WriteTo waiting for room sends once the peer reads.
	errc := make(chan error, 1)
	go func() {
		_, err := snd.WriteTo(msg(queued), to)
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("WriteTo into a full peer returned %v without waiting", err)
	case <-time.After(50 * time.Millisecond):
	}
	drain(0, queued+1)
	if err := <-errc; err != nil {
		t.Fatalf("waiting WriteTo after the peer read: %v", err)
	}

	// A deadline moved into the past wakes a waiting WriteTo.
	queued = fill(0)
	go func() {
		_, err := snd.WriteTo(msg(queued), to)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	snd.SetWriteDeadline(time.Unix(1, 0))
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("waiting WriteTo after a past deadline: %v", err)
	}
	snd.SetWriteDeadline(time.Time{})
	drain(0, queued)

	// Close wakes a waiting WriteTo.
	queued = fill(0)
	go func() {
		_, err := snd.WriteTo(msg(queued), to)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := snd.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		var oe *net.OpError
		if !errors.Is(err, net.ErrClosed) || !errors.As(err, &oe) {
			t.Fatalf("waiting WriteTo after Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake a waiting WriteTo")
	}
	drain(0, queued)
}
