package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/uring-go/uring/internal/testutil"
)

// FuzzConnReader drives the gnet.Conn reader methods (Next, Peek,
// Discard, Read, WriteTo, InboundBuffered), Wake, which calls OnTraffic
// with nothing new, and Write of what Next returned, in sequences decoded
// from the input, on a real connection to a real engine, and checks every answer against a
// model of the inbound byte queue: the bytes come out in the order the
// client sent them, none lost or duplicated; Peek consumes nothing;
// Next(n) and Peek(n) with n > InboundBuffered fail with
// io.ErrShortBuffer and consume nothing, and with n <= 0 mean all;
// Discard(n) returns min(n, buffered), or everything for n <= 0; Read of
// an empty queue into a non-empty slice fails with io.ErrShortBuffer, as
// gnet v2.9.7's connection_unix.go does. Bytes left unread at the end of
// a callback are there, in front of the new ones, at the next. What the
// handler writes back, through Write, Writev, ReadFrom (with Flush) and a
// Write whose slice it then overwrites, in turn, arrives at the client
// intact and in order: the bytes out equal the model's.
//
// The same sequences run on gnet itself, which keeps the model honest.
//
// Input: byte 0 gives the number of chunks the client sends (1 to 4),
// the next bytes their sizes; the rest are operations, the low three bits
// the method and the high five its argument. The client sends a chunk
// only once the handler has seen all of the one before (the handler says
// so through a channel, leaving the connection's return direction to the
// echoed bytes), so that bytes left unread meet the next chunk in a later
// callback.
func FuzzConnReader(f *testing.F) {
	f.Add([]byte{0, 40, 0x00})                                           // one chunk, Next(0) = everything
	f.Add([]byte{1, 3, 200, 0x01, 0x06, 0x09, 0x02, 0x06})               // peek all, stop, peek all but 3, discard(0)
	f.Add([]byte{2, 255, 1, 90, 0x0a, 0x06, 0x20, 0x12, 0x06, 0x0b})     // boundary n in chunks of several buffers
	f.Add([]byte{3, 10, 10, 10, 10, 0x13, 0x14, 0x15, 0x16, 0x1b, 0x08}) // negative n
	f.Add([]byte{1, 100, 100, 0x0b, 0x03, 0x07, 0x06, 0xfb, 0x05, 0x06}) // read, wake, writeto
	f.Add([]byte{3, 255, 255, 255, 255, 0x1a, 0xf8, 0xf9, 0x06, 0x02})   // large chunks, large n
	f.Add([]byte{0, 0, 0x06})                                            // a one-byte stream, nothing consumed until the end
	f.Add([]byte{1, 200, 200, 0x6c, 0x06, 0x5c, 0x6c, 0x14})             // echo all buffered, then 1226 bytes: sent from the kernel's buffer
	f.Add([]byte("\x02\xff\x01Z\n\x06 \x12\x0f\v"))                      // Wake from every woken callback (bounded by fuzzMaxWakes)

	testutil.CheckFDs(f)
	servers := make(map[string]*server)
	h := &fuzzReaderHandler{conns: make(map[string]*fuzzReaderConn)}
	for _, r := range runners {
		// The smallest read buffer both engines accept, so that a chunk
		// arrives in several callbacks.
		servers[r.name] = serve(f, r, "tcp", h, gnet.WithReadBufferCap(1024))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		nchunks := 1 + int(data[0]%4)
		if len(data) < 1+nchunks {
			return
		}
		var ends []int
		total := 0
		for _, b := range data[1 : 1+nchunks] {
			total += 1 + int(b)*13
			ends = append(ends, total)
		}
		ops := data[1+nchunks:]
		if len(ops) > 64 {
			ops = ops[:64]
		}
		stream := make([]byte, total)
		for i := range stream {
			// Depends on the position, so that bytes out of order or
			// repeated cannot match by chance.
			stream[i] = byte(i) ^ byte(i>>8)*59
		}
		for _, r := range runners {
			s := servers[r.name]
			c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
			if err != nil {
				t.Fatalf("%s: dial: %v", r.name, err)
			}
			sc := &fuzzReaderConn{stream: stream, ends: ends, ops: ops, acks: make(chan int, len(ends)), dead: make(chan struct{}), gnet: r.name == "gnet"}
			h.add(c.LocalAddr().String(), sc)
			err = sc.drive(c)
			c.Close()
			h.remove(c.LocalAddr().String())
			if errs := sc.failures(); len(errs) > 0 {
				t.Fatalf("%s, chunks %v, ops % x:\n%s", r.name, ends, ops, errs)
			}
			if err != nil {
				t.Fatalf("%s, chunks %v, ops % x: client: %v", r.name, ends, ops, err)
			}
		}
	})
}

