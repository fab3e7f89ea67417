package uringfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/uring-go/uring/internal/fdlife"
	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// maxRW caps one read or write, as os does: the kernel's length field is
// 32 bits, and some file systems misbehave on larger transfers.
const maxRW = 1 << 30

// File is an open file descriptor whose I/O runs on io_uring. Its methods
// behave like those of *os.File, and it is safe for concurrent use in the
// same way: ReadAt, WriteAt, Stat, Sync and Truncate from any number of
// goroutines at once; Read, Write and Seek share the file offset and are
// serialised, as os serialises them (on a pipe, FIFO, socket or character
// device, which have no offset, reads and writes each among themselves).
type File struct {
	fd         int
	name       string
	exec       *reactor.Executor
	execErr    error    // why exec is nil, returned by every operation
	osf        *os.File // with exec nil: package os does the I/O (Config.FallbackToOS)
	appendMode bool

	// mu counts the operations in progress; Close closes the fd after
	// the last one.
	mu fdMu

	// pos serialises the operations that use or move the file offset:
	// Read, Write, Seek, ReadDir, WriteTo. Lock order: pos before
	// anything the executor takes.
	pos sync.Mutex
	dir *dirInfo // guarded by pos
	// wpos is what Write and ReadFrom serialise on instead of pos on a
	// file without an offset (writeLock, streamlock.go); kind caches
	// whether it has one.
	wpos sync.Mutex
	kind atomic.Int32

	rings batchRings // private rings of ReadBatch and WriteBatch

	// Reads and writes made without the ring where that is cheaper
	// (nowait.go).
	rdirect, wdirect directIO

	// rd and wr are what reads and writes that may wait on a peer park
	// with: their deadlines (SetReadDeadline, SetWriteDeadline) and
	// Close. closing is what every other operation that parks waits
	// with: it has no deadline, and Close ends it, which also reaches
	// operations that name another descriptor (a splice into or a poll
	// on WriteTo's destination), which Close's cancel by fd misses.
	rd, wr, closing fdlife.Waiter

	cleanup runtime.Cleanup
}

// errClosing is what an operation cut short by Close reports before it is
// wrapped into a *fs.PathError around fs.ErrClosed.
var errClosing = errors.New("uringfs: file closing")

// errWriteAtInAppendMode is os's error, word for word, for the same misuse.
var errWriteAtInAppendMode = errors.New("os: invalid use of WriteAt on file opened with O_APPEND")

var errNegativeOffset = errors.New("negative offset")

func newFile(e *reactor.Executor, execErr error, fd int, name string, appendMode bool) *File {
	f := &File{fd: fd, name: name, exec: e, execErr: execErr, appendMode: appendMode}
	// Like os, close a File that is dropped without Close rather than
	// leak its fd.
	f.cleanup = runtime.AddCleanup(f, func(fd int) { unix.Close(fd) }, fd)
	return f
}

// Name returns the name the file was opened with.
func (f *File) Name() string { return f.name }

// Fd returns the file descriptor, or ^uintptr(0) after Close. As with
// os.File.Fd, the number is only valid until Close, and an operation the
// caller runs on it is not counted by Close: it must not race with Close.
//
// Fd leaves the descriptor in the mode it has. os.File.Fd puts a
// descriptor back into blocking mode only if os itself made it
// non-blocking (for its poller); uringfs never does (io_uring waits for a
// file in either mode: a blocking pipe in the kernel, where Close can
// cancel the wait, a non-blocking one through a poll), so the mode is the
// one the caller chose, through OpenFile's flags or before NewFile or
// FromOS, and stays so. Clearing O_NONBLOCK as os does for its own would
// also change it for every duplicate sharing the open file description:
// the *os.File given to FromOS would stop honouring deadlines. The File
// keeps working in whatever mode the caller then sets on the descriptor.
// With Config.FallbackToOS, where package os may have made a descriptor
// non-blocking for its poller (a FIFO), Fd undoes that, as os.File.Fd
// does, so the mode is again the one the caller chose; there, as with an
// *os.File, a descriptor that was blocking when wrapped and that the
// caller makes non-blocking later reports EAGAIN rather than waiting.
func (f *File) Fd() uintptr {
	if f == nil || f.mu.Closed() {
		return ^uintptr(0)
	}
	if f.osf != nil {
		return f.osf.Fd()
	}
	return uintptr(f.fd)
}

