package uringfs

import (
	"io/fs"
	"strings"
	"syscall"

	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// dirFS is the fs.FS of DirFS.
type dirFS struct {
	dir string
	c   Config
}

// DirFS returns a file system for the tree of files rooted at dir, like
// os.DirFS, but confined by the kernel as a Root is: every name is opened
// with openat2(2) relative to an fd of dir with RESOLVE_BENEATH and
// RESOLVE_NO_MAGICLINKS, so a name, or a symlink met on the way, that
// would lead outside dir ("..", an absolute symlink, /proc/self/fd/N) is
// refused (EXDEV or ELOOP in a *fs.PathError), never opened. Names are
// first checked with fs.ValidPath, as fs.FS requires.
//
// As with os.DirFS, and unlike a Root, dir itself is resolved afresh for
// each call. The result implements fs.StatFS, fs.ReadFileFS,
// fs.ReadDirFS and fs.ReadLinkFS; its files are *File.
func DirFS(dir string) fs.FS { return Config{}.DirFS(dir) }

// DirFS is the package's DirFS, opening through c.
func (c Config) DirFS(dir string) fs.FS { return dirFS{dir, c} }

var (
	_ fs.StatFS     = dirFS{}
	_ fs.ReadFileFS = dirFS{}
	_ fs.ReadDirFS  = dirFS{}
	_ fs.ReadLinkFS = dirFS{}
)

// join gives the name an opened file carries, as os.DirFS names it.
func (d dirFS) join(name string) string {
	if name == "." {
		return d.dir
	}
	return strings.TrimSuffix(d.dir, "/") + "/" + name
}

// in resolves dir, then runs fn beneath it, for the fs.FS method op.
// Errors of the lookup and of fn are *fs.PathError with Op sysOp, as
// os.DirFS reports them: its ReadFile and ReadDir say "open" (from the
// os.Open they make), not "readfile" and "readdir", which it keeps for
// invalid names.
func in[T any](d dirFS, op, sysOp, name string, fn func(b beneath) (T, error)) (T, error) {
	var zero T
	if !fs.ValidPath(name) || strings.IndexByte(name, 0) >= 0 || d.dir == "" {
		// os.DirFS("") refuses everything rather than use the working
		// directory. A NUL byte, which no system call takes, is
		// fs.ErrInvalid for os.DirFS too (filepath.Localize), where
		// the kernel's answer would be EINVAL.
		return zero, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if len(d.join(name)) >= unix.PathMax {
		// os.DirFS opens dir/name as one path, which the kernel
		// refuses past PATH_MAX; Root, like os.Root, walks longer
		// names an element at a time.
		return zero, &fs.PathError{Op: sysOp, Path: name, Err: syscall.ENAMETOOLONG}
	}
	e, err := d.c.executor()
	if err != nil {
		return zero, &fs.PathError{Op: op, Path: name, Err: err}
	}
	root, err := openat2(e, unix.AT_FDCWD, d.dir, uring.OpenHow{Flags: rootFlags | unix.O_CLOEXEC})
	if err != nil {
		return zero, &fs.PathError{Op: sysOp, Path: name, Err: err}
	}
	defer unix.Close(root)
	v, err := fn(beneath{e: e, fd: root})
	if err != nil {
		// v may hold what was read before the error, as os returns it.
		return v, &fs.PathError{Op: sysOp, Path: name, Err: err}
	}
	return v, nil
}

// Open opens name for reading. The fs.File is a *File.
func (d dirFS) Open(name string) (fs.File, error) {
	f, err := in(d, "open", "open", name, func(b beneath) (*File, error) {
		return b.open(name, unix.O_RDONLY, 0, d.join(name))
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Stat describes name, following a final symlink if it stays beneath
// the root.
func (d dirFS) Stat(name string) (fs.FileInfo, error) {
	return in(d, "stat", "stat", name, func(b beneath) (fs.FileInfo, error) { return b.stat(name, false, d.join(name)) })
}

// Lstat describes name without following a final symlink.
func (d dirFS) Lstat(name string) (fs.FileInfo, error) {
	return in(d, "lstat", "lstat", name, func(b beneath) (fs.FileInfo, error) { return b.stat(name, true, d.join(name)) })
}

// ReadFile reads the file name whole.
func (d dirFS) ReadFile(name string) ([]byte, error) {
	return in(d, "readfile", "open", name, func(b beneath) ([]byte, error) { return b.readFile(name) })
}

// ReadDir lists the directory name, sorted by file name.
func (d dirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	return in(d, "readdir", "open", name, func(b beneath) ([]fs.DirEntry, error) { return b.readDir(name) })
}

// ReadLink returns the target of the symlink name, as it is written: the
// target itself is not checked, and following it through this fs.FS is
// confined as any other name.
func (d dirFS) ReadLink(name string) (string, error) {
	return in(d, "readlink", "readlink", name, func(b beneath) (string, error) { return b.readLink(name) })
}