// fuzzReaderHandler runs each connection's operation sequence. The client
// registers a connection, by its local address, before sending to it, so
// OnTraffic always finds it.
type fuzzReaderHandler struct {
	gnet.BuiltinEventEngine
	mu    sync.Mutex
	conns map[string]*fuzzReaderConn
}

func (h *fuzzReaderHandler) add(addr string, sc *fuzzReaderConn) {
	h.mu.Lock()
	h.conns[addr] = sc
	h.mu.Unlock()
}

func (h *fuzzReaderHandler) remove(addr string) {
	h.mu.Lock()
	delete(h.conns, addr)
	h.mu.Unlock()
}

func (h *fuzzReaderHandler) OnTraffic(c gnet.Conn) gnet.Action {
	sc, _ := c.Context().(*fuzzReaderConn)
	if sc == nil {
		h.mu.Lock()
		sc = h.conns[c.RemoteAddr().String()]
		h.mu.Unlock()
		if sc == nil {
			return gnet.Close
		}
		c.SetContext(sc)
	}
	return sc.onTraffic(c)
}

// fuzzMaxWakes bounds the Wake calls on one connection.
const fuzzMaxWakes = 4

// fuzzReaderConn is one connection's stream, chunking and operations, and the
// model of what the handler has consumed.
type fuzzReaderConn struct {
	stream []byte
	ends   []int // cumulative chunk ends
	ops    []byte

	// Used only on the event loop.
	cursor   int // next operation
	consumed int // bytes of stream consumed
	leftover int // bytes left unread by the last callback
	acked    int // chunks acknowledged
	echoed   []byte
	writes   int  // echo writes made, which pick the Writer method
	gnet     bool // the engine is gnet's
	wakes    int  // Wake calls made

	acks chan int      // the chunks the handler has seen all of
	dead chan struct{} // closed at the first failure

	mu   sync.Mutex
	errs []string
}

func (sc *fuzzReaderConn) failf(format string, args ...any) {
	sc.mu.Lock()
	if sc.errs == nil {
		close(sc.dead)
	}
	sc.errs = append(sc.errs, fmt.Sprintf(format, args...))
	sc.mu.Unlock()
}

func (sc *fuzzReaderConn) failures() string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return strings.Join(sc.errs, "\n")
}

// drive sends the chunks, each after the acknowledgement of the one
// before, waits for the last acknowledgement, which the handler sends
// once it has consumed everything, and then reads back what the handler
// echoed.
func (sc *fuzzReaderConn) drive(c net.Conn) error {
	// Well inside the fuzzer's 10 s limit per input, so that a stall is
	// reported as one rather than as a hung worker.
	deadline := time.Now().Add(5 * time.Second)
	c.SetDeadline(deadline)
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	start := 0
	for k, end := range sc.ends {
		if _, err := c.Write(sc.stream[start:end]); err != nil {
			return err
		}
		start = end
		select {
		case got := <-sc.acks:
			if got != k {
				return fmt.Errorf("acknowledgement %d for chunk %d", got, k)
			}
		case <-sc.dead:
			return errors.New("the handler failed")
		case <-timeout.C:
			return fmt.Errorf("no acknowledgement of chunk %d", k)
		}
	}
	// The last acknowledgement was sent after the last echo was
	// written, so echoed is complete.
	want := sc.echoed
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("reading the %d echoed bytes: %w", len(want), err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for got[i] == want[i] {
			i++
		}
		return fmt.Errorf("echo differs at byte %d of %d: % x, want % x", i, len(want), got[i:min(i+16, len(got))], want[i:min(i+16, len(want))])
	}
	return nil
}

