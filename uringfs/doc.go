// Package uringfs gives Go programs files whose I/O runs on io_uring,
// behind the API of package os, and a confined fs.FS.
//
// # Files
//
// Open, Create and OpenFile open files with os's flags and permission
// semantics (the open itself is an io_uring openat2; the fd is always
// close-on-exec). A *File has os.File's methods and behaviour: Read,
// Write, ReadAt, WriteAt, Seek, Stat (statx), Sync (fsync), Truncate
// (ftruncate), ReadDir, Readdirnames, Close, Fd, Name, ReadFrom and
// WriteTo, Chmod, Chown, Chdir and SyscallConn. Errors are *fs.PathError
// around the errno, so errors.Is(err, fs.ErrNotExist) works as with os;
// use after Close gives fs.ErrClosed. NewFile and FromOS wrap
// descriptors opened elsewhere; ReadFile and WriteFile are os's, on
// io_uring.
//
// SetDeadline, SetReadDeadline and SetWriteDeadline work as os's for
// pipes, FIFOs, sockets and character devices, blocking or not: a Read
// or Write past its deadline, or waiting when the deadline passes or is
// moved into the past, fails with os.ErrDeadlineExceeded, and the file
// stays usable. The wait is an io_uring operation, which the deadline
// cancels in the kernel.
//
// # Path functions
//
// Stat, Lstat, Mkdir, MkdirAll, Remove, RemoveAll, Rename, Link,
// Symlink, Readlink, ReadDir, Chmod, Chown, Lchown, Chtimes, Truncate,
// CreateTemp and MkdirTemp are os's, with its signatures, behaviour and
// errors (*fs.PathError, *os.LinkError, the same operation names and
// errnos). Creating, removing, renaming and linking run on io_uring
// (mkdirat, unlinkat, renameat, linkat, symlinkat), as do the opens that
// ReadDir, RemoveAll and CreateTemp make. The rest are system calls:
// io_uring has no readlink, chmod, chown or utimes; its statx always runs
// on a worker thread, which costs far more than the call; its ftruncate
// needs an open descriptor. One difference: RemoveAll refuses a name
// whose last element is "..", as rm(1) does, where os empties the
// directory it names.
//
// Operations run on the process-wide executor shared with uringnet: the
// calling goroutine submits and, for a page-cache hit, collects its own
// completion in the same system call; only operations that really wait
// park the goroutine, never an OS thread. So 64 goroutines reading one
// file cost 64 goroutines, not 64 blocked threads. Reads and writes go to
// the ring of the processor the goroutine runs on, and goroutines on one
// processor batch theirs into one io_uring_enter (see internal/reactor),
// so the copies of page-cache hits run on every CPU.
//
// A read first tries preadv2(2) with RWF_NOWAIT, which is the attempt
// io_uring itself makes inline before anything waits, without the ring's
// bookkeeping: data the kernel already holds (the page cache, a pipe's
// buffer) is copied at once, at the cost of os's pread, and only a read
// that would block goes to the ring. O_DIRECT files, whose RWF_NOWAIT
// reads still wait for the device, and files that do not support it
// always use the ring; after attempts that found nothing ready, reads
// skip the attempt for exponentially longer, so reads of uncached data do
// not pay a wasted system call each. Writes do the same with pwritev2(2);
// where the file system cannot take a buffered write without blocking
// (ext4 and tmpfs answer RWF_NOWAIT with EOPNOTSUPP), io_uring would run
// every write to a regular file on an io-wq worker thread, blocked as a
// write(2) is, plus two hand-offs, so such writes are made with a plain
// pwritev2(2), as os makes them.
//
// # Without io_uring
//
// Where io_uring cannot be used at all (a kernel without it, a seccomp
// profile or the kernel.io_uring_disabled sysctl that forbids it, an
// RLIMIT_MEMLOCK too low for a ring), every function fails with a
// *fs.PathError wrapping the *uring.SetupError, which says what to change.
// A program that must run there anyway opts in with
// Config{FallbackToOS: true}, whose methods mirror the package functions:
// its files then do their I/O through package os, with the same methods,
// errors and concurrency guarantees, and DirFS and Root stay confined by
// openat2(2). The opt-in is never taken while io_uring works.
//
// Directory listing is getdents64(2), not io_uring: mainline kernels have
// no io_uring getdents. Seek is lseek(2), which io_uring lacks too.
//
// # Concurrency and lifetimes
//
// A File is safe for concurrent use where *os.File is: ReadAt, WriteAt,
// Stat, Sync, Truncate and the batch calls from any number of goroutines;
// Read, Write, Seek, ReadDir and WriteTo serialised on the file offset.
// Every call holds a reference on the fd; Close marks the file closed,
// cancels the operations in flight on it, and calls close(2) only after
// the last of them has finished, so the number is never reused while an
// operation names it.
//
// # Depth from one goroutine
//
// ReadBatch and WriteBatch run many positioned transfers from one
// goroutine at a chosen queue depth on a private ring, one system call
// per batch of submissions. BufferPool adds registered memory
// (read_fixed/write_fixed) from page-aligned off-heap chunks, which also
// suit O_DIRECT. WriteTo splices a regular file into an *os.File that
// takes splices (pipes, /dev/null, sockets) with no copy through user
// memory, and pipelines reads of it otherwise: examples/cat is built on
// it.
//
// # Root and DirFS
//
// Root is os.Root on io_uring, with its whole method set: a directory
// kept open, in whose tree names to open are resolved by the kernel with
// openat2 and RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS, so "..", absolute
// paths, symlinks leading outside and /proc magic links are refused
// during the lookup itself; names to create, remove, rename, link or
// change are walked as os.Root walks them, each element opened the same
// confined way, and acted on with io_uring's mkdirat, unlinkat,
// renameat, linkat and symlinkat (chmod, chown and utimes are system
// calls: io_uring has none). DirFS is os.DirFS confined the same way (by the same
// code), resolving its directory by name on each call as os.DirFS does.
package uringfs
