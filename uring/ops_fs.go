package uring

import (
	"fmt"
	"math"
	"strings"
	"syscall"
	"unsafe"

	"github.com/uring-go/uring/internal/ring"
	"golang.org/x/sys/unix"
)

// AtFdcwd, as the dirfd of a path operation, resolves a relative path
// against the current working directory.
const AtFdcwd = unix.AT_FDCWD

// cpath converts path to the NUL-terminated bytes the kernel reads. A path
// with a NUL byte inside is refused, as os refuses it, rather than silently
// truncated to the part before the NUL: it must be checked before prep so
// that the refusal takes no slot and queues nothing.
func cpath(op Op, path string) ([]byte, error) {
	if strings.IndexByte(path, 0) >= 0 {
		return nil, &InvalidPathError{Op: op, Path: path}
	}
	b := make([]byte, len(path)+1)
	copy(b, path)
	return b, nil
}

// InvalidPathError reports a path an operation cannot pass to the kernel
// because it contains a NUL byte. It matches syscall.EINVAL, the error os
// gives for such a path.
type InvalidPathError struct {
	Op   Op     // the operation that was not queued
	Path string // the path, NUL and all
}

// Error names the operation and quotes the path.
func (e *InvalidPathError) Error() string {
	return fmt.Sprintf("uring: %s: path %q contains a NUL byte, which cannot be passed to the kernel", e.Op, e.Path)
}

// Unwrap returns syscall.EINVAL.
func (e *InvalidPathError) Unwrap() error { return syscall.EINVAL }

// twoPaths keeps both paths of a two-path operation alive in one slot.
type twoPaths struct {
	old, new []byte
}

// ResolveFlags control how Openat2 resolves a path (RESOLVE_*; see
// openat2(2)).
type ResolveFlags uint64

// Path resolution flags for OpenHow.Resolve.
const (
	// ResolveNoXdev: fail with EXDEV if resolution crosses a mount point.
	ResolveNoXdev = ResolveFlags(unix.RESOLVE_NO_XDEV)
	// ResolveNoMagiclinks: refuse /proc "magic" links such as
	// /proc/self/fd/N, whose target is not a path.
	ResolveNoMagiclinks = ResolveFlags(unix.RESOLVE_NO_MAGICLINKS)
	// ResolveNoSymlinks: fail with ELOOP on any symlink in the path.
	ResolveNoSymlinks = ResolveFlags(unix.RESOLVE_NO_SYMLINKS)
	// ResolveBeneath: fail with EXDEV if resolution would leave the
	// directory dirfd names (by "..", an absolute path or a symlink).
	ResolveBeneath = ResolveFlags(unix.RESOLVE_BENEATH)
	// ResolveInRoot: resolve as if dirfd were the root directory, so that
	// ".." and absolute symlinks stay inside it.
	ResolveInRoot = ResolveFlags(unix.RESOLVE_IN_ROOT)
	// ResolveCached: fail with EAGAIN unless the lookup can be served from
	// the dentry cache, so that an open never blocks on the disk (Linux
	// 5.12). golang.org/x/sys/unix does not define it yet.
	ResolveCached ResolveFlags = 0x20
)

// OpenHow says how Openat2 opens a file: the Go form of struct open_how.
type OpenHow struct {
	// Flags are the open(2) flags (unix.O_RDONLY, unix.O_CREAT, ...).
	// Include unix.O_CLOEXEC: nothing adds it for you, and without it the
	// fd leaks into every child process a concurrent goroutine starts.
	Flags int
	// Mode is the permission of a file created with O_CREAT or
	// O_TMPFILE, before the umask. It must be 0 otherwise: openat2,
	// unlike open, rejects a mode it would ignore with EINVAL.
	Mode uint32
	// Resolve restricts how the path is resolved.
	Resolve ResolveFlags
}

// openat2Args keeps an Openat2's path and open_how alive until its
// completion: the kernel copies both when the operation starts, which may
// be after Submit returns.
type openat2Args struct {
	how  unix.OpenHow
	path []byte
}

