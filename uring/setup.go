package uring

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/uring-go/uring/internal/ring"
)

// SetupFlags are io_uring_setup flags (IORING_SETUP_*).
type SetupFlags uint32

// Setup flags. Where a flag needs a kernel newer than 5.19 the version is
// noted; New fails with a SetupError wrapping EINVAL on a kernel that lacks
// a flag it was given.
const (
	// SetupIOPoll: busy-poll for completions of O_DIRECT I/O on devices
	// that support polling, instead of waiting for interrupts.
	SetupIOPoll = SetupFlags(ring.IORING_SETUP_IOPOLL)
	// SetupSQPoll: a kernel thread consumes the submission queue (see
	// WithSQPoll).
	SetupSQPoll = SetupFlags(ring.IORING_SETUP_SQPOLL)
	// SetupSQAff: pin the SQPOLL thread to a CPU (see WithSQPollCPU).
	SetupSQAff = SetupFlags(ring.IORING_SETUP_SQ_AFF)
	// SetupClamp: sizes beyond the kernel's limits (32768 submission
	// entries, 65536 completion entries) are clamped to them rather than
	// refused.
	SetupClamp = SetupFlags(ring.IORING_SETUP_CLAMP)
	// SetupRDisabled: the ring starts disabled; nothing submitted runs
	// until Enable. Restrictions may be registered in between.
	SetupRDisabled = SetupFlags(ring.IORING_SETUP_R_DISABLED)
	// SetupSubmitAll: keep submitting a batch after an entry fails.
	SetupSubmitAll = SetupFlags(ring.IORING_SETUP_SUBMIT_ALL)
	// SetupCoopTaskrun: completions posted as task work wait until the
	// submitting thread enters the kernel, instead of interrupting it.
	SetupCoopTaskrun = SetupFlags(ring.IORING_SETUP_COOP_TASKRUN)
	// SetupTaskrunFlag: with SetupCoopTaskrun, flag pending task work in
	// the SQ ring, so that Peek knows to enter the kernel for it.
	SetupTaskrunFlag = SetupFlags(ring.IORING_SETUP_TASKRUN_FLAG)
	// SetupSQE128: 128-byte submission entries, for uring_cmd
	// passthrough (NVMe). Other operations work unchanged. Linux 5.19.
	SetupSQE128 = SetupFlags(ring.IORING_SETUP_SQE128)
	// SetupCQE32: 32-byte completion entries, whose second half carries
	// uring_cmd's extra results. Other operations work unchanged.
	// Linux 5.19.
	SetupCQE32 = SetupFlags(ring.IORING_SETUP_CQE32)
	// SetupSingleIssuer: only one thread submits. The kernel enforces
	// it: see "Concurrency" in the package documentation. Linux 6.0.
	SetupSingleIssuer = SetupFlags(ring.IORING_SETUP_SINGLE_ISSUER)
	// SetupDeferTaskrun: completions wait as task work until the
	// submitter waits for them (Wait, SubmitAndWait, Peek); needs
	// SetupSingleIssuer. Linux 6.1.
	SetupDeferTaskrun = SetupFlags(ring.IORING_SETUP_DEFER_TASKRUN)
	// SetupNoSQArray: the kernel takes submission entries in ring
	// order, without the SQ index array (which this package never
	// permutes anyway). Linux 6.6.
	SetupNoSQArray = SetupFlags(ring.IORING_SETUP_NO_SQARRAY)
	// SetupHybridIOPoll: with SetupIOPoll, sleep for part of the
	// expected device latency before polling, trading a little latency
	// for CPU. Linux 6.13.
	SetupHybridIOPoll = SetupFlags(ring.IORING_SETUP_HYBRID_IOPOLL)
)

// Option configures New.
type Option func(*config)

type config struct {
	flags     SetupFlags
	sqIdle    time.Duration
	sqCPU     int
	cqEntries int
}

// WithFlags adds io_uring setup flags.
func WithFlags(f SetupFlags) Option { return func(c *config) { c.flags |= f } }

// WithSQPoll starts a kernel thread that polls the submission queue, so
// that Submit usually needs no system call; the thread sleeps after idle
// without work. It needs CAP_SYS_NICE on kernels before 5.11.
func WithSQPoll(idle time.Duration) Option {
	return func(c *config) { c.flags |= SetupSQPoll; c.sqIdle = idle }
}

// WithSQPollCPU pins the SQPOLL thread to cpu.
func WithSQPollCPU(cpu int) Option {
	return func(c *config) { c.flags |= SetupSQAff; c.sqCPU = cpu }
}

// WithCQSize asks for a completion queue of n entries instead of twice the
// submission queue. The kernel rounds it up to a power of two.
func WithCQSize(n int) Option { return func(c *config) { c.cqEntries = n } }

