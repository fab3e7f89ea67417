package uringnet

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/net/nettest"
)

var networks = []string{"tcp", "tcp6", "unix"}

func TestNettestConn(t *testing.T) {
	for _, network := range networks {
		for _, mode := range acceptModes {
			name := network + "/" + mode.String()
			t.Run(name, func(t *testing.T) {
				testutil.CheckFDs(t)
				ln := withAcceptMode(listenLocal(t, network, ListenConfig{}), mode)
				nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
					type res struct {
						c   net.Conn
						err error
					}
					ch := make(chan res, 1)
					go func() {
						c, err := ln.Accept()
						ch <- res{c, err}
					}()
					c1, err = Dial(ln.Addr().Network(), ln.Addr().String())
					if err != nil {
						return nil, nil, nil, err
					}
					r := <-ch
					if r.err != nil {
						c1.Close()
						return nil, nil, nil, r.err
					}
					return c1, r.c, func() { c1.Close(); r.c.Close() }, nil
				})
			})
		}
	}
}

func TestAddrs(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			testutil.CheckFDs(t)
			ln := listenLocal(t, network, ListenConfig{})
			if network != "unix" {
				if ln.Addr().(*net.TCPAddr).Port == 0 {
					t.Fatalf("Listener.Addr() = %v: port 0, want the real one", ln.Addr())
				}
			}
			c, s := pair(t, ln)
			if c.RemoteAddr().String() != ln.Addr().String() {
				t.Errorf("client RemoteAddr %v, want %v", c.RemoteAddr(), ln.Addr())
			}
			if network != "unix" {
				if s.RemoteAddr().String() != c.LocalAddr().String() {
					t.Errorf("server RemoteAddr %v, client LocalAddr %v", s.RemoteAddr(), c.LocalAddr())
				}
				if s.LocalAddr().String() != ln.Addr().String() {
					t.Errorf("server LocalAddr %v, want %v", s.LocalAddr(), ln.Addr())
				}
			}
			if s.LocalAddr().Network() != ln.Addr().Network() {
				t.Errorf("network %q, want %q", s.LocalAddr().Network(), ln.Addr().Network())
			}
		})
	}
}

func TestNoDelayDefault(t *testing.T) {
	ln := listenLocal(t, "tcp", ListenConfig{})
	c, s := pair(t, ln)
	for _, conn := range []*Conn{c, s} {
		raw, _ := conn.SyscallConn()
		var v int
		var gerr error
		raw.Control(func(fd uintptr) {
			v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
		})
		if gerr != nil || v == 0 {
			t.Errorf("TCP_NODELAY = %d, %v; want on", v, gerr)
		}
	}
}

func TestEOFUnwrapped(t *testing.T) {
	ln := listenLocal(t, "tcp", ListenConfig{})
	c, s := pair(t, ln)
	c.Write([]byte("bye"))
	c.Close()
	b, err := io.ReadAll(s)
	if err != nil || string(b) != "bye" {
		t.Fatalf("ReadAll = %q, %v", b, err)
	}
	if _, err := s.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read after EOF = %v (%T), want io.EOF itself", err, err)
	}
}

func TestCloseWakesBlocked(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			testutil.CheckFDs(t)
			ln := listenLocal(t, network, ListenConfig{})
			c, s := pair(t, ln)
			// Fill the send buffer so that a Write blocks too.
			c.SetWriteBuffer(4096)
			s.SetReadBuffer(4096)
			readErr := make(chan error, 1)
			writeErr := make(chan error, 1)
			acceptErr := make(chan error, 1)
			// s neither reads nor writes: c's Read and Write both block.
			go func() { _, err := c.Read(make([]byte, 10)); readErr <- err }()
			go func() { _, err := c.Write(make([]byte, 16<<20)); writeErr <- err }()
			go func() { _, err := ln.Accept(); acceptErr <- err }()
			time.Sleep(50 * time.Millisecond) // let them block; the result does not depend on it
			c.Close()
			ln.Close()
			for what, ch := range map[string]chan error{"Read": readErr, "Write": writeErr, "Accept": acceptErr} {
				err := <-ch
				var oe *net.OpError
				if !errors.Is(err, net.ErrClosed) || !errors.As(err, &oe) {
					t.Errorf("%s after Close: %v, want a *net.OpError matching net.ErrClosed", what, err)
				}
			}
			if err := c.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("second Close: %v, want net.ErrClosed", err)
			}
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Read after Close: %v", err)
			}
		})
	}
}

