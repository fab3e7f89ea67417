package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/uring-go/uring/internal/testutil"
)

// writeModeHandler echoes what arrives through a mix of the Writer
// methods, so that writes of inbound slices (which this package sends
// from the provided buffer) are followed by further writes in the same
// callback, by a Flush, or by unconsumed bytes.
type writeModeHandler struct {
	gnet.BuiltinEventEngine
	mode string
}

func (h *writeModeHandler) OnTraffic(c gnet.Conn) gnet.Action {
	n := c.InboundBuffered()
	switch h.mode {
	case "split":
		a, _ := c.Next(n / 2)
		c.Write(a)
		b, _ := c.Next(-1)
		c.Write(b)
	case "flush":
		a, _ := c.Next(n / 2)
		c.Write(a)
		if err := c.Flush(); err != nil {
			panic(err)
		}
		b, _ := c.Next(-1)
		c.Write(b)
	case "writev":
		b, _ := c.Next(-1)
		c.Writev([][]byte{b[:len(b)/3], b[len(b)/3:]})
	case "peek":
		// Echo all but the last byte, which waits for the next data
		// (or the peer's close); the echoed part stays in the buffer
		// the unread byte is copied out of.
		if n < 2 {
			return gnet.None
		}
		b, _ := c.Peek(n - 1)
		c.Write(b)
		c.Discard(n - 1)
	}
	return gnet.None
}

// TestWriteInboundSlices streams a patterned 1 MiB through each mode and
// checks every byte comes back in order, with gnet as the reference, and
// with Config.SendFromReadBuffer in each of this engine's modes.
func TestWriteInboundSlices(t *testing.T) {
	rs := runners
	for _, m := range modes {
		rs = append(rs, runner{"uring-sendfromread" + m.suffix(), func(h gnet.EventHandler, protoAddr string, opts ...gnet.Option) error {
			cfg := m.cfg(defaultConfig)
			cfg.SendFromReadBuffer = true
			e, err := start(h, protoAddr, cfg, opts...)
			if err != nil {
				return err
			}
			return e.Wait()
		}, Stop})
	}
	for _, mode := range []string{"split", "flush", "writev", "peek"} {
		for _, r := range rs {
			t.Run(mode+"/"+r.name, func(t *testing.T) {
				testutil.CheckFDs(t)
				h := &writeModeHandler{mode: mode}
				s := serve(t, r, "tcp", h, gnet.WithReadBufferCap(4096))
				c := s.dial(t)
				const size = 1 << 20
				want := make([]byte, size)
				pattern(want, 0, 3)
				errc := make(chan error, 1)
				go func() {
					for p := want; len(p) > 0; {
						k := min(len(p), 3000)
						if _, err := c.Write(p[:k]); err != nil {
							errc <- err
							return
						}
						p = p[k:]
					}
					errc <- nil
				}()
				expect := size
				if mode == "peek" {
					expect-- // the last byte is never followed by more
				}
				got := make([]byte, expect)
				if _, err := io.ReadFull(c, got); err != nil {
					t.Fatal(err)
				}
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want[:expect]) {
					i := 0
					for i < expect && got[i] == want[i] {
						i++
					}
					t.Fatalf("echoed stream differs from byte %d", i)
				}
			})
		}
	}
}

// TestWriteInboundPinned checks that with Config.SendFromReadBuffer the
// echo path does send from the provided buffers, and that with more busy connections than the bound
// on held buffers allows (a ring of 8) every byte still comes back.
func TestWriteInboundPinned(t *testing.T) {
	for _, m := range modes {
		t.Run("uring"+m.suffix(), func(t *testing.T) { testWriteInboundPinned(t, m) })
	}
}

func testWriteInboundPinned(t *testing.T, m mode) {
	testutil.CheckFDs(t)
	h := newEcho()
	cfg := m.cfg(config{bufRingEntries: 8, queueDepth: 64})
	cfg.SendFromReadBuffer = true
	e, addr := startOwn(t, h, cfg, gnet.WithReadBufferCap(2048))
	const conns, size = 20, 128 << 10
	errc := make(chan error, conns)
	for i := range conns {
		go func() {
			errc <- func() error {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				want := make([]byte, size)
				pattern(want, 0, byte(i))
				go func() {
					for p := want; len(p) > 0; {
						k := min(len(p), 5000)
						if _, err := c.Write(p[:k]); err != nil {
							return
						}
						p = p[k:]
					}
				}()
				got := make([]byte, size)
				if _, err := io.ReadFull(c, got); err != nil {
					return err
				}
				if !bytes.Equal(got, want) {
					return errors.New("echoed stream differs")
				}
				return nil
			}()
		}()
	}
	for range conns {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	ctxStop(t, e)
	var pins uint64
	for _, l := range e.loops {
		pins += l.pins
	}
	if pins == 0 {
		t.Error("no write was sent from its provided buffer")
	}
	for _, l := range e.loops {
		if l.pinned != 0 {
			t.Errorf("loop %d ended with %d provided buffers held", l.idx, l.pinned)
		}
	}
}

// ctxStop stops e and waits for it, so that loop fields can be read.
func ctxStop(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := e.Wait(); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}
