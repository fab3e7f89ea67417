package uringfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

// rootAPI is what os.Root and Root share, so that one script drives both.
type rootAPI interface {
	Name() string
	Stat(string) (fs.FileInfo, error)
	Lstat(string) (fs.FileInfo, error)
	Mkdir(string, fs.FileMode) error
	Remove(string) error
	Readlink(string) (string, error)
	ReadFile(string) ([]byte, error)
	MkdirAll(string, fs.FileMode) error
	RemoveAll(string) error
	Rename(string, string) error
	Link(string, string) error
	Symlink(string, string) error
	Chmod(string, fs.FileMode) error
	Chown(string, int, int) error
	Lchown(string, int, int) error
	Chtimes(string, time.Time, time.Time) error
	Close() error
}

// rootErr renders an error so that os.Root's and Root's compare equal
// when they mean the same: the operation, the name, and which standard
// conditions it matches. A name that escapes is "escapes" for both: os
// says so in words, the kernel with EXDEV.
func rootErr(err error) string {
	if err == nil {
		return "ok"
	}
	var where string
	switch e := err.(type) {
	case *fs.PathError:
		where = fmt.Sprintf("%s %q", e.Op, e.Path)
		if inner, ok := e.Err.(*fs.PathError); ok {
			// MkdirAll's error about a symlink's target.
			where += fmt.Sprintf(" (%s %q)", inner.Op, inner.Path)
		}
	case *os.LinkError:
		where = fmt.Sprintf("%s %q %q", e.Op, e.Old, e.New)
	default:
		return fmt.Sprintf("neither a PathError nor a LinkError: %T %v", err, err)
	}
	var kinds []string
	for _, k := range []struct {
		name string
		err  error
	}{{"notexist", fs.ErrNotExist}, {"exist", fs.ErrExist}, {"perm", fs.ErrPermission}, {"closed", fs.ErrClosed},
		{"notdir", syscall.ENOTDIR}, {"isdir", syscall.EISDIR}, {"notempty", syscall.ENOTEMPTY}, {"inval", syscall.EINVAL},
		{"loop", syscall.ELOOP}, {"nametoolong", syscall.ENAMETOOLONG}, {"notsup", syscall.EOPNOTSUPP}, {"invalid", fs.ErrInvalid}} {
		if errors.Is(err, k.err) {
			kinds = append(kinds, k.name)
		}
	}
	if strings.Contains(err.Error(), "path escapes from parent") {
		kinds = append(kinds, "escapes")
	}
	if strings.Contains(err.Error(), "empty path") {
		kinds = append(kinds, "empty")
	}
	return fmt.Sprintf("%s %v", where, kinds)
}

// rootTree is escapeTree plus a non-empty directory and a dangling link.
func rootTree(tb testing.TB) (root, outside string) {
	return buildRootTree(tb, tb.TempDir())
}

func buildRootTree(tb testing.TB, top string) (root, outside string) {
	root, outside = buildEscapeTree(tb, top)
	os.Mkdir(filepath.Join(root, "a/full"), 0755)
	os.WriteFile(filepath.Join(root, "a/full/x"), []byte("x"), 0644)
	os.Symlink("nowhere", filepath.Join(root, "dangling"))
	return root, outside
}

