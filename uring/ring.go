package uring

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"github.com/uring-go/uring/internal/ring"
	"golang.org/x/sys/unix"
)

// Ring is an io_uring instance whose operations carry user data of type T.
// Create one with New. It is not safe for concurrent use; a ring with
// SetupSingleIssuer must moreover be used from a single OS thread (see
// "Concurrency" in the package documentation).
type Ring[T any] struct {
	// r is held by value, not by pointer, so that reaching the ring's
	// fields takes no extra load on the per-operation paths.
	r      ring.Ring
	closed bool

	// slots and mem are indexed alike: slots holds what every operation
	// uses, mem what only operations that keep memory do, so that the
	// table the common path walks stays small.
	slots []slot[T]
	mem   []slotMem
	// freeHead is 1 + the index of the first free slot, or 0 if none is
	// free; each free slot's next continues the list, used as a stack.
	freeHead uint32
	active   int // slots in use: queued, in flight, or completed but not collected

	fixed    []byte // the registered fixed buffer, or nil
	fixedPin runtime.Pinner

	probe        Probe
	sqpoll       bool
	extArg       bool
	taskrunCheck bool

	stats counters
}

type counters struct {
	submitted, completed, enters uint64
	stray                        uint64
	cqOverflow                   uint64
}

// slot holds what the ring keeps for one operation until its last
// completion is collected: the user data and, in the slotMem of the same
// index if mem is set, every Go value the kernel may read or write.
type slot[T any] struct {
	gen   uint32 // distinguishes successive users of the slot; never 0 in use
	seq   uint32 // the SQE's sequence number, to tell whether it was submitted
	next  uint32 // while the slot is free: the free list's next (see freeHead)
	inUse bool
	// mem is set for an operation queued with prepMem, which may keep
	// memory in its slotMem; the others, which keep none, skip it.
	mem  bool
	data T
}

// slotMem is the memory an operation keeps alive for the kernel.
type slotMem struct {
	buf  []byte // the operation's buffer
	keep any    // other memory the kernel uses (iovecs, paths, sockaddrs, ...)
	pin  runtime.Pinner
	// pinned is set by operations that pin, so that the common
	// operation that pins nothing skips Unpin.
	pinned bool
	// iov is the slot's iovec array, kept across uses so that vectored
	// operations do not allocate one per call.
	iov []unix.Iovec
}

// iovecs returns the slot's iovec array resized to n.
func (s *slotMem) iovecs(n int) []unix.Iovec {
	if cap(s.iov) < n {
		s.iov = make([]unix.Iovec, n)
	}
	return s.iov[:n]
}

// Job identifies a queued operation, for Cancel and SetSQEFlags. The zero
// Job is never valid.
type Job struct {
	idx uint32
	gen uint32
}

func (j Job) userData() uint64 { return uint64(j.gen)<<32 | uint64(j.idx) }

// Completion is the result of one operation.
type Completion[T any] struct {
	// Result is the operation's return value: a byte count, a new fd, 0,
	// or a negated errno.
	Result int32
	// Flags are the CQE flags (see CQEFlags).
	Flags CQEFlags
	// Data is the value given when the operation was queued.
	Data T
	// Job is the handle the operation method returned.
	Job Job
}

// Err returns nil if the operation succeeded, or its errno.
func (c Completion[T]) Err() error {
	if c.Result >= 0 {
		return nil
	}
	return syscall.Errno(-c.Result)
}

// CQEFlags are the flags of a completion (IORING_CQE_F_*).
type CQEFlags uint32

// Completion flags.
const (
	// CQEBuffer: the operation picked a provided buffer; see BufferID.
	CQEBuffer = CQEFlags(ring.IORING_CQE_F_BUFFER)
	// CQEMore: the operation will post more completions (multishot, send_zc).
	CQEMore = CQEFlags(ring.IORING_CQE_F_MORE)
	// CQESockNonempty: more data is waiting in the socket after a recv.
	CQESockNonempty = CQEFlags(ring.IORING_CQE_F_SOCK_NONEMPTY)
	// CQENotif: a zero-copy send's notification that its buffer is free.
	CQENotif = CQEFlags(ring.IORING_CQE_F_NOTIF)
)

// More reports whether the operation will post further completions.
func (c Completion[T]) More() bool { return c.Flags&CQEMore != 0 }

