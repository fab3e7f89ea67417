package soak

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

func nonblockingPipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

// Thousands of goroutines submit at once to an executor whose rings take
// 4 entries: noops, page-cache file reads and pipe reads that park until
// written. Every one completes, with its own result.
func TestSubmissionBurst(t *testing.T) {
	testutil.CheckFDs(t)
	e, err := reactor.New(reactor.Config{Shards: 2, QueueDepth: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()

	const fileSize = 1 << 20
	const seed = 31
	path := filepath.Join(t.TempDir(), "f")
	data := make([]byte, fileSize)
	fill(data, seed, 0)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ffd := int(f.Fd())

	const pipes = 512
	type pp struct{ r, w int }
	ps := make([]pp, pipes)
	for i := range ps {
		ps[i].r, ps[i].w = nonblockingPipe(t)
	}

	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	// Pipe reads first, so they are parked in the kernel while the
	// noops and file reads go through.
	var parked sync.WaitGroup
	for i := range ps {
		parked.Add(1)
		wg.Go(func() {
			buf := make([]byte, 8)
			op, err := e.Start(ps[i].r, time.Time{}, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
				return r.Read(ps[i].r, buf, 0, o)
			})
			parked.Done()
			if err != nil {
				report(err)
				return
			}
			res, err := op.Wait(ctx)
			if err != nil || res.Res != 8 || binary.LittleEndian.Uint64(buf) != uint64(i) {
				report(errors.Join(err, fmt.Errorf("pipe read %d: res %d, got %d", i, res.Res, binary.LittleEndian.Uint64(buf))))
			}
		})
	}
	parked.Wait()
	for g := range 2000 {
		wg.Go(func() {
			if g%2 == 0 {
				res, err := e.Do(ctx, g, time.Time{}, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.Noop(o) })
				if err != nil || res.Res != 0 {
					report(errors.Join(err, fmt.Errorf("noop %d: res %d", g, res.Res)))
				}
				return
			}
			buf := make([]byte, 4096)
			off := int64(g*4096) % (fileSize - 4096)
			res, err := e.Do(ctx, ffd, time.Time{}, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
				return r.Read(ffd, buf, off, o)
			})
			if err != nil || res.Res != 4096 || mismatch(buf, seed, off) >= 0 {
				report(errors.Join(err, fmt.Errorf("file read at %d: res %d", off, res.Res)))
			}
		})
	}
	// Now wake every parked pipe read.
	for i, p := range ps {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(i))
		if _, err := unix.Write(p.w, b[:]); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the burst did not complete within 60s: %+v", e.Stats())
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := e.Stats(); st.Active != 0 {
		t.Errorf("operations still active after the burst: %+v", st)
	}
}

// A raw ring with a 4-entry SQ (8-entry CQ) gets hundreds of completions
// before anything is reaped: pipe reads parked in the kernel, then all
// woken at once, and timers firing together. None is lost or duplicated
// (the overflow list holds what the CQ cannot), and submitting while the
// CQ is overflowing works.
func TestCQOverflowRawRing(t *testing.T) {
	testutil.CheckFDs(t)
	r, err := uring.New[int](4)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	queue := func(q func() (uring.Job, error)) {
		t.Helper()
		for {
			_, err := q()
			if err == nil {
				return
			}
			if !errors.Is(err, uring.ErrQueueFull) {
				t.Fatal(err)
			}
			if _, err := r.Submit(); err != nil && !errors.Is(err, syscall.EBUSY) {
				t.Fatal(err)
			}
		}
	}
	const pipes = 256
	const timers = 256
	const noops = 256
	if r.CQSize() >= pipes {
		t.Fatalf("CQ of %d entries: too large to overflow", r.CQSize())
	}
	bufs := make([][8]byte, pipes)
	ws := make([]int, pipes)
	for i := range pipes {
		rfd, wfd := nonblockingPipe(t)
		ws[i] = wfd
		queue(func() (uring.Job, error) { return r.Read(rfd, bufs[i][:], 0, i) })
	}
	for i := range timers {
		queue(func() (uring.Job, error) { return r.Timeout(time.Millisecond, uring.Monotonic, pipes+i) })
	}
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	for i, w := range ws {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(i))
		if _, err := unix.Write(w, b[:]); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond) // the timers fire; nothing reaped yet
	// More submissions with the CQ overflowing.
	for i := range noops {
		queue(func() (uring.Job, error) { return r.Noop(pipes + timers + i) })
	}
	if _, err := r.Submit(); err != nil && !errors.Is(err, syscall.EBUSY) {
		t.Fatal(err)
	}
	seen := make([]bool, pipes+timers+noops)
	for range len(seen) {
		c, ok, err := r.WaitTimeout(10 * time.Second)
		if err != nil || !ok {
			t.Fatalf("after %d completions: %v, %v; stats %+v", countTrue(seen), ok, err, r.Stats())
		}
		if seen[c.Data] {
			t.Fatalf("completion %d delivered twice", c.Data)
		}
		seen[c.Data] = true
		switch {
		case c.Data < pipes:
			if c.Result != 8 || binary.LittleEndian.Uint64(bufs[c.Data][:]) != uint64(c.Data) {
				t.Fatalf("pipe read %d: result %d, data %d", c.Data, c.Result, binary.LittleEndian.Uint64(bufs[c.Data][:]))
			}
		case c.Data < pipes+timers:
			if !errors.Is(c.Err(), syscall.ETIME) {
				t.Fatalf("timer %d: %v, want ETIME", c.Data, c.Err())
			}
		default:
			if c.Result != 0 {
				t.Fatalf("noop %d: result %d", c.Data, c.Result)
			}
		}
	}
	if st := r.Stats(); r.ActiveOps() != 0 || st.Overflow != 0 {
		t.Fatalf("after draining: %d active, stats %+v", r.ActiveOps(), st)
	}
}

func countTrue(s []bool) int {
	n := 0
	for _, b := range s {
		if b {
			n++
		}
	}
	return n
}
