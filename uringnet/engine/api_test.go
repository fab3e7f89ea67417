package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/testutil"
)

// sideBySide is gnet and this engine with every feature: for behaviour
// that does not depend on how a loop receives.
var sideBySide = runners[:2]

// TestEpollOnlyOptions: every option gnet accepts on a stream address is
// accepted, the epoll-only ones as hints without effect: the engine
// serves as gnet does.
func TestEpollOnlyOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  gnet.Option
	}{
		{"edge-triggered", gnet.WithEdgeTriggeredIO(true)},
		{"edge-triggered-chunk", gnet.WithEdgeTriggeredIOChunk(1 << 16)},
		{"multicast-index", gnet.WithMulticastInterfaceIndex(1)},
	} {
		for _, network := range []string{"tcp", "unix"} {
			for _, r := range sideBySide {
				t.Run(tc.name+"/"+network+"/"+r.name, func(t *testing.T) {
					testutil.CheckFDs(t)
					s := serve(t, r, network, newEcho(), tc.opt)
					c := s.dial(t)
					msg := bytes.Repeat([]byte("et"), 50000)
					if got := exchange(t, c, msg); !bytes.Equal(got, msg) {
						t.Fatal("echo differs")
					}
					c.Close()
					s.shutdown(t)
				})
			}
		}
	}
}

// selfDialTick's first OnTick blocks until it is given its own server's
// address, then dials it and waits for the echo: with OnTick on an event
// loop, the loop that would answer is the one waiting.
type selfDialTick struct {
	echoHandler
	addr   chan string
	result chan error
	ticks  atomic.Int32
}

func (h *selfDialTick) OnTick() (time.Duration, gnet.Action) {
	if h.ticks.Add(1) > 1 {
		return time.Hour, gnet.None
	}
	h.result <- func() error {
		c, err := net.Dial("tcp", <-h.addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		msg := []byte("from OnTick")
		if _, err := c.Write(msg); err != nil {
			return err
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("echo %q", got)
		}
		return nil
	}()
	return time.Hour, gnet.None
}

// TestOnTickOwnGoroutine: OnTick runs on a goroutine of its own, as in
// gnet: while it blocks, every loop serves traffic, and an OnTick that
// waits for its own server's reply gets it.
func TestOnTickOwnGoroutine(t *testing.T) {
	for _, r := range sideBySide {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &selfDialTick{echoHandler: *newEcho(), addr: make(chan string), result: make(chan error, 1)}
			s := serve(t, r, "tcp", h, gnet.WithTicker(true), gnet.WithNumEventLoop(1))
			// OnTick fires at once and is now blocked in the receive
			// from h.addr; the only loop must still serve.
			c := s.dial(t)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if got := exchange(t, c, []byte("while OnTick blocks")); string(got) != "while OnTick blocks" {
				t.Fatalf("echo %q", got)
			}
			h.addr <- s.addr
			select {
			case err := <-h.result:
				if err != nil {
					t.Fatalf("OnTick's own exchange: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("OnTick's exchange with its own server never completed")
			}
			c.Close()
			s.shutdown(t)
		})
	}
}

// engineAPI is what gnet.Engine and *Engine have in common.
type engineAPI interface {
	Register(context.Context) (<-chan gnet.RegisteredResult, error)
	CountConnections() int
	Dup() (int, error)
	DupListener(network, addr string) (int, error)
	Stop(context.Context) error
	Validate() error
}

var (
	_ engineAPI = gnet.Engine{}
	_ engineAPI = (*Engine)(nil)
)

// client is a handler that keeps its engine from OnBoot on (gnet's, or
// this package's through Of: the one-line change) and reports what its
// connections receive.
type client struct {
	gnet.BuiltinEventEngine
	isGnet bool
	eng    engineAPI
	booted chan struct{}
	first  sync.Once
	open1  chan struct{} // closed by the first OnOpen
	opened atomic.Int32
	closed atomic.Int32
	ctxs   chan any // each OnOpen's Conn.Context
	got    chan string
}

func newClient(r runner) *client {
	return &client{isGnet: r.name == "gnet", booted: make(chan struct{}), open1: make(chan struct{}), ctxs: make(chan any, 16), got: make(chan string, 16)}
}

func (h *client) OnBoot(eng gnet.Engine) gnet.Action {
	if h.isGnet {
		h.eng = eng
	} else {
		h.eng = Of(h)
	}
	close(h.booted)
	return gnet.None
}

func (h *client) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	h.opened.Add(1)
	h.first.Do(func() { close(h.open1) })
	if c.Context() != nil {
		h.ctxs <- c.Context()
	}
	return nil, gnet.None
}

