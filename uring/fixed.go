package uring

import (
	"fmt"
	"syscall"
	"unsafe"

	"github.com/uring-go/uring/internal/ring"
	"golang.org/x/sys/unix"
)

// SetFixedBuffer registers buf as the ring's fixed buffer, the memory
// ReadFixed, WriteFixed and the chunk operations use without mapping pages
// per call. It replaces any previous fixed buffer. The kernel pins the
// pages, which counts against RLIMIT_MEMLOCK: an ENOMEM error says so.
//
// buf may be Go memory (it is pinned) or off-heap memory such as
// region.Mmap returns; it must stay valid until the ring is closed or the
// buffer replaced.
func (r *Ring[T]) SetFixedBuffer(buf []byte) error {
	if r.closed {
		return ErrClosed
	}
	if len(buf) == 0 {
		return fmt.Errorf("uring: fixed buffer is empty")
	}
	if r.fixed != nil {
		if _, err := ring.Register(r.r.Fd, ring.IORING_UNREGISTER_BUFFERS, nil, 0); err != nil {
			return fmt.Errorf("uring: unregistering the old fixed buffer: %w", err)
		}
		r.fixed = nil
		r.fixedPin.Unpin()
	}
	iov := unix.Iovec{Base: unsafe.SliceData(buf)}
	iov.SetLen(len(buf))
	_, err := ring.Register(r.r.Fd, ring.IORING_REGISTER_BUFFERS, unsafe.Pointer(&iov), 1)
	if err != nil {
		if err == syscall.ENOMEM {
			return memlockError("registering fixed buffer", len(buf), err)
		}
		return fmt.Errorf("uring: registering fixed buffer (%d bytes): %w", len(buf), err)
	}
	r.fixedPin.Pin(unsafe.SliceData(buf))
	r.fixed = buf
	return nil
}

// FixedBuffer returns the registered fixed buffer, or nil if none is set.
func (r *Ring[T]) FixedBuffer() []byte { return r.fixed }

// fixedSlice checks that [off, off+n) lies in the fixed buffer.
func (r *Ring[T]) fixedSlice(off, n int) ([]byte, error) {
	if r.closed {
		return nil, ErrClosed
	}
	if r.fixed == nil {
		return nil, errNoFixed
	}
	if off < 0 || n < 0 || off > len(r.fixed) || n > len(r.fixed)-off {
		return nil, fmt.Errorf("uring: range [%d, %d) is outside the fixed buffer of %d bytes", off, off+n, len(r.fixed))
	}
	return r.fixed[off : off+n : off+n], nil
}

var errNoFixed = errorString("uring: no fixed buffer registered; call SetFixedBuffer first")

// ReadFixed queues a read of up to n bytes from fd at fileOffset into the
// fixed buffer at off.
func (r *Ring[T]) ReadFixed(fd int, fileOffset int64, off, n int, data T) (Job, error) {
	b, err := r.fixedSlice(off, n)
	if err != nil {
		return Job{}, err
	}
	return r.rwFixed(OpReadFixed, fd, b, fileOffset, 0, data)
}

// ReadFixedFlags is ReadFixed with per-call flags (RWF_*), as preadv2(2)
// takes them.
func (r *Ring[T]) ReadFixedFlags(fd int, fileOffset int64, off, n int, flags RWFlags, data T) (Job, error) {
	b, err := r.fixedSlice(off, n)
	if err != nil {
		return Job{}, err
	}
	return r.rwFixed(OpReadFixed, fd, b, fileOffset, flags, data)
}

// WriteFixed queues a write of n bytes from the fixed buffer at off to fd
// at fileOffset.
func (r *Ring[T]) WriteFixed(fd int, fileOffset int64, off, n int, data T) (Job, error) {
	b, err := r.fixedSlice(off, n)
	if err != nil {
		return Job{}, err
	}
	return r.rwFixed(OpWriteFixed, fd, b, fileOffset, 0, data)
}

// WriteFixedFlags is WriteFixed with per-call flags (RWF_*), as
// pwritev2(2) takes them.
func (r *Ring[T]) WriteFixedFlags(fd int, fileOffset int64, off, n int, flags RWFlags, data T) (Job, error) {
	b, err := r.fixedSlice(off, n)
	if err != nil {
		return Job{}, err
	}
	return r.rwFixed(OpWriteFixed, fd, b, fileOffset, flags, data)
}

