package uring

import (
	"fmt"
	"unsafe"

	"github.com/uring-go/uring/internal/ring"

	"golang.org/x/sys/unix"
)

// IovMax is the most buffers Readv and Writev accept (IOV_MAX).
const IovMax = 1024

// CurrentPosition, -1 as the offset of Read, Write, Readv or Writev,
// means the file's current position, which the operation then advances,
// as read(2) and write(2) do. Sockets and pipes take 0.
const CurrentPosition = -1

// Read queues a read(2) of up to len(buf) bytes from fd at offset into buf.
// The completion's result is the number of bytes read, 0 at end of file.
func (r *Ring[T]) Read(fd int, buf []byte, offset int64, data T) (Job, error) {
	return r.rw(OpRead, fd, buf, offset, 0, data)
}

// Write queues a write(2) of buf to fd at offset. The result is the number
// of bytes written; a short write is not an error.
func (r *Ring[T]) Write(fd int, buf []byte, offset int64, data T) (Job, error) {
	return r.rw(OpWrite, fd, buf, offset, 0, data)
}

// ReadFlags is Read with per-call flags, as preadv2(2) takes them: the
// Go counterpart of read's ?flags in OCaml's uring.
func (r *Ring[T]) ReadFlags(fd int, buf []byte, offset int64, flags RWFlags, data T) (Job, error) {
	return r.rw(OpRead, fd, buf, offset, flags, data)
}

// WriteFlags is Write with per-call flags, as pwritev2(2) takes them
// (RWFDsync makes this one write durable, as O_DSYNC would every write).
func (r *Ring[T]) WriteFlags(fd int, buf []byte, offset int64, flags RWFlags, data T) (Job, error) {
	return r.rw(OpWrite, fd, buf, offset, flags, data)
}

// RWFlags are the per-call flags of preadv2/pwritev2 (RWF_*), taken by
// ReadFlags, WriteFlags, ReadvFlags, WritevFlags, ReadFixedFlags,
// WriteFixedFlags, ReadChunkFlags and WriteChunkFlags. A flag the kernel
// or the file does not support fails the operation with EOPNOTSUPP (or
// EINVAL for a bit no kernel defines).
type RWFlags uint32

// Per-call read and write flags.
const (
	// RWFHiPri: high priority; on a SetupIOPoll ring, poll for it.
	RWFHiPri = RWFlags(unix.RWF_HIPRI)
	// RWFDsync: this write is durable (data) on completion, as O_DSYNC.
	RWFDsync = RWFlags(unix.RWF_DSYNC)
	// RWFSync: this write is durable (data and metadata), as O_SYNC.
	RWFSync = RWFlags(unix.RWF_SYNC)
	// RWFNowait: fail with EAGAIN rather than block (for reads, data not
	// in the page cache).
	RWFNowait = RWFlags(unix.RWF_NOWAIT)
	// RWFAppend: append this write to the end of the file, as O_APPEND,
	// ignoring the offset.
	RWFAppend = RWFlags(unix.RWF_APPEND)
	// RWFNoAppend: write at the offset even if the file was opened with
	// O_APPEND (pwritev2's answer to pwrite's Linux quirk). Linux 6.9.
	RWFNoAppend = RWFlags(unix.RWF_NOAPPEND)
	// RWFAtomic: write all of it or none of it, even across a crash
	// (torn-write protection); the length and offset must respect the
	// file's atomic write unit (statx STATX_WRITE_ATOMIC). Linux 6.11.
	RWFAtomic = RWFlags(unix.RWF_ATOMIC)
	// RWFDontcache: buffered I/O that drops its pages from the page
	// cache once done (uncached buffered I/O). File systems without
	// support fail it with EOPNOTSUPP. Linux 6.14.
	RWFDontcache = RWFlags(unix.RWF_DONTCACHE)
)

func (r *Ring[T]) rw(op Op, fd int, buf []byte, offset int64, flags RWFlags, data T) (Job, error) {
	sqe, s, j, err := r.prepMem(op, data)
	if err != nil {
		return j, err
	}
	s.buf = buf
	sqe.Fd = int32(fd)
	sqe.Addr = bufAddr(buf)
	sqe.Len = uint32(len(buf))
	sqe.Off = uint64(offset)
	sqe.OpFlags = uint32(flags)
	return j, nil
}

