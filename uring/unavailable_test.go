package uring

// Tests that make io_uring unavailable for real -- a seccomp filter like a
// container profile's, the kernel.io_uring_disabled sysctl, a low
// RLIMIT_MEMLOCK -- and check that the error names the cause and the fix.
//
// A seccomp filter, a dropped capability or a lowered rlimit cannot (or
// should not) be undone inside the test process, so those tests re-execute
// the test binary to run only themselves with childEnv set. The child does
// the one thing, prints a JSON report on a line of its own and exits at
// once, before TestMain's goroutine leak check; the parent checks the
// report.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// childEnv names the test a re-executed test binary is to act as the
// child of. Its value is the full test name, so a child started for one
// test never acts as the child of another.
const childEnv = "URING_TEST_CHILD"

// reportPrefix starts the child's report line, to find it among anything
// else the test binary prints.
const reportPrefix = "uring-child-report: "

// errReport is what the parent needs to know about an error that exists
// only in the child.
type errReport struct {
	Err        string          // err.Error(); empty for a nil error
	SetupError bool            // errors.As(err, new(*SetupError))
	SetupErrno int             // the SetupError's Errno
	Syscall    string          // the SetupError's Syscall
	Is         map[string]bool // errors.Is(err, errno), by errno name
}

func reportErr(err error) errReport {
	if err == nil {
		return errReport{}
	}
	r := errReport{Err: err.Error(), Is: map[string]bool{}}
	var se *SetupError
	if errors.As(err, &se) {
		r.SetupError = true
		r.SetupErrno = int(se.Errno)
		r.Syscall = se.Syscall
	}
	for _, e := range []syscall.Errno{syscall.EPERM, syscall.EACCES, syscall.ENOSYS, syscall.ENOMEM, syscall.EINVAL, syscall.EMFILE, syscall.ENFILE, syscall.EFAULT} {
		if errors.Is(err, e) {
			r.Is[unix.ErrnoName(e)] = true
		}
	}
	return r
}

// childReport is the child's whole report.
type childReport struct {
	// Fail is set if the child could not set up the condition to test.
	Fail string
	// Result is the error of the call under test.
	Result errReport
	// Control is the same call's error once the condition is lifted,
	// where the child can lift it: nil there shows the condition, not
	// something else, caused Result.
	Control *errReport
	// Note says what the child did, for the parent's log and skips.
	Note string
}

// runAsChild runs child, prints its report and exits, if this process was
// started by startChild for test t; otherwise it does nothing.
func runAsChild(t *testing.T, child func() childReport) {
	if os.Getenv(childEnv) != t.Name() {
		return
	}
	rep := child()
	b, err := json.Marshal(rep)
	if err != nil {
		fmt.Printf("%s{\"Fail\":%q}\n", reportPrefix, err.Error())
		os.Exit(1)
	}
	fmt.Printf("%s%s\n", reportPrefix, b)
	// Exit here, not through the testing package: the child's changes
	// (seccomp, capabilities) are for this one call, and TestMain's leak
	// check would only add noise to the report.
	os.Exit(0)
}

// startChild re-executes the test binary to run only test t as a child
// (see runAsChild) and returns its report. A failure to set up the
// condition in the child fails the test.
func startChild(t *testing.T) childReport {
	t.Helper()
	out := testutil.RunChild(t, childEnv+"="+t.Name(), 2*time.Minute, "-test.run="+testutil.RunPattern(t.Name()), "-test.count=1")
	var rep childReport
	testutil.ChildReport(t, out, reportPrefix, &rep)
	if rep.Fail != "" {
		t.Fatalf("child %s could not set up the test: %s", t.Name(), rep.Fail)
	}
	if rep.Note != "" {
		t.Logf("child: %s", rep.Note)
	}
	return rep
}

// checkDeniedChild runs the test's child, where a seccomp filter denies
// call with errno, and checks that its error is a SetupError naming call
// and seccomp, with the fix.
func checkDeniedChild(t *testing.T, errno syscall.Errno, call string) {
	t.Helper()
	if !testutil.SeccompSupported() {
		t.Skipf("the seccomp test filter is written for amd64 only, not %s", runtime.GOARCH)
	}
	t.Parallel()
	rep := startChild(t)
	checkSetupError(t, rep.Result, errno, call, `seccomp`, `allow io_uring_setup, io_uring_enter and io_uring_register`)
	if rep.Result.Syscall != call {
		t.Errorf("SetupError.Syscall = %q, want %s", rep.Result.Syscall, call)
	}
}

