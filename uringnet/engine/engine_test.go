package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"golang.org/x/sys/unix"

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

// wakeHandler exercises the concurrency-safe Conn methods: a goroutine
// started in OnTraffic calls Wake, AsyncWritev and finally
// CloseWithCallback, each callback reporting on the loop.
type wakeHandler struct {
	gnet.BuiltinEventEngine
	wg     sync.WaitGroup
	events chan string
}

func (h *wakeHandler) OnTraffic(c gnet.Conn) gnet.Action {
	if c.InboundBuffered() == 0 {
		h.events <- "woken"
		return gnet.None
	}
	b, _ := c.Next(-1)
	cmd := string(b)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		cb := func(what string) gnet.AsyncCallback {
			return func(_ gnet.Conn, err error) error {
				h.events <- fmt.Sprintf("%s:%v", what, err)
				return nil
			}
		}
		var err error
		switch cmd {
		case "wake":
			err = c.Wake(cb("wake"))
		case "writev":
			err = c.AsyncWritev([][]byte{[]byte("a"), []byte("bc"), []byte("def")}, cb("writev"))
		case "close":
			err = c.CloseWithCallback(cb("close"))
		}
		if err != nil {
			h.events <- "error:" + err.Error()
		}
	}()
	return gnet.None
}

func TestWakeWritevCloseWithCallback(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &wakeHandler{events: make(chan string, 16)}
			s := serve(t, r, "tcp", h)
			c := s.dial(t)
			next := func() string {
				select {
				case e := <-h.events:
					return e
				case <-time.After(10 * time.Second):
					t.Fatal("no event")
					return ""
				}
			}
			c.Write([]byte("wake"))
			if a, b := next(), next(); a != "woken" || b != "wake:<nil>" {
				t.Errorf("Wake: events %q, %q", a, b)
			}
			c.Write([]byte("writev"))
			got := make([]byte, 6)
			if _, err := io.ReadFull(c, got); err != nil || string(got) != "abcdef" {
				t.Errorf("AsyncWritev: %q, %v", got, err)
			}
			if e := next(); e != "writev:<nil>" {
				t.Errorf("AsyncWritev callback: %q", e)
			}
			c.Write([]byte("close"))
			if e := next(); e != "close:<nil>" {
				t.Errorf("CloseWithCallback callback: %q", e)
			}
			if n, err := c.Read(got); err != io.EOF {
				t.Errorf("read after CloseWithCallback: %d, %v; want EOF", n, err)
			}
			h.wg.Wait()
		})
	}
}

// loopHandler records which event loop each connection landed on.
type loopHandler struct {
	echoHandler
	mu    sync.Mutex
	loops map[gnet.EventLoop]int
}

func (h *loopHandler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	h.mu.Lock()
	h.loops[c.EventLoop()]++
	h.mu.Unlock()
	return nil, gnet.None
}

func TestLoadBalancing(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []gnet.Option
	}{
		{"round-robin", []gnet.Option{gnet.WithLoadBalancing(gnet.RoundRobin)}},
		{"least-connections", []gnet.Option{gnet.WithLoadBalancing(gnet.LeastConnections)}},
		{"source-addr-hash", []gnet.Option{gnet.WithLoadBalancing(gnet.SourceAddrHash)}},
		{"reuse-port", []gnet.Option{gnet.WithReusePort(true), gnet.WithReuseAddr(true)}},
		{"multicore-locked", []gnet.Option{gnet.WithMulticore(true), gnet.WithLockOSThread(true)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &loopHandler{echoHandler: *newEcho(), loops: map[gnet.EventLoop]int{}}
			opts := append([]gnet.Option{gnet.WithNumEventLoop(4), gnet.WithTCPKeepAlive(time.Minute),
				gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithSocketRecvBuffer(1 << 16), gnet.WithSocketSendBuffer(1 << 16)}, tc.opts...)
			if tc.name == "multicore-locked" {
				opts = tc.opts
			}
			e, addr := startOwn(t, h, defaultConfig, opts...)
			var cs []net.Conn
			for i := range 40 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				msg := []byte{byte(i)}
				if got := exchange(t, c, msg); got[0] != byte(i) {
					t.Fatal("echo differs")
				}
				cs = append(cs, c)
			}
			if n := e.CountConnections(); n != 40 {
				t.Errorf("CountConnections = %d, want 40", n)
			}
			h.mu.Lock()
			used := len(h.loops)
			h.mu.Unlock()
			t.Logf("%d loops used: %v", used, h.loops)
			switch tc.name {
			case "round-robin", "least-connections":
				if used != e.NumEventLoop() {
					t.Errorf("%d of %d loops used", used, e.NumEventLoop())
				}
			}
		})
	}
}

func TestEngineHandle(t *testing.T) {
	testutil.CheckFDs(t)
	h := newEcho()
	addr := "tcp://127.0.0.1:" + strconv.Itoa(freePort(t))
	e, err := Start(h, addr, gnet.WithLogger(quietLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := Lookup(addr); !ok || got != e {
		t.Fatal("Lookup does not find the running engine")
	}
	fd, err := e.Dup()
	if err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	unix.Close(fd)
	if err != nil || sa.(*unix.SockaddrInet4).Port != e.Addr().(*net.TCPAddr).Port {
		t.Errorf("Dup'd listener: %v, %v; Addr %v", sa, err, e.Addr())
	}
	c, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, c, []byte("x"))
	if n := e.CountConnections(); n != 1 {
		t.Errorf("CountConnections = %d, want 1", n)
	}
	if err := Stop(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := e.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := e.CountConnections(); n != -1 {
		t.Errorf("CountConnections after shutdown = %d, want -1", n)
	}
	if err := e.Stop(context.Background()); !errors.Is(err, errorx.ErrEngineInShutdown) {
		t.Errorf("second Stop: %v", err)
	}
	if err := Stop(context.Background(), addr); !errors.Is(err, errorx.ErrEngineInShutdown) {
		t.Errorf("Stop of a stopped address: %v", err)
	}
	if _, ok := Lookup(addr); ok {
		t.Error("Lookup finds a stopped engine")
	}
}

// bootShutdown returns Shutdown from OnBoot.
type bootShutdown struct{ gnet.BuiltinEventEngine }

func (bootShutdown) OnBoot(gnet.Engine) gnet.Action { return gnet.Shutdown }

func TestOnBootShutdown(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			addr := "tcp://127.0.0.1:" + strconv.Itoa(freePort(t))
			if err := r.run(&bootShutdown{}, addr, gnet.WithLogger(quietLogger{})); err != nil {
				t.Errorf("Run: %v, want nil", err)
			}
		})
	}
}
