package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/testutil"
)

// bootSignal tells when OnBoot has run: both engines bind their sockets
// before it, so datagrams sent afterwards wait in the socket.
type bootSignal struct {
	gnet.EventHandler
	booted chan struct{}
}

func (b *bootSignal) OnBoot(e gnet.Engine) gnet.Action {
	a := b.EventHandler.OnBoot(e)
	close(b.booted)
	return a
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t testing.TB, network, host string) int {
	t.Helper()
	pc, err := net.ListenPacket(network, net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("%s on %s: %v", network, host, err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// udpServer is an engine serving UDP and its address.
type udpServer struct {
	running
	addr *net.UDPAddr
}

// serveUDP runs h on r at network ("udp" on 127.0.0.1, "udp6" on ::1) and
// returns once its sockets are bound. Cleanup stops it and checks that
// Run returned nil.
func serveUDP(t testing.TB, r runner, network string, h gnet.EventHandler, opts ...gnet.Option) *udpServer {
	t.Helper()
	host := "127.0.0.1"
	if network == "udp6" {
		host = "::1"
	}
	port := freeUDPPort(t, network, host)
	s := &udpServer{
		running: running{
			protoAddr: network + "://" + net.JoinHostPort(host, strconv.Itoa(port)),
			errc:      make(chan error, 1),
			r:         r,
		},
		addr: &net.UDPAddr{IP: net.ParseIP(host), Port: port},
	}
	b := &bootSignal{EventHandler: h, booted: make(chan struct{})}
	opts = append([]gnet.Option{gnet.WithLogger(quietLogger{})}, opts...)
	go func() { s.errc <- r.run(b, s.protoAddr, opts...) }()
	select {
	case <-b.booted:
	case err := <-s.errc:
		t.Fatalf("%s: Run returned before serving: %v", r.name, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no OnBoot", r.name)
	}
	t.Cleanup(func() { s.shutdown(t) })
	return s
}

// client returns an unconnected UDP socket on the server's loopback, so
// that the source of each reply can be checked.
func (s *udpServer) client(t testing.TB) *net.UDPConn {
	t.Helper()
	network := "udp4"
	if s.addr.IP.To4() == nil {
		network = "udp6"
	}
	c, err := net.ListenUDP(network, &net.UDPAddr{IP: s.addr.IP})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// roundTrip sends msg and returns the reply, failing unless it came from
// the server's address.
func (s *udpServer) roundTrip(t testing.TB, c *net.UDPConn, msg []byte) []byte {
	t.Helper()
	if _, err := c.WriteToUDP(msg, s.addr); err != nil {
		t.Fatal(err)
	}
	return s.recv(t, c)
}

func (s *udpServer) recv(t testing.TB, c *net.UDPConn) []byte {
	t.Helper()
	buf := make([]byte, 70000)
	n, from, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("%s: waiting for a reply: %v", s.r.name, err)
	}
	if !from.IP.Equal(s.addr.IP) || from.Port != s.addr.Port {
		t.Fatalf("%s: reply from %v, want %v", s.r.name, from, s.addr)
	}
	return buf[:n]
}

// udpEchoHandler replies to each datagram with what it saw of it: the
// sender, the local address and the payload.
type udpEchoHandler struct {
	openCloseCounts
}

func (h *udpEchoHandler) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	fmt.Fprintf(c, "%s|%s|%T|%s", c.RemoteAddr(), c.LocalAddr(), c.RemoteAddr(), b)
	return gnet.None
}

func TestUDPEcho(t *testing.T) {
	for _, network := range []string{"udp", "udp6"} {
		for _, r := range runners {
			t.Run(network+"/"+r.name, func(t *testing.T) {
				testutil.CheckFDs(t)
				h := &udpEchoHandler{}
				s := serveUDP(t, r, network, h)
				for _, c := range []*net.UDPConn{s.client(t), s.client(t)} {
					for _, msg := range []string{"one", "", "three", strings.Repeat("x", 8000)} {
						got := string(s.roundTrip(t, c, []byte(msg)))
						want := fmt.Sprintf("%s|%s|*net.UDPAddr|%s", c.LocalAddr(), s.addr, msg)
						if got != want {
							t.Fatalf("reply %.100q, want %.100q", got, want)
						}
					}
				}
				if o, c := h.opened.Load(), h.closed.Load(); o != 0 || c != 0 {
					t.Errorf("OnOpen ran %d times, OnClose %d; gnet runs neither for UDP", o, c)
				}
			})
		}
	}
}

// partialHandler reads one byte of each datagram and leaves the rest.
type partialHandler struct{ gnet.BuiltinEventEngine }

func (*partialHandler) OnTraffic(c gnet.Conn) gnet.Action {
	before := c.InboundBuffered()
	b, err := c.Next(1)
	if err != nil {
		c.Write([]byte("empty"))
		return gnet.None
	}
	p, _ := c.Peek(-1)
	fmt.Fprintf(c, "%d:%s:%d:%s", before, b, c.InboundBuffered(), p)
	return gnet.None
}

// Bytes a handler leaves unread are dropped with their datagram: the next
// OnTraffic sees only the next datagram, as in gnet.
func TestUDPUnreadDropped(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			s := serveUDP(t, r, "udp", &partialHandler{})
			c := s.client(t)
			for _, tc := range []struct{ in, want string }{
				{"abc", "3:a:2:bc"},
				{"xyz", "3:x:2:yz"},
				{"", "empty"},
				{"q", "1:q:0:"},
			} {
				if got := string(s.roundTrip(t, c, []byte(tc.in))); got != tc.want {
					t.Errorf("after %q: %q, want %q", tc.in, got, tc.want)
				}
			}
		})
	}
}

