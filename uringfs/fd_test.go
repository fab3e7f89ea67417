package uringfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

func nonblocking(t *testing.T, fd uintptr) bool {
	t.Helper()
	fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.O_NONBLOCK != 0
}

// readAfter writes msg to w after a moment and checks that a Read on r,
// started before, returns it: a Read that waits works in r's mode.
func readAfter(t *testing.T, r *File, w *os.File, msg string) {
	t.Helper()
	go func() {
		time.Sleep(20 * time.Millisecond)
		w.Write([]byte(msg))
	}()
	b := make([]byte, len(msg))
	if _, err := io.ReadFull(r, b); err != nil || string(b) != msg {
		t.Fatalf("Read = %q, %v; want %q", b, err, msg)
	}
}

// TestFdKeepsMode: Fd returns the descriptor in the mode the caller chose,
// and the File keeps working in whatever mode the caller then sets.
func TestFdKeepsMode(t *testing.T) {
	testutil.CheckFDs(t)

	t.Run("non-blocking pipe", func(t *testing.T) {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		w := os.NewFile(uintptr(p[1]), "w")
		defer w.Close()
		r := cfg.NewFile(uintptr(p[0]), "r")
		if fd := r.Fd(); fd != uintptr(p[0]) || !nonblocking(t, fd) {
			t.Fatalf("Fd() = %d (non-blocking %v), want %d still non-blocking", fd, nonblocking(t, fd), p[0])
		}
		readAfter(t, r, w, "after Fd")
		// Close still wakes a Read waiting on it.
		done := make(chan error, 1)
		go func() {
			_, err := r.Read(make([]byte, 1))
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		r.Close()
		if err := <-done; !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("Read waiting during Close: %v, want fs.ErrClosed", err)
		}
	})

	t.Run("blocking pipe, then non-blocking, then blocking", func(t *testing.T) {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		w := os.NewFile(uintptr(p[1]), "w")
		defer w.Close()
		r := cfg.NewFile(uintptr(p[0]), "r")
		defer r.Close()
		fd := r.Fd()
		if nonblocking(t, fd) {
			t.Fatal("Fd made a blocking pipe non-blocking")
		}
		// The caller makes it non-blocking: a Read with nothing to read
		// waits (EAGAIN, then a poll) instead of failing.
		if err := unix.SetNonblock(int(fd), true); err != nil {
			t.Fatal(err)
		}
		if cfg.FallbackToOS {
			// Package os polls only a descriptor that was
			// non-blocking when it was wrapped; for this one it
			// reports EAGAIN, as an *os.File does.
			if _, err := r.Read(make([]byte, 1)); !errors.Is(err, syscall.EAGAIN) {
				t.Fatalf("on package os, Read of an empty pipe made non-blocking later: %v, want EAGAIN", err)
			}
			w.Write([]byte("now non-blocking"))
			b := make([]byte, len("now non-blocking"))
			if _, err := io.ReadFull(r, b); err != nil || string(b) != "now non-blocking" {
				t.Fatalf("Read = %q, %v", b, err)
			}
		} else {
			readAfter(t, r, w, "now non-blocking")
		}
		if !nonblocking(t, r.Fd()) {
			t.Fatal("Fd cleared O_NONBLOCK the caller set")
		}
		// And back: with the bytes already there the read completes at
		// once (a blocking pipe read that has to wait would go to an
		// io-wq thread on Linux 6.1).
		if err := unix.SetNonblock(int(fd), false); err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("blocking again"))
		b := make([]byte, len("blocking again"))
		if _, err := io.ReadFull(r, b); err != nil || string(b) != "blocking again" {
			t.Fatalf("Read in blocking mode = %q, %v", b, err)
		}
	})

	t.Run("FromOS keeps the os.File's deadlines", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		f, err := cfg.FromOS(r)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		f.Fd()
		// The duplicate shares the open file description, O_NONBLOCK
		// included: had Fd cleared it, as os.File.Fd would, this read
		// would block instead of timing out.
		r.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		// A blocked read(2) ignores the deadline; a byte ends it.
		unblock := time.AfterFunc(2*time.Second, func() { w.Write([]byte("x")) })
		defer unblock.Stop()
		if _, err := r.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the os.File's Read after File.Fd: %v, want its deadline", err)
		}
	})

	t.Run("FIFO opened by OpenFile", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "fifo")
		if err := unix.Mkfifo(p, 0600); err != nil {
			t.Fatal(err)
		}
		// O_RDWR: open does not wait for a peer.
		f, err := cfg.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if nonblocking(t, f.Fd()) {
			t.Fatal("Fd of a FIFO opened without O_NONBLOCK is non-blocking")
		}
		if _, err := f.Write([]byte("fifo")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4)
		if _, err := io.ReadFull(f, b); err != nil || string(b) != "fifo" {
			t.Fatalf("Read after Fd = %q, %v", b, err)
		}
	})

	t.Run("regular file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "f")
		os.WriteFile(p, []byte("regular"), 0644)
		f, err := cfg.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 7)
		if n, err := syscall.Pread(int(f.Fd()), b, 0); n != 7 || err != nil || string(b) != "regular" {
			t.Fatalf("pread on Fd() = %d, %v", n, err)
		}
		f.Close()
		if f.Fd() != ^uintptr(0) {
			t.Fatal("Fd after Close is not ^uintptr(0)")
		}
	})
}
