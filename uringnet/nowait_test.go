package uringnet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// TestDontWaitCompletesWithEAGAIN checks the kernel behaviour reads and
// writes rely on: a recv or send with MSG_DONTWAIT that would block
// completes at once with EAGAIN instead of arming a poll inside io_uring.
// An armed poll would leave the operation pending until the link timeout.
func TestDontWaitCompletesWithEAGAIN(t *testing.T) {
	ln := listenLocal(t, "tcp", ListenConfig{})
	client, server := pair(t, ln)
	e, err := reactor.Default()
	if err != nil {
		t.Fatal(err)
	}
	sysfd := server.fd.sysfd
	buf := make([]byte, 64)
	res, err := e.Do(t.Context(), sysfd, time.Now().Add(5*time.Second), func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.Recv(sysfd, buf, unix.MSG_DONTWAIT, o)
	})
	if err != syscall.EAGAIN {
		t.Fatalf("recv on an empty socket: res %d, err %v; want EAGAIN", res.Res, err)
	}
	// Fill the client's send buffer (the server does not read) until a
	// send would block.
	csysfd := client.fd.sysfd
	big := make([]byte, 1<<20)
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("send never filled the socket buffer")
		}
		res, err = e.Do(t.Context(), csysfd, time.Now().Add(5*time.Second), func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
			return r.Send(csysfd, big, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, o)
		})
		if err == syscall.EAGAIN {
			break
		}
		if err != nil {
			t.Fatalf("send: res %d, err %v; want a count or EAGAIN", res.Res, err)
		}
	}
}

// TestConnsWaitInNetpoller checks that connected sockets, accepted and
// dialed, TCP and Unix, take the MSG_DONTWAIT path, and that listeners
// accept with accept4 and wait in the netpoller (acceptPoll).
func TestConnsWaitInNetpoller(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			ln := listenLocal(t, network, ListenConfig{})
			c, s := pair(t, ln)
			if c.fd.raw == nil || s.fd.raw == nil {
				t.Fatalf("dialed conn in netpoller: %v, accepted: %v; want both", c.fd.raw != nil, s.fd.raw != nil)
			}
			if ln.fd.raw == nil || ln.mode != acceptPoll {
				t.Fatalf("listener in netpoller: %v, mode %v; want %v", ln.fd.raw != nil, ln.mode, acceptPoll)
			}
		})
	}
}

// TestCloseClosesFdOnce checks that a conn's fd has exactly one owner:
// an fd closed twice (by Close and again by a forgotten *os.File's
// cleanup) would close whatever file reused the number.
func TestCloseClosesFdOnce(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listenLocal(t, "tcp", ListenConfig{})
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for range 20 {
		// Not pair: its cleanup would keep the conns reachable.
		c, err := Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			c.Close()
			t.Fatal(err)
		}
		c.Close()
		s.Close()
		// These take the numbers just freed.
		for range 2 {
			f, err := os.Open(os.DevNull)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	runtime.GC()
	runtime.GC()
	time.Sleep(10 * time.Millisecond) // cleanups run on their own goroutine
	for _, f := range files {
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatalf("file opened after closing conns: fstat(%d): %v; a conn's fd was closed twice", f.Fd(), err)
		}
	}
}

// TestWriteDeadlineLosesNoBytes stops a blocked Write with a deadline:
// the count it returns is exactly what the peer receives.
func TestWriteDeadlineLosesNoBytes(t *testing.T) {
	ln := listenLocal(t, "tcp", ListenConfig{})
	c, s := pair(t, ln)
	c.SetWriteBuffer(8192)
	s.SetReadBuffer(8192)
	src := bytes.Repeat([]byte("0123456789abcdef"), 1<<18)
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := c.Write(src)
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Write past its deadline: %d, %v; want os.ErrDeadlineExceeded", n, err)
	}
	if n <= 0 || n >= len(src) {
		t.Fatalf("Write wrote %d of %d bytes before its deadline; want a part", n, len(src))
	}
	c.CloseWrite()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src[:n]) {
		t.Fatalf("peer read %d bytes, want the %d the Write reported", len(got), n)
	}
}

