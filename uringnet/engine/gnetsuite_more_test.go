package engine

// More of our answers to gnet's test suite (see gnetsuite_test.go): the
// edge-triggered cases, OnTick on its own goroutine, the OnBoot handle
// (Of), Register and Enroll, each a behaviour engine.Run once lacked.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"golang.org/x/sys/unix"
)

// TestGnetServerEdgeTriggered answers the poll-ET, poll-ET-chunk and
// poll-reuseport-ET cases of gnet's TestServer on tcp and unix (udp is
// TestGnetServerEdgeTriggeredUDP): every option gnet accepts is accepted,
// the edge-triggered ones as hints (Run once rejected them on tcp and
// unix).
func TestGnetServerEdgeTriggered(t *testing.T) {
	for _, r := range suiteRunners {
		for _, et := range []struct {
			name string
			opts []gnet.Option
		}{
			{"ET", []gnet.Option{gnet.WithEdgeTriggeredIO(true)}},
			{"ET-chunk", []gnet.Option{gnet.WithEdgeTriggeredIO(true), gnet.WithEdgeTriggeredIOChunk(1 << 18)}},
		} {
			for _, network := range []string{"tcp", "unix"} {
				for _, multicore := range []bool{false, true} {
					t.Run(r.name+"/"+et.name+"/"+network+"/"+strconv.FormatBool(multicore), func(t *testing.T) {
						testEdgeTriggered(t, r, network, multicore, et.opts...)
					})
				}
			}
		}
	}
}

// TestGnetSimServerEdgeTriggered answers gnet's TestSimServer cases with
// edge-triggered I/O (Run once rejected WithEdgeTriggeredIO).
func TestGnetSimServerEdgeTriggered(t *testing.T) {
	for _, r := range suiteRunners {
		for i, sc := range simCases {
			if i%2 != 0 {
				continue // gnet runs its even cases edge-triggered
			}
			t.Run(r.name+"/"+sc.name(), func(t *testing.T) { testSimServer(t, r, sc, gnet.WithEdgeTriggeredIO(true)) })
		}
	}
}

// TestGnetClientEdgeTriggered answers the poll-ET, poll-ET-chunk and
// poll-reuseport-ET cases of gnet's TestClient (Run once rejected the
// edge-triggered options).
func TestGnetClientEdgeTriggered(t *testing.T) {
	for _, r := range suiteRunners {
		for _, network := range []string{"tcp", "unix"} {
			for _, chunk := range []int{0, 1 << 18} {
				t.Run(r.name+"/"+network+"/chunk="+strconv.Itoa(chunk), func(t *testing.T) {
					testGnetClient(t, r, network, false, true, false,
						gnet.WithEdgeTriggeredIO(true), gnet.WithEdgeTriggeredIOChunk(chunk))
				})
			}
		}
	}
}

// TestGnetServerBigMessages answers gnet's TestServer and TestClient with
// their 1 MiB stream messages, each written whole before its echo is
// read: the server must go on reading while its replies queue, as gnet
// does, whatever WithWriteBufferCap says (the write cap was once a
// backpressure threshold that stops reading, so over unix sockets, whose
// buffers are small, client and server both block).
func TestGnetServerBigMessages(t *testing.T) {
	for _, r := range suiteRunners {
		for _, network := range []string{"unix", "tcp"} {
			for _, async := range []bool{false, true} {
				t.Run(r.name+"/"+network+"/async="+strconv.FormatBool(async), func(t *testing.T) {
					h := &serverHandler{t: t, async: async}
					protoAddr, _ := suiteAddr(t, network)
					l := launch(t, r, protoAddr, h, gnet.WithTicker(true))
					var wg sync.WaitGroup
					for range 4 {
						wg.Go(func() { bigEcho(t, l, 1<<20, 3) })
					}
					wg.Wait()
					h.stop.Store(true)
					l.mustEnd(t)
				})
			}
		}
	}
}

