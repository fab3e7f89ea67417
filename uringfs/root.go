package uringfs

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"sync"

	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// Root is a directory whose tree files are opened in, and never outside,
// like os.Root, with os.Root's whole method set. It keeps the directory
// open, and every name given to its methods stays beneath it. A name may
// use ".." and symlinks as long as they stay inside; one that would lead
// out (".." past the root, an absolute name or symlink, a /proc magic
// link) fails with an error matching syscall.EXDEV ("path escapes from
// parent", as os says) or ELOOP. The opened files are *File, running on
// io_uring.
//
// Names that are opened or described (Open, OpenFile, Create, OpenRoot,
// Stat, Lstat, Readlink, ReadFile, WriteFile, FS) are resolved by the
// kernel in one openat2(2) with RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS.
// Names whose last element is acted on rather than opened (Mkdir,
// MkdirAll, Remove, RemoveAll, Rename, Link, Symlink, Chmod, Chown,
// Lchown, Chtimes) are walked one element at a time, as os.Root walks
// them, each directory opened beneath the one before, so that their
// edge cases (a trailing slash or "..", a symlink as the last element,
// os.Root's limit of 8 symlinks) come out as os.Root's. Creating,
// removing, renaming and linking run on io_uring (mkdirat, unlinkat,
// renameat, linkat, symlinkat); io_uring has no chmod, chown or utimes,
// so those are system calls. As os.Root documents, Chmod, Chown and
// Chtimes may act on a symlink itself if the file is replaced by one
// while they run: a file inside the root, never one outside.
//
// If the directory is moved, a Root follows it. Methods on a Root are safe
// for concurrent use. As with os.Root, file system boundaries, bind mounts
// and device files are not barriers.
//
// Errors are those os.Root returns: *fs.PathError with its operation
// names ("openat", "statat", "mkdirat", "removeat", "readlinkat",
// "chmodat", "chownat", "lchownat", "chtimesat", "RemoveAll") and
// *os.LinkError for Rename ("renameat"), Link ("linkat") and Symlink
// ("symlinkat"), so errors.Is(err, fs.ErrNotExist) and the like work as
// with os. After Close they match fs.ErrClosed.
type Root struct {
	name string
	b    beneath
	// mu guards refs and closed. The directory fd is closed when the
	// Root is closed and no call is using it, as os.Root does, so a
	// Close never waits for a slow open (a FIFO) to return.
	mu      sync.Mutex
	refs    int
	closed  bool
	cleanup runtime.Cleanup
}

// OpenRoot opens the directory dir as a Root, following symlinks in dir
// itself, as os.OpenRoot.
func OpenRoot(dir string) (*Root, error) { return Config{}.OpenRoot(dir) }

// OpenRoot is the package's OpenRoot, opening through c.
func (c Config) OpenRoot(dir string) (*Root, error) {
	e, err := c.executor()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	fd, err := openat2(e, unix.AT_FDCWD, dir, uring.OpenHow{Flags: rootFlags | unix.O_CLOEXEC})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	return newRoot(beneath{e: e, fd: fd}, dir), nil
}

// rootFlags open a Root's directory: O_PATH, since the fd is only ever a
// starting point for lookups, which need search permission, not read.
const rootFlags = unix.O_PATH | unix.O_DIRECTORY

func newRoot(b beneath, name string) *Root {
	r := &Root{name: name, b: b}
	r.cleanup = runtime.AddCleanup(r, func(fd int) { unix.Close(fd) }, b.fd)
	return r
}

// Name returns the name the Root was opened with; for a Root opened in
// another, the two names joined. It may be called after Close.
func (r *Root) Name() string { return r.name }

// Close closes the Root; the files opened in it stay open. Calls after
// Close fail with an error matching fs.ErrClosed. The directory fd is
// released once no call still uses it. Close always returns nil, as
// os.Root's does.
func (r *Root) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.cleanup.Stop()
		if r.refs == 0 {
			unix.Close(r.b.fd)
		}
	}
	return nil
}

func (r *Root) incref() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fs.ErrClosed
	}
	r.refs++
	return nil
}

func (r *Root) decref() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refs--
	if r.closed && r.refs == 0 {
		unix.Close(r.b.fd)
	}
}

