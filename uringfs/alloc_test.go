package uringfs

import (
	"path/filepath"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
)

// ReadAt and WriteAt of a page-cached file allocate nothing: the
// executor's Op is pooled and the prep closure stays on the stack.
func TestReadWriteAtAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random")
	}
	f, _ := spliceData(t, 1<<16, 0)
	buf := make([]byte, 4096)
	allocs := testing.AllocsPerRun(500, func() {
		if _, err := f.ReadAt(buf, 8192); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per ReadAt", allocs)
	}
	w, err := Create(filepath.Join(t.TempDir(), "w"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	allocs = testing.AllocsPerRun(500, func() {
		if _, err := w.WriteAt(buf, 4096); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per WriteAt", allocs)
	}
}

// A batch allocates nothing once its File has an idle ring: 256
// page-cache reads at depth 8 wait about 32 times in io_uring_enter, and
// neither the waits (which once allocated one object each) nor the
// record that lets Close wake the batch (once a func to defer, one
// object per batch) allocate.
func TestReadBatchAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("the race detector allocates")
	}
	f, _ := spliceData(t, 1<<20, 0)
	const n, size = 256, 4096
	buf := make([]byte, n*size)
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{Off: int64(i) * size, Buf: buf[i*size : (i+1)*size]}
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := f.ReadBatch(reqs, 8); err != nil {
			t.Fatal(err)
		}
	})
	for i, q := range reqs {
		if q.Err != nil || q.N != size {
			t.Fatalf("request %d: %d bytes, %v", i, q.N, q.Err)
		}
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per ReadBatch of %d requests at depth 8", allocs, n)
	}
}
