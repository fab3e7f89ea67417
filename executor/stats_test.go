package executor

import (
	"context"
	"encoding/json"
	"expvar"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func noop(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.Noop(o) }

// TestReadStatsBeforeStart must run first: nothing in this package has
// used the executor yet, and ReadStats must not create it.
func TestReadStatsBeforeStart(t *testing.T) {
	if reactor.Started() != nil {
		t.Fatal("the executor exists before any test used it; this test must run first")
	}
	if st := ReadStats(); st != (Stats{}) {
		t.Errorf("ReadStats before the executor exists = %+v, want zeros", st)
	}
	if reactor.Started() != nil {
		t.Error("ReadStats created the executor")
	}
}

// TestReadStats runs n noops through the shared executor and reads them
// back, also through expvar as the example publishes them.
func TestReadStats(t *testing.T) {
	e, err := reactor.Default()
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	before := ReadStats()
	for i := range n {
		if _, err := e.Do(context.Background(), i, time.Time{}, noop); err != nil {
			t.Fatal(err)
		}
	}
	after := ReadStats()
	if after.Rings == 0 || after.Submitted-before.Submitted != n || after.Completed-before.Completed != n || after.Inline-before.Inline != n {
		t.Errorf("after %d noops: before %+v, after %+v", n, before, after)
	}
	if after.OpsPerEnter() <= 0 {
		t.Errorf("OpsPerEnter = %v", after.OpsPerEnter())
	}
	v := expvar.Func(func() any { return ReadStats() })
	var got Stats
	if err := json.Unmarshal([]byte(v.String()), &got); err != nil || got.Submitted < after.Submitted {
		t.Errorf("through expvar: %s (%v)", v.String(), err)
	}
}

// TestReaperGoroutines checks the package documentation's account of the
// goroutines the executor keeps: once it exists, there is one goroutine
// per ring with ReaperFunction on its stack, goleak reports them, and the
// one option the documentation gives hides them.
func TestReaperGoroutines(t *testing.T) {
	if _, err := reactor.Default(); err != nil {
		t.Fatal(err)
	}
	// A reaper that has not run yet has only the go statement's wrapper
	// on its stack: wait for each to start.
	buf := make([]byte, 1<<20)
	rings := ReadStats().Rings
	for start := time.Now(); ; runtime.Gosched() {
		stacks := string(buf[:runtime.Stack(buf, true)])
		reapers := 0
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, ReaperFunction+"(") {
				reapers++
			}
		}
		if reapers == rings {
			break
		}
		if reapers > rings || time.Since(start) > testutil.HangBound {
			t.Fatalf("%d goroutines run %s, want one per ring (%d)", reapers, ReaperFunction, rings)
		}
	}
	if err := goleak.Find(); err == nil || !strings.Contains(err.Error(), ReaperFunction) {
		t.Errorf("goleak.Find without the option = %v, want the reapers reported", err)
	}
	if err := goleak.Find(goleak.IgnoreAnyFunction(ReaperFunction)); err != nil {
		t.Errorf("goleak.Find with IgnoreAnyFunction(ReaperFunction) = %v", err)
	}
}
