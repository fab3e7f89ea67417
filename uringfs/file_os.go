package uringfs

import (
	"errors"
	"io/fs"
	"runtime"
	"syscall"

	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// Chmod changes the file's mode, as os.File.Chmod: the permission bits,
// setuid, setgid and sticky. It is fchmod(2): io_uring has no chmod.
// Errors are *fs.PathError with the operation "chmod".
func (f *File) Chmod(mode fs.FileMode) error {
	return f.fdCall("chmod", func(fd int) error { return unix.Fchmod(fd, syscallMode(mode)) })
}

// Chown changes the file's numeric uid and gid, as os.File.Chown; -1
// leaves one unchanged. It is fchown(2): io_uring has no chown. Errors
// are *fs.PathError with the operation "chown".
func (f *File) Chown(uid, gid int) error {
	return f.fdCall("chown", func(fd int) error { return unix.Fchown(fd, uid, gid) })
}

// Chdir makes the file, which must be a directory, the working
// directory, as os.File.Chdir. It is fchdir(2): io_uring has no chdir,
// and the working directory is the process's, not the ring's. Errors are
// *fs.PathError with the operation "chdir".
func (f *File) Chdir() error {
	return f.fdCall("chdir", unix.Fchdir)
}

// fdCall runs a system call on the descriptor, holding a reference, and
// wraps its error as op. These calls never wait on a peer, so they need
// no executor: they work on a File whose I/O cannot.
func (f *File) fdCall(op string, call func(fd int) error) error {
	if f == nil {
		return fs.ErrInvalid
	}
	if !f.mu.incref() {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	defer f.mu.decref()
	return f.wrapErr(op, ignoringEINTR(func() error { return call(f.fd) }))
}

// SyscallConn returns a raw connection to the file's descriptor, as
// os.File.SyscallConn: Control runs a function with it, holding a
// reference so that Close waits for the function to return; Read and
// Write run theirs until it reports done, waiting between two calls
// until the descriptor is readable or writable, through an io_uring poll
// bounded by the read or write deadline. As with os, a file that is never
// waited for (a regular file, a directory) fails such a wait. Errors are
// bare, as os's: os.ErrDeadlineExceeded, and after Close one matching
// fs.ErrClosed (os's "use of closed file" matches nothing exported).
func (f *File) SyscallConn() (syscall.RawConn, error) {
	if f == nil {
		return nil, fs.ErrInvalid
	}
	return &rawConn{f}, nil
}

type rawConn struct{ f *File }

// errUnsupportedWait is os's error, word for word, for a raw Read or
// Write that would wait on a file its poller does not watch.
var errUnsupportedWait = errors.New("waiting for unsupported file type")

// use takes a reference for one raw call; errors are bare, as os's raw
// conn returns them.
func (c *rawConn) use() error {
	if c.f == nil {
		return fs.ErrInvalid
	}
	if !c.f.mu.incref() {
		return fs.ErrClosed
	}
	return nil
}

// Control runs fn with the descriptor, which stays open until fn returns.
func (c *rawConn) Control(fn func(fd uintptr)) error {
	if err := c.use(); err != nil {
		return err
	}
	defer c.f.mu.decref()
	fn(uintptr(c.f.fd))
	runtime.KeepAlive(c.f)
	return nil
}

// Read calls fn until it returns true, waiting until the descriptor is
// readable between two calls.
func (c *rawConn) Read(fn func(fd uintptr) bool) error { return c.rw(fn, false) }

// Write calls fn until it returns true, waiting until the descriptor is
// writable between two calls.
func (c *rawConn) Write(fn func(fd uintptr) bool) error { return c.rw(fn, true) }

// rw calls fn until it reports done, waiting for the descriptor between
// calls.
func (c *rawConn) rw(fn func(fd uintptr) bool, write bool) error {
	if err := c.use(); err != nil {
		return err
	}
	f := c.f
	defer f.mu.decref()
	if f.osf != nil {
		// Package os waits for what its poller watches.
		rc, err := f.osf.SyscallConn()
		if err != nil {
			return err
		}
		if write {
			return rc.Write(fn)
		}
		return rc.Read(fn)
	}
	w, mask := &f.rd, uring.PollIn
	if write {
		w, mask = &f.wr, uring.PollOut
	}
	if err := w.Check(); err != nil {
		return err
	}
	for !fn(uintptr(f.fd)) {
		if f.exec == nil {
			return f.execErr
		}
		var st unix.Stat_t
		if err := unix.Fstat(f.fd, &st); err == nil {
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFREG, unix.S_IFDIR, unix.S_IFBLK:
				// Always "ready": waiting would spin.
				return errUnsupportedWait
			}
		}
		if err := f.waitPoll(mask); err != nil {
			if err == errClosing {
				err = fs.ErrClosed
			}
			return err
		}
	}
	runtime.KeepAlive(f)
	return nil
}

var _ syscall.RawConn = (*rawConn)(nil)