// acquire takes a reference on the fd for one call named op.
func (f *File) acquire(op string) error {
	if f == nil {
		return fs.ErrInvalid
	}
	if !f.mu.incref() {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	if f.exec == nil && f.osf == nil {
		f.mu.decref()
		return &fs.PathError{Op: op, Path: f.name, Err: f.execErr}
	}
	return nil
}

// wrapErr turns an error into what os returns for it.
func (f *File) wrapErr(op string, err error) error {
	switch err {
	case nil, io.EOF:
		return err
	case errClosing:
		err = fs.ErrClosed
	}
	return &fs.PathError{Op: op, Path: f.name, Err: err}
}

// run runs one operation naming f's fd and returns its result. The
// caller holds a reference. An operation that starts after Close marked
// the file closed cancels itself, since Close's cancel-by-fd may have been
// processed before it.
func (f *File) run(prep reactor.Prep) (int, error) { return f.runUntil(&f.closing, prep, false) }

// runUntil is run waiting with w, for reads and writes that may wait on a
// peer, bounded by the deadline w holds: past it, the operation fails
// with os.ErrDeadlineExceeded. An operation woken by a deadline that has
// moved since goes again under the new one. transfer says that the
// operation is a read or write of a file with an offset, whose waits end
// in bounded time (see startOn).
func (f *File) runUntil(w *fdlife.Waiter, prep reactor.Prep, transfer bool) (int, error) {
	for {
		if err := w.Check(); err != nil {
			return 0, err
		}
		n, err := f.result(f.exec.Run(w, func() (*reactor.Operation, error) { return f.startOn(prep, transfer) }))
		if err != errMoved {
			return n, err
		}
	}
}

// start starts one operation naming f's fd; the caller holds a reference
// and must call wait. Reads and writes of files complete inline, so they
// take the executor's batching path; Close cancels them on every ring.
func (f *File) start(prep reactor.Prep) (*reactor.Operation, error) { return f.startOn(prep, false) }

// startOn is start. With transfer set (a read or write of a file with an
// offset, which ends in bounded time, as a batch's transfers on such a
// file do: see batchRing), an operation that waits while it is the only
// one in flight on its ring is waited for in io_uring_enter by its own
// goroutine, as a blocking pread(2) waits and as such a batch waits
// (reactor.Executor.StartLocalFile), not parked for the reaper to wake:
// at queue depth 1 that hand-off costs more CPU than the read.
func (f *File) startOn(prep reactor.Prep, transfer bool) (*reactor.Operation, error) {
	var o *reactor.Operation
	var err error
	if transfer {
		o, err = f.exec.StartLocalFile(prep)
	} else {
		o, err = f.exec.StartLocal(prep)
	}
	if err != nil {
		var ip *uring.InvalidPathError
		if errors.As(err, &ip) {
			return nil, syscall.EINVAL
		}
		return nil, err
	}
	if f.mu.Closed() {
		o.Cancel()
	}
	return o, nil
}

// runOther is run for an operation that names a descriptor other than
// f's while it holds a reference on f: it waits with f.closing, which
// Close ends.
func (f *File) runOther(prep reactor.Prep) (int, error) {
	for {
		n, err := f.result(f.exec.Run(&f.closing, func() (*reactor.Operation, error) { return f.exec.StartLocal(prep) }))
		if err != errMoved {
			return n, err
		}
	}
}

// wait waits for an operation begun by start, with f.closing: Close
// cancels it if it parks. Its errors are result's.
func (f *File) wait(o *reactor.Operation) (int, error) { return f.result(o.Wait(&f.closing)) }

// result turns what an operation waited with one of f's Waiters ended
// with into its count and error: errClosing for an operation cut short
// by Close, and errMoved for one woken by a deadline that has moved
// since, which the caller starts again.
func (f *File) result(res reactor.Result, err error) (int, error) {
	if err != nil {
		if f.mu.Closed() && (err == reactor.ErrCanceled || err == errClosing || err == syscall.ECANCELED || err == syscall.EINTR) {
			return 0, errClosing
		}
		if err == reactor.ErrCanceled {
			// Cancelled by Wait itself, for a deadline that has
			// moved since it passed.
			return 0, errMoved
		}
		return 0, err
	}
	return int(res.Res), nil
}

// waitPoll waits until a non-blocking fd is ready for mask: io_uring
// honours O_NONBLOCK and fails such an fd's read with EAGAIN.
func (f *File) waitPoll(mask uring.PollMask) error {
	fd := f.fd
	w := &f.rd
	if mask&uring.PollIn == 0 {
		w = &f.wr
	}
	_, err := f.runUntil(w, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.PollAdd(fd, mask, o) }, false)
	return err
}

