package uringfs

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// walk resolves name beneath b one element at a time, as os.Root does
// (os's doInRoot), and calls f with the directory that holds the last
// element and that element. It serves the Root methods whose exact
// behaviour depends on how the last element is reached: MkdirAll (which
// creates the elements on the way), RemoveAll, Rename, Link, Symlink and
// the Ch* family (which follow a final symlink themselves).
//
// It never gives the kernel more than one element to resolve: each
// directory on the way is opened with openat2 beneath the one before
// (RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS, O_NOFOLLOW), a symlink met on
// the way is read and its target spliced into the name, and ".." is
// applied to the name, restarting from the root, so it can never climb
// above it. A name or link target that is absolute, or has more ".."
// than elements before it, escapes (errPathEscapes); more than
// maxWalkSymlinks links gives ELOOP, as os.
//
// A name ending in a slash is checked first, unless walkNoTerminalSlash:
// the last element must be a directory (or, with walkCreatingDir, may be
// missing); a symlink there is followed.
//
// openDir opens the elements on the way (nil: openDirStep); f and openDir
// may return errSymlink to have a symlink followed, and a *fs.PathError,
// whose Path walk sets to the elements resolved so far.
func (b beneath) walk(name string, flags walkFlags, openDir func(dirfd int, name string) (int, error), f func(dirfd int, last string, endsInSlash bool) error) error {
	parts, endsInSlash, err := splitRootPath(name, nil, nil)
	if err != nil {
		return err
	}
	if openDir == nil {
		openDir = b.openDirStep
	}
	dirfd := b.fd
	setDir := func(fd int) {
		if dirfd != b.fd {
			unix.Close(dirfd)
		}
		dirfd = fd
	}
	defer func() { setDir(b.fd) }()

	// A ".." restarts from the root and every step may open a file: as
	// os, a name needs both many steps and many restarts to be refused.
	const maxSteps, maxRestarts = 255, 8
	steps, restarts, symlinks := 0, 0, 0
	for i := 0; ; {
		steps++
		if steps > maxSteps && restarts > maxRestarts {
			return syscall.ENAMETOOLONG
		}
		if parts[i] == ".." {
			// Drop the ".." run and as many elements before it,
			// and start again from the root: the directory opened
			// last may have moved since, so its ".." is not asked.
			restarts++
			end := i + 1
			for end < len(parts) && parts[end] == ".." {
				end++
			}
			count := end - i
			if count > i {
				return errPathEscapes
			}
			parts = slices.Delete(parts, i-count, end)
			if len(parts) == 0 {
				parts = []string{"."}
			}
			i = 0
			setDir(b.fd)
			continue
		}

		if i == len(parts)-1 {
			err = nil
			if endsInSlash && flags&walkNoTerminalSlash == 0 {
				var mode fs.FileMode
				mode, err = b.modeAt(dirfd, parts[i])
				switch {
				case isNotExist(err) && flags&walkCreatingDir != 0:
					err = nil
				case err != nil:
					return err
				case mode.Type() == fs.ModeDir:
				case mode.Type() == fs.ModeSymlink:
					err = checkSymlink(dirfd, parts[i], syscall.ENOTDIR)
				default:
					return syscall.ENOTDIR
				}
			}
			if err == nil {
				if err = f(dirfd, parts[i], endsInSlash); err == nil {
					return nil
				}
			}
		} else {
			var fd int
			if fd, err = openDir(dirfd, parts[i]); err == nil {
				setDir(fd)
			}
		}

		switch e := err.(type) {
		case nil:
		case errSymlink:
			symlinks++
			if symlinks > maxWalkSymlinks {
				return syscall.ELOOP
			}
			last := i == len(parts)-1
			newParts, newEndsInSlash, err := splitRootPath(string(e), parts[:i], parts[i+1:])
			if err != nil {
				return err
			}
			if last && newEndsInSlash {
				endsInSlash = true
			}
			if len(newParts) < i || !slices.Equal(parts[:i], newParts[:i]) {
				// The link changed elements already walked
				// through: walk again from the root.
				i = 0
				setDir(b.fd)
			}
			parts = newParts
			continue
		case *fs.PathError:
			e.Path = strings.Join(parts[:i+1], "/")
			return e
		default:
			return err
		}
		i++
	}
}

// walkFlags change how walk treats a name ending in a slash.
type walkFlags uint

const (
	// walkNoTerminalSlash leaves a trailing slash to f.
	walkNoTerminalSlash walkFlags = 1 << iota
	// walkCreatingDir lets a name ending in a slash name nothing yet.
	walkCreatingDir
)

// maxWalkSymlinks is how many symlinks walk follows in one name: os.Root's
// bound (POSIX's minimum SYMLOOP_MAX), not the kernel's 40.
const maxWalkSymlinks = 8

// errEmptyPath is os.Root's error for an empty name.
var errEmptyPath = errors.New("empty path")

// errSymlink is a symlink met during a walk, and its target: walk
// follows it, the user never sees it.
type errSymlink string

func (e errSymlink) Error() string { return "symlink to " + string(e) }

// splitRootPath splits s into its elements, dropping "." except as the
// last, between prefix and suffix (which a symlink's target is spliced
// between), as os's splitPathInRoot. endsInSlash reports whether s ends
// in one or more slashes.
func splitRootPath(s string, prefix, suffix []string) (parts []string, endsInSlash bool, err error) {
	if s == "" {
		return nil, false, errEmptyPath
	}
	if s[0] == '/' {
		return nil, false, errPathEscapes
	}
	parts = slices.Clone(prefix)
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] != '/' {
			j++
		}
		parts = append(parts, s[i:j])
		k := j
		for k < len(s) && s[k] == '/' {
			k++
		}
		if k == len(s) {
			endsInSlash = k > j
			break
		}
		if parts[len(parts)-1] == "." {
			parts = parts[:len(parts)-1]
		}
		i = k
	}
	if len(suffix) > 0 && len(parts) > 0 && parts[len(parts)-1] == "." {
		parts = parts[:len(parts)-1]
	}
	return append(parts, suffix...), endsInSlash, nil
}

