package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/uring-go/uring/internal/testutil"
)

// echoHandler writes back whatever arrives and records OnClose errors.
type echoHandler struct {
	gnet.BuiltinEventEngine
	closed chan error
}

func newEcho() *echoHandler { return &echoHandler{closed: make(chan error, 64)} }

func (h *echoHandler) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return gnet.None
}

func (h *echoHandler) OnClose(_ gnet.Conn, err error) gnet.Action {
	select {
	case h.closed <- err:
	default:
	}
	return gnet.None
}

func (h *echoHandler) closeErr(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.closed:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("OnClose was not called")
		return nil
	}
}

// exchange writes msg and reads len(msg) bytes back.
func exchange(t *testing.T, c net.Conn, msg []byte) []byte {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestEcho(t *testing.T) {
	for _, network := range []string{"tcp", "tcp6", "unix"} {
		for _, r := range runners {
			t.Run(network+"/"+r.name, func(t *testing.T) {
				testutil.CheckFDs(t)
				if network == "tcp6" {
					if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
						t.Skipf("no IPv6 loopback: %v", err)
					} else {
						ln.Close()
					}
				}
				h := newEcho()
				s := serve(t, r, network, h)
				// The readiness probe's connection closes first.
				if err := h.closeErr(t); !errors.Is(err, io.EOF) {
					t.Errorf("OnClose after a clean peer close: %v, want io.EOF", err)
				}
				c := s.dial(t)
				for i, size := range []int{1, 64, 4096, 100000} {
					msg := bytes.Repeat([]byte{byte('a' + i)}, size)
					if got := exchange(t, c, msg); !bytes.Equal(got, msg) {
						t.Fatalf("echo of %d bytes differs", size)
					}
				}
				c.Close()
				if err := h.closeErr(t); !errors.Is(err, io.EOF) {
					t.Errorf("OnClose after a clean peer close: %v, want io.EOF", err)
				}
				s.shutdown(t)
			})
		}
	}
}

// closeHandler answers once and closes from OnTraffic.
type closeHandler struct {
	echoHandler
}

func (h *closeHandler) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(append([]byte("bye:"), b...))
	return gnet.Close
}

func TestCloseFromOnTraffic(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &closeHandler{*newEcho()}
			s := serve(t, r, "tcp", h)
			h.closeErr(t)
			c := s.dial(t)
			c.Write([]byte("hi"))
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "bye:hi" {
				t.Errorf("got %q, want %q then EOF", got, "bye:hi")
			}
			if err := h.closeErr(t); err != nil {
				t.Errorf("OnClose after Close action: %v, want nil", err)
			}
		})
	}
}

// asyncHandler writes from another goroutine.
type asyncHandler struct {
	gnet.BuiltinEventEngine
	wg      sync.WaitGroup
	cbErr   chan error
	started atomic.Int32
}

func (h *asyncHandler) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	msg := append([]byte("async:"), b...)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		err := c.AsyncWrite(msg, func(c gnet.Conn, err error) error {
			h.cbErr <- err
			return nil
		})
		if err != nil {
			h.cbErr <- err
		}
	}()
	return gnet.None
}

func TestAsyncWrite(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &asyncHandler{cbErr: make(chan error, 16)}
			s := serve(t, r, "tcp", h)
			c := s.dial(t)
			for _, m := range []string{"one", "two", "three"} {
				c.Write([]byte(m))
				want := "async:" + m
				got := make([]byte, len(want))
				if _, err := io.ReadFull(c, got); err != nil {
					t.Fatal(err)
				}
				if string(got) != want {
					t.Fatalf("got %q, want %q", got, want)
				}
				if err := <-h.cbErr; err != nil {
					t.Errorf("AsyncWrite callback: %v", err)
				}
			}
			h.wg.Wait()
		})
	}
}

// shutdownHandler shuts the engine down on the first bytes.
type shutdownHandler struct {
	echoHandler
	shutdowns atomic.Int32
}

func (h *shutdownHandler) OnTraffic(c gnet.Conn) gnet.Action { return gnet.Shutdown }
func (h *shutdownHandler) OnShutdown(gnet.Engine)            { h.shutdowns.Add(1) }

