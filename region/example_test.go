package region_test

import (
	"errors"
	"fmt"

	"github.com/uring-go/uring/region"
)

func Example() {
	// In real use the buffer comes from region.Mmap and is registered with
	// the ring; plain memory is enough to show the bookkeeping.
	r, err := region.New(make([]byte, 4096), 1024)
	if err != nil {
		panic(err)
	}
	c, err := r.Alloc()
	if err != nil {
		panic(err)
	}
	n := copy(r.Bytes(c), "hello")
	msg, _ := r.BytesN(c, n)
	fmt.Printf("chunk %d at offset %d holds %q; %d of %d free\n", c.Index(), c.Offset(), msg, r.Avail(), r.Len())

	if err := r.Free(c); err != nil {
		panic(err)
	}
	fmt.Println("after Free:", r.Avail(), "free")
	// Output:
	// chunk 0 at offset 0 holds "hello"; 3 of 4 free
	// after Free: 4 free
}

func ExampleRegion_Alloc() {
	r, _ := region.New(make([]byte, 2*512), 512)
	a, _ := r.Alloc()
	b, _ := r.Alloc()
	fmt.Println("offsets:", a.Offset(), b.Offset())

	if _, err := r.Alloc(); errors.Is(err, region.ErrNoSpace) {
		fmt.Println("full; free a chunk first")
	}
	r.Free(a)
	c, _ := r.Alloc()
	fmt.Println("reused offset:", c.Offset())
	// Output:
	// offsets: 0 512
	// full; free a chunk first
	// reused offset: 0
}

func ExampleRegion_Free() {
	r, _ := region.New(make([]byte, 1024), 256)
	c, _ := r.Alloc()
	fmt.Println(r.Free(c))

	err := r.Free(c)
	fmt.Println(errors.Is(err, region.ErrDoubleFree), r.Avail())

	err = r.Free(region.Chunk{})
	fmt.Println(errors.Is(err, region.ErrForeignChunk))
	// Output:
	// <nil>
	// true 4
	// true
}
