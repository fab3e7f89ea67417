// Package kernel is the one place that says which kernel added which
// io_uring facility the adapters use, and the one mechanism that asks:
// each facility is a named Test that probes the running kernel at most
// until it gets a conclusive answer, which is then kept for the life of
// the process. A probe that cannot tell (no fd or memory left to create
// a ring: EMFILE, ENOMEM) is not kept, and the next caller asks again.
//
// Operations themselves are the ring's probe (uring.Ring.OpSupported);
// a Test covers what the probe cannot show: a flag added to an existing
// operation, a setup flag, a register opcode.
package kernel

import (
	"errors"
	"runtime"
	"sync"
	"syscall"

	"github.com/uring-go/uring/internal/kernel/version"
	"github.com/uring-go/uring/uring"
)

// A Test tells whether the running kernel has one facility.
type Test struct {
	Name  string // the facility, with the kernel's name for it
	Since string // the Linux version that added it
	probe func() (bool, error)

	mu    sync.Mutex
	known bool // the probe answered conclusively
	have  bool
}

// Have reports whether the kernel has t's facility. An error means the
// probe could not tell this time; the answer is then false, and the
// next call probes again.
func (t *Test) Have() (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.known {
		return t.have, nil
	}
	have, err := t.probe()
	if err != nil {
		return false, err
	}
	t.known, t.have = true, have
	return have, nil
}

// Available is Have without the reason for a "no".
func (t *Test) Available() bool {
	have, _ := t.Have()
	return have
}

// The facilities, each with the version that added it.
var (
	// MultishotPoll: a poll that stays armed (IORING_POLL_ADD_MULTI).
	MultishotPoll = &Test{Name: "multishot poll (IORING_POLL_ADD_MULTI)", Since: "5.13",
		probe: func() (bool, error) { return opSince(uring.OpPollAdd, 5, 13) }}
	// MultishotRecv: a receive (and recvmsg) that stays armed, taking a
	// provided buffer per chunk (IORING_RECV_MULTISHOT).
	MultishotRecv = &Test{Name: "multishot receive (IORING_RECV_MULTISHOT)", Since: "6.0",
		probe: func() (bool, error) { return opSince(uring.OpRecv, 6, 0) }}
	// BufRing: a ring of provided buffers (IORING_REGISTER_PBUF_RING),
	// registered for real: the only conclusive test, since
	// RLIMIT_MEMLOCK can refuse it where the kernel has it.
	BufRing = &Test{Name: "provided-buffer ring (IORING_REGISTER_PBUF_RING)", Since: "5.19", probe: probeBufRing}
	// DeferTaskrun: a ring created with DeferTaskrunFlags, whose
	// completions' task work runs only when its one thread waits
	// (IORING_SETUP_SINGLE_ISSUER in 6.0, IORING_SETUP_DEFER_TASKRUN
	// in 6.1).
	DeferTaskrun = &Test{Name: "deferred task work (IORING_SETUP_DEFER_TASKRUN)", Since: "6.1", probe: probeDeferTaskrun}
	// SolMPTCP: the SOL_MPTCP socket options, MPTCP_INFO among them.
	// net trusts the socket's protocol alone before it, and so do we.
	SolMPTCP = &Test{Name: "MPTCP socket options (SOL_MPTCP)", Since: "5.16",
		probe: func() (bool, error) { return version.AtLeast(5, 16), nil }}
)

// All is every Test, for listing and testing.
var All = []*Test{MultishotPoll, MultishotRecv, BufRing, DeferTaskrun, SolMPTCP}

// DeferTaskrunFlags are the setup flags DeferTaskrun tries, and so the
// ones a ring may be created with when it is available.
const DeferTaskrunFlags = uring.SetupSingleIssuer | uring.SetupDeferTaskrun | uring.SetupSubmitAll

// opSince reports whether the kernel has op and is at least major.minor,
// which added a flag of op's that older kernels ignore.
func opSince(op uring.Op, major, minor int) (bool, error) {
	p, err := Ops()
	if err != nil {
		return false, err
	}
	return p.Supported(op) && version.AtLeast(major, minor), nil
}

// ops caches the kernel's operation probe, once a ring could be created
// to ask.
var ops struct {
	mu sync.Mutex
	p  *uring.Probe
}

// Ops returns the operations the kernel supports, from a ring created
// for the purpose the first time a ring can be created. The error is
// why none could: io_uring unavailable (a *uring.SetupError), or short
// of fds or memory, which a later call may not be.
func Ops() (*uring.Probe, error) {
	ops.mu.Lock()
	defer ops.mu.Unlock()
	if ops.p != nil {
		return ops.p, nil
	}
	r, err := uring.New[struct{}](1)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p, err := r.Probe()
	if err != nil {
		return nil, err
	}
	ops.p = p
	return p, nil
}

func probeBufRing() (bool, error) {
	r, err := uring.New[struct{}](1)
	if err != nil {
		return false, err
	}
	defer r.Close()
	br, err := r.NewBufRing(0, 1, 64)
	switch {
	case err == nil:
		br.Close()
		return true, nil
	case errors.Is(err, syscall.EINVAL):
		// Kernels before 5.19 do not know the register opcode.
		return false, nil
	}
	// ENOMEM under a low RLIMIT_MEMLOCK, say: not an answer.
	return false, err
}

func probeDeferTaskrun() (bool, error) {
	// SINGLE_ISSUER binds the ring to the thread that created it (with
	// DEFER_TASKRUN, at once), and New registers the probe right after
	// setup: the goroutine must not move in between.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := uring.New[struct{}](1, uring.WithFlags(DeferTaskrunFlags))
	switch {
	case err == nil:
		r.Close()
		return true, nil
	case errors.Is(err, syscall.EINVAL):
		// Setup rejects flags it does not know.
		return false, nil
	}
	return false, err
}
