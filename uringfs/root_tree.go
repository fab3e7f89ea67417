package uringfs

import (
	"io"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// MkdirAll creates the directory name in the root and any parents it
// lacks, with perm (permission bits only) before the umask, as
// os.Root.MkdirAll: nil if name already is a directory (or a symlink,
// staying inside, to one). A symlink on the way is followed, and a
// dangling one gets its target created, inside the root. An error names
// the element that failed, with the operation that failed on it
// ("openat" or "mkdirat").
func (r *Root) MkdirAll(name string, perm fs.FileMode) error {
	if perm&0o777 != perm {
		return &fs.PathError{Op: "mkdirat", Path: name, Err: errUnsupportedMode}
	}
	err := r.use(func(b beneath) error { return b.mkdirAll(name, perm) })
	if _, ok := err.(*fs.PathError); err != nil && !ok {
		err = &fs.PathError{Op: "mkdirat", Path: name, Err: err}
	}
	return err
}

func (b beneath) mkdirAll(fullName string, perm fs.FileMode) error {
	openDir := func(dirfd int, name string) (int, error) {
		fd, err := b.openDirStep(dirfd, name)
		if isNotExist(err) {
			// EEXIST: another goroutine or process made it
			// first, which is as good.
			if err := b.mkdirAt(dirfd, name, perm); err != nil && err != syscall.EEXIST {
				return -1, &fs.PathError{Op: "mkdirat", Err: err}
			}
			fd, err = b.openDirStep(dirfd, name)
		}
		switch err.(type) {
		case nil, errSymlink:
			return fd, err
		}
		return -1, &fs.PathError{Op: "openat", Err: err}
	}
	last := func(dirfd int, name string, _ bool) error {
		err := b.mkdirAt(dirfd, name, perm)
		if err == syscall.EEXIST {
			if mode, e := b.modeAt(dirfd, name); e == nil {
				switch {
				case mode.IsDir():
					err = nil
				case mode&fs.ModeSymlink != 0:
					// As os.MkdirAll: a link to a directory will
					// do, but a missing target is not created.
					fi, e := b.walkStat(fullName)
					switch {
					case e == nil && fi.IsDir():
						err = nil
					case e == nil:
						err = syscall.ENOTDIR
					case !isNotExist(e):
						err = &fs.PathError{Op: "statat", Path: fullName, Err: e}
					}
				}
			}
		}
		if err == nil {
			return nil
		}
		return &fs.PathError{Op: "mkdirat", Err: err}
	}
	// As Mkdir, "link/" does not make the link's target on Linux.
	return b.walk(fullName, walkCreatingDir|walkNoTerminalSlash, openDir, last)
}

// RemoveAll removes the named file or directory in the root and
// everything it contains, as os.Root.RemoveAll: it returns nil if name
// does not exist, and the first error it met otherwise, as a
// *fs.PathError with the operation "RemoveAll" around the cause. Symlinks
// inside are removed, never followed, so nothing outside the root (or
// elsewhere in it) is touched; a name ending in "." is refused with
// EINVAL, and trailing slashes are ignored.
func (r *Root) RemoveAll(name string) error {
	for len(name) > 0 && name[len(name)-1] == '/' {
		name = name[:len(name)-1]
	}
	if name == "." || (len(name) >= 2 && name[len(name)-1] == '.' && name[len(name)-2] == '/') {
		return &fs.PathError{Op: "RemoveAll", Path: name, Err: syscall.EINVAL}
	}
	err := r.use(func(b beneath) error {
		return b.walk(name, 0, nil, func(dirfd int, last string, _ bool) error { return b.removeAllFrom(dirfd, last) })
	})
	switch {
	case isNotExist(err):
		return nil
	case err != nil:
		return &fs.PathError{Op: "RemoveAll", Path: name, Err: underlyingError(err)}
	}
	return nil
}

// removeAllFrom removes name in dirfd and, if it is a directory (not a
// symlink to one), what it holds, depth first, as os's removeAllFrom.
func (b beneath) removeAllFrom(dirfd int, name string) error {
	err := b.unlinkAt(dirfd, name, false)
	if err == nil || isNotExist(err) {
		return nil
	}
	// EISDIR: a directory, to empty first. EPERM or EACCES: the parent
	// may not be writable, but a directory may still be emptied.
	if err != syscall.EISDIR && err != syscall.EPERM && err != syscall.EACCES {
		return &fs.PathError{Op: "unlinkat", Path: name, Err: err}
	}
	unlinkErr := err

	var recurseErr error
	for {
		const batch = 1024
		fd, err := b.openStep(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			if isNotExist(err) {
				return nil
			}
			if err == syscall.ENOTDIR {
				return &fs.PathError{Op: "unlinkat", Path: name, Err: unlinkErr}
			}
			if _, ok := err.(errSymlink); ok {
				// Replaced by a symlink meanwhile: not to be followed.
				err = unlinkErr
			}
			recurseErr = &fs.PathError{Op: "openfdat", Path: name, Err: err}
			break
		}
		dir := wrapFd(b.e, fd, name, false)
		var got int
		for {
			names, err := dir.Readdirnames(batch)
			if err != nil && err != io.EOF {
				dir.Close()
				if isNotExist(err) {
					return nil
				}
				return &fs.PathError{Op: "readdirnames", Path: name, Err: underlyingError(err)}
			}
			got = len(names)
			failed := 0
			for _, n := range names {
				if err := b.removeAllFrom(fd, n); err != nil {
					if pe, ok := err.(*fs.PathError); ok {
						pe.Path = name + "/" + pe.Path
					}
					failed++
					if recurseErr == nil {
						recurseErr = err
					}
				}
			}
			// A whole batch that could not be removed: read on, or
			// the same names come back forever.
			if failed != batch {
				break
			}
		}
		// Removing entries may reorder the directory, so reading on
		// could skip some: read it again from the start.
		dir.Close()
		if got < batch {
			break
		}
	}

	err = b.unlinkAt(dirfd, name, true)
	if err == nil || isNotExist(err) {
		return nil
	}
	if recurseErr != nil {
		return recurseErr
	}
	return &fs.PathError{Op: "unlinkat", Path: name, Err: err}
}

// walkStat describes name, following symlinks as walk does.
func (b beneath) walkStat(name string) (fi *fileStat, err error) {
	err = b.walk(name, 0, nil, func(dirfd int, last string, _ bool) error {
		fi, err = b.lstatAt(dirfd, last)
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return checkSymlink(dirfd, last, syscall.ELOOP)
		}
		return err
	})
	return fi, err
}
