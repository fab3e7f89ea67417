package fdlife

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/uring-go/uring/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// ready reports whether c can be received from now.
func ready(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Close waits for the last operation: Idle is ready only once every
// reference taken before MarkClosed is dropped, and none is taken after.
func TestRefsCloseAfterLastOperation(t *testing.T) {
	var r Refs
	if !r.Incref() || !r.Incref() {
		t.Fatal("Incref failed on an open fd")
	}
	first, busy := r.MarkClosed()
	if !first || !busy {
		t.Fatalf("MarkClosed = %v, %v; want true, true", first, busy)
	}
	if r.Incref() {
		t.Fatal("Incref succeeded after MarkClosed")
	}
	if first, _ := r.MarkClosed(); first {
		t.Fatal("second MarkClosed reported first")
	}
	idle := r.Idle()
	r.Decref()
	if ready(idle) {
		t.Fatal("idle with a reference still held")
	}
	r.Decref()
	if !ready(idle) {
		t.Fatal("not idle after the last reference was dropped")
	}
}

// An fd closed with nothing in flight is not busy, and one whose last
// operation ended before Idle was asked for is idle at once, without a
// channel made for it.
func TestRefsIdleMadeOnlyWhenWaited(t *testing.T) {
	var r Refs
	if first, busy := r.MarkClosed(); !first || busy {
		t.Fatalf("MarkClosed = %v, %v; want true, false", first, busy)
	}
	var s Refs
	s.Incref()
	s.MarkClosed()
	s.Decref()
	if n := testing.AllocsPerRun(10, func() {
		if !ready(s.Idle()) {
			t.Fatal("not idle with no reference held")
		}
	}); n != 0 {
		t.Errorf("Idle of an idle fd: %v allocations, want 0", n)
	}
	if s.idle.Load() != nil {
		t.Error("Idle made a channel for an idle fd")
	}
	var o Refs
	if n := testing.AllocsPerRun(100, func() {
		o.Incref()
		o.Decref()
	}); n != 0 {
		t.Errorf("Incref and Decref: %v allocations, want 0", n)
	}
}

// Operations ending while Close publishes its channel: Idle must fire
// every time, whichever side goes first (run with -race).
func TestRefsIdleRace(t *testing.T) {
	for range 200 {
		var r Refs
		const ops = 4
		var start, wg sync.WaitGroup
		start.Add(1)
		for range ops {
			if !r.Incref() {
				t.Fatal("Incref failed on an open fd")
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				r.Decref()
			}()
		}
		first, busy := r.MarkClosed()
		if !first || !busy {
			t.Fatalf("MarkClosed = %v, %v", first, busy)
		}
		start.Done()
		select {
		case <-r.Idle():
		case <-time.After(10 * time.Second):
			t.Fatal("Idle never fired")
		}
		wg.Wait()
	}
}

// The count refuses a reference rather than overflow into the closed bit.
func TestRefsLimit(t *testing.T) {
	var r Refs
	r.state.Store(refLimit)
	if r.Incref() {
		t.Fatal("Incref succeeded at the limit")
	}
	if r.Closed() {
		t.Fatal("closed by a refused Incref")
	}
	r.Decref()
	if !r.Incref() {
		t.Fatal("Incref failed below the limit")
	}
}

// A deadline in the past wakes a waiter at once; moving it into the
// future re-arms the Waiter (Err nil, a fresh channel); a near one wakes
// the waiter by its timer; Close wakes for good with its error.
func TestWaiterDeadlines(t *testing.T) {
	var w Waiter
	done := w.Done()
	if ready(done) || w.Err() != nil || w.Check() != nil {
		t.Fatal("a Waiter without a deadline is done")
	}
	w.Set(time.Unix(1, 0))
	if !ready(done) || w.Err() != os.ErrDeadlineExceeded || w.Check() != os.ErrDeadlineExceeded {
		t.Fatalf("past deadline: done %v, Err %v", ready(done), w.Err())
	}
	w.Set(time.Now().Add(time.Hour))
	if w.Err() != nil || w.Check() != nil || ready(w.Done()) {
		t.Fatal("a deadline moved into the future left the Waiter done")
	}
	w.Set(time.Now().Add(10 * time.Millisecond))
	select {
	case <-w.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the deadline's timer never woke the waiter")
	}
	if w.Err() != os.ErrDeadlineExceeded {
		t.Fatalf("Err after the timer = %v", w.Err())
	}
	w.Set(time.Time{})
	done = w.Done()
	if ready(done) || w.Check() != nil {
		t.Fatal("a cleared deadline left the Waiter done")
	}
	errGone := errors.New("gone")
	w.Close(errGone)
	if !ready(done) || w.Err() != errGone || w.Check() != errGone {
		t.Fatalf("after Close: done %v, Err %v", ready(done), w.Err())
	}
	w.Set(time.Now().Add(time.Hour))
	if w.Check() != errGone || !ready(w.Done()) {
		t.Fatal("Set after Close reopened the Waiter")
	}
}

// Clearing a deadline while something waits keeps it waiting: the timer
// armed for the old deadline does not wake it.
func TestWaiterClearWhileWaiting(t *testing.T) {
	var w Waiter
	w.Set(time.Now().Add(20 * time.Millisecond))
	done := w.Done()
	w.Set(time.Time{})
	time.Sleep(50 * time.Millisecond)
	if ready(done) || w.Check() != nil {
		t.Fatal("a cleared deadline woke the waiter")
	}
	w.Close(os.ErrClosed)
}

// Check of a Waiter without a deadline is the common case of every read
// and write: it allocates nothing.
func TestWaiterCheckAllocs(t *testing.T) {
	var w Waiter
	if n := testing.AllocsPerRun(100, func() { w.Check(); w.Set(time.Time{}) }); n != 0 {
		t.Errorf("Check and clearing: %v allocations, want 0", n)
	}
}

// The mirror file gets every deadline, and Close wakes a read waiting in
// the runtime netpoller through it.
func TestWaiterMirror(t *testing.T) {
	testutil.CheckFDs(t)
	r, wf, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer wf.Close()
	var w Waiter
	m := Mirror{File: r}
	w.SetOn(time.Unix(1, 0), m)
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the mirrored deadline: %v", err)
	}
	w.SetOn(time.Time{}, m)
	got := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 1))
		got <- err
	}()
	w.CloseOn(os.ErrClosed, m)
	select {
	case err := <-got:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read woken by Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the read in the netpoller")
	}
}

// Close (not CloseOn) closes the Waiter but leaves the mirror's
// deadline alone: a read of the mirror file still succeeds.
func TestWaiterCloseLeavesMirror(t *testing.T) {
	testutil.CheckFDs(t)
	r, wf, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer wf.Close()
	var w Waiter
	w.SetOn(time.Now().Add(time.Hour), Mirror{File: r})
	w.SetOn(time.Time{}, Mirror{File: r})
	w.Close(os.ErrClosed)
	if err := w.Check(); err != os.ErrClosed {
		t.Fatalf("Check after Close: %v", err)
	}
	select {
	case <-w.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if _, err := wf.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 1)); err != nil {
		t.Fatalf("read of the mirror after Close: %v; want the byte", err)
	}
}

// A Waiter is two per fd, most of an idle connection's state: the parts
// only deadlines and waiting need are made when first needed.
func TestWaiterSize(t *testing.T) {
	if n := unsafe.Sizeof(Waiter{}); n > 40 {
		t.Errorf("a Waiter is %d bytes, want at most 40", n)
	}
	var w Waiter
	w.Set(time.Time{})
	w.Check()
	w.Close(os.ErrClosed)
	if w.wait != nil {
		t.Error("an idle Waiter made its wait state")
	}
}
