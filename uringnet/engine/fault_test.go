package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
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

// startOwn starts this package's engine with cfg on a free loopback port
// and stops it at cleanup.
func startOwn(t testing.TB, h gnet.EventHandler, cfg config, opts ...gnet.Option) (*Engine, string) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	opts = append([]gnet.Option{gnet.WithLogger(quietLogger{})}, opts...)
	e, err := start(h, "tcp://"+addr, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil && !errors.Is(err, errorx.ErrEngineInShutdown) {
			t.Errorf("Stop: %v", err)
		}
		if err := e.Wait(); err != nil {
			t.Errorf("Wait: %v", err)
		}
	})
	return e, addr
}

// waitFor polls cond for up to 10 s; it is for states the test cannot be
// told about, such as a server-side count.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pattern fills b with bytes that depend on the stream offset and seed,
// so that a lost, duplicated or reordered byte is detected.
func pattern(b []byte, off int, seed byte) {
	for i := range b {
		b[i] = byte((off+i)*7) ^ seed
	}
}

func TestBufRingDry(t *testing.T) {
	for _, m := range modes {
		t.Run("uring"+m.suffix(), func(t *testing.T) { testBufRingDry(t, m) })
	}
}

func testBufRingDry(t *testing.T, m mode) {
	testutil.CheckFDs(t)
	h := newEcho()
	// Two 1 KiB buffers for 40 busy connections: receives end with
	// ENOBUFS all the time and must be re-armed without losing a byte.
	e, addr := startOwn(t, h, m.cfg(config{bufRingEntries: 2, queueDepth: 64}), gnet.WithReadBufferCap(1024))
	const conns, size = 40, 256 << 10
	var wg sync.WaitGroup
	errc := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errc <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			seed := byte(i)
			go func() {
				buf := make([]byte, 8192)
				for off := 0; off < size; off += len(buf) {
					pattern(buf, off, seed)
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
			got := make([]byte, size)
			if _, err := io.ReadFull(c, got); err != nil {
				errc <- err
				return
			}
			want := make([]byte, size)
			pattern(want, 0, seed)
			if !bytes.Equal(got, want) {
				errc <- errors.New("echoed stream differs")
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	enobufs, _ := e.counters()
	t.Logf("%d receives ended with ENOBUFS", enobufs)
	if enobufs == 0 {
		t.Error("the buffer ring never ran dry; the test did not exercise ENOBUFS")
	}
}

// slowHandler echoes and records the largest outbound backlog it saw.
type slowHandler struct {
	gnet.BuiltinEventEngine
	maxOut atomic.Int64
	recvd  atomic.Int64
}

func (h *slowHandler) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	h.recvd.Add(int64(len(b)))
	c.Write(b)
	if n := int64(c.OutboundBuffered()); n > h.maxOut.Load() {
		h.maxOut.Store(n)
	}
	return gnet.None
}

func TestSlowReaderBackpressure(t *testing.T) {
	for _, m := range modes {
		t.Run("uring"+m.suffix(), func(t *testing.T) { testSlowReaderBackpressure(t, m) })
	}
}

func testSlowReaderBackpressure(t *testing.T, m mode) {
	testutil.CheckFDs(t)
	h := &slowHandler{}
	const wcap, rcap = 64 << 10, 4 << 10
	cfg := m.cfg(defaultConfig)
	cfg.Backpressure = true
	e, addr := startOwn(t, h, cfg,
		gnet.WithWriteBufferCap(wcap), gnet.WithReadBufferCap(rcap),
		gnet.WithSocketRecvBuffer(32<<10), gnet.WithSocketSendBuffer(32<<10))
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 32<<10)
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 32<<10)
		})
		return nil
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	const total = 16 << 20
	wdone := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for off := 0; off < total; off += len(buf) {
			pattern(buf, off, 0x5a)
			if _, err := c.Write(buf); err != nil {
				wdone <- err
				return
			}
		}
		wdone <- nil
	}()
	// Wait until the server stops taking bytes: the client does not read.
	last, still := int64(-1), 0
	for still < 20 {
		time.Sleep(10 * time.Millisecond)
		if n := h.recvd.Load(); n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
	_, pauses := e.counters()
	t.Logf("server stalled after receiving %d of %d bytes; largest outbound backlog %d (cap %d); %d pauses",
		last, total, h.maxOut.Load(), wcap, pauses)
	if last >= total {
		t.Fatal("the server received everything although the client never read")
	}
	if pauses == 0 {
		t.Error("reading was never paused")
	}
	// Bounded: the cap plus one read buffer, the handler's echo of the
	// read that crossed it. With Backpressure a receive is a single
	// operation, so at most one read completes after the pause, and it
	// is held inbound until the queue has drained to half the cap.
	bound := int64(wcap + rcap)
	if h.maxOut.Load() > bound {
		t.Errorf("outbound backlog reached %d bytes, more than %d", h.maxOut.Load(), bound)
	}
	// Now read everything: reading resumes and no byte is lost.
	got := make([]byte, total)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, total)
	for off := 0; off < total; off += 64 << 10 {
		pattern(want[off:off+64<<10], off, 0x5a)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("echoed stream differs")
	}
	if err := <-wdone; err != nil {
		t.Fatal(err)
	}
}