func (h *client) OnClose(gnet.Conn, error) gnet.Action {
	h.closed.Add(1)
	return gnet.None
}

func (h *client) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	h.got <- string(b)
	return gnet.None
}

// echoPeer is a plain net echo server for the engine to dial.
func echoPeer(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// A read-write loop: io.Copy would splice through pipes
				// that net keeps pooled, which the fd check counts.
				defer c.Close()
				b := make([]byte, 4096)
				for {
					n, err := c.Read(b)
					if n > 0 {
						c.Write(b[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln
}

// TestEngineOfRegisterEnroll: from OnBoot on a handler has its engine
// (Of here, OnBoot's argument in gnet) and through it, or a Conn's
// EventLoop, serves connections it dials (Register) or adopts (Enroll):
// OnOpen runs, with the Context gnet.NewContext put in ctx, before the
// result arrives, and the connection then carries traffic both ways.
func TestEngineOfRegisterEnroll(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			peer := echoPeer(t)
			h := newClient(r)
			s := serve(t, r, "tcp", h, gnet.WithNumEventLoop(2), gnet.WithLoadBalancing(gnet.LeastConnections))
			<-h.booted
			// gnet's Engine.Register reads the loops its start goroutine
			// wrote without synchronisation: the readiness probe's
			// OnOpen, on a loop, orders them before Register for the
			// race detector.
			<-h.open1
			if h.eng == nil {
				t.Fatal("no engine from OnBoot")
			}
			if err := h.eng.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			result := func(name string, ch <-chan gnet.RegisteredResult, err error) gnet.Conn {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				select {
				case res, ok := <-ch:
					if !ok || res.Err != nil || res.Conn == nil {
						t.Fatalf("%s: result %+v (%v)", name, res, ok)
					}
					if _, ok := <-ch; ok {
						t.Fatalf("%s: a second result", name)
					}
					return res.Conn
				case <-ctx.Done():
					t.Fatalf("%s: no result", name)
				}
				return nil
			}
			roundTrip := func(name string, c gnet.Conn, want any) {
				t.Helper()
				select {
				case got := <-h.ctxs:
					if got != want {
						t.Errorf("%s: OnOpen saw Context %v, want %v", name, got, want)
					}
				default:
					t.Errorf("%s: OnOpen had not run with the Context when the result came", name)
				}
				msg := name + " round trip"
				if err := c.AsyncWrite([]byte(msg), nil); err != nil {
					t.Fatalf("%s: AsyncWrite: %v", name, err)
				}
				var got string
				for len(got) < len(msg) {
					select {
					case b := <-h.got:
						got += b
					case <-ctx.Done():
						t.Fatalf("%s: echo never arrived (%q so far)", name, got)
					}
				}
				if got != msg {
					t.Fatalf("%s: got %q", name, got)
				}
			}
			addr := peer.Addr()

			ch, err := h.eng.Register(gnet.NewContext(gnet.NewNetAddrContext(ctx, addr), "by-addr"))
			c1 := result("Engine.Register(addr)", ch, err)
			roundTrip("Engine.Register(addr)", c1, "by-addr")
			if got := c1.RemoteAddr().String(); got != addr.String() {
				t.Errorf("RemoteAddr = %s, want %s", got, addr)
			}

			nc, err := net.Dial("tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			ch, err = h.eng.Register(gnet.NewContext(gnet.NewNetConnContext(ctx, nc), "by-conn"))
			c2 := result("Engine.Register(conn)", ch, err)
			roundTrip("Engine.Register(conn)", c2, "by-conn")
			if got, want := c2.LocalAddr().String(), nc.LocalAddr().String(); got != want {
				t.Errorf("LocalAddr = %s, want %s", got, want)
			}

			ch, err = c1.EventLoop().Register(gnet.NewContext(ctx, "loop-addr"), addr)
			roundTrip("EventLoop.Register", result("EventLoop.Register", ch, err), "loop-addr")
			nc2, err := net.Dial("tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			ch, err = c1.EventLoop().Enroll(gnet.NewContext(ctx, "loop-conn"), nc2)
			roundTrip("EventLoop.Enroll", result("EventLoop.Enroll", ch, err), "loop-conn")

			if _, err := h.eng.Register(ctx); !errors.Is(err, errorx.ErrInvalidNetworkAddress) {
				t.Errorf("Register without an address: %v, want ErrInvalidNetworkAddress", err)
			}
			if n := h.eng.CountConnections(); n < 4 {
				t.Errorf("CountConnections = %d, want at least the 4 registered", n)
			}
			opened := h.opened.Load()
			if err := h.eng.Stop(ctx); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			s.wait(t)
			if c := h.closed.Load(); c != opened {
				t.Errorf("%d OnClose for %d OnOpen", c, opened)
			}
			if err := h.eng.Validate(); err == nil {
				t.Error("Validate after Stop: nil")
			}
		})
	}
}

// TestEngineDupListener: DupListener finds the listener by the network
// and address as given, as gnet's does, and Dup gives the same socket.
func TestEngineDupListener(t *testing.T) {
	for _, r := range sideBySide {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := newClient(r)
			s := serve(t, r, "tcp", h)
			<-h.booted
			port := func(fd int, err error) int {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				defer unix.Close(fd)
				sa, err := unix.Getsockname(fd)
				if err != nil {
					t.Fatal(err)
				}
				return sa.(*unix.SockaddrInet4).Port
			}
			want := s.dial(t).RemoteAddr().(*net.TCPAddr).Port
			// gnet leaks a connection its main reactor accepted and has
			// not yet handed to a loop when it shuts down.
			waitFor(t, "OnOpen of the dialled conn", func() bool { return h.opened.Load() == 2 })
			if got := port(h.eng.DupListener("tcp", s.addr)); got != want {
				t.Errorf("DupListener: port %d, want %d", got, want)
			}
			if got := port(h.eng.Dup()); got != want {
				t.Errorf("Dup: port %d, want %d", got, want)
			}
			if _, err := h.eng.DupListener("tcp", "127.0.0.1:1"); !errors.Is(err, errorx.ErrInvalidNetworkAddress) {
				t.Errorf("DupListener of another address: %v", err)
			}
		})
	}
}

// TestOf: Of finds the engine by its handler from OnBoot until it has
// shut down, and nothing for other handlers.
func TestOf(t *testing.T) {
	testutil.CheckFDs(t)
	h := newClient(sideBySide[1])
	if Of(h) != nil {
		t.Fatal("Of before Start")
	}
	e, err := Start(h, "tcp://127.0.0.1:0", gnet.WithLogger(quietLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	if h.eng != e || Of(h) != e {
		t.Errorf("Of in OnBoot = %p, after = %p; Start returned %p", h.eng, Of(h), e)
	}
	if Of(newClient(sideBySide[1])) != nil || Of(&gnet.BuiltinEventEngine{}) != nil {
		t.Error("Of finds an engine for a handler never started")
	}
	if err := e.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if Of(h) != nil {
		t.Error("Of after shutdown")
	}
}

// TestRotate: one engine on several addresses, tcp and unix, as
// gnet.Rotate: each echoes, Stop by any address ends it, DupListener
// finds each listener and Dup refuses to choose.
func TestRotate(t *testing.T) {
	type rotator struct {
		name   string
		rotate func(gnet.EventHandler, []string, ...gnet.Option) error
		stop   func(context.Context, string) error
	}
	rs := []rotator{{"gnet", gnet.Rotate, gnet.Stop}}
	for _, m := range modes {
		rs = append(rs, rotator{"uring" + m.suffix(), func(h gnet.EventHandler, addrs []string, opts ...gnet.Option) error {
			e, err := startAddrs(h, addrs, m.cfg(defaultConfig), opts...)
			if err != nil {
				return err
			}
			return e.Wait()
		}, Stop})
	}
	for _, r := range rs {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := newClient(runner{name: r.name})
			tcp1 := "127.0.0.1:" + strconv.Itoa(freePort(t))
			tcp2 := "127.0.0.1:" + strconv.Itoa(freePort(t))
			sock := filepath.Join(t.TempDir(), "s")
			addrs := []string{"tcp://" + tcp1, "tcp://" + tcp2, "unix://" + sock}
			errc := make(chan error, 1)
			go func() {
				errc <- r.rotate(&echoClient{h}, addrs, gnet.WithLogger(quietLogger{}), gnet.WithNumEventLoop(2))
			}()
			waitBoot(t, h.booted, errc)
			for _, a := range []struct{ network, addr string }{{"tcp", tcp1}, {"tcp", tcp2}, {"unix", sock}} {
				var c net.Conn
				var err error
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
					if c, err = net.Dial(a.network, a.addr); err == nil || time.Now().After(deadline) {
						break
					}
				}
				if err != nil {
					t.Fatalf("dial %s: %v", a.addr, err)
				}
				c.SetDeadline(time.Now().Add(20 * time.Second))
				msg := []byte("rotate " + a.addr)
				if got := exchange(t, c, msg); !bytes.Equal(got, msg) {
					t.Errorf("%s: echo %q", a.addr, got)
				}
				c.Close()
				fd, err := h.eng.DupListener(a.network, a.addr)
				if err != nil {
					t.Errorf("DupListener(%s, %s): %v", a.network, a.addr, err)
				} else {
					unix.Close(fd)
				}
			}
			if _, err := h.eng.Dup(); !errors.Is(err, errorx.ErrUnsupportedOp) {
				t.Errorf("Dup with several listeners: %v, want ErrUnsupportedOp", err)
			}
			// Every connection opened and closed before the stop: gnet
			// leaks one it has not yet handed to a loop.
			waitFor(t, "OnClose of every conn", func() bool { return h.closed.Load() == 3 })
			// Stopped by the second address.
			(&running{protoAddr: addrs[1], errc: errc, r: runner{name: r.name, stop: r.stop}}).shutdown(t)
		})
	}
}

