package uringfs

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Deadlines, as os.File has them for pipes and FIFOs, are kept by the
// File's read and write Waiters (internal/fdlife), which operations that
// may wait on a peer park with: past the deadline, the Waiter wakes them,
// the operation is cancelled in the kernel and fails with
// os.ErrDeadlineExceeded. A deadline moved after it passed re-arms the
// Waiter; an operation it woke meanwhile reports errMoved, and runUntil
// starts it again under the new deadline. Nothing is lost: a read or
// write the kernel cancelled moved no bytes, and one that completed
// anyway reports its result instead.

// errMoved is result's report of an operation cancelled for a deadline
// that has moved since it passed; runUntil and runOther start it again.
var errMoved = errors.New("uringfs: deadline moved")

// SetDeadline sets the read and write deadlines, as os.File.SetDeadline:
// past it, a Read or Write, and one already waiting, fails with an error
// wrapping os.ErrDeadlineExceeded instead of waiting, and the file stays
// usable: a later deadline, or the zero time for none, lets them wait
// again, and a read that timed out consumed nothing. Files whose reads
// and writes never wait (regular files, directories, block devices) do
// not take deadlines: os.ErrNoDeadline, as os says for them.
//
// os takes deadlines only for descriptors its poller watches: pipes,
// FIFOs, sockets, descriptors that were non-blocking when wrapped. A
// File takes them for every pipe, FIFO, socket and character device,
// blocking or not: io_uring bounds both kinds of wait. After Close the
// error matches fs.ErrClosed (os's is internal/poll's "use of closed
// file", which matches nothing exported). With Config.FallbackToOS the
// deadlines are the *os.File's, with os's limits.
func (f *File) SetDeadline(t time.Time) error {
	return f.setDeadline("SetDeadline", t, true, true)
}

// SetReadDeadline sets the deadline for future Read calls and any
// currently waiting, as os.File.SetReadDeadline; see SetDeadline.
func (f *File) SetReadDeadline(t time.Time) error {
	return f.setDeadline("SetReadDeadline", t, true, false)
}

// SetWriteDeadline sets the deadline for future Write calls and any
// currently waiting, as os.File.SetWriteDeadline: after a timeout, a
// Write may have written part of its bytes, and returns how many. See
// SetDeadline.
func (f *File) SetWriteDeadline(t time.Time) error {
	return f.setDeadline("SetWriteDeadline", t, false, true)
}

func (f *File) setDeadline(op string, t time.Time, read, write bool) error {
	if err := f.acquire(op); err != nil {
		return err
	}
	defer f.mu.decref()
	if f.osf != nil {
		// Package os waits, in its poller, for the descriptors it
		// can; its deadlines are the ones to set.
		switch {
		case read && write:
			return f.osf.SetDeadline(t)
		case read:
			return f.osf.SetReadDeadline(t)
		}
		return f.osf.SetWriteDeadline(t)
	}
	var st unix.Stat_t
	if err := ignoringEINTR(func() error { return unix.Fstat(f.fd, &st) }); err != nil {
		return f.wrapErr(op, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO, unix.S_IFSOCK, unix.S_IFCHR:
	default:
		return os.ErrNoDeadline
	}
	if read {
		f.rd.Set(t)
	}
	if write {
		f.wr.Set(t)
	}
	return nil
}
