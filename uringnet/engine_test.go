package uringnet_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uringnet"
)

type echoHandler struct{ gnet.BuiltinEventEngine }

func (*echoHandler) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return gnet.None
}

// The public entry points reach the engine: an unmodified gnet handler
// echoes through uringnet.Run, Lookup finds it, Stop ends Run with nil.
func TestRunWrapper(t *testing.T) {
	testutil.CheckFDs(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "tcp://" + ln.Addr().String()
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- uringnet.Run(&echoHandler{}, addr, gnet.WithNumEventLoop(1)) }()
	var eng *uringnet.Engine
	for deadline := time.Now().Add(10 * time.Second); ; {
		var ok bool
		if eng, ok = uringnet.Lookup(addr); ok {
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
	msg := []byte("through uringnet.Run")
	c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo = %q, %v", got, err)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := uringnet.Stop(ctx, addr); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after Stop = %v", err)
	}
	if _, err := uringnet.Start(&echoHandler{}, "udp://127.0.0.1:0"); err == nil {
		t.Fatal("udp accepted")
	}
}