// bigEcho sends rounds messages of size bytes, each whole before reading
// its echo, within 15 s.
func bigEcho(t *testing.T, l *launched, size, rounds int) {
	c, err := net.Dial(l.network, l.addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, len(greeting))); err != nil {
		t.Errorf("greeting: %v", err)
		return
	}
	for range rounds {
		req := randBytes(size)
		if _, err := c.Write(req); err != nil {
			t.Errorf("writing %d bytes before reading: %v", size, err)
			return
		}
		got := make([]byte, size)
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, req) {
			t.Errorf("echo of %d bytes: %v", size, err)
			return
		}
	}
}

// gsBlockingTick blocks in OnTick until the test has had an echo from the
// engine, as gnet's TestWakeConn blocks in OnTick on its OnOpen.
type gsBlockingTick struct {
	gnet.BuiltinEventEngine
	echoed chan struct{}
	ticked chan error
	once   sync.Once
}

func (h *gsBlockingTick) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return gnet.None
}

func (h *gsBlockingTick) OnTick() (time.Duration, gnet.Action) {
	h.once.Do(func() {
		select {
		case <-h.echoed:
			h.ticked <- nil
		case <-time.After(5 * time.Second):
			h.ticked <- errors.New("OnTick blocked the connection's loop: no echo while it waited")
		}
	})
	return 10 * time.Millisecond, gnet.None
}

// TestGnetTickOwnGoroutine answers what gnet's TestWakeConn and others
// rely on: OnTick runs on a goroutine of its own, so while it blocks the
// loops go on serving (OnTick once ran on event loop 0).
func TestGnetTickOwnGoroutine(t *testing.T) {
	for _, r := range suiteRunners {
		t.Run(r.name, func(t *testing.T) {
			h := &gsBlockingTick{echoed: make(chan struct{}), ticked: make(chan error, 1)}
			protoAddr, _ := suiteAddr(t, "tcp")
			l := launch(t, r, protoAddr, h, gnet.WithTicker(true), gnet.WithNumEventLoop(1))
			c := l.dial(t)
			c.SetDeadline(time.Now().Add(3 * time.Second))
			c.Write([]byte("hello"))
			if _, err := io.ReadFull(c, make([]byte, 5)); err == nil {
				close(h.echoed)
			}
			if err := <-h.ticked; err != nil {
				t.Error(err)
			}
		})
	}
}

// gsBootOf reaches its engine with Of in OnBoot and dups the listener
// there, as gnet's TestServer dups it through OnBoot's Engine.
type gsBootOf struct {
	gnet.BuiltinEventEngine
	err   error
	conns int
}

func (h *gsBootOf) OnBoot(gnet.Engine) gnet.Action {
	e := Of(h)
	if e == nil {
		h.err = errors.New("Of in OnBoot found no engine")
		return gnet.None
	}
	fd, err := e.Dup()
	if err != nil {
		h.err = err
		return gnet.None
	}
	unix.Close(fd)
	h.conns = e.CountConnections()
	return gnet.None
}

// TestGnetBootHandle answers the Dup, DupListener and CountConnections
// calls gnet's tests make through OnBoot's Engine: a handler reaches its
// engine from OnBoot, with Of (the one documented OnBoot difference).
func TestGnetBootHandle(t *testing.T) {
	h := &gsBootOf{}
	protoAddr, _ := suiteAddr(t, "tcp")
	l := launch(t, suiteRunners[1], protoAddr, h)
	if h.err != nil {
		t.Error(h.err)
	}
	if h.conns != 0 {
		t.Errorf("CountConnections in OnBoot = %d, want 0", h.conns)
	}
	l.stopAndEnd(t)
}

// gsRegisterHandler is the server half of gnet's proxy tests: each
// accepted connection registers an outbound one to backend through its
// EventLoop (Register or Enroll), and the two are piped together.
type gsRegisterHandler struct {
	gnet.BuiltinEventEngine
	t       *testing.T
	listen  string // the engine's own address: conns with it are accepted ones
	backend net.Addr
	enroll  bool
	results chan gnet.RegisteredResult
}