// Openat2 queues an openat2(2) of path, resolved relative to dirfd (AtFdcwd
// for the working directory). The completion's result is the new file
// descriptor, which the caller owns and must close.
func (r *Ring[T]) Openat2(dirfd int, path string, how OpenHow, data T) (Job, error) {
	p, err := cpath(OpOpenat2, path)
	if err != nil {
		return Job{}, err
	}
	sqe, s, j, err := r.prepMem(OpOpenat2, data)
	if err != nil {
		return j, err
	}
	a := &openat2Args{
		how: unix.OpenHow{
			// Through uint32 so that a flag set from a negative int
			// cannot smear into the upper bits, which the kernel
			// reserves.
			Flags:   uint64(uint32(how.Flags)),
			Mode:    uint64(how.Mode),
			Resolve: uint64(how.Resolve),
		},
		path: p,
	}
	s.keep = a
	sqe.Fd = int32(dirfd)
	sqe.Addr = bufAddr(a.path)
	sqe.Len = uint32(unsafe.Sizeof(a.how))
	sqe.Off = ptr(&a.how)
	return j, nil
}

// LinkatFlags change how Linkat treats its old path (AT_*).
type LinkatFlags uint32

// Flags for Linkat.
const (
	// LinkatSymlinkFollow: if the old path is a symlink, link to its
	// target rather than to the symlink itself.
	LinkatSymlinkFollow = LinkatFlags(unix.AT_SYMLINK_FOLLOW)
	// LinkatEmptyPath: with an empty old path, link the file oldDirfd
	// itself refers to (needs CAP_DAC_READ_SEARCH).
	LinkatEmptyPath = LinkatFlags(unix.AT_EMPTY_PATH)
)

// Linkat queues a linkat(2): a new hard link newPath (relative to
// newDirfd) to the file oldPath (relative to oldDirfd). An existing
// newPath is not replaced; the result is then -EEXIST. The result is 0 on
// success. Linux 5.15.
func (r *Ring[T]) Linkat(oldDirfd int, oldPath string, newDirfd int, newPath string, flags LinkatFlags, data T) (Job, error) {
	return r.twoPathOp(OpLinkat, oldDirfd, oldPath, newDirfd, newPath, uint32(flags), data)
}

// RenameFlags are the flags of renameat2(2) (RENAME_*).
type RenameFlags uint32

// Flags for Renameat.
const (
	// RenameNoReplace: fail with EEXIST rather than replace the new path.
	RenameNoReplace = RenameFlags(unix.RENAME_NOREPLACE)
	// RenameExchange: swap the two paths atomically; both must exist.
	RenameExchange = RenameFlags(unix.RENAME_EXCHANGE)
	// RenameWhiteout: leave a whiteout at the old path, for overlay
	// file systems (needs CAP_MKNOD).
	RenameWhiteout = RenameFlags(unix.RENAME_WHITEOUT)
)

// Renameat queues a renameat2(2) of oldPath (relative to oldDirfd) to
// newPath (relative to newDirfd). The result is 0 on success.
func (r *Ring[T]) Renameat(oldDirfd int, oldPath string, newDirfd int, newPath string, flags RenameFlags, data T) (Job, error) {
	return r.twoPathOp(OpRenameat, oldDirfd, oldPath, newDirfd, newPath, uint32(flags), data)
}

// twoPathOp fills the SQE layout linkat and renameat share: the new dirfd
// travels in len and the new path in addr2 (liburing's
// io_uring_prep_linkat and io_uring_prep_renameat).
func (r *Ring[T]) twoPathOp(op Op, oldDirfd int, oldPath string, newDirfd int, newPath string, flags uint32, data T) (Job, error) {
	oldp, err := cpath(op, oldPath)
	if err != nil {
		return Job{}, err
	}
	newp, err := cpath(op, newPath)
	if err != nil {
		return Job{}, err
	}
	sqe, s, j, err := r.prepMem(op, data)
	if err != nil {
		return j, err
	}
	s.keep = &twoPaths{old: oldp, new: newp}
	sqe.Fd = int32(oldDirfd)
	sqe.Addr = bufAddr(oldp)
	sqe.Len = uint32(int32(newDirfd))
	sqe.Off = bufAddr(newp)
	sqe.OpFlags = flags
	return j, nil
}

