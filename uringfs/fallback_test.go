package uringfs

// Tests with io_uring blocked for real, by a seccomp filter like a
// container profile's, in a child process that re-executes the test binary
// (a filter cannot be removed): without the opt-in every entry point fails
// with the setup error and names the opt-in; with Config.FallbackToOS the
// package's own tests run again, on package os.

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// childEnv names the test a re-executed test binary runs as a child, with
// io_uring blocked; its value is the full test name.
const childEnv = "URINGFS_TEST_CHILD"

// inChild reports whether this process is the child started for t.
func inChild(t *testing.T) bool { return os.Getenv(childEnv) == t.Name() }

// blockIOUring makes io_uring_setup fail with errno for the rest of the
// (child) process, and checks that the executor is then unavailable.
func blockIOUring(t *testing.T, errno syscall.Errno) {
	t.Helper()
	if err := testutil.DenySyscall(unix.SYS_IO_URING_SETUP, errno); err != nil {
		t.Fatal(err)
	}
	_, err := reactor.Default()
	if !reactor.Unavailable(err) {
		t.Fatalf("with io_uring_setup denied, reactor.Default() = %v, want an unavailable error", err)
	}
	t.Logf("io_uring blocked: %v", err)
}

// runChild re-executes the test binary to run test t alone with childEnv
// set, and fails t unless the child passed every subtest in want and
// reported io_uring blocked.
func runChild(t *testing.T, want ...string) {
	t.Helper()
	runChildWith(t, "io_uring blocked: ", want...)
}

// runChildWith is runChild with the line the child must print (none if
// mark is empty).
func runChildWith(t *testing.T, mark string, want ...string) {
	t.Helper()
	if !testutil.SeccompSupported() {
		t.Skipf("the seccomp test filter is written for amd64 only, not %s", runtime.GOARCH)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+testutil.RunPattern(t.Name()), "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", t.Name(), err, out)
	}
	for _, w := range append([]string{t.Name()}, want...) {
		if !strings.Contains(string(out), "--- PASS: "+w+" ") {
			t.Errorf("child did not pass %s:\n%s", w, out)
		}
	}
	if !strings.Contains(string(out), mark) {
		t.Errorf("child did not print %q:\n%s", mark, out)
	}
}

// TestUnavailableWithoutFallback: with io_uring blocked and no opt-in,
// every way in fails with a *fs.PathError wrapping the *uring.SetupError,
// whose text says what to do and names the opt-in; nothing is done behind
// the caller's back through package os.
func TestUnavailableWithoutFallback(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EPERM, syscall.ENOSYS} {
		t.Run(unix.ErrnoName(errno), func(t *testing.T) {
			if !inChild(t) {
				runChild(t)
				return
			}
			blockIOUring(t, errno)
			dir := t.TempDir()
			existing := filepath.Join(dir, "f")
			if err := os.WriteFile(existing, []byte("data"), 0644); err != nil {
				t.Fatal(err)
			}
			check := func(what, op, path string, err error) {
				t.Helper()
				var pe *fs.PathError
				var se *uring.SetupError
				switch {
				case !errors.As(err, &pe):
					t.Errorf("%s: %v (%T), want a *fs.PathError", what, err, err)
				case pe.Op != op || pe.Path != path:
					t.Errorf("%s: PathError{Op: %q, Path: %q}, want %q, %q", what, pe.Op, pe.Path, op, path)
				case !errors.As(err, &se) || se.Errno != errno || !errors.Is(err, errno):
					t.Errorf("%s: %v does not wrap a *uring.SetupError with %s", what, err, unix.ErrnoName(errno))
				case !strings.Contains(err.Error(), "Config.FallbackToOS"):
					t.Errorf("%s: %q does not name the opt-in", what, err)
				case !strings.Contains(err.Error(), se.Error()):
					t.Errorf("%s: %q drops the setup error's advice %q", what, err, se.Error())
				}
			}
			_, err := Open(existing)
			check("Open", "open", existing, err)
			_, err = ReadFile(existing)
			check("ReadFile", "open", existing, err)
			created := filepath.Join(dir, "new")
			_, err = Create(created)
			check("Create", "open", created, err)
			err = WriteFile(created, []byte("x"), 0644)
			check("WriteFile", "open", created, err)
			if _, err := os.Lstat(created); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a failed Create or WriteFile made the file: %v", err)
			}
			_, err = DirFS(dir).Open("f")
			check("DirFS.Open", "open", "f", err)
			_, err = fs.ReadFile(DirFS(dir), "f")
			check("DirFS.ReadFile", "readfile", "f", err)
			_, err = OpenRoot(dir)
			check("OpenRoot", "open", dir, err)

			// NewFile cannot fail; its File's methods do, and Close still
			// closes the descriptor.
			of, err := os.Open(existing)
			if err != nil {
				t.Fatal(err)
			}
			fd, err := unix.Dup(int(of.Fd()))
			of.Close()
			if err != nil {
				t.Fatal(err)
			}
			f := NewFile(uintptr(fd), "dup")
			_, err = f.Read(make([]byte, 1))
			check("NewFile.Read", "read", "dup", err)
			_, err = f.Stat()
			check("NewFile.Stat", "stat", "dup", err)
			if err := f.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
				t.Errorf("fd %d after Close: %v, want EBADF", fd, err)
			}
		})
	}
}

