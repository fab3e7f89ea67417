package engine

// The engine's fault matrix: io_uring_setup, io_uring_enter and
// io_uring_register each denied by a seccomp filter with EPERM, EACCES
// and ENOSYS, installed before the engine starts or while it serves, with
// and without Config.FallbackToGnet. Each cell runs in a child process (a
// filter cannot be removed); the child's TestMain checks that no
// goroutine is left, and the cell that no fd is.

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
)

const envFaultChild = "ENGINE_TEST_FAULT_CHILD"

// faultBound bounds a call that must return; it times nothing.
const faultBound = time.Minute

var engineFaultCalls = []struct {
	name string
	nr   uint32
}{
	{"io_uring_setup", unix.SYS_IO_URING_SETUP},
	{"io_uring_enter", unix.SYS_IO_URING_ENTER},
	{"io_uring_register", unix.SYS_IO_URING_REGISTER},
}

func TestEngineFaultMatrix(t *testing.T) {
	for _, call := range engineFaultCalls {
		for _, when := range []string{"before", "after"} {
			for _, errno := range []syscall.Errno{syscall.EPERM, syscall.EACCES, syscall.ENOSYS} {
				for _, fb := range []bool{false, true} {
					name := call.name + "/" + when + "/" + unix.ErrnoName(errno) + "/fallback=" + map[bool]string{false: "no", true: "yes"}[fb]
					t.Run(name, func(t *testing.T) {
						if os.Getenv(envFaultChild) != t.Name() {
							if !testutil.SeccompSupported() {
								t.Skipf("the seccomp test filter is written for amd64 only, not %s", runtime.GOARCH)
							}
							t.Parallel()
							out := testutil.RunChild(t, envFaultChild+"="+t.Name(), 5*time.Minute, "-test.run="+testutil.RunPattern(t.Name()), "-test.count=1", "-test.v")
							if !strings.Contains(string(out), "--- PASS: "+t.Name()+" ") {
								t.Errorf("child failed:\n%s", out)
							}
							return
						}
						engineFaultCell(t, call.name, call.nr, when == "after", errno, fb)
					})
				}
			}
		}
	}
}

// echoes reports whether c echoes msg within faultBound.
func echoes(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(faultBound))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	b := make([]byte, len(msg))
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if string(b) != msg {
		return errors.New("echoed " + string(b))
	}
	return nil
}

// checkClear checks that err names the engine, the denied call's errno
// and what to do about it.
func checkClear(t *testing.T, what string, err error, call string, errno syscall.Errno) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error with %s denied", what, call)
		return
	}
	var se *uring.SetupError
	if !errors.As(err, &se) || se.Errno != errno || !errors.Is(err, errno) {
		t.Errorf("%s: %v (%T), want a *uring.SetupError with %s", what, err, err, unix.ErrnoName(errno))
	} else if sc := se.Syscall; sc != call && !(sc == "" && call == "io_uring_setup") {
		t.Errorf("%s: the error names %q, want %s", what, sc, call)
	}
	for _, w := range []string{"uringnet/engine:", "seccomp", "allow io_uring_setup, io_uring_enter and io_uring_register"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %q does not say %q", what, err, w)
		}
	}
}

func engineFaultCell(t *testing.T, call string, nr uint32, after bool, errno syscall.Errno, fallback bool) {
	testutil.CheckFDs(t)
	cfg := Config{FallbackToGnet: fallback}
	start := func() (*Engine, error) {
		var e *Engine
		err := testutil.Returns(t, "Start", func() error {
			var err error
			e, err = cfg.Start(newEcho(), "tcp://127.0.0.1:0", gnet.WithLogger(quietLogger{}))
			return err
		})
		return e, err
	}
	stop := func(e *Engine) (stopErr, waitErr error) {
		stopErr = testutil.Returns(t, "Stop", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), faultBound)
			defer cancel()
			return e.Stop(ctx)
		})
		waitErr = testutil.Returns(t, "Wait", e.Wait)
		return stopErr, waitErr
	}

	if !after {
		if err := testutil.DenySyscall(nr, errno); err != nil {
			t.Fatal(err)
		}
		e, err := start()
		if !fallback {
			checkClear(t, "Start", err, call, errno)
			if err != nil && !strings.Contains(err.Error(), "FallbackToGnet") {
				t.Errorf("Start: %q does not name the FallbackToGnet opt-in", err)
			}
			if e != nil {
				stop(e)
			}
			return
		}
		if err != nil {
			t.Fatalf("Start with FallbackToGnet: %v", err)
		}
		if !e.OnGnet() {
			t.Errorf("Start with FallbackToGnet and %s denied: not on gnet", call)
		}
		c, err := net.DialTimeout("tcp", e.Addr().String(), faultBound)
		if err != nil {
			t.Fatal(err)
		}
		if err := echoes(c, "through gnet"); err != nil {
			t.Errorf("echo through the fallback: %v", err)
		}
		c.Close()
		if stopErr, waitErr := stop(e); stopErr != nil || waitErr != nil {
			t.Errorf("Stop: %v, Wait: %v", stopErr, waitErr)
		}
		return
	}

	// After: the engine runs on io_uring with a connection open when the
	// filter comes.
	e, err := start()
	if err != nil {
		t.Fatal(err)
	}
	if e.OnGnet() {
		t.Fatal("on gnet with io_uring allowed")
	}
	c, err := net.DialTimeout("tcp", e.Addr().String(), faultBound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := echoes(c, "before the filter"); err != nil {
		t.Fatal(err)
	}
	if err := testutil.DenySyscall(nr, errno); err != nil {
		t.Fatal(err)
	}
	// The open connection is served or closed; a new one is served,
	// refused or closed: none hangs.
	if err := echoes(c, "after the filter"); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("the open connection hung: %v", err)
		}
	}
	if c2, err := net.DialTimeout("tcp", e.Addr().String(), faultBound); err == nil {
		if err := echoes(c2, "new connection"); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("a new connection hung: %v", err)
			}
		}
		c2.Close()
	}
	stopErr, waitErr := stop(e)
	if stopErr != nil && !errors.Is(stopErr, errorx.ErrEngineInShutdown) {
		t.Errorf("Stop: %v", stopErr)
	}
	if waitErr != nil {
		// The loop stopped on the denial: say so clearly.
		checkClear(t, "Wait", waitErr, call, errno)
	} else if call == "io_uring_enter" {
		t.Errorf("Wait: no error, though io_uring_enter was denied while the engine ran")
	}
	// The connection ends: the server side was closed.
	c.SetDeadline(time.Now().Add(faultBound))
	if _, err := io.Copy(io.Discard, c); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("the connection was not closed by Stop: %v", err)
		}
	}
}
