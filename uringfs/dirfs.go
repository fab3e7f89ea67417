package uringfs

import (
	"io/fs"
	"slices"
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
// os.DirFS, but confined by the kernel: every name is opened with
// openat2(2) relative to an fd of dir with RESOLVE_BENEATH and
// RESOLVE_NO_MAGICLINKS, so a name, or a symlink met on the way, that
// would lead outside dir ("..", an absolute symlink, /proc/self/fd/N) is
// refused (EXDEV or ELOOP in a *fs.PathError), never opened. Names are
// first checked with fs.ValidPath, as fs.FS requires.
//
// As with os.DirFS, dir itself is resolved afresh for each call. The
// result implements fs.StatFS, fs.ReadFileFS, fs.ReadDirFS and
// fs.ReadLinkFS; its files
// are *File.
func DirFS(dir string) fs.FS { return Config{}.DirFS(dir) }

// DirFS is the package's DirFS, opening through c.
func (c Config) DirFS(dir string) fs.FS { return dirFS{dir, c} }

var (
	_ fs.StatFS     = dirFS{}
	_ fs.ReadFileFS = dirFS{}
	_ fs.ReadDirFS  = dirFS{}
	_ fs.ReadLinkFS = dirFS{}
)

const beneath = uring.ResolveBeneath | uring.ResolveNoMagiclinks

// join gives the name an opened file carries, as os.DirFS names it.
func (d dirFS) join(name string) string {
	if name == "." {
		return d.dir
	}
	return strings.TrimSuffix(d.dir, "/") + "/" + name
}

// open opens name beneath the root with flags.
func (d dirFS) open(op, name string, flags int) (*File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if d.dir == "" {
		// os.DirFS("") refuses everything rather than use the working
		// directory.
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	e, err := d.c.executor()
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	root, err := openat2(e, unix.AT_FDCWD, d.dir, uring.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	fd, err := openat2(e, root, name, uring.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: beneath})
	unix.Close(root)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return wrapFd(e, fd, d.join(name), false), nil
}

// Open opens name for reading. The fs.File is a *File.
func (d dirFS) Open(name string) (fs.File, error) {
	f, err := d.open("open", name, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Stat describes name, following a final symlink if it stays beneath
// the root.
func (d dirFS) Stat(name string) (fs.FileInfo, error) {
	f, err := d.open("stat", name, unix.O_PATH)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: unwrapPath(err)}
	}
	return fi, nil
}

// ReadFile reads the file name whole.
func (d dirFS) ReadFile(name string) ([]byte, error) {
	f, err := d.open("readfile", name, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := f.readAll()
	if err != nil {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: unwrapPath(err)}
	}
	return b, nil
}

// ReadDir lists the directory name, sorted by file name.
func (d dirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := d.open("readdir", name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	if err != nil {
		return ents, &fs.PathError{Op: "readdir", Path: name, Err: unwrapPath(err)}
	}
	return ents, nil
}

// unwrapPath strips a *fs.PathError so that the caller can rewrap the
// cause with the name the fs.FS user passed.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// Lstat describes name without following a final symlink.
func (d dirFS) Lstat(name string) (fs.FileInfo, error) {
	f, err := d.open("lstat", name, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: unwrapPath(err)}
	}
	return fi, nil
}

// ReadLink returns the target of the symlink name, as it is written: the
// target itself is not checked, and following it through this fs.FS is
// confined as any other name.
func (d dirFS) ReadLink(name string) (string, error) {
	f, err := d.open("readlink", name, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for n := 256; ; n *= 2 {
		b := make([]byte, n)
		// An empty path reads the link the O_PATH fd itself names.
		m, err := unix.Readlinkat(f.fd, "", b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			if err == syscall.ENOENT {
				// readlinkat on a non-link O_PATH fd says ENOENT;
				// readlink(2) on a path says EINVAL, as os does.
				err = syscall.EINVAL
			}
			return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
		}
		if m < n {
			return string(b[:m]), nil
		}
	}
}
