package uringnet

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// pollCtx is the state one direction (reading or writing) of an fd waits
// on: it is a context.Context whose Done channel is closed when the
// direction's deadline passes or the fd is closed. Operations wait with it
// (reactor.Operation.Wait), so a deadline or Close cancels the operation in the
// kernel from the waiting goroutine itself, which is the only goroutine
// allowed to touch the Op. Err tells which of the two happened.
//
// The channel is replaced only after it was closed by a deadline and the
// deadline is moved again, so an operation that picked up the old channel
// returns and re-checks the state.
//
// The channel and the deadline's timer are made only once something
// waits on Done: a connection's reads and writes wait in the netpoller
// instead (see mirror), and net/http moves deadlines several times per
// request, so setting a deadline nobody waits on here only records it.
type pollCtx struct {
	mu       sync.Mutex
	done     chan struct{} // nil until Done is called; then closed iff err != nil
	err      error         // nil, os.ErrDeadlineExceeded or net.ErrClosed
	deadline time.Time
	// timer, while done is not nil, fires at or before the deadline.
	timer *time.Timer
	// set is whether deadline is not zero, readable without mu: net/http
	// clears a deadline that is already clear several times per request,
	// and that costs no more than this load.
	set atomic.Bool

	// write says that this is the writing direction, for mirror.
	write bool

	// mirror, if set, is the *os.File through which reads and writes
	// wait in the runtime netpoller: every deadline goes to it too
	// (SetReadDeadline, or SetWriteDeadline if write), and close gives
	// it one in the past to wake them. (A file and a flag, not the
	// method value, which would be an allocation per direction and
	// connection.)
	mirror *os.File
}

// setMirror gives the deadline t to the mirror file.
func (p *pollCtx) setMirror(t time.Time) {
	if p.write {
		p.mirror.SetWriteDeadline(t)
	} else {
		p.mirror.SetReadDeadline(t)
	}
}

// closedChan is Done's answer once the state has fired before anyone
// asked for a channel.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Deadline is part of context.Context; the deadline is enforced through
// Done instead, since it can move while an operation waits.
func (p *pollCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done is part of context.Context.
func (p *pollCtx) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil && !p.deadline.IsZero() {
		if d := time.Until(p.deadline); d <= 0 {
			p.fireLocked(os.ErrDeadlineExceeded)
		} else if p.done == nil {
			p.armLocked(d)
		}
	}
	if p.err != nil && p.done == nil {
		return closedChan
	}
	if p.done == nil {
		p.done = make(chan struct{})
	}
	return p.done
}

// Err is part of context.Context.
func (p *pollCtx) Err() error {
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	return err
}

// Value is part of context.Context.
func (p *pollCtx) Value(any) any { return nil }

// check returns the error an operation starting now gets: net.ErrClosed,
// os.ErrDeadlineExceeded, or nil. It notices a passed deadline even if
// the timer has not run yet.
func (p *pollCtx) check() error {
	p.mu.Lock()
	if p.err == nil && !p.deadline.IsZero() && !time.Now().Before(p.deadline) {
		p.fireLocked(os.ErrDeadlineExceeded)
	}
	err := p.err
	p.mu.Unlock()
	return err
}

func (p *pollCtx) fireLocked(err error) {
	if p.err == nil && p.done != nil {
		close(p.done)
	}
	p.err = err
}

func (p *pollCtx) armLocked(d time.Duration) {
	if p.timer == nil {
		p.timer = time.AfterFunc(d, p.expire)
	} else {
		p.timer.Reset(d)
	}
}

// setDeadline sets the deadline for future and pending operations. A zero
// t means none; a t in the past wakes pending operations at once.
func (p *pollCtx) setDeadline(t time.Time) {
	if t.IsZero() && !p.set.Load() {
		// Nothing to clear: with no deadline, the state is open or
		// closed, never expired, and the mirror has none either.
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == net.ErrClosed {
		return
	}
	if p.mirror != nil && t != p.deadline {
		// The mirror already has an unchanged deadline, and one that
		// has passed has passed there too.
		p.setMirror(t)
	}
	p.deadline = t
	p.set.Store(!t.IsZero())
	if p.err == os.ErrDeadlineExceeded {
		// Re-arm: operations from now on wait on a fresh channel.
		p.err = nil
		p.done = nil
	}
	if t.IsZero() {
		if p.timer != nil {
			p.timer.Stop()
		}
		return
	}
	if p.done == nil {
		// Nothing waits on Done: check and Done see the deadline.
		return
	}
	if d := time.Until(t); d > 0 {
		p.armLocked(d)
		return
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.fireLocked(os.ErrDeadlineExceeded)
}

// expire runs from the timer. A timer left over from an earlier deadline
// may run late; it fires only if the current deadline has passed.
func (p *pollCtx) expire() {
	p.mu.Lock()
	if p.err == nil && !p.deadline.IsZero() && !time.Now().Before(p.deadline) {
		p.fireLocked(os.ErrDeadlineExceeded)
	}
	p.mu.Unlock()
}

// pastDeadline is a deadline that has always passed.
var pastDeadline = time.Unix(1, 0)

// close wakes every pending operation for good.
func (p *pollCtx) close() {
	p.mu.Lock()
	p.fireLocked(net.ErrClosed)
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.mirror != nil {
		p.setMirror(pastDeadline)
	}
	p.mu.Unlock()
}