// checkSetupError checks that r is a *SetupError wrapping errno whose
// message matches every pattern in want.
func checkSetupError(t *testing.T, r errReport, errno syscall.Errno, want ...string) {
	t.Helper()
	name := unix.ErrnoName(errno)
	if r.Err == "" {
		t.Fatalf("got no error, want a *SetupError wrapping %s", name)
	}
	if !r.SetupError {
		t.Errorf("error %q is not a *SetupError", r.Err)
	} else if r.SetupErrno != int(errno) {
		t.Errorf("SetupError.Errno = %s, want %s", unix.ErrnoName(syscall.Errno(r.SetupErrno)), name)
	}
	if !r.Is[name] {
		t.Errorf("errors.Is(err, %s) = false for %q", name, r.Err)
	}
	checkMessage(t, r.Err, want...)
}

func checkMessage(t *testing.T, msg string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !regexp.MustCompile(w).MatchString(msg) {
			t.Errorf("error %q does not match %q", msg, w)
		}
	}
}

// newRingIn creates a ring in a child and closes it again, returning
// New's error. The child exits right after, so nothing else is checked.
func newRingIn(depth int, opts ...Option) error {
	r, err := New[int](depth, opts...)
	if err == nil {
		r.Close()
	}
	return err
}

// TestSetupBlockedBySeccomp blocks io_uring_setup with a seccomp filter in
// a child process, as a container runtime's profile does (EPERM) or as a
// kernel without io_uring behaves (ENOSYS), and checks that New's error
// says so and what to do.
func TestSetupBlockedBySeccomp(t *testing.T) {
	// EPERM has two causes; the sysctl tells which applies here.
	eperm := []string{`io_uring_disabled`, `set it to 0`, `seccomp`, `allow io_uring_setup`}
	if b, err := os.ReadFile("/proc/sys/kernel/io_uring_disabled"); err == nil && strings.TrimSpace(string(b)) == "0" {
		eperm = []string{`io_uring_disabled sysctl is 0`, `seccomp`, `allow io_uring_setup`}
	}
	tests := []struct {
		errno syscall.Errno
		want  []string
	}{
		{syscall.EPERM, eperm},
		{syscall.EACCES, []string{`seccomp`, `allow io_uring_setup`}},
		// This kernel has io_uring (the parent made a ring): ENOSYS
		// is the filter's, not a missing io_uring.
		{syscall.ENOSYS, []string{`ENOSYS although Linux \S+ has io_uring`, `seccomp`, `allow io_uring_setup`}},
	}
	for _, tt := range tests {
		t.Run(unix.ErrnoName(tt.errno), func(t *testing.T) {
			runAsChild(t, func() childReport {
				if err := testutil.DenySyscall(unix.SYS_IO_URING_SETUP, tt.errno); err != nil {
					return childReport{Fail: err.Error()}
				}
				return childReport{Result: reportErr(newRingIn(8))}
			})
			if !testutil.SeccompSupported() {
				t.Skipf("the seccomp test filter is written for amd64 only, not %s", runtime.GOARCH)
			}
			t.Parallel()
			// New works in this process, so the child's failure is the
			// filter's doing.
			if err := newRingIn(8); err != nil {
				t.Fatalf("New without the filter: %v", err)
			}
			rep := startChild(t)
			checkSetupError(t, rep.Result, tt.errno, tt.want...)
		})
	}
}

// TestRegisterBlockedBySeccomp denies only io_uring_register, as a
// profile that lists io_uring_setup and io_uring_enter but not the third
// call does: New, which probes the supported operations with it, fails
// with a *SetupError naming io_uring_register and the fix, not a bare
// "operation not permitted" (adapters then take their fallback).
func TestRegisterBlockedBySeccomp(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EPERM, syscall.EACCES, syscall.ENOSYS} {
		t.Run(unix.ErrnoName(errno), func(t *testing.T) {
			runAsChild(t, func() childReport {
				if err := testutil.DenySyscall(unix.SYS_IO_URING_REGISTER, errno); err != nil {
					return childReport{Fail: err.Error()}
				}
				return childReport{Result: reportErr(newRingIn(8))}
			})
			checkDeniedChild(t, errno, "io_uring_register")
		})
	}
}

// TestUnsubmit takes back operations queued but never submitted: their
// data comes back in order, their slots are free (the ring closes), and
// an operation submitted before is not touched.
func TestUnsubmit(t *testing.T) {
	r, err := New[int](8)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	}()
	if _, err := r.Noop(1); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 4; i++ {
		if _, err := r.Noop(i); err != nil {
			t.Fatal(err)
		}
	}
	r.Flush() // published, as the executor publishes before it enters
	if _, err := r.Noop(5); err != nil {
		t.Fatal(err)
	}
	got := r.Unsubmit()
	if fmt.Sprint(got) != "[2 3 4 5]" {
		t.Errorf("Unsubmit = %v, want [2 3 4 5]", got)
	}
	if n := r.SQEReady(); n != 0 {
		t.Errorf("SQEReady after Unsubmit = %d", n)
	}
	c, err := r.Wait()
	if err != nil || c.Data != 1 {
		t.Fatalf("Wait = %v, %v; want the submitted no-op 1", c.Data, err)
	}
	if n := r.ActiveOps(); n != 0 {
		t.Fatalf("ActiveOps after Unsubmit and Wait = %d", n)
	}
	// The queue works on after: the next entries go where the taken
	// back ones were.
	if _, err := r.Noop(6); err != nil {
		t.Fatal(err)
	}
	if c, err := r.Wait(); err != nil || c.Data != 6 {
		t.Fatalf("Wait after Unsubmit = %v, %v", c.Data, err)
	}
}

