package uring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/region"
)

// digitsFile returns an open file holding "0123456789" repeated to n
// bytes, closed when the test ends.
func digitsFile(t *testing.T, n int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, n)
	for i := range data {
		data[i] = '0' + byte(i%10)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "digits"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return f, data
}

// mmapRegion makes a region over off-heap memory, as a server would,
// unmapped when the test ends (after the ring, registered later, closes).
func mmapRegion(t *testing.T, size, blockSize int) *region.Region {
	t.Helper()
	buf, err := region.Mmap(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := region.Munmap(buf); err != nil {
			t.Error(err)
		}
	})
	reg, err := region.New(buf, blockSize)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestReadFixedOffsets(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	must := runner(t, r)
	f, _ := digitsFile(t, 20)
	fixed := bytes.Repeat([]byte{'.'}, 16)
	if err := r.SetFixedBuffer(fixed); err != nil {
		t.Fatal(err)
	}
	if n := ok(t, must(r.ReadFixed(int(f.Fd()), 2, 3, 5, 0)), "read_fixed"); n != 5 {
		t.Fatalf("read_fixed = %d, want 5", n)
	}
	if got := string(r.FixedBuffer()); got != "...23456........" {
		t.Errorf("fixed buffer after read_fixed at file offset 2 into offset 3 = %q", got)
	}
	copy(fixed[10:], "abcd")
	if n := ok(t, must(r.WriteFixed(int(f.Fd()), 1, 10, 4, 0)), "write_fixed"); n != 4 {
		t.Fatalf("write_fixed = %d, want 4", n)
	}
	got, _ := os.ReadFile(f.Name())
	if string(got[:6]) != "0abcd5" {
		t.Errorf("file after write_fixed = %q", got)
	}
	for _, tc := range [][2]int{{-1, 1}, {0, 17}, {16, 1}, {10, -1}} {
		if _, err := r.ReadFixed(int(f.Fd()), 0, tc[0], tc[1], 0); err == nil {
			t.Errorf("ReadFixed at %d length %d outside a 16-byte buffer accepted", tc[0], tc[1])
		}
	}
	if r.ActiveOps() != 0 {
		t.Errorf("refused ops left %d active", r.ActiveOps())
	}
}

func TestReadvWritevFixed(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	if !r.OpSupported(OpReadvFixed) || !r.OpSupported(OpWritevFixed) {
		t.Skipf("kernel lacks readv_fixed/writev_fixed (Linux %s)", OpReadvFixed.Since())
	}
	must := runner(t, r)
	f, _ := digitsFile(t, 20)
	fixed := make([]byte, 64)
	if err := r.SetFixedBuffer(fixed); err != nil {
		t.Fatal(err)
	}
	if n := ok(t, must(r.ReadvFixed(int(f.Fd()), [][]byte{fixed[8:11], fixed[40:47]}, 1, 0)), "readv_fixed"); n != 10 {
		t.Fatalf("readv_fixed = %d, want 10", n)
	}
	if string(fixed[8:11]) != "123" || string(fixed[40:47]) != "4567890" {
		t.Errorf("readv_fixed filled %q and %q", fixed[8:11], fixed[40:47])
	}
	copy(fixed[0:], "ab")
	copy(fixed[60:], "cde")
	if n := ok(t, must(r.WritevFixed(int(f.Fd()), [][]byte{fixed[0:2], fixed[60:63]}, 3, 0)), "writev_fixed"); n != 5 {
		t.Fatalf("writev_fixed = %d, want 5", n)
	}
	if got, _ := os.ReadFile(f.Name()); string(got[:10]) != "012abcde89" {
		t.Errorf("file after writev_fixed = %q", got)
	}

	bufs := [][]byte{fixed[0:2], make([]byte, 4)}
	if _, err := r.ReadvFixed(int(f.Fd()), bufs, 0, 0); err == nil || !strings.Contains(err.Error(), "not inside the fixed buffer") {
		t.Errorf("ReadvFixed with a buffer outside the fixed buffer = %v", err)
	}
	if _, err := r.WritevFixed(int(f.Fd()), bufs, 0, 0); err == nil {
		t.Error("WritevFixed with a buffer outside the fixed buffer accepted")
	}
	// A buffer that starts inside the fixed buffer and runs past its end.
	big := make([]byte, 128)
	if err := r.SetFixedBuffer(big[:64]); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadvFixed(int(f.Fd()), [][]byte{big[60:68]}, 0, 0); err == nil {
		t.Error("ReadvFixed with a buffer running past the fixed buffer accepted")
	}
	if r.ActiveOps() != 0 || r.SQEReady() != 0 {
		t.Errorf("refused ops left %d active, %d queued", r.ActiveOps(), r.SQEReady())
	}
}

