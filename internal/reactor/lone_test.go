package reactor

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// An operation started with StartLocalFile waits, while it is alone on
// its ring, in io_uring_enter itself (waitAlone). The reactor does not
// know what an operation waits on, so these tests use reads of pipes and
// timeouts, whose waits they control: uringfs starts only transfers of
// files with an offset this way.

// waitInKernel yields until some goroutine is in the timed io_uring_enter
// of waitAlone (or about to make it: it has found its operation not
// done and itself alone).
func waitInKernel(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for start := time.Now(); ; {
		n := runtime.Stack(buf, true)
		if strings.Contains(string(buf[:n]), ").WaitFlushed(") {
			return
		}
		if time.Since(start) > testutil.HangBound {
			t.Fatal("no goroutine reached the waited io_uring_enter")
		}
		runtime.Gosched()
	}
}

type waitResult struct {
	res Result
	err error
}

// startLone starts a read of rfd into buf with StartLocalFile on its own
// goroutine and returns where Wait's result goes.
func startLone(t *testing.T, e *Executor, ctx context.Context, rfd int, buf []byte) <-chan waitResult {
	t.Helper()
	done := make(chan waitResult, 1)
	go func() {
		o, err := e.StartLocalFile(read(rfd, buf))
		if err != nil {
			done <- waitResult{err: err}
			return
		}
		res, err := o.Wait(ctx)
		done <- waitResult{res, err}
	}()
	return done
}

// A lone operation that waits completes through its own waited enter:
// counted as Waited, never Parked, and the reaper is not needed.
func TestLoneOpWaitsInEnter(t *testing.T) {
	testutil.CheckFDs(t)
	e := newExec(t, Config{Shards: 1})
	rfd, wfd := pipe(t)
	buf := make([]byte, 1)
	before := e.Stats()
	done := startLone(t, e, context.Background(), rfd, buf)
	waitInKernel(t)
	if _, err := unix.Write(wfd, []byte{'x'}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.res.Res != 1 || buf[0] != 'x' {
		t.Fatalf("read = %d, %v, %q; want 1, nil, \"x\"", r.res.Res, r.err, buf)
	}
	d := statsDelta(before, e.Stats())
	if d.Waited != 1 || d.Parked != 0 || d.Inline != 0 || d.Active != 0 {
		t.Errorf("after one lone read: %+v; want Waited 1, Parked 0, Inline 0, Active 0", d)
	}
}

// Another operation started while a lone one waits in the kernel is
// served without loss: its completion ends the waited enter, and the
// waiter, no longer alone, parks and leaves every completion from then on
// to the reaper.
func TestLoneWaitHandsOverToReaper(t *testing.T) {
	testutil.CheckFDs(t)
	e := newExec(t, Config{Shards: 1})
	ctx := context.Background()
	ra, wa := pipe(t)
	rb, wb := pipe(t)
	bufA, bufB := make([]byte, 1), make([]byte, 1)
	before := e.Stats()
	doneA := startLone(t, e, ctx, ra, bufA)
	waitInKernel(t)

	// B waits on its pipe; a timeout's completion then wakes A's
	// waited enter, which finds B in flight and parks.
	ob, err := e.Start(rb, time.Time{}, read(rb, bufB))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Do(ctx, 0, time.Time{}, func(r *Ring, o *Operation) (uring.Job, error) {
		return r.Timeout(time.Millisecond, uring.Monotonic, o)
	}); err != syscall.ETIME {
		t.Fatalf("timeout: %v, want ETIME", err)
	}
	for e.Stats().ParkedNow == 0 {
		runtime.Gosched()
	}

	// Both complete through the reaper now.
	if _, err := unix.Write(wa, []byte{'a'}); err != nil {
		t.Fatal(err)
	}
	if r := <-doneA; r.err != nil || r.res.Res != 1 || bufA[0] != 'a' {
		t.Fatalf("A = %d, %v, %q", r.res.Res, r.err, bufA)
	}
	if _, err := unix.Write(wb, []byte{'b'}); err != nil {
		t.Fatal(err)
	}
	if res, err := ob.Wait(ctx); err != nil || res.Res != 1 || bufB[0] != 'b' {
		t.Fatalf("B = %d, %v, %q", res.Res, err, bufB)
	}
	d := statsDelta(before, e.Stats())
	if d.Waited != 0 || d.Parked < 2 || d.Active != 0 || d.ParkedNow != 0 {
		t.Errorf("%+v; want A and B parked (Parked >= 2, Waited 0), nothing active", d)
	}
}

// A lone waited operation is ended, while it waits in the kernel, by the
// executor's Close, by Cancel from another goroutine and by its context;
// the last posts no completion and is seen between slices.
func TestLoneWaitStops(t *testing.T) {
	for _, how := range []string{"close", "cancel", "context"} {
		t.Run(how, func(t *testing.T) {
			testutil.CheckFDs(t)
			e, err := New(Config{Shards: 1})
			if err != nil {
				t.Fatal(err)
			}
			closed := false
			defer func() {
				if !closed {
					e.Close()
				}
			}()
			rfd, _ := pipe(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ops := make(chan *Operation, 1)
			done := make(chan waitResult, 1)
			go func() {
				o, err := e.StartLocalFile(read(rfd, make([]byte, 1)))
				if err != nil {
					done <- waitResult{err: err}
					return
				}
				ops <- o
				res, err := o.Wait(ctx)
				done <- waitResult{res, err}
			}()
			o := <-ops
			waitInKernel(t)
			var want error
			switch how {
			case "close":
				closed = true
				if err := testutil.Returns(t, "Close", e.Close); err != nil {
					t.Fatalf("Close: %v", err)
				}
				want = syscall.ECANCELED
			case "cancel":
				o.Cancel()
				want = ErrCanceled
			case "context":
				cancel()
				want = context.Canceled
			}
			r := <-done
			if !errors.Is(r.err, want) {
				t.Fatalf("Wait = %d, %v; want %v", r.res.Res, r.err, want)
			}
			if how != "close" {
				if st := e.Stats(); st.Active != 0 || st.ParkedNow != 0 {
					t.Errorf("after the stop: %+v; want nothing active or parked", st)
				}
			}
		})
	}
}

// Many goroutines run StartLocalFile operations that wait (timeouts of 0
// to 200 µs) and ones that complete inline (noops) on one ring, so that
// lone waits in the kernel, hand-overs to the reaper and parked waits
// keep alternating: every operation completes with its own result, and
// nothing is left active or parked.
func TestLoneWaitManyGoroutines(t *testing.T) {
	e := newExec(t, Config{Shards: 1, QueueDepth: 8})
	before := e.Stats()
	const goroutines, perG = 3, 300
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				d := time.Duration((g+i)%3) * 100 * time.Microsecond
				prep, want := func(r *Ring, o *Operation) (uring.Job, error) {
					return r.Timeout(d, uring.Monotonic, o)
				}, error(syscall.ETIME)
				if (g*perG+i)%5 == 0 {
					prep, want = noop, nil
				}
				o, err := e.StartLocalFile(prep)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := o.Wait(context.Background()); err != want {
					t.Errorf("goroutine %d, op %d: %v, want %v", g, i, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	d := statsDelta(before, e.Stats())
	if d.Active != 0 || d.ParkedNow != 0 || d.Completed != goroutines*perG {
		t.Errorf("%+v; want %d completed, nothing active or parked", d, goroutines*perG)
	}
	t.Logf("waited %d, parked %d, inline %d", d.Waited, d.Parked, d.Inline)
}
