package uringfs

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/uring-go/uring/executor"
	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// A read of a file with an offset that waits while it is the only
// operation on its ring is waited for in io_uring_enter by the reading
// goroutine (reactor.Executor.StartLocalFile), as a blocking pread(2)
// waits. These tests need such a read that waits until they let it end:
// an eventfd, which has no file type, so that uringfs takes it for a file
// with an offset as it takes a regular file (fileKind), and whose read
// waits until it is written. A regular file's read ends on its own, too
// soon to watch.

// eventfdFile returns a File on a new blocking eventfd, and the fd to
// write it through.
func eventfdFile(t *testing.T) (*File, int) {
	t.Helper()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFile(uintptr(efd), "eventfd")
	if f.fileKind() != kindOffset {
		t.Fatalf("an eventfd is kind %d to uringfs, not a file with an offset (%d): this test needs another file whose read waits", f.fileKind(), kindOffset)
	}
	return f, efd
}

// The read is woken from its waited enter by its own completion, and
// counted as waited, not parked.
func TestLoneReadWaitsInEnter(t *testing.T) {
	testutil.CheckFDs(t)
	f, efd := eventfdFile(t)
	defer f.Close()
	before := executor.ReadStats()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	buf := make([]byte, 8)
	go func() {
		n, err := f.Read(buf)
		done <- result{n, err}
	}()
	waitInStack(t, ").WaitFlushed(")
	if _, err := unix.Write(efd, binary.NativeEndian.AppendUint64(nil, 42)); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.n != 8 || binary.NativeEndian.Uint64(buf) != 42 {
		t.Fatalf("Read = %d, %v, %d; want 8, nil, 42", r.n, r.err, binary.NativeEndian.Uint64(buf))
	}
	if after := executor.ReadStats(); after.Waited == before.Waited {
		t.Errorf("no operation counted as waited in io_uring_enter: %+v", after)
	}
}

// Close of the File while its read waits in io_uring_enter returns, and
// the read fails with fs.ErrClosed.
func TestCloseEndsLoneWaitedRead(t *testing.T) {
	testutil.CheckFDs(t)
	f, _ := eventfdFile(t)
	done := make(chan error, 1)
	go func() {
		_, err := f.Read(make([]byte, 8))
		done <- err
	}()
	waitInStack(t, ").WaitFlushed(")
	if err := testutil.Returns(t, "File.Close", f.Close); err != nil {
		t.Errorf("File.Close: %v", err)
	}
	err := testutil.Returns(t, "Read", func() error { return <-done })
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrClosed) || !errors.As(err, &pe) {
		t.Fatalf("Read after Close: %v, want a *fs.PathError matching fs.ErrClosed", err)
	}
}

// A read waiting in io_uring_enter when a seccomp filter then denies
// io_uring_enter (as TestParkedOpEnterDenied does for a parked one):
// Close still returns. With io_uring_register allowed, the read is
// cancelled through it, fails with fs.ErrClosed, and consumed nothing;
// with register denied too, it returns an error that says it could not
// be cancelled.
func TestLoneWaitedReadEnterDenied(t *testing.T) {
	for _, reg := range []string{"register-allowed", "register-denied"} {
		t.Run(reg, func(t *testing.T) {
			if !inChild(t) {
				t.Parallel()
				runChildWith(t, "")
				return
			}
			if _, err := reactor.Default(); err != nil {
				t.Fatal(err)
			}
			testutil.CheckFDs(t)
			f, efd := eventfdFile(t)
			other, err := unix.Dup(efd)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(other)
			done := make(chan error, 1)
			go func() {
				_, err := f.Read(make([]byte, 8))
				done <- err
			}()
			waitInStack(t, ").WaitFlushed(")
			if err := testutil.DenySyscall(unix.SYS_IO_URING_ENTER, syscall.EPERM); err != nil {
				t.Fatal(err)
			}
			if reg == "register-denied" {
				if err := testutil.DenySyscall(unix.SYS_IO_URING_REGISTER, syscall.EPERM); err != nil {
					t.Fatal(err)
				}
			}
			if err := testutil.Returns(t, "Close", f.Close); err != nil {
				t.Errorf("Close: %v", err)
			}
			readErr := testutil.Returns(t, "the waiting Read", func() error { return <-done })
			if reg == "register-denied" {
				if readErr == nil || !strings.Contains(readErr.Error(), "could not be cancelled") {
					t.Fatalf("Read: %v, want an error saying it could not be cancelled", readErr)
				}
				return
			}
			if !errors.Is(readErr, fs.ErrClosed) {
				t.Fatalf("Read: %v, want an error matching fs.ErrClosed", readErr)
			}
			// The cancelled read consumed nothing: a count written now
			// is read back whole.
			if _, err := unix.Write(other, binary.NativeEndian.AppendUint64(nil, 7)); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 8)
			if n, err := unix.Read(other, b); err != nil || n != 8 || binary.NativeEndian.Uint64(b) != 7 {
				t.Errorf("after Close: read %d, %v, %d; want 8, nil, 7", n, err, binary.NativeEndian.Uint64(b))
			}
		})
	}
}
