// Package reactor is the concurrency-safe io_uring executor that uringfs
// and uringnet share: any goroutine runs an operation through it and is
// parked, never an OS thread, until the completion arrives.
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
// Entering the kernel is combined: when one goroutine is already in
// io_uring_enter for a shard, others publish their entries and leave them
// for it; it enters again before it leaves, so under load many operations
// share one system call, and a lone operation is never delayed.
//
// # Lifetimes
//
// The ring's slot table keeps each operation's Go memory reachable until
// its completion has been collected. A cancelled operation (context,
// deadline or Cancel) is not finished until the kernel posts its
// completion: Wait returns only then, so a buffer is never reused while
// the kernel may still write to it.
//
// # Locks
//
// shard.mu guards the ring (queueing and collecting). shard.enterMu
// serialises io_uring_enter calls made for submission; it is taken only
// with TryLock, never while holding mu, and mu is never taken while
// holding it, so the two never nest.
package reactor
