package uringfs

import (
	"bytes"
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

// spliceData writes a file of size bytes that are not all alike, opens
// it and moves its offset to skip.
func spliceData(t *testing.T, size, skip int) (*File, []byte) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7/3 + i>>16)
	}
	p := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Seek(int64(skip), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	return f, data
}

// checkOffset checks that WriteTo left the offset at the end.
func checkOffset(t *testing.T, f *File, want int) {
	t.Helper()
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != int64(want) {
		t.Fatalf("offset after WriteTo = %d, want %d", pos, want)
	}
}

// WriteTo an *os.File: into a pipe (spliced straight in, Go's pipes being
// non-blocking, so a full pipe is waited for), a regular file and
// /dev/null (through a private pipe), and an O_APPEND file, which takes
// no splice (the copy takes over, after the bytes already in the private
// pipe). Every byte arrives once, in order, from the offset on.
func TestWriteToSplice(t *testing.T) {
	testutil.CheckFDs(t)
	sizes := []int{0, 1, 4096, spliceChunk, 3*spliceChunk + 12345}
	for _, size := range sizes {
		skip := min(size, 7)

		t.Run("pipe", func(t *testing.T) {
			f, data := spliceData(t, size, skip)
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := make(chan []byte)
			go func() {
				b, _ := io.ReadAll(r)
				got <- b
			}()
			n, err := f.WriteTo(w)
			w.Close()
			b := <-got
			if err != nil || n != int64(size-skip) || !bytes.Equal(b, data[skip:]) {
				t.Fatalf("size %d: n=%d err=%v equal=%v (%d bytes)", size, n, err, bytes.Equal(b, data[skip:]), len(b))
			}
			checkOffset(t, f, size)
		})

		for _, tc := range []struct {
			name string
			flag int
		}{{"file", os.O_WRONLY | os.O_CREATE | os.O_TRUNC}, {"append", os.O_WRONLY | os.O_CREATE | os.O_TRUNC | os.O_APPEND}} {
			t.Run(tc.name, func(t *testing.T) {
				f, data := spliceData(t, size, skip)
				p := filepath.Join(t.TempDir(), "dst")
				dst, err := os.OpenFile(p, tc.flag, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				dst.Write([]byte("head"))
				n, err := f.WriteTo(dst)
				dst.Close()
				if err != nil || n != int64(size-skip) {
					t.Fatalf("size %d: n=%d err=%v", size, n, err)
				}
				b, _ := os.ReadFile(p)
				if !bytes.Equal(b, append([]byte("head"), data[skip:]...)) {
					t.Fatalf("size %d: the file holds other bytes (%d)", size, len(b))
				}
				checkOffset(t, f, size)
			})
		}

		t.Run("devnull", func(t *testing.T) {
			f, _ := spliceData(t, size, skip)
			null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer null.Close()
			n, err := f.WriteTo(null)
			if err != nil || n != int64(size-skip) {
				t.Fatalf("size %d: n=%d err=%v", size, n, err)
			}
			checkOffset(t, f, size)
		})
	}
}

// A reader that goes away is a write error, as os.File.Write reports it,
// not a read error of the file.
func TestWriteToSpliceBrokenPipe(t *testing.T) {
	testutil.CheckFDs(t)
	f, _ := spliceData(t, 4*spliceChunk, 0)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	go func() {
		io.CopyN(io.Discard, r, 1000)
		r.Close()
	}()
	_, err = f.WriteTo(w)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "write" || pe.Path != w.Name() || !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("WriteTo into a pipe whose reader left: %v, want a write *fs.PathError around EPIPE", err)
	}
}

// Close of a File whose WriteTo waits for room in a full pipe nobody
// reads ends that wait, as it ends the File's own operations: the wait
// names the pipe, which Close's cancel by descriptor does not reach.
// WriteTo then reports fs.ErrClosed.
func TestCloseDuringWriteToFullPipe(t *testing.T) {
	testutil.CheckFDs(t)
	f, _ := spliceData(t, 4<<20, 0)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	done := make(chan error, 1)
	go func() {
		_, err := f.WriteTo(w)
		done <- err
	}()
	// Wait until the pipe is full (FIONREAD, named TIOCINQ), so that
	// WriteTo is waiting on it.
	rc, err := r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for {
		var n int
		var ierr error
		rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
		if ierr != nil {
			t.Fatal(ierr)
		}
		if n >= 64<<10 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- f.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		r.Close() // let WriteTo and Close end, to report
		<-closed
		t.Fatal("Close waited for the reader of WriteTo's destination")
	}
	if err := <-done; !errors.Is(err, fs.ErrClosed) {
		t.Errorf("WriteTo after Close: %v, want fs.ErrClosed", err)
	}
}