// listTree lists every path under dir with its type, mode, owner and link
// count, whether its times are fixedTime, and, for files, its contents,
// for symlinks, their targets: to compare what operations did to two
// trees, and to see that nothing outside a root changed.
func listTree(dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%q:%v", rel, d.Type())
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err == nil {
			fmt.Fprintf(&b, ":%o:%d:%d:%d", st.Mode&^syscall.S_IFMT, st.Uid, st.Gid, st.Nlink)
			if st.Atim.Sec == fixedTime.Unix() {
				b.WriteString(":atime")
			}
			if st.Mtim.Sec == fixedTime.Unix() {
				b.WriteString(":mtime")
			}
		}
		switch {
		case d.Type().IsRegular():
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, ":%q", data)
		case d.Type() == fs.ModeSymlink:
			target, _ := os.Readlink(p)
			fmt.Fprintf(&b, ":->%q", target)
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

// fixedTime is the time the tests give files with Chtimes, which
// listTree recognises.
var fixedTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// TestRootMatchesOS runs every operation of Root and os.Root on the same
// names, in two copies of a tree full of ways out, and checks that they
// agree: the same successes, the same results, the same errors (os's
// "path escapes from parent" is the kernel's EXDEV), the same trees after.
func TestRootMatchesOS(t *testing.T) {
	testutil.CheckFDs(t)
	names := []string{
		".", "hello.txt", "a", "a/", "a/b/deep", "a/inside", "a/bdir", "a/bdir/deep", "a/bdir/", "a/b/../../hello.txt",
		"a/../a/empty", "a/empty", "a/full", "a/full/", "a/full/x", "new", "a/new", "new/", "missing/new", "hello.txt/",
		"hello.txt/x", "dangling", "dangling/x",
		"..", "../secret", "a/../..", "a/../../secret", "/etc/passwd", "/", "abs", "rel", "a/b/up", "proc", "cwd",
		"dotdot", "dotdot/secret", "dotdot/root/hello.txt", "a/bdir/../../..",
		// Names for what creates and removes whole paths, renames and
		// links: dot elements, doubled and trailing slashes, links on
		// the way and at the end.
		"", "./hello.txt", "a//b//deep", "a/./b/deep", "a/..", "a/b/..", "a/bdir/..", "a/full/.", "hello.txt/.",
		"new/x/y", "a/bdir/x/y", "dangling/", "dangling/x/y", "a/bdir/", "abs/", "rel/", "rel/x", "abs/x/y",
		"a/inside", "a/inside/", "a/b/up/x", "dotdot/root/new", "a/full/../../new",
		// Odd names: NUL bytes, which no system call takes, an
		// element over NAME_MAX and whole names over PATH_MAX.
		"\x00", "hello.txt\x00", "a\x00/b", "new\x00", "a/\x00", "a/full/x\x00y",
		strings.Repeat("n", 256), "a/" + strings.Repeat("n", 256), strings.Repeat("n", 256) + "/x",
		strings.Repeat("n", 5000), strings.Repeat("a/", 2100) + "x", strings.Repeat("./", 2100) + "hello.txt",
		strings.Repeat("a/../", 1000) + "hello.txt",
	}
	type op struct {
		name string
		run  func(r rootAPI, open func(string, int, fs.FileMode) (io.ReadWriteCloser, error), name string) string
	}
	openAndRead := func(flag int) func(r rootAPI, open func(string, int, fs.FileMode) (io.ReadWriteCloser, error), name string) string {
		return func(r rootAPI, open func(string, int, fs.FileMode) (io.ReadWriteCloser, error), name string) string {
			f, err := open(name, flag, 0640)
			if err != nil {
				return rootErr(err)
			}
			defer f.Close()
			if flag&os.O_CREATE != 0 {
				_, err := f.Write([]byte("created"))
				return "write " + rootErr(err)
			}
			b := make([]byte, 64)
			n, err := f.Read(b)
			if err != nil && err != io.EOF {
				// A directory reads as EISDIR for both.
				return fmt.Sprintf("read %v", errors.Is(err, syscall.EISDIR))
			}
			return fmt.Sprintf("read %q", b[:n])
		}
	}
	noOpen := func(fn func(r rootAPI, name string) string) func(rootAPI, func(string, int, fs.FileMode) (io.ReadWriteCloser, error), string) string {
		return func(r rootAPI, _ func(string, int, fs.FileMode) (io.ReadWriteCloser, error), name string) string {
			return fn(r, name)
		}
	}
	ops := []op{
		{"MkdirAll", noOpen(func(r rootAPI, name string) string { return rootErr(r.MkdirAll(name, 0750)) })},
		{"RemoveAll", noOpen(func(r rootAPI, name string) string { return rootErr(r.RemoveAll(name)) })},
		{"RenameFrom", noOpen(func(r rootAPI, name string) string { return rootErr(r.Rename(name, "a/renamed")) })},
		{"RenameFromToDir", noOpen(func(r rootAPI, name string) string { return rootErr(r.Rename(name, "newdir/")) })},
		{"RenameFileTo", noOpen(func(r rootAPI, name string) string { return rootErr(r.Rename("hello.txt", name)) })},
		{"RenameDirTo", noOpen(func(r rootAPI, name string) string { return rootErr(r.Rename("a/full", name)) })},
		{"RenameLinkTo", noOpen(func(r rootAPI, name string) string { return rootErr(r.Rename("a/bdir", name)) })},
		{"RenameSelf", noOpen(func(r rootAPI, name string) string { return rootErr(r.Rename(name, name)) })},
		{"LinkFrom", noOpen(func(r rootAPI, name string) string { return rootErr(r.Link(name, "a/linked")) })},
		{"LinkTo", noOpen(func(r rootAPI, name string) string { return rootErr(r.Link("hello.txt", name)) })},
		{"SymlinkAt", noOpen(func(r rootAPI, name string) string { return rootErr(r.Symlink("../secret", name)) })},
		{"SymlinkTo", noOpen(func(r rootAPI, name string) string { return rootErr(r.Symlink(name, "a/sym")) })},
		{"Chmod", noOpen(func(r rootAPI, name string) string { return rootErr(r.Chmod(name, 0o704|fs.ModeSticky)) })},
		{"Chown", noOpen(func(r rootAPI, name string) string { return rootErr(r.Chown(name, 1234, 5678)) })},
		{"ChownGid", noOpen(func(r rootAPI, name string) string { return rootErr(r.Chown(name, -1, 5678)) })},
		{"Lchown", noOpen(func(r rootAPI, name string) string { return rootErr(r.Lchown(name, 1234, 5678)) })},
		{"Chtimes", noOpen(func(r rootAPI, name string) string { return rootErr(r.Chtimes(name, fixedTime, fixedTime)) })},
		{"ChtimesMtime", noOpen(func(r rootAPI, name string) string { return rootErr(r.Chtimes(name, time.Time{}, fixedTime)) })},

		{"Open", openAndRead(os.O_RDONLY)},
		{"Create", openAndRead(os.O_RDWR | os.O_CREATE | os.O_TRUNC)},
		{"CreateExcl", openAndRead(os.O_RDWR | os.O_CREATE | os.O_EXCL)},
		{"Stat", func(r rootAPI, _ func(string, int, fs.FileMode) (io.ReadWriteCloser, error), name string) string {
			fi, err := r.Stat(name)
			if err != nil {
				return rootErr(err)
			}
			return fmt.Sprintf("%s %d %v", fi.Name(), fi.Size(), fi.Mode().Type())
		}},
		{"Lstat", func(r rootAPI, _ func(string, int, fs.FileMode) (io.ReadWriteCloser, error), name string) string {
			fi, err := r.Lstat(name)
			if err != nil {
				return rootErr(err)
			}
			return fmt.Sprintf("%s %v", fi.Name(), fi.Mode().Type())
		}},
		{"Mkdir", func(r rootAPI, _ func(string, int, fs.FileMode) (io.ReadWriteCloser, error), name string) string {
			return rootErr(r.Mkdir(name, 0750))
		}},
		{"Remove", func(r rootAPI, _ func(string, int, fs.FileMode) (io.ReadWriteCloser, error), name string) string {
			return rootErr(r.Remove(name))
		}},
		{"Readlink", func(r rootAPI, _ func(string, int, fs.FileMode) (io.ReadWriteCloser, error), name string) string {
			s, err := r.Readlink(name)
			if err != nil {
				return rootErr(err)
			}
			return "link " + s
		}},
		{"ReadFile", func(r rootAPI, _ func(string, int, fs.FileMode) (io.ReadWriteCloser, error), name string) string {
			b, err := r.ReadFile(name)
			if err != nil {
				return rootErr(err)
			}
			return fmt.Sprintf("%q", b)
		}},
	}
	// Two trees, rebuilt only when an operation changed one.
	var tops, dirs [2]string
	for i := range tops {
		tops[i] = t.TempDir()
		dirs[i], _ = buildRootTree(t, tops[i])
	}
	pristine := strings.ReplaceAll(listTree(tops[0]), tops[0], "$TOP")
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			for _, name := range names {
				var got [2]string
				var trees [2]string
				for i := range 2 {
					dir, top := dirs[i], tops[i]
					if i == 0 {
						r, err := os.OpenRoot(dir)
						if err != nil {
							t.Fatal(err)
						}
						got[i] = o.run(r, func(n string, flag int, perm fs.FileMode) (io.ReadWriteCloser, error) {
							return r.OpenFile(n, flag, perm)
						}, name)
						r.Close()
					} else {
						r, err := cfg.OpenRoot(dir)
						if err != nil {
							t.Fatal(err)
						}
						got[i] = o.run(r, func(n string, flag int, perm fs.FileMode) (io.ReadWriteCloser, error) {
							return r.OpenFile(n, flag, perm)
						}, name)
						r.Close()
					}
					got[i] = strings.ReplaceAll(got[i], top, "$TOP")
					trees[i] = strings.ReplaceAll(listTree(top), top, "$TOP")
					if trees[i] != pristine {
						os.RemoveAll(filepath.Join(top, "root"))
						os.Remove(filepath.Join(top, "secret"))
						buildRootTree(t, top)
					}
				}
				if got[0] != got[1] {
					t.Errorf("%s(%q):\nos:      %s\nuringfs: %s", o.name, name, got[0], got[1])
				}
				if trees[0] != trees[1] {
					t.Errorf("%s(%q) left different trees:\nos:      %s\nuringfs: %s", o.name, name, trees[0], trees[1])
				}
			}
		})
	}
}

