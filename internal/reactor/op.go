package reactor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/uring-go/uring/uring"
)

// Operation is one operation in flight. Operations are pooled: after
// Wait returns, the Operation belongs to the executor again and must not
// be used.
type Operation struct {
	s   *shard
	job uring.Job
	res Result

	cancelled bool // guarded by s.mu
	// syncCancelled says that the operation was cancelled through
	// io_uring_register (see shard.cancelSync), and syncErr is how
	// that ended; both guarded by s.mu.
	syncCancelled bool
	syncErr       error

	// state hands the completion to the goroutine that waits for it
	// (invariant 4 of shard): the collector swaps in opDone under s.mu,
	// so that Cancel, holding it, knows whether the operation is done.
	// A waiter that finds opDone takes the result without a channel
	// operation.
	state atomic.Uint32
	ch    chan struct{} // receives once when done, if the waiter parked

	deadline time.Time
	timer    *time.Timer

	seq uint64 // the shard's published count that includes this operation

	hasRes bool // res was set by an earlier completion (send_zc)

	// waitAlone, for an operation that ends in bounded time (a transfer
	// on a regular file or block device: StartLocalFile), is
	// shard.waitAlone, which Wait calls to wait for it in
	// io_uring_enter; nil otherwise. A function value rather than a
	// flag, so that a program that never calls StartLocalFile (one that
	// only uses uringnet) does not link the waited enter.
	waitAlone func(*shard, *Operation, context.Context) bool

	// err, if set, is what Wait returns: the operation never reached
	// the kernel (see shard.enterFailed).
	err error

	// each, for a multishot operation, receives every completion but
	// the last; see StartMultishot.
	each func(Result)
}

// Operation states.
const (
	opPending uint32 = iota // in flight; the waiter has not parked
	opDone                  // completed; res is set
	opParked                // in flight; the waiter sleeps on ch
	// opAbandoned: in flight, and its waiter gave up on it (see
	// waitCancelled): the executor is broken and it could not be
	// cancelled. Its ring slot keeps its memory until the kernel
	// completes it, if ever; the Operation is never reused.
	opAbandoned
)

var opPool = sync.Pool{New: func() any { return &Operation{ch: make(chan struct{}, 1)} }}

// ErrCanceled is what Wait returns for an operation stopped by Cancel.
var ErrCanceled = errors.New("reactor: operation canceled")

// ignored is the user data of operations whose completions nobody waits
// for: cancel requests and link timeouts.
var ignored = &Operation{}

// Do runs one operation on the shard for key and waits for it. If ctx is
// cancelled first, the operation is cancelled; Do still waits for the
// kernel to finish with it and returns ctx's error only if the operation
// did not complete anyway. A non-zero deadline bounds the operation with a
// link timeout; when it expires, Do returns os.ErrDeadlineExceeded.
func (e *Executor) Do(ctx context.Context, key int, deadline time.Time, prep Prep) (Result, error) {
	return e.Run(ctx, func() (*Operation, error) { return e.Start(key, deadline, prep) })
}

// Run starts an operation with start (Start or StartLocal, with whatever
// the caller does around it) and waits for it with ctx, as Wait does.
// It is how adapters run one operation: an operation the kernel cancelled
// unasked is started again here, up to maxRequeue times in all, and only
// then does its ECANCELED reach the caller.
//
// Linux cancels, with ECANCELED, work it queued for an io-wq worker
// thread that it then failed to start (seen on 6.1, where Go's preemption
// signals interrupt the worker's creation). Such an operation never ran,
// so running it again is safe. Wait tells these apart from the
// cancellations somebody asked for: it reports a Cancel as ErrCanceled,
// ctx's as ctx.Err() and a deadline's as os.ErrDeadlineExceeded, so the
// ECANCELED that is left is unasked.
func (e *Executor) Run(ctx context.Context, start func() (*Operation, error)) (Result, error) {
	for attempt := 1; ; attempt++ {
		o, err := start()
		if err != nil {
			return Result{}, err
		}
		res, err := o.Wait(ctx)
		if err != syscall.ECANCELED || attempt == maxRequeue || e.broken.Load() != nil {
			// Once the executor is broken, an ECANCELED is the
			// executor's own cancel through io_uring_register (see
			// CancelFd), and starting again would fail anyway.
			return res, err
		}
		e.requeued.Add(1)
	}
}