// openDirStep opens the directory name in dirfd, one element, not
// following a symlink: a symlink comes back as errSymlink. The fd is
// O_PATH: walking through a directory needs only search permission.
func (b beneath) openDirStep(dirfd int, name string) (int, error) {
	return b.openStep(dirfd, name, unix.O_PATH|unix.O_DIRECTORY)
}

// openStep opens the element name in dirfd with flags and O_NOFOLLOW,
// confined to dirfd, reporting a symlink as errSymlink.
func (b beneath) openStep(dirfd int, name string, flags int) (int, error) {
	fd, err := openat2(b.e, dirfd, name, uring.OpenHow{Flags: flags | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: confined})
	switch err {
	case nil:
		return fd, nil
	case syscall.ELOOP, syscall.ENOTDIR:
		// O_NOFOLLOW refuses a symlink with ELOOP, or, with
		// O_PATH|O_DIRECTORY, ENOTDIR.
		return -1, checkSymlink(dirfd, name, err)
	case syscall.ENOTSUP:
		// An element on the way that is not a directory, as os sees it.
		return -1, syscall.ENOTDIR
	case syscall.EXDEV:
		return -1, errPathEscapes
	}
	return -1, err
}

// checkSymlink returns errSymlink with name's target if name in dirfd is
// a symlink, and orig otherwise.
func checkSymlink(dirfd int, name string, orig error) error {
	target, err := readlinkAt(dirfd, name)
	if err != nil {
		return orig
	}
	return errSymlink(target)
}

// readlinkAt reads the symlink name in dirfd.
func readlinkAt(dirfd int, name string) (string, error) {
	for n := 256; ; n *= 2 {
		buf := make([]byte, n)
		m, err := ignoringEINTRN(func() (int, error) { return unix.Readlinkat(dirfd, name, buf) })
		if err != nil {
			return "", err
		}
		if m < n {
			return string(buf[:m]), nil
		}
	}
}

// lstatAt describes name in dirfd without following a symlink. It is
// fstatat(2), not statx on io_uring: the kernel always hands an io_uring
// statx to a worker thread, which costs more than the call itself.
func (b beneath) lstatAt(dirfd int, name string) (*fileStat, error) {
	var st unix.Stat_t
	if err := ignoringEINTR(func() error { return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
		return nil, err
	}
	return statInfo(name, &st), nil
}

// modeAt is the type and permissions of name in dirfd, not following a
// symlink.
func (b beneath) modeAt(dirfd int, name string) (fs.FileMode, error) {
	fi, err := b.lstatAt(dirfd, name)
	if err != nil {
		return 0, err
	}
	return fi.Mode(), nil
}

// sameFile reports whether two lstatAt results describe one file.
func sameFile(a, b *fileStat) bool {
	return a.sys.Dev == b.sys.Dev && a.sys.Ino == b.sys.Ino
}

// isNotExist is os.IsNotExist: it looks through one *fs.PathError or
// *os.LinkError, not a whole chain, as os does where it decides to
// ignore a missing file.
func isNotExist(err error) bool {
	err = underlyingError(err)
	if err == fs.ErrNotExist {
		return true
	}
	errno, ok := err.(syscall.Errno)
	return ok && errno.Is(fs.ErrNotExist)
}

// underlyingError is os's: the cause inside one *fs.PathError or
// *os.LinkError.
func underlyingError(err error) error {
	switch e := err.(type) {
	case *fs.PathError:
		return e.Err
	case *os.LinkError:
		return e.Err
	}
	return err
}

// The at-operations a Root's methods are made of, on io_uring (or as
// system calls where pathOp says so). Each names one element in dirfd.

func (b beneath) mkdirAt(dirfd int, name string, perm fs.FileMode) error {
	mode := syscallMode(perm)
	return b.pathOp(dirfd, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.Mkdirat(dirfd, name, mode, o)
	}, func() error { return unix.Mkdirat(dirfd, name, mode) })
}

func (b beneath) unlinkAt(dirfd int, name string, dir bool) error {
	flags := 0
	if dir {
		flags = unix.AT_REMOVEDIR
	}
	return b.pathOp(dirfd, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.Unlinkat(dirfd, name, dir, o)
	}, func() error { return unix.Unlinkat(dirfd, name, flags) })
}

func (b beneath) renameAt(oldDirfd int, oldName string, newDirfd int, newName string) error {
	return b.pathOp(oldDirfd, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.Renameat(oldDirfd, oldName, newDirfd, newName, 0, o)
	}, func() error { return unix.Renameat(oldDirfd, oldName, newDirfd, newName) })
}

// linkAt makes a hard link to oldName itself, never to a symlink's target.
func (b beneath) linkAt(oldDirfd int, oldName string, newDirfd int, newName string) error {
	return b.pathOp(oldDirfd, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.Linkat(oldDirfd, oldName, newDirfd, newName, 0, o)
	}, func() error { return unix.Linkat(oldDirfd, oldName, newDirfd, newName, 0) })
}

func (b beneath) symlinkAt(target string, dirfd int, name string) error {
	return b.pathOp(dirfd, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.Symlinkat(target, dirfd, name, o)
	}, func() error { return unix.Symlinkat(target, dirfd, name) })
}
