package uringfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

// pathAPI is the package-level path API that os and uringfs share, so
// that one script drives both.
type pathAPI struct {
	name                  string
	Stat, Lstat           func(string) (fs.FileInfo, error)
	Mkdir, MkdirAll       func(string, fs.FileMode) error
	Remove, RemoveAll     func(string) error
	Rename, Link, Symlink func(string, string) error
	Readlink              func(string) (string, error)
	ReadDir               func(string) ([]fs.DirEntry, error)
	Chmod                 func(string, fs.FileMode) error
	Chown, Lchown         func(string, int, int) error
	Chtimes               func(string, time.Time, time.Time) error
	Truncate              func(string, int64) error
	CreateTemp            func(dir, pattern string) (osFile, error)
	MkdirTemp             func(dir, pattern string) (string, error)
}

// pathAPIs returns os's API and cfg's, in that order.
func pathAPIs() [2]pathAPI {
	c := cfg
	return [2]pathAPI{{
		name: "os", Stat: os.Stat, Lstat: os.Lstat, Mkdir: os.Mkdir, MkdirAll: os.MkdirAll,
		Remove: os.Remove, RemoveAll: os.RemoveAll, Rename: os.Rename, Link: os.Link, Symlink: os.Symlink,
		Readlink: os.Readlink, ReadDir: os.ReadDir, Chmod: os.Chmod, Chown: os.Chown, Lchown: os.Lchown,
		Chtimes: os.Chtimes, Truncate: os.Truncate,
		CreateTemp: func(dir, pattern string) (osFile, error) {
			f, err := os.CreateTemp(dir, pattern)
			if err != nil {
				return nil, err
			}
			return f, nil
		},
		MkdirTemp: os.MkdirTemp,
	}, {
		name: "uringfs", Stat: c.Stat, Lstat: c.Lstat, Mkdir: c.Mkdir, MkdirAll: c.MkdirAll,
		Remove: c.Remove, RemoveAll: c.RemoveAll, Rename: c.Rename, Link: c.Link, Symlink: c.Symlink,
		Readlink: c.Readlink, ReadDir: c.ReadDir, Chmod: c.Chmod, Chown: c.Chown, Lchown: c.Lchown,
		Chtimes: c.Chtimes, Truncate: c.Truncate,
		CreateTemp: func(dir, pattern string) (osFile, error) {
			f, err := c.CreateTemp(dir, pattern)
			if err != nil {
				return nil, err
			}
			return f, nil
		},
		MkdirTemp: c.MkdirTemp,
	}}
}

// The package functions must have os's signatures exactly.
var (
	_ func(string) (fs.FileInfo, error)        = Stat
	_ func(string) (fs.FileInfo, error)        = Lstat
	_ func(string, fs.FileMode) error          = Mkdir
	_ func(string, fs.FileMode) error          = MkdirAll
	_ func(string) error                       = Remove
	_ func(string) error                       = RemoveAll
	_ func(string, string) error               = Rename
	_ func(string, string) error               = Link
	_ func(string, string) error               = Symlink
	_ func(string) (string, error)             = Readlink
	_ func(string) ([]fs.DirEntry, error)      = ReadDir
	_ func(string, fs.FileMode) error          = Chmod
	_ func(string, int, int) error             = Chown
	_ func(string, int, int) error             = Lchown
	_ func(string, time.Time, time.Time) error = Chtimes
	_ func(string, int64) error                = Truncate
	_ func(string, string) (*File, error)      = CreateTemp
	_ func(string, string) (string, error)     = MkdirTemp
)

// pathTree is the tree every path script starts from.
func pathTree(t *testing.T, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "f"), []byte("hello"), 0644))
	must(os.Mkdir(filepath.Join(dir, "d"), 0755))
	must(os.WriteFile(filepath.Join(dir, "d/x"), []byte("x"), 0600))
	must(os.MkdirAll(filepath.Join(dir, "d/sub/deeper"), 0750))
	must(os.WriteFile(filepath.Join(dir, "d/sub/deeper/y"), []byte("y"), 0644))
	must(os.Symlink("../f", filepath.Join(dir, "d/up")))
	must(os.Mkdir(filepath.Join(dir, "e"), 0700))
	must(os.Symlink("f", filepath.Join(dir, "l")))
	must(os.Symlink("d", filepath.Join(dir, "dl")))
	must(os.Symlink("nowhere", filepath.Join(dir, "dangling")))
	must(os.Symlink("loop", filepath.Join(dir, "loop")))
	// Without write permission, or any: errors for a user other than
	// root (TestPathFuncsAsNobody), who may do everything.
	must(os.Mkdir(filepath.Join(dir, "ro"), 0755))
	must(os.WriteFile(filepath.Join(dir, "ro/x"), []byte("x"), 0644))
	must(os.Mkdir(filepath.Join(dir, "ro/sub"), 0755))
	must(os.Chmod(filepath.Join(dir, "ro"), 0555))
	must(os.WriteFile(filepath.Join(dir, "rofile"), []byte("ro"), 0444))
	must(os.Mkdir(filepath.Join(dir, "noperm"), 0755))
	must(os.WriteFile(filepath.Join(dir, "noperm/x"), []byte("x"), 0644))
	must(os.Chmod(filepath.Join(dir, "noperm"), 0))
	t.Cleanup(func() { unlockTree(dir) })
}

