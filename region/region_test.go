package region

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/uring-go/uring/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func mustNew(t testing.TB, size, blockSize int) *Region {
	t.Helper()
	r, err := New(make([]byte, size), blockSize)
	if err != nil {
		t.Fatalf("New(%d bytes, %d): %v", size, blockSize, err)
	}
	return r
}

func mustAlloc(t testing.TB, r *Region) Chunk {
	t.Helper()
	c, err := r.Alloc()
	if err != nil {
		t.Fatalf("Alloc with %d of %d free: %v", r.Avail(), r.Len(), err)
	}
	return c
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		blockSize int
		want      string // part of the message telling the caller what to do
	}{
		{"zero block size", 4096, 0, "not positive"},
		{"negative block size", 4096, -512, "not positive"},
		{"block larger than buffer", 100, 101, "at least one block"},
		{"empty buffer", 0, 1, "at least one block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(make([]byte, tt.size), tt.blockSize)
			if err == nil {
				t.Fatalf("New(%d bytes, %d) = %v, want an error", tt.size, tt.blockSize, r)
			}
			if r != nil {
				t.Errorf("New returned a region alongside error %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestNewLayout(t *testing.T) {
	tests := []struct {
		size, blockSize, wantLen int
	}{
		{4096, 4096, 1},
		{4096, 1024, 4},
		{4096, 1000, 4}, // 96-byte tail is never handed out
		{10, 1, 10},
		{7, 3, 2},
	}
	for _, tt := range tests {
		buf := make([]byte, tt.size)
		r, err := New(buf, tt.blockSize)
		if err != nil {
			t.Fatalf("New(%d, %d): %v", tt.size, tt.blockSize, err)
		}
		if r.Len() != tt.wantLen || r.Avail() != tt.wantLen || r.BlockSize() != tt.blockSize {
			t.Errorf("New(%d, %d): Len %d Avail %d BlockSize %d, want %d %d %d",
				tt.size, tt.blockSize, r.Len(), r.Avail(), r.BlockSize(), tt.wantLen, tt.wantLen, tt.blockSize)
		}
		if got := r.Buffer(); len(got) != len(buf) || &got[0] != &buf[0] {
			t.Errorf("New(%d, %d): Buffer is not the buffer passed in", tt.size, tt.blockSize)
		}
		for range tt.wantLen {
			c := mustAlloc(t, r)
			if end := c.Offset() + r.BlockSize(); end > tt.size {
				t.Errorf("New(%d, %d): chunk %d ends at %d, past the buffer", tt.size, tt.blockSize, c.Index(), end)
			}
		}
	}
}

func TestExhaustAndFree(t *testing.T) {
	r := mustNew(t, 4*64, 64)
	held := make([]Chunk, 0, r.Len())
	for range r.Len() {
		held = append(held, mustAlloc(t, r))
	}
	if r.Avail() != 0 {
		t.Fatalf("Avail = %d after allocating every chunk, want 0", r.Avail())
	}
	for range 2 { // stays exhausted, not just on the first failure
		if c, err := r.Alloc(); err != ErrNoSpace {
			t.Fatalf("Alloc on a full region = (%v, %v), want ErrNoSpace itself", c, err)
		}
	}
	if c, _ := r.Alloc(); c != (Chunk{}) {
		t.Errorf("failed Alloc returned non-zero chunk %d", c.Index())
	}

	freed := held[2]
	if err := r.Free(freed); err != nil {
		t.Fatalf("Free(chunk %d): %v", freed.Index(), err)
	}
	if r.Avail() != 1 {
		t.Fatalf("Avail = %d after one Free, want 1", r.Avail())
	}
	again := mustAlloc(t, r)
	if again != freed {
		t.Errorf("Alloc after freeing chunk %d returned chunk %d, the only free one was %d",
			freed.Index(), again.Index(), freed.Index())
	}
	if _, err := r.Alloc(); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Alloc on a refilled region: %v, want ErrNoSpace", err)
	}
}

func TestChunksDisjoint(t *testing.T) {
	const bs = 16
	buf := make([]byte, 8*bs)
	r, err := New(buf, bs)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]bool, r.Len())
	var chunks []Chunk
	for range r.Len() {
		c := mustAlloc(t, r)
		i := c.Index()
		if i < 0 || i >= r.Len() || seen[i] {
			t.Fatalf("Alloc returned index %d (seen before: %v), want a fresh one in [0, %d)", i, i >= 0 && i < len(seen) && seen[i], r.Len())
		}
		seen[i] = true
		if c.Offset() != i*bs {
			t.Errorf("chunk %d: Offset %d, want %d", i, c.Offset(), i*bs)
		}
		if c.Region() != r {
			t.Errorf("chunk %d: Region %p, want %p", i, c.Region(), r)
		}
		b := r.Bytes(c)
		if len(b) != bs || cap(b) != bs {
			t.Errorf("chunk %d: Bytes len %d cap %d, want %d %d", i, len(b), cap(b), bs, bs)
		}
		if &b[0] != &buf[c.Offset()] {
			t.Errorf("chunk %d: Bytes does not start at buf[%d]", i, c.Offset())
		}
		for j := range b {
			b[j] = byte(i + 1)
		}
		chunks = append(chunks, c)
	}
	// The cap limit is what stops an append from running into the next chunk.
	_ = append(r.Bytes(chunks[0]), 0xFF)
	for _, c := range chunks {
		if want := bytes.Repeat([]byte{byte(c.Index() + 1)}, bs); !bytes.Equal(r.Bytes(c), want) {
			t.Errorf("chunk %d overwritten: %v, want %v", c.Index(), r.Bytes(c), want)
		}
	}
}

