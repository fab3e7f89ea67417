package engine

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/uring-go/uring/internal/testutil"
)

// sideBySide is gnet and this engine with every feature: for behaviour
// that does not depend on how a loop receives.
var sideBySide = runners[:2]

// TestEpollOnlyOptions: every option gnet accepts on a stream address is
// accepted, the epoll-only ones as hints without effect: the engine
// serves as gnet does.
func TestEpollOnlyOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  gnet.Option
	}{
		{"edge-triggered", gnet.WithEdgeTriggeredIO(true)},
		{"edge-triggered-chunk", gnet.WithEdgeTriggeredIOChunk(1 << 16)},
		{"multicast-index", gnet.WithMulticastInterfaceIndex(1)},
	} {
		for _, network := range []string{"tcp", "unix"} {
			for _, r := range sideBySide {
				t.Run(tc.name+"/"+network+"/"+r.name, func(t *testing.T) {
					testutil.CheckFDs(t)
					s := serve(t, r, network, newEcho(), tc.opt)
					c := s.dial(t)
					msg := bytes.Repeat([]byte("et"), 50000)
					if got := exchange(t, c, msg); !bytes.Equal(got, msg) {
						t.Fatal("echo differs")
					}
					c.Close()
					s.shutdown(t)
				})
			}
		}
	}
}

// selfDialTick's first OnTick blocks until it is given its own server's
// address, then dials it and waits for the echo: with OnTick on an event
// loop, the loop that would answer is the one waiting.
type selfDialTick struct {
	echoHandler
	addr   chan string
	result chan error
	ticks  atomic.Int32
}

func (h *selfDialTick) OnTick() (time.Duration, gnet.Action) {
	if h.ticks.Add(1) > 1 {
		return time.Hour, gnet.None
	}
	h.result <- func() error {
		c, err := net.Dial("tcp", <-h.addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		msg := []byte("from OnTick")
		if _, err := c.Write(msg); err != nil {
			return err
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("echo %q", got)
		}
		return nil
	}()
	return time.Hour, gnet.None
}

// TestOnTickOwnGoroutine: OnTick runs on a goroutine of its own, as in
// gnet: while it blocks, every loop serves traffic, and an OnTick that
// waits for its own server's reply gets it.
func TestOnTickOwnGoroutine(t *testing.T) {
	for _, r := range sideBySide {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &selfDialTick{echoHandler: *newEcho(), addr: make(chan string), result: make(chan error, 1)}
			s := serve(t, r, "tcp", h, gnet.WithTicker(true), gnet.WithNumEventLoop(1))
			// OnTick fires at once and is now blocked in the receive
			// from h.addr; the only loop must still serve.
			c := s.dial(t)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if got := exchange(t, c, []byte("while OnTick blocks")); string(got) != "while OnTick blocks" {
				t.Fatalf("echo %q", got)
			}
			h.addr <- s.addr
			select {
			case err := <-h.result:
				if err != nil {
					t.Fatalf("OnTick's own exchange: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("OnTick's exchange with its own server never completed")
			}
			c.Close()
			s.shutdown(t)
		})
	}
}
