package uringfs

import (
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A read of data the kernel already holds (the page cache, a pipe's
// buffer) never waits: io_uring itself first tries such a read inline,
// in the submitting system call, and only hands one that would block to
// its asynchronous path. preadv2(2) with RWF_NOWAIT is that same inline
// attempt without the ring's bookkeeping or the goroutine hand-offs
// around it, so pread makes it first and submits to the ring only what
// would have blocked (EAGAIN): a page-cache hit costs what os's pread
// costs, and a miss still goes to disk asynchronously, with no thread
// blocked per read.
//
// The attempt is not made where it cannot help: on O_DIRECT files, whose
// RWF_NOWAIT reads still wait for the device; on files whose driver does
// not support RWF_NOWAIT (EOPNOTSUPP); and, for a while, after attempts
// that found nothing ready, backing off exponentially while they keep
// failing, so that reads of uncached data do not pay a wasted system call
// each.
type nowaitReads struct {
	state   atomic.Int32 // nowaitUnknown, nowaitOn or nowaitOff
	skip    atomic.Int32 // reads left to send straight to the ring
	backoff atomic.Int32 // skip's value after the next failed attempt
}

const (
	nowaitUnknown = iota
	nowaitOn
	nowaitOff
)

const maxNowaitBackoff = 1024

// nowaitMax bounds the reads attempted without telling the scheduler of
// the system call (see preadNowait): 256 KiB from the page cache takes
// tens of microseconds, as long as a short computation.
const nowaitMax = 256 << 10

// try reports whether a read of fd should be attempted with RWF_NOWAIT.
// The counters are updated by many goroutines without a lock: a lost
// update makes one read more or fewer go straight to the ring.
func (w *nowaitReads) try(fd int) bool {
	switch w.state.Load() {
	case nowaitOff:
		return false
	case nowaitUnknown:
		w.decide(fd)
		return w.state.Load() == nowaitOn
	}
	if w.skip.Load() > 0 {
		w.skip.Add(-1)
		return false
	}
	return true
}

// decide turns the attempt off for an O_DIRECT fd, once, on the first read.
func (w *nowaitReads) decide(fd int) {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_DIRECT != 0 {
		w.state.Store(nowaitOff)
		return
	}
	w.state.CompareAndSwap(nowaitUnknown, nowaitOn)
}

// hit records an attempt that read something.
func (w *nowaitReads) hit() {
	if w.backoff.Load() != 0 {
		w.backoff.Store(0)
	}
}

// miss records an attempt that found nothing ready.
func (w *nowaitReads) miss() {
	b := min(max(2*w.backoff.Load(), 1), maxNowaitBackoff)
	w.backoff.Store(b)
	w.skip.Store(b)
}

// off turns the attempt off for good.
func (w *nowaitReads) off() { w.state.Store(nowaitOff) }

// readNowait attempts one read of b at off (-1: the file offset) that
// does not wait. done is false when the read must go to the ring: nothing
// was ready, or the file does not allow such reads. Otherwise n and err
// are the read's result (n == 0 with a nil error is the end of the file).
func (f *File) readNowait(b []byte, off int64) (n int, err error, done bool) {
	if len(b) == 0 || !f.nowait.try(f.fd) {
		return 0, nil, false
	}
	n, err = preadNowait(f.fd, b, off)
	switch err {
	case nil:
		f.nowait.hit()
		return n, nil, true
	case syscall.EAGAIN:
		f.nowait.miss()
	case syscall.EINTR:
	case syscall.EOPNOTSUPP, syscall.EINVAL, syscall.ENOSYS:
		// The file (or the kernel) does not do RWF_NOWAIT reads;
		// EINVAL also covers an unaligned O_DIRECT read whose flag
		// was set after the first read decided: the ring reports its
		// own error for those.
		f.nowait.off()
	default:
		// A real error (EISDIR, EBADF, EIO...): the ring would say
		// the same.
		return 0, err, true
	}
	return 0, nil, false
}

// preadNowait is preadv2(fd, [b], off, RWF_NOWAIT). With RWF_NOWAIT the
// call cannot block, so for a short read it skips the scheduler's
// system-call bookkeeping, as a short computation would; a long one (a
// large copy) tells the scheduler, so that the processor can be handed on.
func preadNowait(fd int, b []byte, off int64) (int, error) {
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	// The offset is passed as two halves, low first (on 64-bit Linux
	// the low one holds all of it); -1 means the file offset.
	lo, hi := uintptr(off), uintptr(uint64(off)>>32>>32)
	var r uintptr
	var e syscall.Errno
	if len(b) <= nowaitMax {
		r, _, e = syscall.RawSyscall6(unix.SYS_PREADV2, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1, lo, hi, unix.RWF_NOWAIT)
	} else {
		r, _, e = syscall.Syscall6(unix.SYS_PREADV2, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1, lo, hi, unix.RWF_NOWAIT)
	}
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
