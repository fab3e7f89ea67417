package uring

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/kernel/version"
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

// SetupError explains why io_uring cannot be used in this process, and
// what to do: io_uring_setup refused to create a ring, or io_uring_register
// or io_uring_enter, which every ring needs, was refused on a ring that
// exists (a seccomp profile that denies only some of the three calls, or
// one installed after the rings were set up). It wraps the errno, so
// errors.Is(err, syscall.EPERM) and the like work.
type SetupError struct {
	Errno syscall.Errno // what the system call returned

	// Syscall is the system call that failed: "io_uring_setup" (the
	// default when empty), "io_uring_register" or "io_uring_enter".
	Syscall string

	// Disabled is the kernel.io_uring_disabled sysctl ("0", "1" or
	// "2") as read when an EPERM was returned, or empty if it could not
	// be read (kernels before 6.6 do not have it).
	Disabled string
	// Kernel is the running kernel's release, for an ENOSYS.
	Kernel string
}

// newSetupError records errno from syscall with what is needed to tell
// its causes apart, read now: the sysctl may change later.
func newSetupError(syscall string, errno syscall.Errno) *SetupError {
	e := &SetupError{Errno: errno, Syscall: syscall}
	switch errno {
	case unix.EPERM:
		e.Disabled = readIOUringDisabled()
	case unix.ENOSYS:
		e.Kernel = version.Release()
	}
	return e
}

// ioUringDisabledPath is the sysctl that disables io_uring (Linux 6.6).
const ioUringDisabledPath = "/proc/sys/kernel/io_uring_disabled"

func readIOUringDisabled() string {
	b, err := os.ReadFile(ioUringDisabledPath)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// seccompAdvice is what a container user must change.
const seccompAdvice = "(containers: allow io_uring_setup, io_uring_enter and io_uring_register in the seccomp profile, e.g. docker run --security-opt seccomp=PROFILE)"

// Error gives the likely cause of Errno and its remedy: the sysctl,
// seccomp profile, memlock limit or kernel version to change.
func (e *SetupError) Error() string {
	call := e.Syscall
	if call == "" {
		call = "io_uring_setup"
	}
	var why string
	switch e.Errno {
	case syscall.ENOSYS:
		if call == "io_uring_setup" && !version.ReleaseAtLeast(e.Kernel, 5, 1) {
			why = "this kernel has no io_uring (Linux 5.19 or later is required; 6.1 or later is recommended)"
			if e.Kernel != "" {
				why = "this kernel (" + e.Kernel + ") has no io_uring (Linux 5.19 or later is required; 6.1 or later is recommended)"
			}
			break
		}
		k := "this kernel"
		if e.Kernel != "" {
			k = "Linux " + e.Kernel
		}
		why = call + " returned ENOSYS although " + k + " has io_uring: a seccomp profile blocks it " + seccompAdvice + ", or the kernel was built without CONFIG_IO_URING"
	case syscall.EPERM:
		if call != "io_uring_setup" {
			why = call + " is not permitted: a seccomp profile blocks it " + seccompAdvice
			break
		}
		switch e.Disabled {
		case "2":
			why = "io_uring is disabled by the kernel.io_uring_disabled sysctl (set it to 0; it is 2)"
		case "1":
			why = "io_uring is restricted by the kernel.io_uring_disabled sysctl, which is 1: only CAP_SYS_ADMIN and members of the group in kernel.io_uring_group may use it (add the user to that group, or set the sysctl to 0)"
		case "0":
			why = "io_uring is not permitted: the kernel.io_uring_disabled sysctl is 0, so a seccomp profile blocks io_uring_setup " + seccompAdvice
		default:
			why = "io_uring is not permitted: it is disabled by the kernel.io_uring_disabled sysctl (set it to 0), or blocked by a seccomp profile " + seccompAdvice
		}
	case syscall.EACCES:
		why = call + " is denied by a security policy: a seccomp profile " + seccompAdvice + ", or an SELinux or AppArmor policy that denies io_uring"
	case syscall.ENOMEM:
		why = "the kernel could not allocate the ring: RLIMIT_MEMLOCK may be too low (raise it with ulimit -l or LimitMEMLOCK=), or use a smaller queue depth"
	case syscall.EINVAL:
		if call != "io_uring_setup" {
			why = "the kernel rejected the " + call + " call's arguments (a flag or feature this kernel lacks)"
			break
		}
		why = "the kernel rejected the setup parameters (a setup flag this kernel lacks, or a flag combination it refuses, such as DEFER_TASKRUN without SINGLE_ISSUER)"
	case syscall.EMFILE:
		why = "the process is out of file descriptors (RLIMIT_NOFILE, ulimit -n): close some or raise the limit, then try again"
	case syscall.ENFILE:
		why = "the system is out of file descriptors (fs.file-max): close some, then try again"
	case syscall.EBADF, syscall.EOPNOTSUPP:
		why = call + " was given a file descriptor that is not an open io_uring: the ring's fd was closed or replaced behind the Ring's back (it must stay open until Close)"
	case syscall.EOWNERDEAD:
		why = "the ring's SQPOLL kernel thread has exited: close the ring and set up a new one"
	case syscall.EEXIST:
		why = "a SetupSingleIssuer ring was entered from a thread other than its submitter (lock the goroutine to its thread, see the package documentation)"
	case syscall.ENXIO:
		why = "the ring is being torn down: it can no longer be used"
	default:
		why = call + " failed"
	}
	return fmt.Sprintf("uring: %s: %v", why, e.Errno)
}

// Unwrap returns Errno, for errors.Is.
func (e *SetupError) Unwrap() error { return e.Errno }

// Transient reports whether the error may go away by itself: the
// process or system ran out of file descriptors or memory, or the kernel
// asked to try again. Nothing should remember such an error.
func (e *SetupError) Transient() bool {
	switch e.Errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.EAGAIN:
		return true
	}
	return false
}

// EnterError returns the error for an io_uring_enter call on a working
// ring that failed with errno, for callers that enter the kernel
// themselves (package internal/reactor).
func EnterError(errno syscall.Errno) *SetupError {
	return newSetupError("io_uring_enter", errno)
}

// memlockError wraps an ENOMEM from registering memory with the advice
// that usually fixes it.
func memlockError(what string, n int, errno error) error {
	return fmt.Errorf("uring: %s (%d bytes): %w (RLIMIT_MEMLOCK may be too low: raise it with ulimit -l, or register less memory)", what, n, errno)
}
