package uring

import (
	"fmt"
	"unsafe"

	"github.com/uring-go/uring/region"
)

// WholeChunk, as the length of ReadChunk or WriteChunk, transfers the
// whole chunk.
const WholeChunk = -1

// ReadChunk queues a read of up to n bytes from fd at fileOffset into the
// chunk c, which must come from a region whose Buffer() is the ring's
// fixed buffer (see SetFixedBuffer). n is at most the region's block size;
// WholeChunk (-1) means all of it. The result is the number of bytes read,
// 0 at end of file.
func (r *Ring[T]) ReadChunk(fd int, fileOffset int64, c region.Chunk, n int, data T) (Job, error) {
	b, err := r.chunkSlice(c, n)
	if err != nil {
		return Job{}, err
	}
	return r.rwFixed(OpReadFixed, fd, b, fileOffset, 0, data)
}

// ReadChunkFlags is ReadChunk with per-call flags (RWF_*), as preadv2(2)
// takes them.
func (r *Ring[T]) ReadChunkFlags(fd int, fileOffset int64, c region.Chunk, n int, flags RWFlags, data T) (Job, error) {
	b, err := r.chunkSlice(c, n)
	if err != nil {
		return Job{}, err
	}
	return r.rwFixed(OpReadFixed, fd, b, fileOffset, flags, data)
}

// WriteChunk queues a write of the first n bytes of chunk c to fd at
// fileOffset, as ReadChunk reads. The result is the number of bytes
// written; a short write is not an error.
func (r *Ring[T]) WriteChunk(fd int, fileOffset int64, c region.Chunk, n int, data T) (Job, error) {
	b, err := r.chunkSlice(c, n)
	if err != nil {
		return Job{}, err
	}
	return r.rwFixed(OpWriteFixed, fd, b, fileOffset, 0, data)
}

// WriteChunkFlags is WriteChunk with per-call flags (RWF_*), as
// pwritev2(2) takes them.
func (r *Ring[T]) WriteChunkFlags(fd int, fileOffset int64, c region.Chunk, n int, flags RWFlags, data T) (Job, error) {
	b, err := r.chunkSlice(c, n)
	if err != nil {
		return Job{}, err
	}
	return r.rwFixed(OpWriteFixed, fd, b, fileOffset, flags, data)
}

// errForeignChunk is built once: a server that mixes up its regions would
// otherwise allocate an error per request. It matches
// region.ErrForeignChunk.
var errForeignChunk = fmt.Errorf("uring: chunk does not belong to ring's fixed buffer; register its region's Buffer() with SetFixedBuffer (%w)", region.ErrForeignChunk)

// chunkSlice returns the first n bytes of c as a slice of the fixed
// buffer, checking that c's region is the registered buffer: the kernel
// only checks that the address is inside some registered buffer, and a
// chunk of another region would read or write unrelated memory.
func (r *Ring[T]) chunkSlice(c region.Chunk, n int) ([]byte, error) {
	if r.closed {
		return nil, ErrClosed
	}
	if r.fixed == nil {
		return nil, errNoFixed
	}
	reg := c.Region()
	if reg == nil {
		return nil, fmt.Errorf("uring: the zero Chunk belongs to no region (%w)", region.ErrForeignChunk)
	}
	buf := reg.Buffer()
	if len(buf) != len(r.fixed) || unsafe.SliceData(buf) != unsafe.SliceData(r.fixed) {
		return nil, errForeignChunk
	}
	bs := reg.BlockSize()
	if n == WholeChunk {
		n = bs
	}
	if n < 0 || n > bs {
		return nil, fmt.Errorf("uring: chunk length %d: want 0 to the block size %d, or WholeChunk", n, bs)
	}
	return r.fixedSlice(c.Offset(), n)
}
