package uring

import (
	"errors"
	"testing"

	"github.com/uring-go/uring/internal/ring"
	"github.com/uring-go/uring/internal/testutil"
)

// postCQE has the kernel post a completion with user data ud and result
// res into r's CQ (IORING_OP_MSG_RING from a second, raw ring): one that
// names no operation r queued, or one r already collected.
func postCQE[T any](t *testing.T, r *Ring[T], ud uint64, res int32) {
	t.Helper()
	src, err := ring.New(2, &ring.Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	sqe := src.GetSQE()
	sqe.Opcode = ring.IORING_OP_MSG_RING
	sqe.Fd = int32(r.Fd())
	sqe.Len = uint32(res)
	sqe.Off = ud // the target CQE's user data
	sqe.UserData = 1
	if _, err := ring.Enter(src.Fd, src.Flush(), 1, ring.IORING_ENTER_GETEVENTS, nil, 0); err != nil {
		t.Fatalf("io_uring_enter (msg_ring): %v", err)
	}
	cqe, ok := src.PeekCQE()
	if !ok || cqe.Res != 0 {
		t.Fatalf("msg_ring: completion %+v, %v", cqe, ok)
	}
}

// TestStrayCompletions: a completion whose user data names a slot that
// was never used, or an earlier user of a slot now reused, is counted as
// stray and never handed out, and the slot's present operation still
// completes with its own data; a Job of the earlier user is done for
// good.
func TestStrayCompletions(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	if !r.OpSupported(OpMsgRing) {
		t.Skip("kernel lacks IORING_OP_MSG_RING")
	}
	old, err := r.Noop(1)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := r.Wait(); err != nil || c.Data != 1 || c.Job != old {
		t.Fatalf("Wait = %+v, %v", c, err)
	}
	// The slot is free; a second noop reuses it under a new generation.
	cur, err := r.Noop(2)
	if err != nil {
		t.Fatal(err)
	}
	if cur.idx != old.idx || cur == old {
		t.Fatalf("second job %+v after %+v: want the same slot, another generation", cur, old)
	}
	if err := r.SetSQEFlags(old, IODrain); !errors.Is(err, ErrJobDone) {
		t.Errorf("SetSQEFlags on the slot's earlier job = %v, want ErrJobDone", err)
	}
	postCQE(t, r, old.userData(), 7)                    // the slot's earlier user
	postCQE(t, r, Job{idx: 1000, gen: 1}.userData(), 8) // beyond the slot table
	postCQE(t, r, Job{idx: cur.idx, gen: 0}.userData(), 9)
	c, err := r.Wait()
	if err != nil || c.Data != 2 || c.Job != cur || c.Result != 0 {
		t.Fatalf("Wait = %+v, %v; want the second noop", c, err)
	}
	if _, ok, err := r.Peek(); ok || err != nil {
		t.Errorf("Peek after the strays = %v, %v; want nothing", ok, err)
	}
	if s := r.Stats(); s.Stray != 3 || s.Completed != 2 || s.ActiveOps != 0 || s.Slots != 1 {
		t.Errorf("Stats = %+v, want 3 stray, 2 completed, 0 active, 1 slot", s)
	}
}

// TestSlotReuse: slots freed by collected operations are reused before
// the table grows, and the table grows only to the most operations
// active at once.
func TestSlotReuse(t *testing.T) {
	r := newRing[int](t, 8)
	for round := range 3 {
		jobs := map[Job]int{}
		for i := range 5 {
			j, err := r.Noop(round*10 + i)
			if err != nil {
				t.Fatal(err)
			}
			jobs[j] = round*10 + i
		}
		for range 5 {
			c, err := r.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := jobs[c.Job]; !ok || d != c.Data {
				t.Fatalf("round %d: completion %+v matches no queued job", round, c)
			}
			delete(jobs, c.Job)
		}
	}
	if s := r.Stats(); s.Slots != 5 || s.ActiveOps != 0 {
		t.Errorf("Stats = %+v, want 5 slots, 0 active", s)
	}
}