func (h *gsRegisterHandler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if c.LocalAddr().String() != h.listen {
		// An outbound conn: its context is the accepted one.
		peer, ok := c.Context().(gnet.Conn)
		if !ok {
			h.t.Errorf("outbound conn's Context() = %T, want the accepted conn", c.Context())
			return nil, gnet.Close
		}
		peer.SetContext(c)
		return nil, gnet.None
	}
	el := c.EventLoop()
	if _, err := el.Register(context.Background(), nil); !errors.Is(err, errorx.ErrInvalidNetworkAddress) {
		h.t.Errorf("Register(nil) = %v, want ErrInvalidNetworkAddress", err)
	}
	if _, err := el.Enroll(context.Background(), nil); !errors.Is(err, errorx.ErrInvalidNetConn) {
		h.t.Errorf("Enroll(nil) = %v, want ErrInvalidNetConn", err)
	}
	ctx := gnet.NewContext(context.Background(), c)
	var ch <-chan gnet.RegisteredResult
	var err error
	if h.enroll {
		nc, derr := net.Dial(h.backend.Network(), h.backend.String())
		if derr != nil {
			h.t.Error(derr)
			return nil, gnet.Close
		}
		ch, err = el.Enroll(ctx, nc)
	} else {
		ch, err = el.Register(ctx, h.backend)
	}
	if err != nil {
		h.results <- gnet.RegisteredResult{Err: err}
		return nil, gnet.Close
	}
	go func() { h.results <- <-ch }()
	return nil, gnet.None
}

func (h *gsRegisterHandler) OnTraffic(c gnet.Conn) gnet.Action {
	peer, ok := c.Context().(gnet.Conn)
	if !ok || peer == c {
		return gnet.None // the outbound conn is not open yet; its OnOpen wakes nothing, so the client retries
	}
	if _, err := c.WriteTo(peer); err != nil {
		h.t.Errorf("pipe: %v", err)
	}
	return gnet.None
}

func (h *gsRegisterHandler) OnClose(c gnet.Conn, _ error) gnet.Action {
	if peer, ok := c.Context().(gnet.Conn); ok && peer != c {
		c.EventLoop().Close(peer)
	}
	return gnet.None
}

// TestGnetEventLoopRegister answers gnet's TestStreamProxyServer:
// EventLoop.Register and Enroll reject a nil address and a nil conn with
// gnet's errors, and open an outbound connection on the loop (a context
// given in the ctx, OnOpen, OnTraffic, Close) that pipes to an echo
// backend (Register and Enroll once returned ErrUnsupportedOp).
func TestGnetEventLoopRegister(t *testing.T) {
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	for _, r := range suiteRunners {
		for _, enroll := range []bool{false, true} {
			t.Run(r.name+"/enroll="+strconv.FormatBool(enroll), func(t *testing.T) {
				protoAddr, addr := suiteAddr(t, "tcp")
				h := &gsRegisterHandler{t: t, listen: addr, backend: backend.Addr(), enroll: enroll, results: make(chan gnet.RegisteredResult, 4)}
				l := launch(t, r, protoAddr, h, gnet.WithLoadBalancing(gnet.LeastConnections))
				c := l.dial(t)
				select {
				case res := <-h.results:
					if res.Err != nil || res.Conn == nil {
						t.Fatalf("registered: %v, %v", res.Conn, res.Err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("no registration result")
				}
				msg := []byte("through the proxy")
				got := make([]byte, len(msg))
				c.Write(msg)
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					t.Errorf("proxied echo = %q, %v", got, err)
				}
			})
		}
	}
}

// engineRegisterer is gnet's Engine.Register.
type engineRegisterer interface {
	Register(context.Context) (<-chan gnet.RegisteredResult, error)
}

// gsTicked closes ticked at the first OnTick (with WithTicker). gnet
// starts its ticker after it has registered its loops, which its
// Engine.Register reads without synchronisation: waiting for the tick
// orders them before Register for the race detector.
type gsTicked struct {
	once   sync.Once
	ticked chan struct{}
}

func (g *gsTicked) OnTick() (time.Duration, gnet.Action) {
	g.once.Do(func() { close(g.ticked) })
	return time.Hour, gnet.None
}

func (g *gsTicked) wait(t *testing.T) {
	t.Helper()
	select {
	case <-g.ticked:
	case <-time.After(10 * time.Second):
		t.Fatal("no OnTick")
	}
}

// gsUDPOutbound hands the test what arrives on a registered outbound
// conn, as gnet's TestUDPProxyServer pipes it back.
type gsUDPOutbound struct {
	gnet.BuiltinEventEngine
	gsTicked
	got chan []byte
}

func (h *gsUDPOutbound) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	select {
	case h.got <- bytes.Clone(b):
	default:
	}
	return gnet.None
}

