package ring

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func newRing(t *testing.T, entries uint32, p *Params) *Ring {
	t.Helper()
	if p == nil {
		p = &Params{}
	}
	r, err := New(entries, p)
	if err != nil {
		t.Fatalf("io_uring_setup(%d): %v", entries, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestNoopRoundTrip(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing(t, 4, nil)
	if r.SQEntries() != 4 || r.CQEntries() != 8 {
		t.Fatalf("entries = %d/%d, want 4/8", r.SQEntries(), r.CQEntries())
	}
	for i := range 4 {
		sqe := r.GetSQE()
		if sqe == nil {
			t.Fatalf("GetSQE %d: queue full early", i)
		}
		sqe.Opcode = IORING_OP_NOP
		sqe.UserData = uint64(100 + i)
	}
	if r.GetSQE() != nil {
		t.Fatal("GetSQE on a full queue returned an entry")
	}
	if n := r.Flush(); n != 4 {
		t.Fatalf("Flush = %d, want 4", n)
	}
	n, err := Enter(r.Fd, 4, 4, IORING_ENTER_GETEVENTS, nil, 0)
	if err != nil || n != 4 {
		t.Fatalf("Enter = %d, %v", n, err)
	}
	for i := range 4 {
		cqe, ok := r.PeekCQE()
		if !ok {
			t.Fatalf("CQE %d missing", i)
		}
		r.AdvanceCQ(1)
		if cqe.UserData != uint64(100+i) || cqe.Res != 0 {
			t.Errorf("CQE %d = %+v", i, cqe)
		}
	}
	if _, ok := r.PeekCQE(); ok {
		t.Error("extra CQE")
	}
}

// TestOverflowLosesNothing completes far more operations than the CQ holds
// before reaping any, and counts every completion. With
// IORING_FEAT_NODROP the kernel keeps the surplus on its overflow list and
// sets IORING_SQ_CQ_OVERFLOW; entering with GETEVENTS flushes it back.
func TestOverflowLosesNothing(t *testing.T) {
	r := newRing(t, 8, nil)
	if r.Params.Features&IORING_FEAT_NODROP == 0 {
		t.Skip("kernel lacks IORING_FEAT_NODROP")
	}
	const total = 1000 // CQ holds 16
	seen := make([]bool, total)
	next := 0
	for next < total {
		for next < total {
			sqe := r.GetSQE()
			if sqe == nil {
				break
			}
			sqe.Opcode = IORING_OP_NOP
			sqe.UserData = uint64(next)
			next++
		}
		r.Flush()
		if _, err := Enter(r.Fd, r.SQReady(), 0, 0, nil, 0); err != nil && !errors.Is(err, unix.EBUSY) {
			t.Fatalf("submit: %v", err)
		}
	}
	if r.SQFlags()&IORING_SQ_CQ_OVERFLOW == 0 {
		t.Fatal("CQ did not overflow; the test proves nothing")
	}
	got := 0
	for got < total {
		n := r.CQReady()
		if n == 0 {
			if _, err := Enter(r.Fd, 0, 1, IORING_ENTER_GETEVENTS, nil, 0); err != nil {
				t.Fatalf("flush overflow: %v", err)
			}
			continue
		}
		for i := range n {
			cqe := r.CQEAt(i)
			if cqe.UserData >= total || seen[cqe.UserData] {
				t.Fatalf("bad or duplicate completion %d", cqe.UserData)
			}
			seen[cqe.UserData] = true
		}
		r.AdvanceCQ(n)
		got += int(n)
	}
	if r.Overflow() != 0 {
		t.Errorf("kernel dropped %d completions", r.Overflow())
	}
	if r.SQFlags()&IORING_SQ_CQ_OVERFLOW != 0 {
		t.Error("overflow flag still set after draining everything")
	}
}

func TestTimedWait(t *testing.T) {
	r := newRing(t, 4, nil)
	if r.Params.Features&IORING_FEAT_EXT_ARG == 0 {
		t.Skip("kernel lacks IORING_FEAT_EXT_ARG")
	}
	ts := Timespec{Nsec: 5e6}
	arg := GeteventsArg{Ts: uint64(uintptr(unsafe.Pointer(&ts)))}
	_, err := Enter(r.Fd, 0, 1, IORING_ENTER_GETEVENTS|IORING_ENTER_EXT_ARG, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
	if !errors.Is(err, unix.ETIME) && !errors.Is(err, unix.EINTR) {
		t.Fatalf("timed wait on an empty ring = %v, want ETIME", err)
	}
}

func TestProbe(t *testing.T) {
	r := newRing(t, 2, nil)
	var p Probe
	if _, err := Register(r.Fd, IORING_REGISTER_PROBE, unsafe.Pointer(&p), uint32(len(p.Ops))); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if p.Header.OpsLen == 0 || p.Ops[IORING_OP_NOP].Flags&IO_URING_OP_SUPPORTED == 0 {
		t.Fatalf("probe says NOP unsupported: %+v", p.Header)
	}
	t.Logf("kernel's last opcode: %d", p.Header.LastOp)
}
