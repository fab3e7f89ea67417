package uringfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

// sideBySide builds the same tree twice with build (which returns the
// directory to open as a root), runs run on an os.Root of one and a Root
// of the other, and checks that both return the same and leave the same
// trees behind. It returns the two tops, os's first.
func sideBySide(t *testing.T, build func(t *testing.T, top string) string, run func(r rootAPI) string) (tops [2]string) {
	t.Helper()
	var got, trees [2]string
	for i := range 2 {
		top := t.TempDir()
		tops[i] = top
		dir := build(t, top)
		var r rootAPI
		var err error
		if i == 0 {
			r, err = os.OpenRoot(dir)
		} else {
			r, err = cfg.OpenRoot(dir)
		}
		if err != nil {
			t.Fatal(err)
		}
		got[i] = strings.ReplaceAll(run(r), top, "$TOP")
		r.Close()
		trees[i] = strings.ReplaceAll(listTree(top), top, "$TOP")
	}
	if got[0] != got[1] {
		t.Errorf("results differ:\nos:      %s\nuringfs: %s", got[0], got[1])
	}
	if trees[0] != trees[1] {
		t.Errorf("trees differ:\nos:\n%s\nuringfs:\n%s", trees[0], trees[1])
	}
	return tops
}

// deepTree is a root holding a deep directory tree, one directory of it
// wider than RemoveAll reads at once, and links out of the root at
// several depths: a symlink to a directory outside (absolute and
// relative), one to a file outside, and a hard link to a file outside.
func deepTree(t *testing.T, top string) string {
	root := filepath.Join(top, "root")
	out := filepath.Join(top, "outside")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(out, "keep"), 0755))
	must(os.WriteFile(filepath.Join(out, "keep/file"), []byte("outside"), 0644))
	must(os.WriteFile(filepath.Join(out, "hard"), []byte("hard"), 0644))
	p := filepath.Join(root, "deep")
	for i := range 40 {
		p = filepath.Join(p, fmt.Sprint("d", i))
		must(os.MkdirAll(p, 0755))
		must(os.WriteFile(filepath.Join(p, "f"), []byte(p), 0644))
		switch i {
		case 3:
			must(os.Symlink(out, filepath.Join(p, "abs")))
		case 7:
			must(os.Symlink(strings.Repeat("../", i+3)+"outside", filepath.Join(p, "rel")))
		case 11:
			must(os.Symlink(filepath.Join(out, "keep/file"), filepath.Join(p, "file")))
		case 13:
			must(os.Link(filepath.Join(out, "hard"), filepath.Join(p, "hard")))
		case 17:
			wide := filepath.Join(p, "wide")
			must(os.Mkdir(wide, 0755))
			for j := range 1100 {
				must(os.WriteFile(filepath.Join(wide, fmt.Sprint(j)), nil, 0644))
			}
			must(os.Mkdir(filepath.Join(wide, "sub"), 0755))
		}
	}
	must(os.Symlink(out, filepath.Join(root, "abs")))
	must(os.Symlink("../outside", filepath.Join(root, "rel")))
	must(os.Symlink("deep/d0", filepath.Join(root, "in")))
	return root
}

// TestRootRemoveAllDeep removes a deep, wide tree holding links out of the
// root, as os.Root does: the tree goes, everything outside stays, and
// names that lead outside remove nothing.
func TestRootRemoveAllDeep(t *testing.T) {
	testutil.CheckFDs(t)
	names := []string{"deep", "deep/", "in/d1", "abs", "rel", "abs/keep", "rel/keep", "in/../abs/keep",
		"deep/d0/d1/d2/d3/abs/keep", "deep/d0/d1/d2/d3/d4/d5/d6/d7/rel/keep"}
	if testing.Short() {
		// Each name builds two trees of over a thousand files.
		names = []string{"deep", "abs/keep", "deep/d0/d1/d2/d3/d4/d5/d6/d7/rel/keep"}
	}
	for _, name := range names {
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			tops := sideBySide(t, deepTree, func(r rootAPI) string { return rootErr(r.RemoveAll(name)) })
			for _, top := range tops {
				b, err := os.ReadFile(filepath.Join(top, "outside/keep/file"))
				if err != nil || string(b) != "outside" {
					t.Errorf("RemoveAll(%q) reached outside the root: %q, %v", name, b, err)
				}
				if _, err := os.Stat(filepath.Join(top, "outside/hard")); err != nil {
					t.Errorf("RemoveAll(%q) removed the hard-linked file outside: %v", name, err)
				}
			}
			if name == "deep" || name == "deep/" {
				if _, err := os.Lstat(filepath.Join(tops[1], "root/deep")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("RemoveAll(%q) left the tree: %v", name, err)
				}
			}
		})
	}
}

