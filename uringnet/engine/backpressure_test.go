package engine

import (
	"fmt"
	"hash/crc32"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/testutil"
)

// TestLargeRequestBeforeReply: a client writes its whole request before
// reading any of the reply, as in gnet's own TestServer (1 MiB on unix
// sockets; 32 MiB over TCP, where the kernel's buffers hold more). gnet
// keeps reading while the outbound buffer grows past WriteBufferCap, so
// the exchange completes; an engine that stops reading at the cap
// deadlocks it.
func TestLargeRequestBeforeReply(t *testing.T) {
	cases := []struct {
		network string
		size    int
	}{{"unix", 1 << 20}}
	if !testing.Short() {
		cases = append(cases, struct {
			network string
			size    int
		}{"tcp", 32 << 20})
	}
	for _, tc := range cases {
		for _, r := range runners {
			t.Run(fmt.Sprintf("%s/size=%d/%s", tc.network, tc.size, r.name), func(t *testing.T) {
				testutil.CheckFDs(t)
				s := serve(t, r, tc.network, &eofEcho{})
				c := s.dial(t)
				c.SetDeadline(time.Now().Add(time.Minute))
				sum := crc32.NewIEEE()
				want, err := streamSum(multiWriter{c, sum}, tc.size, 0x77)
				if err != nil {
					t.Fatalf("writing the request: %v", err)
				}
				got := crc32.NewIEEE()
				buf := make([]byte, 64<<10)
				for n := 0; n < tc.size; {
					k, err := c.Read(buf[:min(len(buf), tc.size-n)])
					if err != nil {
						t.Fatalf("reading the reply after %d bytes: %v", n, err)
					}
					got.Write(buf[:k])
					n += k
				}
				if got.Sum32() != want {
					t.Fatal("the reply differs from the request")
				}
			})
		}
	}
}

// multiWriter writes to a, then b (io.MultiWriter without its checks).
type multiWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (w multiWriter) Write(p []byte) (int, error) {
	n, err := w.a.Write(p)
	if err != nil {
		return n, err
	}
	return w.b.Write(p[:n])
}

// onLoops runs f on every loop of e, on the loop's goroutine, and sums
// its results.
func onLoops(t testing.TB, e *Engine, f func(*loop) int) int {
	t.Helper()
	total := 0
	for _, l := range e.loops {
		res := make(chan int, 1)
		if err := l.enqueue(func() { res <- f(l) }); err != nil {
			t.Fatal(err)
		}
		total += <-res
	}
	return total
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// countEcho echoes and counts the bytes it receives.
type countEcho struct {
	gnet.BuiltinEventEngine
	recvd atomic.Int64
}

func (h *countEcho) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	h.recvd.Add(int64(len(b)))
	c.Write(b)
	return gnet.None
}

// TestBackpressureMemory: 100 clients send to an echo server and never
// read. With Config.Backpressure each costs the server at most twice the
// write cap plus one read buffer of heap; without it (gnet's way) the
// server holds all they sent.
func TestBackpressureMemory(t *testing.T) {
	for _, m := range modes {
		t.Run("uring"+m.suffix(), func(t *testing.T) {
			perConn := backpressureMemory(t, m, true)
			t.Logf("with Backpressure: %.1f KiB of heap per non-reading client", float64(perConn)/1024)
			if bound := 2*bpWriteCap + bpReadCap; perConn > bound {
				t.Errorf("a non-reading client costs %d bytes of heap, more than %d (twice the write cap plus a read buffer)", perConn, bound)
			}
		})
	}
	if !testing.Short() {
		t.Run("uring/without-backpressure", func(t *testing.T) {
			perConn := backpressureMemory(t, modes[0], false)
			t.Logf("without Backpressure: %.1f KiB of heap per non-reading client, which sent %d KiB", float64(perConn)/1024, bpSend>>10)
		})
	}
}

const (
	bpClients  = 100
	bpWriteCap = 64 << 10
	bpReadCap  = 16 << 10
	bpSend     = 1 << 20 // what each client sends
)

// backpressureMemory runs bpClients non-reading clients against an echo
// server in mode m and returns the server's heap per client once every
// connection has stopped taking bytes.
func backpressureMemory(t *testing.T, m mode, bp bool) int {
	if err := raiseNofile(2*bpClients + 200); err != nil {
		t.Skip(err)
	}
	testutil.CheckFDs(t)
	h := &countEcho{}
	cfg := m.cfg(defaultConfig)
	cfg.Backpressure = bp
	e, addr := startOwn(t, h, cfg,
		gnet.WithWriteBufferCap(bpWriteCap), gnet.WithReadBufferCap(bpReadCap),
		gnet.WithSocketSendBuffer(16<<10))
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 16<<10)
		})
		return nil
	}}
	payload := make([]byte, bpSend)
	pattern(payload, 0, 1)
	base := heapInUse()
	conns := make([]net.Conn, 0, bpClients)
	var wg sync.WaitGroup
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	for range bpClients {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Write(payload) // blocks once the server stops reading; fails at Close
		}()
	}
	if bp {
		// Every connection paused, with no receive left that could
		// bring more.
		waitFor(t, "every connection to pause", func() bool {
			return onLoops(t, e, func(l *loop) int {
				n := 0
				for _, c := range l.conns {
					if c.paused() && c.recv == ioIdle && c.poll == ioIdle {
						n++
					}
				}
				return n
			}) == bpClients
		})
	} else {
		// 100 MiB through the race detector on a busy machine can take
		// longer than waitFor's 10 s.
		deadline := time.Now().Add(2 * time.Minute)
		for h.recvd.Load() != bpClients*bpSend {
			if time.Now().After(deadline) {
				t.Fatalf("the server received %d bytes of %d", h.recvd.Load(), bpClients*bpSend)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	used := heapInUse()
	if used < base {
		return 0
	}
	return int(used-base) / bpClients
}
