package reactor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	_ "unsafe" // for go:linkname

	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// Ring is the ring type operations are queued on.
type Ring = uring.Ring[*Operation]

// Prep queues one operation on r, with o as its user data, and returns the
// job. It runs with the shard locked and must not block. It may queue a
// second operation only through LinkTimeout (the executor does that for
// deadlines).
type Prep func(r *Ring, o *Operation) (uring.Job, error)

// ErrClosed is returned for operations started after Close.
var ErrClosed = errors.New("reactor: executor closed")

// Config sets an executor's size.
type Config struct {
	// Shards is the number of rings. 0 means one per CPU (GOMAXPROCS),
	// at most maxShards.
	Shards int
	// QueueDepth is each ring's submission queue size. 0 means 256.
	QueueDepth int
}

// maxShards bounds the default number of rings. StartLocal gives each
// processor its own ring while there are enough: two processors that
// share one serialise the work their operations do inline, since the
// kernel submits a ring's entries under its lock.
const maxShards = 16

// Executor runs io_uring operations for any number of goroutines.
type Executor struct {
	shards   []*shard
	closed   atomic.Bool
	wg       sync.WaitGroup
	requeued atomic.Uint64 // operations Run started again after an unasked cancel
	// broken is set once io_uring_enter has been denied for good (see
	// enterFailed); operations then fail at once.
	broken atomic.Pointer[error]
	// brokenC is closed when broken is set.
	brokenC chan struct{}
}

// shard is one ring and the goroutines that share it. Its hand-off
// protocol, which every path below keeps, is stated here once.
//
// Fields, and who changes them:
//
//   - mu guards the ring's own state (queueing entries, collecting
//     completions, the slot table), closed, drained and each operation's
//     cancelled flag. Completions are collected under it (drainLocked),
//     by whichever goroutine drains, for every waiter.
//   - published counts entries queued and made visible to the kernel
//     (Flush). It is added to under mu, after the entries are flushed;
//     an operation's seq is the count that includes its entries.
//   - submitted is a count of published entries up to which the kernel
//     has consumed them all. It is stored under mu, by the holder of
//     enterMu (enter, enterFailed), and only grows.
//   - dirty says that an entry may be published and not yet entered. Any
//     publisher sets it after publishing (outside mu); only the holder of
//     enterMu clears it, right before it enters.
//   - enterMu serialises the io_uring_enter calls that submit (enter);
//     it also guards gone, which Close sets once the ring is unmapped.
//     Order: enterMu, then mu; never enterMu while holding mu.
//   - The eventfd is muted (SetEventfdEnabled) only by the holder of
//     enterMu, for the length of its own enter, and by the holder of
//     waitMu, for the length of its wait in io_uring_enter.
//   - waitMu is held by the goroutine that waits in io_uring_enter for
//     its lone operation (waitAlone); only TryLock takes it, and Close.
//   - yieldCredit, yieldSkip and yieldBackoff decide whether a batchable
//     operation yields before entering (yieldNow, yielded). They are
//     updated without a lock: a lost update changes how often operations
//     yield, never whether they are submitted.
//   - An Operation's state hands its completion over (see Operation).
//
// Invariants:
//
//  1. No published entry is left behind. A publisher sets dirty, then
//     either holds enterMu (Lock, or a TryLock that succeeds) and runs
//     enter, or its TryLock fails because a holder exists. The holder
//     enters while it finds dirty set, and after it unlocks enterMu it
//     looks at dirty again and, if set, tries to take enterMu back: a
//     publisher whose TryLock failed between the holder's last look and
//     its Unlock is served by the holder's look after Unlock, or by
//     whoever took enterMu meanwhile, who has the same duty. Looking
//     before Unlock would leave that window open. (submitLocked, under
//     mu when the queue is full, enters too, and leaves dirty alone.)
//  2. An operation whose seq is at most submitted is in the kernel: a
//     yielding operation that finds this returns without entering.
//  3. No completion is stranded. The holder of enterMu unmutes the
//     eventfd before it takes mu and drains: a completion posted before
//     the drain is collected by it, one posted after signals the eventfd
//     and the reaper drains it.
//  4. A completion is delivered once. The collector swaps the state to
//     opDone under mu and sends on ch only if the waiter had parked
//     (opParked); the waiter parks only by moving opPending to opParked.
//  5. After Close has unmapped the ring (gone), nobody enters it: enter
//     checks gone under enterMu, and Close sets it holding enterMu.
//     The goroutine in waitAlone holds waitMu, which Close takes too
//     before it unmaps, and leaves once it sees closed.
//  6. Muting the eventfd strands no completion, whoever mutes. Every
//     muter (the holder of enterMu for its enter, the holder of waitMu
//     for its wait) unmutes and then drains. The holder of enterMu is
//     back before long; the holder of waitMu waits for any completion
//     (min_complete 1), so one posted while it has the eventfd muted
//     ends its wait, and its drain, after its unmute, collects it. A
//     mute undone by another's unmute only wakes the reaper for
//     nothing.
type shard struct {
	mu     sync.Mutex
	r      *Ring
	closed bool

	// drained is made by Close and closed once no operation is active.
	drained chan struct{}

	published atomic.Uint64
	submitted atomic.Uint64

	yieldCredit, yieldSkip, yieldBackoff atomic.Int32

	dirty   atomic.Bool
	enters  atomic.Uint64
	enterMu sync.Mutex
	gone    bool

	efd  *os.File // eventfd the kernel signals on completions
	exec *Executor

	counts counts

	// waitMu is held by the goroutine that waits in io_uring_enter for
	// its lone operation (waitAlone): one at a time. Close takes it
	// before it unmaps the ring. Order: waitMu, then enterMu, then mu.
	waitMu sync.Mutex
	// noTimedWait is set once the kernel turned a timed wait down
	// (no IORING_FEAT_EXT_ARG): lone operations then park.
	noTimedWait atomic.Bool
}

