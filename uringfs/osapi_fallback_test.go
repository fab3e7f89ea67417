package uringfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/uring-go/uring/uring"
)

// TestOSAPIFallbackToOS runs the os-surface tests again in a child process
// where io_uring is blocked, with Config.FallbackToOS, as
// TestFallbackToOS does for the rest of the package.
func TestOSAPIFallbackToOS(t *testing.T) {
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"PathFuncsMatchOS", TestPathFuncsMatchOS},
		{"TempMatchesOS", TestTempMatchesOS},
		{"DeadlinesMatchOS", TestDeadlinesMatchOS},
		{"DeadlineUnsupported", TestDeadlineUnsupported},
		{"DeadlineThenClose", TestDeadlineThenClose},
		{"FileAttrsMatchOS", TestFileAttrsMatchOS},
		{"SyscallConnMatchesOS", TestSyscallConnMatchesOS},
		{"ReadWriteSameFIFO", TestReadWriteSameFIFO},
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
	for _, tt := range tests {
		t.Run(tt.name, tt.fn)
	}
}

// TestOSAPIUnavailableWithoutFallback: with io_uring blocked and no
// opt-in, every package path function fails with the setup error, in os's
// error type for it, and changes nothing.
func TestOSAPIUnavailableWithoutFallback(t *testing.T) {
	if !inChild(t) {
		runChild(t)
		return
	}
	blockIOUring(t, syscall.EPERM)
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("data"), 0644); err != nil {
		t.Fatal(err)
	}
	before := listTree(dir)
	check := func(what string, err error) {
		t.Helper()
		var se *uring.SetupError
		var pe *fs.PathError
		var le *os.LinkError
		switch {
		case !errors.As(err, &pe) && !errors.As(err, &le):
			t.Errorf("%s: %v (%T), want a *fs.PathError or *os.LinkError", what, err, err)
		case !errors.As(err, &se):
			t.Errorf("%s: %v does not wrap a *uring.SetupError", what, err)
		case !strings.Contains(err.Error(), "Config.FallbackToOS"):
			t.Errorf("%s: %q does not name the opt-in", what, err)
		}
	}
	_, err := Stat(f)
	check("Stat", err)
	_, err = Lstat(f)
	check("Lstat", err)
	check("Mkdir", Mkdir(filepath.Join(dir, "new"), 0755))
	check("MkdirAll", MkdirAll(filepath.Join(dir, "new/a"), 0755))
	check("Remove", Remove(f))
	check("RemoveAll", RemoveAll(f))
	check("Rename", Rename(f, filepath.Join(dir, "g")))
	check("Link", Link(f, filepath.Join(dir, "g")))
	check("Symlink", Symlink(f, filepath.Join(dir, "g")))
	_, err = Readlink(f)
	check("Readlink", err)
	_, err = ReadDir(dir)
	check("ReadDir", err)
	check("Chmod", Chmod(f, 0600))
	check("Chown", Chown(f, -1, -1))
	check("Lchown", Lchown(f, -1, -1))
	check("Chtimes", Chtimes(f, fixedTime, fixedTime))
	check("Truncate", Truncate(f, 0))
	_, err = CreateTemp(dir, "tmp")
	check("CreateTemp", err)
	_, err = MkdirTemp(dir, "tmp")
	check("MkdirTemp", err)
	if after := listTree(dir); after != before {
		t.Errorf("the tree changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
