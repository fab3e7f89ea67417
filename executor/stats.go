package executor

import "github.com/uring-go/uring/internal/reactor"

// ReaperFunction is the function every reaper goroutine of the shared
// executor runs, as goleak and runtime stack traces name it: pass it to
// goleak.IgnoreAnyFunction.
const ReaperFunction = "github.com/uring-go/uring/internal/reactor.(*shard).reapForever"

// Stats are the shared executor's counters, summed over its rings. All
// but Rings, Active and ParkedNow only grow: take the difference of two
// readings for a rate. Reading them costs a lock per ring; updating them
// costs an atomic add where the work happens, and never allocates.
type Stats struct {
	// Rings is the number of rings (and reaper goroutines); 0 until
	// uringfs or uringnet first needs the executor.
	Rings int
	// Submitted counts operations handed to the kernel, including the
	// executor's own cancel requests and link timeouts.
	Submitted uint64
	// Completed counts completions collected.
	Completed uint64
	// Enters counts io_uring_enter system calls. Submitted/Enters (see
	// OpsPerEnter) is how well goroutines' operations were batched.
	Enters uint64
	// Active is the number of operations in flight now.
	Active int
	// Inline counts operations whose goroutine found them complete
	// without parking: done during the system call that submitted them
	// (a read from the page cache, a socket with data waiting) or
	// collected by another goroutine first.
	Inline uint64
	// Parked counts operations whose goroutine parked until the
	// completion arrived; ParkedNow is how many goroutines are parked
	// now.
	Parked    uint64
	ParkedNow int
	// Waited counts reads and writes of regular files (and other
	// files with an offset) that had to wait while they were the only
	// operation on their ring: their goroutine waited in io_uring_enter
	// itself, as a blocking pread(2) waits, instead of parking.
	Waited uint64
	// Spurious counts operations the kernel cancelled without being
	// asked (ECANCELED with no Close, deadline or context behind it: on
	// some kernels, an io-wq worker that failed to start). Such an
	// operation never ran and is run again, a bounded number of times.
	Spurious uint64
	// CQOverflow counts the times a ring's completion queue had been
	// full and completions waited in kernel memory.
	CQOverflow uint64
	// CQDropped counts completions the kernel lost: 0 on kernels with
	// IORING_FEAT_NODROP, which the executor requires in practice.
	CQDropped uint64
}

// OpsPerEnter is the mean number of operations each io_uring_enter
// submitted, or 0 before the first.
func (s Stats) OpsPerEnter() float64 {
	if s.Enters == 0 {
		return 0
	}
	return float64(s.Submitted) / float64(s.Enters)
}

// ReadStats returns the shared executor's counters. It does not create
// the executor: before uringfs or uringnet first needs it, every counter
// is 0.
func ReadStats() Stats {
	e := reactor.Started()
	if e == nil {
		return Stats{}
	}
	st := e.Stats()
	return Stats{
		Rings:      st.Shards,
		Submitted:  st.Submitted,
		Completed:  st.Completed,
		Enters:     st.Enters,
		Active:     st.Active,
		Inline:     st.Inline,
		Parked:     st.Parked,
		ParkedNow:  st.ParkedNow,
		Waited:     st.Waited,
		Spurious:   st.Spurious,
		CQOverflow: st.CQOverflow,
		CQDropped:  st.CQDropped,
	}
}
