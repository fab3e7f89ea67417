package region

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// ErrNoSpace is returned by [Region.Alloc] when every chunk is in use. It is
// returned unwrapped so that the exhausted path, which a busy server can hit
// constantly, does not allocate.
var ErrNoSpace = errors.New("region: no free chunk; free a chunk or use a larger region")

// ErrDoubleFree is matched (with errors.Is) by the error [Region.Free]
// returns for a chunk that is not currently allocated.
var ErrDoubleFree = errors.New("region: chunk is not allocated (double free?)")

// ErrForeignChunk is matched (with errors.Is) by the error [Region.Free] and
// [Region.BytesN] return for a chunk that did not come from the region,
// including the zero Chunk.
var ErrForeignChunk = errors.New("region: chunk does not belong to this region")

// Region hands out fixed-size chunks of one buffer. Create it with [New];
// the zero Region has no chunks. A Region must not be copied after first use.
type Region struct {
	buf       []byte
	blockSize int
	n         int

	mu sync.Mutex
	// free is a stack of the free chunk indices in free[:top]; a stack keeps
	// recently freed, cache-warm chunks in use. int32 halves its footprint,
	// and New refuses regions with more chunks than that can index.
	free []int32
	top  int
	// allocated has a bit per chunk so that Free can detect a double free
	// in O(1) instead of searching the stack.
	allocated []uint64
}

// Chunk is one block of a [Region]. It is a small value, meant to be passed
// around by copy; the zero Chunk belongs to no region.
type Chunk struct {
	r   *Region
	idx int32
}

// New carves buf into len(buf)/blockSize chunks of blockSize bytes each.
// Bytes past the last whole chunk are never handed out. The region uses buf
// in place: the caller must not use it otherwise while the region is live.
//
// It fails if blockSize is not positive, if buf is smaller than one block
// (a region with no chunks), or if buf holds more than math.MaxInt32
// chunks.
func New(buf []byte, blockSize int) (*Region, error) {
	if blockSize <= 0 {
		return nil, fmt.Errorf("region: block size %d is not positive; pass the size of one chunk in bytes", blockSize)
	}
	if blockSize > len(buf) {
		return nil, fmt.Errorf("region: block size %d exceeds buffer length %d, which leaves no chunks; use a buffer of at least one block", blockSize, len(buf))
	}
	n := len(buf) / blockSize
	if n > math.MaxInt32 {
		return nil, fmt.Errorf("region: %d chunks of %d bytes exceed the limit of %d; use a larger block size or a smaller buffer", n, blockSize, math.MaxInt32)
	}
	r := &Region{
		buf:       buf,
		blockSize: blockSize,
		n:         n,
		free:      make([]int32, n),
		top:       n,
		allocated: make([]uint64, (n+63)/64),
	}
	// Lowest index on top, so a fresh region hands out chunks in address
	// order, which is easier to reason about when debugging.
	for i := range r.free {
		r.free[i] = int32(n - 1 - i)
	}
	return r, nil
}

// Alloc takes a free chunk. It returns [ErrNoSpace] when all are in use.
func (r *Region) Alloc() (Chunk, error) {
	r.mu.Lock()
	if r.top == 0 {
		r.mu.Unlock()
		return Chunk{}, ErrNoSpace
	}
	r.top--
	i := r.free[r.top]
	r.allocated[i>>6] |= 1 << (uint(i) & 63)
	r.mu.Unlock()
	return Chunk{r: r, idx: i}, nil
}

// Free returns c to the region. Freeing a chunk that is not allocated
// (matches [ErrDoubleFree]) or that belongs elsewhere (matches
// [ErrForeignChunk]) is reported and changes nothing. Only the error paths
// allocate, to say which chunk was at fault.
func (r *Region) Free(c Chunk) error {
	if c.r != r || r == nil {
		if c.r == nil {
			return fmt.Errorf("%w: freeing the zero Chunk, which no Alloc returned", ErrForeignChunk)
		}
		return fmt.Errorf("%w: chunk %d was allocated from region %p, not %p", ErrForeignChunk, c.idx, c.r, r)
	}
	i := c.idx
	// Chunks can only be made by Alloc, so this cannot fail; the check keeps
	// a corrupted Chunk from indexing out of the bitmap.
	if i < 0 || int(i) >= r.n {
		return fmt.Errorf("%w: chunk index %d out of range [0, %d)", ErrForeignChunk, i, r.n)
	}
	word, bit := i>>6, uint64(1)<<(uint(i)&63)
	r.mu.Lock()
	if r.allocated[word]&bit == 0 {
		r.mu.Unlock()
		return fmt.Errorf("%w: chunk %d (offset %d) is already free", ErrDoubleFree, i, c.Offset())
	}
	r.allocated[word] &^= bit
	r.free[r.top] = i
	r.top++
	r.mu.Unlock()
	return nil
}

// Avail reports how many chunks are free. Under concurrent use the answer
// may be stale by the time the caller looks at it.
func (r *Region) Avail() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.top
}

// Len reports the total number of chunks.
func (r *Region) Len() int { return r.n }

// BlockSize reports the size of each chunk in bytes.
func (r *Region) BlockSize() int { return r.blockSize }

// Buffer returns the whole buffer the region was made from, including any
// tail shorter than a block. This is what gets registered with the ring.
func (r *Region) Buffer() []byte { return r.buf }

// Bytes returns c's blockSize bytes, or nil if c does not belong to r. The
// capacity is limited to blockSize so that an append cannot spill into the
// next chunk. Bytes does not check that c is allocated: it is lock-free, and
// only the holder has any business calling it.
func (r *Region) Bytes(c Chunk) []byte {
	if c.r != r || r == nil {
		return nil
	}
	off := int(c.idx) * r.blockSize
	end := off + r.blockSize
	return r.buf[off:end:end]
}

// BytesN returns the first n bytes of c, for ops that transfer less than a
// whole block. The capacity is still the whole block, so the slice can be
// grown back up to it but never past it. It fails if n is outside [0, BlockSize()] or c does not
// belong to r (matching [ErrForeignChunk]).
func (r *Region) BytesN(c Chunk, n int) ([]byte, error) {
	if c.r != r || r == nil {
		return nil, fmt.Errorf("%w: chunk passed to BytesN", ErrForeignChunk)
	}
	if n < 0 {
		return nil, fmt.Errorf("region: length %d is negative; want 0 to block size %d", n, r.blockSize)
	}
	if n > r.blockSize {
		return nil, fmt.Errorf("region: length %d exceeds block size %d; split the transfer or use a region with larger blocks", n, r.blockSize)
	}
	off := int(c.idx) * r.blockSize
	return r.buf[off : off+n : off+r.blockSize], nil
}

// Offset returns the byte offset of c within its region's buffer, which is
// what a fixed-buffer op's address is computed from. It is -1 for the zero
// Chunk, so that it cannot be mistaken for chunk 0.
func (c Chunk) Offset() int {
	if c.r == nil {
		return -1
	}
	return int(c.idx) * c.r.blockSize
}

// Index returns c's position among its region's chunks, in [0, Len()). It
// is -1 for the zero Chunk.
func (c Chunk) Index() int {
	if c.r == nil {
		return -1
	}
	return int(c.idx)
}

// Region returns the region c came from, or nil for the zero Chunk.
func (c Chunk) Region() *Region { return c.r }
