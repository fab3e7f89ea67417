package fdlife

import (
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Waiter is the state one direction (reading or writing) of an fd waits
// on. It is a context.Context whose Done channel is closed when the
// direction's deadline passes or the fd is closed; operations wait with
// it (reactor.Operation.Wait), so a deadline or Close cancels the
// operation in the kernel from the waiting goroutine itself, the only
// one allowed to touch the operation. Err tells which of the two
// happened: os.ErrDeadlineExceeded, or the error given to Close.
//
// Unlike a context's, Err can be nil again after Done's channel closed:
// a deadline that passed and is then moved re-arms the Waiter, and later
// operations wait on a fresh channel. An operation that picked up the old
// channel was cancelled meanwhile; Check, nil again, tells its caller to
// start it afresh. Nothing is lost: an operation the kernel cancelled
// moved no bytes, and one that completed anyway reports its result.
//
// The channel and the deadline's timer are made only once something
// waits on Done: an operation that completes without parking, or one
// that waits in the runtime netpoller (Mirror), never asks for them,
// and net/http moves deadlines several times per request, so setting a
// deadline nobody waits on here only records it. The zero value has no
// deadline and is open.
type Waiter struct {
	mu sync.Mutex
	// armed is whether a deadline is set or Close has run, readable
	// without mu: while it is false, Check has nothing to say, which is
	// the case of every read and write on a file without deadlines; and
	// net/http clears a deadline that is already clear several times per
	// request, which then costs no more than this load.
	armed atomic.Bool

	// closed is whether Close has run.
	closed bool

	err error // nil, os.ErrDeadlineExceeded or Close's error

	// wait is the deadline and what waits on Done, made by the first
	// deadline set or the first Done: an idle fd's Waiter, or one whose
	// operations wait in the netpoller without deadlines, does without
	// it (a Waiter is two per fd, and an idle connection is mostly its
	// fd's state).
	wait *waitState
}

// waitState is the part of a Waiter that deadlines and waiting on Done
// need.
type waitState struct {
	done     chan struct{} // nil until Done is called; then closed iff err != nil
	deadline time.Time
	// timer, while done is not nil, fires at or before the deadline.
	timer *time.Timer
}

// state returns w.wait, making it if need be. w.mu is held.
func (w *Waiter) state() *waitState {
	if w.wait == nil {
		w.wait = new(waitState)
	}
	return w.wait
}

// deadlineLocked is the deadline, zero if none. w.mu is held.
func (w *Waiter) deadlineLocked() time.Time {
	if w.wait == nil {
		return time.Time{}
	}
	return w.wait.deadline
}

// Mirror is the *os.File through which an fd's operations wait in the
// runtime netpoller, and the direction of a Waiter: SetOn gives it every
// deadline too (as its read or, if Write, write deadline), and CloseOn
// gives it one in the past to wake them. The caller passes it to every
// call rather than the Waiter keeping it: a Waiter is two per fd, and an
// idle connection is mostly its fd's state. The zero Mirror is none.
type Mirror struct {
	File  *os.File
	Write bool
}

func (m Mirror) set(t time.Time) {
	if m.Write {
		m.File.SetWriteDeadline(t)
	} else {
		m.File.SetReadDeadline(t)
	}
}

// Deadline is part of context.Context; the deadline is enforced through
// Done instead, since it can move while an operation waits.
func (w *Waiter) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done is part of context.Context.
func (w *Waiter) Done() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		if dl := w.deadlineLocked(); !dl.IsZero() {
			if d := time.Until(dl); d <= 0 {
				w.fireLocked(os.ErrDeadlineExceeded)
			} else if w.wait.done == nil {
				w.armLocked(d)
			}
		}
	}
	if w.err != nil && (w.wait == nil || w.wait.done == nil) {
		return closedChan
	}
	ws := w.state()
	if ws.done == nil {
		ws.done = make(chan struct{})
	}
	return ws.done
}

// Err is part of context.Context.
func (w *Waiter) Err() error {
	w.mu.Lock()
	err := w.err
	w.mu.Unlock()
	return err
}

// Value is part of context.Context.
func (w *Waiter) Value(any) any { return nil }

