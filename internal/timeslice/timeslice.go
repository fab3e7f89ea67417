// Package timeslice keeps a goroutine that only ever waits in system
// calls from running one endless time slice.
//
// The runtime counts a goroutine's time slice from the last time its
// processor (P) scheduled a goroutine. A goroutine that loops between
// io_uring_enter and its own work, never parking, is never rescheduled,
// so after 10 ms sysmon asks for a preemption and, until one lands,
// takes the P away at each of its ticks that finds the goroutine inside
// the system call. The P goes to another thread, the goroutine's return
// from the call takes the slow path to get a P back, and each retake
// keeps sysmon at its shortest tick (20 µs). Measured: hundreds of
// retakes and thousands of sysmon wake-ups a second in the engine's
// event loop, and 10-20% of the CPU per read of a uringfs batch at queue
// depth 16 (docs/benchmarks.md). Passing through the scheduler
// (runtime.Gosched) starts a new slice; it is not free either (it may
// wake an idle thread, and a goroutine locked to its thread pays two
// thread switches), so it is done once per Every, well within the 10 ms.
package timeslice

import "time"

// Every is how long a goroutine runs between two passes through the
// scheduler.
const Every = 5 * time.Millisecond

// base is the origin of the clock Clock reads.
var base = time.Now()

// Clock says when the goroutine that owns it last passed through the
// scheduler. Its zero value is due at once. Not safe for concurrent use:
// it belongs to one goroutine, or to what a lock guards.
type Clock struct {
	last time.Duration // since base
}

// Due reports whether Every has passed since the last time it reported
// true; if so, the caller is to pass through the scheduler now
// (runtime.Gosched, after submitting what it has queued), and the next
// period starts. It reads the monotonic clock only.
func (c *Clock) Due() bool {
	now := time.Since(base)
	if c.last != 0 && now-c.last < Every {
		return false
	}
	c.last = now
	return true
}
