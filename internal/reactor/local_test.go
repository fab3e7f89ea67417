package reactor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// Many goroutines run batchable operations at once: file reads that
// complete inline, mixed with timeouts that complete later through the
// reaper. Every read returns its own bytes and every timeout wakes its
// goroutine, whoever submitted it.
func TestStartLocalManyGoroutines(t *testing.T) {
	testutil.CheckFDs(t)
	e := newExec(t, Config{Shards: 2, QueueDepth: 8})
	const blocks, blockSize = 64, 512
	content := make([]byte, blocks*blockSize)
	for i := range content {
		content[i] = byte(i*7 + i/blockSize)
	}
	p := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	const goroutines, perG = 64, 100
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, blockSize)
			for i := range perG {
				if (g+i)%10 == 0 {
					o, err := e.StartLocal(func(r *Ring, o *Operation) (uring.Job, error) {
						return r.Timeout(time.Millisecond, uring.Monotonic, o)
					})
					if err != nil {
						t.Error(err)
						return
					}
					if _, err := o.Wait(context.Background()); err != syscall.ETIME {
						t.Errorf("timeout: %v, want ETIME", err)
						return
					}
					continue
				}
				off := int64((g*perG+i)%blocks) * blockSize
				clear(buf)
				o, err := e.StartLocal(func(r *Ring, o *Operation) (uring.Job, error) { return r.Read(fd, buf, off, o) })
				if err != nil {
					t.Error(err)
					return
				}
				res, err := o.Wait(context.Background())
				if err != nil || res.Res != blockSize {
					t.Errorf("read at %d: %d, %v", off, res.Res, err)
					return
				}
				if !bytes.Equal(buf, content[off:off+blockSize]) {
					t.Errorf("read at %d returned other bytes", off)
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := e.Stats(); st.Active != 0 {
		t.Fatalf("%d operations still active", st.Active)
	}
}

// CancelFd reaches operations on every ring, whichever processor started
// them.
func TestCancelFdEveryRing(t *testing.T) {
	testutil.CheckFDs(t)
	e := newExec(t, Config{Shards: 3})
	rfd, _ := pipe(t)
	var ops []*Operation
	for _, s := range e.shards {
		o, err := e.startOn(s, time.Time{}, func(r *Ring, o *Operation) (uring.Job, error) {
			return r.PollAdd(rfd, uring.PollIn, o)
		}, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, o)
	}
	e.CancelFd(rfd)
	// An operation CancelFd missed would wait for this context instead.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, o := range ops {
		if _, err := o.Wait(ctx); !errors.Is(err, syscall.ECANCELED) {
			t.Errorf("poll on ring %d: %v, want ECANCELED", i, err)
		}
	}
}

// The yield policy: a yield that batched nothing makes yields rarer, up to
// one in maxYieldBackoff operations, and one that batched others makes
// every operation yield again, for at least maxYieldCredit failures.
func TestYieldPolicy(t *testing.T) {
	var s shard
	yields := func(n int) int {
		c := 0
		for range n {
			if s.yieldNow() {
				c++
				s.yielded(false)
			}
		}
		return c
	}
	if !s.yieldNow() {
		t.Fatal("a fresh ring does not try yielding")
	}
	// A lone goroutine: its yields never batch anything.
	if got := yields(100000); got > 200 {
		t.Fatalf("%d of 100000 lone operations yielded", got)
	}
	if s.yieldBackoff.Load() != maxYieldBackoff {
		t.Fatalf("backoff %d after repeated useless yields, want %d", s.yieldBackoff.Load(), maxYieldBackoff)
	}
	// Others show up: one useful yield and every operation yields,
	// through maxYieldCredit useless ones.
	for s.yieldNow() == false {
	}
	s.yielded(true)
	if got := yields(maxYieldCredit); got != maxYieldCredit {
		t.Fatalf("%d of %d operations yielded after a useful yield", got, maxYieldCredit)
	}
	if s.yieldNow() {
		s.yielded(false)
	}
	if s.yieldNow() {
		t.Fatal("still yielding after the credit ran out and a yield failed")
	}
}

// A batchable round trip allocates nothing either.
func TestStartLocalNoAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random")
	}
	e := newExec(t, Config{Shards: 2})
	p := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(p, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 4)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(500, func() {
		o, err := e.StartLocal(func(r *Ring, o *Operation) (uring.Job, error) { return r.Read(fd, buf, 2, o) })
		if err != nil {
			t.Fatal(err)
		}
		if res, err := o.Wait(ctx); err != nil || res.Res != 4 {
			t.Fatalf("read: %d, %v", res.Res, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batchable read", allocs)
	}
}

// Close racing goroutines that queue batchable operations, some of them
// between queueing and entering after a yield: none touches a closed
// ring, every operation started is finished, and later ones get
// ErrClosed.
func TestCloseRacesLocalSubmitters(t *testing.T) {
	testCloseRaces(t, 2, 16, 100, func(e *Executor) error {
		o, err := e.StartLocal(noop)
		if err != nil {
			return err
		}
		o.Wait(context.Background())
		return nil
	})
}