// counts are a shard's counters beyond its ring's own: each is one atomic
// add on a path that already does atomic work, and none allocates. Stats
// sums them.
type counts struct {
	inline    atomic.Uint64 // Waits that found their op done and did not park
	parked    atomic.Uint64 // Waits that parked until another goroutine readied them
	parkedNow atomic.Int64  // goroutines parked in Wait now
	waited    atomic.Uint64 // Waits that waited in io_uring_enter for a lone operation (waitAlone)
	spurious  atomic.Uint64 // ECANCELED completions nobody asked for
}

// New creates an executor with its rings and reaper goroutines.
func New(cfg Config) (*Executor, error) {
	return newExecutor(cfg, false)
}

func newExecutor(cfg Config, forever bool) (*Executor, error) {
	n := cfg.Shards
	if n <= 0 {
		n = min(runtime.GOMAXPROCS(0), maxShards)
	}
	depth := cfg.QueueDepth
	if depth <= 0 {
		depth = 256
	}
	e := &Executor{brokenC: make(chan struct{})}
	for range n {
		s, err := newShard(e, depth)
		if err != nil {
			e.Close()
			return nil, err
		}
		e.shards = append(e.shards, s)
	}
	for _, s := range e.shards {
		e.wg.Add(1)
		if forever {
			go s.reapForever()
		} else {
			go s.reap()
		}
	}
	if forever {
		started.Store(e)
	}
	return e, nil
}

// started is the process-wide executor once it exists, for readers of its
// counters that must not create it (package executor).
var started atomic.Pointer[Executor]

// Started returns the process-wide executor if Default has created it,
// and nil otherwise. Unlike Default it never creates one.
func Started() *Executor { return started.Load() }

func newShard(e *Executor, depth int) (*shard, error) {
	r, err := uring.New[*Operation](depth)
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		r.Close()
		if err == syscall.EMFILE || err == syscall.ENFILE {
			return nil, fmt.Errorf("reactor: creating an eventfd for the ring: %w (out of file descriptors: close some or raise RLIMIT_NOFILE, then try again)", err)
		}
		return nil, fmt.Errorf("reactor: eventfd: %w", err)
	}
	if err := r.RegisterEventfd(efd); err != nil {
		unix.Close(efd)
		r.Close()
		return nil, err
	}
	return &shard{
		r: r,
		// A non-blocking fd given to os.NewFile is registered with the
		// runtime netpoller, so a Read parks the goroutine, not a thread.
		efd:  os.NewFile(uintptr(efd), "io_uring-eventfd"),
		exec: e,
	}, nil
}

var (
	defaultMu   sync.Mutex
	defaultExec atomic.Pointer[Executor]
	// defaultErr is a conclusive reason the executor cannot be made
	// (see Default), guarded by defaultMu.
	defaultErr error
)

