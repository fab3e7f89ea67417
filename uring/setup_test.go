package uring

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
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

// TestBigEntries runs operations on rings whose submission entries are 128
// bytes (SetupSQE128) or whose completion entries are 32 bytes
// (SetupCQE32), twice round a ring of 4 so that the index wraps: every
// completion comes back once, with its own data, and the ring closes.
// Indexing such a ring with the 64- and 16-byte stride of the default
// entry sizes hands the kernel garbage or reads the wrong completions.
func TestBigEntries(t *testing.T) {
	for _, tt := range []struct {
		name  string
		flags SetupFlags
	}{
		{"SQE128", SetupSQE128},
		{"CQE32", SetupCQE32},
		{"SQE128|CQE32", SetupSQE128 | SetupCQE32},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRing[int](t, 4, WithFlags(tt.flags))
			rfd, wfd := nbpipe(t)
			want := 0
			for round := 0; round < 3; round++ {
				// A read and a write through the pipe, and noops:
				// operations whose fields sit at different offsets.
				msg := []byte(fmt.Sprintf("round %d", round))
				buf := make([]byte, len(msg))
				if _, err := r.Write(wfd, msg, 0, 100+round); err != nil {
					t.Fatal(err)
				}
				if _, err := r.Submit(); err != nil {
					t.Fatal(err)
				}
				c := wait(t, r)
				if c.Data != 100+round || c.Result != int32(len(msg)) {
					t.Fatalf("write completion = %+v, want data %d result %d", c, 100+round, len(msg))
				}
				if _, err := r.Read(rfd, buf, 0, 200+round); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 3; i++ {
					want++
					if _, err := r.Noop(want); err != nil {
						t.Fatal(err)
					}
				}
				if n, err := r.Submit(); err != nil || n != 4 {
					t.Fatalf("Submit = %d, %v; want 4", n, err)
				}
				seen := map[int]bool{}
				for i := 0; i < 4; i++ {
					c := wait(t, r)
					seen[c.Data] = true
					if c.Data == 200+round && (c.Result != int32(len(msg)) || string(buf) != string(msg)) {
						t.Errorf("read = %d %q, want %q", c.Result, buf, msg)
					}
				}
				for _, d := range []int{200 + round, want - 2, want - 1, want} {
					if !seen[d] {
						t.Errorf("round %d: no completion with data %d (got %v)", round, d, seen)
					}
				}
			}
			if s := r.Stats(); s.Stray != 0 || s.ActiveOps != 0 {
				t.Errorf("Stats = %+v, want no stray completions and none active", s)
			}
			if err := r.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}

// TestSetupClamp checks that SetupClamp lets the kernel clamp sizes beyond
// its limits, as OCaml's create does, rather than New refusing them first.
func TestSetupClamp(t *testing.T) {
	tests := []struct {
		name       string
		depth      int
		opts       []Option
		wantSQ     int
		wantCQ     int
		wantRefuse bool
	}{
		{"depth", 40000, []Option{WithFlags(SetupClamp)}, 32768, 65536, false},
		{"CQ size", 8, []Option{WithFlags(SetupClamp), WithCQSize(1 << 20)}, 8, 65536, false},
		{"depth without clamp", 40000, nil, 0, 0, true},
		{"CQ size without clamp", 8, []Option{WithCQSize(1 << 20)}, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New[int](tt.depth, tt.opts...)
			if tt.wantRefuse {
				if err == nil {
					r.Close()
					t.Fatal("New succeeded without SetupClamp")
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%d) with SetupClamp: %v", tt.depth, err)
			}
			defer r.Close()
			if r.QueueDepth() != tt.wantSQ || r.CQSize() != tt.wantCQ {
				t.Errorf("QueueDepth, CQSize = %d, %d; want %d, %d", r.QueueDepth(), r.CQSize(), tt.wantSQ, tt.wantCQ)
			}
			if _, err := r.Noop(1); err != nil {
				t.Fatal(err)
			}
			if c := wait(t, r); c.Data != 1 {
				t.Errorf("completion = %+v", c)
			}
		})
	}
}

