package uringnet

import (
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

// collectUntil runs the garbage collector until done reports true, and
// fails t if it never does. The cleanups that close dropped sockets run
// on their own goroutine after a collection, hence the short pauses.
func collectUntil(t *testing.T, what string, done func() bool) {
	t.Helper()
	for range 1000 {
		runtime.GC()
		if done() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s: still open after 1000 collections", what)
}

// TestDroppedListenerIsClosed drops a Listener without Close after an
// Accept, in each accept mode: as with net, the collector
// closes it, so the port stops accepting connections nobody serves, and
// its fd and goroutines go (TestMain's leak check).
func TestDroppedListenerIsClosed(t *testing.T) {
	for _, mode := range acceptModes {
		t.Run(mode.String(), func(t *testing.T) {
			testutil.CheckFDs(t)
			addr := func() string {
				l, err := Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				ln := withAcceptMode(l.(*Listener), mode)
				c, err := Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				s, err := ln.Accept()
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				s.Close()
				return ln.Addr().String()
			}()
			collectUntil(t, "dropped Listener", func() bool {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					c.Close()
					return false
				}
				if errors.Is(err, syscall.ECONNRESET) {
					// Reset in the backlog by the close under
					// way: the next dial is refused.
					return false
				}
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Fatalf("dial: %v", err)
				}
				return true
			})
		})
	}
}

// TestDroppedConnIsClosed drops a Conn and a PacketConn without Close:
// as with net, the collector closes them (the peer of the Conn reads end
// of file), and no fd is left open.
func TestDroppedConnIsClosed(t *testing.T) {
	t.Run("Conn", func(t *testing.T) {
		testutil.CheckFDs(t)
		ln := listenLocal(t, "tcp", ListenConfig{})
		func() {
			c, err := Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		b := make([]byte, 1)
		if _, err := io.ReadFull(s, b); err != nil {
			t.Fatal(err)
		}
		collectUntil(t, "dropped Conn", func() bool {
			s.SetReadDeadline(time.Now().Add(time.Millisecond))
			_, err := s.Read(b)
			return err == io.EOF
		})
	})
	t.Run("PacketConn", func(t *testing.T) {
		testutil.CheckFDs(t)
		before := testutil.OpenFDs(t)
		func() {
			pc, err := ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			pc.LocalAddr()
		}()
		collectUntil(t, "dropped PacketConn", func() bool { return testutil.OpenFDs(t) <= before })
	})
}