// Default returns the process-wide executor, creating it on first use.
// It is never closed.
//
// Only conclusive failures are remembered: io_uring missing or forbidden
// (ENOSYS, EPERM, EACCES, from io_uring_setup, io_uring_register or the
// first io_uring_enter). A failure that may pass, such as running out of
// file descriptors or memory (uring.SetupError.Transient), is returned to
// this caller, and the next call tries again. Once the executor exists,
// Default returns the error that made it unusable if io_uring_enter has
// since been denied (see Executor.Broken), so that callers with a
// fallback take it.
func Default() (*Executor, error) {
	if e := defaultExec.Load(); e != nil {
		if err := e.Broken(); err != nil {
			return nil, err
		}
		return e, nil
	}
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if e := defaultExec.Load(); e != nil {
		if err := e.Broken(); err != nil {
			return nil, err
		}
		return e, nil
	}
	if defaultErr != nil {
		return nil, defaultErr
	}
	e, err := newExecutor(Config{}, true)
	if err == nil {
		// Setting a ring up does not enter it: check once, with a
		// no-op, that io_uring_enter is allowed too.
		if _, err = e.Do(context.Background(), 0, time.Time{}, func(r *Ring, o *Operation) (uring.Job, error) { return r.Noop(o) }); err != nil {
			e.Close()
		}
	}
	if err != nil {
		if !transient(err) {
			defaultErr = err
		}
		return nil, err
	}
	defaultExec.Store(e)
	return e, nil
}

// transient reports whether a failure to set the executor up may pass by
// itself: the process or the system ran out of file descriptors or
// memory, or the kernel asked to try again.
func transient(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.EAGAIN} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// BrokenC returns a channel that is closed when the executor becomes
// unusable (see Broken). Users whose operations wait inside io_uring
// watch it to end those operations another way: a cancel request, which
// has to be submitted, can no longer reach the kernel.
func (e *Executor) BrokenC() <-chan struct{} { return e.brokenC }