// do runs fn with a reference on the directory fd and wraps its error.
func do[T any](r *Root, op, name string, fn func(b beneath) (T, error)) (T, error) {
	var zero T
	if r == nil {
		return zero, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if err := r.incref(); err != nil {
		return zero, &fs.PathError{Op: op, Path: name, Err: err}
	}
	defer r.decref()
	if name == "" {
		// As os.Root, not the kernel's ENOENT.
		return zero, &fs.PathError{Op: op, Path: name, Err: errEmptyPath}
	}
	v, err := fn(r.b)
	if err != nil {
		// v may hold what was read before the error, as os returns it.
		return v, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return v, nil
}

// use runs fn with a reference on the directory fd and returns its error
// bare, for methods that wrap it their own way (*os.LinkError, or a
// *fs.PathError naming an element rather than the whole name).
func (r *Root) use(fn func(b beneath) error) error {
	if r == nil {
		return fs.ErrInvalid
	}
	if err := r.incref(); err != nil {
		return err
	}
	defer r.decref()
	return fn(r.b)
}

// joinPath names a file opened in the Root as os.Root names it.
func (r *Root) joinPath(name string) string {
	if len(r.name) > 0 && r.name[len(r.name)-1] == '/' {
		return r.name + name
	}
	return r.name + "/" + name
}

var errUnsupportedMode = errors.New("unsupported file mode")

// Open opens the named file in the root for reading, as os.Root.Open.
func (r *Root) Open(name string) (*File, error) {
	return r.OpenFile(name, os.O_RDONLY, 0)
}

// Create creates or truncates the named file in the root, as
// os.Root.Create: mode 0666 before the umask, opened for reading and
// writing.
func (r *Root) Create(name string) (*File, error) {
	return r.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0666)
}

// OpenFile opens the named file in the root with flag and, for a file it
// creates, perm before the umask, as os.Root.OpenFile: perm may have only
// the permission bits (0o777).
func (r *Root) OpenFile(name string, flag int, perm fs.FileMode) (*File, error) {
	if perm&0o777 != perm {
		return nil, &fs.PathError{Op: "openat", Path: name, Err: errUnsupportedMode}
	}
	return do(r, "openat", name, func(b beneath) (*File, error) {
		return b.open(name, flag, perm, r.joinPath(name))
	})
}

// OpenRoot opens the named directory in the root as a Root of its own,
// confined to it in turn.
func (r *Root) OpenRoot(name string) (*Root, error) {
	return do(r, "openat", name, func(b beneath) (*Root, error) {
		fd, err := b.openFd(name, rootFlags, 0)
		if err != nil {
			return nil, err
		}
		return newRoot(beneath{e: b.e, fd: fd}, r.joinPath(name)), nil
	})
}

// Mkdir creates the directory name in the root with perm (permission bits
// only) before the umask, as os.Root.Mkdir. A symlink as the last element
// is not followed: the name exists.
func (r *Root) Mkdir(name string, perm fs.FileMode) error {
	if perm&0o777 != perm {
		return &fs.PathError{Op: "mkdirat", Path: name, Err: errUnsupportedMode}
	}
	_, err := do(r, "mkdirat", name, func(b beneath) (struct{}, error) { return struct{}{}, b.mkdir(name, perm) })
	return err
}

// Remove removes the named file or empty directory in the root, as
// os.Root.Remove. A symlink is removed, not its target.
func (r *Root) Remove(name string) error {
	_, err := do(r, "removeat", name, func(b beneath) (struct{}, error) { return struct{}{}, b.remove(name) })
	return err
}

// Stat describes the named file in the root, following a final symlink
// that stays inside, as os.Root.Stat.
func (r *Root) Stat(name string) (fs.FileInfo, error) {
	return do(r, "statat", name, func(b beneath) (fs.FileInfo, error) { return b.stat(name, false, name) })
}

// Lstat describes the named file in the root without following a final
// symlink, as os.Root.Lstat.
func (r *Root) Lstat(name string) (fs.FileInfo, error) {
	return do(r, "statat", name, func(b beneath) (fs.FileInfo, error) { return b.stat(name, true, name) })
}

// Readlink returns the target of the named symlink in the root, as
// os.Root.Readlink: as written, unchecked.
func (r *Root) Readlink(name string) (string, error) {
	return do(r, "readlinkat", name, func(b beneath) (string, error) { return b.readLink(name) })
}

// ReadFile reads the named file in the root whole, as os.Root.ReadFile.
func (r *Root) ReadFile(name string) ([]byte, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.readAll()
}

// WriteFile writes data to the named file in the root, creating it with
// perm (before the umask) if needed and truncating it otherwise, as
// os.Root.WriteFile.
func (r *Root) WriteFile(name string, data []byte, perm fs.FileMode) error {
	f, err := r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	return f.writeAndClose(data)
}

// FS returns the tree of the root as an fs.FS, as os.Root.FS does. It
// implements fs.StatFS, fs.ReadFileFS, fs.ReadDirFS and fs.ReadLinkFS;
// names are first checked with fs.ValidPath. Its files are *File. It
// uses the Root's directory fd, so it stops working when the Root is
// closed.
func (r *Root) FS() fs.FS { return (*rootFS)(r) }

type rootFS Root

var (
	_ fs.StatFS     = (*rootFS)(nil)
	_ fs.ReadFileFS = (*rootFS)(nil)
	_ fs.ReadDirFS  = (*rootFS)(nil)
	_ fs.ReadLinkFS = (*rootFS)(nil)
)

func (rfs *rootFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := (*Root)(rfs).Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (rfs *rootFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	return (*Root)(rfs).Stat(name)
}

func (rfs *rootFS) Lstat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrInvalid}
	}
	return (*Root)(rfs).Lstat(name)
}

func (rfs *rootFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: fs.ErrInvalid}
	}
	return (*Root)(rfs).ReadFile(name)
}

func (rfs *rootFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	return do((*Root)(rfs), "openat", name, func(b beneath) ([]fs.DirEntry, error) { return b.readDir(name) })
}

func (rfs *rootFS) ReadLink(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return (*Root)(rfs).Readlink(name)
}
