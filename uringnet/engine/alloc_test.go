package engine

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

// TestEchoAllocs checks that the steady-state echo path (receive,
// OnTraffic, send from the provided buffer, recycle) allocates nothing.
// The count is the whole process's, client included, so it holds the
// client to the same standard: a loopback net.Conn round trip does not
// allocate either.
func TestEchoAllocs(t *testing.T) {
	for _, m := range modes {
		t.Run("uring"+m.suffix(), func(t *testing.T) { testEchoAllocs(t, m) })
	}
}

func testEchoAllocs(t *testing.T, m mode) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	testutil.CheckFDs(t)
	_, addr := startOwn(t, newEcho(), m.cfg(defaultConfig))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	for _, size := range []int{64, 4096} {
		msg, got := bytes.Repeat([]byte{'z'}, size), make([]byte, size)
		var failed error
		echo := func() {
			if _, err := c.Write(msg); err != nil && failed == nil {
				failed = err
			}
			if _, err := io.ReadFull(c, got); err != nil && failed == nil {
				failed = err
			}
		}
		for range 200 {
			echo() // warm up: buffers grown, slots allocated
		}
		allocs := testing.AllocsPerRun(1000, echo)
		if failed != nil {
			t.Fatal(failed)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("echo of %d bytes differs", size)
		}
		if allocs >= 1 {
			t.Errorf("%d-byte echo: %.2f allocations per round trip, want 0", size, allocs)
		}
	}
}