// maxEntries and maxCQEntries are the kernel's IORING_MAX_ENTRIES and
// IORING_MAX_CQ_ENTRIES.
const (
	maxEntries   = 32768
	maxCQEntries = 2 * maxEntries
)

// unmapped are the setup flags under which the application provides the
// rings' memory (Linux 6.5); New maps the kernel's.
const unmapped = SetupFlags(ring.IORING_SETUP_NO_MMAP | ring.IORING_SETUP_REGISTERED_FD_ONLY)

// New creates a ring with room for queueDepth submission queue entries.
// The kernel rounds the depth up to a power of two; QueueDepth reports what
// it gave. Operations in flight are not limited by the queue depth.
func New[T any](queueDepth int, opts ...Option) (*Ring[T], error) {
	if queueDepth <= 0 {
		return nil, fmt.Errorf("uring: queue depth %d: must be at least 1", queueDepth)
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.flags&unmapped != 0 {
		return nil, fmt.Errorf("uring: setup flags %#x (IORING_SETUP_NO_MMAP, IORING_SETUP_REGISTERED_FD_ONLY) are not supported: this package maps the rings itself", uint32(c.flags&unmapped))
	}
	// With SetupClamp the kernel clamps sizes beyond its limits instead
	// of refusing them (io_uring_create), so New must not refuse them
	// first.
	clamp := c.flags&SetupClamp != 0
	entries := queueDepth
	if entries > maxEntries {
		if !clamp {
			return nil, fmt.Errorf("uring: queue depth %d: the kernel allows at most %d (SetupClamp makes it clamp instead)", queueDepth, maxEntries)
		}
		entries = maxEntries
	}
	p := ring.Params{Flags: uint32(c.flags)}
	if c.flags&SetupSQPoll != 0 {
		p.SQThreadIdle = uint32(c.sqIdle / time.Millisecond)
	}
	if c.flags&SetupSQAff != 0 {
		p.SQThreadCPU = uint32(c.sqCPU)
	}
	if c.cqEntries != 0 {
		cq := c.cqEntries
		if cq > maxCQEntries && clamp {
			cq = maxCQEntries
		}
		if cq < entries || cq > maxCQEntries {
			return nil, fmt.Errorf("uring: CQ size %d: must be between the queue depth (%d) and %d (SetupClamp makes the kernel clamp a larger size)", c.cqEntries, entries, maxCQEntries)
		}
		p.Flags |= ring.IORING_SETUP_CQSIZE
		p.CQEntries = uint32(cq)
	}
	rr, err := ring.New(uint32(entries), &p)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return nil, newSetupError("io_uring_setup", errno)
		}
		return nil, err
	}
	r := &Ring[T]{
		r:            *rr,
		sqpoll:       p.Flags&ring.IORING_SETUP_SQPOLL != 0,
		extArg:       p.Features&ring.IORING_FEAT_EXT_ARG != 0,
		taskrunCheck: p.Flags&(ring.IORING_SETUP_COOP_TASKRUN|ring.IORING_SETUP_DEFER_TASKRUN|ring.IORING_SETUP_TASKRUN_FLAG) != 0,
	}
	if err := r.loadProbe(); err != nil {
		rr.Close()
		return nil, err
	}
	liveRings.Store(r, struct{}{})
	return r, nil
}

// liveRings holds every ring from New until Close. The kernel may write
// into memory an operation handed it for as long as the ring is open, so a
// ring dropped without Close must not be collected with that memory: it
// and everything its slots keep alive stay reachable, leaked rather than
// freed under the kernel. (Close refuses while operations are active.)
var liveRings sync.Map

// Enable starts a ring created with SetupRDisabled
// (IORING_REGISTER_ENABLE_RINGS). Until then the kernel refuses to submit:
// Submit and Wait fail with an error matching syscall.EBADFD. Enabling a
// ring that is already enabled fails with EBADFD too.
func (r *Ring[T]) Enable() error {
	if r.closed {
		return ErrClosed
	}
	if _, err := ring.Register(r.r.Fd, ring.IORING_REGISTER_ENABLE_RINGS, nil, 0); err != nil {
		return fmt.Errorf("uring: enabling ring: %w", err)
	}
	return nil
}

// QueueDepth returns the number of submission queue entries the kernel
// allocated.
func (r *Ring[T]) QueueDepth() int {
	return int(r.r.SQEntries())
}

// CQSize returns the number of completion queue entries.
func (r *Ring[T]) CQSize() int {
	return int(r.r.CQEntries())
}

// Features returns the IORING_FEAT_* bits the kernel reported at setup.
func (r *Ring[T]) Features() uint32 { return r.r.Params.Features }

// Fd returns the ring's file descriptor, for io_uring_register calls this
// package does not wrap. It is valid until Close.
func (r *Ring[T]) Fd() int { return r.r.Fd }