// Unlinkat queues an unlinkat(2) of path, relative to dirfd. With dir set
// it removes an empty directory, as rmdir does; otherwise it removes
// anything but a directory. A symlink is removed, not its target. The
// result is 0 on success.
func (r *Ring[T]) Unlinkat(dirfd int, path string, dir bool, data T) (Job, error) {
	p, err := cpath(OpUnlinkat, path)
	if err != nil {
		return Job{}, err
	}
	sqe, s, j, err := r.prepMem(OpUnlinkat, data)
	if err != nil {
		return j, err
	}
	s.buf = p
	sqe.Fd = int32(dirfd)
	sqe.Addr = bufAddr(p)
	if dir {
		sqe.OpFlags = unix.AT_REMOVEDIR
	}
	return j, nil
}

// Mkdirat queues a mkdirat(2) of path, relative to dirfd, with permission
// mode before the umask. The result is 0 on success. Linux 5.15.
func (r *Ring[T]) Mkdirat(dirfd int, path string, mode uint32, data T) (Job, error) {
	p, err := cpath(OpMkdirat, path)
	if err != nil {
		return Job{}, err
	}
	sqe, s, j, err := r.prepMem(OpMkdirat, data)
	if err != nil {
		return j, err
	}
	s.buf = p
	sqe.Fd = int32(dirfd)
	sqe.Addr = bufAddr(p)
	sqe.Len = mode
	return j, nil
}

// Symlinkat queues a symlinkat(2): a symlink at linkPath (relative to
// newDirfd) whose contents are target. target is stored as given, never
// resolved. The result is 0 on success. Linux 5.15.
func (r *Ring[T]) Symlinkat(target string, newDirfd int, linkPath string, data T) (Job, error) {
	t, err := cpath(OpSymlinkat, target)
	if err != nil {
		return Job{}, err
	}
	l, err := cpath(OpSymlinkat, linkPath)
	if err != nil {
		return Job{}, err
	}
	sqe, s, j, err := r.prepMem(OpSymlinkat, data)
	if err != nil {
		return j, err
	}
	s.keep = &twoPaths{old: t, new: l}
	sqe.Fd = int32(newDirfd)
	sqe.Addr = bufAddr(t)
	sqe.Off = bufAddr(l)
	return j, nil
}

// Flags for Statx (AT_*).
const (
	// AtEmptyPath: with an empty path, operate on dirfd itself, which may
	// be an O_PATH fd.
	AtEmptyPath = unix.AT_EMPTY_PATH
	// AtSymlinkNofollow: describe a final symlink, not its target.
	AtSymlinkNofollow = unix.AT_SYMLINK_NOFOLLOW
	// AtNoAutomount: do not trigger an automount at the final component.
	AtNoAutomount = unix.AT_NO_AUTOMOUNT
	// AtStatxForceSync: on a network file system, fetch fresh attributes
	// from the server.
	AtStatxForceSync = unix.AT_STATX_FORCE_SYNC
	// AtStatxDontSync: on a network file system, accept cached attributes.
	AtStatxDontSync = unix.AT_STATX_DONT_SYNC
	// AtStatxSyncAsStat: do what stat(2) does on that file system (the
	// default; the value is 0, named for code that says so).
	AtStatxSyncAsStat = 0
)