// TestRoot checks what the comparison with os.Root cannot: magic links,
// modes, a moved root, Close, nested roots and the fs.FS.
func TestRoot(t *testing.T) {
	testutil.CheckFDs(t)
	dir, outside := rootTree(t)
	r, err := cfg.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Name() != dir {
		t.Errorf("Name() = %q, want %q", r.Name(), dir)
	}

	f, err := r.Open("a/b/deep")
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != dir+"/a/b/deep" {
		t.Errorf("File.Name() = %q", f.Name())
	}
	f.Close()

	// Escapes match EXDEV and say what os says.
	for _, name := range []string{"../secret", "abs", "dotdot/secret", "a/b/up"} {
		_, err := r.Open(name)
		var pe *fs.PathError
		if !errors.As(err, &pe) || pe.Op != "openat" || pe.Path != name || !errors.Is(err, syscall.EXDEV) ||
			!strings.Contains(err.Error(), "path escapes from parent") {
			t.Errorf("Open(%q) = %v, want a PathError saying the path escapes, matching EXDEV", name, err)
		}
	}
	if _, err := r.OpenFile("x", os.O_CREATE|os.O_RDWR, 0644|fs.ModeSetuid); err == nil || !strings.Contains(err.Error(), "unsupported file mode") {
		t.Errorf("OpenFile with setuid: %v, want os.Root's unsupported file mode", err)
	}
	if err := r.Mkdir("x", fs.ModeSticky|0755); err == nil || !strings.Contains(err.Error(), "unsupported file mode") {
		t.Errorf("Mkdir with sticky: %v", err)
	}
	if _, err := r.Open(""); err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "empty path") {
		t.Errorf(`Open("") = %v, want os.Root's "empty path"`, err)
	}

	// Created files and directories take the mode asked for (before the
	// umask, which the test clears from the comparison).
	if err := r.WriteFile("a/w", []byte("written"), 0600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "a/w")); err != nil || fi.Mode().Perm()&^0o022 != 0600 {
		t.Errorf("WriteFile made %v, %v", fi, err)
	}
	if err := r.Mkdir("a/m", 0700); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "a/m")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0700 {
		t.Errorf("Mkdir made %v, %v", fi, err)
	}

	// A nested root is confined to its own directory.
	sub, err := r.OpenRoot("a")
	if err != nil {
		t.Fatal(err)
	}
	if sub.Name() != dir+"/a" {
		t.Errorf("nested Name() = %q", sub.Name())
	}
	if b, err := sub.ReadFile("b/deep"); err != nil || string(b) != "deep" {
		t.Errorf("nested ReadFile = %q, %v", b, err)
	}
	for _, name := range []string{"../hello.txt", "inside"} { // inside -> ../hello.txt
		if _, err := sub.Open(name); !errors.Is(err, syscall.EXDEV) {
			t.Errorf("nested Open(%q) = %v, want an escape", name, err)
		}
	}
	if _, err := r.OpenRoot("hello.txt"); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("OpenRoot of a file: %v, want ENOTDIR", err)
	}
	sub.Close()

	// The root follows its directory when it moves.
	moved := dir + ".moved"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if b, err := r.ReadFile("hello.txt"); err != nil || string(b) != "hello\n" {
		t.Errorf("ReadFile after the root moved: %q, %v", b, err)
	}
	os.Rename(moved, dir)

	// fstest over the FS of a tree without the escaping links.
	clean := t.TempDir()
	os.MkdirAll(filepath.Join(clean, "a/b"), 0755)
	os.WriteFile(filepath.Join(clean, "hello.txt"), []byte("hello\n"), 0644)
	os.WriteFile(filepath.Join(clean, "a/b/deep"), []byte("deep"), 0600)
	os.Symlink("../hello.txt", filepath.Join(clean, "a/inside"))
	cr, err := cfg.OpenRoot(clean)
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(cr.FS(), "hello.txt", "a/b/deep", "a/inside"); err != nil {
		t.Error(err)
	}
	if _, err := cr.FS().Open("a/../hello.txt"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("FS().Open of a name fs.ValidPath rejects: %v", err)
	}

	// Close: files stay open; every call then fails with ErrClosed.
	kept, err := cr.Open("hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	if err := cr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cr.Close(); err != nil {
		t.Errorf("second Close: %v, want nil as os.Root", err)
	}
	if _, err := cr.Open("hello.txt"); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Open after Close: %v", err)
	}
	if _, err := cr.Stat("."); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Stat after Close: %v", err)
	}
	if b, err := io.ReadAll(kept); err != nil || string(b) != "hello\n" {
		t.Errorf("a file opened in a closed Root: %q, %v", b, err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("the file outside the root: %v", err)
	}
}

