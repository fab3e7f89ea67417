package region

import (
	"bytes"
	"errors"
	"testing"
	"unsafe"
)

// FuzzRegionLayout checks where chunks lie, which FuzzRegion's accounting
// model does not: over a buffer that need not be a whole number of
// blocks, every slice Bytes and BytesN return starts at the chunk's
// Offset inside the buffer, holds exactly the bytes asked for, has a
// capacity that ends at the chunk's end, and no two held chunks' slices
// overlap; the tail past the last whole block is never handed out, and
// writes through a chunk's slice, filled to its capacity or appended past
// it, never reach a neighbour or the tail. BytesN rejects lengths outside
// [0, BlockSize], and both reject a chunk of another region.
//
// Input: bytes 0 to 2 give the chunk count, block size and tail length;
// each further byte is an operation in its low two bits (alloc, free,
// BytesN, append past the end) and an argument in the rest.
func FuzzRegionLayout(f *testing.F) {
	f.Add([]byte{3, 7, 5, 0, 0, 0, 2, 6, 10, 1, 3, 0})
	f.Add([]byte{0, 0, 0, 0, 2, 0xfe, 3, 1})
	f.Add([]byte{15, 31, 63, 0, 0, 0, 0, 0x42, 0x86, 0xfa, 0x0b, 5, 9, 0xff})
	f.Add([]byte{1, 4, 0, 0, 0, 0x16, 0x12, 0x13, 0x17, 0xfe})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		n, bs, tail := 1+int(data[0]%16), 1+int(data[1]%32), int(data[2]%64)
		if tail >= bs {
			// A tail of a whole block would be one more chunk.
			tail %= bs
		}
		buf := make([]byte, n*bs+tail)
		r, err := New(buf, bs)
		if err != nil {
			t.Fatalf("New(%d bytes, %d): %v", len(buf), bs, err)
		}
		if r.Len() != n || r.BlockSize() != bs {
			t.Fatalf("New(%d bytes, %d): Len %d BlockSize %d, want %d %d", len(buf), bs, r.Len(), r.BlockSize(), n, bs)
		}
		if b := r.Buffer(); len(b) != len(buf) || unsafe.SliceData(b) != unsafe.SliceData(buf) {
			t.Fatalf("Buffer() is %d bytes at %p, want the %d-byte buffer at %p", len(b), unsafe.SliceData(b), len(buf), unsafe.SliceData(buf))
		}
		const tailMark = 0xa5
		for i := n * bs; i < len(buf); i++ {
			buf[i] = tailMark
		}
		other := mustNew(t, bs, bs)
		foreign := mustAlloc(t, other)
		base := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))

		// span checks that s, a slice of chunk c, starts at c's offset
		// within buf, has length want and ends its capacity at the
		// chunk's end.
		span := func(what string, c Chunk, s []byte, want int) {
			t.Helper()
			if len(s) != want || cap(s) != bs {
				t.Fatalf("%s of chunk %d: len %d cap %d, want %d %d", what, c.Index(), len(s), cap(s), want, bs)
			}
			off := int(uintptr(unsafe.Pointer(unsafe.SliceData(s))) - base)
			if off != c.Offset() || off != c.Index()*bs || off < 0 || off+cap(s) > n*bs {
				t.Fatalf("%s of chunk %d starts at byte %d of the buffer, want Offset %d, within the %d whole blocks", what, c.Index(), off, c.Offset(), n)
			}
		}
		stamp := func(c Chunk) byte { return byte(c.Index()*11 + 1) }
		var held []Chunk
		verify := func(step int) {
			t.Helper()
			seen := make(map[int]bool)
			for _, c := range held {
				s := r.Bytes(c)
				span("Bytes", c, s, bs)
				off := c.Offset()
				for i := off; i < off+bs; i++ {
					if seen[i] {
						t.Fatalf("step %d: byte %d belongs to two held chunks", step, i)
					}
					seen[i] = true
				}
				if !bytes.Equal(s, bytes.Repeat([]byte{stamp(c)}, bs)) {
					t.Fatalf("step %d: chunk %d = % x, want all %#x: another chunk's write reached it", step, c.Index(), s, stamp(c))
				}
			}
			for i := n * bs; i < len(buf); i++ {
				if buf[i] != tailMark {
					t.Fatalf("step %d: tail byte %d = %#x: a chunk's write reached past the last whole block", step, i, buf[i])
				}
			}
		}

		for step, op := range data[3:] {
			arg := int(op >> 2)
			switch op & 3 {
			case 0: // alloc and fill to capacity
				c, err := r.Alloc()
				if err != nil {
					if len(held) != n || err != ErrNoSpace {
						t.Fatalf("step %d: Alloc with %d of %d held: %v", step, len(held), n, err)
					}
					break
				}
				s := r.Bytes(c)
				span("Bytes", c, s, bs)
				s = s[:cap(s)]
				for i := range s {
					s[i] = stamp(c)
				}
				held = append(held, c)
			case 1: // free
				if len(held) == 0 {
					break
				}
				k := arg % len(held)
				if err := r.Free(held[k]); err != nil {
					t.Fatalf("step %d: Free(chunk %d): %v", step, held[k].Index(), err)
				}
				held[k] = held[len(held)-1]
				held = held[:len(held)-1]
			case 2: // BytesN with a length around the valid range
				want := arg - 2 // from -2 up
				if arg%8 == 7 {
					want = bs + arg/8 // at and past the block size
				}
				if len(held) == 0 {
					if _, err := r.BytesN(foreign, 0); !errors.Is(err, ErrForeignChunk) {
						t.Fatalf("step %d: BytesN(foreign chunk) = %v, want ErrForeignChunk", step, err)
					}
					if s := r.Bytes(foreign); s != nil {
						t.Fatalf("step %d: Bytes(foreign chunk) = %d bytes, want nil", step, len(s))
					}
					if s := r.Bytes(Chunk{}); s != nil {
						t.Fatalf("step %d: Bytes(zero Chunk) = %d bytes, want nil", step, len(s))
					}
					break
				}
				c := held[arg%len(held)]
				s, err := r.BytesN(c, want)
				if want < 0 || want > bs {
					if err == nil || s != nil {
						t.Fatalf("step %d: BytesN(chunk %d, %d) with block size %d = %d bytes, %v; want an error", step, c.Index(), want, bs, len(s), err)
					}
					break
				}
				if err != nil {
					t.Fatalf("step %d: BytesN(chunk %d, %d): %v", step, c.Index(), want, err)
				}
				// A zero-length slice still points at the chunk, with
				// room for the whole block.
				span("BytesN", c, s, want)
			case 3: // append past a chunk's end: must reallocate, not spill
				if len(held) == 0 {
					break
				}
				c := held[arg%len(held)]
				s := append(r.Bytes(c), bytes.Repeat([]byte{^stamp(c)}, 1+arg%4)...)
				if len(s) != bs+1+arg%4 {
					t.Fatalf("step %d: append to chunk %d: len %d", step, c.Index(), len(s))
				}
			}
			if got, want := r.Avail(), n-len(held); got != want {
				t.Fatalf("step %d: Avail %d, want %d", step, got, want)
			}
			verify(step)
		}
	})
}
