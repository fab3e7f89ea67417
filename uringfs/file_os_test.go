package uringfs

import (
	"errors"
	"fmt"
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

// fileOS is the part of *os.File's API that the os-surface tests drive on
// both.
type fileOS interface {
	Name() string
	Chmod(fs.FileMode) error
	Chown(int, int) error
	Chdir() error
	SyscallConn() (syscall.RawConn, error)
	Close() error
}

var (
	_ fileOS = (*os.File)(nil)
	_ fileOS = (*File)(nil)
)

// TestFileAttrsMatchOS runs Chmod, Chown and Chdir of an *os.File and a
// File side by side on the same kinds of files, open and closed, and
// compares the results, the trees and the working directory after.
func TestFileAttrsMatchOS(t *testing.T) {
	testutil.CheckFDs(t)
	t.Chdir(".") // restores the working directory after the test
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 1234, 5678
	}
	type step func(f fileOS, dir string) string
	chmod := func(m fs.FileMode) step {
		return func(f fileOS, dir string) string { return describePath(dir, "chmod", f.Chmod(m)) }
	}
	chown := func(u, g int) step {
		return func(f fileOS, dir string) string { return describePath(dir, "chown", f.Chown(u, g)) }
	}
	chdir := func(f fileOS, dir string) string {
		err := f.Chdir()
		now, _ := os.Getwd()
		s := describePath(dir, "chdir "+strings.ReplaceAll(now, dir, "$DIR"), err)
		os.Chdir(wd)
		return s
	}
	closeF := func(f fileOS, dir string) string { return describePath(dir, "close", f.Close()) }
	for _, tc := range []struct {
		name  string
		path  string
		flag  int
		steps []step
	}{
		{"file", "f", os.O_RDONLY, []step{chmod(0600), chmod(0755 | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), chown(-1, -1),
			chown(uid, -1), chown(-1, gid), chdir, closeF, chmod(0644), chown(-1, -1), chdir}},
		{"dir", "d", os.O_RDONLY, []step{chdir, chmod(0700), chown(uid, gid), closeF, chdir}},
		{"write only", "f", os.O_WRONLY, []step{chmod(0400), chown(-1, -1), chdir}},
		{"fifo", "p", os.O_RDWR, []step{chmod(0640), chdir}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2][]string
			for i, o := range openers {
				dir := t.TempDir()
				pathTree(t, dir)
				if err := unix.Mkfifo(filepath.Join(dir, "p"), 0600); err != nil {
					t.Fatal(err)
				}
				f, err := o.openFile(filepath.Join(dir, tc.path), tc.flag, 0)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range tc.steps {
					got[i] = append(got[i], s(f.(fileOS), dir))
				}
				f.Close()
				got[i] = append(got[i], strings.ReplaceAll(listTree(dir), dir, "$DIR"))
			}
			for j := range got[0] {
				if got[0][j] != got[1][j] {
					t.Errorf("step %d:\nos:      %s\nuringfs: %s", j, got[0][j], got[1][j])
				}
			}
		})
	}
	if now, _ := os.Getwd(); now != wd {
		t.Errorf("working directory %s, want %s", now, wd)
	}
	var nilf *File
	if err := nilf.Chmod(0); err != fs.ErrInvalid {
		t.Errorf("Chmod on a nil *File: %v", err)
	}
	if _, err := nilf.SyscallConn(); err != fs.ErrInvalid {
		t.Errorf("SyscallConn on a nil *File: %v", err)
	}
}

// TestSyscallConnMatchesOS drives the raw connection of an *os.File and a
// File side by side: Control sees the descriptor, Read and Write call
// their function again once the pipe is ready, honour the deadline, and
// fail on a regular file whose function asks to wait, as os does.
func TestSyscallConnMatchesOS(t *testing.T) {
	testutil.CheckFDs(t)
	pipes := [2]func(t *testing.T) (r, w fileOS){
		func(t *testing.T) (r, w fileOS) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			return pr, pw
		},
		func(t *testing.T) (r, w fileOS) {
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
		},
	}
	var got [2][]string
	for i, open := range pipes {
		dir := t.TempDir()
		add := func(what string, err error) { got[i] = append(got[i], what+": "+describeDeadline(dir, "", err)) }
		r, w := open(t)
		rc, err := r.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		wc, err := w.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var flags int
		add("control", rc.Control(func(fd uintptr) { flags, _ = unix.FcntlInt(fd, unix.F_GETFL, 0) }))
		got[i] = append(got[i], fmt.Sprintf("control saw O_RDONLY=%v", flags&unix.O_ACCMODE == unix.O_RDONLY))

		// A read that waits for a write from another goroutine.
		go func() {
			time.Sleep(10 * time.Millisecond)
			wc.Write(func(fd uintptr) bool {
				_, err := unix.Write(int(fd), []byte("hello"))
				return err != unix.EAGAIN
			})
		}()
		calls := 0
		var data string
		add("read", rc.Read(func(fd uintptr) bool {
			calls++
			b := make([]byte, 10)
			n, err := unix.Read(int(fd), b)
			if err == unix.EAGAIN {
				return false
			}
			data = string(b[:max(n, 0)])
			return true
		}))
		got[i] = append(got[i], fmt.Sprintf("read %q, called more than once: %v", data, calls > 1))

		// Past the deadline, the function is not called.
		r.(deadliner).SetReadDeadline(time.Now().Add(-time.Second))
		called := false
		add("read past deadline", rc.Read(func(uintptr) bool { called = true; return true }))
		got[i] = append(got[i], fmt.Sprintf("called %v", called))
		// A deadline that passes while waiting.
		r.(deadliner).SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		add("read until deadline", rc.Read(func(uintptr) bool { return false }))

		r.Close()
		w.Close()
		err = rc.Control(func(uintptr) {})
		got[i] = append(got[i], fmt.Sprintf("control after close fails: %v", err != nil))
		if i == 1 && !errors.Is(err, fs.ErrClosed) {
			t.Errorf("Control after Close: %v, want fs.ErrClosed", err)
		}
		err = rc.Read(func(uintptr) bool { return true })
		got[i] = append(got[i], fmt.Sprintf("read after close fails: %v", err != nil))

		// A regular file is never waited for.
		p := filepath.Join(dir, "f")
		os.WriteFile(p, []byte("x"), 0644)
		f, err := openers[i].openFile(p, os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fc, err := f.(fileOS).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		add("regular file read that waits", fc.Read(func(uintptr) bool { return false }))
		add("regular file write", fc.Write(func(uintptr) bool { return true }))
		f.Close()
	}
	for j := range got[0] {
		if got[0][j] != got[1][j] {
			t.Errorf("step %d:\nos:      %s\nuringfs: %s", j, got[0][j], got[1][j])
		}
	}
}