// maxRequeue bounds how many times Run starts an operation that the
// kernel keeps cancelling unasked.
const maxRequeue = 8

// Requeue is Run's rule for a ring the executor does not run (uringfs's
// batch rings are private): it reports whether an operation that the
// kernel cancelled unasked, after being started attempts times, is to be
// started again. The bound is Run's.
func Requeue(attempts int) bool { return attempts < maxRequeue }

// Requeue is Run's rule and count for a caller that cannot afford Run's
// frame (uringnet's conn reads and writes, whose stack depth decides a
// connection goroutine's stack size): it reports whether an operation
// the kernel cancelled unasked, after being started attempts times, is
// to be started again (never once the executor is broken, as in Run),
// and counts it as Run does if so.
func (e *Executor) Requeue(attempts int) bool {
	if attempts < maxRequeue && e.broken.Load() == nil {
		e.requeued.Add(1)
		return true
	}
	return false
}

// Start queues and submits an operation without waiting for it. The caller
// must call Wait exactly once.
func (e *Executor) Start(key int, deadline time.Time, prep Prep) (*Operation, error) {
	return e.start(key, deadline, prep, nil)
}

// StartMultishot starts an operation that posts many completions
// (multishot accept or recv). each is called with every completion that
// has more to follow, in order, from whichever goroutine collects it, with
// the shard locked: it must be quick, must not block and must not enter
// the executor (see Locks in the package documentation; hand the result
// to a buffered queue). The final completion,
// which has no CQEMore flag, is what Wait returns. Cancel ends the stream.
func (e *Executor) StartMultishot(key int, prep Prep, each func(Result)) (*Operation, error) {
	if each == nil {
		return nil, errors.New("reactor: StartMultishot needs a callback")
	}
	return e.start(key, time.Time{}, prep, each)
}

// StartLocal is Start for an operation that may run on any of the
// executor's rings and is worth batching with others, such as a read or
// write of a regular file or a socket recv or send with MSG_DONTWAIT,
// which completes during the system call that submits it. It is queued
// on the ring of the processor (the runtime's P) the calling goroutine
// runs on, so that goroutines on different CPUs enter different rings,
// and it may yield to the processor's other goroutines before entering,
// so that one system call submits all their operations (see the package
// documentation). Operations started this way are cancelled by
// Operation.Cancel or by fd with CancelFd, not on one key's ring.
func (e *Executor) StartLocal(prep Prep) (*Operation, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	return e.startOn(e.localShard(), time.Time{}, prep, nil, true)
}

// StartLocalFile is StartLocal for a read or write of a file whose
// transfers end in bounded time, as a regular file's or a block device's
// do (O_DIRECT, or data not in the page cache): if the operation has to
// wait and is the only one in flight on its ring, Wait waits for it in
// io_uring_enter, as a blocking pread(2) waits, instead of parking the
// goroutine for the reaper to wake (see "A lone operation" in the
// package documentation). The wait ties up an OS thread meanwhile, so
// an operation that may wait on a peer (a pipe, a socket) must not be
// started this way.
func (e *Executor) StartLocalFile(prep Prep) (*Operation, error) {
	o, err := e.StartLocal(prep)
	if err == nil {
		o.waitAlone = (*shard).waitAlone
	}
	return o, err
}

