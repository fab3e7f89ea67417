package engine

import (
	"fmt"
	"strings"

	"github.com/uring-go/uring/internal/kernel"
)

// feature is an io_uring facility the event loops use where the kernel
// has it and replace with an older way where it does not. Package kernel
// says which kernel added what and asks it; the fallbacks are in
// fallback.go.
type feature uint8

const (
	// featBufRing: a provided-buffer ring (IORING_REGISTER_PBUF_RING,
	// Linux 5.19), which receives take a buffer from only when data has
	// arrived. Without it, a connection waits for POLLIN and the loop
	// then receives into a buffer of its own.
	featBufRing feature = 1 << iota
	// featMultishotRecv: a receive that stays armed, taking a buffer from
	// the ring for each chunk (IORING_RECV_MULTISHOT, Linux 6.0). Without
	// it, a single receive with a buffer selected from the ring is armed
	// again after each completion. Only meaningful with featBufRing.
	featMultishotRecv
	// featDeferTaskrun: IORING_SETUP_SINGLE_ISSUER (Linux 6.0) with
	// IORING_SETUP_DEFER_TASKRUN (Linux 6.1), so completions' task work
	// runs only when the loop waits. Without them, a plain ring.
	featDeferTaskrun
	// featMultishotPoll: a poll that stays armed (IORING_POLL_ADD_MULTI,
	// Linux 5.13), used by the plain-buffer path. Without it, a single
	// poll is armed again each time the socket has been read dry.
	featMultishotPoll

	allFeatures = featBufRing | featMultishotRecv | featDeferTaskrun | featMultishotPoll
)

// featureNames names each feature and the kernel test that says whether
// the running kernel has it.
var featureNames = []struct {
	f    feature
	name string
	test *kernel.Test
}{
	{featBufRing, "buffer-ring", kernel.BufRing},
	{featMultishotRecv, "multishot-recv", kernel.MultishotRecv},
	{featDeferTaskrun, "defer-taskrun", kernel.DeferTaskrun},
	{featMultishotPoll, "multishot-poll", kernel.MultishotPoll},
}

// features is a set of features.
type features feature

func (fs features) has(f feature) bool { return feature(fs)&f == f }

// String lists the features, and the fallbacks in use for the others.
func (fs features) String() string {
	var have, lack []string
	for _, n := range featureNames {
		if fs.has(n.f) {
			have = append(have, n.name)
		} else {
			lack = append(lack, n.name)
		}
	}
	s := strings.Join(have, ",")
	if len(lack) > 0 {
		s += " (without " + strings.Join(lack, ",") + ")"
	}
	return s
}

// ringFlags are the setup flags a loop's ring is created with when the
// kernel has featDeferTaskrun: the ones its test tries.
const ringFlags = kernel.DeferTaskrunFlags

// detectFeatures reports which features the running kernel has, through
// package kernel's tests, which keep their conclusive answers for the
// life of the process. A test that could not tell (a buffer ring that
// could not be registered for want of memory, say) counts as absent for
// this Start and is asked again at the next. An error means io_uring
// itself could not be set up.
func detectFeatures() (features, error) {
	if _, err := kernel.Ops(); err != nil {
		return 0, fmt.Errorf("uringnet/engine: creating an io_uring to probe the kernel: %w", err)
	}
	var fs features
	for _, n := range featureNames {
		if n.test.Available() {
			fs |= features(n.f)
		}
	}
	return fs, nil
}