// unlockTree makes every directory under dir (the scripts rename and
// chmod them) writable and searchable by its owner, so that TempDir can
// remove the tree whoever runs the test.
func unlockTree(dir string) {
	os.Chmod(dir, 0o755)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			unlockTree(filepath.Join(dir, e.Name()))
		}
	}
}

// randomPart is the random part of a temporary name made from the
// patterns the tests use.
var randomPart = regexp.MustCompile(`(tmp|pre)[0-9]+`)

// describePath renders a result so that os's and uringfs's compare equal
// when they behave alike: describe's text and sentinels, the error's
// type and operation, and the errno inside, with the directory and the
// random part of temporary names replaced.
func describePath(dir string, v any, err error) string {
	s := describe(dir, v, err)
	if err != nil {
		s += fmt.Sprintf(" %T", err)
		switch e := err.(type) {
		case *fs.PathError:
			s += " op=" + e.Op
		case *os.LinkError:
			s += " op=" + e.Op
		}
		var errno syscall.Errno
		if errors.As(err, &errno) {
			s += fmt.Sprintf(" errno=%d", int(errno))
		}
	}
	return randomPart.ReplaceAllString(s, "${1}RND")
}

// describeInfo renders a FileInfo as far as two copies of a tree made at
// different times agree on it.
func describeInfo(fi fs.FileInfo) string {
	st := fi.Sys().(*syscall.Stat_t)
	size := fi.Size()
	if fi.IsDir() {
		size = -1 // depends on the directory's history
	}
	return fmt.Sprintf("%s:%v:%d:dir=%v:nlink=%d:uid=%d", fi.Name(), fi.Mode(), size, fi.IsDir(), st.Nlink, st.Uid)
}