// TestGnetEngineRegister answers gnet's TestUDPProxyServer and the
// engine-level checks of TestStreamProxyServer: Engine.Register with no
// address is ErrInvalidNetworkAddress, and with NewNetAddrContext or
// NewNetConnContext opens an outbound conn on a loop whose traffic reaches
// the handler (Engine once had no Register, and none on udp).
func TestGnetEngineRegister(t *testing.T) {
	for _, r := range suiteRunners {
		// The engine's network, then the backend's: gnet's
		// TestUDPProxyServer registers udp and tcp backends on a udp
		// engine.
		for _, nets := range [][2]string{{"udp", "udp"}, {"udp", "tcp"}, {"tcp", "tcp"}, {"tcp", "udp"}} {
			for _, viaConn := range []bool{false, true} {
				t.Run(r.name+"/"+nets[0]+"/"+nets[1]+"/netconn="+strconv.FormatBool(viaConn), func(t *testing.T) {
					testEngineRegister(t, r, nets[0], nets[1], viaConn)
				})
			}
		}
	}
}

func testEngineRegister(t *testing.T, r runner, network, backendNet string, viaConn bool) {
	h := &gsUDPOutbound{got: make(chan []byte, 1), gsTicked: gsTicked{ticked: make(chan struct{})}}
	protoAddr, _ := suiteAddr(t, network)
	l := launch(t, r, protoAddr, h, gnet.WithLoadBalancing(gnet.LeastConnections), gnet.WithTicker(true))
	h.wait(t)
	reg, ok := l.eng.(engineRegisterer)
	if !ok {
		t.Fatalf("%T has no Register method", l.eng)
	}
	_, regErr := reg.Register(context.Background())
	if !errors.Is(regErr, errorx.ErrInvalidNetworkAddress) {
		t.Errorf("Register with no address = %v, want ErrInvalidNetworkAddress", regErr)
	}
	// The backend sends a datagram (or a line) to whoever reaches it.
	var backendAddr net.Addr
	var send func() error
	if backendNet == "udp" {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		backendAddr = pc.LocalAddr()
		send = func() error {
			pc.SetDeadline(time.Now().Add(10 * time.Second))
			b := make([]byte, 64)
			_, from, err := pc.ReadFrom(b)
			if err != nil {
				return err
			}
			_, err = pc.WriteTo([]byte("from the backend"), from)
			return err
		}
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		backendAddr = ln.Addr()
		send = func() error {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Read(make([]byte, 64))
			_, err = c.Write([]byte("from the backend"))
			return err
		}
	}
	var ctx context.Context
	if viaConn {
		nc, err := net.Dial(backendAddr.Network(), backendAddr.String())
		if err != nil {
			t.Fatal(err)
		}
		ctx = gnet.NewNetConnContext(context.Background(), nc)
	} else {
		ctx = gnet.NewNetAddrContext(context.Background(), backendAddr)
	}
	ch, err := reg.Register(ctx)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	res := registered(t, ch)
	sent := make(chan error, 1)
	go func() { sent <- send() }()
	if err := res.Conn.AsyncWrite([]byte("hello"), nil); err != nil {
		t.Fatalf("AsyncWrite: %v", err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-h.got:
		if string(b) != "from the backend" {
			t.Errorf("got %q", b)
		}
	case <-time.After(10 * time.Second):
		t.Error("the backend's reply never reached OnTraffic")
	}
}

// gsRegisteredUDP records what happens to a udp conn registered with
// the Context "registered" (gnet.NewContext).
type gsRegisteredUDP struct {
	gnet.BuiltinEventEngine
	gsTicked
	opened  chan any    // the Context OnOpen saw
	traffic chan string // each datagram, with the Context it arrived with
	closed  chan any    // the Context OnClose saw
}

func (h *gsRegisteredUDP) ours(c gnet.Conn) bool {
	switch c.Context() {
	case "registered", "seen":
		return true
	}
	return false
}

func (h *gsRegisteredUDP) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if !h.ours(c) {
		return nil, gnet.None
	}
	h.opened <- c.Context()
	return []byte("from OnOpen"), gnet.None
}

