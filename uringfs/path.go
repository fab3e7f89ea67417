package uringfs

import (
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// The package's path functions are os's, with os's signatures, behaviour
// and errors: *fs.PathError with os's operation names, *os.LinkError for
// Rename, Link and Symlink. Those io_uring has an operation for run on
// it, through the at-operations Root is made of (beneath's mkdirAt,
// unlinkAt, renameAt, linkAt, symlinkAt and pathOp), here with
// AT_FDCWD and the whole name: nothing confines them, as nothing
// confines os's. The others are the system calls os makes, each saying
// why. Like every entry point, each first fails with the setup error if
// io_uring cannot be used and c does not fall back to package os; with
// the fallback, the at-operations are system calls too.

// cwd returns the at-operations for names relative to the working
// directory, on io_uring or, with the fallback, as system calls.
func (c Config) cwd(op, name string) (beneath, error) {
	e, err := c.executor()
	if err != nil {
		return beneath{}, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return beneath{e: e, fd: unix.AT_FDCWD}, nil
}

// cwdLink is cwd for the functions whose errors are *os.LinkError.
func (c Config) cwdLink(op, oldname, newname string) (beneath, error) {
	e, err := c.executor()
	if err != nil {
		return beneath{}, &os.LinkError{Op: op, Old: oldname, New: newname, Err: err}
	}
	return beneath{e: e, fd: unix.AT_FDCWD}, nil
}

// Stat describes the named file, following symlinks, as os.Stat.
func Stat(name string) (fs.FileInfo, error) { return Config{}.Stat(name) }

// Lstat describes the named file without following a final symlink, as
// os.Lstat.
func Lstat(name string) (fs.FileInfo, error) { return Config{}.Lstat(name) }

// Mkdir creates a directory, as os.Mkdir; see Config.Mkdir.
func Mkdir(name string, perm fs.FileMode) error { return Config{}.Mkdir(name, perm) }

// MkdirAll creates a directory and its missing parents, as os.MkdirAll;
// see Config.MkdirAll.
func MkdirAll(path string, perm fs.FileMode) error { return Config{}.MkdirAll(path, perm) }

// Remove removes the named file or empty directory, as os.Remove; see
// Config.Remove.
func Remove(name string) error { return Config{}.Remove(name) }

// RemoveAll removes path and everything it holds, as os.RemoveAll; see
// Config.RemoveAll.
func RemoveAll(path string) error { return Config{}.RemoveAll(path) }

// Rename renames (moves) oldpath to newpath, as os.Rename; see
// Config.Rename.
func Rename(oldpath, newpath string) error { return Config{}.Rename(oldpath, newpath) }

// Link creates newname as a hard link to oldname, as os.Link; see
// Config.Link.
func Link(oldname, newname string) error { return Config{}.Link(oldname, newname) }

// Symlink creates newname as a symlink to oldname, as os.Symlink; see
// Config.Symlink.
func Symlink(oldname, newname string) error { return Config{}.Symlink(oldname, newname) }

// Readlink returns the target of the named symlink, as os.Readlink; see
// Config.Readlink.
func Readlink(name string) (string, error) { return Config{}.Readlink(name) }

// ReadDir lists the named directory sorted by name, as os.ReadDir; see
// Config.ReadDir.
func ReadDir(name string) ([]fs.DirEntry, error) { return Config{}.ReadDir(name) }

// Chmod changes the mode of the named file, as os.Chmod; see
// Config.Chmod.
func Chmod(name string, mode fs.FileMode) error { return Config{}.Chmod(name, mode) }

// Chown changes the numeric uid and gid of the named file, as os.Chown;
// see Config.Chown.
func Chown(name string, uid, gid int) error { return Config{}.Chown(name, uid, gid) }

// Lchown changes the numeric uid and gid of the named file, not following
// a final symlink, as os.Lchown; see Config.Lchown.
func Lchown(name string, uid, gid int) error { return Config{}.Lchown(name, uid, gid) }

// Chtimes changes the access and modification times of the named file, as
// os.Chtimes; see Config.Chtimes.
func Chtimes(name string, atime, mtime time.Time) error {
	return Config{}.Chtimes(name, atime, mtime)
}

// Truncate changes the size of the named file, as os.Truncate; see
// Config.Truncate.
func Truncate(name string, size int64) error { return Config{}.Truncate(name, size) }

// Stat describes the named file, following symlinks, as os.Stat. Errors
// are *fs.PathError with the operation "stat".
//
// It is statx(2) as a system call, not io_uring's statx, for the reason
// File.Stat gives: the kernel always hands an io_uring statx to a worker
// thread, which costs far more than the call.
func (c Config) Stat(name string) (fs.FileInfo, error) { return c.stat("stat", name, 0) }

// Lstat describes the named file, not following a final symlink, as
// os.Lstat; a statx(2) system call, as Stat. Errors are *fs.PathError
// with the operation "lstat".
func (c Config) Lstat(name string) (fs.FileInfo, error) {
	return c.stat("lstat", name, unix.AT_SYMLINK_NOFOLLOW)
}

func (c Config) stat(op, name string, flags int) (fs.FileInfo, error) {
	if _, err := c.cwd(op, name); err != nil {
		return nil, err
	}
	var st unix.Statx_t
	err := ignoringEINTR(func() error {
		return unix.Statx(unix.AT_FDCWD, name, flags|unix.AT_STATX_SYNC_AS_STAT, unix.STATX_BASIC_STATS, &st)
	})
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return statxInfo(basename(name), &st), nil
}

// basename is the last element of name, trailing slashes dropped, as os
// names a FileInfo (unlike filepath.Base, it does not clean the name).
func basename(name string) string {
	for len(name) > 1 && name[len(name)-1] == '/' {
		name = name[:len(name)-1]
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 && len(name) > 1 {
		name = name[i+1:]
	}
	return name
}

// Mkdir creates the directory name with perm (before the umask; setuid,
// setgid and sticky too), as os.Mkdir, with io_uring's mkdirat. Errors
// are *fs.PathError with the operation "mkdir".
func (c Config) Mkdir(name string, perm fs.FileMode) error {
	b, err := c.cwd("mkdir", name)
	if err != nil {
		return err
	}
	if err := b.mkdirAt(unix.AT_FDCWD, name, perm); err != nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: err}
	}
	return nil
}

// MkdirAll creates the directory path and any missing parents, each with
// perm before the umask, as os.MkdirAll: nil if path is already a
// directory, an error with ENOTDIR if it is something else. Each
// directory is made with Mkdir.
func (c Config) MkdirAll(path string, perm fs.FileMode) error {
	// As os: what is there settles it, if anything is.
	fi, err := c.Stat(path)
	if err == nil {
		if fi.IsDir() {
			return nil
		}
		return &fs.PathError{Op: "mkdir", Path: path, Err: syscall.ENOTDIR}
	}
	// Make the parent (path up to its last element, trailing slashes
	// ignored) first, unless it is "" or "/".
	end := len(path)
	for end > 0 && path[end-1] == '/' {
		end--
	}
	for end > 0 && path[end-1] != '/' {
		end--
	}
	if end > 0 {
		end-- // drop the slash itself
	}
	if parent := path[:end]; parent != "" {
		if err := c.MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := c.Mkdir(path, perm); err != nil {
		// A name like "a/." fails to be made, yet names a directory.
		if fi, lerr := c.Lstat(path); lerr == nil && fi.IsDir() {
			return nil
		}
		return err
	}
	return nil
}

// Remove removes the named file or empty directory, as os.Remove: a
// symlink itself, not its target. It tries io_uring's unlinkat for a
// file, then for a directory, and reports the error that says more, as
// os does. Errors are *fs.PathError with the operation "remove".
func (c Config) Remove(name string) error {
	b, err := c.cwd("remove", name)
	if err != nil {
		return err
	}
	e := b.unlinkAt(unix.AT_FDCWD, name, false)
	if e == nil {
		return nil
	}
	e1 := b.unlinkAt(unix.AT_FDCWD, name, true)
	if e1 == nil {
		return nil
	}
	if e1 != syscall.ENOTDIR {
		e = e1
	}
	return &fs.PathError{Op: "remove", Path: name, Err: e}
}

// RemoveAll removes path and everything it holds, as os.RemoveAll: it
// removes what it can and returns the first error, nil if path does not
// exist; symlinks are removed, never followed. A path whose last element
// is "." is refused with EINVAL, as os refuses it; so is one whose last
// element is "..", which os takes as the directory above and empties
// (RemoveAll("a/b/..") removes everything in a but b, then fails), as
// rm(1) refuses both. The removals are io_uring's unlinkat, the walk the
// one Root.RemoveAll makes from path's parent directory. Errors are
// *fs.PathError, with os's operations ("unlinkat", "openfdat", "open",
// "RemoveAll").
func (c Config) RemoveAll(path string) error {
	if path == "" {
		// As os (go.dev/issue/28830).
		return nil
	}
	parent, base := splitPath(path)
	if base == "." || base == ".." {
		return &fs.PathError{Op: "RemoveAll", Path: path, Err: syscall.EINVAL}
	}
	b, err := c.cwd("RemoveAll", path)
	if err != nil {
		return err
	}
	if err := c.Remove(path); err == nil || isNotExist(err) {
		return nil
	}
	fd, err := openat2(b.e, unix.AT_FDCWD, parent, uring.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC})
	if err != nil {
		if err == syscall.ENOENT {
			// No parent: nothing to remove.
			return nil
		}
		return &fs.PathError{Op: "open", Path: parent, Err: err}
	}
	defer unix.Close(fd)
	err = b.removeAllFrom(fd, base)
	if pe, ok := err.(*fs.PathError); ok {
		pe.Path = parent + "/" + pe.Path
	}
	return err
}

// splitPath splits path into its parent directory ("." if none) and last
// element, as os's RemoveAll splits it: extra leading and all trailing
// slashes dropped.
func splitPath(path string) (dir, base string) {
	for len(path) > 1 && path[0] == '/' && path[1] == '/' {
		path = path[1:]
	}
	for len(path) > 1 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	i := strings.LastIndexByte(path, '/')
	switch {
	case i < 0:
		return ".", path
	case i == 0:
		return "/", path[1:]
	}
	return path[:i], path[i+1:]
}

// Rename renames (moves) oldpath to newpath, as os.Rename: a file
// replaces an existing file, but an existing directory at newpath is
// refused with EEXIST (rename(2) would replace an empty one), unless it is
// oldpath itself under another name. The rename is io_uring's renameat.
// Errors are *os.LinkError with the operation "rename".
func (c Config) Rename(oldpath, newpath string) error {
	b, err := c.cwdLink("rename", oldpath, newpath)
	if err != nil {
		return err
	}
	if fi, err := b.lstatAt(unix.AT_FDCWD, newpath); err == nil && fi.IsDir() {
		// As os: a bad oldpath is reported before the directory.
		ofi, err := b.lstatAt(unix.AT_FDCWD, oldpath)
		if err != nil {
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
		}
		if newpath == oldpath || !sameFile(fi, ofi) {
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EEXIST}
		}
	}
	if err := b.renameAt(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// Link creates newname as a hard link to oldname, as os.Link: to a
// symlink itself, not its target. It is io_uring's linkat. Errors are
// *os.LinkError with the operation "link".
func (c Config) Link(oldname, newname string) error {
	b, err := c.cwdLink("link", oldname, newname)
	if err != nil {
		return err
	}
	if err := b.linkAt(unix.AT_FDCWD, oldname, unix.AT_FDCWD, newname); err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	return nil
}

// Symlink creates newname as a symlink to oldname, stored as given, as
// os.Symlink. It is io_uring's symlinkat. Errors are *os.LinkError with
// the operation "symlink".
func (c Config) Symlink(oldname, newname string) error {
	b, err := c.cwdLink("symlink", oldname, newname)
	if err != nil {
		return err
	}
	if err := b.symlinkAt(oldname, unix.AT_FDCWD, newname); err != nil {
		return &os.LinkError{Op: "symlink", Old: oldname, New: newname, Err: err}
	}
	return nil
}

// Readlink returns the target of the named symlink as it is written, as
// os.Readlink. It is readlink(2): io_uring has no readlink. Errors are
// *fs.PathError with the operation "readlink".
func (c Config) Readlink(name string) (string, error) {
	if _, err := c.cwd("readlink", name); err != nil {
		return "", err
	}
	s, err := readlinkAt(unix.AT_FDCWD, name)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return s, nil
}

// ReadDir lists the named directory, sorted by file name, as os.ReadDir:
// on an error part way, what was read before it. The directory is opened
// on io_uring and read with getdents64(2), as File.ReadDir. Errors are
// *fs.PathError ("open" for a missing name or one that is not a
// directory).
func (c Config) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := c.OpenFile(name, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// Chmod changes the mode of the named file, following symlinks, as
// os.Chmod: the permission bits, setuid, setgid and sticky. It is
// fchmodat(2): io_uring has no chmod. Errors are *fs.PathError with the
// operation "chmod".
func (c Config) Chmod(name string, mode fs.FileMode) error {
	return c.sys("chmod", name, func() error { return unix.Fchmodat(unix.AT_FDCWD, name, syscallMode(mode), 0) })
}

// Chown changes the numeric uid and gid of the named file, following
// symlinks, as os.Chown; -1 leaves one unchanged. It is fchownat(2):
// io_uring has no chown. Errors are *fs.PathError with the operation
// "chown".
func (c Config) Chown(name string, uid, gid int) error {
	return c.sys("chown", name, func() error { return unix.Fchownat(unix.AT_FDCWD, name, uid, gid, 0) })
}

// Lchown is Chown for a symlink itself, as os.Lchown. Errors are
// *fs.PathError with the operation "lchown".
func (c Config) Lchown(name string, uid, gid int) error {
	return c.sys("lchown", name, func() error {
		return unix.Fchownat(unix.AT_FDCWD, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	})
}

// Chtimes changes the access and modification times of the named file,
// following symlinks, as os.Chtimes: a zero time.Time leaves that time
// unchanged. It is utimensat(2): io_uring has no utimes. Errors are
// *fs.PathError with the operation "chtimes".
func (c Config) Chtimes(name string, atime, mtime time.Time) error {
	ts := []unix.Timespec{utimesTime(atime), utimesTime(mtime)}
	return c.sys("chtimes", name, func() error { return unix.UtimesNanoAt(unix.AT_FDCWD, name, ts, 0) })
}

// Truncate changes the size of the named file, as os.Truncate. It is
// truncate(2): io_uring's ftruncate needs an open descriptor, and opening
// one would add an open and a close to the call, and block on a FIFO,
// where truncate(2) fails at once. Errors are *fs.PathError with the
// operation "truncate".
func (c Config) Truncate(name string, size int64) error {
	return c.sys("truncate", name, func() error { return unix.Truncate(name, size) })
}

// sys runs a path system call that io_uring has no operation for,
// wrapping its error as op.
func (c Config) sys(op, name string, call func() error) error {
	if _, err := c.cwd(op, name); err != nil {
		return err
	}
	if err := ignoringEINTR(call); err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}
