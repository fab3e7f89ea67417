package uringfs

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"

	"github.com/uring-go/uring/region"
	"github.com/uring-go/uring/uring"
)

// BufferPool is registered memory for reading and writing files without
// the kernel mapping user pages on every transfer: a region of
// page-aligned memory outside the Go heap (so it also suits O_DIRECT),
// registered as the fixed buffer of a private ring, cut into chunks.
// Transfers into its chunks use io_uring's read_fixed and write_fixed.
//
// A BufferPool is safe for concurrent use, but its transfers share one
// ring and run one call at a time: for depth, pass many requests to one
// ReadBatch call, or use one pool per goroutine.
type BufferPool struct {
	mem []byte
	reg *region.Region

	mu     sync.Mutex // guards br and closed; held for a whole transfer
	br     *batchRing
	closed bool

	// closing is set by Close before it takes mu, so that a transfer
	// holding mu while it waits (on a pipe, say) is woken, cancels and
	// lets go.
	closing atomic.Bool
}

// errPoolClosed is returned by a BufferPool's methods after Close.
var errPoolClosed = errors.New("uringfs: buffer pool closed")

// NewBufferPool maps size bytes (rounded up to pages) and registers them
// with a private ring, in chunks of blockSize bytes. Registration pins the
// memory, which counts against RLIMIT_MEMLOCK for unprivileged processes.
func NewBufferPool(size, blockSize int) (*BufferPool, error) {
	mem, err := region.Mmap(size)
	if err != nil {
		return nil, err
	}
	reg, err := region.New(mem, blockSize)
	if err != nil {
		region.Munmap(mem)
		return nil, err
	}
	br, err := newBatchRing(DefaultBatchDepth)
	if err != nil {
		region.Munmap(mem)
		return nil, err
	}
	if err := br.r.SetFixedBuffer(mem); err != nil {
		br.close()
		region.Munmap(mem)
		return nil, err
	}
	return &BufferPool{mem: mem, reg: reg, br: br}, nil
}

// Get takes a free chunk; region.ErrNoSpace when all are in use.
func (p *BufferPool) Get() (region.Chunk, error) { return p.reg.Alloc() }

// Put returns a chunk taken with Get.
func (p *BufferPool) Put(c region.Chunk) error { return p.reg.Free(c) }

// Bytes returns the memory of a chunk, valid until the pool is closed.
// Its address is aligned to the block size's alignment within
// page-aligned memory, as O_DIRECT wants when the block size is a
// multiple of the device's block.
func (p *BufferPool) Bytes(c region.Chunk) []byte { return p.reg.Bytes(c) }

// BlockSize returns the size of one chunk.
func (p *BufferPool) BlockSize() int { return p.reg.BlockSize() }

// ReadChunkAt reads n bytes (WholeChunk: the whole chunk) of f at off
// into chunk c with read_fixed, with ReadAt's results: io.EOF if the file
// ends first.
func (p *BufferPool) ReadChunkAt(f *File, c region.Chunk, n int, off int64) (int, error) {
	return p.chunkAt(f, c, n, off, false)
}

// WriteChunkAt writes the first n bytes (WholeChunk: all) of chunk c to f
// at off with write_fixed, with WriteAt's results.
func (p *BufferPool) WriteChunkAt(f *File, c region.Chunk, n int, off int64) (int, error) {
	return p.chunkAt(f, c, n, off, true)
}

// WholeChunk, as a length, means the whole chunk.
const WholeChunk = uring.WholeChunk

func (p *BufferPool) chunkAt(f *File, c region.Chunk, n int, off int64, write bool) (int, error) {
	if c.Region() != p.reg {
		return 0, fmt.Errorf("uringfs: chunk is not from this buffer pool (%w)", region.ErrForeignChunk)
	}
	b := p.reg.Bytes(c)
	if n == WholeChunk {
		n = len(b)
	}
	if n < 0 || n > len(b) {
		return 0, fmt.Errorf("uringfs: length %d outside the chunk of %d bytes", n, len(b))
	}
	reqs := [1]Request{{Off: off, Buf: b[:n]}}
	if err := p.batch(f, reqs[:], 1, write); err != nil {
		return 0, err
	}
	return reqs[0].N, reqs[0].Err
}

// ReadBatch is File.ReadBatch for buffers inside the pool's memory
// (slices of its chunks), transferred with read_fixed.
func (p *BufferPool) ReadBatch(f *File, reqs []Request, depth int) error {
	return p.batch(f, reqs, depth, false)
}

// WriteBatch is File.WriteBatch for buffers inside the pool's memory,
// transferred with write_fixed.
func (p *BufferPool) WriteBatch(f *File, reqs []Request, depth int) error {
	return p.batch(f, reqs, depth, true)
}

func (p *BufferPool) batch(f *File, reqs []Request, depth int, write bool) error {
	op, err := f.startBatch(write)
	if err != nil {
		return err
	}
	defer f.mu.decref()
	for i := range reqs {
		if len(reqs[i].Buf) > 0 && fixedOffset(p.mem, reqs[i].Buf) < 0 {
			return &fs.PathError{Op: op, Path: f.name, Err: fmt.Errorf("uringfs: request %d's buffer is not in the buffer pool (%w)", i, region.ErrForeignChunk)}
		}
	}
	if depth <= 0 {
		depth = DefaultBatchDepth
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return &fs.PathError{Op: op, Path: f.name, Err: errPoolClosed}
	}
	return f.runBatch(p.br, p.mem, p.closingErr, reqs, depth, write)
}

func (p *BufferPool) closingErr() error {
	if p.closing.Load() {
		return errPoolClosed
	}
	return nil
}

// Close releases the ring and the memory. No chunk may be used after. A
// transfer that is waiting (on a pipe or socket with nothing to read,
// say) is cancelled and returns an error around the pool's closed error.
func (p *BufferPool) Close() error {
	if !p.closing.Swap(true) {
		p.br.wake()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errPoolClosed
	}
	p.closed = true
	err := p.br.close()
	if merr := region.Munmap(p.mem); err == nil {
		err = merr
	}
	return err
}
