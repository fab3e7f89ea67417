package uringfs

// The fault matrix: io_uring_setup, io_uring_enter and io_uring_register
// each denied by a seccomp filter, with EPERM, EACCES and ENOSYS, the
// filter installed before the first use or after the rings are running.
// For each, in a child process (a filter cannot be removed), every entry
// point of the package, with and without Config.FallbackToOS, returns
// within a bound either a clear error (a *uring.SetupError naming the
// denied call, whose text names the cause and the fix) or works, through
// the fallback where opted in; the child's own TestMain then checks that
// no goroutine is left, and the test that no fd is.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

var faultCalls = []struct {
	name string
	nr   uint32
}{
	{"io_uring_setup", unix.SYS_IO_URING_SETUP},
	{"io_uring_enter", unix.SYS_IO_URING_ENTER},
	{"io_uring_register", unix.SYS_IO_URING_REGISTER},
}

func TestFaultMatrix(t *testing.T) {
	for _, call := range faultCalls {
		for _, when := range []string{"before", "after"} {
			for _, errno := range []syscall.Errno{syscall.EPERM, syscall.EACCES, syscall.ENOSYS} {
				t.Run(call.name+"/"+when+"/"+unix.ErrnoName(errno), func(t *testing.T) {
					if !inChild(t) {
						t.Parallel()
						runChildWith(t, "")
						return
					}
					faultChild(t, call.name, call.nr, when == "after", errno)
				})
			}
		}
	}
}

