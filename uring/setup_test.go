package uring

import (
	"errors"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSetupRejectedFlags gives the kernel setup parameters it rejects and
// checks that New returns a *SetupError wrapping EINVAL that says the
// parameters were the problem.
func TestSetupRejectedFlags(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
	}{
		// No kernel defines the top bit; an unknown flag is refused
		// rather than ignored.
		{"unknown flag", []Option{WithFlags(1 << 31)}},
		// CPU affinity is for the SQPOLL thread only.
		{"SQ_AFF without SQPOLL", []Option{WithFlags(SetupSQAff)}},
		// Deferred task work runs on the one submitting task.
		{"DEFER_TASKRUN without SINGLE_ISSUER", []Option{WithFlags(SetupDeferTaskrun)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := New[int](8, tt.opts...)
			if err == nil {
				r.Close()
				t.Fatal("New succeeded")
			}
			checkSetupError(t, reportErr(err), syscall.EINVAL, `rejected the setup parameters`, `setup flag this kernel lacks`)
		})
	}
}

// TestSetupErrorMessages checks that each errno io_uring_setup is known to
// return gets a message naming its cause and fix, and that the errno stays
// reachable with errors.Is and errors.As. The errnos that can be forced for
// real are also tested end to end in unavailable_test.go.
func TestSetupErrorMessages(t *testing.T) {
	tests := []struct {
		errno syscall.Errno
		want  []string
	}{
		{syscall.ENOSYS, []string{`kernel has no io_uring`, `Linux \d+\.\d+ or later is required`}},
		{syscall.EPERM, []string{`kernel\.io_uring_disabled sysctl \(set it to 0\)`, `seccomp`, `allow io_uring_setup, io_uring_enter and io_uring_register`}},
		{syscall.ENOMEM, []string{`RLIMIT_MEMLOCK`, `ulimit -l`, `LimitMEMLOCK=`, `smaller queue depth`}},
		{syscall.EINVAL, []string{`setup flag`, `SINGLE_ISSUER`}},
		{syscall.EMFILE, []string{`out of file descriptors`}},
		{syscall.ENFILE, []string{`out of file descriptors`}},
		{syscall.EFAULT, []string{`io_uring_setup failed`}},
	}
	for _, tt := range tests {
		t.Run(unix.ErrnoName(tt.errno), func(t *testing.T) {
			var err error = &SetupError{Errno: tt.errno}
			checkSetupError(t, reportErr(err), tt.errno, append(tt.want, `^uring: `, tt.errno.Error()+`$`)...)
			var errno syscall.Errno
			if !errors.As(err, &errno) || errno != tt.errno {
				t.Errorf("errors.As(err, *syscall.Errno) gives %v, want %v", errno, tt.errno)
			}
		})
	}
}
