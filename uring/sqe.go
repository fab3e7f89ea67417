package uring

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/ring"
)

// SQEFlags are submission flags (IOSQE_*), set on a queued operation with
// SetSQEFlags before it is submitted.
type SQEFlags uint8

// Submission flags.
const (
	// FixedFile: the operation's fd is an index into the registered file
	// table (RegisterFiles), not a file descriptor.
	FixedFile = SQEFlags(ring.IOSQE_FIXED_FILE)
	// IODrain: start only after every earlier operation has completed.
	IODrain = SQEFlags(ring.IOSQE_IO_DRAIN)
	// IOLink: the next queued operation starts only after this one
	// succeeds; if this one fails, the next is cancelled.
	IOLink = SQEFlags(ring.IOSQE_IO_LINK)
	// IOHardlink: like IOLink, but the next runs even if this one fails.
	IOHardlink = SQEFlags(ring.IOSQE_IO_HARDLINK)
	// Async: skip the inline attempt and go straight to a kernel worker.
	Async = SQEFlags(ring.IOSQE_ASYNC)
	// SkipSuccess: post no completion if the operation succeeds.
	SkipSuccess = SQEFlags(ring.IOSQE_CQE_SKIP_SUCCESS)
)

// unsubmitted returns the SQE of a job that is queued but not yet handed
// to the kernel.
func (r *Ring[T]) unsubmitted(j Job) (*ring.SQE, error) {
	if r.closed {
		return nil, ErrClosed
	}
	s := r.lookup(j)
	if s == nil {
		return nil, ErrJobDone
	}
	// SQEs from SQEHead to SQETail are queued and not yet flushed.
	if s.seq-r.r.SQEHead() >= r.r.Unflushed() {
		return nil, ErrJobSubmitted
	}
	return r.r.SQEAt(s.seq), nil
}

// SetSQEFlags adds submission flags to a queued operation. It fails with
// ErrJobSubmitted once the operation has been submitted.
//
// SkipSuccess cannot be set on an operation whose memory the ring keeps:
// with no completion the ring would never learn that the kernel is done
// with it. Only Noop, CloseFd, Shutdown and similar memory-free operations
// accept it.
func (r *Ring[T]) SetSQEFlags(j Job, f SQEFlags) error {
	sqe, err := r.unsubmitted(j)
	if err != nil {
		return err
	}
	if f&SkipSuccess != 0 {
		return errSkipSuccess
	}
	sqe.Flags |= uint8(f)
	return nil
}

var errSkipSuccess = errorString("uring: SkipSuccess would leave the operation's slot active forever; it is not supported")

type errorString string

func (e errorString) Error() string { return string(e) }

// Noop queues an operation that does nothing and completes with result 0.
func (r *Ring[T]) Noop(data T) (Job, error) {
	_, j, err := r.prep(OpNoop, data)
	return j, err
}

// Clock selects the clock a timeout is measured on.
type Clock uint8

const (
	// Monotonic is CLOCK_MONOTONIC, the kernel's default for timeouts.
	Monotonic Clock = iota
	// Boottime is CLOCK_BOOTTIME: monotonic, and counting time suspended.
	Boottime
	// Realtime is CLOCK_REALTIME: wall-clock time, which may jump.
	Realtime
)

// Now returns c's current time in nanoseconds since its epoch
// (clock_gettime(2)), the unit of TimeoutAt.
func (c Clock) Now() int64 {
	id := int32(unix.CLOCK_MONOTONIC)
	switch c {
	case Boottime:
		id = unix.CLOCK_BOOTTIME
	case Realtime:
		id = unix.CLOCK_REALTIME
	}
	var ts unix.Timespec
	unix.ClockGettime(id, &ts) // cannot fail for these clocks
	return ts.Nano()
}

func (c Clock) timeoutFlags() uint32 {
	switch c {
	case Boottime:
		return ring.IORING_TIMEOUT_BOOTTIME
	case Realtime:
		return ring.IORING_TIMEOUT_REALTIME
	}
	return 0
}

// Timeout queues a timer that completes with -ETIME after d, measured on
// clock. Cancel it to stop it early.
func (r *Ring[T]) Timeout(d time.Duration, clock Clock, data T) (Job, error) {
	return r.timeout(int64(d), clock, 0, data)
}

