// Package uring is a thin, typed Go API over Linux io_uring: the Go
// counterpart of OCaml's uring package.
//
// A Ring[T] pairs a submission queue with a completion queue. Each
// operation method (Read, Write, Openat2, Accept, ...) fills one submission
// queue entry and returns a Job; the data value of type T given with the
// operation comes back in the Completion when the kernel is done with it.
// Nothing reaches the kernel until Submit (or Wait, which submits first).
//
//	r, err := uring.New[string](64)
//	...
//	r.Read(fd, buf, 0, "header")
//	r.Submit()
//	c, err := r.Wait()       // c.Data == "header", c.Result == bytes read
//
// # Memory
//
// Buffers, iovecs, paths, socket addresses, message headers and statx
// targets handed to an operation are kept reachable by the ring, and pinned
// where the kernel reads a pointer to Go memory from other memory, until the
// operation's last completion has been collected by Wait or Peek. The caller
// must not reuse or modify a buffer before then; a ring may be closed only
// when no operation is active, so Go memory is never released while the
// kernel may still write to it. For the same reason a ring that is never
// closed is never freed: always Close a ring once its operations are
// collected.
//
// # Concurrency
//
// A Ring is not safe for concurrent use, like liburing's struct io_uring:
// one goroutine owns it, or its users serialise access with a lock. The
// packages uringfs and uringnet build a concurrency-safe executor on top.
//
// A ring set up with SetupSingleIssuer (and so any with
// SetupDeferTaskrun) needs more: the kernel binds it to one OS thread, the
// one that called New (with SetupRDisabled, the one that called Enable),
// and refuses io_uring_enter from any other with EEXIST. A goroutine may
// run on a different thread after any blocking point, so one goroutine or
// a lock is not enough: the goroutine that owns such a ring must call
// runtime.LockOSThread before New and keep the lock until after Close.
// Otherwise Submit and Wait fail with EEXIST on another thread, the
// operations they would complete stay active, and Close refuses.
//
// # Errors
//
// A full submission queue is ErrQueueFull (submit, then try again); any use
// after Close is ErrClosed; an operation the running kernel lacks fails
// before it is queued with an error matching errors.ErrUnsupported that
// names the operation. An operation's own result is in Completion.Result;
// Completion.Err turns a negative result into a syscall.Errno.
package uring