// pread reads once at off (-1: the file offset).
func (f *File) pread(b []byte, off int64) (int, error) {
	if len(b) > maxRW {
		b = b[:maxRW]
	}
	if f.osf != nil {
		return f.osPread(b, off)
	}
	if err := f.rd.Check(); err != nil {
		return 0, err
	}
	if n, err, done := f.direct(&f.rdirect, b, off, false); done {
		return n, err
	}
	fd := f.fd
	transfer := f.fileKind() == kindOffset
	for {
		n, err := f.runUntil(&f.rd, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.Read(fd, b, off, o) }, transfer)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if err := f.waitPoll(uring.PollIn); err != nil {
				return 0, err
			}
			continue
		}
		return n, err
	}
}

// pwrite writes once at off (-1: the file offset).
func (f *File) pwrite(b []byte, off int64) (int, error) {
	if len(b) > maxRW {
		b = b[:maxRW]
	}
	if f.osf != nil {
		return f.osPwrite(b, off)
	}
	if err := f.wr.Check(); err != nil {
		return 0, err
	}
	if n, err, done := f.direct(&f.wdirect, b, off, true); done {
		return n, err
	}
	fd := f.fd
	transfer := f.fileKind() == kindOffset
	for {
		n, err := f.runUntil(&f.wr, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.Write(fd, b, off, o) }, transfer)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if err := f.waitPoll(uring.PollOut); err != nil {
				return 0, err
			}
			continue
		}
		return n, err
	}
}

// Read reads up to len(b) bytes at the file offset and advances it. At end
// of file it returns 0, io.EOF.
func (f *File) Read(b []byte) (int, error) {
	if err := f.acquire("read"); err != nil {
		return 0, err
	}
	defer f.mu.decref()
	if len(b) == 0 {
		return 0, nil
	}
	f.pos.Lock()
	n, err := f.pread(b, -1)
	f.pos.Unlock()
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return n, f.wrapErr("read", err)
}

// ReadAt reads len(b) bytes at off, without using or moving the file
// offset. It returns a non-nil error, io.EOF at end of file, when it
// reads fewer than len(b) bytes. Any number of goroutines may call it at
// once.
func (f *File) ReadAt(b []byte, off int64) (n int, err error) {
	if err := f.acquire("read"); err != nil {
		return 0, err
	}
	defer f.mu.decref()
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: errNegativeOffset}
	}
	for len(b) > 0 {
		m, e := f.pread(b, off)
		if e != nil {
			return n, f.wrapErr("read", e)
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
		b = b[m:]
		off += int64(m)
	}
	return n, nil
}

// Write writes all of b at the file offset (or the end, with O_APPEND),
// looping over short writes; it returns an error if it wrote less.
func (f *File) Write(b []byte) (int, error) {
	if err := f.acquire("write"); err != nil {
		return 0, err
	}
	defer f.mu.decref()
	l := f.writeLock()
	l.Lock()
	defer l.Unlock()
	return f.writeAll(b, -1, "write")
}

func (f *File) writeAll(b []byte, off int64, op string) (n int, err error) {
	for len(b) > 0 {
		m, e := f.pwrite(b, off)
		if e != nil {
			// Package os (the fallback) reports what it wrote
			// before the error; the ring writes nothing then.
			return n + max(m, 0), f.wrapErr(op, e)
		}
		if m == 0 {
			return n, f.wrapErr(op, io.ErrUnexpectedEOF)
		}
		n += m
		b = b[m:]
		if off >= 0 {
			off += int64(m)
		}
	}
	return n, nil
}

