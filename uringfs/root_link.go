package uringfs

import (
	"os"
	"syscall"
)

// Rename renames (moves) oldname to newname, both in the root, as
// os.Root.Rename: a file replaces an existing file, but an existing
// directory at newname is never replaced (EEXIST), unless it is oldname
// itself under another name. Neither name's last element is followed if
// it is a symlink, unless the name ends in a slash. Errors are
// *os.LinkError with the operation "renameat".
func (r *Root) Rename(oldname, newname string) error {
	err := r.use(func(b beneath) error { return b.rename(oldname, newname) })
	if err != nil {
		return &os.LinkError{Op: "renameat", Old: oldname, New: newname, Err: err}
	}
	return nil
}

func (b beneath) rename(oldname, newname string) error {
	return b.walk(oldname, 0, nil, func(oldDir int, oldLast string, _ bool) error {
		return b.walk(newname, walkCreatingDir, nil, func(newDir int, newLast string, newEndsInSlash bool) error {
			if newEndsInSlash {
				mode, err := b.modeAt(oldDir, oldLast)
				if err != nil {
					return err
				}
				if !mode.IsDir() {
					return syscall.ENOTDIR
				}
			}
			// As os.Rename: rename(2) would replace an empty
			// directory, os refuses.
			if fi, err := b.lstatAt(newDir, newLast); err == nil && fi.IsDir() {
				ofi, err := b.lstatAt(oldDir, oldLast)
				if err != nil {
					return err
				}
				if newLast == oldLast || !sameFile(fi, ofi) {
					return syscall.EEXIST
				}
			}
			return b.renameAt(oldDir, oldLast, newDir, newLast)
		})
	})
}

// Link creates newname as a hard link to oldname, both in the root, as
// os.Root.Link: if oldname is a symlink, the new link is to the symlink
// itself, not its target. Errors are *os.LinkError with the operation
// "linkat".
func (r *Root) Link(oldname, newname string) error {
	err := r.use(func(b beneath) error {
		return b.walk(oldname, 0, nil, func(oldDir int, oldLast string, _ bool) error {
			return b.walk(newname, 0, nil, func(newDir int, newLast string, _ bool) error {
				return b.linkAt(oldDir, oldLast, newDir, newLast)
			})
		})
	})
	if err != nil {
		return &os.LinkError{Op: "linkat", Old: oldname, New: newname, Err: err}
	}
	return nil
}

// Symlink creates newname in the root as a symlink to oldname, as
// os.Root.Symlink. oldname is stored as given, unchecked: it may lead
// outside the root, but following it from the root fails as for any
// other name. Errors are *os.LinkError with the operation "symlinkat".
func (r *Root) Symlink(oldname, newname string) error {
	err := r.use(func(b beneath) error {
		return b.walk(newname, 0, nil, func(dir int, last string, _ bool) error {
			return b.symlinkAt(oldname, dir, last)
		})
	})
	if err != nil {
		return &os.LinkError{Op: "symlinkat", Old: oldname, New: newname, Err: err}
	}
	return nil
}