// faultChild is one cell of the matrix, in the child.
func faultChild(t *testing.T, call string, nr uint32, after bool, errno syscall.Errno) {
	dir := t.TempDir()
	data := []byte("fault matrix data\n")
	existing := filepath.Join(dir, "f")
	if err := os.WriteFile(existing, data, 0644); err != nil {
		t.Fatal(err)
	}
	var pre *File // a File on io_uring from before the filter
	if after {
		if _, err := reactor.Default(); err != nil {
			t.Fatal(err)
		}
		var err error
		if pre, err = Open(existing); err != nil {
			t.Fatal(err)
		}
		if _, err := pre.ReadAt(make([]byte, 4), 0); err != nil {
			t.Fatal(err)
		}
		if err := pre.ReadBatch([]Request{{Buf: make([]byte, 4)}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	testutil.CheckFDs(t)
	if err := testutil.DenySyscall(nr, errno); err != nil {
		t.Fatal(err)
	}

	// clear checks an error: a *uring.SetupError from the denied call
	// with the filter's errno, whose text says seccomp and what to
	// allow.
	clear := func(what string, err error) {
		t.Helper()
		var se *uring.SetupError
		switch {
		case errors.As(err, &se) && se.Errno == errno && (se.Syscall == call || se.Syscall == "" && call == "io_uring_setup"):
			for _, w := range []string{"seccomp", "allow io_uring_setup, io_uring_enter and io_uring_register"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %q does not say %q", what, err, w)
				}
			}
		default:
			t.Errorf("%s: %v (%T), want a *uring.SetupError from %s with %s", what, err, err, call, unix.ErrnoName(errno))
		}
	}
	// check runs one entry point: it must return (within hangBound),
	// with no error or a clear one; with mustWork, with no error.
	check := func(what string, mustWork bool, fn func() error) {
		t.Helper()
		err := testutil.Returns(t, what, fn)
		switch {
		case err == nil:
		case mustWork:
			t.Errorf("%s: %v, want it to work through the fallback", what, err)
		default:
			clear(what, err)
		}
	}

	if pre != nil {
		check("existing File.ReadAt", false, func() error { _, err := pre.ReadAt(make([]byte, 4), 0); return err })
		check("existing File.Stat", false, func() error { _, err := pre.Stat(); return err })
		check("existing File.ReadBatch", false, func() error { return pre.ReadBatch([]Request{{Buf: make([]byte, 4)}}, 0) })
		check("existing File.Close", false, pre.Close)
	}

	for _, c := range []Config{{}, {FallbackToOS: true}} {
		// Where a fallback is opted in, whatever does not need a ring
		// of its own must work: the executor is unusable (and the
		// fallback taken) or works.
		fb := c.FallbackToOS
		name := func(s string) string { return fmt.Sprintf("FallbackToOS=%v: %s", fb, s) }
		check(name("ReadFile"), fb, func() error {
			b, err := c.ReadFile(existing)
			if err == nil && string(b) != string(data) {
				return fmt.Errorf("read %q", b)
			}
			return err
		})
		out := filepath.Join(dir, fmt.Sprintf("out-%v", fb))
		check(name("WriteFile"), fb, func() error { return c.WriteFile(out, data, 0644) })
		check(name("Create+Write+Close"), fb, func() error {
			f, err := c.Create(out)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write(data)
			return err
		})
		check(name("Open+Read"), fb, func() error {
			f, err := c.Open(existing)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.ReadAll(f)
			return err
		})
		// Every method of a File that opened.
		f, err := c.OpenFile(out, os.O_RDWR, 0)
		if err != nil {
			if fb {
				t.Errorf("%s: %v", name("OpenFile"), err)
			} else {
				clear(name("OpenFile"), err)
			}
		} else {
			methods := []struct {
				name string
				fn   func() error
			}{
				{"ReadAt", func() error { _, err := f.ReadAt(make([]byte, 4), 0); return err }},
				{"WriteAt", func() error { _, err := f.WriteAt([]byte("x"), 1); return err }},
				{"Read", func() error { _, err := f.Read(make([]byte, 4)); return err }},
				{"Write", func() error { _, err := f.Write([]byte("y")); return err }},
				{"Seek", func() error { _, err := f.Seek(0, io.SeekStart); return err }},
				{"Stat", func() error { _, err := f.Stat(); return err }},
				{"Sync", f.Sync},
				{"Truncate", func() error { return f.Truncate(4) }},
				{"ReadFrom", func() error { _, err := f.ReadFrom(strings.NewReader("z")); return err }},
				{"WriteTo", func() error {
					if _, err := f.Seek(0, io.SeekStart); err != nil {
						return err
					}
					devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
					if err != nil {
						return err
					}
					defer devnull.Close()
					_, err = f.WriteTo(devnull)
					return err
				}},
				// Batches use a ring of their own, which may be what
				// the filter forbids: a clear error will do.
				{"ReadBatch", func() error { return f.ReadBatch([]Request{{Buf: make([]byte, 4)}}, 0) }},
				{"WriteBatch", func() error { return f.WriteBatch([]Request{{Buf: []byte("w")}}, 0) }},
				{"Close", f.Close},
			}
			for _, m := range methods {
				mustWork := fb && f.osf != nil && m.name != "ReadBatch" && m.name != "WriteBatch"
				check(name("File."+m.name), mustWork, m.fn)
			}
		}
		check(name("OpenFile(dir)+ReadDir"), fb, func() error {
			d, err := c.Open(dir)
			if err != nil {
				return err
			}
			defer d.Close()
			_, err = d.ReadDir(-1)
			return err
		})
		check(name("NewFile+Read+Close"), fb, func() error {
			fd, err := unix.Open(existing, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			nf := c.NewFile(uintptr(fd), "dup")
			defer nf.Close()
			_, err = nf.Read(make([]byte, 4))
			return err
		})
		check(name("FromOS+Stat+Close"), fb, func() error {
			osf, err := os.Open(existing)
			if err != nil {
				return err
			}
			defer osf.Close()
			ff, err := c.FromOS(osf)
			if err != nil {
				return err
			}
			defer ff.Close()
			_, err = ff.Stat()
			return err
		})
		check(name("DirFS ReadFile"), fb, func() error { _, err := fs.ReadFile(c.DirFS(dir), "f"); return err })
		check(name("DirFS Stat"), fb, func() error { _, err := fs.Stat(c.DirFS(dir), "f"); return err })
		check(name("Root"), fb, func() error {
			r, err := c.OpenRoot(dir)
			if err != nil {
				return err
			}
			defer r.Close()
			if _, err := r.ReadFile("f"); err != nil {
				return err
			}
			sub := fmt.Sprintf("sub-%v", fb)
			if err := r.Mkdir(sub, 0755); err != nil {
				return err
			}
			return r.Remove(sub)
		})
	}
	// A BufferPool is registered io_uring memory on a ring of its own:
	// it works, or fails clearly.
	check("NewBufferPool", false, func() error {
		p, err := NewBufferPool(64<<10, 4096)
		if err != nil {
			return err
		}
		defer p.Close()
		f, err := cfg.Open(existing)
		if err != nil {
			return err
		}
		defer f.Close()
		ch, err := p.Get()
		if err != nil {
			return err
		}
		defer p.Put(ch)
		_, err = p.ReadChunkAt(f, ch, WholeChunk, 0)
		if err == io.EOF {
			err = nil
		}
		return err
	})
}
