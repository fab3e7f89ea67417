package uring

import "unsafe"

// ptr converts a pointer to the u64 the kernel expects. The pointee must be
// kept reachable (in the operation's slot) until the completion is
// collected; Go's heap does not move objects, and anything stored in a slot
// lives on the heap.
func ptr[P any](p *P) uint64 { return uint64(uintptr(unsafe.Pointer(p))) }

// bufAddr is the address of a buffer's first byte, or 0 for an empty one.
func bufAddr(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}
