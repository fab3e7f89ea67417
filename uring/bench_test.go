package uring

import (
	"syscall"
	"testing"
	"time"
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
			usr0, sys0 := cpuTimes()
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
			usr1, sys1 := cpuTimes()
			b.ReportMetric(float64(usr1-usr0)/float64(b.N), "usr-ns/op")
			b.ReportMetric(float64(sys1-sys0)/float64(b.N), "sys-ns/op")
		})
	}
}

// cpuTimes is the process's user and system CPU time so far.
func cpuTimes() (usr, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