// echoClient is client that echoes.
type echoClient struct{ *client }

func (h *echoClient) OnBoot(eng gnet.Engine) gnet.Action {
	if h.isGnet {
		h.eng = eng
	} else {
		h.eng = Of(h)
	}
	close(h.booted)
	return gnet.None
}

func (h *echoClient) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return gnet.None
}

// recLogger records what is logged through it, by level.
type recLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *recLogger) add(level, f string, a ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, level+" "+fmt.Sprintf(f, a...))
	l.mu.Unlock()
}
func (l *recLogger) Debugf(f string, a ...any) { l.add("DEBUG", f, a...) }
func (l *recLogger) Infof(f string, a ...any)  { l.add("INFO", f, a...) }
func (l *recLogger) Warnf(f string, a ...any)  { l.add("WARN", f, a...) }
func (l *recLogger) Errorf(f string, a ...any) { l.add("ERROR", f, a...) }
func (l *recLogger) Fatalf(f string, a ...any) { l.add("FATAL", f, a...) }

func (l *recLogger) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// runAndStop starts h on a free port with opts and stops it.
func runAndStop(t *testing.T, r runner, opts ...gnet.Option) string {
	t.Helper()
	addr := "tcp://127.0.0.1:" + strconv.Itoa(freePort(t))
	errc := make(chan error, 1)
	h := newClient(r)
	go func() { errc <- r.run(h, addr, opts...) }()
	waitBoot(t, h.booted, errc)
	(&running{protoAddr: addr, errc: errc, r: r}).shutdown(t)
	return addr
}