// actionHandler answers, then returns the action the datagram names.
type actionHandler struct {
	gnet.BuiltinEventEngine
	closed, shutdowns atomic.Int32
}

func (h *actionHandler) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(append([]byte("ack:"), b...))
	switch string(b) {
	case "close":
		return gnet.Close
	case "shutdown":
		return gnet.Shutdown
	}
	return gnet.None
}

func (h *actionHandler) OnClose(gnet.Conn, error) gnet.Action { h.closed.Add(1); return gnet.None }
func (h *actionHandler) OnShutdown(gnet.Engine)               { h.shutdowns.Add(1) }

// A Close action closes nothing on UDP (there is no connection: gnet
// ignores it), and a Shutdown action shuts the engine down.
func TestUDPCloseShutdownActions(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &actionHandler{}
			s := serveUDP(t, r, "udp", h)
			c := s.client(t)
			for _, m := range []string{"a", "close", "b", "close", "c"} {
				if got := string(s.roundTrip(t, c, []byte(m))); got != "ack:"+m {
					t.Fatalf("got %q, want %q", got, "ack:"+m)
				}
			}
			if n := h.closed.Load(); n != 0 {
				t.Errorf("OnClose ran %d times", n)
			}
			// The reply queued before Shutdown still goes out.
			if got := string(s.roundTrip(t, c, []byte("shutdown"))); got != "ack:shutdown" {
				t.Errorf("got %q", got)
			}
			s.wait(t)
			if n := h.shutdowns.Load(); n != 1 {
				t.Errorf("OnShutdown ran %d times, want 1", n)
			}
		})
	}
}

// seqHandler echoes datagrams unchanged.
type seqHandler struct{ gnet.BuiltinEventEngine }

func (*seqHandler) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return gnet.None
}

// seqDatagram fills b with sequence number seq and bytes derived from it.
func seqDatagram(b []byte, seq uint32) {
	binary.BigEndian.PutUint32(b, seq)
	pattern(b[4:], int(seq), byte(seq>>8))
}