func (h *gsRegisteredUDP) OnTraffic(c gnet.Conn) gnet.Action {
	if !h.ours(c) {
		return gnet.None
	}
	b, _ := c.Next(-1)
	h.traffic <- string(b) + " " + c.Context().(string)
	c.SetContext("seen")
	return gnet.None
}

func (h *gsRegisteredUDP) OnClose(c gnet.Conn, _ error) gnet.Action {
	if h.ours(c) {
		h.closed <- c.Context()
	}
	return gnet.None
}

// TestGnetRegisteredUDPConn answers what gnet's TestUDPProxyServer relies
// on of a registered (connected) udp conn, on a udp and on a tcp engine:
// OnOpen runs, with the Context the ctx carried, and its reply reaches
// the peer; every datagram from the peer is an OnTraffic on that one
// Conn, whose Context persists between them; Close, or the engine's
// stop, runs OnClose, and after Close nothing more is delivered.
// (engine.Run once refused to register udp sockets.)
func TestGnetRegisteredUDPConn(t *testing.T) {
	for _, r := range suiteRunners {
		for _, network := range []string{"udp", "tcp"} {
			for _, closeBy := range []string{"Close", "Stop"} {
				t.Run(r.name+"/"+network+"/"+closeBy, func(t *testing.T) {
					testRegisteredUDPConn(t, r, network, closeBy)
				})
			}
		}
	}
}

func testRegisteredUDPConn(t *testing.T, r runner, network, closeBy string) {
	h := &gsRegisteredUDP{opened: make(chan any, 4), traffic: make(chan string, 8), closed: make(chan any, 4), gsTicked: gsTicked{ticked: make(chan struct{})}}
	protoAddr, _ := suiteAddr(t, network)
	l := launch(t, r, protoAddr, h, gnet.WithMulticore(true), gnet.WithTicker(true))
	h.wait(t)
	reg := l.eng.(engineRegisterer)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx := gnet.NewContext(gnet.NewNetAddrContext(context.Background(), pc.LocalAddr()), "registered")
	ch, err := reg.Register(ctx)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	wait := func(what string, c any) any {
		t.Helper()
		switch c := c.(type) {
		case chan any:
			select {
			case v := <-c:
				return v
			case <-time.After(10 * time.Second):
			}
		case chan string:
			select {
			case v := <-c:
				return v
			case <-time.After(10 * time.Second):
			}
		}
		t.Fatalf("no %s", what)
		return nil
	}
	res := registered(t, ch)
	if v := wait("OnOpen", h.opened); v != "registered" {
		t.Errorf("OnOpen saw Context %v, want registered", v)
	}
	if got := res.Conn.RemoteAddr().String(); got != pc.LocalAddr().String() {
		t.Errorf("RemoteAddr = %s, want %s", got, pc.LocalAddr())
	}
	pc.SetDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 64)
	n, from, err := pc.ReadFrom(b)
	if err != nil || string(b[:n]) != "from OnOpen" {
		t.Fatalf("the peer got %q, %v; want OnOpen's reply", b[:n], err)
	}
	if got := res.Conn.LocalAddr().String(); got != from.String() {
		t.Errorf("LocalAddr = %s, the peer sees %s", got, from)
	}
	pc.WriteTo([]byte("one"), from)
	if v := wait("OnTraffic", h.traffic); v != "one registered" {
		t.Errorf("first datagram: %q, want %q", v, "one registered")
	}
	pc.WriteTo([]byte("two"), from)
	if v := wait("OnTraffic", h.traffic); v != "two seen" {
		t.Errorf("second datagram: %q, want %q (the Context persists)", v, "two seen")
	}
	if closeBy == "Close" {
		if err := res.Conn.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if v := wait("OnClose", h.closed); v != "seen" {
			t.Errorf("OnClose saw Context %v, want seen", v)
		}
		pc.WriteTo([]byte("three"), from)
		select {
		case v := <-h.traffic:
			t.Errorf("after Close: OnTraffic %q", v)
		case <-time.After(200 * time.Millisecond):
		}
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.eng.Stop(stopCtx)
	l.mustEnd(t)
	if closeBy == "Stop" {
		if v := wait("OnClose at the engine's stop", h.closed); v != "seen" {
			t.Errorf("OnClose saw Context %v, want seen", v)
		}
	}
}