// Broken returns the error that made the executor unusable: io_uring_enter
// was denied (a seccomp filter installed after the rings were set up).
// Every operation then fails at once with that error.
func (e *Executor) Broken() error {
	if p := e.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// Close cancels every operation still in flight, waits for their
// completions, stops the reapers and closes the rings.
func (e *Executor) Close() error {
	if e.closed.Swap(true) {
		return ErrClosed
	}
	var errs []error
	drained := make([]chan struct{}, len(e.shards))
	for i, s := range e.shards {
		s.mu.Lock()
		s.closed = true
		drained[i] = make(chan struct{})
		s.drained = drained[i]
		if s.r.ActiveOps() > 0 {
			s.cancelAllLocked()
		}
		if s.drained != nil && s.r.ActiveOps() == 0 {
			close(s.drained)
			s.drained = nil
		}
		s.mu.Unlock()
	}
	// Wait for the kernel to finish with the cancelled operations: the
	// reapers, still running, collect their completions and wake their
	// goroutines, and the last one closes drained. An operation the
	// kernel cannot cancel keeps its ring open (Close then reports it)
	// rather than free memory it may still write.
	if e.broken.Load() != nil {
		// The cancel requests above never reached the kernel:
		// cancel through io_uring_register instead (see
		// Operation.waitCancelled).
		for _, s := range e.shards {
			s.cancelSyncFd(-1)
		}
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for _, d := range drained {
		select {
		case <-d:
		case <-timeout.C:
		}
	}
	for _, s := range e.shards {
		s.efd.Close() // wakes the reaper, which exits
	}
	e.wg.Wait()
	for _, s := range e.shards {
		// waitMu first: a goroutine waiting in io_uring_enter for its
		// lone operation sees closed within a waitSlice and leaves.
		// Then enterMu: a submitter may be between publishing and its
		// enter (descheduled, say) while its operation was cancelled and
		// drained above; it finishes with the ring mapped, and any later
		// one sees gone.
		s.waitMu.Lock()
		s.enterMu.Lock()
		s.mu.Lock()
		if err := s.r.Close(); err != nil {
			errs = append(errs, err)
		} else {
			s.gone = true
		}
		s.mu.Unlock()
		s.enterMu.Unlock()
		s.waitMu.Unlock()
	}
	return errors.Join(errs...)
}

func (s *shard) cancelAllLocked() {
	for {
		if _, err := s.r.CancelAll(nil); !errors.Is(err, uring.ErrQueueFull) {
			break
		}
		if s.submitLocked() != nil {
			return
		}
	}
	s.submitLocked()
}

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// goyield is runtime.Gosched that puts the goroutine at the back of its
// processor's run queue instead of the global one: the processor's other
// goroutines run first, as a batch needs, the goroutine comes back on the
// same processor (so to the ring its entry is on) unless another steals
// it, and no scheduler-wide lock is taken. The runtime keeps it available
// to packages outside the standard library (go.dev/issue/67401).
//
//go:linkname goyield runtime.goyield
func goyield()

// localShard picks the shard of the processor (P) the caller runs on.
// runtime.procPin is the one way to learn it; the runtime keeps it
// available to packages outside the standard library (go.dev/issue/67401).
// The answer is a hint: the goroutine may move to another processor
// right after, which costs batching, never correctness.
func (e *Executor) localShard() *shard {
	p := procPin()
	procUnpin()
	return e.shards[p%len(e.shards)]
}

// shardFor picks the shard for key (an fd, say): operations on one fd
// share a ring, so that cancelling by fd stays on one ring.
func (e *Executor) shardFor(key int) *shard {
	if key < 0 {
		key = -key
	}
	return e.shards[key%len(e.shards)]
}

// Result is an operation's completion.
type Result struct {
	Res   int32
	Flags uint32
}

// More reports whether a multishot operation will post more completions.
func (r Result) More() bool { return r.Flags&uint32(uring.CQEMore) != 0 }

// Err returns the operation's errno, or nil.
func (r Result) Err() error {
	if r.Res >= 0 {
		return nil
	}
	return syscall.Errno(-r.Res)
}

// Stats are an executor's counters, summed over its shards. All but
// Shards, Active and ParkedNow only grow.
type Stats struct {
	Shards    int
	Submitted uint64 // operations handed to the kernel (cancel requests and link timeouts included)
	Completed uint64 // completions collected
	Enters    uint64 // io_uring_enter calls, to submit or to flush the CQ overflow list
	Active    int    // operations in flight now
	Requeued  uint64 // operations Run started again after the kernel cancelled them unasked

	// Inline counts Waits that found their operation complete and did
	// not park: it completed during the io_uring_enter that submitted
	// it (a read from the page cache, a socket with data), or another
	// goroutine collected it first. Parked counts Waits that parked
	// until the reaper, or another goroutine's enter, readied them;
	// ParkedNow is how many are parked at this moment.
	Inline    uint64
	Parked    uint64
	ParkedNow int
	// Waited counts Waits of lone operations on a file (StartLocalFile)
	// that waited for their completion in io_uring_enter themselves,
	// neither parking nor finding it done at once.
	Waited uint64
	// Spurious counts completions with ECANCELED that no Cancel,
	// context or deadline asked for (see Run), requeued or not.
	Spurious uint64
	// CQOverflow counts the times the completion queue had been full
	// and completions waited on the kernel's overflow list; CQDropped
	// the completions the kernel lost (0 with IORING_FEAT_NODROP).
	CQOverflow uint64
	CQDropped  uint64
}

// Stats returns the executor's counters.
func (e *Executor) Stats() Stats {
	entered()
	st := Stats{Shards: len(e.shards), Requeued: e.requeued.Load()}
	for _, s := range e.shards {
		s.mu.Lock()
		rs := s.r.Stats()
		st.Submitted += rs.Submitted
		st.Completed += rs.Completed
		st.Active += rs.ActiveOps
		st.Enters += rs.Enters // the ring's own, to flush the overflow list
		st.CQOverflow += rs.CQOverflow
		st.CQDropped += uint64(rs.Overflow)
		s.mu.Unlock()
		st.Enters += s.enters.Load()
		st.Inline += s.counts.inline.Load()
		st.Parked += s.counts.parked.Load()
		st.ParkedNow += int(s.counts.parkedNow.Load())
		st.Waited += s.counts.waited.Load()
		st.Spurious += s.counts.spurious.Load()
	}
	return st
}

// Unavailable reports whether err says that io_uring cannot be used in this
// process at all, as opposed to a transient failure: the kernel lacks it
// (ENOSYS), a seccomp profile or the kernel.io_uring_disabled sysctl forbids
// it (EPERM, EACCES), or RLIMIT_MEMLOCK is too low for a ring (ENOMEM);
// the same errnos from io_uring_register or io_uring_enter, which a
// seccomp profile may deny on their own, count too.
// Adapters that offer a fallback to the standard library take it only then.
func Unavailable(err error) bool {
	var se *uring.SetupError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Errno {
	case syscall.ENOSYS, syscall.EPERM, syscall.EACCES:
		return true
	case syscall.ENOMEM:
		// Memlock too low for a ring; once a ring exists, an ENOMEM
		// from entering it is memory pressure, which passes.
		return se.Syscall == "" || se.Syscall == "io_uring_setup"
	}
	return false
}
