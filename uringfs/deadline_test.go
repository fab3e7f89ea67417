package uringfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// deadliner is what *os.File and *File share for the deadline scripts.
type deadliner interface {
	io.Reader
	io.Writer
	io.Closer
	SetDeadline(time.Time) error
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

var (
	_ deadliner = (*os.File)(nil)
	_ deadliner = (*File)(nil)
)

// describeDeadline is describe plus whether err is a timeout.
func describeDeadline(dir string, v any, err error) string {
	s := describe(dir, v, err)
	if err != nil {
		s += fmt.Sprintf(" deadline=%v nodeadline=%v", errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, os.ErrNoDeadline))
	}
	return s
}

// deadlineScript drives a reader and a writer (the same file for a FIFO
// opened read-write) through deadlines in the past, the future and none,
// set before and while a Read or Write waits, and describes each step.
func deadlineScript(t *testing.T, dir string, r, w deadliner) []string {
	var out []string
	add := func(what string, v any, err error) {
		out = append(out, what+": "+describeDeadline(dir, v, err))
	}
	read := func(n int) (string, error) {
		b := make([]byte, n)
		m, err := r.Read(b)
		return fmt.Sprintf("read %d %q", m, b[:m]), err
	}
	past := time.Now().Add(-time.Second)
	soon := func() time.Time { return time.Now().Add(20 * time.Millisecond) }

	add("set past", nil, r.SetReadDeadline(past))
	v, err := read(10)
	add("read past", v, err)
	_, err = w.Write([]byte("ab"))
	add("write", nil, err)
	v, err = read(10)
	add("read past with data", v, err)
	add("clear", nil, r.SetReadDeadline(time.Time{}))
	v, err = read(10)
	add("read cleared", v, err)
	add("set soon", nil, r.SetReadDeadline(soon()))
	v, err = read(10)
	add("read soon, nothing to read", v, err)

	// A Read already waiting: a deadline in the past wakes it.
	add("clear", nil, r.SetReadDeadline(time.Time{}))
	done := make(chan string)
	go func() {
		v, err := read(10)
		done <- describeDeadline(dir, v, err)
	}()
	time.Sleep(10 * time.Millisecond) // let it wait; if not, it fails the same way at once
	add("set past while waiting", nil, r.SetReadDeadline(past))
	out = append(out, "waiting read: "+<-done)

	// A Read already waiting under a far deadline: clearing it does not
	// fail the Read, which then gets what is written.
	add("set far", nil, r.SetReadDeadline(time.Now().Add(time.Hour)))
	go func() {
		v, err := read(10)
		done <- describeDeadline(dir, v, err)
	}()
	time.Sleep(10 * time.Millisecond)
	add("clear while waiting", nil, r.SetDeadline(time.Time{}))
	_, err = w.Write([]byte("z"))
	add("write", nil, err)
	out = append(out, "waiting read: "+<-done)

	// A Write that fills the pipe times out having written part (or,
	// if the deadline passes first, nothing), and says how much: the
	// reader gets exactly that, nothing more.
	add("set write soon", nil, w.SetWriteDeadline(soon()))
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	n, err := w.Write(big)
	add("write big", n < len(big), err)
	add("clear write", nil, w.SetWriteDeadline(time.Time{}))
	got := make([]byte, n)
	_, err = io.ReadFull(r, got)
	add("read back what was written", bytes.Equal(got, big[:n]), err)
	add("set soon", nil, r.SetReadDeadline(soon()))
	v, err = read(1)
	add("read, nothing more", v, err)
	return out
}