// 10,000 numbered datagrams, 64 in flight at a time so that loopback does
// not drop any, each come back exactly once and intact, over one loop
// and over several.
func TestUDPManyDatagrams(t *testing.T) {
	const total, window = 10000, 64
	for _, loops := range []int{1, 3} {
		for _, r := range runners {
			t.Run(fmt.Sprintf("loops=%d/%s", loops, r.name), func(t *testing.T) {
				testutil.CheckFDs(t)
				s := serveUDP(t, r, "udp", &seqHandler{}, gnet.WithNumEventLoop(loops))
				// A client per loop, so that SO_REUSEPORT spreads them
				// over the loops; 64 datagrams in flight in all, which
				// the server's socket buffer holds if it falls behind.
				var wg sync.WaitGroup
				clients := loops
				errc := make(chan error, clients)
				for k := range clients {
					c := s.client(t)
					n := total / clients
					if k == 0 {
						n += total % clients
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						errc <- udpSeqClient(c, s.addr, n, window/clients, 100+k*37)
					}()
				}
				wg.Wait()
				close(errc)
				for err := range errc {
					if err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
}

func udpSeqClient(c *net.UDPConn, to *net.UDPAddr, total, window, size int) error {
	seen := make([]bool, total)
	out, in := make([]byte, size), make([]byte, size+1)
	want := make([]byte, size)
	for base := 0; base < total; base += window {
		n := min(window, total-base)
		for i := range n {
			seqDatagram(out, uint32(base+i))
			if _, err := c.WriteToUDP(out, to); err != nil {
				return err
			}
		}
		for range n {
			m, from, err := c.ReadFromUDP(in)
			if err != nil {
				return fmt.Errorf("after %d datagrams: %w", base, err)
			}
			if from.Port != to.Port {
				return fmt.Errorf("reply from %v", from)
			}
			if m != size {
				return fmt.Errorf("reply of %d bytes, want %d", m, size)
			}
			seq := binary.BigEndian.Uint32(in)
			if int(seq) < base || int(seq) >= base+n {
				return fmt.Errorf("sequence %d outside the window [%d, %d)", seq, base, base+n)
			}
			if seen[seq] {
				return fmt.Errorf("datagram %d duplicated", seq)
			}
			seen[seq] = true
			seqDatagram(want, seq)
			if !bytes.Equal(in[:m], want) {
				return fmt.Errorf("datagram %d corrupted", seq)
			}
		}
	}
	for seq, ok := range seen {
		if !ok {
			return fmt.Errorf("datagram %d never came back", seq)
		}
	}
	return nil
}

type udpTickHandler struct {
	seqHandler
	ticks atomic.Int32
}

func (h *udpTickHandler) OnTick() (time.Duration, gnet.Action) {
	h.ticks.Add(1)
	return 10 * time.Millisecond, gnet.None
}

func TestUDPOnTick(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &udpTickHandler{}
			s := serveUDP(t, r, "udp", h, gnet.WithTicker(true))
			waitFor(t, "5 ticks", func() bool { return h.ticks.Load() >= 5 })
			c := s.client(t)
			if got := string(s.roundTrip(t, c, []byte("tick"))); got != "tick" {
				t.Errorf("got %q", got)
			}
		})
	}
}

// asyncUDPHandler replies from another goroutine, after OnTraffic has
// returned, with AsyncWrite on the Conn it kept.
type asyncUDPHandler struct {
	gnet.BuiltinEventEngine
	wg     sync.WaitGroup
	cbConn chan gnet.Conn
}

func (h *asyncUDPHandler) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	msg := append([]byte("async:"), b...)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		time.Sleep(time.Millisecond)
		err := c.AsyncWrite(msg, func(cc gnet.Conn, err error) error {
			h.cbConn <- cc
			return err
		})
		if err != nil {
			panic(err)
		}
	}()
	return gnet.None
}

