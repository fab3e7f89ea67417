package timeslice

import (
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// A Clock is due at once, then not again before Every has passed, then
// again.
func TestClockDue(t *testing.T) {
	var c Clock
	if !c.Due() {
		t.Fatal("a new Clock is not due")
	}
	start := time.Now()
	if c.Due() && time.Since(start) < Every {
		t.Fatal("due again at once")
	}
	for !c.Due() {
		time.Sleep(time.Millisecond)
	}
	if d := time.Since(start); d < Every-time.Millisecond {
		t.Fatalf("due again after %v, before Every (%v)", d, Every)
	}
}