// TestLogging: gnet's logging options work as in gnet: WithLogger gets
// the launch line (info) and, at debug level, the shutdown's; WithLogPath
// writes them to the file at WithLogLevel, which filters them.
func TestLogging(t *testing.T) {
	for _, r := range sideBySide {
		t.Run(r.name+"/WithLogger", func(t *testing.T) {
			testutil.CheckFDs(t)
			lg := &recLogger{}
			addr := runAndStop(t, r, gnet.WithLogger(lg))
			text := lg.text()
			t.Logf("logged:\n%s", text)
			if !regexp.MustCompile(`(?m)^INFO .*aunch.*` + regexp.QuoteMeta(addr)).MatchString(text) {
				t.Errorf("no info line announcing the launch on %s", addr)
			}
			if !regexp.MustCompile(`(?m)^DEBUG .*exiting`).MatchString(text) {
				t.Errorf("no debug line for the shutdown")
			}
		})
		for _, tc := range []struct {
			level       logging.Level
			start, stop bool
		}{
			{logging.DebugLevel, true, true},
			{logging.InfoLevel, true, false},
			{logging.ErrorLevel, false, false},
		} {
			t.Run(r.name+"/WithLogPath/"+tc.level.String(), func(t *testing.T) {
				// The log file stays open for good: gnet's logging
				// package cannot close it (so no fd check here).
				path := filepath.Join(t.TempDir(), "engine.log")
				addr := runAndStop(t, r, gnet.WithLogPath(path), gnet.WithLogLevel(tc.level))
				b, err := os.ReadFile(path)
				if err != nil && !(errors.Is(err, os.ErrNotExist) && !tc.start) {
					t.Fatalf("the log file: %v", err)
				}
				text := string(b)
				t.Logf("%s:\n%s", path, text)
				if got := regexp.MustCompile(`INFO.*aunch.*` + regexp.QuoteMeta(addr)).MatchString(text); got != tc.start {
					t.Errorf("launch line logged: %v, want %v", got, tc.start)
				}
				if got := regexp.MustCompile(`DEBUG.*exiting`).MatchString(text); got != tc.stop {
					t.Errorf("shutdown line logged: %v, want %v", got, tc.stop)
				}
			})
		}
	}
}