// CancelFd cancels every operation on fd on every ring (IORING_ASYNC_CANCEL_FD)
// and returns once the kernel has processed the requests; the cancelled
// operations complete, with ECANCELED or their own result, on their own.
func (e *Executor) CancelFd(fd int) {
	for _, s := range e.shards {
		o, err := e.startOn(s, time.Time{}, func(r *Ring, o *Operation) (uring.Job, error) { return r.CancelFd(fd, o) }, nil, false)
		if err != nil {
			if e.broken.Load() != nil {
				// io_uring_enter is denied: a cancel request cannot
				// be submitted, but io_uring_register may still
				// cancel. If it cannot, the operations' waiters give
				// up on them (see waitCancelled).
				s.cancelSyncFd(fd)
			}
			continue // or closed: Close cancels everything itself
		}
		// ENOENT (nothing to cancel) is the usual answer.
		o.Wait(context.Background())
	}
}

func (e *Executor) start(key int, deadline time.Time, prep Prep, each func(Result)) (*Operation, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	return e.startOn(e.shardFor(key), deadline, prep, each, false)
}

func (e *Executor) startOn(s *shard, deadline time.Time, prep Prep, each func(Result), batch bool) (*Operation, error) {
	entered()
	o := opPool.Get().(*Operation)
	o.s = s
	o.cancelled, o.syncCancelled, o.hasRes, o.err, o.syncErr = false, false, false, nil, nil
	o.waitAlone = nil
	o.state.Store(opPending)
	o.res = Result{}
	o.deadline = deadline
	o.each = each

	if p := s.exec.broken.Load(); p != nil {
		opPool.Put(o)
		return nil, *p
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		opPool.Put(o)
		return nil, ErrClosed
	}
	if !deadline.IsZero() {
		if d := time.Until(deadline); d <= 0 {
			s.mu.Unlock()
			opPool.Put(o)
			return nil, os.ErrDeadlineExceeded
		}
	}
	// An operation with a deadline takes two entries, queued together
	// so that nothing is submitted between the op and its link timeout.
	if !deadline.IsZero() {
		for s.r.QueueDepth()-s.r.SQEReady() < 2 {
			if err := s.submitLocked(); err != nil {
				s.mu.Unlock()
				opPool.Put(o)
				return nil, err
			}
		}
	}
	j, err := prep(s.r, o)
	for errors.Is(err, uring.ErrQueueFull) {
		// The SQ is full of entries someone has yet to submit: submit
		// them now, under the lock, to make room.
		if serr := s.submitLocked(); serr != nil {
			err = serr
			break
		}
		j, err = prep(s.r, o)
	}
	if err != nil {
		s.mu.Unlock()
		opPool.Put(o)
		return nil, err
	}
	o.job = j
	if !deadline.IsZero() {
		if _, err := s.r.LinkTimeout(time.Until(deadline), uring.Monotonic, ignored); err != nil {
			// The op is queued and cannot be taken back; bound it with
			// a runtime timer instead.
			o.timer = time.AfterFunc(time.Until(deadline), o.Cancel)
		}
	}
	s.r.Flush()
	o.seq = s.published.Add(1)
	s.mu.Unlock()
	s.dirty.Store(true)

	yield := batch && s.yieldNow()
	if yield {
		// Let the other goroutines of this processor queue their
		// operations first: whichever of us enters then submits them
		// all with one system call. Ours may be submitted, and even
		// collected, by then.
		goyield()
		submitted := s.submitted.Load() >= o.seq
		s.yielded(submitted || s.published.Load() > o.seq)
		if submitted {
			return o, nil
		}
		// Invariant 1 (see shard): a holder of enterMu submits ours.
		if s.enterMu.TryLock() {
			s.enter()
		}
		return o, nil
	}
	s.enterMu.Lock()
	s.enter()
	return o, nil
}

// Yielding before entering is worth it only while other goroutines queue
// operations on the same ring meanwhile; a lone goroutine, or one among
// busy goroutines that do no I/O, would only wait its turn. So each yield
// during which others queued restores yieldCredit, and each one during
// which nobody did spends one; without credit, operations yield only now
// and then (exponentially less often while yields keep failing) to find
// out whether batching pays again.
const (
	maxYieldCredit  = 16
	maxYieldBackoff = 1024
)