// gsRegisterOnBoot calls Register in OnBoot, as gnet's udpProxyServer does.
type gsRegisterOnBoot struct {
	gnet.BuiltinEventEngine
	runner string
	err    error
}

func (h *gsRegisterOnBoot) OnBoot(e gnet.Engine) gnet.Action {
	var reg engineRegisterer = e
	if h.runner != "gnet" {
		reg = Of(h)
	}
	_, h.err = reg.Register(gnet.NewNetAddrContext(context.Background(), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}))
	return gnet.None
}

// TestGnetRegisterInOnBoot answers gnet's TestUDPProxyServer's OnBoot:
// Register reports ErrEmptyEngine until the loops run, as gnet's does
// (engine.Run's once queued the connection for the loops).
func TestGnetRegisterInOnBoot(t *testing.T) {
	for _, r := range suiteRunners {
		t.Run(r.name, func(t *testing.T) {
			h := &gsRegisterOnBoot{runner: r.name}
			protoAddr, _ := suiteAddr(t, "udp")
			l := launch(t, r, protoAddr, h)
			if !errors.Is(h.err, errorx.ErrEmptyEngine) {
				t.Errorf("Register in OnBoot = %v, want ErrEmptyEngine", h.err)
			}
			l.stopAndEnd(t)
		})
	}
}

// TestGnetEventLoopCloseUDP answers gnet's TestStreamProxyServer on udp,
// whose OnClose closes the registered backend conn with EventLoop.Close:
// a registered udp conn closes there, with OnClose (engine.Run's
// EventLoop.Close once returned ErrUnsupportedOp); Wake on it runs
// OnTraffic, as gnet's does.
func TestGnetEventLoopCloseUDP(t *testing.T) {
	h := &gsRegisteredUDP{opened: make(chan any, 4), traffic: make(chan string, 8), closed: make(chan any, 4), gsTicked: gsTicked{ticked: make(chan struct{})}}
	protoAddr, _ := suiteAddr(t, "udp")
	l := launch(t, suiteRunners[1], protoAddr, h)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ch, err := l.eng.(engineRegisterer).Register(gnet.NewContext(gnet.NewNetAddrContext(context.Background(), pc.LocalAddr()), "registered"))
	if err != nil {
		t.Fatal(err)
	}
	res := <-ch
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	<-h.opened
	errc := make(chan error, 2)
	if err := res.Conn.Wake(func(c gnet.Conn, _ error) error {
		errc <- c.EventLoop().Close(c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Wake on a registered conn runs OnTraffic, as gnet's does.
	select {
	case v := <-h.traffic:
		if v != " registered" {
			t.Errorf("Wake's OnTraffic: %q", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wake ran no OnTraffic")
	}
	if err := <-errc; err != nil {
		t.Errorf("EventLoop.Close of a registered udp conn: %v", err)
	}
	select {
	case <-h.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("no OnClose")
	}
	l.stopAndEnd(t)
}

func (h *gsUDPOutbound) OnTick() (time.Duration, gnet.Action)   { return h.gsTicked.OnTick() }
func (h *gsRegisteredUDP) OnTick() (time.Duration, gnet.Action) { return h.gsTicked.OnTick() }