// TestSetupDisabledBySysctl sets kernel.io_uring_disabled to 2 and checks
// that New fails with EPERM and says how to re-enable io_uring.
//
// It runs only when URING_TEST_SYSCTL=1 is set: the sysctl is system-wide,
// so while it is 2 no process on the machine can create a ring, including
// the other test binaries go test runs in parallel with this one, which
// would fail at random. The window is kept to one New call and the old
// value is restored by a deferred write, even if New panics.
func TestSetupDisabledBySysctl(t *testing.T) {
	const path = "/proc/sys/kernel/io_uring_disabled"
	if os.Getenv("URING_TEST_SYSCTL") != "1" {
		t.Skip("changes a system-wide sysctl that makes io_uring fail for every process; set URING_TEST_SYSCTL=1 to run it when nothing else uses io_uring")
	}
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s does not exist: the kernel predates the sysctl (Linux 6.6)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		t.Skip("writing the sysctl needs root")
	}
	// New works before, so its failure below is the sysctl's doing.
	if err := newRingIn(8); err != nil {
		t.Fatalf("New with %s = %s: %v", path, strings.TrimSpace(string(old)), err)
	}

	var restoreErr error
	err = func() error {
		defer func() { restoreErr = os.WriteFile(path, old, 0) }()
		if err := os.WriteFile(path, []byte("2"), 0); err != nil {
			t.Errorf("disabling io_uring: %v", err)
			return nil
		}
		return newRingIn(8)
	}()
	if restoreErr != nil {
		t.Fatalf("restoring %s to %s: %v", path, old, restoreErr)
	}
	if now, err := os.ReadFile(path); err != nil || string(now) != string(old) {
		t.Fatalf("%s is %q after restoring %q (%v)", path, now, old, err)
	}
	if t.Failed() {
		return
	}
	checkSetupError(t, reportErr(err), syscall.EPERM, `io_uring_disabled sysctl \(set it to 0\)`)
	if err := newRingIn(8); err != nil {
		t.Errorf("New after restoring the sysctl: %v", err)
	}
}

// lowMemlock is the RLIMIT_MEMLOCK the memlock children run under: room
// for a small ring, far too little for a 16 MiB buffer.
const lowMemlock = 64 << 10

// limitMemlock prepares a child for a RLIMIT_MEMLOCK test: it lowers the
// soft limit to lowMemlock, raising the hard limit to 64 MiB where it may
// (CAP_SYS_RESOURCE) so that raiseMemlock has room, and drops CAP_IPC_LOCK, which
// exempts a process from the limit, from the calling thread.
// Capabilities belong to a thread and io_uring checks CAP_IPC_LOCK when
// a ring is created, so it locks the goroutine to the thread, and the
// ring must be created after it.
func limitMemlock() (note string, err error) {
	runtime.LockOSThread()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &old); err != nil {
		return "", fmt.Errorf("getrlimit: %w", err)
	}
	lim := unix.Rlimit{Cur: lowMemlock, Max: max(old.Max, 64<<20)}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		// Raising the hard limit needs CAP_SYS_RESOURCE.
		lim.Max = old.Max
		if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
			return "", fmt.Errorf("setrlimit(RLIMIT_MEMLOCK, %d): %w", lowMemlock, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData // version 3 takes two 32-bit words
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		return "", fmt.Errorf("capget: %w", err)
	}
	had := caps[0].Effective&(1<<unix.CAP_IPC_LOCK) != 0
	caps[0].Effective &^= 1 << unix.CAP_IPC_LOCK
	if err := unix.Capset(&hdr, &caps[0]); err != nil {
		return "", fmt.Errorf("capset dropping CAP_IPC_LOCK: %w", err)
	}
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		return "", fmt.Errorf("capget: %w", err)
	}
	if caps[0].Effective&(1<<unix.CAP_IPC_LOCK) != 0 {
		return "", errors.New("CAP_IPC_LOCK is still effective after capset")
	}
	return fmt.Sprintf("RLIMIT_MEMLOCK %d/%d bytes, CAP_IPC_LOCK dropped (was effective: %v)", lim.Cur, lim.Max, had), nil
}

