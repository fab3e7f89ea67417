package uringfs

import (
	"io"
	"os"
	"syscall"
	"unsafe"

	"github.com/uring-go/uring/internal/splice"
	"golang.org/x/sys/unix"
)

// onlyWriter hides a File's ReadFrom from io.Copy.
type onlyWriter struct{ io.Writer }

// maxCopyFileRange is the most one copy_file_range(2) moves: the kernel's
// MAX_RW_COUNT (INT_MAX rounded down to a page), as os uses.
const maxCopyFileRange = 0x7ffff000

// ReadFrom copies r to the file at its offset until r reports io.EOF, and
// advances the offset, as os.File.ReadFrom does.
//
// When r is a regular file (a *File, an *os.File, or an *io.LimitedReader
// around one), the bytes move inside the kernel with copy_file_range(2)
// from r's offset, which advances by as much (a LimitedReader's N drops by
// as much), with no copy through user memory; on file systems that share
// extents (btrfs, XFS) no data is copied at all. io_uring has no
// copy_file_range operation; this is the system call, as in os. When r is
// a pipe (the same types), the bytes move with io_uring's splice, which
// measured faster than a copy through user memory here (see
// BenchmarkReadFromPipe). Where the kernel refuses both (files on
// different file systems before Linux 5.3, a special file, a destination
// opened with O_APPEND), or for any other reader, ReadFrom copies through
// a buffer, using r's WriteTo if it has one (a *File's pipelines its
// reads).
//
// Errors are *fs.PathError with Op "write", around an *os.SyscallError
// naming copy_file_range when that call failed, as with os.
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	if err := f.acquire("write"); err != nil {
		return 0, err
	}
	n, handled, err := f.copyFileRange(r)
	f.mu.decref()
	if !handled && n == 0 {
		n, handled, err = f.spliceFrom(r)
	}
	if handled {
		return n, f.wrapErr("write", err)
	}
	bp := streamBufs.Get().(*[]byte)
	defer streamBufs.Put(bp)
	m, err := io.CopyBuffer(onlyWriter{f}, r, (*bp)[:streamChunk])
	return n + m, err
}

// copyFileRange copies from r to f with copy_file_range(2) if r is a
// regular file, or a LimitedReader around one. handled is false when the
// kernel would not do it and the rest must be copied another way: n
// bytes, if any, were copied already. The caller holds a reference on f.
func (f *File) copyFileRange(r io.Reader) (n int64, handled bool, err error) {
	if f.appendMode {
		// copy_file_range(2) refuses a destination opened with O_APPEND.
		return 0, false, nil
	}
	r, remain, lr := splice.Limited(r)
	if remain <= 0 {
		return 0, true, nil
	}
	switch src := r.(type) {
	case *File:
		if src == f || src.acquire("read") != nil {
			// From a file to itself the ranges would overlap, which
			// copy_file_range refuses; a closed source reports its
			// own error to the generic copy.
			return 0, false, nil
		}
		defer src.mu.decref()
		// Both offsets move.
		lockOffsets(f, src)
		n, handled, err = f.copyFileRangeFrom(src.fd, remain)
		unlockOffsets(f, src)
	case *os.File:
		sc, serr := src.SyscallConn()
		if serr != nil {
			return 0, false, nil
		}
		l := f.writeLock()
		l.Lock()
		// RawConn.Read holds the *os.File's read lock, which its own
		// Read takes, for the duration.
		rerr := sc.Read(func(fd uintptr) bool {
			n, handled, err = f.copyFileRangeFrom(int(fd), remain)
			return true
		})
		l.Unlock()
		if rerr != nil {
			return 0, false, nil
		}
	default:
		return 0, false, nil
	}
	if lr != nil {
		lr.N -= n
	}
	return n, handled, err
}

// copyFileRangeFrom copies up to remain bytes from src's offset to f's,
// as internal/poll's CopyFileRange does. The caller holds f.pos and
// whatever serialises src's offset.
func (f *File) copyFileRangeFrom(src int, remain int64) (written int64, handled bool, err error) {
	for remain > 0 {
		m, e := ignoringEINTRN(func() (int, error) {
			return unix.CopyFileRange(src, nil, f.fd, nil, int(min(remain, maxCopyFileRange)), 0)
		})
		if m > 0 {
			remain -= int64(m)
			written += int64(m)
		}
		switch e {
		case nil:
			if m == 0 {
				// Before Linux 5.19, copying from some special files
				// (procfs, sysfs) reports success and 0 bytes: with
				// nothing copied yet that is a refusal, not the end.
				return written, written > 0, nil
			}
		case syscall.ENOSYS, syscall.EXDEV, syscall.EINVAL, syscall.EIO, syscall.EOPNOTSUPP, syscall.EPERM:
			// Nothing was copied by this call: across file systems
			// (EXDEV before 5.3), pipes and other special files
			// (EINVAL), CIFS (EIO), NFS (EOPNOTSUPP), a container's
			// seccomp profile (EPERM). The generic copy goes on from
			// where this stopped.
			return written, false, nil
		default:
			return written, true, os.NewSyscallError("copy_file_range", e)
		}
	}
	return written, true, nil
}

// lockOffsets locks f's offset and, if src is not nil, src's, in a fixed
// order (by address) so that two copies in opposite directions between
// the same files cannot deadlock.
func lockOffsets(f, src *File) {
	if src == nil {
		f.writeLock().Lock()
		return
	}
	a, b := f.writeLock(), &src.pos
	if uintptr(unsafe.Pointer(a)) > uintptr(unsafe.Pointer(b)) {
		a, b = b, a
	}
	a.Lock()
	b.Lock()
}

// unlockOffsets undoes lockOffsets.
func unlockOffsets(f, src *File) {
	f.writeLock().Unlock()
	if src != nil {
		src.pos.Unlock()
	}
}
