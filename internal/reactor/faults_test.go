package reactor

// Faults that cannot be undone in the test process (a seccomp filter, a
// lowered RLIMIT_NOFILE before the process-wide executor exists) run in a
// child: the test binary re-executed to run one test with childEnv set,
// which prints a JSON report (testutil.RunChild, testutil.ChildReport).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

const (
	childEnv     = "REACTOR_TEST_CHILD"
	reportPrefix = "reactor-child-report: "
)

// faultReport is what a child saw: the error of each step it names.
type faultReport struct {
	Fail  string
	Steps []faultStep
}

type faultStep struct {
	Name        string
	Err         string
	Unavailable bool   // Unavailable(err)
	Syscall     string // the *uring.SetupError's Syscall, if err is one
	Errno       int    // the *uring.SetupError's Errno
}

func step(name string, err error) faultStep {
	st := faultStep{Name: name}
	if err == nil {
		return st
	}
	st.Err = err.Error()
	st.Unavailable = Unavailable(err)
	var se *uring.SetupError
	if errors.As(err, &se) {
		st.Syscall, st.Errno = se.Syscall, int(se.Errno)
	}
	return st
}

// asChild runs child and exits if this process is the child started for
// t; otherwise it does nothing.
func asChild(t *testing.T, child func(rep *faultReport)) {
	if os.Getenv(childEnv) != t.Name() {
		return
	}
	var rep faultReport
	child(&rep)
	b, _ := json.Marshal(rep)
	fmt.Printf("%s%s\n", reportPrefix, b)
	os.Exit(0)
}

func runFaultChild(t *testing.T) faultReport {
	t.Helper()
	out := testutil.RunChild(t, childEnv+"="+t.Name(), 2*time.Minute, "-test.run="+testutil.RunPattern(t.Name()), "-test.count=1")
	var rep faultReport
	testutil.ChildReport(t, out, reportPrefix, &rep)
	if rep.Fail != "" {
		t.Fatalf("child could not set up the test: %s", rep.Fail)
	}
	return rep
}

// bounded runs fn, failing the child's report instead of hanging if it
// does not return within a minute; after one such failure it runs
// nothing more.
func bounded(rep *faultReport, name string, fn func() error) faultStep {
	if rep.Fail != "" {
		return faultStep{Name: name, Err: "not run"}
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return step(name, err)
	case <-time.After(time.Minute):
		rep.Fail = name + " did not return within a minute"
		return faultStep{Name: name, Err: "hung"}
	}
}

func doNoop(e *Executor) error {
	_, err := e.Do(context.Background(), 0, time.Time{}, noop)
	return err
}

// TestEnterDenied denies io_uring_enter with a seccomp filter, before the
// process-wide executor exists and after it runs, with each errno a
// profile may return. Nothing may wait for ever: before, Default fails
// with a *uring.SetupError naming io_uring_enter that Unavailable
// accepts (so adapters take their fallback); after, the operation that
// enters fails with it at once, so do later ones, and Default reports it.
func TestEnterDenied(t *testing.T) {
	for _, when := range []string{"before", "after"} {
		for _, errno := range []syscall.Errno{syscall.EPERM, syscall.EACCES, syscall.ENOSYS} {
			t.Run(when+"/"+unix.ErrnoName(errno), func(t *testing.T) {
				asChild(t, func(rep *faultReport) {
					var e *Executor
					if when == "after" {
						var err error
						if e, err = Default(); err != nil {
							rep.Fail = err.Error()
							return
						}
						if err := doNoop(e); err != nil {
							rep.Fail = err.Error()
							return
						}
					}
					if err := testutil.DenySyscall(unix.SYS_IO_URING_ENTER, errno); err != nil {
						rep.Fail = err.Error()
						return
					}
					if e != nil {
						rep.Steps = append(rep.Steps,
							bounded(rep, "Do", func() error { return doNoop(e) }),
							bounded(rep, "Do again", func() error { return doNoop(e) }),
							bounded(rep, "StartLocal", func() error {
								o, err := e.StartLocal(noop)
								if err != nil {
									return err
								}
								_, err = o.Wait(context.Background())
								return err
							}))
					}
					rep.Steps = append(rep.Steps, bounded(rep, "Default", func() error { _, err := Default(); return err }))
				})
				if !testutil.SeccompSupported() {
					t.Skipf("the seccomp test filter is written for amd64 only, not %s", runtime.GOARCH)
				}
				t.Parallel()
				rep := runFaultChild(t)
				for _, st := range rep.Steps {
					if st.Err == "" {
						t.Errorf("%s succeeded with io_uring_enter denied", st.Name)
						continue
					}
					if !st.Unavailable || st.Syscall != "io_uring_enter" || st.Errno != int(errno) {
						t.Errorf("%s: %q (SetupError %q %d, Unavailable %v), want a *uring.SetupError from io_uring_enter with %s that Unavailable accepts", st.Name, st.Err, st.Syscall, st.Errno, st.Unavailable, unix.ErrnoName(errno))
					}
					for _, w := range []string{"io_uring_enter", "seccomp", "allow io_uring_setup, io_uring_enter and io_uring_register"} {
						if !strings.Contains(st.Err, w) {
							t.Errorf("%s: %q does not mention %q", st.Name, st.Err, w)
						}
					}
				}
			})
		}
	}
}

// TestDefaultRetriesTransient runs out of file descriptors during the
// process's first Default: that fails, naming the cause, and once fds
// are free again the next call succeeds; the failure is not remembered.
func TestDefaultRetriesTransient(t *testing.T) {
	asChild(t, func(rep *faultReport) {
		var old unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
			rep.Fail = err.Error()
			return
		}
		lim := old
		lim.Cur = uint64(testutil.OpenFDs(t) + 8)
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			rep.Fail = err.Error()
			return
		}
		var fillers []int
		for {
			fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				break
			}
			fillers = append(fillers, fd)
		}
		_, err := Default()
		rep.Steps = append(rep.Steps, step("out of fds", err))
		for _, fd := range fillers {
			unix.Close(fd)
		}
		unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
		_, err = Default()
		rep.Steps = append(rep.Steps, step("fds freed", err))
	})
	rep := runFaultChild(t)
	if len(rep.Steps) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	out, freed := rep.Steps[0], rep.Steps[1]
	if out.Err == "" {
		t.Fatal("Default succeeded with no fd free")
	}
	if !strings.Contains(out.Err, "file descriptors") || out.Unavailable {
		t.Errorf("out of fds: %q (Unavailable %v), want an error that names file descriptors and does not say io_uring is unavailable", out.Err, out.Unavailable)
	}
	for _, w := range []string{"sysctl", "seccomp", "MEMLOCK"} {
		if strings.Contains(out.Err, w) {
			t.Errorf("out of fds: %q blames %s", out.Err, w)
		}
	}
	if freed.Err != "" {
		t.Errorf("Default after fds were freed: %s", freed.Err)
	}
}