func TestBytesN(t *testing.T) {
	const bs = 8
	r := mustNew(t, 4*bs, bs)
	mustAlloc(t, r)
	c := mustAlloc(t, r) // chunk 1, so a wrong offset would show
	tests := []struct {
		n       int
		wantErr string
	}{
		{0, ""},
		{1, ""},
		{bs, ""},
		{bs + 1, "length 9 exceeds block size 8"},
		{1 << 20, "length 1048576 exceeds block size 8"},
		{-1, "length -1 is negative"},
	}
	for _, tt := range tests {
		b, err := r.BytesN(c, tt.n)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("BytesN(%d) = (%d bytes, %v), want error containing %q", tt.n, len(b), err, tt.wantErr)
			}
			if b != nil {
				t.Errorf("BytesN(%d) returned %d bytes with its error", tt.n, len(b))
			}
			continue
		}
		if err != nil {
			t.Errorf("BytesN(%d): %v", tt.n, err)
			continue
		}
		if len(b) != tt.n || cap(b) != bs {
			t.Errorf("BytesN(%d): len %d cap %d, want %d %d", tt.n, len(b), cap(b), tt.n, bs)
		}
		if full := r.Bytes(c); unsafe.SliceData(b) != unsafe.SliceData(full) {
			t.Errorf("BytesN(%d) does not start where Bytes does", tt.n)
		}
	}
}

func TestForeignChunkAccess(t *testing.T) {
	r := mustNew(t, 64, 16)
	other := mustNew(t, 64, 16)
	oc := mustAlloc(t, other)
	for name, c := range map[string]Chunk{"zero": {}, "other region": oc} {
		if b := r.Bytes(c); b != nil {
			t.Errorf("Bytes(%s chunk) = %d bytes, want nil", name, len(b))
		}
		if _, err := r.BytesN(c, 1); !errors.Is(err, ErrForeignChunk) {
			t.Errorf("BytesN(%s chunk): %v, want ErrForeignChunk", name, err)
		}
	}
	var zero Chunk
	if zero.Index() != -1 || zero.Offset() != -1 || zero.Region() != nil {
		t.Errorf("zero Chunk: Index %d Offset %d Region %p, want -1 -1 nil", zero.Index(), zero.Offset(), zero.Region())
	}
}