// BufferID returns the provided buffer the kernel chose, if any.
func (c Completion[T]) BufferID() (uint16, bool) {
	if c.Flags&CQEBuffer == 0 {
		return 0, false
	}
	return uint16(c.Flags >> ring.IORING_CQE_BUFFER_SHIFT), true
}

// prep takes a free SQE and a slot for an operation that keeps no memory
// for the kernel. The caller fills in the SQE's operation fields.
func (r *Ring[T]) prep(op Op, data T) (*ring.SQE, Job, error) {
	if r.closed || !r.probe.Supported(op) {
		return nil, Job{}, r.prepErr(op)
	}
	sqe := r.r.GetSQE()
	if sqe == nil {
		return nil, Job{}, ErrQueueFull
	}
	if r.freeHead == 0 {
		r.grow()
	}
	idx := r.freeHead - 1
	s := &r.slots[idx]
	r.freeHead = s.next
	gen := s.gen + 1
	if gen == 0 {
		gen = 1
	}
	s.gen = gen
	s.inUse = true
	s.data = data
	s.seq = r.r.SQETail() - 1
	r.active++
	j := Job{idx: idx, gen: gen}
	sqe.Opcode = ring.Op(op)
	sqe.UserData = j.userData()
	return sqe, j, nil
}

// prepMem is prep for an operation that may keep memory for the kernel:
// the caller stores in the slotMem it returns what must stay alive.
func (r *Ring[T]) prepMem(op Op, data T) (*ring.SQE, *slotMem, Job, error) {
	sqe, j, err := r.prep(op, data)
	if err != nil {
		return nil, nil, j, err
	}
	r.slots[j.idx].mem = true
	return sqe, &r.mem[j.idx], j, nil
}

// prepErr is why prep refuses op.
func (r *Ring[T]) prepErr(op Op) error {
	if r.closed {
		return ErrClosed
	}
	return &UnsupportedOpError{Op: op}
}

// grow adds a slot to the table, onto the free list, which was empty.
func (r *Ring[T]) grow() {
	r.slots = append(r.slots, slot[T]{})
	r.mem = append(r.mem, slotMem{})
	r.freeHead = uint32(len(r.slots))
}

// lookup returns the in-use slot a job names, or nil.
func (r *Ring[T]) lookup(j Job) *slot[T] {
	if int(j.idx) >= len(r.slots) {
		return nil
	}
	s := &r.slots[j.idx]
	if !s.inUse || s.gen != j.gen {
		return nil
	}
	return s
}

// release frees slot s, whose index is idx.
func (r *Ring[T]) release(s *slot[T], idx uint32) {
	var zero T
	s.data = zero
	if s.mem {
		r.mem[idx].drop()
		s.mem = false
	}
	s.inUse = false
	s.next = r.freeHead
	r.freeHead = idx + 1
	r.active--
}

// drop lets go of the memory kept for the kernel.
func (s *slotMem) drop() {
	s.buf = nil
	s.keep = nil
	if s.pinned {
		s.pin.Unpin()
		s.pinned = false
		// Drop the iovecs' references to the buffers.
		clear(s.iov[:cap(s.iov)])
	}
}

// completeSlot is collect's path for a completion that took a buffer or
// has more to follow, or whose operation may keep memory.
func (r *Ring[T]) completeSlot(s *slot[T], idx uint32, cqe ring.CQE) {
	if s.mem && (cqe.Flags&ring.IORING_CQE_F_BUFFER != 0 || cqe.Res < 0) {
		if br := selectedFrom(r.mem[idx].keep); br != nil {
			br.used(cqe.Res, cqe.Flags)
		}
	}
	if cqe.Flags&ring.IORING_CQE_F_MORE == 0 {
		r.release(s, idx)
	}
}

// Submit hands every queued operation to the kernel and returns how many
// it took. With SQPOLL it wakes the poller thread if it sleeps. EBUSY
// and EAGAIN come back as bare errnos (collect completions, then submit
// again); any other failure of io_uring_enter is a *SetupError that
// names it and says what to do.
func (r *Ring[T]) Submit() (int, error) {
	return r.submit(0, 0)
}