// Readv queues a readv(2) into bufs, filled in order. At most IovMax
// buffers.
func (r *Ring[T]) Readv(fd int, bufs [][]byte, offset int64, data T) (Job, error) {
	return r.rwv(OpReadv, fd, bufs, offset, 0, data)
}

// Writev queues a writev(2) of bufs, in order. At most IovMax buffers.
func (r *Ring[T]) Writev(fd int, bufs [][]byte, offset int64, data T) (Job, error) {
	return r.rwv(OpWritev, fd, bufs, offset, 0, data)
}

// ReadvFlags is Readv with preadv2 flags.
func (r *Ring[T]) ReadvFlags(fd int, bufs [][]byte, offset int64, flags RWFlags, data T) (Job, error) {
	return r.rwv(OpReadv, fd, bufs, offset, flags, data)
}

// WritevFlags is Writev with pwritev2 flags (RWFDsync, for example).
func (r *Ring[T]) WritevFlags(fd int, bufs [][]byte, offset int64, flags RWFlags, data T) (Job, error) {
	return r.rwv(OpWritev, fd, bufs, offset, flags, data)
}

func (r *Ring[T]) rwv(op Op, fd int, bufs [][]byte, offset int64, flags RWFlags, data T) (Job, error) {
	if len(bufs) > IovMax {
		return Job{}, fmt.Errorf("uring: %s with %d buffers: at most %d (IOV_MAX)", op, len(bufs), IovMax)
	}
	if r.closed {
		return Job{}, ErrClosed
	}
	sqe, s, j, err := r.prepMem(op, data)
	if err != nil {
		return j, err
	}
	iov := s.iovecs(len(bufs))
	pinIovecs(s, iov, bufs)
	sqe.Fd = int32(fd)
	if len(iov) > 0 {
		sqe.Addr = ptr(&iov[0])
	}
	sqe.Len = uint32(len(iov))
	sqe.Off = uint64(offset)
	sqe.OpFlags = uint32(flags)
	return j, nil
}

// pinIovecs fills iov from bufs and pins each buffer: the kernel reads
// their addresses from the iovec array, Go memory the garbage collector
// knows nothing about the kernel's use of.
func pinIovecs(s *slotMem, iov []unix.Iovec, bufs [][]byte) {
	s.pinned = true
	for i, b := range bufs {
		if len(b) > 0 {
			p := unsafe.SliceData(b)
			s.pin.Pin(p)
			iov[i].Base = p
		}
		iov[i].SetLen(len(b))
	}
	if len(iov) > 0 {
		s.pin.Pin(&iov[0])
	}
}

// PollMask is a set of poll(2) events.
type PollMask uint32

// Poll events.
const (
	PollIn    = PollMask(unix.POLLIN)
	PollOut   = PollMask(unix.POLLOUT)
	PollPri   = PollMask(unix.POLLPRI)
	PollErr   = PollMask(unix.POLLERR)
	PollHup   = PollMask(unix.POLLHUP)
	PollRdHup = PollMask(unix.POLLRDHUP)
)

// PollAdd queues a one-shot poll of fd for the events in mask. The result
// is the events that occurred (a subset of mask, plus PollErr/PollHup).
func (r *Ring[T]) PollAdd(fd int, mask PollMask, data T) (Job, error) {
	sqe, j, err := r.prep(OpPollAdd, data)
	if err != nil {
		return j, err
	}
	sqe.Fd = int32(fd)
	sqe.OpFlags = uint32(mask)
	return j, nil
}

// CloseFd queues a close(2) of fd. Even if it fails the fd is closed; the
// number is not reused before the completion.
func (r *Ring[T]) CloseFd(fd int, data T) (Job, error) {
	sqe, j, err := r.prep(OpClose, data)
	if err != nil {
		return j, err
	}
	sqe.Fd = int32(fd)
	return j, nil
}

// PollMultishot queues a poll of fd that stays armed: it posts a completion
// with CQEMore for every readiness event until cancelled or it fails.
func (r *Ring[T]) PollMultishot(fd int, mask PollMask, data T) (Job, error) {
	sqe, j, err := r.prep(OpPollAdd, data)
	if err != nil {
		return j, err
	}
	sqe.Fd = int32(fd)
	sqe.OpFlags = uint32(mask)
	sqe.Len = ring.IORING_POLL_ADD_MULTI
	return j, nil
}
