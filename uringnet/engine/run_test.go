package engine_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uringnet/engine"
)

// The public entry points reach the engine: an unmodified gnet handler
// echoes through engine.Run, Lookup finds it, Stop ends Run with nil.
func TestRunLookupStop(t *testing.T) {
	testutil.CheckFDs(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "tcp://" + ln.Addr().String()
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- engine.Run(&echo{}, addr, gnet.WithNumEventLoop(1)) }()
	var eng *engine.Engine
	for deadline := time.Now().Add(10 * time.Second); ; {
		var ok bool
		if eng, ok = engine.Lookup(addr); ok {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("engine never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c, err := net.Dial("tcp", eng.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("through engine.Run")
	c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo = %q, %v", got, err)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := engine.Stop(ctx, addr); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after Stop = %v", err)
	}
}

// A udp address serves datagrams: each is one OnTraffic, answered to its
// sender through engine.Start's engine.
func TestStartUDP(t *testing.T) {
	testutil.CheckFDs(t)
	eng, err := engine.Start(&echo{}, "udp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, eng.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, msg := range []string{"one datagram", "another"} {
		c.Write([]byte(msg))
		got := make([]byte, 64)
		n, err := c.Read(got)
		if err != nil || string(got[:n]) != msg {
			t.Fatalf("echo = %q, %v", got[:n], err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
