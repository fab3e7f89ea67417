package ring

import (
	"testing"

	"github.com/uring-go/uring/internal/testutil"
)

// BenchmarkNoop is the floor under uring.Ring's BenchmarkNoop: the same
// noop loop (queue a batch, submit, collect each) on the raw ring, with no
// slots, user data or completions to build. The difference between the two
// is the typed API's bookkeeping.
func BenchmarkNoop(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(map[int]string{1: "batch=1", 64: "batch=64"}[batch], func(b *testing.B) {
			r, err := New(64, &Params{})
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
					sqe := r.GetSQE()
					sqe.Opcode = IORING_OP_NOP
					sqe.UserData = uint64(j)
				}
				r.PublishCQ()
				if _, err := EnterNoWait(r.Fd, r.Flush(), 0); err != nil {
					b.Fatal(err)
				}
				for range n {
					cqe, ok := r.PeekCQE()
					if !ok {
						b.Fatal("no completion")
					}
					r.AdvanceCQ(1)
					if cqe.Res != 0 {
						b.Fatalf("noop result %d", cqe.Res)
					}
				}
			}
			b.StopTimer()
			testutil.ReportCPU(b, usr0, sys0)
		})
	}
}
