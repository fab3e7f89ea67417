package uringfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// pathRingDirEnv passes TestPathFuncsOnRing's directory to its child,
// which cannot remove a TempDir of its own with unlinkat denied.
const pathRingDirEnv = "URINGFS_PATH_RING_DIR"

// TestPathFuncsOnRing runs the package functions that create, rename,
// link and remove, and the opens that ReadDir, RemoveAll and CreateTemp
// make, in a child process where a seccomp filter denies the system
// calls for all of them: they still work, because they run as io_uring
// operations, which the filter does not see.
func TestPathFuncsOnRing(t *testing.T) {
	dir, child := pathCallsDenied(t, pathRingDirEnv, unix.SYS_OPENAT, unix.SYS_OPEN)
	if !child {
		return
	}
	if err := unix.Mkdirat(unix.AT_FDCWD, filepath.Join(dir, "direct"), 0o755); err != syscall.EPERM {
		t.Fatalf("mkdirat with the filter on: %v, want EPERM", err)
	}
	t.Log("path system calls denied")

	p := func(name string) string { return filepath.Join(dir, name) }
	steps := []struct {
		name string
		run  func() error
	}{
		{"MkdirAll", func() error { return MkdirAll(p("a/b/c"), 0o755) }},
		{"Mkdir", func() error { return Mkdir(p("a/m"), 0o755) }},
		{"WriteFile", func() error { return WriteFile(p("a/b/c/f"), []byte("data"), 0o644) }},
		{"Symlink", func() error { return Symlink("b/c/f", p("a/s")) }},
		{"Link", func() error { return Link(p("a/b/c/f"), p("a/hard")) }},
		{"Rename", func() error { return Rename(p("a/b"), p("a/moved")) }},
		{"Remove", func() error { return Remove(p("a/hard")) }},
		{"CreateTemp", func() error {
			f, err := CreateTemp(p("a"), "tmp")
			if err == nil {
				err = f.Close()
			}
			return err
		}},
		{"MkdirTemp", func() error { _, err := MkdirTemp(p("a/m"), "tmp"); return err }},
		{"ReadDir", func() error {
			ents, err := ReadDir(p("a"))
			if err == nil && len(ents) != 4 {
				t.Errorf("ReadDir: %d entries, want 4: %v", len(ents), ents)
			}
			return err
		}},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	if target, err := Readlink(p("a/s")); err != nil || target != "b/c/f" {
		t.Errorf("Readlink: %q, %v", target, err)
	}
	if fi, err := Stat(p("a/moved/c/f")); err != nil || fi.Sys().(*syscall.Stat_t).Nlink != 1 {
		t.Errorf("the file after the rename and Remove of its hard link: %v, %v", fi, err)
	}
	if err := RemoveAll(p("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := Lstat(p("a")); !os.IsNotExist(err) {
		t.Errorf("after RemoveAll: %v, want ENOENT", err)
	}
}
