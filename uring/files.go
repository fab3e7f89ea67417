package uring

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/uring-go/uring/internal/ring"
	"golang.org/x/sys/unix"
)

// Registered files
//
// A registered file table lets operations name a file by its index in the
// table instead of its fd (queue the operation with the index as fd, then
// SetSQEFlags(job, FixedFile)). The kernel then skips looking the fd up and
// taking a reference on it for every operation, which matters for small,
// frequent operations on the same sockets. The table holds its own
// references: closing a registered fd does not close the file for the
// ring until its entry is replaced or the table unregistered.

// maxFixedFiles is the kernel's IORING_MAX_FIXED_FILES.
const maxFixedFiles = 1 << 20

// checkFileTableSize refuses a table the kernel would refuse, with advice
// rather than a bare EMFILE: the kernel caps it at RLIMIT_NOFILE.
func checkFileTableSize(n int) error {
	if n <= 0 {
		return fmt.Errorf("uring: registering a file table of %d entries: need at least 1", n)
	}
	if n > maxFixedFiles {
		return fmt.Errorf("uring: registering a file table of %d entries: the kernel allows at most %d: %w", n, maxFixedFiles, syscall.EMFILE)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && uint64(n) > lim.Cur {
		return fileLimitError(n, lim.Cur, syscall.EMFILE)
	}
	return nil
}

func fileLimitError(n int, limit uint64, err error) error {
	return fmt.Errorf("uring: registering a file table of %d entries: more than RLIMIT_NOFILE (%d); raise RLIMIT_NOFILE (ulimit -n, LimitNOFILE=) or register fewer: %w", n, limit, err)
}

// registerFilesError wraps the kernel's errors in ones that say what to do.
func registerFilesError(n int, err error) error {
	switch err {
	case syscall.EBUSY:
		return fmt.Errorf("uring: registering a file table: one is already registered; UnregisterFiles first, or UpdateFiles: %w", err)
	case syscall.EMFILE:
		var lim unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
		return fileLimitError(n, lim.Cur, err)
	case syscall.ENOMEM:
		return memlockError("registering a file table", n*4, err)
	}
	return fmt.Errorf("uring: registering a file table of %d entries: %w", n, err)
}

func toInt32s(fds []int) []int32 {
	out := make([]int32, len(fds))
	for i, fd := range fds {
		out[i] = int32(fd)
	}
	return out
}

// RegisterFiles registers fds as the ring's file table: fds[i] becomes
// index i. An entry of -1 leaves that index empty, to be filled with
// UpdateFiles. The table may not exceed RLIMIT_NOFILE entries. To use an
// entry, queue an operation with its index as the fd, then
// SetSQEFlags(job, FixedFile).
func (r *Ring[T]) RegisterFiles(fds []int) error {
	if r.closed {
		return ErrClosed
	}
	if err := checkFileTableSize(len(fds)); err != nil {
		return err
	}
	table := toInt32s(fds)
	rr := ring.RsrcRegister{Nr: uint32(len(table)), Data: uint64(uintptr(unsafe.Pointer(&table[0])))}
	_, err := ring.Register(r.r.Fd, ring.IORING_REGISTER_FILES2, unsafe.Pointer(&rr), uint32(unsafe.Sizeof(rr)))
	// The kernel copies the table during the call and keeps nothing.
	runtime.KeepAlive(table)
	if err != nil {
		return registerFilesError(len(fds), err)
	}
	return nil
}

// RegisterFilesSparse registers an empty file table of n entries, to be
// filled with UpdateFiles. The table may not exceed RLIMIT_NOFILE entries.
func (r *Ring[T]) RegisterFilesSparse(n int) error {
	if r.closed {
		return ErrClosed
	}
	if err := checkFileTableSize(n); err != nil {
		return err
	}
	rr := ring.RsrcRegister{Nr: uint32(n), Flags: ring.IORING_RSRC_REGISTER_SPARSE}
	if _, err := ring.Register(r.r.Fd, ring.IORING_REGISTER_FILES2, unsafe.Pointer(&rr), uint32(unsafe.Sizeof(rr))); err != nil {
		return registerFilesError(n, err)
	}
	return nil
}

// UpdateFiles replaces the entries of the file table from offset on with
// fds: -1 empties an entry. Operations already queued keep the file they
// were given. It fails, naming the first entry it could not set, if any
// update fails; the entries before that one have been replaced.
func (r *Ring[T]) UpdateFiles(offset int, fds []int) error {
	if r.closed {
		return ErrClosed
	}
	if len(fds) == 0 {
		return nil
	}
	if offset < 0 || offset > maxFixedFiles || len(fds) > maxFixedFiles-offset {
		return fmt.Errorf("uring: updating files [%d, %d): outside any file table", offset, offset+len(fds))
	}
	table := toInt32s(fds)
	for done := 0; done < len(table); {
		up := ring.RsrcUpdate2{
			Offset: uint32(offset + done),
			Data:   uint64(uintptr(unsafe.Pointer(&table[done]))),
			Nr:     uint32(len(table) - done),
		}
		// The kernel stops at the first entry it cannot set and
		// returns how many it did set, dropping the error; asking
		// again from there reports it.
		n, err := ring.Register(r.r.Fd, ring.IORING_REGISTER_FILES_UPDATE2, unsafe.Pointer(&up), uint32(unsafe.Sizeof(up)))
		runtime.KeepAlive(table)
		if err != nil {
			i := offset + done
			switch err {
			case syscall.ENXIO:
				return fmt.Errorf("uring: updating files: no file table is registered; call RegisterFiles or RegisterFilesSparse first: %w", err)
			case syscall.EINVAL:
				return fmt.Errorf("uring: updating file table entry %d: outside the table, or not a valid file: %w", i, err)
			}
			return fmt.Errorf("uring: updating file table entry %d to fd %d: %w", i, fds[done], err)
		}
		if n <= 0 {
			return fmt.Errorf("uring: updating file table entry %d to fd %d: the kernel set nothing", offset+done, fds[done])
		}
		done += n
	}
	return nil
}

// UnregisterFiles removes the file table. The kernel waits for operations
// using it before releasing its references.
func (r *Ring[T]) UnregisterFiles() error {
	if r.closed {
		return ErrClosed
	}
	if _, err := ring.Register(r.r.Fd, ring.IORING_UNREGISTER_FILES, nil, 0); err != nil {
		if err == syscall.ENXIO {
			return fmt.Errorf("uring: unregistering files: no file table is registered: %w", err)
		}
		return fmt.Errorf("uring: unregistering files: %w", err)
	}
	return nil
}
