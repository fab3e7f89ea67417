package engine

import (
	"bytes"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/uring-go/uring/internal/testutil"
)

// lingerHandler answers a connection's first bytes with reply, written
// with a small SO_SNDBUF so that most of it stays in the engine's queue,
// and a Close action. It reports the connection's fd and the socket it
// names (/proc/self/fd's link), to see when that fd is closed.
type lingerHandler struct {
	openCloseCounts
	reply []byte
	fds   chan lingerFD
}

type lingerFD struct {
	fd   int
	link string
}

func (h *lingerHandler) OnTraffic(c gnet.Conn) gnet.Action {
	c.Discard(-1)
	if err := c.SetWriteBuffer(16 << 10); err != nil {
		panic(err)
	}
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(c.Fd()))
	if err != nil {
		panic(err)
	}
	h.fds <- lingerFD{c.Fd(), link}
	c.Write(h.reply)
	return gnet.Close
}

// open reports whether the fd still names the socket it named.
func (f lingerFD) open() bool {
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(f.fd))
	return err == nil && link == f.link
}

// lingerRunner runs the engine in mode m with Config.LingerTimeout d.
func lingerRunner(m mode, d time.Duration) runner {
	cfg := m.cfg(defaultConfig)
	cfg.LingerTimeout = d
	return runner{"uring" + m.suffix(), func(h gnet.EventHandler, protoAddr string, opts ...gnet.Option) error {
		e, err := start(h, protoAddr, cfg, opts...)
		if err != nil {
			return err
		}
		return e.Wait()
	}, Stop}
}

// lingerStart serves a lingerHandler replying reply on r, dials it
// with a small receive buffer and asks for the reply.
func lingerStart(t *testing.T, r runner, network string, reply []byte) (*lingerHandler, net.Conn, lingerFD) {
	t.Helper()
	h := &lingerHandler{reply: reply, fds: make(chan lingerFD, 1)}
	s := serve(t, r, network, h)
	c := s.dial(t)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(16 << 10)
	}
	if _, err := c.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
	return h, c, <-h.fds
}

// lingerModes: every feature, and every fallback at once (plain
// buffers, single receives).
var lingerModes = []mode{modes[0], modes[len(modes)-1]}

// TestLingerTimeoutCutsSilentPeer: a server writes 8 MiB and closes; the
// peer never reads. Before Config.LingerTimeout the closed connection
// kept its fd and the queued bytes until the engine stopped; now it is
// closed within the limit and a half (plus scheduling slack), the rest
// dropped and counted, every byte accounted for as either taken by the
// kernel or dropped, and Stop still returns.
func TestLingerTimeoutCutsSilentPeer(t *testing.T) {
	const limit = 200 * time.Millisecond
	const size = 8 << 20
	for _, network := range []string{"tcp", "unix"} {
		for _, m := range lingerModes {
			r := lingerRunner(m, limit)
			t.Run(network+"/"+r.name, func(t *testing.T) {
				testutil.CheckFDs(t)
				h, _, f := lingerStart(t, r, network, testutil.Pattern(size))
				start := time.Now()
				for f.open() {
					if time.Since(start) > limit*3/2+5*time.Second {
						t.Fatalf("the closed connection's fd is still open %v after its peer stopped reading (limit %v)", time.Since(start), limit)
					}
					time.Sleep(10 * time.Millisecond)
				}
				if o, c := h.opened.Load(), h.closed.Load(); o != c {
					t.Errorf("OnOpen ran %d times, OnClose %d", o, c)
				}
				st := sumStats(Of(h).Stats())
				if st.LingerDropped != 1 {
					t.Errorf("LingerDropped = %d, want 1", st.LingerDropped)
				}
				if st.LingerBytesDropped == 0 || st.BytesWritten+st.LingerBytesDropped != size {
					t.Errorf("BytesWritten %d + LingerBytesDropped %d, want %d with some dropped", st.BytesWritten, st.LingerBytesDropped, size)
				}
			})
		}
	}
}

// TestLingerSlowReader: a peer that reads a little every tenth of the
// linger limit takes three times the limit to read what the closed
// connection queued, but each read is progress, so the connection is
// not cut: every byte arrives, in order, then the end, and the fd is
// still open after the limit has passed while bytes remain. The reads
// come ten to a limit so that a reader paused by a slow machine (the
// 6.1 kernel under emulation, which cut a reader of one read a third of
// a limit) still makes progress within each limit.
func TestLingerSlowReader(t *testing.T) {
	const limit = time.Second
	const size = 2 << 20
	const chunk = 64 << 10
	for _, network := range []string{"tcp", "unix"} {
		for _, m := range lingerModes {
			r := lingerRunner(m, limit)
			t.Run(network+"/"+r.name, func(t *testing.T) {
				testutil.CheckFDs(t)
				want := testutil.Pattern(size)
				h, c, f := lingerStart(t, r, network, want)
				// Under emulation (the 6.1 VM) loopback tcp moves a
				// window-limited 2 MiB in about 20 s, the dial's
				// deadline; the linger limit, not the deadline, is
				// under test.
				c.SetDeadline(time.Now().Add(time.Minute))
				start := time.Now()
				got := make([]byte, 0, size)
				buf := make([]byte, chunk)
				checked := false
				for len(got) < size {
					time.Sleep(limit / 10)
					n := min(chunk, size-len(got))
					if _, err := io.ReadFull(c, buf[:n]); err != nil {
						t.Fatalf("after %d bytes: %v", len(got), err)
					}
					got = append(got, buf[:n]...)
					if !checked && time.Since(start) > limit*3/2 && len(got) < size*3/4 {
						// Far more than the kernel's small buffers hold
						// is still to come: it is in the engine's queue.
						if !f.open() {
							t.Fatalf("the fd was closed %v after the close, with %d of %d bytes read", time.Since(start), len(got), size)
						}
						checked = true
					}
				}
				if !checked {
					t.Fatalf("the transfer took %v, not long enough to test a limit of %v", time.Since(start), limit)
				}
				if !bytes.Equal(got, want) {
					t.Fatal("the bytes differ from those written")
				}
				if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Fatalf("after the reply: %d, %v, want the end", n, err)
				}
				st := sumStats(Of(h).Stats())
				if st.LingerDropped != 0 || st.LingerBytesDropped != 0 {
					t.Errorf("LingerDropped %d, LingerBytesDropped %d, want 0", st.LingerDropped, st.LingerBytesDropped)
				}
			})
		}
	}
}

// TestLingerNoLimit: with a negative LingerTimeout a closed connection
// whose peer does not read keeps its fd past any limit, until Stop,
// which drops the rest and still returns.
func TestLingerNoLimit(t *testing.T) {
	testutil.CheckFDs(t)
	h := &lingerHandler{reply: testutil.Pattern(8 << 20), fds: make(chan lingerFD, 1)}
	s := serve(t, lingerRunner(modes[0], -1), "unix", h)
	c := s.dial(t)
	if _, err := c.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
	f := <-h.fds
	time.Sleep(500 * time.Millisecond)
	if !f.open() {
		t.Fatal("the fd was closed without a limit")
	}
	st := sumStats(Of(h).Stats())
	s.shutdown(t)
	if f.open() {
		t.Error("the fd is open after Stop")
	}
	if st.LingerDropped != 0 {
		t.Errorf("LingerDropped = %d, want 0", st.LingerDropped)
	}
}