// Flush makes the queued operations visible to the kernel without
// entering it, and returns how many the kernel has yet to consume. It is
// for SQPOLL rings and for callers that enter the kernel with
// EnterFlushed (package internal/reactor enters outside its ring lock).
func (r *Ring[T]) Flush() int {
	if r.closed {
		return 0
	}
	r.stats.submitted += uint64(r.r.Unflushed())
	return int(r.r.Flush())
}

// EnterFlushed asks the kernel to consume the entries Flush made visible,
// without waiting for completions (io_uring_enter with min_complete 0);
// operations that can complete inline do so during the call. It touches
// only the ring's fd and size, which never change, so unlike other
// methods it may be called while another goroutine uses the ring, as
// package internal/reactor does outside its ring lock; the caller keeps
// the ring open meanwhile. It returns the kernel's errno as it is:
// EINTR, and EBUSY or EAGAIN (reap completions first), are the caller's
// to retry. It skips the runtime's blocking-system-call bookkeeping,
// which costs as much as submitting a cheap operation.
func (r *Ring[T]) EnterFlushed() error {
	_, err := ring.EnterNoWait(r.r.Fd, r.r.SQEntries(), 0)
	return err
}

// WaitFlushed waits in io_uring_enter, submitting nothing, until a
// completion is posted or timeout passes (io_uring_enter with
// min_complete 1 and a timeout): the kernel returns at once if the CQ
// already holds completions it has not been told are consumed, so the
// caller collects (Peek, which hands consumed slots back once it finds
// the CQ empty) before it waits. Like EnterFlushed it touches only the
// ring's fd, so it may be called while other goroutines use the ring
// (they may submit, and collect the very completion that ends the wait);
// the caller keeps the ring open meanwhile. The thread blocks, and the
// runtime may hand its P to another goroutine, as in a blocking read(2).
// It returns the kernel's errno as it is (ETIME when the timeout passed,
// EINTR), or an *UnsupportedFeatureError on a kernel without timed waits
// (IORING_FEAT_EXT_ARG, Linux 5.11).
func (r *Ring[T]) WaitFlushed(timeout time.Duration) error {
	if !r.extArg {
		return errExtArg
	}
	return r.enterTimed(0, ring.IORING_ENTER_GETEVENTS, timeout)
}