// TestErrorsNamePackage: the engine's own errors name the public package
// and say what to do (gnet's sentinel errors stay gnet's, for errors.Is).
func TestErrorsNamePackage(t *testing.T) {
	h := newEcho()
	for _, tc := range []struct {
		name string
		run  func() error
		hint string
	}{
		{"nil handler", func() error { return Run(nil, "tcp://127.0.0.1:0") }, "pass the handler"},
		{"negative loops", func() error { return Run(h, "tcp://127.0.0.1:0", gnet.WithNumEventLoop(-1)) }, "pass 0"},
		{"huge read cap", func() error { return Run(h, "tcp://127.0.0.1:0", gnet.WithReadBufferCap(1<<31)) }, "pass at most"},
		{"negative socket buffer", func() error { return Run(h, "tcp://127.0.0.1:0", gnet.WithSocketRecvBuffer(-1)) }, "pass 0"},
		{"bad load balancing", func() error { return Run(h, "tcp://127.0.0.1:0", gnet.WithLoadBalancing(99)) }, "use gnet.RoundRobin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			err := tc.run()
			if err == nil {
				t.Fatal("no error")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "uringnet/engine: ") || !strings.Contains(msg, tc.hint) {
				t.Errorf("%q: want the prefix uringnet/engine: and the hint %q", msg, tc.hint)
			}
		})
	}
}
