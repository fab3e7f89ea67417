package uringfs

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// beneath is the confined name resolution that Root and DirFS share:
// every name is resolved by the kernel relative to the directory fd with
// openat2(2) and RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS, so that "..", an
// absolute path, a symlink leading outside (absolute, or relative with
// too many "..") and /proc magic links are refused during the lookup
// itself, with no window for a rename to exploit. ".." that stays inside
// is allowed, as os.Root allows it.
//
// Operations that act on a name's last element rather than open it
// (Mkdir, Remove and the Root methods that create, rename, link, remove
// trees or change attributes) walk to it instead, one element at a time,
// each opened with openat2 beneath the one before, as os.Root does: see
// walk, which says why that is just as confined.
//
// Errors are the bare cause; callers wrap them in a *fs.PathError with
// their own operation name.
type beneath struct {
	e  *reactor.Executor // nil: system calls (Config.FallbackToOS)
	fd int
}

// confined is the resolution that refuses every way out.
const confined = uring.ResolveBeneath | uring.ResolveNoMagiclinks

// errPathEscapes is what resolution reports for a name that leads outside
// the directory: os.Root's words, matching EXDEV, the kernel's errno.
var errPathEscapes error = &escapeError{}

type escapeError struct{}

func (*escapeError) Error() string { return "path escapes from parent" }
func (*escapeError) Unwrap() error { return syscall.EXDEV }

// openFd opens name beneath b with flags (close-on-exec is added) and, if
// it creates the file, perm.
func (b beneath) openFd(name string, flags int, perm fs.FileMode) (int, error) {
	how := uring.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: confined}
	if flags&unix.O_CREAT != 0 || flags&unix.O_TMPFILE == unix.O_TMPFILE {
		how.Mode = syscallMode(perm)
	}
	if flags&unix.O_CREAT != 0 && strings.HasSuffix(name, "/") {
		if err := b.createDirOnly(name, flags); err != nil {
			return -1, err
		}
	}
	fd, err := openat2(b.e, b.fd, name, how)
	if err == syscall.ENAMETOOLONG && len(name) >= unix.PathMax {
		// The kernel takes at most PATH_MAX bytes of name at once;
		// os.Root, which walks a name one element at a time, takes
		// longer ones. So does walk.
		fd, err = b.openLong(name, how)
	}
	if err == syscall.EXDEV {
		err = errPathEscapes
	}
	return fd, err
}

// openLong is openFd for a name longer than the kernel takes: walk
// reaches the directory that holds the last element, one element at a
// time, and that element is opened in it, confined to it. A final
// symlink to be followed is handed back to walk, which follows it
// within the root (confined to its directory, a link with ".." would
// be refused).
func (b beneath) openLong(name string, how uring.OpenHow) (int, error) {
	fd := -1
	err := b.walk(name, walkNoTerminalSlash, nil, func(dirfd int, last string, endsInSlash bool) error {
		if how.Flags&unix.O_NOFOLLOW == 0 || endsInSlash {
			if err := checkSymlink(dirfd, last, nil); err != nil {
				return err
			}
		}
		if endsInSlash {
			last += "/"
		}
		var err error
		fd, err = openat2(b.e, dirfd, last, how)
		return err
	})
	return fd, err
}

// createDirOnly gives os.Root's error for creating a name that ends in a
// slash, which only a directory may have: ENOENT if there is nothing,
// ENOTDIR if it is not a directory, EEXIST with O_EXCL. Otherwise the
// kernel's EISDIR follows.
func (b beneath) createDirOnly(name string, flags int) error {
	fd, err := b.openFd(name, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	unix.Close(fd)
	if flags&unix.O_EXCL != 0 {
		return syscall.EEXIST
	}
	return nil
}

// open opens name beneath b as a File named fileName.
func (b beneath) open(name string, flags int, perm fs.FileMode, fileName string) (*File, error) {
	fd, err := b.openFd(name, flags, perm)
	if err != nil {
		return nil, err
	}
	return wrapFd(b.e, fd, fileName, flags&unix.O_APPEND != 0), nil
}

// stat describes name, following a final symlink (if it stays beneath)
// unless lstat is set, as the file fileName. The target is opened with
// O_PATH, which needs no permission on it, and described by its fd.
func (b beneath) stat(name string, lstat bool, fileName string) (fs.FileInfo, error) {
	flags := unix.O_PATH
	if lstat {
		flags |= unix.O_NOFOLLOW
	}
	f, err := b.open(name, flags, 0, fileName)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	return fi, unwrapPath(err)
}

// readFile reads name whole.
func (b beneath) readFile(name string) ([]byte, error) {
	f, err := b.open(name, unix.O_RDONLY, 0, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := f.readAll()
	return data, unwrapPath(err)
}

// readDir lists the directory name, sorted by file name.
func (b beneath) readDir(name string) ([]fs.DirEntry, error) {
	f, err := b.open(name, unix.O_RDONLY|unix.O_DIRECTORY, 0, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, unwrapPath(err)
}

// readLink returns the target of the symlink name as it is written: the
// target itself is not checked, and following it is confined as any
// other name.
func (b beneath) readLink(name string) (string, error) {
	fd, err := b.openFd(name, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	return readLinkFd(fd)
}

// readLinkFd reads the symlink an O_PATH|O_NOFOLLOW fd names: an empty
// path reads the link the fd itself names.
func readLinkFd(fd int) (string, error) {
	s, err := readlinkAt(fd, "")
	if err == syscall.ENOENT {
		// readlinkat on a non-link O_PATH fd says ENOENT; readlink(2)
		// on a path says EINVAL, as os does.
		err = syscall.EINVAL
	}
	return s, err
}

// mkdir creates the directory name with perm before the umask. As on
// Linux, "link/" does not create the link's target.
func (b beneath) mkdir(name string, perm fs.FileMode) error {
	return b.walk(name, walkCreatingDir|walkNoTerminalSlash, nil, func(dirfd int, last string, _ bool) error {
		return b.mkdirAt(dirfd, last, perm)
	})
}

// remove removes the file or empty directory name (a symlink itself, not
// its target, unless the name ends in a slash). As os does, it tries a
// file first, then a directory, and reports the error that says more.
func (b beneath) remove(name string) error {
	return b.walk(name, 0, nil, func(dirfd int, last string, _ bool) error {
		e := b.unlinkAt(dirfd, last, false)
		if e == nil {
			return nil
		}
		e1 := b.unlinkAt(dirfd, last, true)
		if e1 == nil {
			return nil
		}
		if e1 != syscall.ENOTDIR {
			return e1
		}
		return e
	})
}

// pathOp runs a path operation on io_uring, or as the system call sys
// without the executor or on a kernel without the operation.
func (b beneath) pathOp(key int, prep reactor.Prep, sys func() error) error {
	if b.e != nil {
		for {
			_, err := b.e.Do(context.Background(), key, time.Time{}, prep)
			var ip *uring.InvalidPathError
			switch {
			case err == syscall.EINTR:
				continue
			case errors.As(err, &ip):
				return syscall.EINVAL
			case !errors.Is(err, errors.ErrUnsupported):
				return err
			}
			break
		}
	}
	return ignoringEINTR(sys)
}

// unwrapPath strips a *fs.PathError so that the caller can rewrap the
// cause with the name its user passed.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