// TestPathFuncsMatchOS runs each package-level path function and os's on
// the same names, in two copies of one tree, and checks that they agree:
// the same results, the same errors (type, operation, text and errno),
// the same trees after.
func TestPathFuncsMatchOS(t *testing.T) {
	testutil.CheckFDs(t)
	names := []string{
		"f", "d", "e", "l", "dl", "dangling", "loop", "missing", "f/x", "missing/x", "d/x", "d/sub", "d/up",
		"d/", "f/", "l/", "dl/", "e/", "e/.", "d/sub/..", ".", "", "a\x00b", "d//sub//", "dl/sub/deeper",
		"ro", "ro/x", "ro/sub", "ro/new", "rofile", "noperm", "noperm/x",
	}
	uid := os.Getuid()
	type script struct {
		name string
		run  func(api pathAPI, dir string) string
	}
	each := func(fn func(api pathAPI, dir, name string) string) func(api pathAPI, dir string) string {
		return func(api pathAPI, dir string) string {
			var b strings.Builder
			for _, n := range names {
				p := n
				if n != "" {
					p = filepath.Join(dir, n)
					if strings.HasSuffix(n, "/") || strings.HasSuffix(n, "/.") || n == "." {
						p = dir + "/" + n
					}
				}
				fmt.Fprintf(&b, "%q: %s\n", n, fn(api, dir, p))
			}
			return b.String()
		}
	}
	stat := func(lstat bool) func(api pathAPI, dir, p string) string {
		return func(api pathAPI, dir, p string) string {
			f := api.Stat
			if lstat {
				f = api.Lstat
			}
			fi, err := f(p)
			if err != nil {
				return describePath(dir, "stat", err)
			}
			return describeInfo(fi)
		}
	}
	// Each script that changes the tree runs on a fresh copy of it per
	// name: the scripts below take one name at a time.
	scripts := []script{
		{"Stat", each(stat(false))},
		{"Lstat", each(stat(true))},
		{"Readlink", each(func(api pathAPI, dir, p string) string {
			s, err := api.Readlink(p)
			return describePath(dir, s, err)
		})},
		{"ReadDir", each(func(api pathAPI, dir, p string) string {
			ents, err := api.ReadDir(p)
			s := "readdir"
			for _, e := range ents {
				fi, ierr := e.Info()
				if ierr != nil {
					s += " " + describePath(dir, e.Name(), ierr)
					continue
				}
				s += fmt.Sprintf(" %s:%v:%v:%s", e.Name(), e.Type(), e.IsDir(), describeInfo(fi))
			}
			return describePath(dir, s, err)
		})},
	}
	// Scripts that change the tree: one fresh tree per name.
	changing := []struct {
		name string
		fn   func(api pathAPI, dir, p string) string
	}{
		{"Mkdir", func(api pathAPI, dir, p string) string {
			return describePath(dir, "mkdir", api.Mkdir(p, 0750))
		}},
		{"MkdirNew", func(api pathAPI, dir, p string) string {
			if p == "" {
				return "skipped: would name the working directory"
			}
			return describePath(dir, "mkdir", api.Mkdir(p+"new", 0750|fs.ModeSticky|fs.ModeSetgid))
		}},
		{"MkdirAll", func(api pathAPI, dir, p string) string {
			return describePath(dir, "mkdirall", api.MkdirAll(p, 0750))
		}},
		{"MkdirAllDeep", func(api pathAPI, dir, p string) string {
			if p == "" {
				return "skipped: would name the root directory"
			}
			return describePath(dir, "mkdirall", api.MkdirAll(p+"/n1//n2/./n3/", 0700))
		}},
		{"Remove", func(api pathAPI, dir, p string) string {
			return describePath(dir, "remove", api.Remove(p))
		}},
		{"RemoveAll", func(api pathAPI, dir, p string) string {
			if api.name == "os" && strings.HasSuffix(p, "/..") {
				// os empties the directory above; uringfs refuses,
				// as rm(1) does: RemoveAll's documented difference.
				return describePath(dir, "removeall", &fs.PathError{Op: "RemoveAll", Path: p, Err: syscall.EINVAL})
			}
			return describePath(dir, "removeall", api.RemoveAll(p))
		}},
		{"RenameTo", func(api pathAPI, dir, p string) string {
			return describePath(dir, "rename", api.Rename(filepath.Join(dir, "f"), p))
		}},
		{"RenameDirTo", func(api pathAPI, dir, p string) string {
			return describePath(dir, "rename", api.Rename(filepath.Join(dir, "e"), p))
		}},
		{"RenameFrom", func(api pathAPI, dir, p string) string {
			return describePath(dir, "rename", api.Rename(p, filepath.Join(dir, "new")))
		}},
		{"RenameToSelf", func(api pathAPI, dir, p string) string {
			return describePath(dir, "rename", api.Rename(p, p))
		}},
		{"LinkTo", func(api pathAPI, dir, p string) string {
			return describePath(dir, "link", api.Link(filepath.Join(dir, "f"), p))
		}},
		{"LinkFrom", func(api pathAPI, dir, p string) string {
			return describePath(dir, "link", api.Link(p, filepath.Join(dir, "new")))
		}},
		{"Symlink", func(api pathAPI, dir, p string) string {
			return describePath(dir, "symlink", api.Symlink("target", p))
		}},
		{"SymlinkTarget", func(api pathAPI, dir, p string) string {
			return describePath(dir, "symlink", api.Symlink(p, filepath.Join(dir, "new")))
		}},
		{"Chmod", func(api pathAPI, dir, p string) string {
			return describePath(dir, "chmod", api.Chmod(p, 0604|fs.ModeSetuid))
		}},
		{"Chown", func(api pathAPI, dir, p string) string {
			return describePath(dir, "chown", api.Chown(p, uid, -1))
		}},
		{"Lchown", func(api pathAPI, dir, p string) string {
			return describePath(dir, "lchown", api.Lchown(p, -1, os.Getgid()))
		}},
		{"Chtimes", func(api pathAPI, dir, p string) string {
			return describePath(dir, "chtimes", api.Chtimes(p, fixedTime, time.Time{}))
		}},
		{"Truncate", func(api pathAPI, dir, p string) string {
			return describePath(dir, "truncate", api.Truncate(p, 2))
		}},
		{"TruncateGrow", func(api pathAPI, dir, p string) string {
			return describePath(dir, "truncate", api.Truncate(p, 9))
		}},
		{"TruncateNegative", func(api pathAPI, dir, p string) string {
			return describePath(dir, "truncate", api.Truncate(p, -1))
		}},
	}
	for _, ch := range changing {
		scripts = append(scripts, script{ch.name, nil})
	}
	sawPermission := false
	for i, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			var got [2]string
			for side, api := range pathAPIs() {
				if sc.run != nil {
					dir := t.TempDir()
					pathTree(t, dir)
					got[side] = sc.run(api, dir)
					continue
				}
				fn := changing[i-(len(scripts)-len(changing))].fn
				var b strings.Builder
				for _, n := range names {
					dir := t.TempDir()
					pathTree(t, dir)
					p := n
					if n != "" {
						p = dir + "/" + n
					}
					res := fn(api, dir, p)
					tree := strings.ReplaceAll(listTree(dir), dir, "$DIR")
					fmt.Fprintf(&b, "%q: %s\n%s", n, res, tree)
				}
				got[side] = b.String()
			}
			if got[0] != got[1] {
				t.Errorf("os and uringfs differ:\n%s", lineDiff(got[0], got[1]))
			}
			if strings.Contains(got[1], "perm=true") {
				sawPermission = true
			}
		})
	}
	if uid != 0 && !sawPermission {
		t.Errorf("as uid %d, no script met a permission error: the tree lost its read-only parts", uid)
	}
}