func TestUDPAsyncWrite(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &asyncUDPHandler{cbConn: make(chan gnet.Conn, 8)}
			s := serveUDP(t, r, "udp", h)
			c1, c2 := s.client(t), s.client(t)
			// Interleaved senders: each kept Conn answers its own.
			for i := range 4 {
				for _, c := range []*net.UDPConn{c1, c2} {
					m := fmt.Sprintf("%s-%d", c.LocalAddr(), i)
					if got := string(s.roundTrip(t, c, []byte(m))); got != "async:"+m {
						t.Fatalf("got %q, want %q", got, "async:"+m)
					}
					if cc := <-h.cbConn; cc != nil {
						t.Errorf("AsyncWrite callback got Conn %v, want nil as gnet gives", cc)
					}
				}
			}
			h.wg.Wait()
		})
	}
}

// methodsHandler reports what each gnet.Conn method does on a UDP Conn,
// to compare the engines.
type methodsHandler struct {
	gnet.BuiltinEventEngine
	other *net.UDPAddr
	wake  chan error
}

func (h *methodsHandler) OnTraffic(c gnet.Conn) gnet.Action {
	var s []string
	add := func(name string, v ...any) { s = append(s, name+"="+fmt.Sprint(v...)) }
	add("ctx", c.Context())
	c.SetContext("set")
	add("ctx2", c.Context())
	p, err := c.Peek(2)
	add("peek", string(p), err)
	_, err = c.Peek(100)
	add("peek100", err)
	n, err := c.Discard(1)
	add("discard", n, err)
	rb := make([]byte, 1)
	n, err = c.Read(rb)
	add("read", n, err, string(rb))
	n, err = c.Writev([][]byte{[]byte("x")})
	add("writev", n, err)
	add("asyncwritev", c.AsyncWritev([][]byte{[]byte("x")}, nil))
	add("flush", c.Flush())
	add("outbound", c.OutboundBuffered())
	add("nodelay", c.SetNoDelay(true))
	add("keepalive", c.SetKeepAlivePeriod(time.Second))
	add("deadline", c.SetDeadline(time.Time{}))
	n, err = c.Write(make([]byte, 70000))
	add("bigwrite", n, err)
	n, err = c.SendTo([]byte("to-other"), h.other)
	add("sendto", n, err)
	n, err = c.SendTo([]byte("x"), &net.UnixAddr{Name: "x", Net: "unix"})
	add("sendto-unix", n, err)
	n, err = c.SendTo([]byte("to-other-tcpaddr"), &net.TCPAddr{IP: h.other.IP, Port: h.other.Port})
	add("sendto-tcpaddr", n, err)
	add("wake", c.Wake(func(c gnet.Conn, err error) error { h.wake <- err; return nil }))
	add("close", c.Close())
	add("fd>0", c.Fd() > 0)
	c.Write([]byte(strings.Join(s, "\n")))
	return gnet.None
}

// Every gnet.Conn method behaves on a UDP Conn as gnet's does, but
// ReadFrom (see its documentation).
func TestUDPConnMethods(t *testing.T) {
	var reports []string
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			other.SetDeadline(time.Now().Add(10 * time.Second))
			h := &methodsHandler{other: other.LocalAddr().(*net.UDPAddr), wake: make(chan error, 1)}
			s := serveUDP(t, r, "udp", h)
			c := s.client(t)
			rep := string(s.roundTrip(t, c, []byte("abcd")))
			reports = append(reports, rep)
			if err := <-h.wake; err != nil {
				t.Errorf("Wake callback: %v", err)
			}
			buf := make([]byte, 100)
			for _, want := range []string{"to-other", "to-other-tcpaddr"} {
				n, from, err := other.ReadFromUDP(buf)
				if err != nil || string(buf[:n]) != want || from.Port != s.addr.Port {
					t.Errorf("SendTo delivered %q from %v, %v; want %q", buf[:n], from, err, want)
				}
			}
		})
	}
	for i := 1; i < len(reports); i++ {
		if reports[i] != reports[0] {
			t.Errorf("%s reports\n%s\n\n%s reports\n%s", runners[0].name, reports[0], runners[i].name, reports[i])
		}
	}
	if len(reports) > 0 {
		t.Logf("\n%s", reports[0])
	}
}

