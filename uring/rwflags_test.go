package uring

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRWFlagsPerOp checks that each single-buffer read and write method
// with flags (the Go form of OCaml's ?flags) hands its flags to the kernel:
// a write with RWFAppend lands at the end of the file whatever its offset,
// a read with RWFNowait of an empty blocking pipe fails with EAGAIN
// instead of waiting, and a bit no kernel defines gives EOPNOTSUPP. Were
// the flags dropped, the write would land at its offset, the read would
// wait, and the bad bit would succeed.
func TestRWFlagsPerOp(t *testing.T) {
	const bogus = RWFlags(1 << 30)
	reg := mmapRegion(t, 2*4096, 4096)
	r := newRing[int](t, 4)
	must := runner(t, r)
	if err := r.SetFixedBuffer(reg.Buffer()); err != nil {
		t.Fatal(err)
	}
	chunk, err := reg.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	fixed := r.FixedBuffer()
	off := chunk.Offset()

	writes := []struct {
		name  string
		write func(fd int, p string, flags RWFlags) (Job, error)
	}{
		{"WriteFlags", func(fd int, p string, flags RWFlags) (Job, error) {
			return r.WriteFlags(fd, []byte(p), 0, flags, 0)
		}},
		{"WriteFixedFlags", func(fd int, p string, flags RWFlags) (Job, error) {
			copy(fixed[off:], p)
			return r.WriteFixedFlags(fd, 0, off, len(p), flags, 0)
		}},
		{"WriteChunkFlags", func(fd int, p string, flags RWFlags) (Job, error) {
			copy(reg.Bytes(chunk), p)
			return r.WriteChunkFlags(fd, 0, chunk, len(p), flags, 0)
		}},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(name, []byte("head"), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(name, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fd := int(f.Fd())
			if n := ok(t, must(w.write(fd, "tail", RWFAppend|RWFDsync)), "append"); n != 4 {
				t.Fatalf("append = %d, want 4", n)
			}
			if got, _ := os.ReadFile(name); string(got) != "headtail" {
				t.Errorf("file after a write at 0 with RWFAppend = %q, want %q", got, "headtail")
			}
			if c := must(w.write(fd, "x", bogus)); !errors.Is(c.Err(), syscall.EOPNOTSUPP) {
				t.Errorf("write with an undefined flag = %v, want EOPNOTSUPP", c.Err())
			}
		})
	}

	reads := []struct {
		name string
		read func(fd int, flags RWFlags) (Job, error)
	}{
		{"ReadFlags", func(fd int, flags RWFlags) (Job, error) {
			return r.ReadFlags(fd, make([]byte, 8), CurrentPosition, flags, 0)
		}},
		{"ReadFixedFlags", func(fd int, flags RWFlags) (Job, error) {
			return r.ReadFixedFlags(fd, CurrentPosition, off, 8, flags, 0)
		}},
		{"ReadChunkFlags", func(fd int, flags RWFlags) (Job, error) {
			return r.ReadChunkFlags(fd, CurrentPosition, chunk, 8, flags, 0)
		}},
	}
	for _, rd := range reads {
		t.Run(rd.name, func(t *testing.T) {
			rfd, wfd := pipe(t) // blocking: only the flag keeps the read from waiting
			// Without the flag this read would wait. Older kernels (6.1
			// among them) refuse RWF_NOWAIT on a pipe with EOPNOTSUPP,
			// which shows as well that the flag reached the kernel.
			withData := RWFNowait
			switch c := must(rd.read(rfd, RWFNowait)); {
			case errors.Is(c.Err(), syscall.EAGAIN):
			case errors.Is(c.Err(), syscall.EOPNOTSUPP):
				withData = 0
			default:
				t.Errorf("read of an empty pipe with RWFNowait = %d (%v), want EAGAIN (or EOPNOTSUPP from a kernel whose pipes refuse the flag)", c.Result, c.Err())
			}
			if c := must(rd.read(rfd, bogus)); !errors.Is(c.Err(), syscall.EOPNOTSUPP) {
				t.Errorf("read with an undefined flag = %v, want EOPNOTSUPP", c.Err())
			}
			unix.Write(wfd, []byte("ready"))
			if n := ok(t, must(rd.read(rfd, withData)), "read with data"); n != 5 {
				t.Errorf("read of 5 waiting bytes with RWFNowait = %d", n)
			}
		})
	}
}

// TestRWFNoAppend writes with RWFNoAppend at offset 0 of a file opened
// O_APPEND: the bytes land at 0, not at the end (Linux 6.9).
func TestRWFNoAppend(t *testing.T) {
	r := newRing[int](t, 4)
	must := runner(t, r)
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, []byte("0123"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := must(r.WriteFlags(int(f.Fd()), []byte("ab"), 0, RWFNoAppend, 0))
	if errors.Is(c.Err(), syscall.EOPNOTSUPP) || errors.Is(c.Err(), syscall.EINVAL) {
		t.Skipf("RWF_NOAPPEND: %v (Linux 6.9 added it)", c.Err())
	}
	ok(t, c, "write with RWFNoAppend")
	if got, _ := os.ReadFile(name); string(got) != "ab23" {
		t.Errorf("file after RWFNoAppend write at 0 = %q, want %q", got, "ab23")
	}
}

// TestRWFDontcache writes and reads back with RWFDontcache (Linux 6.14),
// which file systems without uncached buffered I/O refuse with
// EOPNOTSUPP: the test then skips, naming the file system's answer.
func TestRWFDontcache(t *testing.T) {
	r := newRing[int](t, 4)
	must := runner(t, r)
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := must(r.WriteFlags(int(f.Fd()), []byte("uncached"), 0, RWFDontcache, 0))
	if errors.Is(c.Err(), syscall.EOPNOTSUPP) {
		t.Skipf("RWF_DONTCACHE on %s: %v (Linux 6.14 and a file system that supports it)", filepath.Dir(f.Name()), c.Err())
	}
	if n := ok(t, c, "write with RWFDontcache"); n != 8 {
		t.Fatalf("write = %d", n)
	}
	buf := make([]byte, 8)
	if n := ok(t, must(r.ReadFlags(int(f.Fd()), buf, 0, RWFDontcache, 0)), "read with RWFDontcache"); n != 8 || string(buf) != "uncached" {
		t.Errorf("read back %d %q", n, buf)
	}
}