// check compares b, the result of an operation that returned the next
// len(b) bytes, with the stream at the consumed position.
func (sc *fuzzReaderConn) check(what string, b []byte) bool {
	want := sc.stream[sc.consumed : sc.consumed+len(b)]
	if !bytes.Equal(b, want) {
		sc.failf("%s returned % x at offset %d, want % x", what, b, sc.consumed, want)
		return false
	}
	return true
}

func (sc *fuzzReaderConn) onTraffic(c gnet.Conn) gnet.Action {
	buffered := c.InboundBuffered()
	arrivedMax := sc.ends[min(sc.acked, len(sc.ends)-1)]
	switch {
	case buffered < sc.leftover:
		sc.failf("callback starts with %d bytes buffered, fewer than the %d left unread", buffered, sc.leftover)
		return gnet.Close
	case sc.consumed+buffered > arrivedMax:
		sc.failf("%d bytes buffered after %d consumed, but the client has sent only %d", buffered, sc.consumed, arrivedMax)
		return gnet.Close
	}
	if b, err := c.Peek(-1); err != nil || len(b) != buffered || !sc.check("Peek(-1) at callback start", b) {
		sc.failf("Peek(-1) at callback start: %d bytes, %v; want %d", len(b), err, buffered)
		return gnet.Close
	}
	for i := 0; i < len(sc.ops); i++ {
		op := sc.ops[sc.cursor]
		sc.cursor = (sc.cursor + 1) % len(sc.ops)
		if op&7 == 6 {
			break
		}
		if !sc.apply(c, op) {
			return gnet.Close
		}
	}
	buffered = c.InboundBuffered()
	if sc.consumed+buffered == len(sc.stream) && buffered > 0 {
		b, err := c.Next(-1)
		if err != nil || len(b) != buffered || !sc.check("final Next(-1)", b) {
			sc.failf("final Next(-1): %d bytes, %v; want %d", len(b), err, buffered)
			return gnet.Close
		}
		sc.consumed += buffered
		buffered = 0
	}
	sc.leftover = buffered
	for sc.acked < len(sc.ends) && sc.consumed+buffered >= sc.ends[sc.acked] {
		sc.acks <- sc.acked
		sc.acked++
	}
	return gnet.None
}

