// Package executor is the public face of the io_uring executor that
// packages uringfs and uringnet share: its counters, for monitoring, and
// the goroutines it keeps, for leak checks.
//
// # The executor
//
// The first call into uringfs or uringnet that needs io_uring creates one
// process-wide executor: a few rings (one per CPU, GOMAXPROCS at that
// moment, at most 16), each with a reaper goroutine. Any goroutine runs
// operations through it; see ReadStats for what its counters say about
// how they ran.
//
// # Goroutines it keeps
//
// The executor is never closed, so its reaper goroutines live as long as
// the process: one per ring, each blocked in the Go netpoller on an
// eventfd (no CPU while idle), with ReaperFunction on its stack. Nothing
// else in uringfs or uringnet outlives the call, connection or file that
// started it. A test that checks for leaked goroutines with
// go.uber.org/goleak ignores the reapers with one option:
//
//	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(executor.ReaperFunction))
//
// IgnoreTopFunction does not match them: the top of a parked reaper's
// stack is the runtime's poll wait, not ReaperFunction.
package executor
