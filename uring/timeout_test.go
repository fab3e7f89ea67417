package uring

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/ring"
	"golang.org/x/sys/unix"
)

// Cancelling a blocked read: either the read ends ECANCELED and the cancel
// succeeds, or the read was already running (EINTR) and the cancel reports
// EALREADY.
func TestCancelBlockedRead(t *testing.T) {
	r := newRing[string](t, 4)
	rfd, _ := pipe(t)
	buf := make([]byte, 1)
	read, _ := r.Read(rfd, buf, 0, "read")
	r.Submit()
	if _, err := r.Cancel(read, "cancel"); err != nil {
		t.Fatal(err)
	}
	res := map[string]error{}
	for range 2 {
		c := wait(t, r)
		res[c.Data] = c.Err()
	}
	ok := (errors.Is(res["read"], syscall.ECANCELED) && res["cancel"] == nil) ||
		(errors.Is(res["read"], syscall.EINTR) && errors.Is(res["cancel"], syscall.EALREADY))
	if !ok {
		t.Fatalf("read: %v, cancel: %v", res["read"], res["cancel"])
	}
}

// Cancelling a read that already completed (but whose completion is not
// yet collected) gets ENOENT; cancelling one whose completion was collected
// is refused at once.
func TestCancelCompleted(t *testing.T) {
	r := newRing[string](t, 4)
	rfd, wfd := nbpipe(t)
	unix.Write(wfd, []byte("x"))
	read, _ := r.Read(rfd, make([]byte, 1), 0, "read")
	r.Submit()
	// The read completed inline during Submit.
	cancel, err := r.Cancel(read, "cancel")
	if err != nil {
		t.Fatal(err)
	}
	_ = cancel
	res := map[string]Completion[string]{}
	for range 2 {
		c := wait(t, r)
		res[c.Data] = c
	}
	if res["read"].Result != 1 || !errors.Is(res["cancel"].Err(), syscall.ENOENT) {
		t.Fatalf("read: %+v, cancel: %v", res["read"], res["cancel"].Err())
	}
	if _, err := r.Cancel(read, "again"); !errors.Is(err, ErrJobDone) {
		t.Fatalf("cancel of a collected job = %v, want ErrJobDone", err)
	}
	if r.ActiveOps() != 0 {
		t.Fatalf("ActiveOps = %d", r.ActiveOps())
	}
}

func TestTimeouts(t *testing.T) {
	r := newRing[string](t, 4)
	now := func(clk int) int64 {
		var ts unix.Timespec
		unix.ClockGettime(int32(clk), &ts)
		return ts.Nano()
	}
	for _, tc := range []struct {
		name string
		add  func() (Job, error)
	}{
		{"relative boottime 10ms", func() (Job, error) { return r.Timeout(10*time.Millisecond, Boottime, "t") }},
		{"relative monotonic 10ms", func() (Job, error) { return r.Timeout(10*time.Millisecond, Monotonic, "t") }},
		{"absolute realtime now+10ms", func() (Job, error) {
			return r.TimeoutAt(now(unix.CLOCK_REALTIME)+int64(10*time.Millisecond), Realtime, "t")
		}},
		{"absolute boottime now+10ms", func() (Job, error) {
			return r.TimeoutAt(now(unix.CLOCK_BOOTTIME)+int64(10*time.Millisecond), Boottime, "t")
		}},
		{"absolute realtime in the past", func() (Job, error) {
			return r.TimeoutAt(now(unix.CLOCK_REALTIME)-int64(time.Second), Realtime, "t")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			if _, err := tc.add(); err != nil {
				t.Fatal(err)
			}
			c := wait(t, r)
			if !errors.Is(c.Err(), syscall.ETIME) {
				t.Fatalf("timeout completed with %v, want ETIME", c.Err())
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("took %v", el)
			}
		})
	}
}

// A 10 s timeout with a 10 ms wait returns nothing; cancelling the timeout
// then lets both completions drain.
func TestWaitTimeoutThenCancel(t *testing.T) {
	r := newRing[string](t, 4)
	tj, _ := r.Timeout(10*time.Second, Boottime, "timeout")
	if _, ok, err := r.WaitTimeout(10 * time.Millisecond); ok || err != nil {
		t.Fatalf("WaitTimeout = %v, %v; want nothing", ok, err)
	}
	r.Cancel(tj, "cancel")
	got := map[string]error{}
	for range 2 {
		c := wait(t, r)
		got[c.Data] = c.Err()
	}
	if !errors.Is(got["timeout"], syscall.ECANCELED) || got["cancel"] != nil {
		t.Fatalf("timeout: %v, cancel: %v", got["timeout"], got["cancel"])
	}
}

