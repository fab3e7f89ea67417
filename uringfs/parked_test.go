package uringfs

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// TestParkedOpEnterDenied parks a read of a pipe or FIFO (or a write to
// a full pipe) in the executor's ring, where it waits for ever, then
// denies io_uring_enter with a seccomp filter (as a profile applied to
// a running process does), and closes the File. The cancel request Close
// relies on can no longer be submitted; Close must still return, and
// the parked call with an error.
//
// With io_uring_register still allowed, the operation is cancelled
// through it (IORING_REGISTER_SYNC_CANCEL): the call returns an error
// matching fs.ErrClosed, and the kernel has not touched the pipe, so a
// byte written afterwards is still there for another reader (a write:
// the pipe holds exactly what filled it). With register denied as well
// nothing can stop the operation: the call returns an error that says
// so, names the denied call and keeps its buffer from reuse.
func TestParkedOpEnterDenied(t *testing.T) {
	for _, reg := range []string{"register-allowed", "register-denied"} {
		for _, kind := range []string{"fifo-read", "pipe-read", "pipe-write"} {
			for _, errno := range []syscall.Errno{syscall.EPERM, syscall.EACCES, syscall.ENOSYS} {
				t.Run(reg+"/"+kind+"/"+unix.ErrnoName(errno), func(t *testing.T) {
					if !inChild(t) {
						t.Parallel()
						runChildWith(t, "")
						return
					}
					parkedChild(t, kind, errno, reg == "register-denied")
				})
			}
		}
	}
}

func parkedChild(t *testing.T, kind string, errno syscall.Errno, denyRegister bool) {
	e, err := reactor.Default()
	if err != nil {
		t.Fatal(err)
	}
	testutil.CheckFDs(t)
	// f is the File under test; other is another fd on the same pipe:
	// the far end, and a second reader that finds what f's operation
	// left.
	var f *File
	var far, reader int
	switch kind {
	case "fifo-read":
		p := filepath.Join(t.TempDir(), "fifo")
		if err := unix.Mkfifo(p, 0600); err != nil {
			t.Fatal(err)
		}
		if f, err = OpenFile(p, os.O_RDWR, 0); err != nil {
			t.Fatal(err)
		}
		if far, err = unix.Open(p, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err != nil {
			t.Fatal(err)
		}
		reader = far
	default:
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		if kind == "pipe-read" {
			f, far = NewFile(uintptr(p[0]), "pipe"), p[1]
			if reader, err = unix.Dup(p[0]); err != nil {
				t.Fatal(err)
			}
			defer unix.Close(reader)
		} else {
			f, far, reader = NewFile(uintptr(p[1]), "pipe"), p[0], p[0]
		}
	}
	defer unix.Close(far)
	if err := unix.SetNonblock(reader, true); err != nil {
		t.Fatal(err)
	}
	filled := 0
	if kind == "pipe-write" {
		// Fill the pipe through a non-blocking duplicate of the write
		// end (O_NONBLOCK is per open file: the dup shares it, so it
		// is set and cleared around the fill).
		if err := unix.SetNonblock(f.fd, true); err != nil {
			t.Fatal(err)
		}
		chunk := bytes.Repeat([]byte{'f'}, 4096)
		for {
			n, err := unix.Write(f.fd, chunk)
			if err == unix.EAGAIN {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			filled += n
		}
		if err := unix.SetNonblock(f.fd, false); err != nil {
			t.Fatal(err)
		}
	}

	buf := make([]byte, 64)
	done := make(chan error, 1)
	go func() {
		var err error
		if kind == "pipe-write" {
			_, err = f.Write([]byte("w"))
		} else {
			_, err = f.Read(buf)
		}
		done <- err
	}()
	// Wait until the goroutine sleeps in Wait, then make sure its
	// operation is in the kernel: a no-op on every shard, whose enter
	// submits whatever was published on that ring before it (another
	// goroutine's enter may have been about to).
	for start := time.Now(); e.Stats().ParkedNow == 0; time.Sleep(time.Millisecond) {
		if time.Since(start) > hangBound {
			t.Fatal("the operation never parked")
		}
	}
	for key := range e.Stats().Shards {
		if _, err := e.Do(context.Background(), key, time.Time{}, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.Noop(o) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := testutil.DenySyscall(unix.SYS_IO_URING_ENTER, errno); err != nil {
		t.Fatal(err)
	}
	if denyRegister {
		if err := testutil.DenySyscall(unix.SYS_IO_URING_REGISTER, errno); err != nil {
			t.Fatal(err)
		}
	}
	if err := testutil.Returns(t, "Close", f.Close); err != nil {
		t.Errorf("Close: %v", err)
	}
	opErr := testutil.Returns(t, "the parked call", func() error { return <-done })

	if denyRegister {
		// Nothing could stop it: the error says so and names the cause.
		if opErr == nil {
			t.Fatal("the parked call succeeded")
		}
		for _, w := range []string{"could not be cancelled", "io_uring_register", "io_uring_enter", "seccomp"} {
			if !strings.Contains(opErr.Error(), w) {
				t.Errorf("parked call: %q does not say %q", opErr, w)
			}
		}
		if !reactor.Unavailable(opErr) {
			t.Errorf("parked call: %v: reactor.Unavailable says no", opErr)
		}
		return
	}
	if !errors.Is(opErr, fs.ErrClosed) {
		t.Errorf("parked call: %v, want an error matching fs.ErrClosed", opErr)
	}
	// The kernel did nothing for the cancelled operation.
	if kind == "pipe-write" {
		got := 0
		b := make([]byte, 4096)
		for {
			n, err := unix.Read(reader, b)
			if err == unix.EAGAIN || n == 0 && err == nil {
				break // empty (end of file: f's Close closed the write end)
			}
			if err != nil {
				t.Fatal(err)
			}
			if bytes.IndexByte(b[:n], 'w') >= 0 {
				t.Error("the cancelled write wrote into the pipe")
			}
			got += n
		}
		if got != filled {
			t.Errorf("read %d bytes back, the fill was %d", got, filled)
		}
		return
	}
	if _, err := unix.Write(far, []byte("z")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	if n, err := unix.Read(reader, b); err != nil || string(b[:n]) != "z" {
		t.Errorf("a byte written after Close: read %q, %v; want \"z\" (the cancelled read consumed it)", b[:n], err)
	}
}
