package uringfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// rootRingDirEnv passes TestRootPathOpsOnRing's directory to its child,
// which cannot remove a TempDir of its own with unlinkat denied.
const rootRingDirEnv = "URINGFS_ROOT_RING_DIR"

// pathCallsDenied runs the calling test again in a child and returns
// false in the parent. In the child, with io_uring's executor set up
// first, it denies (EPERM) the system calls that create, rename, link
// and remove paths, openat2 and any extra ones, and returns the
// directory the parent made for it (passed in env, as a child cannot
// remove a TempDir of its own with unlinkat denied).
func pathCallsDenied(t *testing.T, env string, extra ...uint32) (dir string, child bool) {
	t.Helper()
	if !inChild(t) {
		t.Setenv(env, t.TempDir())
		runChildWith(t, "path system calls denied")
		return "", false
	}
	// TestMain leaves the executor to a child; this one keeps io_uring.
	if _, err := reactor.Default(); err != nil {
		t.Fatal(err)
	}
	for _, nr := range append([]uint32{unix.SYS_MKDIRAT, unix.SYS_MKDIR, unix.SYS_UNLINKAT, unix.SYS_UNLINK, unix.SYS_RMDIR,
		unix.SYS_RENAMEAT, unix.SYS_RENAMEAT2, unix.SYS_RENAME, unix.SYS_LINKAT, unix.SYS_LINK,
		unix.SYS_SYMLINKAT, unix.SYS_SYMLINK, unix.SYS_OPENAT2}, extra...) {
		if err := testutil.DenySyscall(nr, syscall.EPERM); err != nil {
			t.Fatal(err)
		}
	}
	return os.Getenv(env), true
}

// TestRootPathOpsOnRing runs Root's methods that create, rename, link and
// remove in a child process where a seccomp filter denies the system
// calls for all of them, and for openat2: they still work, because the
// kernel runs them as io_uring operations, which the filter does not see.
func TestRootPathOpsOnRing(t *testing.T) {
	dir, child := pathCallsDenied(t, rootRingDirEnv)
	if !child {
		return
	}
	if err := unix.Mkdirat(unix.AT_FDCWD, filepath.Join(dir, "direct"), 0o755); err != syscall.EPERM {
		t.Fatalf("mkdirat with the filter on: %v, want EPERM", err)
	}
	t.Log("path system calls denied")

	r, err := OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	steps := []struct {
		name string
		run  func() error
	}{
		{"MkdirAll", func() error { return r.MkdirAll("a/b/c", 0o755) }},
		{"Mkdir", func() error { return r.Mkdir("a/m", 0o755) }},
		{"WriteFile", func() error { return r.WriteFile("a/b/c/f", []byte("data"), 0o644) }},
		{"Symlink", func() error { return r.Symlink("b/c/f", "a/s") }},
		{"Link", func() error { return r.Link("a/b/c/f", "a/hard") }},
		{"Chmod", func() error { return r.Chmod("a/s", 0o600) }},
		{"Rename", func() error { return r.Rename("a/b", "a/moved") }},
		{"Remove", func() error { return r.Remove("a/hard") }},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	if b, err := r.ReadFile("a/s"); !errors.Is(err, fs.ErrNotExist) {
		// a/s points at b/c/f, which moved with b.
		t.Errorf("ReadFile through a link whose target moved: %q, %v", b, err)
	}
	if b, err := r.ReadFile("a/moved/c/f"); err != nil || string(b) != "data" {
		t.Errorf("ReadFile after the rename: %q, %v", b, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "a/moved/c/f"), &st); err != nil || st.Mode&0o777 != 0o600 || st.Nlink != 1 {
		t.Errorf("the file after Chmod through a link and Remove of its hard link: %o, %d links, %v", st.Mode&0o777, st.Nlink, err)
	}
	if err := r.RemoveAll("a"); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(filepath.Join(dir, "a"), &st); err != syscall.ENOENT {
		t.Errorf("after RemoveAll: %v, want ENOENT", err)
	}
}
