package fdlife

import "sync/atomic"

// Refs reference-counts an fd, like internal/poll's fdMutex: every
// operation holds a reference while the kernel may use the fd number,
// MarkClosed stops new references from being taken, and Idle tells the
// closer when the last one is dropped. The zero value is an open fd with
// no reference held.
type Refs struct {
	// state holds the closed bit and, below it, the reference count.
	state atomic.Uint64
	// idle, made by Idle once the fd is closed and busy (so that an
	// open fd, an idle connection, does without it), receives when the
	// count drops to zero.
	idle atomic.Pointer[chan struct{}]
}

const (
	closedBit = 1 << 63
	refMask   = closedBit - 1
	refLimit  = refMask >> 1
)

// Incref takes a reference; it fails once the fd is closed.
func (r *Refs) Incref() bool {
	for {
		s := r.state.Load()
		if s&closedBit != 0 {
			return false
		}
		if s&refMask >= refLimit {
			// Billions of concurrent operations: refuse rather than
			// overflow into the closed bit.
			return false
		}
		if r.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// Decref drops a reference and signals Idle's channel when it was the
// last one after MarkClosed.
func (r *Refs) Decref() {
	if r.state.Add(^uint64(0)) == closedBit {
		// If Idle has not published its channel yet, it sees this
		// count when it looks after publishing, and does not wait.
		if idle := r.idle.Load(); idle != nil {
			select {
			case *idle <- struct{}{}:
			default:
			}
		}
	}
}

// MarkClosed sets the closed bit. It reports false if it was already set,
// and otherwise whether references are still held (the closer must wake
// their operations and wait on Idle).
func (r *Refs) MarkClosed() (first, busy bool) {
	for {
		s := r.state.Load()
		if s&closedBit != 0 {
			return false, false
		}
		if r.state.CompareAndSwap(s, s|closedBit) {
			return true, s&refMask != 0
		}
	}
}

// Closed reports whether MarkClosed has run.
func (r *Refs) Closed() bool { return r.state.Load()&closedBit != 0 }

// Idle returns a channel that receives once no reference is held. It is
// for the one caller whose MarkClosed reported first and busy.
func (r *Refs) Idle() <-chan struct{} {
	if r.state.Load() == closedBit {
		return closedChan
	}
	idle := make(chan struct{}, 1)
	r.idle.Store(&idle)
	if r.state.Load() == closedBit {
		return closedChan
	}
	return idle
}

// closedChan is a channel that is always ready.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
