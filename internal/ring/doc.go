// Package ring is the raw io_uring kernel ABI: the io_uring_setup, enter and
// register system calls, the layouts of the shared structures, the mmap'd
// submission and completion rings, and the kernel's names for opcodes and
// flags.
//
// It holds no policy. Callers decide what to submit, when to enter the kernel
// and who owns a ring; package uring builds the typed API on top of it.
//
// A *Ring is owned by one goroutine at a time (or guarded by its owner's
// lock): nothing here synchronises callers with each other. The only
// synchronisation is with the kernel, through the ring head and tail
// indices, which are read and written with sync/atomic (acquire/release).
//
// Kernel names are kept for kernel things so that the io_uring man pages and
// include/uapi/linux/io_uring.h can be read alongside this code.
package ring