// TestIoUringWaits runs conns whose reads and writes wait inside
// io_uring (as they do where the netpoller will not take the fd, and as
// splice and accept always do) through deadlines and Close.
func TestIoUringWaits(t *testing.T) {
	detached := func(t *testing.T) (c, s *Conn) {
		ln := listenLocal(t, "tcp", ListenConfig{})
		c, s = pair(t, ln)
		for _, x := range []*Conn{c, s} {
			x.fd.raw = nil
		}
		return c, s
	}
	t.Run("deadline", func(t *testing.T) {
		_, s := detached(t)
		s.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		if _, err := s.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read past its deadline: %v", err)
		}
	})
	t.Run("set while blocked", func(t *testing.T) {
		c, s := detached(t)
		errc := make(chan error, 1)
		go func() { _, err := s.Read(make([]byte, 4)); errc <- err }()
		time.Sleep(20 * time.Millisecond)
		// The read waits with no deadline: setting one must arm it.
		s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read given a deadline while blocked: %v", err)
		}
		// Moved far off while blocked: the read waits for data.
		s.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		buf := make([]byte, 4)
		go func() { _, err := io.ReadFull(s, buf); errc <- err }()
		s.SetReadDeadline(time.Now().Add(time.Hour))
		time.Sleep(60 * time.Millisecond)
		c.Write([]byte("ping"))
		if err := <-errc; err != nil || string(buf) != "ping" {
			t.Fatalf("Read after the deadline was extended = %q, %v", buf, err)
		}
	})
	t.Run("past deadline then cleared", func(t *testing.T) {
		c, s := detached(t)
		errc := make(chan error, 1)
		go func() { _, err := s.Read(make([]byte, 10)); errc <- err }()
		time.Sleep(20 * time.Millisecond)
		s.SetReadDeadline(time.Unix(1, 0))
		if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read woken by a past deadline: %v", err)
		}
		c.Write([]byte("after"))
		s.SetReadDeadline(time.Time{})
		buf := make([]byte, 5)
		if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "after" {
			t.Fatalf("Read after clearing the deadline = %q, %v", buf, err)
		}
	})
	t.Run("close", func(t *testing.T) {
		c, _ := detached(t)
		c.SetWriteBuffer(4096)
		readErr, writeErr := make(chan error, 1), make(chan error, 1)
		go func() { _, err := c.Read(make([]byte, 10)); readErr <- err }()
		go func() { _, err := c.Write(make([]byte, 16<<20)); writeErr <- err }()
		time.Sleep(30 * time.Millisecond)
		c.Close()
		for what, ch := range map[string]chan error{"Read": readErr, "Write": writeErr} {
			if err := <-ch; !errors.Is(err, net.ErrClosed) {
				t.Errorf("%s after Close: %v, want net.ErrClosed", what, err)
			}
		}
	})
	t.Run("no bytes lost", func(t *testing.T) {
		c, s := detached(t)
		checkDeadlinesLoseNoBytes(t, c, s, 256<<10)
	})
}

// TestConnsShareEnters runs many connections' reads and writes at once.
// They go on the ring of the processor each goroutine runs on, where one
// goroutine's enter submits the operations others queued meanwhile and
// collects their completions: every byte must still arrive once, in
// order, on its own connection, and enters must have carried two
// operations each or more on average (submitting on the fd's ring, each
// with its own enter unless another goroutine is in the kernel for that
// ring at the time, carried about 1.05).
func TestConnsShareEnters(t *testing.T) {
	testutil.CheckFDs(t)
	e, err := reactor.Default()
	if err != nil {
		t.Fatal(err)
	}
	// Two processors, whatever the machine: with many more, each would
	// run too few of the goroutines for their batches to be told apart
	// from the occasional sharing of the fd's ring.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	ln := listenLocal(t, "tcp", ListenConfig{})
	const conns, rounds, size = 32, 100, 3000
	clients := make([]*Conn, conns)
	for i := range clients {
		c, s := pair(t, ln)
		clients[i] = c
		go func() {
			buf := make([]byte, 1024) // smaller than a message: partial reads
			for {
				n, err := s.Read(buf)
				if err != nil {
					return
				}
				if _, err := s.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
	}
	st0 := e.Stats()
	errc := make(chan error, conns)
	for i, c := range clients {
		go func() {
			msg, got := make([]byte, size), make([]byte, size)
			for r := range rounds {
				for j := range msg {
					msg[j] = byte(i*31 + r*7 + j)
				}
				if _, err := c.Write(msg); err != nil {
					errc <- err
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					errc <- err
					return
				}
				if !bytes.Equal(got, msg) {
					errc <- fmt.Errorf("conn %d round %d: echoed other bytes", i, r)
					return
				}
			}
			errc <- nil
		}()
	}
	for range conns {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	st := e.Stats()
	ops, enters := st.Submitted-st0.Submitted, st.Enters-st0.Enters
	t.Logf("%d operations in %d enters", ops, enters)
	if 2*enters > ops {
		t.Errorf("%d operations took %d enters: fewer than two per enter", ops, enters)
	}
}