func TestPastDeadlineWakesRead(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			testutil.CheckFDs(t)
			ln := listenLocal(t, network, ListenConfig{})
			c, s := pair(t, ln)
			errc := make(chan error, 1)
			go func() { _, err := s.Read(make([]byte, 10)); errc <- err }()
			time.Sleep(20 * time.Millisecond)
			// net/http aborts its background read like this.
			s.SetReadDeadline(time.Unix(1, 0))
			err := <-errc
			var ne net.Error
			if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("Read woken by a past deadline: %v, want os.ErrDeadlineExceeded with Timeout()", err)
			}
			// Bytes that arrive meanwhile are read once the deadline is
			// cleared.
			if _, err := c.Write([]byte("after")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read with the deadline still past: %v", err)
			}
			s.SetReadDeadline(time.Time{})
			buf := make([]byte, 10)
			n, err := io.ReadFull(s, buf[:5])
			if err != nil || string(buf[:n]) != "after" {
				t.Fatalf("Read after clearing the deadline = %q, %v", buf[:n], err)
			}
		})
	}
}

// TestDeadlineLosesNoBytes races deadlines against arriving data: every
// byte written must be read exactly once, in order.
func TestDeadlineLosesNoBytes(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listenLocal(t, "tcp", ListenConfig{})
	c, s := pair(t, ln)
	checkDeadlinesLoseNoBytes(t, c, s, 1<<20)
}

// checkDeadlinesLoseNoBytes streams total bytes from c to s while s's
// read deadline keeps expiring within microseconds: every byte written
// must be read exactly once, in order.
func checkDeadlinesLoseNoBytes(t *testing.T, c, s net.Conn, total int) {
	t.Helper()
	src := make([]byte, total)
	for i := range src {
		src[i] = byte(i * 7)
	}
	go func() {
		for off := 0; off < total; off += 997 {
			c.Write(src[off:min(total, off+997)])
		}
	}()
	var got bytes.Buffer
	buf := make([]byte, 1500)
	stop := time.Now().Add(20 * time.Second)
	for i := 0; got.Len() < total && time.Now().Before(stop); i++ {
		s.SetReadDeadline(time.Now().Add(time.Duration(i%50) * time.Microsecond))
		n, err := s.Read(buf)
		got.Write(buf[:n])
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read: %v", err)
		}
	}
	if !bytes.Equal(got.Bytes(), src) {
		t.Fatalf("read %d bytes, want %d equal to what was written", got.Len(), total)
	}
}

func TestDeadlineExtendedWhileBlocked(t *testing.T) {
	ln := listenLocal(t, "tcp", ListenConfig{})
	c, s := pair(t, ln)
	s.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	errc := make(chan error, 1)
	buf := make([]byte, 4)
	go func() { _, err := io.ReadFull(s, buf); errc <- err }()
	s.SetReadDeadline(time.Now().Add(time.Hour))
	time.Sleep(60 * time.Millisecond)
	c.Write([]byte("ping"))
	if err := <-errc; err != nil || string(buf) != "ping" {
		t.Fatalf("Read after the deadline was extended = %q, %v", buf, err)
	}
}

func TestWriteAllLarge(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			ln := listenLocal(t, network, ListenConfig{})
			c, s := pair(t, ln)
			c.SetWriteBuffer(8192)
			src := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB through an 8 KiB buffer: many short sends
			done := make(chan error, 1)
			go func() {
				n, err := c.Write(src)
				if err == nil && n != len(src) {
					err = io.ErrShortWrite
				}
				c.CloseWrite()
				done <- err
			}()
			got, err := io.ReadAll(s)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, src) {
				t.Fatalf("read %d bytes, want the %d written", len(got), len(src))
			}
		})
	}
}