// Check returns the error an operation starting now gets: Close's error,
// os.ErrDeadlineExceeded, or nil. It notices a passed deadline even if
// the timer has not run yet.
func (w *Waiter) Check() error {
	if !w.armed.Load() {
		return nil
	}
	w.mu.Lock()
	if w.err == nil && w.passedLocked() {
		w.fireLocked(os.ErrDeadlineExceeded)
	}
	err := w.err
	w.mu.Unlock()
	return err
}

// passedLocked reports whether a deadline is set and has passed.
func (w *Waiter) passedLocked() bool {
	dl := w.deadlineLocked()
	return !dl.IsZero() && !time.Now().Before(dl)
}

func (w *Waiter) fireLocked(err error) {
	if w.err == nil && w.wait != nil && w.wait.done != nil {
		close(w.wait.done)
	}
	w.err = err
}

// armLocked starts or moves the timer; w.wait is not nil.
func (w *Waiter) armLocked(d time.Duration) {
	if w.wait.timer == nil {
		w.wait.timer = time.AfterFunc(d, w.expire)
	} else {
		w.wait.timer.Reset(d)
	}
}

// stopTimerLocked stops the timer if there is one.
func (w *Waiter) stopTimerLocked() {
	if w.wait != nil && w.wait.timer != nil {
		w.wait.timer.Stop()
	}
}

// Set sets the deadline for future and waiting operations. A zero t means
// none; a t in the past wakes waiting operations at once. After Close it
// does nothing.
func (w *Waiter) Set(t time.Time) { w.SetOn(t, Mirror{}) }

// SetOn is Set for a Waiter whose operations wait in the netpoller
// through m.File: the deadline reaches it too. Every Set and Close of
// such a Waiter must name the same m.
func (w *Waiter) SetOn(t time.Time, m Mirror) {
	if t.IsZero() && !w.armed.Load() {
		// Nothing to clear: no deadline, so the mirror has none
		// either, and not closed.
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if m.File != nil && t != w.deadlineLocked() {
		// The mirror already has an unchanged deadline, and one that
		// has passed has passed there too.
		m.set(t)
	}
	if t.IsZero() {
		if w.wait != nil {
			w.wait.deadline = t
		}
	} else {
		w.state().deadline = t
	}
	w.armed.Store(!t.IsZero())
	if w.err == os.ErrDeadlineExceeded {
		// Re-arm: operations from now on wait on a fresh channel.
		w.err = nil
		w.wait.done = nil
	}
	if t.IsZero() {
		w.stopTimerLocked()
		return
	}
	if w.wait.done == nil {
		// Nothing waits on Done: Check and Done see the deadline.
		return
	}
	if d := time.Until(t); d > 0 {
		w.armLocked(d)
		return
	}
	w.stopTimerLocked()
	w.fireLocked(os.ErrDeadlineExceeded)
}

// expire runs from the timer. A timer left over from an earlier deadline
// may run late; it fires only if the current deadline has passed.
func (w *Waiter) expire() {
	w.mu.Lock()
	if w.err == nil && w.passedLocked() {
		w.fireLocked(os.ErrDeadlineExceeded)
	}
	w.mu.Unlock()
}

// pastDeadline is a deadline that has always passed.
var pastDeadline = time.Unix(1, 0)

// Close wakes every waiting operation, and every later one, for good:
// Err and Check return err from now on. It leaves a mirror's deadline
// alone: a Waiter whose operations wait in the netpoller closes with
// CloseOn, unless none can be waiting (the fd's Refs held none when its
// close began), which spares the mirror file two deadline updates.
func (w *Waiter) Close(err error) { w.close(err, Mirror{}) }

// CloseOn is Close for a Waiter whose operations wait in the netpoller
// through m.File (see SetOn): it gives m.File a deadline in the past to
// wake them.
func (w *Waiter) CloseOn(err error, m Mirror) { w.close(err, m) }

func (w *Waiter) close(err error, m Mirror) {
	w.mu.Lock()
	w.closed = true
	w.armed.Store(true)
	w.fireLocked(err)
	w.stopTimerLocked()
	if m.File != nil {
		m.set(pastDeadline)
	}
	w.mu.Unlock()
}
