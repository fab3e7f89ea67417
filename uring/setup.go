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
	SetupIOPoll       = SetupFlags(ring.IORING_SETUP_IOPOLL)
	SetupSQPoll       = SetupFlags(ring.IORING_SETUP_SQPOLL)
	SetupSQAff        = SetupFlags(ring.IORING_SETUP_SQ_AFF)
	SetupClamp        = SetupFlags(ring.IORING_SETUP_CLAMP)
	SetupSubmitAll    = SetupFlags(ring.IORING_SETUP_SUBMIT_ALL)
	SetupCoopTaskrun  = SetupFlags(ring.IORING_SETUP_COOP_TASKRUN)
	SetupTaskrunFlag  = SetupFlags(ring.IORING_SETUP_TASKRUN_FLAG)
	SetupSingleIssuer = SetupFlags(ring.IORING_SETUP_SINGLE_ISSUER) // 6.0
	SetupDeferTaskrun = SetupFlags(ring.IORING_SETUP_DEFER_TASKRUN) // 6.1
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

// maxEntries is the kernel's IORING_MAX_ENTRIES.
const maxEntries = 32768

// New creates a ring with room for queueDepth submission queue entries.
// The kernel rounds the depth up to a power of two; QueueDepth reports what
// it gave. Operations in flight are not limited by the queue depth.
func New[T any](queueDepth int, opts ...Option) (*Ring[T], error) {
	if queueDepth <= 0 {
		return nil, fmt.Errorf("uring: queue depth %d: must be at least 1", queueDepth)
	}
	if queueDepth > maxEntries {
		return nil, fmt.Errorf("uring: queue depth %d: the kernel allows at most %d", queueDepth, maxEntries)
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	p := ring.Params{Flags: uint32(c.flags)}
	if c.flags&SetupSQPoll != 0 {
		p.SQThreadIdle = uint32(c.sqIdle / time.Millisecond)
	}
	if c.flags&SetupSQAff != 0 {
		p.SQThreadCPU = uint32(c.sqCPU)
	}
	if c.cqEntries != 0 {
		if c.cqEntries < queueDepth || c.cqEntries > 2*maxEntries {
			return nil, fmt.Errorf("uring: CQ size %d: must be between the queue depth (%d) and %d", c.cqEntries, queueDepth, 2*maxEntries)
		}
		p.Flags |= ring.IORING_SETUP_CQSIZE
		p.CQEntries = uint32(c.cqEntries)
	}
	rr, err := ring.New(uint32(queueDepth), &p)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return nil, newSetupError("io_uring_setup", errno)
		}
		return nil, err
	}
	r := &Ring[T]{
		r:            rr,
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