// With several loops, every loop has its own socket bound to the same
// port, the real one when port 0 was asked for.
func TestUDPLoopsShareThePort(t *testing.T) {
	testutil.CheckFDs(t)
	e, err := Start(&seqHandler{}, "udp://127.0.0.1:0", gnet.WithNumEventLoop(3), gnet.WithLogger(quietLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	addr := e.Addr().(*net.UDPAddr)
	if addr.Port == 0 {
		t.Fatal("Addr has port 0")
	}
	if e.NumEventLoop() != 3 || len(e.lns) != 3 {
		t.Fatalf("%d loops, %d sockets", e.NumEventLoop(), len(e.lns))
	}
	for _, ln := range e.lns {
		if a := ln.addr.(*net.UDPAddr); a.Port != addr.Port {
			t.Errorf("a loop's socket is on %v, want port %d", a, addr.Port)
		}
	}
	checkUDPEcho(t, addr.String())
	if n := e.CountConnections(); n != 0 {
		t.Errorf("CountConnections = %d; UDP has none, as in gnet", n)
	}
}

func TestUDPAddresses(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		network string
		v6only  bool
	}{
		{"udp://127.0.0.1:0", "udp4", false},
		{"udp4://:0", "udp4", false},
		{"udp://:0", "udp", false},      // dual-stack, as gnet
		{"udp://[::1]:0", "udp6", true}, // an IPv6 address makes gnet's socket IPv6-only
		{"udp6://:0", "udp6", true},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			testutil.CheckFDs(t)
			e, err := Start(&seqHandler{}, tc.addr, gnet.WithNumEventLoop(2), gnet.WithLogger(quietLogger{}))
			if err != nil {
				if strings.Contains(tc.addr, "::") || tc.network != "udp4" {
					t.Skipf("no IPv6: %v", err)
				}
				t.Fatal(err)
			}
			defer e.Stop(context.Background())
			for _, ln := range e.lns {
				v, err := syscall.GetsockoptInt(ln.fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY)
				if ln.family == syscall.AF_INET {
					if tc.network != "udp4" {
						t.Errorf("IPv4 socket for %s", tc.addr)
					}
					continue
				}
				if err != nil || (v == 1) != tc.v6only {
					t.Errorf("IPV6_V6ONLY = %d, %v; want %v", v, err, tc.v6only)
				}
			}
			port := e.Addr().(*net.UDPAddr).Port
			dst := "127.0.0.1"
			if tc.network == "udp6" {
				dst = "::1"
			}
			checkUDPEcho(t, net.JoinHostPort(dst, strconv.Itoa(port)))
		})
	}
}

// checkUDPEcho sends "hi" to the echo server at addr and fails t unless
// it comes back.
func checkUDPEcho(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("echo %q, %v", buf[:n], err)
	}
}