func TestBadFree(t *testing.T) {
	tests := []struct {
		name  string
		chunk func(t *testing.T, r, other *Region) Chunk // the bad chunk; r has chunks 0 and 1 allocated
		want  error
	}{
		{"double free", func(t *testing.T, r, _ *Region) Chunk {
			c := mustAlloc(t, r)
			if err := r.Free(c); err != nil {
				t.Fatalf("first Free: %v", err)
			}
			return c
		}, ErrDoubleFree},
		{"zero chunk", func(*testing.T, *Region, *Region) Chunk { return Chunk{} }, ErrForeignChunk},
		{"other region", func(t *testing.T, _, other *Region) Chunk { return mustAlloc(t, other) }, ErrForeignChunk},
		{"other region, index held here", func(t *testing.T, _, other *Region) Chunk {
			mustAlloc(t, other)
			return mustAlloc(t, other) // index 1, which r also has allocated
		}, ErrForeignChunk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, 4*32, 32)
			other := mustNew(t, 4*32, 32)
			mine := []Chunk{mustAlloc(t, r), mustAlloc(t, r)}
			bad := tt.chunk(t, r, other)
			before := r.Avail()

			for range 2 { // repeating must not compound any damage
				err := r.Free(bad)
				if !errors.Is(err, tt.want) {
					t.Fatalf("Free(%s) = %v, want %v", tt.name, err, tt.want)
				}
				if r.Avail() != before {
					t.Fatalf("Avail %d after failed Free, was %d", r.Avail(), before)
				}
			}

			// The region must still be exactly consistent: each free chunk
			// handed out once, then no space, then every chunk freeable.
			held := map[int]bool{}
			for _, c := range mine {
				held[c.Index()] = true
			}
			for r.Avail() > 0 {
				c := mustAlloc(t, r)
				if held[c.Index()] {
					t.Fatalf("Alloc handed out chunk %d, which is already held", c.Index())
				}
				held[c.Index()] = true
				mine = append(mine, c)
			}
			if len(held) != r.Len() {
				t.Errorf("%d distinct chunks allocated, want %d", len(held), r.Len())
			}
			if _, err := r.Alloc(); err != ErrNoSpace {
				t.Errorf("Alloc on full region: %v, want ErrNoSpace", err)
			}
			for _, c := range mine {
				if err := r.Free(c); err != nil {
					t.Errorf("Free(chunk %d): %v", c.Index(), err)
				}
			}
			if r.Avail() != r.Len() {
				t.Errorf("Avail %d after freeing all, want %d", r.Avail(), r.Len())
			}
		})
	}
}

// TestConcurrent has more goroutines than chunks so that chunks change
// hands constantly and Alloc also fails under contention. Ownership is
// checked twice: a claim table that must never be claimed twice, and an
// owner id written over the whole chunk that must survive a yield.
func TestConcurrent(t *testing.T) {
	const (
		workers = 8
		chunks  = 4
		bs      = 64
		iters   = 2000
	)
	r := mustNew(t, chunks*bs, bs)
	var claimed [chunks]atomic.Int32
	var failures atomic.Int32
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		id := byte(w + 1)
		wg.Go(func() {
			for done := 0; done < iters && failures.Load() == 0; {
				c, err := r.Alloc()
				if errors.Is(err, ErrNoSpace) {
					runtime.Gosched()
					continue
				}
				if err != nil {
					fail("worker %d: Alloc: %v", id, err)
					return
				}
				i := c.Index()
				if !claimed[i].CompareAndSwap(0, int32(id)) {
					fail("worker %d got chunk %d, held by worker %d", id, i, claimed[i].Load())
					return
				}
				b := r.Bytes(c)
				for j := range b {
					b[j] = id
				}
				runtime.Gosched()
				for j := range b {
					if b[j] != id {
						fail("worker %d: chunk %d byte %d = %d, another worker wrote it", id, i, j, b[j])
						return
					}
				}
				// Release the claim before Free: afterwards the chunk may
				// already be someone else's.
				claimed[i].Store(0)
				if err := r.Free(c); err != nil {
					fail("worker %d: Free(chunk %d): %v", id, i, err)
					return
				}
				done++
			}
		})
	}
	wg.Wait()
	if r.Avail() != r.Len() {
		t.Errorf("Avail %d after all workers freed their chunks, want %d", r.Avail(), r.Len())
	}
}

