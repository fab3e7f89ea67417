package uring

import (
	"testing"

	"github.com/uring-go/uring/internal/testutil"
)

// BenchmarkNoop measures queue + submit + collect of noops, batch at a
// time, through the typed API. Compare with liburing's io_uring_prep_nop
// loop at the same batch sizes (cmd/uringbench -only ring). Besides wall
// time it reports the process's CPU time per op, split into user time (the
// Go side: queueing, collecting, slot bookkeeping) and system time (the
// kernel's), since the machine it runs on may be shared.
func BenchmarkNoop(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(map[int]string{1: "batch=1", 64: "batch=64"}[batch], func(b *testing.B) {
			r, err := New[int](64)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			b.ReportAllocs()
			b.ResetTimer()
			usr0, sys0 := testutil.CPUTimes()
			for i := 0; i < b.N; i += batch {
				n := min(batch, b.N-i)
				for j := range n {
					if _, err := r.Noop(j); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := r.Submit(); err != nil {
					b.Fatal(err)
				}
				for range n {
					c, err := r.Wait()
					if err != nil {
						b.Fatal(err)
					}
					if c.Result != 0 {
						b.Fatalf("noop result %d", c.Result)
					}
				}
			}
			b.StopTimer()
			testutil.ReportCPU(b, usr0, sys0)
		})
	}
}