func TestPeersResetting(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &countHandler{}
			s := serve(t, r, "tcp", h)
			var wg sync.WaitGroup
			for i := range 200 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.Dial("tcp", s.addr)
					if err != nil {
						return
					}
					buf := make([]byte, 1+i*113%20000)
					c.Write(buf)
					if i%2 == 0 {
						c.Read(buf[:1])
					}
					c.(*net.TCPConn).SetLinger(0)
					c.Close()
				}()
			}
			wg.Wait()
			// The server keeps serving.
			c := s.dial(t)
			if got := exchange(t, c, []byte("still here")); string(got) != "still here" {
				t.Fatalf("echo after resets: %q", got)
			}
			c.Close()
			waitFor(t, "every OnClose", func() bool { return h.opened.Load() == h.closed.Load() })
		})
	}
}

// countHandler echoes and counts opens and closes.
type countHandler struct {
	openCloseCounts
}

func (h *countHandler) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return gnet.None
}

func TestStopWithLiveConns(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &countHandler{}
			s := serve(t, r, "tcp", h, gnet.WithNumEventLoop(2))
			var cs []net.Conn
			for range 20 {
				c := s.dial(t)
				exchange(t, c, []byte("x"))
				cs = append(cs, c)
			}
			s.shutdown(t)
			if o, c := h.opened.Load(), h.closed.Load(); o != c {
				t.Errorf("%d opened, %d closed after Stop", o, c)
			}
			for _, c := range cs {
				if _, err := c.Read(make([]byte, 1)); err == nil {
					t.Error("a client could still read after Stop")
				}
			}
		})
	}
}

// Test10kConns serves 10,000 connections whose client ends live in a
// child process (the test binary again, see childMain), so that neither
// process needs more than 10,000 fds.
func Test10kConns(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	const n = 10000
	if err := raiseNofile(n + 200); err != nil {
		t.Skip(err)
	}
	testutil.CheckFDs(t)
	h := &countHandler{}
	e, addr := startOwn(t, h, defaultConfig, gnet.WithNumEventLoop(2))
	cl := startChild(t, map[string]string{envClient: addr, envClientN: strconv.Itoa(n)})
	if line := cl.line(t); line != "ready" {
		t.Fatalf("client: %s", line)
	}
	if got := e.CountConnections(); got != n {
		t.Errorf("CountConnections = %d, want %d", got, n)
	}
	cl.send(t, "go")
	if line := cl.line(t); line != "done" {
		t.Fatalf("client: %s", line)
	}
	cl.wait(t)
	waitFor(t, "all conns closed", func() bool { return e.CountConnections() == 0 })
	if o, c := h.opened.Load(), h.closed.Load(); o != n || c != n {
		t.Errorf("%d opened and %d closed, want %d", o, c, n)
	}
}

func TestUnsupportedOptions(t *testing.T) {
	h := newEcho()
	for _, tc := range []struct {
		name string
		addr string
		opts []gnet.Option
	}{
		{"udp6 with an IPv4 address", "udp6://127.0.0.1:0", nil},
		{"udp without a host:port", "udp:///x", nil},
		{"bad scheme", "sctp://127.0.0.1:0", nil},
		{"no scheme", "127.0.0.1:0", nil},
		{"bad lb", "tcp://127.0.0.1:0", []gnet.Option{gnet.WithLoadBalancing(99)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			err := Run(h, tc.addr, tc.opts...)
			if err == nil {
				t.Fatal("Run accepted it")
			}
			t.Log(err)
		})
	}
}
