// Package uringnet provides net.Listener and net.Conn implementations whose
// I/O runs on io_uring, shaped like package net so that existing code
// (net/http, crypto/tls, anything that takes a net.Listener or net.Conn)
// works unchanged:
//
//	ln, err := uringnet.Listen("tcp", "127.0.0.1:8080")
//	if err != nil { ... }
//	http.Serve(ln, handler)
//
// # How it runs
//
// Every read, write, accept and connect is an io_uring operation run
// through the process-wide executor (internal/reactor): the calling
// goroutine submits it and, when the socket is ready, finds the completion
// during its own io_uring_enter; otherwise the goroutine is parked, not an
// OS thread, until the kernel completes it. Listeners use multishot accept
// where the kernel has it (Linux 5.19) and a single accept per call
// otherwise.
//
// # Semantics
//
// Errors follow package net: *net.OpError with Op "read", "write",
// "accept", "dial", ...; io.EOF (never wrapped) when the peer closes;
// net.ErrClosed after Close; os.ErrDeadlineExceeded, with Timeout() true,
// when a deadline passes. Deadlines apply to operations already blocked,
// and a conn stays usable after one: a read stopped by a deadline loses no
// bytes, the next read returns them.
//
// # Lifetimes
//
// A socket's fd is reference-counted like internal/poll's: each operation
// holds a reference while it runs; Close marks the fd closing, wakes every
// blocked operation (cancelling it in the kernel and waiting for its
// completion), and the close(2) happens after the last operation has
// finished, so the fd number is never reused while the kernel may still
// act on it. Close returns after that close(2).
//
// Reads are serialised with each other, and writes with each other, as in
// package net; one Read and one Write may run at the same time.
package uringnet
