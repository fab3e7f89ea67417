package reactor

import (
	"context"
	"testing"

	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// TestCallbackRule checks that a multishot callback runs with its
// shard's lock held, so that entering the executor from it would
// deadlock, and that the check TestMain turns on catches one that tries.
func TestCallbackRule(t *testing.T) {
	e := newExec(t, Config{Shards: 1})
	rfd, wfd := pipe(t)

	got := make(chan [2]bool, 1)
	o, err := e.StartMultishot(rfd, func(r *Ring, o *Operation) (uring.Job, error) {
		return r.PollMultishot(rfd, uring.PollIn, o)
	}, func(Result) {
		s := e.shards[0]
		locked := !s.mu.TryLock()
		if !locked {
			s.mu.Unlock()
		}
		caught := func() (caught bool) {
			defer func() { caught = recover() != nil }()
			e.Stats()
			return false
		}()
		select {
		case got <- [2]bool{locked, caught}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(wfd, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if r := <-got; !r[0] || !r[1] {
		t.Errorf("in a callback: shard locked %v, entering the executor caught %v; want both", r[0], r[1])
	}
	o.Cancel()
	o.Wait(context.Background())
}