// TestFallbackToOS runs the package's tests again in a child process where
// io_uring is blocked, with Config.FallbackToOS: files, DirFS and Root on
// package os must pass what they pass on io_uring.
func TestFallbackToOS(t *testing.T) {
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Conformance", TestConformance},
		{"ReadFileWriteFile", TestReadFileWriteFile},
		{"WriteToReadFrom", TestWriteToReadFrom},
		{"ReadFrom", TestReadFrom},
		{"ReadFromFallsBack", TestReadFromFallsBack},
		{"ReadFromPipe", TestReadFromPipe},
		{"ReadFromPipeClose", TestReadFromPipeClose},
		{"NewFile", TestNewFile},
		{"NonblockingPipe", TestNonblockingPipe},
		{"ConcurrentReadAtWriteAt", TestConcurrentReadAtWriteAt},
		{"ConcurrentReadWriteOffset", TestConcurrentReadWriteOffset},
		{"CloseRacesReadAt", TestCloseRacesReadAt},
		{"CloseWakesBlockedRead", TestCloseWakesBlockedRead},
		{"ReadBatch", TestReadBatch},
		{"DirFSConformance", TestDirFSConformance},
		{"DirFSRefusesEscapes", TestDirFSRefusesEscapes},
		{"RootMatchesOS", TestRootMatchesOS},
		{"Root", TestRoot},
		{"RootMagicLinks", TestRootMagicLinks},
		{"RootRemoveAllDeep", TestRootRemoveAllDeep},
		{"RootSymlinkChains", TestRootSymlinkChains},
		{"RootChangesAttributes", TestRootChangesAttributes},
		{"RootConcurrentTrees", TestRootConcurrentTrees},
		{"FdKeepsMode", TestFdKeepsMode},
	}
	if !inChild(t) {
		var want []string
		for _, tt := range tests {
			want = append(want, t.Name()+"/"+tt.name)
		}
		runChild(t, want...)
		return
	}
	blockIOUring(t, syscall.EPERM)
	cfg = Config{FallbackToOS: true}
	f, err := cfg.Open(".")
	if err != nil {
		t.Fatal(err)
	}
	if f.osf == nil || f.exec != nil {
		t.Fatal("a File opened with io_uring blocked is not backed by package os")
	}
	f.Close()
	for _, tt := range tests {
		t.Run(tt.name, tt.fn)
	}
}

// TestFallbackOnlyWhenUnavailable: where io_uring works, the opt-in
// changes nothing: files still run on it.
func TestFallbackOnlyWhenUnavailable(t *testing.T) {
	testutil.CheckFDs(t)
	c := Config{FallbackToOS: true}
	f, err := c.Open(".")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.exec == nil || f.osf != nil {
		t.Fatal("Config{FallbackToOS: true} fell back to package os with io_uring available")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	g, err := c.FromOS(r)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.exec == nil || g.osf != nil {
		t.Fatal("Config.FromOS fell back to package os with io_uring available")
	}
}

// BenchmarkFallbackReadAt measures what a File on package os costs over
// the *os.File it wraps: 4 KiB ReadAt of a page-cached file from one
// goroutine, for an *os.File, a File on package os (as
// Config.FallbackToOS gives where io_uring is blocked) and a File on
// io_uring.
func BenchmarkFallbackReadAt(b *testing.B) {
	p := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(p, make([]byte, 1<<20), 0644); err != nil {
		b.Fatal(err)
	}
	open := map[string]func() (interface {
		ReadAt([]byte, int64) (int, error)
		Close() error
	}, error){
		"os": func() (interface {
			ReadAt([]byte, int64) (int, error)
			Close() error
		}, error) {
			return os.Open(p)
		},
		"fallback": func() (interface {
			ReadAt([]byte, int64) (int, error)
			Close() error
		}, error) {
			osf, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			return newOSFile(osf, p, false), nil
		},
		"uring": func() (interface {
			ReadAt([]byte, int64) (int, error)
			Close() error
		}, error) {
			return Open(p)
		},
	}
	for _, impl := range []string{"os", "fallback", "uring"} {
		b.Run(impl, func(b *testing.B) {
			f, err := open[impl]()
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, 4096)
			b.SetBytes(4096)
			b.ReportAllocs()
			c0 := cpuTime()
			for i := range b.N {
				if _, err := f.ReadAt(buf, int64(i%256)*4096); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
}