// yieldNow reports whether a batchable operation should yield before
// entering. The counters are updated by many goroutines without a lock:
// a lost update only makes one more or one fewer operation yield.
func (s *shard) yieldNow() bool {
	if s.yieldCredit.Load() > 0 {
		return true
	}
	if s.yieldSkip.Load() > 0 {
		s.yieldSkip.Add(-1)
		return false
	}
	return true
}

// yielded records whether a yield let other operations be queued.
func (s *shard) yielded(useful bool) {
	switch {
	case useful:
		if s.yieldCredit.Load() != maxYieldCredit {
			s.yieldCredit.Store(maxYieldCredit)
			s.yieldBackoff.Store(0)
		}
	case s.yieldCredit.Load() > 0:
		s.yieldCredit.Add(-1)
	default:
		b := min(max(2*s.yieldBackoff.Load(), 1), maxYieldBackoff)
		s.yieldBackoff.Store(b)
		s.yieldSkip.Store(b)
	}
}

// enter submits every published entry, and keeps going while other
// goroutines publish more, as invariant 1 (see shard) has it. The caller
// holds enterMu, which enter releases. The eventfd is muted while it is
// in the kernel, so it collects what completed meanwhile itself, its
// caller's completion among them.
func (s *shard) enter() {
	for {
		if s.gone {
			s.enterMu.Unlock()
			return
		}
		for s.dirty.Swap(false) {
			// Completions posted during our own enter are drained by
			// us right after; the eventfd would only wake the reaper
			// to find them gone.
			s.r.SetEventfdEnabled(false)
			for {
				err := s.r.EnterFlushed()
				s.enters.Add(1)
				if err == syscall.EINTR {
					continue
				}
				if err == syscall.EBUSY || err == syscall.EAGAIN {
					// The kernel wants completions reaped before it
					// accepts more: drain and try again.
					s.mu.Lock()
					s.drainLocked()
					s.mu.Unlock()
					continue
				}
				if err != nil {
					s.enterFailed(err)
				}
				break
			}
			// Unmute before collecting: invariant 3 (see shard).
			s.r.SetEventfdEnabled(true)
			s.mu.Lock()
			if s.r.SQEReady() == 0 {
				s.submitted.Store(s.published.Load())
			}
			s.drainLocked()
			s.mu.Unlock()
		}
		s.enterMu.Unlock()
		// After Unlock, not before: invariant 1 (see shard).
		if !s.dirty.Load() || !s.enterMu.TryLock() {
			return
		}
	}
}

// submitLocked submits with the shard lock held, for when the SQ is full.
// It returns the error of an io_uring_enter that failed for good; the
// entries then stay queued, for enter, which holds enterMu as taking them
// back needs, to fail.
func (s *shard) submitLocked() error {
	s.r.Flush()
	var err error
	for {
		err = s.r.EnterFlushed()
		s.enters.Add(1)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EBUSY || err == syscall.EAGAIN {
			s.drainLocked()
			continue
		}
		break
	}
	s.drainLocked()
	if err != nil {
		return enterError(err)
	}
	return nil
}

// enterError is the error operations fail with when io_uring_enter does.
func enterError(err error) error {
	if errno, ok := err.(syscall.Errno); ok {
		return uring.EnterError(errno)
	}
	return err
}

// enterFailed handles an io_uring_enter that failed with an error other
// than an interruption or a request to reap first: the entries it was to
// submit never will be, so they are taken back from the ring and their
// operations completed with the error rather than left waiting for ever.
// If the call was denied (EPERM, EACCES or ENOSYS: a seccomp filter
// installed after the rings were set up, which cannot be lifted), the
// executor is marked broken and every later operation fails at once.
// The caller holds enterMu, so no other enter consumes the queue
// meanwhile.
func (s *shard) enterFailed(err error) {
	e := enterError(err)
	s.exec.markBroken(e)
	s.mu.Lock()
	for _, o := range s.r.Unsubmit() {
		if o == ignored || o == nil {
			continue
		}
		o.fail(e)
	}
	s.submitted.Store(s.published.Load())
	s.drainLocked()
	s.mu.Unlock()
}

