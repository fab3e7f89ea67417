package reactor

import (
	"context"
	"errors"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// statsDelta returns after's counters minus before's, for the ones that
// only grow, and after's gauges.
func statsDelta(before, after Stats) Stats {
	return Stats{
		Shards:     after.Shards,
		Submitted:  after.Submitted - before.Submitted,
		Completed:  after.Completed - before.Completed,
		Enters:     after.Enters - before.Enters,
		Active:     after.Active,
		Requeued:   after.Requeued - before.Requeued,
		Inline:     after.Inline - before.Inline,
		Parked:     after.Parked - before.Parked,
		ParkedNow:  after.ParkedNow,
		Waited:     after.Waited - before.Waited,
		Spurious:   after.Spurious - before.Spurious,
		CQOverflow: after.CQOverflow - before.CQOverflow,
		CQDropped:  after.CQDropped - before.CQDropped,
	}
}

// TestStatsExact runs known workloads one at a time on a private
// executor and checks that each is counted exactly: n noops are n
// submissions, n enters and n inline completions; m reads that wait for
// a writer are m parked goroutines, woken by the reaper; an operation the
// kernel cancels without being asked is counted as spurious at every
// attempt Do makes.
func TestStatsExact(t *testing.T) {
	e := newExec(t, Config{Shards: 1, QueueDepth: 8})
	ctx := context.Background()

	const n = 50
	before := e.Stats()
	for i := range n {
		if _, err := e.Do(ctx, i, time.Time{}, noop); err != nil {
			t.Fatal(err)
		}
	}
	// A noop completes inside the enter that submits it, and Do's
	// goroutine makes that enter itself: one each, found done.
	if d := statsDelta(before, e.Stats()); d != (Stats{Shards: 1, Submitted: n, Completed: n, Enters: n, Inline: n}) {
		t.Errorf("after %d noops: %+v", n, d)
	}

	// Reads of an empty pipe park; the writer writes only once the
	// counters say the reader is parked, so each read is woken by the
	// reaper and counted as parked, never inline.
	const m = 20
	rfd, wfd := pipe(t)
	buf := make([]byte, 1)
	wrote := make(chan error)
	go func() {
		for range m {
			for e.Stats().ParkedNow == 0 {
				runtime.Gosched()
			}
			_, err := unix.Write(wfd, []byte{'x'})
			wrote <- err
		}
	}()
	before = e.Stats()
	for range m {
		if res, err := e.Do(ctx, rfd, time.Time{}, read(rfd, buf)); err != nil || res.Res != 1 {
			t.Fatalf("read = %d, %v", res.Res, err)
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	}
	d := statsDelta(before, e.Stats())
	if d.Parked != m || d.Inline != 0 || d.ParkedNow != 0 || d.Submitted != m || d.Completed != m {
		t.Errorf("after %d reads that waited: %+v", m, d)
	}

	// A read limited by a link timeout the executor did not set up:
	// its ECANCELED is, for the executor, a cancellation nobody asked
	// for, as the kernel's own are. Do runs it maxRequeue times.
	before = e.Stats()
	_, err := e.Do(ctx, rfd, time.Time{}, func(r *Ring, o *Operation) (uring.Job, error) {
		j, err := r.Read(rfd, buf, 0, o)
		if err != nil {
			return j, err
		}
		_, err = r.LinkTimeout(time.Millisecond, uring.Monotonic, ignored)
		return j, err
	})
	if !errors.Is(err, syscall.ECANCELED) {
		t.Fatalf("read with a link timeout = %v, want ECANCELED", err)
	}
	d = statsDelta(before, e.Stats())
	if d.Spurious != maxRequeue || d.Requeued != maxRequeue-1 || d.Submitted != 2*maxRequeue || d.Completed != 2*maxRequeue {
		t.Errorf("after a read cancelled unasked %d times: %+v", maxRequeue, d)
	}
	if st := e.Stats(); st.Active != 0 || st.CQDropped != 0 || st.CQOverflow != 0 {
		t.Errorf("at the end: %+v", st)
	}
}

// TestStatsNoAllocs checks that counting adds no allocation to the paths
// it sits on: an operation found done after its own enter, and one whose
// goroutine parks until the reaper readies it.
func TestStatsNoAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random")
	}
	e := newExec(t, Config{Shards: 1, QueueDepth: 8})
	ctx := context.Background()
	rfd, wfd := pipe(t)
	buf := make([]byte, 1)
	msg := []byte{'x'}
	readPrep := func(r *Ring, o *Operation) (uring.Job, error) { return r.Read(rfd, buf, 0, o) }

	before := e.Stats()
	inline := testing.AllocsPerRun(200, func() {
		e.Do(ctx, 0, time.Time{}, noop)
	})
	if inline != 0 {
		t.Errorf("%v allocations per inline noop", inline)
	}
	if d := statsDelta(before, e.Stats()); d.Inline == 0 || d.Parked != 0 {
		t.Fatalf("the noops did not take the inline path: %+v", d)
	}

	// The writer is one goroutine for the whole run, started before
	// AllocsPerRun measures; it waits for each read to park.
	next, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for range next {
			for e.Stats().ParkedNow == 0 {
				runtime.Gosched()
			}
			unix.Write(wfd, msg)
		}
	}()
	before = e.Stats()
	parked := testing.AllocsPerRun(50, func() {
		next <- struct{}{}
		if res, err := e.Do(ctx, rfd, time.Time{}, readPrep); err != nil || res.Res != 1 {
			t.Fatalf("read = %d, %v", res.Res, err)
		}
	})
	close(next)
	<-done
	if parked != 0 {
		t.Errorf("%v allocations per parked read", parked)
	}
	if d := statsDelta(before, e.Stats()); d.Parked == 0 || d.Inline != 0 {
		t.Fatalf("the reads did not park: %+v", d)
	}
}

// TestRunRequeuesUnasked checks Run's bound on every way of starting an
// operation: a read cancelled by a link timeout the executor did not set
// up (for the executor, a cancellation nobody asked for, as the kernel's
// own are) is started maxRequeue times and its ECANCELED then surfaces;
// a read cancelled by the caller's context is started once.
func TestRunRequeuesUnasked(t *testing.T) {
	e := newExec(t, Config{Shards: 2})
	rfd, _ := pipe(t)
	timedPoll := func(r *Ring, o *Operation) (uring.Job, error) {
		j, err := r.PollAdd(rfd, uring.PollIn, o)
		if err != nil {
			return j, err
		}
		_, err = r.LinkTimeout(time.Millisecond, uring.Monotonic, ignored)
		return j, err
	}
	for _, local := range []bool{false, true} {
		starts := 0
		_, err := e.Run(context.Background(), func() (*Operation, error) {
			starts++
			if local {
				return e.StartLocal(timedPoll)
			}
			return e.Start(rfd, time.Time{}, timedPoll)
		})
		if !errors.Is(err, syscall.ECANCELED) || starts != maxRequeue {
			t.Errorf("local=%v: Run = %v after %d starts, want ECANCELED after %d", local, err, starts, maxRequeue)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	starts := 0
	_, err := e.Run(ctx, func() (*Operation, error) {
		starts++
		return e.Start(rfd, time.Time{}, func(r *Ring, o *Operation) (uring.Job, error) { return r.PollAdd(rfd, uring.PollIn, o) })
	})
	if err != context.DeadlineExceeded || starts != 1 {
		t.Errorf("poll cancelled by its context: Run = %v after %d starts, want %v after 1", err, starts, context.DeadlineExceeded)
	}
}
