// Package reactor is the concurrency-safe io_uring executor that uringfs
// and uringnet share: any goroutine runs an operation through it and is
// parked, never an OS thread, until the completion arrives.
//
// # Layers
//
// Each layer calls only the one below it; nothing above uring imports
// internal/ring.
//
//	internal/ring      kernel ABI: structs, opcodes, system calls; no policy
//	uring              Ring[T]: one owner, a method per operation, probe;
//	                   EnterFlushed and SetEventfdEnabled are safe beside it
//	internal/reactor   the Executor, shared by any goroutine: shards of
//	                   rings, combined enters, parking, cancellation, link
//	                   timeouts, and the kernel's unasked cancellations (Run)
//	internal/fdlife    per-fd state uringfs and uringnet share: the
//	                   reference count that closes an fd after its last
//	                   operation (Refs), deadlines and the close wake
//	                   operations wait on (Waiter)
//	internal/splice    the one splice loop (pipe, short transfers,
//	                   refusal hand-off) both adapters' copies run through
//	internal/sock,     socket addresses as net reports them, and the one
//	internal/kernel    feature test (probe once, keep conclusive answers),
//	                   for uringnet and the engine
//	uringfs, uringnet  os- and net-shaped types over them, with the
//	                   standard library's errors; uringfs batches run on
//	                   private rings, under the same bound
//	uringnet/engine    gnet's event engine: its own rings, one per loop,
//	                   beside the executor, over uring, sock and kernel
//	executor           the public face: counters, reaper names
//
// # How an operation runs
//
// The executor owns a few rings (shards, chosen by a key such as the fd).
// A goroutine that runs an operation locks its shard, fills a submission
// queue entry, publishes it, and then enters the kernel itself: io_uring
// first tries the operation inline, so a socket with data ready or a file
// in the page cache completes during that enter, and the goroutine finds
// its own completion and returns without parking, at the cost of one
// system call, like a plain read(2).
//
// Only operations that really wait park. A reaper goroutine per shard
// sleeps in the runtime netpoller on an eventfd registered with the ring;
// when the kernel posts a completion it wakes, drains the completion queue
// and readies the goroutines whose operations finished. While a goroutine
// is inside its own io_uring_enter the eventfd is muted, since that
// goroutine drains whatever completes inline itself.
//
// Entering the kernel is combined: while one goroutine is inside
// io_uring_enter for a shard, others publish their entries and wait for it
// (on a mutex, which spins briefly before parking); before it leaves it
// enters again for whatever was published meanwhile and collects what
// completed, theirs included. A waiting goroutine whose operation was
// submitted and completed that way finds it done and does not park; a lone
// operation is never delayed. Blocking on the mutex beats leaving the
// entry and parking at once, because a goroutine that parks costs more
// than the system call it would wait for (docs/benchmarks.md has the
// figures).
//
// # Operations that complete inline: one ring per processor, batched
//
// A read or write of a file in the page cache, and a socket recv or send
// with MSG_DONTWAIT, does its work (the copy) or fails with EAGAIN
// inside the io_uring_enter that submits it, and the kernel submits a
// ring's entries under that ring's lock: operations keyed to one ring by
// their fd would use one CPU however many goroutines read the file.
// StartLocal therefore queues on the ring of the processor (the runtime's
// P) the goroutine runs on, so each CPU enters its own ring.
//
// Entering per operation costs more than pread(2): a read of a hot file
// does as much kernel work inside io_uring as pread does in all, and
// io_uring_enter and the executor's bookkeeping come on top (figures in
// docs/benchmarks.md). Only submitting many operations per enter pays
// that back, and goroutines on one processor never overlap: one that
// queued its entry must let the
// others run before anyone enters. So a StartLocal operation yields
// after queueing, to the back of its processor's own run queue
// (runtime.goyield: runtime.Gosched would go through the global queue,
// under the scheduler's lock, and let another processor take the
// goroutine away from the ring its entry is on); the processor's other
// goroutines queue theirs, and the first to come back whose own entry is
// still unsubmitted enters for all of them; the others find theirs done.
// A goroutine that yields while nobody else queues anything only waits
// its turn, so yields back off (yieldNow): one reading alone, or among
// busy goroutines that do no I/O, yields about once in a thousand
// operations.
//
// The eventfd is registered with IORING_REGISTER_EVENTFD, not the _ASYNC
// variant: that one signals only completions posted by io-wq worker
// threads, and misses those that arrive as task work (a socket that became
// readable), which would then wait for the next unrelated wake-up.
//
// # A lone operation on a file waits in the kernel
//
// An operation that parks costs two hand-offs: the kernel signals the
// eventfd, the netpoller wakes the reaper, and the reaper wakes the
// goroutine. At queue depth 1 that cost more CPU than the transfer: a
// 4 KiB O_DIRECT read from one goroutine took 2.2 to 2.4 times the CPU
// per read of os's blocking pread(2) (docs/benchmarks.md). So a read or
// write of a file whose waits end in bounded time (a regular file or a
// block device; uringfs starts those with StartLocalFile) is waited for
// by its own goroutine in io_uring_enter, as pread waits, while it is the
// only operation in flight on its ring (waitAlone): the kernel finishes
// the read as task work on the thread that submitted it, which for a
// lone operation is the thread now waiting for it, and returns, with no
// other thread or goroutine involved. The thread is tied up meanwhile,
// as os ties one up per read; a goroutine that parks frees it.
//
// Only one goroutine waits in the kernel per ring, and only while its
// operation is alone: any completion ends its wait (min_complete 1), it
// collects, and if another operation has been started meanwhile it parks
// like any other and the reaper collects from then on. While it waits
// the eventfd is muted, or its own completion would wake the reaper as
// well; see invariant 6 of shard. It waits in slices of WaitSlice, and
// between them looks at its context and at Close: Close and Cancel post
// a completion (their cancel request's), which ends the wait at once; a
// context that is cancelled is seen at the next slice, so operations
// that may wait on a peer (pipes, sockets), whose deadlines must be
// kept, are never started this way.
//
// # What waits well here, and what does not
//
// An operation that waits inside io_uring for a socket is armed with an
// internal poll; when the socket is ready, the kernel finishes it as task
// work on the thread that submitted it, which is whichever Go thread ran
// that goroutine at the time: that thread is interrupted, and on loopback
// it then spins on the socket lock held by the receive path, which made
// an echo server cost several times net's CPU per round trip
// (docs/benchmarks.md). uringnet therefore submits socket reads and writes with MSG_DONTWAIT
// (io_uring completes them with EAGAIN instead of arming a poll) and waits
// for readiness in the Go netpoller. IORING_SETUP_COOP_TASKRUN would stop
// the interruptions, but then a thread asleep in the Go scheduler never
// runs its task work and the operation never completes; DEFER_TASKRUN
// needs a single submitting thread, which is the engine's model
// (uringnet/engine), not this one's.
//
// Linux also cancels, with ECANCELED, work it queued for an io-wq worker
// thread that it then failed to start (seen on 6.1, where Go's preemption
// signals interrupt the worker's creation). Such an operation never ran:
// Run (and Do, through it) starts it again, up to a bound, and only then
// lets the ECANCELED through, so the adapters never see one; see Run.
//
// # What users see of it
//
// Package executor publishes the process-wide executor's counters
// (Stats, read through Started so that reading never creates it) and
// names its reaper goroutines, which live as long as the process
// (reapForever), for users' leak checks. Renaming reapForever means
// changing executor.ReaperFunction, which its test checks.
//
// # Lifetimes
//
// The ring's slot table keeps each operation's Go memory reachable until
// its completion has been collected. A cancelled operation (context,
// deadline or Cancel) is not finished until the kernel posts its
// completion: Wait returns only then, so a buffer is never reused while
// the kernel may still write to it.
//
// Once io_uring_enter is denied (a seccomp filter applied to the running
// process: the executor is broken), a cancel request can no longer be
// submitted. Cancelling then goes through io_uring_register
// (IORING_REGISTER_SYNC_CANCEL, Linux 6.0), which needs no enter; the
// completion lands in the CQ, where the reaper collects it from memory.
// Where that fails too (register denied as well, or an older kernel),
// nothing can stop the operation: rather than keep its waiter, and the
// Close behind it, for ever, Wait returns an error that says so, and the
// operation is abandoned. Its ring slot keeps its memory reachable, so
// nothing is freed under the kernel; but the kernel may still complete
// it, into its buffer, if its fd becomes ready.
//
// # Locks
//
// shard.mu guards the ring (queueing and collecting). shard.enterMu
// serialises io_uring_enter calls made for submission. shard.waitMu is
// held by the one goroutine that waits in io_uring_enter for its lone
// operation (taken with TryLock only), and by Close before it unmaps
// the ring. The order is waitMu, then enterMu, then mu. The hand-off between the goroutines that publish
// entries, the one that enters for them, and the one that collects a
// completion for its waiter is stated once, as invariants, in the
// comment on type shard.
//
// Callbacks: a multishot operation's callback (StartMultishot) runs on
// whichever goroutine collects its completion, with that shard's mu
// held. It must not enter the executor (start, wait for, or cancel an
// operation, or read Stats): it would deadlock on mu, or, on another
// shard, against a callback there. It may take its own locks, which are
// then ordered after mu, and hand the result on (a queue, a closed
// channel). CheckCallbacks makes a callback that enters the executor
// panic; the tests of the reactor and of uringnet turn it on.
package reactor