func TestLinkTimeout(t *testing.T) {
	r := newRing[string](t, 4)
	rfd, wfd := pipe(t)
	if _, err := r.LinkTimeout(time.Millisecond, Monotonic, "lt"); err == nil {
		t.Fatal("LinkTimeout with nothing queued before it was accepted")
	}
	// A read that never gets data is cut off by its link timeout.
	r.Read(rfd, make([]byte, 1), 0, "read")
	if _, err := r.LinkTimeout(10*time.Millisecond, Monotonic, "lt"); err != nil {
		t.Fatal(err)
	}
	got := map[string]error{}
	for range 2 {
		c := wait(t, r)
		got[c.Data] = c.Err()
	}
	if !errors.Is(got["read"], syscall.ECANCELED) || !errors.Is(got["lt"], syscall.ETIME) {
		t.Fatalf("expired: read %v, timeout %v", got["read"], got["lt"])
	}
	// A read that completes in time cancels its link timeout.
	unix.Write(wfd, []byte("x"))
	r.Read(rfd, make([]byte, 1), 0, "read")
	r.LinkTimeout(10*time.Second, Monotonic, "lt")
	got = map[string]error{}
	for range 2 {
		c := wait(t, r)
		got[c.Data] = c.Err()
	}
	if got["read"] != nil || !errors.Is(got["lt"], syscall.ECANCELED) {
		t.Fatalf("in time: read %v, timeout %v", got["read"], got["lt"])
	}
}

func TestSetSQEFlags(t *testing.T) {
	r := newRing[int](t, 4)
	j, _ := r.Noop(1)
	if err := r.SetSQEFlags(j, IODrain); err != nil {
		t.Fatal(err)
	}
	if err := r.SetSQEFlags(j, SkipSuccess); err == nil {
		t.Error("SkipSuccess accepted")
	}
	r.Submit()
	if err := r.SetSQEFlags(j, IODrain); !errors.Is(err, ErrJobSubmitted) {
		t.Errorf("after Submit: %v, want ErrJobSubmitted", err)
	}
	wait(t, r)
	if err := r.SetSQEFlags(j, IODrain); !errors.Is(err, ErrJobDone) {
		t.Errorf("after completion: %v, want ErrJobDone", err)
	}
}

// The CQ holds twice the queue depth; far more completions than that
// arrive before any is collected, and none is lost.
func TestCQOverflowNoLoss(t *testing.T) {
	r := newRing[int](t, 8)
	const total = 2000
	for i := range total {
		for {
			_, err := r.Noop(i)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrQueueFull) {
				t.Fatal(err)
			}
			if _, err := r.Submit(); err != nil && !errors.Is(err, syscall.EBUSY) {
				t.Fatal(err)
			}
		}
	}
	r.Submit()
	// The kernel flags the CQ as overflowed while completions wait on its
	// overflow list; without that the test would prove nothing.
	if r.r.SQFlags()&ring.IORING_SQ_CQ_OVERFLOW == 0 {
		t.Fatal("the CQ never overflowed")
	}
	seen := make([]bool, total)
	for range total {
		c := wait(t, r)
		if seen[c.Data] {
			t.Fatalf("duplicate completion %d", c.Data)
		}
		seen[c.Data] = true
	}
	if r.Stats().CQOverflow == 0 {
		t.Error("Stats().CQOverflow = 0 after the CQ overflowed")
	}
	if r.ActiveOps() != 0 || r.Stats().Overflow != 0 {
		t.Fatalf("stats after draining: %+v", r.Stats())
	}
}

// TestClockNow checks that each Clock's Now reads that clock: it lies
// between two clock_gettime(2) readings of the same clock taken around
// it, and a TimeoutAt a little after it expires with ETIME.
func TestClockNow(t *testing.T) {
	r := newRing[Clock](t, 4)
	for clk, id := range map[Clock]int32{Monotonic: unix.CLOCK_MONOTONIC, Boottime: unix.CLOCK_BOOTTIME, Realtime: unix.CLOCK_REALTIME} {
		var before, after unix.Timespec
		unix.ClockGettime(id, &before)
		now := clk.Now()
		unix.ClockGettime(id, &after)
		if now < before.Nano() || now > after.Nano() {
			t.Errorf("clock %d: Now() = %d, not between clock_gettime's %d and %d", clk, now, before.Nano(), after.Nano())
		}
		if _, err := r.TimeoutAt(clk.Now()+int64(time.Millisecond), clk, clk); err != nil {
			t.Fatal(err)
		}
		if c := wait(t, r); c.Data != clk || !errors.Is(c.Err(), syscall.ETIME) {
			t.Errorf("clock %d: TimeoutAt(Now()+1ms) = %+v, want ETIME", clk, c)
		}
	}
}