// lineDiff shows the lines where a and b differ.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Fprintf(&out, "line %d:\nos:      %s\nuringfs: %s\n", i, x, y)
		}
	}
	return out.String()
}

// TestTempMatchesOS runs CreateTemp and MkdirTemp and os's side by side:
// the same names (but for the random part), modes and errors, in a
// directory given and in TMPDIR.
func TestTempMatchesOS(t *testing.T) {
	testutil.CheckFDs(t)
	type call struct{ dir, pattern string }
	calls := []call{
		{"$DIR", "tmp*.x"}, {"$DIR/", "tmp"}, {"$DIR", "*"}, {"$DIR", ""}, {"", "tmp*"}, {"$DIR", "pre*tmp*.x"},
		{"$DIR", "a/b*"}, {"$DIR/missing", "tmp*"}, {"$DIR/f", "tmp*"}, {"$DIR/l", "tmp*"}, {"$DIR/d", "tmp*"},
		{"$DIR/missing/x", "tmp*"}, {"$DIR", "tmp\x00*"},
	}
	// Outside the directory, the random part is the only long run of
	// digits.
	digits := regexp.MustCompile(`[0-9]{5,}`)
	var got [2]string
	for side, api := range pathAPIs() {
		var b strings.Builder
		for _, c := range calls {
			for _, mkdir := range []bool{false, true} {
				dir := t.TempDir()
				pathTree(t, dir)
				t.Setenv("TMPDIR", dir)
				d := strings.ReplaceAll(c.dir, "$DIR", dir)
				var res string
				if !mkdir {
					f, err := api.CreateTemp(d, c.pattern)
					res = describePath(dir, nil, err)
					if err == nil {
						fi, serr := f.Stat()
						if serr != nil {
							t.Fatal(serr)
						}
						_, werr := f.Write([]byte("data"))
						res = fmt.Sprintf("%s %s write=%v", describePath(dir, f.Name(), nil), describeInfo(fi), werr)
						f.Close()
					}
				} else {
					name, err := api.MkdirTemp(d, c.pattern)
					res = describePath(dir, name, err)
				}
				fmt.Fprintf(&b, "mkdir=%v %q %q: %s\n%s", mkdir, c.dir, c.pattern, res,
					strings.ReplaceAll(listTree(dir), dir, "$DIR"))
			}
		}
		got[side] = digits.ReplaceAllString(b.String(), "RND")
	}
	if got[0] != got[1] {
		t.Errorf("os and uringfs differ:\n%s", lineDiff(got[0], got[1]))
	}
	// Two calls never make the same name.
	dir := t.TempDir()
	seen := map[string]bool{}
	for range 50 {
		f, err := cfg.CreateTemp(dir, "tmp")
		if err != nil {
			t.Fatal(err)
		}
		d, err := cfg.MkdirTemp(dir, "tmp")
		if err != nil {
			t.Fatal(err)
		}
		if seen[f.Name()] || seen[d] {
			t.Fatalf("name made twice: %s or %s", f.Name(), d)
		}
		seen[f.Name()], seen[d] = true, true
		f.Close()
	}
}