func TestMmap(t *testing.T) {
	page := os.Getpagesize()
	for _, size := range []int{1, page - 1, page, page + 1, 3 * page} {
		want := (size + page - 1) / page * page
		b, err := Mmap(size)
		if err != nil {
			t.Fatalf("Mmap(%d): %v", size, err)
		}
		if len(b) != want || cap(b) != want {
			t.Errorf("Mmap(%d): len %d cap %d, want %d", size, len(b), cap(b), want)
		}
		if addr := uintptr(unsafe.Pointer(unsafe.SliceData(b))); addr%uintptr(page) != 0 {
			t.Errorf("Mmap(%d) at %#x, not aligned to %d", size, addr, page)
		}
		for i := range b {
			if b[i] != 0 {
				t.Fatalf("Mmap(%d): byte %d = %d, want zeroed memory", size, i, b[i])
			}
			b[i] = byte(i)
		}
		for i := range b {
			if b[i] != byte(i) {
				t.Fatalf("Mmap(%d): byte %d reads %d after writing %d", size, i, b[i], byte(i))
			}
		}
		if err := Munmap(b); err != nil {
			t.Errorf("Munmap after Mmap(%d): %v", size, err)
		}
	}
}

func TestMmapErrors(t *testing.T) {
	for _, size := range []int{0, -1} {
		if b, err := Mmap(size); err == nil {
			t.Errorf("Mmap(%d) = %d bytes, want an error", size, len(b))
			Munmap(b)
		}
	}
	b, err := Mmap(2 * os.Getpagesize())
	if err != nil {
		t.Fatal(err)
	}
	if err := Munmap(b[:1]); err == nil {
		t.Errorf("Munmap of a reslice succeeded; the mapping was not the slice passed")
	}
	if err := Munmap(b); err != nil {
		t.Fatalf("Munmap: %v", err)
	}
	if err := Munmap(b); err == nil {
		t.Errorf("second Munmap of the same memory succeeded")
	}
}

func TestRegionOverMmap(t *testing.T) {
	page := os.Getpagesize()
	buf, err := Mmap(4 * page)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := Munmap(buf); err != nil {
			t.Errorf("Munmap: %v", err)
		}
	}()
	r, err := New(buf, page)
	if err != nil {
		t.Fatal(err)
	}
	for range r.Len() {
		c := mustAlloc(t, r)
		// Page-sized blocks of page-aligned memory are what O_DIRECT needs.
		if addr := uintptr(unsafe.Pointer(unsafe.SliceData(r.Bytes(c)))); addr%uintptr(page) != 0 {
			t.Errorf("chunk %d at %#x, not page aligned", c.Index(), addr)
		}
	}
}

func TestAllocFreeNoAllocs(t *testing.T) {
	r := mustNew(t, 4*64, 64)
	var failed error
	if n := testing.AllocsPerRun(1000, func() {
		c, err := r.Alloc()
		if err == nil {
			err = r.Free(c)
		}
		if err != nil {
			failed = err
		}
	}); n != 0 {
		t.Errorf("Alloc+Free: %v allocations per run, want 0", n)
	}
	if failed != nil {
		t.Fatalf("Alloc+Free: %v", failed)
	}

	for r.Avail() > 0 {
		mustAlloc(t, r)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := r.Alloc(); err != ErrNoSpace {
			failed = err
		}
	}); n != 0 {
		t.Errorf("Alloc on a full region: %v allocations per run, want 0", n)
	}
	if failed != nil {
		t.Fatalf("Alloc on a full region: %v, want ErrNoSpace", failed)
	}
}

