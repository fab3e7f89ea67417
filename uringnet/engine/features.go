package engine

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/uring"
)

// feature is an io_uring facility the event loops use where the kernel
// has it and replace with an older way where it does not. This is the one
// place that says which kernel added what; the fallbacks are in
// fallback.go.
type feature uint8

const (
	// featMultishotAccept: one accept posts every connection
	// (IORING_ACCEPT_MULTISHOT, Linux 5.19). Without it, a single accept
	// is armed again after each completion.
	featMultishotAccept feature = 1 << iota
	// featBufRing: a provided-buffer ring (IORING_REGISTER_PBUF_RING,
	// Linux 5.19), which receives take a buffer from only when data has
	// arrived. Without it, a connection waits for POLLIN and the loop
	// then receives into a buffer of its own.
	featBufRing
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

	allFeatures = featMultishotAccept | featBufRing | featMultishotRecv | featDeferTaskrun | featMultishotPoll
)

var featureNames = []struct {
	f    feature
	name string
}{
	{featMultishotAccept, "multishot-accept"},
	{featBufRing, "buffer-ring"},
	{featMultishotRecv, "multishot-recv"},
	{featDeferTaskrun, "defer-taskrun"},
	{featMultishotPoll, "multishot-poll"},
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
// kernel has featDeferTaskrun; detection tries exactly these.
const ringFlags = uring.SetupSingleIssuer | uring.SetupDeferTaskrun | uring.SetupSubmitAll

// featureCache holds the conclusive answers of detectFeatures for the
// life of the process: known says which features have been settled,
// have which of those the kernel has. An inconclusive test (a buffer ring
// that could not be registered for want of memory, say) is asked again at
// the next Start.
var featureCache struct {
	mu          sync.Mutex
	known, have feature
}

// detectFeatures reports which features the running kernel has: from the
// kernel version where an operation's flag is all that is new (an older
// kernel ignores or rejects the flag only when the operation runs), from
// a ring created with the flags where setup rejects what it lacks, and by
// registering a buffer ring, the only conclusive test for that. An error
// means io_uring itself could not be set up.
func detectFeatures() (features, error) {
	c := &featureCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known == allFeatures {
		return features(c.have), nil
	}
	settle := func(f feature, ok bool) {
		c.known |= f
		if ok {
			c.have |= f
		}
	}
	// SINGLE_ISSUER binds the ring to the thread that created it (with
	// DEFER_TASKRUN, at once), and New registers the probe right after
	// setup: the goroutine must not move in between.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := uring.New[struct{}](2, uring.WithFlags(ringFlags))
	switch {
	case err == nil:
		settle(featDeferTaskrun, true)
	case errors.Is(err, syscall.EINVAL):
		settle(featDeferTaskrun, false)
		r, err = uring.New[struct{}](2)
	}
	if err != nil {
		return 0, fmt.Errorf("uringnet/engine: creating an io_uring to probe the kernel: %w", err)
	}
	defer r.Close()
	settle(featMultishotAccept, r.OpSupported(uring.OpAccept) && kernelAtLeast(5, 19))
	settle(featMultishotRecv, r.OpSupported(uring.OpRecv) && kernelAtLeast(6, 0))
	settle(featMultishotPoll, r.OpSupported(uring.OpPollAdd) && kernelAtLeast(5, 13))
	have := c.have
	if c.known&featBufRing == 0 {
		br, err := r.NewBufRing(0, 1, 64)
		switch {
		case err == nil:
			br.Close()
			settle(featBufRing, true)
			have |= featBufRing
		case errors.Is(err, syscall.EINVAL):
			// Kernels before 5.19 do not know the register opcode.
			settle(featBufRing, false)
		}
		// Otherwise (ENOMEM under a low RLIMIT_MEMLOCK, say) this
		// Start uses plain buffers and the next one asks again.
	}
	return features(have), nil
}

// kernelAtLeast reports whether the running kernel's version, from
// uname(2), is at least major.minor.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	maj, min := parseRelease(unix.ByteSliceToString(u.Release[:]))
	return maj > major || maj == major && min >= minor
}

// parseRelease reads the major and minor version from a kernel release
// string such as "6.1.0-18-amd64".
func parseRelease(rel string) (major, minor int) {
	i := 0
	for ; i < len(rel) && rel[i] >= '0' && rel[i] <= '9'; i++ {
		major = major*10 + int(rel[i]-'0')
	}
	if i < len(rel) && rel[i] == '.' {
		for i++; i < len(rel) && rel[i] >= '0' && rel[i] <= '9'; i++ {
			minor = minor*10 + int(rel[i]-'0')
		}
	}
	return major, minor
}
