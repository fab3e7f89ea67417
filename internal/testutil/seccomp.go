package testutil

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompData offsets: struct seccomp_data starts with int nr, then
// __u32 arch (include/uapi/linux/seccomp.h).
const (
	seccompDataNr   = 0
	seccompDataArch = 4
)

// auditArch is the AUDIT_ARCH_* value seccomp reports for the system
// calls of this process. Only architectures on which DenySyscall has been
// run are listed; elsewhere it reports errors.ErrUnsupported.
var auditArch = map[string]uint32{
	"amd64": unix.AUDIT_ARCH_X86_64,
}

// SeccompSupported reports whether DenySyscall can work on this
// architecture.
func SeccompSupported() bool {
	_, ok := auditArch[runtime.GOARCH]
	return ok
}

// DenySyscall installs a seccomp filter on every thread of the process
// that makes system call nr fail with errno, the way a container runtime's
// profile blocks a call, and lets every other call through. A filter
// cannot be removed, so call it only in a process that exists for the
// test: a child that re-executes the test binary.
//
// It locks the calling goroutine to its thread for good; the filter is
// synchronised to all other threads (SECCOMP_FILTER_FLAG_TSYNC) and
// inherited by threads created later, so it holds wherever the Go runtime
// runs code afterwards.
func DenySyscall(nr uint32, errno syscall.Errno) error {
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("seccomp filter for %s: %w", runtime.GOARCH, errors.ErrUnsupported)
	}
	// Classic BPF over struct seccomp_data. A call from another ABI (a
	// different arch value) is allowed: its numbers mean other calls.
	filter := []unix.SockFilter{
		/* 0 */ {Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: seccompDataArch},
		/* 1 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: arch, Jt: 0, Jf: 2}, // other arch: 4
		/* 2 */ {Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: seccompDataNr},
		/* 3 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: nr, Jt: 1, Jf: 0}, // nr: 5
		/* 4 */ {Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
		/* 5 */ {Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(errno)&unix.SECCOMP_RET_DATA},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}

	runtime.LockOSThread()
	// Without no_new_privs an unprivileged process may not install a
	// filter; with TSYNC the kernel sets it on the other threads too.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if e != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", e)
	}
	if r != 0 {
		// With TSYNC a positive return is the id of a thread that could
		// not be synchronised; the filter was installed on none.
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): thread %d could not be synchronised", r)
	}
	return nil
}
