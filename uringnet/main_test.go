package uringnet

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"go.uber.org/goleak"
)

// TestMain makes the process-wide executor before any test counts fds,
// and leaves its reapers, which live as long as the process by design,
// out of the goroutine leak check.
func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	if _, err := reactor.Default(); err != nil {
		fmt.Fprintln(os.Stderr, "io_uring unavailable:", err)
		os.Exit(1)
	}
	// A multishot operation's callback runs under the executor's lock:
	// make one that enters the executor panic.
	reactor.CheckCallbacks()
	testutil.Main(m, goleak.IgnoreAnyFunction("github.com/uring-go/uring/internal/reactor.(*shard).reap"))
}

// listenLocal listens on a fresh loopback TCP port or Unix socket path,
// and closes the listener when the test ends.
func listenLocal(tb testing.TB, network string, lc ListenConfig) *Listener {
	tb.Helper()
	addr := "127.0.0.1:0"
	switch network {
	case "tcp6":
		addr = "[::1]:0"
	case "unix":
		addr = filepath.Join(tb.TempDir(), "s")
	}
	ln, err := lc.Listen(tb.Context(), network, addr)
	if err != nil {
		tb.Fatalf("Listen(%q, %q): %v", network, addr, err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln.(*Listener)
}

// pair returns both ends of a fresh connection through ln.
func pair(tb testing.TB, ln *Listener) (client, server *Conn) {
	tb.Helper()
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.AcceptUring()
		ch <- res{c, err}
	}()
	c, err := Dial(ln.Addr().Network(), ln.Addr().String())
	if err != nil {
		tb.Fatalf("Dial: %v", err)
	}
	client = c.(*Conn)
	r := <-ch
	if r.err != nil {
		client.Close()
		tb.Fatalf("Accept: %v", r.err)
	}
	tb.Cleanup(func() { client.Close(); r.c.Close() })
	return client, r.c
}

// netPair is pair for package net: both ends of a connection dialed to
// ln and accepted from it, closed when the test ends.
func netPair(tb testing.TB, ln net.Listener) (client, server net.Conn) {
	tb.Helper()
	c, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
	if err != nil {
		tb.Fatalf("net.Dial: %v", err)
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		tb.Fatalf("net Accept: %v", err)
	}
	tb.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

var _ net.Conn = (*Conn)(nil)