// TimeoutAt queues a timer that completes with -ETIME when clock reaches
// the absolute time ns, in nanoseconds since the clock's epoch: add the
// delay to clock.Now(). A time in the past completes at once.
func (r *Ring[T]) TimeoutAt(ns int64, clock Clock, data T) (Job, error) {
	return r.timeout(ns, clock, ring.IORING_TIMEOUT_ABS, data)
}

func (r *Ring[T]) timeout(ns int64, clock Clock, flags uint32, data T) (Job, error) {
	if ns < 0 {
		ns = 0
	}
	sqe, s, j, err := r.prepMem(OpTimeout, data)
	if err != nil {
		return j, err
	}
	ts := &ring.Timespec{Sec: ns / 1e9, Nsec: ns % 1e9}
	s.keep = ts
	sqe.Addr = ptr(ts)
	sqe.Len = 1
	sqe.OpFlags = flags | clock.timeoutFlags()
	return j, nil
}

// LinkTimeout limits the operation queued just before it: if that
// operation has not completed after d, it is cancelled (its completion
// reports -ECANCELED) and this one completes with -ETIME; otherwise this
// one completes with -ECANCELED. The previous operation must still be
// unsubmitted.
func (r *Ring[T]) LinkTimeout(d time.Duration, clock Clock, data T) (Job, error) {
	if r.closed {
		return Job{}, ErrClosed
	}
	if r.r.Unflushed() == 0 {
		return Job{}, errLinkTimeout
	}
	prev := r.r.SQEAt(r.r.SQETail() - 1)
	sqe, s, j, err := r.prepMem(OpLinkTimeout, data)
	if err != nil {
		return j, err
	}
	prev.Flags |= ring.IOSQE_IO_LINK
	ns := int64(d)
	if ns < 0 {
		ns = 0
	}
	ts := &ring.Timespec{Sec: ns / 1e9, Nsec: ns % 1e9}
	s.keep = ts
	sqe.Addr = ptr(ts)
	sqe.Len = 1
	sqe.OpFlags = clock.timeoutFlags()
	return j, nil
}

var errLinkTimeout = errorString("uring: LinkTimeout must directly follow the operation it limits, before Submit")

// Cancel queues a request to cancel job. Cancellation is asynchronous: the
// job may still complete normally. If it is cancelled, its completion
// reports -ECANCELED (or -EINTR if it was running) and the cancel's reports
// 0 (or -EALREADY); if it had already completed, the cancel's reports
// -ENOENT. Cancelling a job whose completion was already collected fails
// at once with ErrJobDone.
func (r *Ring[T]) Cancel(job Job, data T) (Job, error) {
	if r.closed {
		return Job{}, ErrClosed
	}
	if r.lookup(job) == nil {
		return Job{}, ErrJobDone
	}
	sqe, j, err := r.prep(OpAsyncCancel, data)
	if err != nil {
		return j, err
	}
	sqe.Addr = job.userData()
	return j, nil
}

// CancelFd queues a request to cancel every operation on fd. The result is
// the number cancelled, or -ENOENT if there were none. Linux 5.19.
func (r *Ring[T]) CancelFd(fd int, data T) (Job, error) {
	sqe, j, err := r.prep(OpAsyncCancel, data)
	if err != nil {
		return j, err
	}
	sqe.Fd = int32(fd)
	sqe.OpFlags = ring.IORING_ASYNC_CANCEL_FD | ring.IORING_ASYNC_CANCEL_ALL
	return j, nil
}

// CancelAll queues a request to cancel every operation in flight on the
// ring. The result is the number cancelled, or -ENOENT if there were none.
// Linux 5.19.
func (r *Ring[T]) CancelAll(data T) (Job, error) {
	sqe, j, err := r.prep(OpAsyncCancel, data)
	if err != nil {
		return j, err
	}
	sqe.OpFlags = ring.IORING_ASYNC_CANCEL_ANY | ring.IORING_ASYNC_CANCEL_ALL
	return j, nil
}

// setMsg points sqe, a sendmsg or recvmsg, at the one msghdr hdr for the
// socket fd with MSG_* flags.
func setMsg(sqe *ring.SQE, fd int, hdr *unix.Msghdr, flags uint32) {
	sqe.Fd = int32(fd)
	sqe.Addr = ptr(hdr)
	sqe.Len = 1
	sqe.OpFlags = flags
}
