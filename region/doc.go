// Package region is a slab allocator over one contiguous buffer, the Go
// counterpart of OCaml uring's Region module.
//
// io_uring can pin a buffer once (IORING_REGISTER_BUFFERS) and then read
// into or write from it with the *_FIXED opcodes, which skips the per-op
// page pinning the kernel otherwise does. That only pays off if the many
// small I/Os of a program share one registered buffer, so something has
// to hand out pieces of it: a Region splits the buffer into equal blocks
// (chunks) and tracks which are in use. Register [Region.Buffer] with the
// ring and pass [Chunk.Offset] or [Region.Bytes] with each fixed op.
//
// Fixed-size blocks keep allocation O(1) with no fragmentation, which is
// what an I/O buffer pool needs; callers that need larger buffers use a
// second region with a larger block size.
//
// # Memory
//
// The buffer can be ordinary Go memory as long as the program keeps it
// reachable while it is registered: the garbage collector does not move
// heap objects, but it would free one the kernel still writes into. O_DIRECT
// and some registration paths want page alignment as well. [Mmap] returns
// page-aligned anonymous memory outside the Go heap, which sidesteps both;
// release it with [Munmap] once the ring no longer has it registered and no
// chunk is in use.
//
// # Ownership
//
// A chunk's bytes belong to whoever holds the [Chunk] between
// [Region.Alloc] and [Region.Free]. While an io_uring operation on the
// chunk is in flight the kernel holds them as well: the holder must not
// read, write or free the chunk until the operation's completion has been
// reaped, or the kernel may write into memory that has been handed to
// someone else.
//
// A Chunk is a plain value (region and index), so copies of it are
// indistinguishable. After Free, every copy is stale; using one, even to
// Free it again once the index has been reallocated, releases someone
// else's chunk. Double frees are detected only while the chunk is still
// free.
//
// # Concurrency
//
// A Region is safe for concurrent use by multiple goroutines. Alloc and
// Free take a mutex held for a handful of instructions and do not
// allocate. Bytes, BytesN, Buffer and the Chunk methods take no lock: a
// chunk's position never changes.
package region
