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