// TestRDisabledEnable creates a disabled ring: the kernel refuses to
// submit (EBADFD) until Enable, and then runs what was queued.
func TestRDisabledEnable(t *testing.T) {
	r := newRing[int](t, 4, WithFlags(SetupRDisabled))
	if _, err := r.Noop(7); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Submit(); !errors.Is(err, syscall.EBADFD) || !strings.Contains(err.Error(), "call Enable") {
		t.Fatalf("Submit on a disabled ring = %v, want EBADFD and advice to call Enable", err)
	}
	if _, ok, err := r.WaitTimeout(time.Millisecond); ok || !errors.Is(err, syscall.EBADFD) {
		t.Fatalf("WaitTimeout on a disabled ring = %v, %v; want EBADFD", ok, err)
	}
	if err := r.Enable(); err != nil {
		t.Fatalf("Enable: %v", err)
	}
	if c := wait(t, r); c.Data != 7 || c.Result != 0 {
		t.Errorf("completion after Enable = %+v", c)
	}
	if err := r.Enable(); !errors.Is(err, syscall.EBADFD) {
		t.Errorf("second Enable = %v, want EBADFD", err)
	}
}

// TestSetupNewFlags sets up rings with the flags newer kernels added and
// runs an operation on each, wrapping the queue twice; where the kernel
// is older than the flag the test skips, naming it, and where it is not a
// refusal fails (a wrong flag value, say).
func TestSetupNewFlags(t *testing.T) {
	tests := []struct {
		name  string
		flags SetupFlags
		since string
	}{
		{"NO_SQARRAY", SetupNoSQArray, "6.6"},
		{"NO_SQARRAY|SQE128", SetupNoSQArray | SetupSQE128, "6.6"},
		{"SINGLE_ISSUER|DEFER_TASKRUN|CQE32", SetupSingleIssuer | SetupDeferTaskrun | SetupCQE32, "6.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// SINGLE_ISSUER binds the ring to this OS thread.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			r, err := New[int](2, WithFlags(tt.flags))
			if errors.Is(err, syscall.EINVAL) && !kernelAtLeastVersion(t, tt.since) {
				t.Skipf("%s: %v (Linux %s added it)", tt.name, err, tt.since)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for i := 0; i < 5; i++ {
				if _, err := r.Noop(i); err != nil {
					t.Fatal(err)
				}
				if c := wait(t, r); c.Data != i {
					t.Fatalf("completion %d = %+v", i, c)
				}
			}
		})
	}
	// HYBRID_IOPOLL only means something with IOPOLL; alone it is
	// refused.
	r, err := New[int](2, WithFlags(SetupHybridIOPoll))
	if err == nil {
		r.Close()
		t.Error("HYBRID_IOPOLL without IOPOLL accepted")
	}
	r, err = New[int](2, WithFlags(SetupIOPoll|SetupHybridIOPoll))
	if errors.Is(err, syscall.EINVAL) && !kernelAtLeastVersion(t, "6.13") {
		t.Skipf("IOPOLL|HYBRID_IOPOLL: %v (Linux 6.13 added it)", err)
	}
	if err != nil {
		t.Fatalf("IOPOLL|HYBRID_IOPOLL: %v", err)
	}
	r.Close()
}

// TestSetupUnmappedRefused checks that the flags under which the caller
// provides the rings' memory are refused with a message, not passed on.
func TestSetupUnmappedRefused(t *testing.T) {
	for _, f := range []SetupFlags{1 << 14, 1 << 15} {
		r, err := New[int](2, WithFlags(f))
		if err == nil {
			r.Close()
			t.Fatalf("flag %#x accepted", uint32(f))
		}
		if !strings.Contains(err.Error(), "NO_MMAP") {
			t.Errorf("flag %#x: %v, want a message naming NO_MMAP", uint32(f), err)
		}
	}
}

// TestSingleIssuerOtherThread shows what the package documentation warns
// of: a SINGLE_ISSUER ring created on one OS thread refuses submission
// from another with EEXIST, and works again from its own thread.
func TestSingleIssuerOtherThread(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := newRing[int](t, 4, WithFlags(SetupSingleIssuer))
	if _, err := r.Noop(1); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error)
	go func() {
		// A goroutine locked to its own thread is never on the
		// creator's thread, which is locked to the test goroutine.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_, err := r.Submit()
		errc <- err
	}()
	if err := <-errc; !errors.Is(err, syscall.EEXIST) {
		t.Errorf("Submit from another thread = %v, want EEXIST", err)
	}
	if c := wait(t, r); c.Data != 1 {
		t.Errorf("completion on the owning thread = %+v", c)
	}
}