// FuzzRegion runs a sequence of operations against a Region and a model of
// it. The first two bytes pick the size; each further byte is an operation
// in its low two bits and an argument in the rest.
func FuzzRegion(f *testing.F) {
	f.Add([]byte{3, 1, 0, 0, 0, 0, 1, 2, 3, 0})
	f.Add([]byte{0, 0, 0, 2, 1, 2, 3, 7})
	f.Add([]byte{15, 7, 0, 0, 0, 4, 5, 9, 0, 0, 2, 6, 10, 3, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		n, bs := 1+int(data[0]%16), 1+int(data[1]%8)
		r := mustNew(t, n*bs, bs)
		other := mustNew(t, n*bs, bs)
		otherChunk := mustAlloc(t, other)

		var held []Chunk          // model: chunks allocated now
		isHeld := make([]bool, n) // model: by index
		var history []Chunk       // every chunk ever handed out, for stale frees
		stamp := func(c Chunk) byte { return byte(c.Index()*7 + 1) }
		release := func(k int) {
			c := held[k]
			for j, v := range r.Bytes(c) {
				if v != stamp(c) {
					t.Fatalf("chunk %d byte %d = %d, want stamp %d: chunks overlap", c.Index(), j, v, stamp(c))
				}
			}
			isHeld[c.Index()] = false
			held[k] = held[len(held)-1]
			held = held[:len(held)-1]
		}

		for step, op := range data[2:] {
			arg := int(op >> 2)
			switch op & 3 {
			case 0: // alloc
				c, err := r.Alloc()
				if len(held) == n {
					if err != ErrNoSpace {
						t.Fatalf("step %d: Alloc with all %d held = %v, want ErrNoSpace", step, n, err)
					}
					break
				}
				if err != nil {
					t.Fatalf("step %d: Alloc with %d of %d held: %v", step, len(held), n, err)
				}
				i := c.Index()
				if i < 0 || i >= n || isHeld[i] {
					t.Fatalf("step %d: Alloc returned chunk %d, out of range or already held", step, i)
				}
				if c.Offset() != i*bs || c.Region() != r {
					t.Fatalf("step %d: chunk %d Offset %d Region %p, want %d %p", step, i, c.Offset(), c.Region(), i*bs, r)
				}
				for j := range r.Bytes(c) {
					r.Bytes(c)[j] = stamp(c)
				}
				isHeld[i] = true
				held = append(held, c)
				history = append(history, c)
			case 1: // free a held chunk
				if len(held) == 0 {
					break
				}
				k := arg % len(held)
				c := held[k]
				if err := r.Free(c); err != nil {
					t.Fatalf("step %d: Free(held chunk %d): %v", step, c.Index(), err)
				}
				release(k)
			case 2: // free any chunk seen so far: a double free unless reallocated
				if len(history) == 0 {
					break
				}
				c := history[arg%len(history)]
				err := r.Free(c)
				if !isHeld[c.Index()] {
					if !errors.Is(err, ErrDoubleFree) {
						t.Fatalf("step %d: Free(free chunk %d) = %v, want ErrDoubleFree", step, c.Index(), err)
					}
					break
				}
				if err != nil {
					t.Fatalf("step %d: Free(held chunk %d): %v", step, c.Index(), err)
				}
				for k := range held {
					if held[k] == c {
						release(k)
						break
					}
				}
			case 3: // foreign free
				c := otherChunk
				if arg%2 == 0 {
					c = Chunk{}
				}
				if err := r.Free(c); !errors.Is(err, ErrForeignChunk) {
					t.Fatalf("step %d: Free(foreign chunk) = %v, want ErrForeignChunk", step, err)
				}
			}
			if got, want := r.Avail(), n-len(held); got != want {
				t.Fatalf("step %d (op %d): Avail %d, want Len %d - held %d = %d", step, op&3, got, n, len(held), want)
			}
		}

		// Whatever happened, the rest of the region must be allocatable
		// exactly once.
		for len(held) < n {
			c := mustAlloc(t, r)
			if isHeld[c.Index()] {
				t.Fatalf("final fill: chunk %d handed out twice", c.Index())
			}
			isHeld[c.Index()] = true
			held = append(held, c)
		}
		if _, err := r.Alloc(); err != ErrNoSpace {
			t.Fatalf("final fill: Alloc on full region: %v, want ErrNoSpace", err)
		}
	})
}

func BenchmarkAllocFree(b *testing.B) {
	r := mustNew(b, 1024*64, 64)
	b.ReportAllocs()
	for b.Loop() {
		c, err := r.Alloc()
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Free(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAllocFreeParallel(b *testing.B) {
	r := mustNew(b, 1024*64, 64)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := r.Alloc()
			if err != nil {
				b.Error(err)
				return
			}
			if err := r.Free(c); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