// gnet ignores the edge-triggered options for UDP; so does this engine.
func TestUDPOptions(t *testing.T) {
	testutil.CheckFDs(t)
	e, err := Start(&seqHandler{}, "udp://127.0.0.1:0",
		gnet.WithEdgeTriggeredIO(true), gnet.WithEdgeTriggeredIOChunk(1<<16),
		gnet.WithSocketRecvBuffer(1<<20), gnet.WithReadBufferCap(2048), gnet.WithLogger(quietLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	// The kernel caps the size at rmem_max (and doubles it): compare
	// with what a socket given the same size gets.
	ref, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.SetsockoptInt(ref, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1<<20)
	want, _ := syscall.GetsockoptInt(ref, syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	syscall.Close(ref)
	if v, err := syscall.GetsockoptInt(e.lns[0].fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF); err != nil || v != want {
		t.Errorf("SO_RCVBUF = %d, %v; want %d", v, err, want)
	}
	if v, _ := syscall.GetsockoptInt(e.lns[0].fd, syscall.SOL_SOCKET, unix.SO_REUSEPORT); v != 1 {
		t.Error("SO_REUSEPORT is off")
	}
	// A datagram beyond ReadBufferCap is cut to it, as gnet's read into a
	// buffer of that size cuts it.
	c, err := net.DialUDP("udp", nil, e.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(make([]byte, 5000))
	buf := make([]byte, 8000)
	if n, err := c.Read(buf); err != nil || n != 2048 {
		t.Errorf("echo of a 5000-byte datagram with ReadBufferCap 2048: %d bytes, %v", n, err)
	}
}

// TestUDPEchoAllocs checks that the steady UDP echo path allocates
// nothing: the Conn is reused for a sender, the send record recycled. The
// count is the whole process's, client included.
func TestUDPEchoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	testutil.CheckFDs(t)
	for _, without := range []features{0, features(featMultishotRecv)} {
		e, err := start(&seqHandler{}, "udp://127.0.0.1:0", config{bufRingEntries: 64, queueDepth: 256, without: without}, gnet.WithLogger(quietLogger{}))
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.DialUDP("udp", nil, e.Addr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(60 * time.Second))
		msg, got := bytes.Repeat([]byte{'u'}, 64), make([]byte, 128)
		var failed error
		echo := func() {
			if _, err := c.Write(msg); err != nil && failed == nil {
				failed = err
			}
			if n, err := c.Read(got); (err != nil || n != len(msg)) && failed == nil {
				failed = fmt.Errorf("read %d, %v", n, err)
			}
		}
		for range 200 {
			echo()
		}
		allocs := testing.AllocsPerRun(1000, echo)
		if failed != nil {
			t.Fatal(failed)
		}
		if allocs >= 1 {
			t.Errorf("single recvmsg=%v: %.2f allocations per UDP round trip, want 0", without != 0, allocs)
		}
		c.Close()
		e.Stop(context.Background())
		for _, l := range e.loops {
			for _, u := range l.udps {
				if without != 0 && u.multishot {
					t.Errorf("loop %d receives with multishot recvmsg without featMultishotRecv", l.idx)
				}
			}
		}
	}
}

// A multicast address joins the group, on the interface
// WithMulticastInterfaceIndex names, as gnet does.
func TestUDPMulticast(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip(err)
	}
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			port := freeUDPPort(t, "udp4", "127.0.0.1")
			group := &net.UDPAddr{IP: net.IPv4(239, 1, 2, 3), Port: port}
			protoAddr := "udp4://" + group.String()
			h := &bootSignal{EventHandler: &seqHandler{}, booted: make(chan struct{})}
			s := &udpServer{running: running{protoAddr: protoAddr, errc: make(chan error, 1), r: r}, addr: group}
			go func() {
				s.errc <- r.run(h, protoAddr, gnet.WithMulticastInterfaceIndex(lo.Index), gnet.WithLogger(quietLogger{}))
			}()
			waitBoot(t, h.booted, s.errc)
			t.Cleanup(func() { s.shutdown(t) })
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			rc, _ := c.SyscallConn()
			rc.Control(func(fd uintptr) {
				err = unix.SetsockoptInet4Addr(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, [4]byte{127, 0, 0, 1})
			})
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.WriteToUDP([]byte("to the group"), group); err != nil {
				t.Skipf("no multicast route over lo: %v", err)
			}
			buf := make([]byte, 64)
			n, _, err := c.ReadFromUDP(buf)
			if err != nil || string(buf[:n]) != "to the group" {
				t.Fatalf("reply %q, %v", buf[:n], err)
			}
		})
	}
}
