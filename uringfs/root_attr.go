package uringfs

import (
	"io/fs"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// io_uring has no chmod, chown or utimes: these are system calls on the
// element walk found, with AT_SYMLINK_NOFOLLOW so that a name that turns
// into a symlink between the check and the call has the link itself
// changed (or, for chmod, is refused), never what it points to. As
// os.Root documents, that race can change the wrong file inside the root,
// never one outside.

// Chmod changes the mode of the named file in the root to mode, as
// os.Root.Chmod: the permission bits, setuid, setgid and sticky. A final
// symlink is followed, inside the root.
func (r *Root) Chmod(name string, mode fs.FileMode) error {
	return r.attr("chmodat", name, true, func(b beneath, dirfd int, last string) error {
		return b.chmodAt(dirfd, last, syscallMode(mode))
	})
}

// Chown changes the numeric uid and gid of the named file in the root, as
// os.Root.Chown; -1 leaves one unchanged. A final symlink is followed,
// inside the root.
func (r *Root) Chown(name string, uid, gid int) error {
	return r.attr("chownat", name, true, func(_ beneath, dirfd int, last string) error {
		return ignoringEINTR(func() error { return unix.Fchownat(dirfd, last, uid, gid, unix.AT_SYMLINK_NOFOLLOW) })
	})
}

// Lchown changes the numeric uid and gid of the named file in the root,
// as os.Root.Lchown: a final symlink is changed itself.
func (r *Root) Lchown(name string, uid, gid int) error {
	return r.attr("lchownat", name, false, func(_ beneath, dirfd int, last string) error {
		return ignoringEINTR(func() error { return unix.Fchownat(dirfd, last, uid, gid, unix.AT_SYMLINK_NOFOLLOW) })
	})
}

// Chtimes changes the access and modification times of the named file in
// the root, as os.Root.Chtimes: a zero time.Time leaves that time
// unchanged. A final symlink is followed, inside the root.
func (r *Root) Chtimes(name string, atime, mtime time.Time) error {
	ts := []unix.Timespec{utimesTime(atime), utimesTime(mtime)}
	return r.attr("chtimesat", name, true, func(_ beneath, dirfd int, last string) error {
		return ignoringEINTR(func() error { return unix.UtimesNanoAt(dirfd, last, ts, unix.AT_SYMLINK_NOFOLLOW) })
	})
}

func utimesTime(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Sec: unix.UTIME_OMIT, Nsec: unix.UTIME_OMIT}
	}
	return unix.NsecToTimespec(t.UnixNano())
}

// attr runs set on name's last element, first following it while it is a
// symlink if follow is set, and wraps its error as op.
func (r *Root) attr(op, name string, follow bool, set func(b beneath, dirfd int, last string) error) error {
	err := r.use(func(b beneath) error {
		return b.walk(name, 0, nil, func(dirfd int, last string, _ bool) error {
			if follow {
				if err := checkSymlink(dirfd, last, nil); err != nil {
					return err
				}
			}
			return set(b, dirfd, last)
		})
	})
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

// chmodAt changes the mode of name in dirfd, never through a symlink:
// fchmodat2 with AT_SYMLINK_NOFOLLOW, or, before Linux 6.6, what glibc
// does, a chmod of the file opened with O_PATH through /proc/self/fd.
func (b beneath) chmodAt(dirfd int, name string, mode uint32) error {
	err := ignoringEINTR(func() error { return syscall.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW) })
	if err != syscall.EOPNOTSUPP {
		return err
	}
	fd, err := b.openStep(dirfd, name, unix.O_PATH)
	if _, ok := err.(errSymlink); ok {
		// Linux cannot change a symlink's mode.
		return syscall.EOPNOTSUPP
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	proc := "/proc/self/fd/" + strconv.Itoa(fd)
	var st unix.Stat_t
	if err := unix.Stat(proc, &st); err != nil {
		if err == syscall.ENOENT {
			// No /proc mounted: nothing safe is left to try.
			return syscall.EOPNOTSUPP
		}
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return syscall.EOPNOTSUPP
	}
	return ignoringEINTR(func() error { return unix.Fchmodat(unix.AT_FDCWD, proc, mode, 0) })
}