func (r *Ring[T]) rwFixed(op Op, fd int, b []byte, fileOffset int64, flags RWFlags, data T) (Job, error) {
	sqe, s, j, err := r.prepMem(op, data)
	if err != nil {
		return j, err
	}
	// Keep the fixed buffer reachable through this operation even if it
	// is replaced before the completion: the kernel still uses it.
	s.buf = b
	sqe.Fd = int32(fd)
	sqe.Addr = bufAddr(b)
	sqe.Len = uint32(len(b))
	sqe.Off = uint64(fileOffset)
	sqe.OpFlags = uint32(flags)
	sqe.BufIndex = 0
	return j, nil
}

// ReadvFixed queues a vectored read into slices of the fixed buffer. Each
// of bufs must lie inside FixedBuffer(); one that does not is rejected
// before anything is queued. Linux 6.15.
func (r *Ring[T]) ReadvFixed(fd int, bufs [][]byte, fileOffset int64, data T) (Job, error) {
	return r.rwvFixed(OpReadvFixed, fd, bufs, fileOffset, data)
}

// WritevFixed queues a vectored write from slices of the fixed buffer.
// Linux 6.15.
func (r *Ring[T]) WritevFixed(fd int, bufs [][]byte, fileOffset int64, data T) (Job, error) {
	return r.rwvFixed(OpWritevFixed, fd, bufs, fileOffset, data)
}

func (r *Ring[T]) rwvFixed(op Op, fd int, bufs [][]byte, fileOffset int64, data T) (Job, error) {
	if r.closed {
		return Job{}, ErrClosed
	}
	if r.fixed == nil {
		return Job{}, errNoFixed
	}
	if len(bufs) > IovMax {
		return Job{}, fmt.Errorf("uring: %s with %d buffers: at most %d (IOV_MAX)", op, len(bufs), IovMax)
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(r.fixed)))
	hi := lo + uintptr(len(r.fixed))
	for i, b := range bufs {
		p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if len(b) > 0 && (p < lo || p+uintptr(len(b)) > hi) {
			return Job{}, fmt.Errorf("uring: %s buffer %d is not inside the fixed buffer", op, i)
		}
	}
	sqe, s, j, err := r.prepMem(op, data)
	if err != nil {
		return j, err
	}
	iov := s.iovecs(len(bufs))
	pinIovecs(s, iov, bufs)
	s.buf = r.fixed
	sqe.Fd = int32(fd)
	if len(iov) > 0 {
		sqe.Addr = ptr(&iov[0])
	}
	sqe.Len = uint32(len(iov))
	sqe.Off = uint64(fileOffset)
	return j, nil
}

// RegisterEventfd makes the kernel signal the eventfd fd whenever a
// completion is posted, so that an event loop can wait for the ring with
// epoll or the Go netpoller. One eventfd per ring: a second registration
// replaces the first.
func (r *Ring[T]) RegisterEventfd(fd int) error {
	return r.registerEventfd(fd, ring.IORING_REGISTER_EVENTFD)
}

// RegisterEventfdAsync is RegisterEventfd, except that completions posted
// while the submitter is inside io_uring_enter (operations that finish
// inline) do not signal: the submitter sees those itself.
func (r *Ring[T]) RegisterEventfdAsync(fd int) error {
	return r.registerEventfd(fd, ring.IORING_REGISTER_EVENTFD_ASYNC)
}

func (r *Ring[T]) registerEventfd(fd int, op uint32) error {
	if r.closed {
		return ErrClosed
	}
	// Replacing needs an unregister first: the kernel returns EBUSY.
	ring.Register(r.r.Fd, ring.IORING_UNREGISTER_EVENTFD, nil, 0)
	efd := int32(fd)
	if _, err := ring.Register(r.r.Fd, op, unsafe.Pointer(&efd), 1); err != nil {
		return fmt.Errorf("uring: registering eventfd %d: %w", fd, err)
	}
	return nil
}

// UnregisterEventfd removes the registered eventfd.
func (r *Ring[T]) UnregisterEventfd() error {
	if r.closed {
		return ErrClosed
	}
	if _, err := ring.Register(r.r.Fd, ring.IORING_UNREGISTER_EVENTFD, nil, 0); err != nil {
		return fmt.Errorf("uring: unregistering eventfd: %w", err)
	}
	return nil
}