// enterTimed is io_uring_enter with min_complete 1 and a timeout
// (IORING_ENTER_EXT_ARG), which the caller has checked the kernel has.
func (r *Ring[T]) enterTimed(toSubmit, flags uint32, timeout time.Duration) error {
	ts := timespec(timeout)
	arg := ring.GeteventsArg{Ts: uint64(uintptr(unsafe.Pointer(&ts)))}
	_, err := ring.Enter(r.r.Fd, toSubmit, 1, flags|ring.IORING_ENTER_EXT_ARG, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
	runtime.KeepAlive(&ts)
	return err
}

func timespec(d time.Duration) ring.Timespec {
	return ring.Timespec{Sec: int64(d / time.Second), Nsec: int64(d % time.Second)}
}

// CancelSyncWait is how long CancelSync lets the kernel finish an
// operation that is already running (in an io-wq worker) before it gives
// up with ETIME.
const CancelSyncWait = time.Second

// syncCancelReg is struct io_uring_sync_cancel_reg: 64 bytes in every
// kernel that has IORING_REGISTER_SYNC_CANCEL (6.0 had pad where 6.6
// added opcode, which stays 0 here).
type syncCancelReg struct {
	addr    uint64
	fd      int32
	flags   uint32
	timeout ring.Timespec
	_       [4]uint64 // opcode and padding, all 0
}

// CancelSync cancels the operation job names without io_uring_enter
// (io_uring_register's IORING_REGISTER_SYNC_CANCEL, Linux 6.0): it is
// how an operation is cancelled once io_uring_enter is denied (a
// seccomp filter installed after the ring was set up). The cancelled
// operation's completion is posted to the CQ as usual, where Peek
// collects it without entering; the kernel posts it from task work
// that runs in the thread that submitted the operation, woken for it,
// so it may appear just after CancelSync returns. An operation already
// running in a kernel worker is given up to wait to finish (a negative
// wait: no limit).
//
// It returns nil once the kernel has cancelled the operation, ENOENT
// if the kernel knows no such operation (it has completed: its
// completion is in the CQ), ETIME if it was still running after wait,
// EINVAL from a kernel without IORING_REGISTER_SYNC_CANCEL, and the
// *SetupError of io_uring_register if that is denied. Like EnterFlushed
// it touches only the ring's fd, so it may be called while another
// goroutine uses the ring, which the caller keeps open meanwhile, and
// with a job that has completed since (it then finds nothing).
func (r *Ring[T]) CancelSync(job Job, wait time.Duration) error {
	return r.cancelSync(syncCancelReg{addr: job.userData()}, wait)
}

// CancelSyncFd is CancelSync for every operation on fd
// (IORING_ASYNC_CANCEL_FD|IORING_ASYNC_CANCEL_ALL), or, with fd -1, for
// every operation in flight (IORING_ASYNC_CANCEL_ANY|IORING_ASYNC_CANCEL_ALL).
// Finding none is not an error.
func (r *Ring[T]) CancelSyncFd(fd int, wait time.Duration) error {
	reg := syncCancelReg{fd: int32(fd), flags: ring.IORING_ASYNC_CANCEL_FD | ring.IORING_ASYNC_CANCEL_ALL}
	if fd < 0 {
		reg = syncCancelReg{fd: -1, flags: ring.IORING_ASYNC_CANCEL_ANY | ring.IORING_ASYNC_CANCEL_ALL}
	}
	err := r.cancelSync(reg, wait)
	if err == syscall.ENOENT {
		return nil
	}
	return err
}

func (r *Ring[T]) cancelSync(reg syncCancelReg, wait time.Duration) error {
	if wait < 0 {
		// The kernel's "no limit".
		reg.timeout = ring.Timespec{Sec: -1, Nsec: -1}
	} else {
		reg.timeout = timespec(wait)
	}
	for {
		_, err := ring.Register(r.r.Fd, ring.IORING_REGISTER_SYNC_CANCEL, unsafe.Pointer(&reg), 1)
		switch err {
		case nil:
			return nil
		case syscall.EINTR:
			continue
		case syscall.EPERM, syscall.EACCES, syscall.ENOSYS:
			return newSetupError("io_uring_register", err.(syscall.Errno))
		}
		return err
	}
}

// SetEventfdEnabled turns the registered eventfd's notifications off and
// on (IORING_CQ_EVENTFD_DISABLED, liburing's io_uring_cq_eventfd_toggle).
// It touches only the CQ flags word, which the kernel reads and never
// writes, with atomic loads and stores; so unlike other methods it may be
// called while another goroutine uses the ring, provided only one goroutine
// calls it at a time.
func (r *Ring[T]) SetEventfdEnabled(on bool) {
	if on {
		r.r.SetCQFlags(r.r.CQFlags() &^ ring.IORING_CQ_EVENTFD_DISABLED)
	} else {
		r.r.SetCQFlags(r.r.CQFlags() | ring.IORING_CQ_EVENTFD_DISABLED)
	}
}

func (r *Ring[T]) submit(minComplete, flags uint32) (int, error) {
	if r.closed {
		return 0, ErrClosed
	}
	// The kernel posts into CQ slots we have consumed only once it
	// knows.
	r.r.PublishCQ()
	queued := r.r.Unflushed()
	pending := r.r.Flush()
	r.stats.submitted += uint64(queued)
	if r.sqpoll {
		// The kernel thread consumes the SQ by itself; it only needs a
		// wake-up if it went to sleep (the read of the flags comes after
		// the tail store in Flush, as liburing's io_uring_submit does).
		if r.r.SQFlags()&ring.IORING_SQ_NEED_WAKEUP != 0 {
			flags |= ring.IORING_ENTER_SQ_WAKEUP
		}
		if flags == 0 && minComplete == 0 {
			return int(queued), nil
		}
		pending = 0
	}
	if pending == 0 && flags == 0 && minComplete == 0 {
		return 0, nil
	}
	for {
		r.stats.enters++
		var n int
		var err error
		if minComplete == 0 && flags&ring.IORING_ENTER_GETEVENTS == 0 {
			n, err = ring.EnterNoWait(r.r.Fd, pending, flags)
		} else {
			n, err = ring.Enter(r.r.Fd, pending, minComplete, flags, nil, 0)
		}
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			err = enterErr(err)
		}
		if r.sqpoll {
			return int(queued), err
		}
		return n, err
	}
}

