package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/uring-go/uring/internal/kernel/version"
	"github.com/uring-go/uring/internal/ring"
	"github.com/uring-go/uring/internal/testutil"
)

// TestDetectFeatures checks that detection finds every feature the
// running kernel's version promises, and answers the same again.
func TestDetectFeatures(t *testing.T) {
	fs, err := detectFeatures()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("features: %v", fs)
	for _, tc := range []struct {
		f            feature
		major, minor int
	}{
		{featBufRing, 5, 19},
		{featMultishotRecv, 6, 0},
		{featDeferTaskrun, 6, 1},
		{featMultishotPoll, 5, 13},
	} {
		if version.AtLeast(tc.major, tc.minor) && !fs.has(tc.f) {
			t.Errorf("%v: lacks %v on a kernel of at least %d.%d", fs, features(tc.f), tc.major, tc.minor)
		}
	}
	again, err := detectFeatures()
	if err != nil || again != fs {
		t.Errorf("second detection: %v, %v; first %v", again, err, fs)
	}
}

// TestFallbackModes checks that each mode really uses the ways it says:
// the operations armed per connection and message, the buffers, and
// whether the ring is tied to the loop's thread. (The behaviour tests run
// in every mode through runners and modes.)
func TestFallbackModes(t *testing.T) {
	all, err := detectFeatures()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range modes {
		t.Run("uring"+m.suffix(), func(t *testing.T) {
			testutil.CheckFDs(t)
			e, addr := startOwn(t, newEcho(), m.cfg(defaultConfig))
			want := all &^ m.without
			if e.feat != want {
				t.Fatalf("engine uses %v, want %v", e.feat, want)
			}
			l := e.loops[0]
			// A SINGLE_ISSUER ring refuses registrations from any
			// thread but its loop's (this goroutine cannot be on it:
			// the loop's is locked to its thread).
			var p ring.Probe
			_, err := ring.Register(l.ring.Fd(), ring.IORING_REGISTER_PROBE, unsafe.Pointer(&p), uint32(len(p.Ops)))
			if single := errors.Is(err, syscall.EEXIST); single != want.has(featDeferTaskrun) {
				t.Errorf("registering from another thread: %v; want EEXIST only with SINGLE_ISSUER|DEFER_TASKRUN (%v)", err, want)
			}

			const conns, rounds = 4, 5
			for i := range conns {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				for j := range rounds {
					msg := []byte(fmt.Sprintf("conn %d round %d", i, j))
					if got := exchange(t, c, msg); !bytes.Equal(got, msg) {
						t.Fatalf("echo %q, want %q", got, msg)
					}
				}
				c.Close()
			}
			waitFor(t, "every connection closed", func() bool { return e.CountConnections() == 0 })
			ctxStop(t, e)

			if (l.br != nil) != want.has(featBufRing) || (l.pool != nil) == want.has(featBufRing) {
				t.Errorf("buffer ring %v, pool %v, with %v", l.br != nil, l.pool != nil, want)
			}
			msgs := uint64(conns * rounds)
			t.Logf("armed: %d accepts, %d receives, %d polls for %d connections, %d messages",
				l.acceptArms, l.recvArms, l.pollArms, conns, msgs)
			check := func(what string, n uint64, perMessage bool) {
				t.Helper()
				if perMessage && n < msgs || !perMessage && n >= msgs {
					t.Errorf("%d %s armed for %d messages on %d connections; want one per %s",
						n, what, msgs, conns, map[bool]string{true: "message", false: "connection"}[perMessage])
				}
			}
			// A single accept per connection, which names the peer.
			if l.acceptArms < conns+1 {
				t.Errorf("%d accepts armed for %d connections, want one each and one more", l.acceptArms, conns)
			}
			switch {
			case want.has(featBufRing):
				check("receives", l.recvArms, !want.has(featMultishotRecv))
				if l.pollArms != 0 {
					t.Errorf("%d polls armed with a buffer ring", l.pollArms)
				}
			default:
				check("receives", l.recvArms, true)
				check("polls", l.pollArms, !want.has(featMultishotPoll))
			}
		})
	}
}

// TestDataThenEOF sends data and the end of the stream back to back, so
// that they often arrive together, before the server has looked: the
// server must echo the data and then see the end, in every mode (a
// multishot poll posts nothing more for an end that arrived with data it
// has already reported).
func TestDataThenEOF(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		for _, r := range runners {
			t.Run(network+"/"+r.name, func(t *testing.T) { testDataThenEOF(t, r, network) })
		}
	}
}

func testDataThenEOF(t *testing.T, r runner, network string) {
	testutil.CheckFDs(t)
	h := &countHandler{}
	s := serve(t, r, network, h)
	for i := range 50 {
		c := s.dial(t)
		msg := []byte(fmt.Sprintf("message %d", i))
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("connection %d: %v after %q", i, err, got)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("connection %d: echo %q, want %q", i, got, msg)
		}
		c.Close()
	}
	waitFor(t, "every OnClose", func() bool { return h.opened.Load() == h.closed.Load() })
}
