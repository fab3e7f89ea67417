package uringfs

import (
	"context"
	"errors"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Deadlines, as os.File has them for pipes and FIFOs. The deadline itself
// is enforced by the executor: an operation that may wait on a peer is
// started with it, which bounds it in the kernel with a link timeout
// (reactor.Executor.Start), and fails with os.ErrDeadlineExceeded. What
// remains is an operation already waiting when the deadline moves: it
// waits with the File's wake (fileWake), which SetDeadline fires; the
// operation is cancelled, and runUntil starts it again under the new
// deadline, or fails it if that has passed. Nothing is lost: a read or
// write the kernel cancelled moved no bytes, and one that completed
// anyway reports its result instead.

// errMoved is wait's report of an operation that the wake cancelled for a
// deadline that moved; runUntil and runOther start it again.
var errMoved = errors.New("uringfs: deadline moved")

// fileWake is the context every parking operation on a File waits with
// (File.wait). It is done for good once Close has begun (Err is then
// context.Canceled), and done once, then renewed, each time a deadline
// moves (Err stays nil: the operation sees reactor.ErrCanceled, that is
// errMoved). Its channel is made only when an operation parks: one that
// completes inline never asks for it, so the fast path costs nothing.
type fileWake struct {
	mu     sync.Mutex
	ch     chan struct{} // nil until an operation parks; closed and dropped by fire
	closed bool
}

// Deadline is part of context.Context: deadlines are link timeouts, not
// the context's.
func (w *fileWake) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done is part of context.Context.
func (w *fileWake) Done() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return closedWake
	}
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

// Err is part of context.Context: context.Canceled once Close has begun.
func (w *fileWake) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return context.Canceled
	}
	return nil
}

// Value is part of context.Context.
func (w *fileWake) Value(any) any { return nil }

// fire wakes the operations parked now; later ones park on a new channel.
func (w *fileWake) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// close wakes every parked operation and every later one, for good.
func (w *fileWake) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

var closedWake = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// deadlineOf returns the deadline dl holds (zero for none, or for a nil
// dl), or os.ErrDeadlineExceeded if it has passed.
func deadlineOf(dl *atomic.Int64) (time.Time, error) {
	if dl == nil {
		return time.Time{}, nil
	}
	ns := dl.Load()
	if ns == 0 {
		return time.Time{}, nil
	}
	t := time.Unix(0, ns)
	if !time.Now().Before(t) {
		return time.Time{}, os.ErrDeadlineExceeded
	}
	return t, nil
}

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
	var ns int64
	switch {
	case t.IsZero():
	case t.Before(time.Unix(0, 1)):
		ns = 1 // long past, and not "none"
	case t.After(time.Unix(0, math.MaxInt64)):
		ns = math.MaxInt64
	default:
		ns = t.UnixNano()
	}
	if read {
		f.rdeadline.Store(ns)
	}
	if write {
		f.wdeadline.Store(ns)
	}
	// Operations waiting now go again under the new deadline.
	f.wake.fire()
	return nil
}