// markBroken marks the executor broken if err, from io_uring_enter, says
// that the call is denied for good (see enterFailed).
func (e *Executor) markBroken(err error) {
	if Unavailable(err) && e.broken.CompareAndSwap(nil, &err) {
		close(e.brokenC)
	}
}

// drainLocked collects every completion in the CQ and readies the
// goroutines waiting for them.
func (s *shard) drainLocked() {
	for {
		c, ok, err := s.r.Peek()
		if err != nil || !ok {
			if s.drained != nil && s.r.ActiveOps() == 0 {
				close(s.drained)
				s.drained = nil
			}
			return
		}
		o := c.Data
		if o == ignored || o == nil || o.state.Load() == opAbandoned {
			// Nobody waits for it (an abandoned operation's waiter
			// has gone: see waitCancelled).
			continue
		}
		if c.More() {
			if o.each != nil {
				o.callback(Result{Res: c.Result, Flags: uint32(c.Flags)})
			} else {
				// A zero-copy send: this is its result, and the
				// notification that the buffer is free follows.
				o.res = Result{Res: c.Result, Flags: uint32(c.Flags)}
				o.hasRes = true
			}
			continue
		}
		if !o.hasRes {
			o.res = Result{Res: c.Result, Flags: uint32(c.Flags)}
		}
		if o.state.Swap(opDone) == opParked {
			o.ch <- struct{}{}
		}
	}
}

// WaitSlice bounds one wait in io_uring_enter for a lone operation
// (waitAlone), and so how long a stop that posts no completion (a
// context cancelled, the executor closed while the operation does not
// end) waits to be seen. uringfs's batches on files wait in slices of
// the same length.
const WaitSlice = 50 * time.Millisecond

// waitAlone waits for o, an operation started by StartLocalFile, in
// io_uring_enter, as long as it is the only operation in flight on its
// ring, and reports whether o is done. It returns false, for Wait to
// park as any operation does, if another goroutine already waits in
// the kernel on this ring, if another operation is in flight (the
// reaper then collects every completion, as usual), or once ctx is
// done, the executor closed or broken, or the kernel has no timed
// wait.
//
// While it waits, the eventfd is muted, so that o's completion does not
// wake the reaper too: any completion ends the wait (min_complete 1),
// and it unmutes and collects before it looks again, so one that
// arrives meanwhile for another goroutine's operation (started after o)
// is collected by it, or by the reaper once unmuted (invariant 6 of
// shard). Whoever else mutes (the holder of enterMu, for its own enter)
// unmutes and collects after, so the mutes of the two never strand a
// completion, and at worst wake the reaper for nothing.
func (s *shard) waitAlone(o *Operation, ctx context.Context) bool {
	// A goroutine parked on this ring has an operation in flight: o is
	// not alone, which this tells without the ring's lock, at every
	// Wait of a busy ring.
	if s.counts.parkedNow.Load() != 0 || s.noTimedWait.Load() || !s.waitMu.TryLock() {
		return false
	}
	defer s.waitMu.Unlock()
	for waited := false; ; waited = true {
		// Collect first: it also hands consumed CQ slots back, without
		// which the kernel would count them as posted and not wait.
		s.mu.Lock()
		s.drainLocked()
		done := o.state.Load() == opDone
		alone := !s.closed && s.r.ActiveOps() == 1
		s.mu.Unlock()
		if done {
			if waited {
				s.counts.waited.Add(1)
			} else {
				s.counts.inline.Add(1)
			}
			return true
		}
		if !alone || ctx.Err() != nil || s.exec.broken.Load() != nil {
			return false
		}
		s.r.SetEventfdEnabled(false)
		err := s.r.WaitFlushed(WaitSlice)
		s.enters.Add(1)
		// Unmute before collecting: invariant 6 (see shard).
		s.r.SetEventfdEnabled(true)
		switch err {
		case nil, syscall.ETIME, syscall.EINTR, syscall.EBUSY, syscall.EAGAIN:
			continue
		}
		var unsupported *uring.UnsupportedFeatureError
		if errors.As(err, &unsupported) {
			s.noTimedWait.Store(true)
		} else {
			// Denied (a seccomp filter installed since): the executor
			// is broken, and o parks, where Cancel and Close reach it
			// through io_uring_register.
			s.exec.markBroken(enterError(err))
		}
		s.mu.Lock()
		s.drainLocked()
		s.mu.Unlock()
		// o parks, or finds itself done, in Wait.
		return false
	}
}