// Statx mask bits: which fields Statx is asked to fill. The kernel reports
// in Statx_t.Mask which it did fill, which may be more or fewer.
const (
	StatxType       = unix.STATX_TYPE
	StatxMode       = unix.STATX_MODE
	StatxNlink      = unix.STATX_NLINK
	StatxUID        = unix.STATX_UID
	StatxGID        = unix.STATX_GID
	StatxAtime      = unix.STATX_ATIME
	StatxMtime      = unix.STATX_MTIME
	StatxCtime      = unix.STATX_CTIME
	StatxIno        = unix.STATX_INO
	StatxSize       = unix.STATX_SIZE
	StatxBlocks     = unix.STATX_BLOCKS
	StatxBasicStats = unix.STATX_BASIC_STATS // all of the above
	StatxBtime      = unix.STATX_BTIME
	// StatxMntID: the mount ID (Statx_t.Mnt_id). Linux 5.8.
	StatxMntID = unix.STATX_MNT_ID
	// StatxDioalign: the alignment O_DIRECT I/O needs
	// (Statx_t.Dio_mem_align, Dio_offset_align); 0 there means the file
	// does not support direct I/O. Linux 6.1.
	StatxDioalign = unix.STATX_DIOALIGN
	// StatxMntIDUnique: Mnt_id is the mount's 64-bit unique ID rather
	// than the reusable one. Linux 6.8.
	StatxMntIDUnique = unix.STATX_MNT_ID_UNIQUE
	// StatxSubvol: the subvolume ID (btrfs, bcachefs). Linux 6.10.
	StatxSubvol = unix.STATX_SUBVOL
	// StatxWriteAtomic: the limits of RWFAtomic writes
	// (Atomic_write_unit_min/max, Atomic_write_segments_max). Linux 6.11.
	StatxWriteAtomic = unix.STATX_WRITE_ATOMIC
)

// statxArgs keeps a Statx's path and target alive: the kernel writes st
// when the operation finishes, long after the call returned.
type statxArgs struct {
	path []byte
	st   *unix.Statx_t
}

// Statx queues a statx(2) of path, relative to dirfd, filling *st with the
// fields mask asks for; flags are AtEmptyPath and the like. The result is
// 0 on success. The caller must not read *st before the completion.
func (r *Ring[T]) Statx(dirfd int, path string, flags int, mask uint32, st *unix.Statx_t, data T) (Job, error) {
	if st == nil {
		return Job{}, errNilStatx
	}
	p, err := cpath(OpStatx, path)
	if err != nil {
		return Job{}, err
	}
	sqe, s, j, err := r.prepMem(OpStatx, data)
	if err != nil {
		return j, err
	}
	s.keep = &statxArgs{path: p, st: st}
	sqe.Fd = int32(dirfd)
	sqe.Addr = bufAddr(p)
	sqe.Len = mask
	sqe.Off = ptr(st)
	sqe.OpFlags = uint32(flags)
	return j, nil
}

var errNilStatx = errorString("uring: Statx needs a non-nil *unix.Statx_t to fill")

// Fsync queues an fsync(2) of fd: the file's data and metadata reach
// stable storage before the completion. The result is 0 on success.
func (r *Ring[T]) Fsync(fd int, data T) (Job, error) {
	return r.fsync(fd, 0, 0, 0, data)
}

// Fdatasync queues an fdatasync(2) of fd: like Fsync, but metadata that
// is not needed to read the data back (timestamps) may stay unwritten.
func (r *Ring[T]) Fdatasync(fd int, data T) (Job, error) {
	return r.fsync(fd, 0, 0, ring.IORING_FSYNC_DATASYNC, data)
}

// FsyncRange is Fsync limited to the n bytes at off, for files written in
// parts. n is at most 1<<32-1, the width of the kernel's field; n of 0
// means to the end of the file.
func (r *Ring[T]) FsyncRange(fd int, off int64, n int, data T) (Job, error) {
	return r.fsync(fd, off, n, 0, data)
}

// FdatasyncRange is Fdatasync limited to the n bytes at off, as
// FsyncRange.
func (r *Ring[T]) FdatasyncRange(fd int, off int64, n int, data T) (Job, error) {
	return r.fsync(fd, off, n, ring.IORING_FSYNC_DATASYNC, data)
}

func (r *Ring[T]) fsync(fd int, off int64, n int, flags uint32, data T) (Job, error) {
	if n < 0 || uint64(n) > math.MaxUint32 || off < 0 {
		return Job{}, fmt.Errorf("uring: fsync range of %d bytes at %d: want an offset >= 0 and 0 <= length < 1<<32", n, off)
	}
	sqe, j, err := r.prep(OpFsync, data)
	if err != nil {
		return j, err
	}
	sqe.Fd = int32(fd)
	sqe.Off = uint64(off)
	sqe.Len = uint32(n)
	sqe.OpFlags = flags
	return j, nil
}