// errDisabled is io_uring_enter's EBADFD, which it returns only for a
// ring set up with SetupRDisabled and not yet enabled.
var errDisabled = fmt.Errorf("uring: ring is disabled (SetupRDisabled); call Enable first: %w", syscall.EBADFD)

// Unsubmit takes back every queued operation the kernel has not yet
// consumed, releases its slot and returns its data, in queue order. It
// is for when io_uring_enter keeps failing (a seccomp filter installed
// after the ring was set up denies it): those operations would otherwise
// stay queued for good, and whoever waits for them would wait forever.
// Operations the kernel already took are not affected.
//
// It must not run while an io_uring_enter call on the ring may be in
// progress, and it does nothing on an SQPOLL ring, whose kernel thread
// consumes the queue at any time.
func (r *Ring[T]) Unsubmit() []T {
	if r.closed || r.sqpoll {
		return nil
	}
	r.stats.submitted -= uint64(r.r.SQReady())
	from, to := r.r.Unpublish()
	var data []T
	for seq := from; seq != to; seq++ {
		ud := r.r.SQEAt(seq).UserData
		j := Job{idx: uint32(ud), gen: uint32(ud >> 32)}
		if s := r.lookup(j); s != nil {
			data = append(data, s.data)
			r.release(s, j.idx)
		}
	}
	return data
}

// Peek returns a completion if one is ready, without blocking and without
// submitting (the Go name of get_cqe_nonblocking).
func (r *Ring[T]) Peek() (Completion[T], bool, error) {
	return r.collect(false)
}

// collect is Peek, and with wait, Wait. Both are this one call, which
// the compiler inlines into theirs, since a call costs as much as
// collecting a completion; for the same reason turning the CQE into a
// Completion is written out here, not in a function of its own.
func (r *Ring[T]) collect(wait bool) (Completion[T], bool, error) {
	if r.closed {
		return Completion[T]{}, false, ErrClosed
	}
	for {
		// Wait submits what is queued before it looks.
		if !wait || r.r.Unflushed() == 0 {
			cqe, ok := r.r.PeekCQE()
			if !ok {
				cqe, ok = r.flushCQ()
			}
			if !ok {
				if !wait {
					return Completion[T]{}, false, nil
				}
				if r.active == 0 {
					return Completion[T]{}, false, ErrNoActiveOps
				}
			} else {
				r.r.AdvanceCQ(1)
				idx := uint32(cqe.UserData)
				gen := uint32(cqe.UserData >> 32)
				if int(idx) >= len(r.slots) || !r.slots[idx].inUse || r.slots[idx].gen != gen {
					// Not ours: nothing we queued has this user
					// data. Count it rather than hand the caller a
					// completion with no job.
					r.stats.stray++
					continue
				}
				s := &r.slots[idx]
				c := Completion[T]{Result: cqe.Res, Flags: CQEFlags(cqe.Flags), Data: s.data, Job: Job{idx, gen}}
				// Release the slot unless more completions will follow.
				if cqe.Flags&(ring.IORING_CQE_F_BUFFER|ring.IORING_CQE_F_MORE) != 0 || s.mem {
					r.completeSlot(s, idx, cqe)
				} else {
					// release, for the operation that keeps no memory.
					var zero T
					s.data = zero
					s.inUse = false
					s.next = r.freeHead
					r.freeHead = idx + 1
					r.active--
				}
				r.stats.completed++
				return c, true, nil
			}
		}
		if err := r.enterWait(-1); err != nil {
			return Completion[T]{}, false, err
		}
	}
}

// flushCQ is collect's path for an empty CQ: it moves completions the kernel
// holds back (on its overflow list, or as deferred task work) into the
// CQ, and returns the oldest, if any.
func (r *Ring[T]) flushCQ() (ring.CQE, bool) {
	f := r.r.SQFlags()
	if !r.needFlush(f) {
		return ring.CQE{}, false
	}
	if f&ring.IORING_SQ_CQ_OVERFLOW != 0 {
		r.stats.cqOverflow++
	}
	// Entering with GETEVENTS (and no wait) moves them into the CQ.
	r.stats.enters++
	if _, err := ring.Enter(r.r.Fd, 0, 0, ring.IORING_ENTER_GETEVENTS, nil, 0); err != nil && err != syscall.EINTR {
		return ring.CQE{}, false
	}
	return r.r.PeekCQE()
}

