package uring

import (
	"errors"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestEnterBlockedBySeccomp denies io_uring_enter, with each errno a
// profile may return, after the ring was set up (a filter applied to a
// running process): Submit, Wait and SubmitAndWait fail with a
// *SetupError that names io_uring_enter, says what to allow and still
// matches the errno.
func TestEnterBlockedBySeccomp(t *testing.T) {
	for _, call := range []string{"Submit", "Wait", "SubmitAndWait"} {
		for _, errno := range []syscall.Errno{syscall.EPERM, syscall.EACCES, syscall.ENOSYS} {
			t.Run(call+"/"+unix.ErrnoName(errno), func(t *testing.T) {
				runAsChild(t, func() childReport {
					r, err := New[int](8)
					if err != nil {
						return childReport{Fail: err.Error()}
					}
					if _, err := r.Noop(1); err != nil {
						return childReport{Fail: err.Error()}
					}
					if err := testutil.DenySyscall(unix.SYS_IO_URING_ENTER, errno); err != nil {
						return childReport{Fail: err.Error()}
					}
					switch call {
					case "Submit":
						_, err = r.Submit()
					case "Wait":
						_, err = r.Wait()
					default:
						_, err = r.SubmitAndWait(-1)
					}
					return childReport{Result: reportErr(err)}
				})
				checkDeniedChild(t, errno, "io_uring_enter")
			})
		}
	}
}

// TestEnterNotARing replaces the ring's fd behind its back with one that
// is not an io_uring: Submit and Wait say so rather than return a bare
// errno, which errors.Is still finds.
func TestEnterNotARing(t *testing.T) {
	testutil.CheckFDs(t)
	r, err := New[int](8)
	if err != nil {
		t.Fatal(err)
	}
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The mappings keep the ring itself alive; Close unmaps them and
	// closes the fd, /dev/null by then.
	if err := unix.Dup3(null, r.r.Fd, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.Close(null)
	for _, call := range []string{"Submit", "Wait"} {
		if _, err := r.Noop(1); err != nil {
			t.Fatal(err)
		}
		if call == "Submit" {
			_, err = r.Submit()
		} else {
			_, err = r.Wait()
		}
		var se *SetupError
		if !errors.As(err, &se) || se.Syscall != "io_uring_enter" || !errors.Is(err, syscall.EOPNOTSUPP) {
			t.Fatalf("%s: %v (%T), want a *SetupError from io_uring_enter matching EOPNOTSUPP", call, err, err)
		}
		checkMessage(t, err.Error(), `not an open io_uring`, `closed or replaced behind the Ring's back`)
		r.Unsubmit()
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestEnterRetrySemantics: the errnos callers go again on keep their
// bare values, so comparisons with == go on working.
func TestEnterRetrySemantics(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EINTR, syscall.EBUSY, syscall.EAGAIN, syscall.ETIME} {
		if err := enterErr(errno); err != errno {
			t.Errorf("enterErr(%s) = %v (%T), want the bare errno", unix.ErrnoName(errno), err, err)
		}
	}
	if err := enterErr(syscall.EBADFD); !errors.Is(err, syscall.EBADFD) || err == syscall.EBADFD {
		t.Errorf("enterErr(EBADFD) = %v, want the disabled-ring error", err)
	}
}

// TestCancelSync cancels a read of an empty pipe, which waits for ever,
// through io_uring_register alone: its completion (ECANCELED) shows up
// in the CQ without another io_uring_enter, and the kernel did not read
// for it (a byte written afterwards is still in the pipe). CancelSyncFd
// does the same by fd, and for every operation with fd -1.
func TestCancelSync(t *testing.T) {
	for _, how := range []string{"job", "fd", "all"} {
		t.Run(how, func(t *testing.T) {
			testutil.CheckFDs(t)
			r, err := New[int](8)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			defer unix.Close(p[0])
			defer unix.Close(p[1])
			buf := make([]byte, 8)
			j, err := r.Read(p[0], buf, 0, 7)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Submit(); err != nil {
				t.Fatal(err)
			}
			switch how {
			case "job":
				err = r.CancelSync(j, CancelSyncWait)
			case "fd":
				err = r.CancelSyncFd(p[0], CancelSyncWait)
			default:
				err = r.CancelSyncFd(-1, CancelSyncWait)
			}
			if errors.Is(err, syscall.EINVAL) {
				t.Skipf("IORING_REGISTER_SYNC_CANCEL: %v (Linux 6.0 added it)", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			enters := r.Stats().Enters
			var c Completion[int]
			for start := time.Now(); ; runtime.Gosched() {
				var ok bool
				if c, ok, err = r.Peek(); err != nil || ok {
					break
				}
				if time.Since(start) > time.Minute {
					t.Fatal("no completion within a minute of CancelSync")
				}
			}
			if err != nil || c.Data != 7 || c.Err() != syscall.ECANCELED {
				t.Fatalf("completion %+v, %v; want the read's, ECANCELED", c, err)
			}
			if n := r.Stats().Enters; n != enters {
				t.Errorf("collecting the completion entered the kernel %d times", n-enters)
			}
			if _, err := unix.Write(p[1], []byte("z")); err != nil {
				t.Fatal(err)
			}
			n, err := unix.Read(p[0], buf)
			if err != nil || string(buf[:n]) != "z" {
				t.Errorf("read %q, %v after the cancel; want \"z\"", buf[:n], err)
			}
			if err := r.CancelSync(j, CancelSyncWait); err != syscall.ENOENT {
				t.Errorf("CancelSync of a finished job: %v, want ENOENT", err)
			}
		})
	}
}

// TestAbandon gives up a ring with a read of an empty pipe in flight:
// the ring's fd is closed at once (no fd is left open), every method
// then fails with ErrClosed, and the read's buffer stays referenced by
// the ring, which the kernel keeps alive through the mappings.
func TestAbandon(t *testing.T) {
	testutil.CheckFDs(t)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	r, err := New[int](8)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := r.Read(p[0], buf, -1, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err == nil {
		t.Fatal("Close succeeded with a read in flight")
	}
	if err := r.Abandon(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Submit(); err != ErrClosed {
		t.Errorf("Submit after Abandon: %v, want ErrClosed", err)
	}
	if err := r.Abandon(); err != ErrClosed {
		t.Errorf("second Abandon: %v, want ErrClosed", err)
	}
	if r.mem[0].buf == nil {
		t.Error("the in-flight read's buffer was let go")
	}

	// With nothing in flight, Abandon is Close.
	r2, err := New[int](8)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Abandon(); err != nil {
		t.Fatal(err)
	}
}
