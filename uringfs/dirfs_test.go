package uringfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/uring-go/uring/internal/testutil"
)

// escapeTree makes a root with ordinary files and with symlinks that lead
// out of it in every way, and a secret file outside it.
func escapeTree(tb testing.TB) (root, outside string) {
	tb.Helper()
	return buildEscapeTree(tb, tb.TempDir())
}

// buildEscapeTree makes escapeTree's files in top.
func buildEscapeTree(tb testing.TB, top string) (root, outside string) {
	tb.Helper()
	root = filepath.Join(top, "root")
	outside = filepath.Join(top, "secret")
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(os.WriteFile(outside, []byte("secret"), 0644))
	must(os.MkdirAll(filepath.Join(root, "a/b"), 0755))
	must(os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello\n"), 0644))
	must(os.WriteFile(filepath.Join(root, "a/b/deep"), []byte("deep"), 0600))
	must(os.WriteFile(filepath.Join(root, "a/empty"), nil, 0644))
	must(os.Symlink("../hello.txt", filepath.Join(root, "a/inside")))  // stays inside
	must(os.Symlink("b", filepath.Join(root, "a/bdir")))               // dir, inside
	must(os.Symlink(outside, filepath.Join(root, "abs")))              // absolute, outside
	must(os.Symlink("../secret", filepath.Join(root, "rel")))          // relative, outside
	must(os.Symlink("../../../secret", filepath.Join(root, "a/b/up"))) // relative, outside
	must(os.Symlink("/proc/self/root"+outside, filepath.Join(root, "proc")))
	must(os.Symlink("/proc/self/cwd", filepath.Join(root, "cwd")))
	must(os.Symlink("..", filepath.Join(root, "dotdot")))
	return root, outside
}

func TestDirFSConformance(t *testing.T) {
	testutil.CheckFDs(t)
	root, _ := escapeTree(t)
	// fstest walks every name it can list; the escaping links are for
	// the refusal test, so use a tree without them here.
	clean := t.TempDir()
	os.MkdirAll(filepath.Join(clean, "a/b"), 0755)
	os.WriteFile(filepath.Join(clean, "hello.txt"), []byte("hello\n"), 0644)
	os.WriteFile(filepath.Join(clean, "a/b/deep"), []byte("deep"), 0600)
	os.WriteFile(filepath.Join(clean, "a/empty"), nil, 0644)
	os.Symlink("../hello.txt", filepath.Join(clean, "a/inside"))
	os.WriteFile(filepath.Join(clean, "big"), make([]byte, 200000), 0644)
	if err := fstest.TestFS(cfg.DirFS(clean), "hello.txt", "a/b/deep", "a/empty", "a/inside", "big"); err != nil {
		t.Fatal(err)
	}
	_ = root
}

func TestDirFSRefusesEscapes(t *testing.T) {
	testutil.CheckFDs(t)
	root, _ := escapeTree(t)
	fsys := cfg.DirFS(root)
	for _, tc := range []struct {
		name string
		want error // matched with errors.Is
	}{
		{"..", fs.ErrInvalid},
		{"../secret", fs.ErrInvalid},
		{"a/../../secret", fs.ErrInvalid},
		{"/etc/passwd", fs.ErrInvalid},
		{"a//b", fs.ErrInvalid},
		{"./hello.txt", fs.ErrInvalid},
		{"", fs.ErrInvalid},
		{"abs", syscall.EXDEV},
		{"rel", syscall.EXDEV},
		{"a/b/up", syscall.EXDEV},
		{"proc", syscall.EXDEV},
		{"cwd", syscall.EXDEV},
		{"dotdot", syscall.EXDEV},
		{"dotdot/secret", syscall.EXDEV},
		{"missing", fs.ErrNotExist},
	} {
		for _, op := range []string{"open", "stat", "readfile", "readdir"} {
			var err error
			switch op {
			case "open":
				var f fs.File
				f, err = fsys.Open(tc.name)
				if err == nil {
					f.Close()
				}
			case "stat":
				_, err = fs.Stat(fsys, tc.name)
			case "readfile":
				_, err = fs.ReadFile(fsys, tc.name)
			case "readdir":
				_, err = fs.ReadDir(fsys, tc.name)
			}
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != tc.name || !errors.Is(err, tc.want) {
				t.Errorf("%s(%q) = %v, want a *fs.PathError for it matching %v", op, tc.name, err, tc.want)
			}
		}
	}
	// What may be opened is.
	for _, name := range []string{"hello.txt", "a/inside", "a/bdir/deep", "a/b/deep", "."} {
		f, err := fsys.Open(name)
		if err != nil {
			t.Errorf("Open(%q): %v", name, err)
			continue
		}
		f.Close()
	}
	if b, err := fs.ReadFile(fsys, "a/inside"); err != nil || string(b) != "hello\n" {
		t.Errorf("ReadFile through an inside symlink: %q, %v", b, err)
	}
	if target, err := fs.ReadLink(fsys, "abs"); err != nil || !strings.HasSuffix(target, "/secret") {
		t.Errorf("ReadLink(abs) = %q, %v", target, err)
	}
	if _, err := fs.ReadLink(fsys, "hello.txt"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("ReadLink of a regular file: %v, want EINVAL as os gives", err)
	}
	if fi, err := fs.Lstat(fsys, "abs"); err != nil || fi.Mode().Type() != fs.ModeSymlink {
		t.Errorf("Lstat(abs) = %v, %v", fi, err)
	}
	if _, err := cfg.DirFS("").Open("hello.txt"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf(`DirFS("").Open: %v`, err)
	}
}

// FuzzDirFS states DirFS's confinement: whatever the name, a file it opens
// is, by the kernel's own account (/proc/self/fd), under the root; and a
// name fs.ValidPath rejects is never opened.
func FuzzDirFS(f *testing.F) {
	for _, s := range []string{"hello.txt", ".", "a", "a/inside", "abs", "rel", "a/b/up", "proc", "cwd", "dotdot",
		"dotdot/secret", "a/bdir/deep", "..", "a/../hello.txt", "/etc/passwd", "a/b/../../..", "proc/x"} {
		f.Add(s)
	}
	root, _ := escapeTree(f)
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		f.Fatal(err)
	}
	fsys := cfg.DirFS(root)
	f.Fuzz(func(t *testing.T, name string) {
		file, err := fsys.Open(name)
		if err != nil {
			var pe *fs.PathError
			if !errors.As(err, &pe) {
				t.Fatalf("Open(%q) error %T is not a *fs.PathError", name, err)
			}
			return
		}
		defer file.Close()
		if !fs.ValidPath(name) {
			t.Fatalf("Open(%q) opened a name fs.ValidPath rejects", name)
		}
		fd := file.(*File).Fd()
		real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(fd)))
		if err != nil {
			t.Fatal(err)
		}
		if real != realRoot && !strings.HasPrefix(real, realRoot+"/") {
			t.Fatalf("Open(%q) opened %q, outside the root %q", name, real, realRoot)
		}
	})
}
