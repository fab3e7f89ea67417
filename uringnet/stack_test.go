package uringnet

import (
	"io"
	"net"
	"testing"
	"unsafe"

	"github.com/uring-go/uring/internal/testutil"
)

// A goroutine starts with a small stack (2 KiB) and the runtime never
// shrinks one back to it while the goroutine waits in a Read (a stack is
// halved only when under a quarter of it is in use), so a Read or Write
// whose deepest call grows it costs every idle connection's goroutine
// the difference for good: 4 KiB against net's 2 before the reads and
// writes of a conn were made shallower (BenchmarkIdleConns).

// echoMoved serves conns connections from ln, each with a goroutine
// that echoes once (a Read, then a Write of what it read, called
// directly as an echo server does) on a fresh conn, and returns how
// many of those goroutines' stacks moved, that is, grew.
func echoMoved(t *testing.T, ln net.Listener, conns int) int {
	movedc := make(chan bool, conns)
	go func() {
		for range conns {
			c, err := ln.Accept()
			if err != nil {
				movedc <- false
				continue
			}
			go func() {
				defer c.Close()
				b := make([]byte, 64)
				var x byte // on the stack: its address moves with it
				before := uintptr(unsafe.Pointer(&x))
				n, err := c.Read(b)
				if err == nil {
					_, err = c.Write(b[:n])
				}
				movedc <- err == nil && uintptr(unsafe.Pointer(&x)) != before
			}()
		}
	}()
	msg := make([]byte, 64)
	for range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write(msg)
		if _, err := io.ReadFull(c, msg); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	moved := 0
	for range conns {
		if <-movedc {
			moved++
		}
	}
	return moved
}

// TestEchoStackDepth: echo goroutines on freshly accepted conns keep
// their starting stacks where net's do, but for a few.
//
// The margin is thin: the calls below Read (os and internal/poll's
// RawRead, the executor's submission, the ring's prep) reach about 400
// bytes deeper than net's read(2), so a goroutine with that much more
// between its start and the Read grows to 4 KiB where net's stays at 2.
func TestEchoStackDepth(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("the race detector's instrumentation changes frame sizes")
	}
	const conns = 100
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	want := echoMoved(t, nl, conns)
	got := echoMoved(t, listenLocal(t, "tcp", ListenConfig{}), conns)
	t.Logf("%d of %d echo goroutines grew their stacks; net's %d", got, conns, want)
	// A few may grow on rarer, deeper paths (an operation made
	// afresh, a contended lock); before, every one did.
	if got > want+conns/10 {
		t.Errorf("%d of %d echo goroutines grew their stacks; net's %d", got, conns, want)
	}
}