// WriteAt writes all of b at off without using or moving the file offset.
// Like os, it refuses a file opened with O_APPEND, where the kernel would
// append instead. Any number of goroutines may call it at once.
func (f *File) WriteAt(b []byte, off int64) (int, error) {
	if err := f.acquire("write"); err != nil {
		return 0, err
	}
	defer f.mu.decref()
	if f.appendMode {
		return 0, errWriteAtInAppendMode
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "writeat", Path: f.name, Err: errNegativeOffset}
	}
	return f.writeAll(b, off, "write")
}

// WriteString writes s, as Write.
func (f *File) WriteString(s string) (int, error) {
	return f.Write(unsafeBytes(s))
}

// Seek sets the file offset for the next Read or Write, as os.File.Seek.
// io_uring has no lseek: this is the system call.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	if err := f.acquire("seek"); err != nil {
		return 0, err
	}
	defer f.mu.decref()
	f.pos.Lock()
	defer f.pos.Unlock()
	r, err := unix.Seek(f.fd, offset, whence)
	if err == nil && f.dir != nil {
		// Buffered directory entries belong to the old offset.
		f.dir = nil
		if r != 0 {
			err = syscall.EISDIR
		}
	}
	if err != nil {
		return 0, f.wrapErr("seek", err)
	}
	return r, nil
}

// Sync commits the file's contents to stable storage (fsync).
func (f *File) Sync() error {
	if err := f.acquire("sync"); err != nil {
		return err
	}
	defer f.mu.decref()
	if f.osf != nil {
		return f.wrapErr("sync", ignoringEINTR(func() error { return unix.Fsync(f.fd) }))
	}
	fd := f.fd
	_, err := f.run(func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.Fsync(fd, o) })
	return f.wrapErr("sync", err)
}

// Truncate changes the file's size. It uses io_uring's ftruncate where the
// kernel has it (Linux 6.9) and the system call otherwise.
func (f *File) Truncate(size int64) error {
	if err := f.acquire("truncate"); err != nil {
		return err
	}
	defer f.mu.decref()
	if size < 0 {
		return f.wrapErr("truncate", syscall.EINVAL)
	}
	fd := f.fd
	err := errors.ErrUnsupported
	if f.osf == nil {
		_, err = f.run(func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.Ftruncate(fd, size, o) })
	}
	if errors.Is(err, errors.ErrUnsupported) {
		err = ignoringEINTR(func() error { return unix.Ftruncate(fd, size) })
	}
	return f.wrapErr("truncate", err)
}

func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != syscall.EINTR {
			return err
		}
	}
}

// Close closes the file. Operations in flight on it are cancelled (those
// the kernel cannot stop, such as a read already running on a regular
// file, finish), each then returns an error matching fs.ErrClosed or its
// real result, and close(2) runs after the last of them: the fd number is
// not reused while an operation names it. A second Close returns an
// error matching fs.ErrClosed.
func (f *File) Close() error {
	if f == nil {
		return fs.ErrInvalid
	}
	first, busy := f.mu.MarkClosed()
	if !first {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.rd.Close(errClosing)
	f.wr.Close(errClosing)
	f.closing.Close(errClosing)
	if busy {
		if f.osf != nil {
			f.osInterrupt()
		} else if f.exec != nil {
			// Operations run on whichever ring their goroutine's
			// processor uses: cancel on all of them.
			f.exec.CancelFd(f.fd)
		}
		// Batches run on private rings, which the executor does not
		// reach: they cancel their own transfers once woken.
		f.wakeBatches()
		<-f.mu.Idle()
	}
	f.cleanup.Stop()
	f.closeRings()
	if f.osf != nil {
		return f.wrapErr("close", unwrapPath(f.osf.Close()))
	}
	// Like os: close(2) is not retried on EINTR, since the fd is gone.
	if err := unix.Close(f.fd); err != nil {
		return &fs.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}