func TestShutdownAction(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &shutdownHandler{echoHandler: *newEcho()}
			s := serve(t, r, "tcp", h)
			h.closeErr(t)
			c := s.dial(t)
			c.Write([]byte("stop"))
			s.wait(t) // Run returns nil by itself
			if n := h.shutdowns.Load(); n != 1 {
				t.Errorf("OnShutdown called %d times, want 1", n)
			}
			if err := h.closeErr(t); err != nil {
				t.Errorf("OnClose at shutdown: %v, want nil", err)
			}
			if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("reading after shutdown: %v", err)
			}
		})
	}
}

// frameHandler echoes length-prefixed frames and leaves partial ones
// buffered, using Peek, InboundBuffered and Next.
type frameHandler struct {
	gnet.BuiltinEventEngine
	partial atomic.Int32 // times OnTraffic returned with a partial frame
}

func (h *frameHandler) OnTraffic(c gnet.Conn) gnet.Action {
	for {
		hdr, err := c.Peek(4)
		if err != nil {
			h.partial.Add(1)
			return gnet.None
		}
		n := int(binary.BigEndian.Uint32(hdr))
		if c.InboundBuffered() < 4+n {
			h.partial.Add(1)
			return gnet.None
		}
		c.Discard(4)
		body, err := c.Next(n)
		if err != nil {
			panic(err)
		}
		c.Write(hdr[:0:0])
		c.Write(body)
	}
}

func TestPartialFrames(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &frameHandler{}
			s := serve(t, r, "tcp", h)
			c := s.dial(t)
			c.(*net.TCPConn).SetNoDelay(true)
			var stream, want []byte
			for i := range 50 {
				body := bytes.Repeat([]byte{byte(i)}, 1+i*37)
				stream = binary.BigEndian.AppendUint32(stream, uint32(len(body)))
				stream = append(stream, body...)
				want = append(want, body...)
			}
			done := make(chan error, 1)
			go func() {
				// Odd-sized pieces with pauses, so frames split across reads.
				for p := stream; len(p) > 0; {
					n := min(len(p), 97)
					if _, err := c.Write(p[:n]); err != nil {
						done <- err
						return
					}
					p = p[n:]
					time.Sleep(200 * time.Microsecond)
				}
				done <- nil
			}()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("frames echoed wrong")
			}
			if h.partial.Load() == 0 {
				t.Error("no OnTraffic saw a partial frame; the test did not exercise unconsumed bytes")
			}
		})
	}
}

// tickHandler counts ticks and shuts down after a few.
type tickHandler struct {
	gnet.BuiltinEventEngine
	ticks atomic.Int32
}

func (h *tickHandler) OnTick() (time.Duration, gnet.Action) {
	if h.ticks.Add(1) >= 5 {
		return time.Hour, gnet.Shutdown
	}
	return 10 * time.Millisecond, gnet.None
}

func TestOnTick(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &tickHandler{}
			s := serve(t, r, "tcp", h, gnet.WithTicker(true))
			s.wait(t)
			if n := h.ticks.Load(); n < 5 {
				t.Errorf("%d ticks before shutdown, want 5", n)
			}
		})
	}
}

// welcomeHandler greets in OnOpen and echoes afterwards.
type welcomeHandler struct{ echoHandler }

func (h *welcomeHandler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	return []byte("welcome " + c.RemoteAddr().String() + "\n"), gnet.None
}

func TestOnOpenReply(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &welcomeHandler{*newEcho()}
			s := serve(t, r, "tcp", h)
			c := s.dial(t)
			want := "welcome " + c.LocalAddr().String() + "\n"
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Errorf("got %q, want %q", got, want)
			}
			if got := exchange(t, c, []byte("ping")); string(got) != "ping" {
				t.Errorf("echo after welcome: %q", got)
			}
		})
	}
}

func TestOnCloseReset(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := newEcho()
			s := serve(t, r, "tcp", h)
			h.closeErr(t)
			c := s.dial(t)
			exchange(t, c, []byte("x"))
			c.(*net.TCPConn).SetLinger(0) // close sends RST
			c.Close()
			err := h.closeErr(t)
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("OnClose after a reset: %v, want ECONNRESET", err)
			}
			if err != nil && !strings.Contains(err.Error(), "read") {
				t.Errorf("OnClose error %q does not name the read, as gnet's does", err)
			}
		})
	}
}