// Modes for Fallocate (FALLOC_FL_*); 0 allocates and extends the file.
const (
	// FallocKeepSize: allocate blocks without changing the file size.
	FallocKeepSize = unix.FALLOC_FL_KEEP_SIZE
	// FallocPunchHole: deallocate the range; must be combined with
	// FallocKeepSize.
	FallocPunchHole = unix.FALLOC_FL_PUNCH_HOLE
	// FallocZeroRange: make the range read as zeros.
	FallocZeroRange = unix.FALLOC_FL_ZERO_RANGE
	// FallocCollapseRange: remove the range, shifting later data down.
	FallocCollapseRange = unix.FALLOC_FL_COLLAPSE_RANGE
	// FallocInsertRange: insert a hole, shifting later data up.
	FallocInsertRange = unix.FALLOC_FL_INSERT_RANGE
	// FallocUnshareRange: unshare blocks shared with other files
	// (reflinks) so that later writes do not fail for lack of space.
	FallocUnshareRange = unix.FALLOC_FL_UNSHARE_RANGE
	// FallocWriteZeroes: make the range read as zeros by writing zeros
	// on the device (with its write-zeroes command where it has a fast
	// one), so that the blocks are allocated and written: later writes
	// into them need no allocation or unwritten-extent conversion. Not
	// with FallocKeepSize. Linux 6.17: on older kernels Fallocate fails
	// before queueing with an *UnsupportedFeatureError; a file system
	// without support fails the operation with EOPNOTSUPP.
	FallocWriteZeroes = unix.FALLOC_FL_WRITE_ZEROES
)

// Fallocate queues a fallocate(2) of length bytes at off in fd. The result
// is 0 on success.
func (r *Ring[T]) Fallocate(fd int, mode uint32, off, length int64, data T) (Job, error) {
	if mode&FallocWriteZeroes != 0 && !haveWriteZeroes() {
		return Job{}, errWriteZeroes
	}
	sqe, j, err := r.prep(OpFallocate, data)
	if err != nil {
		return j, err
	}
	// The kernel takes the length from addr and the mode from len
	// (io_uring_prep_fallocate).
	sqe.Fd = int32(fd)
	sqe.Off = uint64(off)
	sqe.Addr = uint64(length)
	sqe.Len = mode
	return j, nil
}

// Ftruncate queues an ftruncate(2) of fd to length bytes. The result is 0
// on success. Linux 6.9; on older kernels it fails with an error matching
// errors.ErrUnsupported.
func (r *Ring[T]) Ftruncate(fd int, length int64, data T) (Job, error) {
	sqe, j, err := r.prep(OpFtruncate, data)
	if err != nil {
		return j, err
	}
	sqe.Fd = int32(fd)
	sqe.Off = uint64(length)
	return j, nil
}

// Splice queues a splice(2) of up to n bytes from src at srcOff to dst at
// dstOff, moved inside the kernel without a copy through user memory. One
// of src and dst must be a pipe, and a pipe's offset must be
// CurrentPosition (-1); for a file, CurrentPosition uses and advances its
// position. flags are unix.SPLICE_F_*. The result is the number of bytes
// moved, 0 at end of input.
func (r *Ring[T]) Splice(src int, srcOff int64, dst int, dstOff int64, n int, flags uint32, data T) (Job, error) {
	if n < 0 || uint64(n) > math.MaxUint32 {
		return Job{}, fmt.Errorf("uring: splice of %d bytes: want 0 <= n < 1<<32", n)
	}
	sqe, j, err := r.prep(OpSplice, data)
	if err != nil {
		return j, err
	}
	// The output side takes the ordinary fields and the input side the
	// splice_* ones (io_uring_prep_splice).
	sqe.Fd = int32(dst)
	sqe.Off = uint64(dstOff)
	sqe.SpliceFdIn = int32(src)
	sqe.Addr = uint64(srcOff)
	sqe.Len = uint32(n)
	sqe.OpFlags = flags
	return j, nil
}

// SpliceStream is the OCaml seed's splice: it moves up to n bytes from src
// to dst at their current positions. One of them must be a pipe. The
// result is the number of bytes moved, 0 at end of input.
func (r *Ring[T]) SpliceStream(src, dst, n int, data T) (Job, error) {
	return r.Splice(src, CurrentPosition, dst, CurrentPosition, n, 0, data)
}