// TestRootMagicLinks: /proc's magic links (whose target is an open file,
// not a path) are refused even inside a root, with ELOOP.
func TestRootMagicLinks(t *testing.T) {
	testutil.CheckFDs(t)
	r, err := cfg.OpenRoot("/proc/self")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, name := range []string{"cwd", "root", "exe", "fd/0", "cwd/x"} {
		if _, err := r.Open(name); !errors.Is(err, syscall.ELOOP) && !errors.Is(err, syscall.EXDEV) {
			t.Errorf("Open(%q) in /proc/self = %v, want ELOOP", name, err)
		}
		if _, err := r.Stat(name); !errors.Is(err, syscall.ELOOP) && !errors.Is(err, syscall.EXDEV) {
			t.Errorf("Stat(%q) in /proc/self = %v, want ELOOP", name, err)
		}
	}
	if fi, err := r.Lstat("cwd"); err != nil || fi.Mode().Type() != fs.ModeSymlink {
		t.Errorf("Lstat(cwd) = %v, %v: the link itself may be described", fi, err)
	}
}

// FuzzRoot states Root's confinement: whatever the name and the
// operation, nothing outside the root is opened, described, created,
// removed, renamed, linked to or changed (mode, owner, times, link count). A file opened is, by the kernel's account (/proc/self/fd),
// under the root; a file described is not the one outside; the directory
// above the root holds exactly what it held.
func FuzzRoot(f *testing.F) {
	// Ops 0-4: OpenFile, Stat, Lstat, Mkdir, Remove; 5-15: MkdirAll,
	// RemoveAll, Rename from and to, Link from and to, Symlink, Chmod,
	// Chown, Lchown, Chtimes.
	const rootFuzzOps = 16
	for _, s := range []string{"hello.txt", ".", "..", "../secret", "a/../../secret", "abs", "rel", "a/b/up", "proc",
		"cwd", "dotdot", "dotdot/secret", "dotdot/root", "a/bdir/../..", "/", "/tmp", "a/new", "dotdot/new",
		"rel/", "abs/x/y", "dangling/x", "a/..", "a/full"} {
		for op := range byte(rootFuzzOps) {
			f.Add(op, s)
		}
	}
	f.Fuzz(func(t *testing.T, op byte, name string) {
		dir, outside := rootTree(t)
		top := filepath.Dir(dir)
		realRoot, err := filepath.EvalSymlinks(dir)
		if err != nil {
			t.Fatal(err)
		}
		var secret syscall.Stat_t
		if err := syscall.Stat(outside, &secret); err != nil {
			t.Fatal(err)
		}
		before := listTree(top)
		beforeOutside := strings.Split(before, "\n")
		r, err := cfg.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		op %= rootFuzzOps
		switch op {
		case 0:
			file, err := r.OpenFile(name, os.O_RDWR|os.O_CREATE, 0644)
			if err != nil {
				file, err = r.Open(name)
			}
			if err != nil {
				return
			}
			defer file.Close()
			real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(file.Fd())))
			if err != nil {
				t.Fatal(err)
			}
			if real != realRoot && !strings.HasPrefix(real, realRoot+"/") {
				t.Fatalf("OpenFile(%q) opened %q, outside the root %q", name, real, realRoot)
			}
		case 1, 2:
			stat := r.Stat
			if op == 2 {
				stat = r.Lstat
			}
			fi, err := stat(name)
			if err != nil {
				return
			}
			st := fi.Sys().(*syscall.Stat_t)
			if st.Ino == secret.Ino && st.Dev == secret.Dev {
				t.Fatalf("Stat(%q) described the file outside the root", name)
			}
		case 3:
			r.Mkdir(name, 0755)
		case 4:
			r.Remove(name)
		case 5:
			r.MkdirAll(name, 0755)
		case 6:
			r.RemoveAll(name)
		case 7:
			r.Rename(name, "a/renamed")
		case 8:
			r.Rename("hello.txt", name)
		case 9:
			r.Link(name, "a/linked")
		case 10:
			r.Link("hello.txt", name)
		case 11:
			r.Symlink("../secret", name)
		case 12:
			r.Chmod(name, 0o777|fs.ModeSetuid)
		case 13:
			r.Chown(name, 1234, 5678)
		case 14:
			r.Lchown(name, 1234, 5678)
		case 15:
			r.Chtimes(name, fixedTime, fixedTime)
		}
		// Outside the root (entries of top not under "root"), nothing
		// changed.
		after := strings.Split(listTree(top), "\n")
		outsideOnly := func(l []string) []string {
			return slices.DeleteFunc(slices.Clone(l), func(s string) bool {
				return strings.HasPrefix(s, `"root":`) || strings.HasPrefix(s, `"root/`)
			})
		}
		if o1, o2 := outsideOnly(beforeOutside), outsideOnly(after); !slices.Equal(o1, o2) {
			t.Fatalf("op %d on %q changed the tree outside the root:\nbefore %v\nafter  %v", op, name, o1, o2)
		}
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("op %d on %q removed the root itself: %v", op, name, err)
		}
	})
}