// TestRootSymlinkChains: a chain of symlinks is followed to os.Root's
// bound of 8, not the kernel's 40, by every method that follows one.
func TestRootSymlinkChains(t *testing.T) {
	testutil.CheckFDs(t)
	for _, n := range []int{8, 9} {
		chain := func(t *testing.T, top string) string {
			root := filepath.Join(top, "root")
			if err := os.MkdirAll(filepath.Join(root, "dir"), 0755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(root, "dir/f"), nil, 0644)
			for i := range n {
				target := fmt.Sprint("l", i+1)
				if i == n-1 {
					target = "dir"
				}
				os.Symlink(target, filepath.Join(root, fmt.Sprint("l", i)))
			}
			return root
		}
		for _, name := range []string{"l0", "l0/", "l0/f", "l0/new/x"} {
			t.Run(fmt.Sprintf("%d/%s", n, name), func(t *testing.T) {
				sideBySide(t, chain, func(r rootAPI) string {
					return strings.Join([]string{
						rootErr(r.Chmod(name, 0o700)),
						rootErr(r.Chtimes(name, fixedTime, fixedTime)),
						rootErr(r.Chown(name, 1234, 5678)),
						rootErr(r.MkdirAll(name, 0o755)),
						rootErr(r.Link(name, "link")),
						rootErr(r.Symlink("t", name)),
						rootErr(r.Rename(name, "moved")),
					}, "\n")
				})
			})
		}
	}
}

// TestRootNewMethodsClosed: after Close, every method fails with
// fs.ErrClosed in the error os.Root gives, and a nil Root with ErrInvalid.
func TestRootNewMethodsClosed(t *testing.T) {
	testutil.CheckFDs(t)
	calls := func(r rootAPI) string {
		return strings.Join([]string{
			rootErr(r.MkdirAll("a/b", 0o755)),
			rootErr(r.RemoveAll("a")),
			rootErr(r.Rename("a", "b")),
			rootErr(r.Link("a", "b")),
			rootErr(r.Symlink("a", "b")),
			rootErr(r.Chmod("a", 0o755)),
			rootErr(r.Chown("a", 1, 1)),
			rootErr(r.Lchown("a", 1, 1)),
			rootErr(r.Chtimes("a", fixedTime, fixedTime)),
			rootErr(r.Mkdir("", 0o755)),
			rootErr(r.Remove("")),
		}, "\n")
	}
	sideBySide(t, func(t *testing.T, top string) string { return top }, func(r rootAPI) string {
		r.Close()
		return calls(r)
	})
	var r *Root
	for _, err := range []error{r.MkdirAll("a", 0), r.RemoveAll("a"), r.Rename("a", "b"), r.Link("a", "b"), r.Symlink("a", "b"),
		r.Chmod("a", 0), r.Chown("a", 0, 0), r.Lchown("a", 0, 0), r.Chtimes("a", time.Time{}, time.Time{})} {
		if !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("a method of a nil Root: %v, want ErrInvalid", err)
		}
	}
	// os.Root checks the mode before anything else.
	if err := new(Root).MkdirAll("x", fs.ModeSetuid|0o755); err == nil || !strings.Contains(err.Error(), "unsupported file mode") {
		t.Errorf("MkdirAll with setuid: %v, want os.Root's unsupported file mode", err)
	}
}

// TestRootChangesAttributes: what Chmod, Chown, Lchown and Chtimes set is
// what stat reads back, through a symlink for all but Lchown.
func TestRootChangesAttributes(t *testing.T) {
	testutil.CheckFDs(t)
	dir, _ := rootTree(t)
	r, err := cfg.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Chmod("a/inside", 0o640|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "hello.txt")); err != nil || fi.Mode() != 0o640|fs.ModeSetgid {
		t.Errorf("Chmod through a link: %v, %v", fi, err)
	}
	atime, mtime := fixedTime, fixedTime.Add(time.Hour+time.Nanosecond)
	if err := r.Chtimes("a/inside", atime, mtime); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "hello.txt"), &st); err != nil ||
		!time.Unix(st.Atim.Unix()).Equal(atime) || !time.Unix(st.Mtim.Unix()).Equal(mtime) {
		t.Errorf("Chtimes: atime %v mtime %v, %v", time.Unix(st.Atim.Unix()), time.Unix(st.Mtim.Unix()), err)
	}
	if os.Getuid() != 0 {
		if err := r.Chown("hello.txt", 0, 0); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Chown to root as uid %d: %v, want ErrPermission", os.Getuid(), err)
		}
		return
	}
	if err := r.Chown("a/inside", 1234, 5678); err != nil {
		t.Fatal(err)
	}
	if err := r.Lchown("a/inside", 4321, 8765); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][2]uint32{"hello.txt": {1234, 5678}, "a/inside": {4321, 8765}} {
		if err := syscall.Lstat(filepath.Join(dir, name), &st); err != nil || st.Uid != want[0] || st.Gid != want[1] {
			t.Errorf("%s owned by %d:%d (%v), want %d:%d", name, st.Uid, st.Gid, err, want[0], want[1])
		}
	}
}

// TestRootConcurrentTrees: goroutines making and removing the same paths
// at once all succeed, as with os: MkdirAll takes a directory another
// made first as its own, and RemoveAll a file another removed first as
// removed.
func TestRootConcurrentTrees(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	r, err := cfg.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for round := range 5 {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := range 8 {
			wg.Go(func() {
				for i := range 4 {
					if err := r.MkdirAll(fmt.Sprintf("t/a/b/c%d/d", i), 0o755); err != nil {
						errs <- err
					}
					if err := r.WriteFile(fmt.Sprintf("t/a/b/c%d/d/f%d", i, g), nil, 0o644); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		for range 8 {
			wg.Go(func() {
				if err := r.RemoveAll("t"); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		if _, err := os.Lstat(filepath.Join(dir, "t")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("round %d: the tree is still there: %v", round, err)
		}
	}
}