// reapForever is reap for the process-wide executor, which is never
// closed: its own name lets leak checks tell these goroutines, which live
// as long as the process by design, from a private executor's.
func (s *shard) reapForever() { s.reap() }

// reap is the shard's reaper: it sleeps in the netpoller until the kernel
// signals the eventfd, then collects completions.
func (s *shard) reap() {
	defer s.exec.wg.Done()
	var buf [8]byte
	for {
		if _, err := s.efd.Read(buf[:]); err != nil {
			return
		}
		s.mu.Lock()
		s.drainLocked()
		s.mu.Unlock()
	}
}

// Wait waits for the operation's completion and releases the Operation.
// If ctx is done first the operation is cancelled, and Wait still waits
// for the kernel to finish with it.
func (o *Operation) Wait(ctx context.Context) (Result, error) {
	entered()
	s := o.s
	if o.waitAlone != nil && o.state.Load() != opDone && o.waitAlone(s, o, ctx) {
		// Counted by waitAlone.
	} else if o.state.Load() != opDone && o.state.CompareAndSwap(opPending, opParked) {
		s.counts.parked.Add(1)
		s.counts.parkedNow.Add(1)
		if done := ctx.Done(); done == nil {
			<-o.ch
		} else {
			select {
			case <-o.ch:
			case <-done:
				o.Cancel()
				if err := o.waitCancelled(); err != nil {
					s.counts.parkedNow.Add(-1)
					if o.timer != nil {
						o.timer.Stop()
					}
					return Result{Res: -int32(syscall.ECANCELED)}, err
				}
			}
		}
		s.counts.parkedNow.Add(-1)
	} else {
		s.counts.inline.Add(1)
	}
	reuse := true
	if o.timer != nil {
		// A timer that already fired may still be inside Cancel: this
		// Operation must not be handed to another operation then.
		reuse = o.timer.Stop()
		o.timer = nil
	}
	res := o.res
	err := res.Err()
	if o.err != nil {
		err = o.err
	} else if err == syscall.ECANCELED || err == syscall.EINTR {
		s.mu.Lock()
		cancelled := o.cancelled
		s.mu.Unlock()
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case !o.deadline.IsZero() && !time.Now().Before(o.deadline):
			err = os.ErrDeadlineExceeded
		case cancelled:
			err = ErrCanceled
		}
		if err == syscall.ECANCELED {
			s.counts.spurious.Add(1)
		}
	}
	if reuse {
		o.s = nil
		o.each = nil
		o.err = nil
		opPool.Put(o)
	}
	return res, err
}

// Cancel asks the kernel to cancel the operation. It may be called from
// any goroutine until Wait returns; the operation may still complete
// normally, and Wait reports whichever happened.
func (o *Operation) Cancel() {
	entered()
	s := o.s
	s.mu.Lock()
	if st := o.state.Load(); o.cancelled || st == opDone || st == opAbandoned {
		s.mu.Unlock()
		return
	}
	o.cancelled = true
	s.cancelLocked(o)
	s.r.Flush()
	s.mu.Unlock()
	s.dirty.Store(true)
	if s.enterMu.TryLock() {
		s.enter()
	}
	if s.exec.broken.Load() != nil {
		// The cancel request above cannot reach the kernel.
		s.cancelSync(o)
	}
}

// cancelWait bounds how long an operation cancelled through
// io_uring_register may take to post its completion (from task work in
// the thread that submitted it, which the kernel wakes for it) before
// its waiter gives up on it.
const cancelWait = 10 * time.Second