func TestReadWriteChunk(t *testing.T) {
	testutil.CheckFDs(t)
	reg := mmapRegion(t, 4*4096, 4096)
	r := newRing[int](t, 4)
	must := runner(t, r)
	if err := r.SetFixedBuffer(reg.Buffer()); err != nil {
		t.Fatal(err)
	}
	f, data := digitsFile(t, 3*4096)
	a, err := reg.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := reg.Alloc()

	if n := ok(t, must(r.ReadChunk(int(f.Fd()), 100, b, WholeChunk, 0)), "read_chunk"); n != 4096 {
		t.Fatalf("read_chunk of a whole chunk = %d, want 4096", n)
	}
	if !bytes.Equal(reg.Bytes(b), data[100:100+4096]) {
		t.Error("read_chunk did not fill the chunk with the file's bytes")
	}
	for i, c := range reg.Bytes(a) {
		if c != 0 {
			t.Fatalf("read_chunk into chunk %d wrote into chunk %d at %d", b.Index(), a.Index(), i)
		}
	}
	if n := ok(t, must(r.ReadChunk(int(f.Fd()), 3, a, 5, 0)), "read_chunk of 5"); n != 5 {
		t.Fatalf("read_chunk of 5 bytes = %d", n)
	}
	if got := reg.Bytes(a)[:6]; string(got) != "34567\x00" {
		t.Errorf("read_chunk of 5 bytes at 3 filled %q", got)
	}

	copy(reg.Bytes(a), "chunk!")
	if n := ok(t, must(r.WriteChunk(int(f.Fd()), 10, a, 6, 0)), "write_chunk"); n != 6 {
		t.Fatalf("write_chunk = %d", n)
	}
	if got, _ := os.ReadFile(f.Name()); string(got[8:18]) != "89chunk!67" {
		t.Errorf("file after write_chunk = %q", got[8:18])
	}
	// A read at end of file.
	if n := ok(t, must(r.ReadChunk(int(f.Fd()), int64(len(data)), a, WholeChunk, 0)), "read_chunk at EOF"); n != 0 {
		t.Errorf("read_chunk at EOF = %d", n)
	}
}

func TestChunkRejected(t *testing.T) {
	testutil.CheckFDs(t)
	reg := mmapRegion(t, 2*4096, 4096)
	other := mmapRegion(t, 2*4096, 4096)
	r := newRing[int](t, 4)
	c, _ := reg.Alloc()
	foreign, _ := other.Alloc()

	if _, err := r.ReadChunk(0, 0, c, WholeChunk, 0); !errors.Is(err, errNoFixed) {
		t.Errorf("ReadChunk with no fixed buffer = %v", err)
	}
	if err := r.SetFixedBuffer(reg.Buffer()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{4097, -2, 1 << 40} {
		if _, err := r.ReadChunk(0, 0, c, n, 0); err == nil || !strings.Contains(err.Error(), "block size") {
			t.Errorf("ReadChunk of %d bytes from a 4096-byte chunk = %v", n, err)
		}
		if _, err := r.WriteChunk(0, 0, c, n, 0); err == nil {
			t.Errorf("WriteChunk of %d bytes from a 4096-byte chunk accepted", n)
		}
	}
	for name, ch := range map[string]region.Chunk{"another region's": foreign, "the zero": {}} {
		_, err := r.ReadChunk(0, 0, ch, 10, 0)
		if !errors.Is(err, region.ErrForeignChunk) {
			t.Errorf("ReadChunk of %s chunk = %v, want region.ErrForeignChunk", name, err)
		}
		if _, err := r.WriteChunk(0, 0, ch, 10, 0); !errors.Is(err, region.ErrForeignChunk) {
			t.Errorf("WriteChunk of %s chunk = %v", name, err)
		}
	}
	if _, err := r.ReadChunk(0, 0, foreign, 10, 0); err == nil || !strings.Contains(err.Error(), "chunk does not belong to ring's fixed buffer") {
		t.Errorf("ReadChunk of another region's chunk = %v, want it to say the chunk does not belong", err)
	}
	// Same memory, different extent: a region over a prefix of the
	// registered buffer is not the ring's.
	prefix, err := region.New(reg.Buffer()[:4096], 4096)
	if err != nil {
		t.Fatal(err)
	}
	pc, _ := prefix.Alloc()
	if _, err := r.ReadChunk(0, 0, pc, 10, 0); !errors.Is(err, region.ErrForeignChunk) {
		t.Errorf("ReadChunk of a region over part of the fixed buffer = %v", err)
	}
	if r.ActiveOps() != 0 || r.SQEReady() != 0 {
		t.Errorf("refused chunks left %d active, %d queued", r.ActiveOps(), r.SQEReady())
	}
	r.Close()
	if _, err := r.ReadChunk(0, 0, c, 10, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadChunk after Close = %v", err)
	}
}

func TestRegionExhaustAndFree(t *testing.T) {
	const chunks = 8
	reg, err := region.New(make([]byte, chunks*64), 64)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	var held []region.Chunk
	// Bounded: a region that never runs out must fail, not hang.
	for i := 0; i <= chunks; i++ {
		c, err := reg.Alloc()
		if i == chunks {
			if !errors.Is(err, region.ErrNoSpace) {
				t.Fatalf("Alloc number %d of a %d-chunk region = %v, %v; want ErrNoSpace", i+1, chunks, c.Index(), err)
			}
			break
		}
		if err != nil {
			t.Fatalf("Alloc %d of %d: %v", i+1, chunks, err)
		}
		if seen[c.Offset()] {
			t.Fatalf("Alloc %d handed out offset %d twice", i+1, c.Offset())
		}
		seen[c.Offset()] = true
		held = append(held, c)
	}
	if reg.Avail() != 0 {
		t.Errorf("Avail of an exhausted region = %d", reg.Avail())
	}
	if err := reg.Free(held[3]); err != nil {
		t.Fatal(err)
	}
	c, err := reg.Alloc()
	if err != nil || c.Offset() != held[3].Offset() {
		t.Fatalf("Alloc after a Free = %d, %v; want the freed chunk at %d", c.Offset(), err, held[3].Offset())
	}
	if _, err := reg.Alloc(); !errors.Is(err, region.ErrNoSpace) {
		t.Errorf("Alloc with the freed chunk taken again = %v, want ErrNoSpace", err)
	}
}
