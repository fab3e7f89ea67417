package uring

import (
	"errors"
	"fmt"
	"syscall"
)

var (
	// ErrQueueFull is returned by an operation when the submission queue
	// has no free entry. Submit (or Wait) and try again.
	ErrQueueFull = errors.New("uring: submission queue full; call Submit and retry")

	// ErrClosed is returned by every method of a Ring after Close.
	ErrClosed = errors.New("uring: ring closed")

	// ErrJobDone is returned when a Job passed to Cancel or SetSQEFlags has
	// already had its completion collected (or was never valid).
	ErrJobDone = errors.New("uring: job already completed and collected")

	// ErrJobSubmitted is returned by SetSQEFlags and LinkTimeout when the
	// operation they would modify has already been submitted.
	ErrJobSubmitted = errors.New("uring: job already submitted; set flags before Submit")

	// ErrNoActiveOps is returned by Wait when nothing is in flight, so the
	// wait could never end.
	ErrNoActiveOps = errors.New("uring: Wait with no active operations would block forever")
)

// UnsupportedOpError reports an operation the running kernel does not
// have. It matches errors.ErrUnsupported.
type UnsupportedOpError struct {
	Op Op // the operation the kernel lacks
}

// Error names the operation and the Linux version that added it, which is
// the kernel the program needs.
func (e *UnsupportedOpError) Error() string {
	return fmt.Sprintf("uring: operation %s is not supported by this kernel (added in Linux %s)", e.Op, e.Op.Since())
}

// Is reports whether target is errors.ErrUnsupported.
func (e *UnsupportedOpError) Is(target error) bool { return target == errors.ErrUnsupported }

// ActiveOpsError is returned by Close when operations are still active.
type ActiveOpsError struct {
	Active int // operations submitted whose completions were not collected
}

// Error says how many operations are active and that their completions
// must be collected before Close.
func (e *ActiveOpsError) Error() string {
	req := "requests"
	if e.Active == 1 {
		req = "request"
	}
	return fmt.Sprintf("uring: cannot close ring with %d active %s; collect their completions (Wait/Peek) first", e.Active, req)
}

// SetupError explains why io_uring could not be set up, and what to do.
// It wraps the errno from io_uring_setup, so errors.Is(err,
// syscall.EPERM) and the like work.
type SetupError struct {
	Errno syscall.Errno // what io_uring_setup returned
}

// Error gives the likely cause of Errno and its remedy: the sysctl,
// seccomp profile, memlock limit or kernel version to change.
func (e *SetupError) Error() string {
	var why string
	switch e.Errno {
	case syscall.ENOSYS:
		why = "this kernel has no io_uring (Linux 5.19 or later is required; 6.1 or later is recommended)"
	case syscall.EPERM:
		why = "io_uring is not permitted: it is disabled by the kernel.io_uring_disabled sysctl (set it to 0), or blocked by a seccomp profile (containers: allow io_uring_setup, io_uring_enter and io_uring_register)"
	case syscall.ENOMEM:
		why = "the kernel could not allocate the ring: RLIMIT_MEMLOCK may be too low (raise it with ulimit -l or LimitMEMLOCK=), or use a smaller queue depth"
	case syscall.EINVAL:
		why = "the kernel rejected the setup parameters (a setup flag this kernel lacks, or a flag combination it refuses, such as DEFER_TASKRUN without SINGLE_ISSUER)"
	case syscall.EMFILE, syscall.ENFILE:
		why = "out of file descriptors"
	default:
		why = "io_uring_setup failed"
	}
	return fmt.Sprintf("uring: %s: %v", why, e.Errno)
}

// Unwrap returns Errno, for errors.Is.
func (e *SetupError) Unwrap() error { return e.Errno }

// memlockError wraps an ENOMEM from registering memory with the advice
// that usually fixes it.
func memlockError(what string, n int, errno error) error {
	return fmt.Errorf("uring: %s (%d bytes): %w (RLIMIT_MEMLOCK may be too low: raise it with ulimit -l, or register less memory)", what, n, errno)
}