// waitCancelled waits for the completion of a parked operation that
// Cancel was asked to stop. Once io_uring_enter is denied (the executor
// is broken), cancel requests never reach the kernel, so an operation
// that waits on something that may never happen (a read of a pipe, an
// accept) would keep its waiter for ever: it is cancelled through
// io_uring_register instead (cancelSync), which needs no enter, and its
// completion, posted to the CQ, is collected from memory by the reaper.
// The kernel then has not read or written anything for it.
//
// If that fails too (io_uring_register denied as well, or a kernel
// before 6.0), nothing can stop the operation, and it returns an error
// saying so: the operation is abandoned, not finished. Its ring slot
// keeps its buffer and other memory referenced, so none of it is freed
// or reused while the kernel may write to it; but the kernel may still
// complete it, consuming what it reads, until the process exits. That
// is chosen over waiting for ever, which would keep a Close from
// returning.
func (o *Operation) waitCancelled() error {
	s := o.s
	select {
	case <-o.ch:
		return nil
	case <-s.exec.brokenC:
	}
	err := s.cancelSync(o)
	if err == nil || err == syscall.ENOENT {
		// Cancelled, or completed already: its completion is in the
		// CQ or on its way.
		t := time.NewTimer(cancelWait)
		select {
		case <-o.ch:
			t.Stop()
			return nil
		case <-t.C:
		}
		err = fmt.Errorf("its completion did not arrive within %v of cancelling it through io_uring_register", cancelWait)
	}
	s.mu.Lock()
	if !o.state.CompareAndSwap(opParked, opAbandoned) {
		// Completed meanwhile: ch has it.
		s.mu.Unlock()
		<-o.ch
		return nil
	}
	s.mu.Unlock()
	return fmt.Errorf("reactor: an operation could not be cancelled (%v) and stays in the kernel, which may still complete it into its buffer (kept from reuse until then): %w", err, *s.exec.broken.Load())
}

// cancelSync cancels o through io_uring_register (uring.Ring.CancelSync),
// once per operation, for when io_uring_enter is denied. It returns the
// register call's error (that of the first call, on later ones), or nil
// if o was done.
func (s *shard) cancelSync(o *Operation) error {
	// enterMu keeps the ring mapped and open (see Close), and orders
	// two calls for one operation.
	s.enterMu.Lock()
	defer s.enterMu.Unlock()
	s.mu.Lock()
	if st := o.state.Load(); st == opDone || st == opAbandoned || o.syncCancelled {
		err := o.syncErr
		s.mu.Unlock()
		return err
	}
	j := o.job
	s.mu.Unlock()
	err := ErrClosed
	if !s.gone {
		err = s.r.CancelSync(j, uring.CancelSyncWait)
	}
	s.mu.Lock()
	o.syncCancelled, o.syncErr = true, err
	s.mu.Unlock()
	return err
}

// cancelSyncFd is CancelFd's way once io_uring_enter is denied: every
// operation on fd (every operation with fd -1) is cancelled through
// io_uring_register. It returns that call's error.
func (s *shard) cancelSyncFd(fd int) error {
	s.enterMu.Lock()
	defer s.enterMu.Unlock()
	if s.gone {
		return ErrClosed
	}
	return s.r.CancelSyncFd(fd, uring.CancelSyncWait)
}

func (s *shard) cancelLocked(o *Operation) {
	for {
		_, err := s.r.Cancel(o.job, ignored)
		if !errors.Is(err, uring.ErrQueueFull) {
			return
		}
		if s.submitLocked() != nil {
			return
		}
	}
}

// fail completes with err an operation that never reached the kernel.
// The shard is locked.
func (o *Operation) fail(err error) {
	o.err = err
	o.res = Result{Res: -int32(syscall.EIO)}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		o.res.Res = -int32(errno)
	}
	if o.state.Swap(opDone) == opParked {
		o.ch <- struct{}{}
	}
}