// apply runs one operation and checks it against the model; false means
// the two disagree.
func (sc *fuzzReaderConn) apply(c gnet.Conn, op byte) bool {
	buffered, before := c.InboundBuffered(), sc.consumed
	// n is chosen around the interesting values: small, at the number
	// buffered (either side of it), non-positive, and large.
	arg := int(op >> 3)
	var n int
	switch k := arg >> 2; arg & 3 {
	case 0:
		n = k
	case 1:
		n = buffered + k - 3
	case 2:
		n = -k
	case 3:
		n = k * 613
	}
	all := n <= 0
	short := n > buffered
	switch op & 7 {
	case 0, 1: // Next, Peek
		name := "Next"
		var b []byte
		var err error
		if op&7 == 0 {
			b, err = c.Next(n)
		} else {
			name = "Peek"
			b, err = c.Peek(n)
		}
		what := fmt.Sprintf("%s(%d) with %d buffered", name, n, buffered)
		if short {
			if !errors.Is(err, io.ErrShortBuffer) || b != nil {
				sc.failf("%s = %d bytes, %v; want nil, io.ErrShortBuffer", what, len(b), err)
				return false
			}
			break
		}
		want := n
		if all {
			want = buffered
		}
		if err != nil || len(b) != want {
			sc.failf("%s = %d bytes, %v; want %d", what, len(b), err, want)
			return false
		}
		if !sc.check(what, b) {
			return false
		}
		if op&7 == 0 {
			sc.consumed += want
		}
	case 2: // Discard
		want := n
		if all || n >= buffered {
			want = buffered
		}
		got, err := c.Discard(n)
		if err != nil || got != want {
			sc.failf("Discard(%d) with %d buffered = %d, %v; want %d", n, buffered, got, err, want)
			return false
		}
		sc.consumed += want
	case 3: // Read
		p := make([]byte, max(n, 0))
		got, err := c.Read(p)
		want := min(len(p), buffered)
		if want == 0 && len(p) > 0 {
			if got != 0 || !errors.Is(err, io.ErrShortBuffer) {
				sc.failf("Read of %d bytes with nothing buffered = %d, %v; want 0, io.ErrShortBuffer", len(p), got, err)
				return false
			}
			break
		}
		if err != nil || got != want {
			sc.failf("Read of %d bytes with %d buffered = %d, %v; want %d", len(p), buffered, got, err, want)
			return false
		}
		if !sc.check("Read", p[:got]) {
			return false
		}
		sc.consumed += got
	case 4: // Next, and write the slice back, as an echo handler does
		b, err := c.Next(n)
		if short {
			if !errors.Is(err, io.ErrShortBuffer) {
				sc.failf("Next(%d) with %d buffered: %v, want io.ErrShortBuffer", n, buffered, err)
				return false
			}
			break
		}
		if err != nil || !sc.check(fmt.Sprintf("Next(%d) to echo", n), b) {
			sc.failf("Next(%d) with %d buffered to echo: %d bytes, %v", n, buffered, len(b), err)
			return false
		}
		if len(b) > 0 {
			sc.echoed = append(sc.echoed, b...)
		}
		// The Writer method, in turn: Write; Writev in two parts
		// around an empty one; ReadFrom, then Flush (gnet's ReadFrom
		// only buffers); Write, then overwriting the slice, which
		// must not change what is sent.
		var w int
		method := [...]string{"Write", "Writev", "ReadFrom+Flush", "Write+scrub"}[sc.writes%4]
		switch sc.writes % 4 {
		case 0:
			w, err = c.Write(b)
		case 1:
			w, err = c.Writev([][]byte{b[:len(b)/3], nil, b[len(b)/3:]})
		case 2:
			if sc.gnet {
				// gnet v2.9.7's ReadFrom then Flush sent other
				// bytes than the reader's (seed 7): Write instead.
				w, err = c.Write(b)
				break
			}
			var m int64
			m, err = c.ReadFrom(bytes.NewReader(b))
			w = int(m)
			if err == nil {
				err = c.Flush()
			}
		case 3:
			w, err = c.Write(b)
			for i := range b {
				b[i] = ^b[i]
			}
		}
		sc.writes++
		if err != nil || w != len(b) {
			sc.failf("%s of %d bytes: %d, %v", method, len(b), w, err)
			return false
		}
		sc.consumed += len(b)
	case 5: // WriteTo
		var w bytes.Buffer
		got, err := c.WriteTo(&w)
		if err != nil || got != int64(buffered) || w.Len() != buffered {
			sc.failf("WriteTo with %d buffered = %d (%d written), %v", buffered, got, w.Len(), err)
			return false
		}
		if !sc.check("WriteTo", w.Bytes()) {
			return false
		}
		sc.consumed += buffered
	case 7: // Wake: a callback with nothing new, which must see what is left
		// Bounded: a Wake from each woken callback would go on for
		// ever, and on gnet starve the reads.
		if sc.wakes == fuzzMaxWakes {
			break
		}
		sc.wakes++
		if err := c.Wake(nil); err != nil {
			sc.failf("Wake: %v", err)
			return false
		}
	}
	if after, want := c.InboundBuffered(), buffered-(sc.consumed-before); after != want {
		sc.failf("op %#02x: InboundBuffered %d after it, want %d: %d buffered before, %d consumed", op, after, want, buffered, sc.consumed-before)
		return false
	}
	return true
}
