package region

import (
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// Mmap returns size bytes, rounded up to a whole number of pages, of
// zeroed, page-aligned, anonymous private memory outside the Go heap. The
// garbage collector neither scans nor frees it, so it can stay registered
// with a ring for as long as needed; release it with [Munmap].
func Mmap(size int) ([]byte, error) {
	page := os.Getpagesize()
	if size <= 0 {
		return nil, fmt.Errorf("region: mmap size %d is not positive; pass the number of bytes wanted", size)
	}
	if size > math.MaxInt-page {
		return nil, fmt.Errorf("region: mmap size %d too large to round up to a page", size)
	}
	rounded := (size + page - 1) &^ (page - 1)
	b, err := unix.Mmap(-1, 0, rounded, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("region: mmap %d bytes (%d requested): %w", rounded, size, err)
	}
	return b, nil
}

// Munmap releases memory returned by [Mmap]. b must be exactly that slice,
// not a reslice of it: the mapping is looked up by its first and last
// bytes, and anything else fails with EINVAL. No chunk of a
// region over b may be in use, and b must no longer be registered with a
// ring: the kernel would otherwise write into unmapped or reused memory.
func Munmap(b []byte) error {
	if err := unix.Munmap(b); err != nil {
		return fmt.Errorf("region: munmap %d bytes: %w", len(b), err)
	}
	return nil
}