// raiseMemlock lifts the soft RLIMIT_MEMLOCK to the hard limit, to show
// that what failed under lowMemlock then works, and returns the new limit.
func raiseMemlock() (uint64, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

// TestFixedBufferOverMemlock registers a 16 MiB fixed buffer under an
// RLIMIT_MEMLOCK of 64 KiB, in a child without CAP_IPC_LOCK, and checks
// that the error wraps ENOMEM and points at RLIMIT_MEMLOCK; then, with the
// limit raised, that the same registration succeeds.
//
// Not parallel: io_uring charges pinned memory to the user, not the
// process, so while one memlock child holds 16 MiB the other's small ring
// could be refused.
func TestFixedBufferOverMemlock(t *testing.T) {
	const size = 16 << 20
	runAsChild(t, func() childReport {
		note, err := limitMemlock()
		if err != nil {
			return childReport{Fail: err.Error()}
		}
		r, err := New[int](8)
		if err != nil {
			return childReport{Fail: fmt.Sprintf("New under %s: %v", note, err)}
		}
		buf := make([]byte, size)
		rep := childReport{Note: note, Result: reportErr(r.SetFixedBuffer(buf))}
		// The control registers as much of the same buffer as the hard
		// limit allows, with room for the ring: still far above
		// lowMemlock, so a failure above must have been the limit's.
		if lim, err := raiseMemlock(); err != nil {
			rep.Fail = fmt.Sprintf("raising RLIMIT_MEMLOCK again: %v", err)
		} else if n := min(size, int(lim/2)) &^ 4095; n >= 16*lowMemlock {
			c := reportErr(r.SetFixedBuffer(buf[:n]))
			rep.Control = &c
			rep.Note += fmt.Sprintf("; control: %d bytes with RLIMIT_MEMLOCK raised to %d", n, lim)
		}
		r.Close()
		return rep
	})
	testutil.CheckFDs(t)
	rep := startChild(t)
	if rep.Result.Err == "" {
		t.Skipf("registering %d bytes succeeded with %s: this kernel does not charge registered buffers to RLIMIT_MEMLOCK", size, rep.Note)
	}
	r := rep.Result
	if !r.Is["ENOMEM"] {
		t.Errorf("errors.Is(err, ENOMEM) = false for %q", r.Err)
	}
	if r.SetupError {
		t.Errorf("registration error %q is a *SetupError; only New returns those", r.Err)
	}
	checkMessage(t, r.Err, `registering fixed buffer \(16777216 bytes\)`, `RLIMIT_MEMLOCK`, `ulimit -l`)
	if rep.Control == nil {
		t.Log("the hard RLIMIT_MEMLOCK is too low to retry with the limit raised")
	} else if rep.Control.Err != "" {
		t.Errorf("with RLIMIT_MEMLOCK raised, SetFixedBuffer still fails: %s", rep.Control.Err)
	}
}

// TestSetupOverMemlock creates a ring whose memory exceeds RLIMIT_MEMLOCK,
// in a child without CAP_IPC_LOCK. Kernels from 5.12 charged ring memory
// to the memory cgroup instead; newer ones (6.18 among them) charge the
// rings to the limit again, so New fails with ENOMEM and must point at
// RLIMIT_MEMLOCK. Where the kernel does not, the test skips.
// Not parallel, for the reason TestFixedBufferOverMemlock gives.
func TestSetupOverMemlock(t *testing.T) {
	// 4096 SQEs of 64 bytes alone are 256 KiB, four times lowMemlock.
	const depth = 4096
	runAsChild(t, func() childReport {
		note, err := limitMemlock()
		if err != nil {
			return childReport{Fail: err.Error()}
		}
		rep := childReport{Note: note, Result: reportErr(newRingIn(depth))}
		if lim, err := raiseMemlock(); err != nil {
			rep.Fail = fmt.Sprintf("raising RLIMIT_MEMLOCK again: %v", err)
		} else if lim >= 4<<20 {
			c := reportErr(newRingIn(depth))
			rep.Control = &c
		}
		return rep
	})
	rep := startChild(t)
	if rep.Result.Err == "" {
		t.Skipf("New(%d) succeeded with %s: this kernel charges ring memory to the memory cgroup, not RLIMIT_MEMLOCK", depth, rep.Note)
	}
	checkSetupError(t, rep.Result, syscall.ENOMEM, `RLIMIT_MEMLOCK`, `ulimit -l`, `smaller queue depth`)
	if rep.Control == nil {
		t.Log("the hard RLIMIT_MEMLOCK is too low to retry with the limit raised")
	} else if rep.Control.Err != "" {
		t.Errorf("with RLIMIT_MEMLOCK raised, New(%d) still fails: %s", depth, rep.Control.Err)
	}
}
