// Package fdlife is the part of a descriptor's life that uringfs.File and
// uringnet's sockets share, as Go's internal/poll keeps it for os and net:
//
//   - Refs counts the operations using an fd, so that Close can stop new
//     ones, wake those in flight and close(2) the fd only after the last
//     one has let go: the number is never reused by another open while an
//     operation still names it.
//   - Waiter is what one direction (reading or writing) of an fd waits
//     on: its deadline and whether the fd is closing. It is the
//     context.Context an io_uring operation parks with
//     (reactor.Operation.Wait), so a deadline or Close cancels the
//     operation from the waiting goroutine; for an fd whose reads and
//     writes wait in the runtime netpoller instead, it carries every
//     deadline to the *os.File there (Mirror).
//
// Both cost nothing on an idle fd and on an operation that completes
// without waiting: channels and timers are made only once something
// waits. The package owns no fd and no ring; closing the number and
// cancelling operations in the kernel stay with the packages above.
package fdlife