// TestDeadlinesMatchOS runs the deadline script on pipes and FIFOs from
// os and from uringfs and checks that they behave alike: a deadline wakes
// a waiting Read or Write with os.ErrDeadlineExceeded, and the file stays
// usable with nothing lost. uringfs's pipe is non-blocking (FromOS of an
// os.Pipe, as os makes it) or blocking (NewFile of pipe2), its FIFO
// blocking (OpenFile); os's are non-blocking, in its poller.
func TestDeadlinesMatchOS(t *testing.T) {
	testutil.CheckFDs(t)
	osPipe := func(t *testing.T, dir string) (r, w deadliner) {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		return pr, pw
	}
	fromOSPipe := func(t *testing.T, dir string) (r, w deadliner) {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		defer pw.Close()
		fr, err := cfg.FromOS(pr)
		if err != nil {
			t.Fatal(err)
		}
		fw, err := cfg.FromOS(pw)
		if err != nil {
			t.Fatal(err)
		}
		return fr, fw
	}
	blockingPipe := func(t *testing.T, dir string) (r, w deadliner) {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		return cfg.NewFile(uintptr(p[0]), "|0"), cfg.NewFile(uintptr(p[1]), "|1")
	}
	fifo := func(open func(string, int, fs.FileMode) (deadliner, error)) func(t *testing.T, dir string) (r, w deadliner) {
		return func(t *testing.T, dir string) (r, w deadliner) {
			p := filepath.Join(dir, "fifo")
			if err := unix.Mkfifo(p, 0600); err != nil {
				t.Fatal(err)
			}
			// Read-write, so the open does not wait for a writer; the
			// writer apart, since a File serialises Read and Write.
			r, err := open(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			w, err = open(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			return r, w
		}
	}
	osOpen := func(name string, flag int, perm fs.FileMode) (deadliner, error) { return os.OpenFile(name, flag, perm) }
	ourOpen := func(name string, flag int, perm fs.FileMode) (deadliner, error) {
		return cfg.OpenFile(name, flag, perm)
	}
	for _, tc := range []struct {
		name     string
		os, ours func(t *testing.T, dir string) (r, w deadliner)
	}{
		{"pipe", osPipe, fromOSPipe},
		{"blocking pipe", osPipe, blockingPipe},
		{"fifo", fifo(osOpen), fifo(ourOpen)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "blocking pipe" && cfg.FallbackToOS {
				t.Skip("on package os, as with an *os.File, a descriptor that was blocking when wrapped takes no deadline")
			}
			var got [2][]string
			for i, open := range []func(t *testing.T, dir string) (r, w deadliner){tc.os, tc.ours} {
				dir := t.TempDir()
				r, w := open(t, dir)
				got[i] = deadlineScript(t, dir, r, w)
				r.Close()
				if w != r {
					w.Close()
				}
			}
			if len(got[0]) != len(got[1]) {
				t.Fatalf("os did %d steps, uringfs %d:\nos:      %q\nuringfs: %q", len(got[0]), len(got[1]), got[0], got[1])
			}
			for i := range got[0] {
				if got[0][i] != got[1][i] {
					t.Errorf("step %d:\nos:      %s\nuringfs: %s", i, got[0][i], got[1][i])
				}
			}
		})
	}
}

// TestDeadlineUnsupported: regular files and directories take no
// deadline, as with os: os.ErrNoDeadline. After Close, a deadline cannot
// be set.
func TestDeadlineUnsupported(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("data"), 0644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{p, dir} {
		of, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := cfg.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, set := range []struct {
			name     string
			os, ours func(time.Time) error
		}{
			{"SetDeadline", of.SetDeadline, f.SetDeadline},
			{"SetReadDeadline", of.SetReadDeadline, f.SetReadDeadline},
			{"SetWriteDeadline", of.SetWriteDeadline, f.SetWriteDeadline},
		} {
			want := describeDeadline(dir, "", set.os(time.Now()))
			if got := describeDeadline(dir, "", set.ours(time.Now())); got != want {
				t.Errorf("%s on %s: %s, os: %s", set.name, name, got, want)
			}
		}
		// Reading still works, the deadline having been refused.
		if b := make([]byte, 1); name == p {
			if _, err := f.Read(b); err != nil {
				t.Errorf("Read after a refused deadline: %v", err)
			}
		}
		of.Close()
		f.Close()
		if err := f.SetDeadline(time.Now()); !errors.Is(err, fs.ErrClosed) {
			t.Errorf("SetDeadline after Close: %v, want fs.ErrClosed", err)
		}
		if err := of.SetDeadline(time.Now()); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("os: SetDeadline after Close: %v", err)
		}
	}
}

// TestDeadlineThenClose: Close wakes a Read waiting under a deadline with
// fs.ErrClosed, not a timeout.
func TestDeadlineThenClose(t *testing.T) {
	testutil.CheckFDs(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	r, err := cfg.FromOS(pr)
	pr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := r.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, fs.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read waiting when Close came: %v, want fs.ErrClosed", err)
	}
}
