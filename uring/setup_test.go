package uring

import (
	"errors"
	"regexp"
	"syscall"
	"testing"
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

// TestSetupErrorMessages checks that each errno io_uring_setup,
// io_uring_register and io_uring_enter are known to return gets a message
// naming its cause and fix, told apart by what the error recorded (the
// kernel.io_uring_disabled sysctl, the kernel release), and that the errno
// stays reachable with errors.Is and errors.As. The errnos that can be
// forced for real are also tested end to end in unavailable_test.go.
func TestSetupErrorMessages(t *testing.T) {
	tests := []struct {
		name  string
		err   *SetupError
		want  []string
		avoid []string
	}{
		{"ENOSYS", &SetupError{Errno: syscall.ENOSYS}, []string{`kernel has no io_uring`, `Linux \d+\.\d+ or later is required`}, nil},
		{"ENOSYS old kernel", &SetupError{Errno: syscall.ENOSYS, Kernel: "4.19.0"}, []string{`kernel \(4\.19\.0\) has no io_uring`, `Linux \d+\.\d+ or later is required`}, []string{`seccomp`}},
		// A kernel that has io_uring returns ENOSYS only when told to.
		{"ENOSYS new kernel", &SetupError{Errno: syscall.ENOSYS, Kernel: "6.8.0-generic"}, []string{`ENOSYS although Linux 6\.8\.0-generic has io_uring`, `seccomp`, `allow io_uring_setup, io_uring_enter and io_uring_register`, `CONFIG_IO_URING`}, []string{`no io_uring`}},
		{"EPERM", &SetupError{Errno: syscall.EPERM}, []string{`kernel\.io_uring_disabled sysctl \(set it to 0\)`, `seccomp`, `allow io_uring_setup, io_uring_enter and io_uring_register`}, nil},
		{"EPERM sysctl 0", &SetupError{Errno: syscall.EPERM, Disabled: "0"}, []string{`io_uring_disabled sysctl is 0`, `seccomp`, `allow io_uring_setup`}, []string{`set it to 0`}},
		{"EPERM sysctl 1", &SetupError{Errno: syscall.EPERM, Disabled: "1"}, []string{`io_uring_disabled sysctl, which is 1`, `io_uring_group`, `set the sysctl to 0`}, []string{`seccomp`}},
		{"EPERM sysctl 2", &SetupError{Errno: syscall.EPERM, Disabled: "2"}, []string{`kernel\.io_uring_disabled sysctl \(set it to 0`}, []string{`seccomp`}},
		{"EACCES", &SetupError{Errno: syscall.EACCES}, []string{`io_uring_setup is denied`, `seccomp`, `allow io_uring_setup`, `SELinux or AppArmor`}, nil},
		{"register EPERM", &SetupError{Errno: syscall.EPERM, Syscall: "io_uring_register", Disabled: "0"}, []string{`io_uring_register is not permitted`, `seccomp`, `allow io_uring_setup, io_uring_enter and io_uring_register`}, []string{`sysctl`}},
		{"enter ENOSYS", &SetupError{Errno: syscall.ENOSYS, Syscall: "io_uring_enter", Kernel: "6.1.0"}, []string{`io_uring_enter returned ENOSYS`, `seccomp`}, []string{`no io_uring`}},
		{"ENOMEM", &SetupError{Errno: syscall.ENOMEM}, []string{`RLIMIT_MEMLOCK`, `ulimit -l`, `LimitMEMLOCK=`, `smaller queue depth`}, nil},
		{"EINVAL", &SetupError{Errno: syscall.EINVAL}, []string{`setup flag`, `SINGLE_ISSUER`}, nil},
		{"EMFILE", &SetupError{Errno: syscall.EMFILE}, []string{`out of file descriptors`, `RLIMIT_NOFILE`}, []string{`seccomp`, `sysctl`, `MEMLOCK`}},
		{"ENFILE", &SetupError{Errno: syscall.ENFILE}, []string{`out of file descriptors`}, []string{`seccomp`, `MEMLOCK`}},
		{"EFAULT", &SetupError{Errno: syscall.EFAULT}, []string{`io_uring_setup failed`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error = tt.err
			checkSetupError(t, reportErr(err), tt.err.Errno, append(tt.want, `^uring: `, tt.err.Errno.Error()+`$`)...)
			for _, a := range tt.avoid {
				if regexp.MustCompile(a).MatchString(err.Error()) {
					t.Errorf("error %q matches %q, which does not apply", err, a)
				}
			}
			var errno syscall.Errno
			if !errors.As(err, &errno) || errno != tt.err.Errno {
				t.Errorf("errors.As(err, *syscall.Errno) gives %v, want %v", errno, tt.err.Errno)
			}
		})
	}
}
