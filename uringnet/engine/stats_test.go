package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/uring-go/uring/internal/testutil"
)

// sumStats adds up the loops' counters.
func sumStats(ss []LoopStats) LoopStats {
	var t LoopStats
	for _, s := range ss {
		t.Connections += s.Connections
		t.Accepted += s.Accepted
		t.Opened += s.Opened
		t.Closed += s.Closed
		t.BytesRead += s.BytesRead
		t.Reads += s.Reads
		t.BytesWritten += s.BytesWritten
		t.Writes += s.Writes
		t.BufferExhausted += s.BufferExhausted
		t.Pauses += s.Pauses
		t.LingerDropped += s.LingerDropped
		t.LingerBytesDropped += s.LingerBytesDropped
	}
	return t
}

// TestStats checks the counters on a known workload: n connections, on
// two loops with loop 0 accepting, each writing m bytes in k writes
// without waiting and reading the echo back, then closing. The counts of
// connections and bytes are exact; how many receives and sends the bytes
// took depends on how the kernel merged the writes, so those are checked
// against the bounds TCP guarantees.
func TestStats(t *testing.T) {
	for _, m := range modes {
		t.Run("uring"+m.suffix(), func(t *testing.T) { testStats(t, m) })
	}
}

func testStats(t *testing.T, md mode) {
	testutil.CheckFDs(t)
	const (
		n       = 6
		k       = 8
		piece   = 1000
		m       = k * piece
		bufSize = 1024 // gnet's smallest ReadBufferCap
	)
	e, addr := startOwn(t, newEcho(), md.cfg(defaultConfig), gnet.WithNumEventLoop(2), gnet.WithReadBufferCap(bufSize))
	if got := e.Stats(); len(got) != 2 {
		t.Fatalf("Stats returned %d loops, want 2", len(got))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoPieces(addr, byte(i), k, piece)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The clients have their echoes and have closed; the server's last
	// send completions and its OnCloses may still be on their way.
	var s LoopStats
	waitFor(t, "every close and send counted", func() bool {
		s = sumStats(e.Stats())
		return s.Closed == n && s.BytesWritten == n*m
	})
	ss := e.Stats()
	t.Logf("loops: %+v", ss)
	if ss[0].Accepted != n || ss[1].Accepted != 0 {
		t.Errorf("Accepted %d and %d, want %d on loop 0, which accepts for both, and 0", ss[0].Accepted, ss[1].Accepted, n)
	}
	if s.Opened != n || s.Closed != n || s.Connections != 0 {
		t.Errorf("Opened %d, Closed %d, Connections %d; want %d, %d, 0", s.Opened, s.Closed, s.Connections, n, n)
	}
	if ss[0].Opened == 0 || ss[1].Opened == 0 {
		t.Errorf("Opened %d and %d: round robin gave a loop nothing", ss[0].Opened, ss[1].Opened)
	}
	if s.BytesRead != n*m || s.BytesWritten != n*m {
		t.Errorf("BytesRead %d, BytesWritten %d; want %d each", s.BytesRead, s.BytesWritten, n*m)
	}
	// A receive takes at most a buffer (bufSize), and at least a byte; a
	// send takes at least a byte, and each connection needed one.
	if s.Reads < n*((m+bufSize-1)/bufSize) || s.Reads > n*m {
		t.Errorf("Reads %d, want between %d and %d", s.Reads, n*((m+bufSize-1)/bufSize), n*m)
	}
	if s.Writes < n || s.Writes > n*m {
		t.Errorf("Writes %d, want between %d and %d", s.Writes, n, n*m)
	}
	if s.Pauses != 0 {
		t.Errorf("Pauses %d without Config.Backpressure", s.Pauses)
	}
	// The engine's count and the loops' agree.
	if got := e.CountConnections(); got != s.Connections {
		t.Errorf("CountConnections %d, Stats %d", got, s.Connections)
	}
}

// echoPieces dials addr, writes k pieces of size bytes without waiting,
// reads the k*size bytes of echo and checks them, then closes.
func echoPieces(addr string, seed byte, k, size int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	want := make([]byte, k*size)
	pattern(want, 0, seed)
	done := make(chan error, 1)
	go func() {
		for i := range k {
			if _, err := c.Write(want[i*size : (i+1)*size]); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	got := make([]byte, len(want))
	_, rerr := io.ReadFull(c, got)
	if err := <-done; err != nil {
		return err
	}
	if rerr != nil {
		return rerr
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("the echo of connection %d differs", seed)
	}
	return nil
}

// TestStatsUDP: datagrams keep their bounds, so every counter is exact:
// one read and one write per datagram.
func TestStatsUDP(t *testing.T) {
	testutil.CheckFDs(t)
	const (
		n    = 50
		size = 300
	)
	e, err := start(newEcho(), "udp://127.0.0.1:0", defaultConfig, gnet.WithLogger(quietLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	c, err := net.DialUDP("udp", nil, e.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	msg, got := bytes.Repeat([]byte{'d'}, size), make([]byte, 2*size)
	for range n {
		// One at a time, so that loopback has no reason to drop one.
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if m, err := c.Read(got); err != nil || m != size {
			t.Fatalf("read %d bytes, %v; want %d", m, err, size)
		}
	}
	var s LoopStats
	waitFor(t, "every send counted", func() bool {
		s = sumStats(e.Stats())
		return s.Writes == n
	})
	want := LoopStats{Reads: n, BytesRead: n * size, Writes: n, BytesWritten: n * size}
	if s != want {
		t.Errorf("Stats %+v, want %+v", s, want)
	}
}

// TestStatsAllocs: counting costs the echo path no allocation, and the
// counts of a lock-step echo (one piece out, its echo back, again) are
// one receive and one send of 64 bytes per round trip, AllocsPerRun's
// warm-up run included.
func TestStatsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	testutil.CheckFDs(t)
	e, addr := startOwn(t, newEcho(), defaultConfig)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	msg, got := bytes.Repeat([]byte{'s'}, 64), make([]byte, 64)
	var failed error
	echo := func() {
		if _, err := c.Write(msg); err != nil && failed == nil {
			failed = err
		}
		if _, err := io.ReadFull(c, got); err != nil && failed == nil {
			failed = err
		}
	}
	for range 100 {
		echo()
	}
	const runs = 1000
	var before LoopStats
	waitFor(t, "the warm-up's sends counted", func() bool {
		before = e.Stats()[0]
		return before.Writes == 100
	})
	allocs := testing.AllocsPerRun(runs, echo)
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs >= 1 {
		t.Errorf("%.2f allocations per round trip, want 0", allocs)
	}
	var after LoopStats
	waitFor(t, "every send counted", func() bool {
		after = e.Stats()[0]
		return after.Writes-before.Writes == runs+1
	})
	if r, b := after.Reads-before.Reads, after.BytesRead-before.BytesRead; r != runs+1 || b != 64*(runs+1) {
		t.Errorf("%d reads of %d bytes in %d round trips of 64 bytes", r, b, runs+1)
	}
	if b := after.BytesWritten - before.BytesWritten; b != 64*(runs+1) {
		t.Errorf("%d bytes written in %d round trips of 64 bytes", b, runs+1)
	}
}

// TestStatsCloseConsistent: a reading whose Closed counts a connection's
// OnClose also leaves that connection out of Connections. One connection
// at a time opens, echoes and closes while Stats is read as fast as it
// can be; the first reading that counts the close must say no
// connection is open (none other is dialed until then).
func TestStatsCloseConsistent(t *testing.T) {
	testutil.CheckFDs(t)
	const rounds = 300
	e, addr := startOwn(t, newEcho(), defaultConfig)
	buf := make([]byte, 8)
	for i := 1; i <= rounds; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		c.Close()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := e.Stats()[0]
			if s.Closed == uint64(i) {
				if s.Connections != 0 {
					t.Fatalf("round %d: a reading counts the close (Closed %d) and still %d open connection(s)", i, s.Closed, s.Connections)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: Closed still %d after 10s", i, s.Closed)
			}
		}
	}
}