func (r *Ring[T]) needFlush(f uint32) bool {
	if f&ring.IORING_SQ_CQ_OVERFLOW != 0 {
		return true
	}
	return r.taskrunCheck && f&ring.IORING_SQ_TASKRUN != 0
}

// Wait submits any queued operations, then blocks until a completion is
// ready and returns it. Submitting and waiting take one io_uring_enter
// call. It returns ErrNoActiveOps if nothing is in flight, and a failed
// io_uring_enter as Submit does.
func (r *Ring[T]) Wait() (Completion[T], error) {
	c, _, err := r.collect(true)
	return c, err
}

// WaitTimeout is Wait with a time limit: it returns false if no completion
// arrived within d. It needs IORING_FEAT_EXT_ARG (Linux 5.11).
func (r *Ring[T]) WaitTimeout(d time.Duration) (Completion[T], bool, error) {
	if r.closed {
		return Completion[T]{}, false, ErrClosed
	}
	if !r.extArg {
		return Completion[T]{}, false, errExtArg
	}
	deadline := time.Now().Add(d)
	for {
		if r.r.Unflushed() == 0 {
			if c, ok, _ := r.collect(false); ok {
				return c, true, nil
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			if r.r.Unflushed() > 0 {
				if _, err := r.submit(0, 0); err != nil {
					return Completion[T]{}, false, err
				}
			}
			return Completion[T]{}, false, nil
		}
		if err := r.enterWait(left); err != nil {
			return Completion[T]{}, false, err
		}
	}
}

// SubmitAndWait submits the queued operations and waits until at least one
// completion is ready, or timeout passes (a negative timeout waits without
// limit), in a single io_uring_enter call: the step of an event loop.
// Collect the completions with Peek. It returns how many operations were
// submitted; a timeout is not an error.
func (r *Ring[T]) SubmitAndWait(timeout time.Duration) (int, error) {
	if r.closed {
		return 0, ErrClosed
	}
	if timeout >= 0 && !r.extArg {
		return 0, errExtArg
	}
	n := int(r.r.Unflushed())
	return n, r.enterWait(timeout)
}

// enterWait flushes and submits what is queued and waits for one
// completion, for at most timeout if it is not negative. Interruptions,
// timeouts and EBUSY (the kernel wants completions reaped first) are not
// errors: the caller looks at the CQ again either way.
func (r *Ring[T]) enterWait(timeout time.Duration) error {
	r.r.PublishCQ()
	queued := r.r.Unflushed()
	pending := r.r.Flush()
	r.stats.submitted += uint64(queued)
	flags := uint32(ring.IORING_ENTER_GETEVENTS)
	if r.sqpoll {
		pending = 0
		if r.r.SQFlags()&ring.IORING_SQ_NEED_WAKEUP != 0 {
			flags |= ring.IORING_ENTER_SQ_WAKEUP
		}
	}
	r.stats.enters++
	var err error
	if timeout >= 0 {
		err = r.enterTimed(pending, flags, timeout)
	} else {
		_, err = ring.Enter(r.r.Fd, pending, 1, flags, nil, 0)
	}
	switch err {
	case nil, syscall.ETIME, syscall.EINTR, syscall.EBUSY, syscall.EAGAIN:
		return nil
	}
	return enterErr(err)
}

// enterErr is the error Submit, Wait and the like return for an
// io_uring_enter call that failed with err: the errnos that ask the
// caller to go again (EINTR; EBUSY and EAGAIN, reap completions first;
// ETIME, a timed wait that ended) stay bare, as callers compare them;
// any other is a *SetupError naming io_uring_enter, whose message says
// what failed and what to do (for a denial, the seccomp profile to
// change) and which still matches its errno with errors.Is.
func enterErr(err error) error {
	errno, ok := err.(syscall.Errno)
	switch {
	case !ok:
		return err
	case errno == syscall.EINTR, errno == syscall.EBUSY, errno == syscall.EAGAIN, errno == syscall.ETIME:
		return errno
	case errno == syscall.EBADFD:
		return errDisabled
	}
	return EnterError(errno)
}

var errExtArg = &UnsupportedFeatureError{Feature: "timed wait (IORING_FEAT_EXT_ARG)", Since: "5.11"}

// UnsupportedFeatureError reports a ring feature the running kernel lacks.
// It matches errors.ErrUnsupported.
type UnsupportedFeatureError struct {
	Feature string // what is missing, with the kernel's name for it
	Since   string // the Linux version that added it
}

// Error names the feature and the Linux version that added it.
func (e *UnsupportedFeatureError) Error() string {
	return "uring: " + e.Feature + " is not supported by this kernel (added in Linux " + e.Since + ")"
}

// Is reports whether target is errors.ErrUnsupported.
func (e *UnsupportedFeatureError) Is(target error) bool { return target == errors.ErrUnsupported }

// ActiveOps returns the number of operations queued, in flight, or
// completed but not yet collected.
func (r *Ring[T]) ActiveOps() int { return r.active }

// SQEReady returns the number of queued operations not yet consumed by the
// kernel: not yet submitted, or with SQPOLL not yet picked up by its
// thread.
func (r *Ring[T]) SQEReady() int {
	if r.closed {
		return 0
	}
	return int(r.r.Unflushed() + r.r.SQReady())
}

// Close releases the ring. It fails with an *ActiveOpsError, leaving the
// ring open, while operations are active: their memory would otherwise be
// released while the kernel may still use it. After Close every method
// returns ErrClosed.
func (r *Ring[T]) Close() error {
	if r.closed {
		return ErrClosed
	}
	if r.active > 0 {
		return &ActiveOpsError{Active: r.active}
	}
	r.closed = true
	liveRings.Delete(r)
	err := r.r.Close()
	r.fixed = nil
	r.fixedPin.Unpin()
	r.slots = nil
	r.mem = nil
	r.freeHead = 0
	return err
}

// Abandon gives up a ring whose active operations can never be collected
// (io_uring_enter is denied, say): it closes the ring's fd, so that it
// does not stay open, but keeps the ring's mappings and every active
// operation's memory for as long as the process lives, since the kernel
// may still write to them (the mappings keep the kernel's ring alive).
// After Abandon every method returns ErrClosed. With no active
// operations it is Close.
func (r *Ring[T]) Abandon() error {
	if r.closed {
		return ErrClosed
	}
	if r.active == 0 {
		return r.Close()
	}
	r.closed = true
	// r stays in liveRings, which keeps it and its slots reachable.
	return unix.Close(r.r.Fd)
}

// Stats are counters describing a ring's state, for debugging.
type Stats struct {
	SQEReady  int    // queued, not yet consumed by the kernel
	ActiveOps int    // queued, in flight, or completed but not collected
	SQEntries int    // submission queue size
	CQEntries int    // completion queue size
	Slots     int    // size of the slot table (the most ever active at once)
	Submitted uint64 // operations handed to the kernel
	Completed uint64 // completions collected
	Enters    uint64 // io_uring_enter calls
	Overflow  uint32 // completions the kernel dropped (0 with IORING_FEAT_NODROP)
	Dropped   uint32 // invalid SQEs the kernel skipped
	Stray     uint64 // completions that named no operation of this ring
	// CQOverflow counts the times Peek or Wait found the CQ empty while
	// the kernel held completions on its overflow list (the CQ had been
	// full) and entered the kernel to move them in. None is lost with
	// IORING_FEAT_NODROP, but a count that grows says the CQ is too
	// small for the load: see WithCQSize.
	CQOverflow uint64
}

// Stats returns the ring's debug counters.
func (r *Ring[T]) Stats() Stats {
	s := Stats{
		ActiveOps: r.active,
		Slots:     len(r.slots),
		Submitted: r.stats.submitted,
		Completed: r.stats.completed,
		Enters:    r.stats.enters,
		Stray:     r.stats.stray,

		CQOverflow: r.stats.cqOverflow,
	}
	if !r.closed {
		s.SQEReady = r.SQEReady()
		s.SQEntries = int(r.r.SQEntries())
		s.CQEntries = int(r.r.CQEntries())
		s.Overflow = r.r.Overflow()
		s.Dropped = r.r.Dropped()
	}
	return s
}
