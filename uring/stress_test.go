package uring

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Vectored I/O hands the kernel addresses stored in Go memory (the iovec
// array): the ring pins the buffers and keeps everything reachable until
// the completion is collected. Thousands of writev/readv pairs run while
// the garbage collector runs without pause, and every byte is checked.
func TestGCStressVectored(t *testing.T) {
	r := newRing[int](t, 64)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
				_ = make([]byte, 1<<16) // churn the heap
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	const pipes, rounds = 16, 200
	type end struct{ r, w int }
	ends := make([]end, pipes)
	for i := range ends {
		ends[i].r, ends[i].w = nbpipe(t)
	}
	bufsFor := func(p, i int) [][]byte {
		// Buffers made fresh each round and dropped by this function, so
		// only the ring keeps them alive.
		return [][]byte{
			bytes.Repeat([]byte{byte(p)}, 7),
			bytes.Repeat([]byte{byte(i)}, 100),
			bytes.Repeat([]byte{byte(p + i)}, 13),
		}
	}
	type pending struct {
		p, i int
		bufs [][]byte
	}
	reads := map[int]pending{}
	next := 0
	for i := range rounds {
		for p := range pipes {
			if _, err := r.Writev(ends[p].w, bufsFor(p, i), 0, -1); err != nil {
				t.Fatal(err)
			}
			rb := [][]byte{make([]byte, 7), make([]byte, 100), make([]byte, 13)}
			if _, err := r.Readv(ends[p].r, rb, 0, next); err != nil {
				t.Fatal(err)
			}
			reads[next] = pending{p, i, rb}
			next++
			if _, err := r.Submit(); err != nil {
				t.Fatal(err)
			}
		}
		for r.ActiveOps() > 0 {
			c, ok, err := r.WaitTimeout(10 * time.Second)
			if err != nil || !ok {
				t.Fatalf("wait: %v %v", ok, err)
			}
			if c.Err() != nil || c.Result != 120 {
				t.Fatalf("op %d: %d %v", c.Data, c.Result, c.Err())
			}
			if c.Data < 0 {
				continue
			}
			rd := reads[c.Data]
			delete(reads, c.Data)
			want := bufsFor(rd.p, rd.i)
			for k := range want {
				if !bytes.Equal(rd.bufs[k], want[k]) {
					t.Fatalf("pipe %d round %d buffer %d corrupted", rd.p, rd.i, k)
				}
			}
		}
	}
}

// Queueing, submitting and collecting allocate nothing.
func TestNoAllocs(t *testing.T) {
	r := newRing[int](t, 8)
	rfd, wfd := pipe(t)
	buf := make([]byte, 8)
	msg := []byte("12345678")
	allocs := testing.AllocsPerRun(1000, func() {
		r.Noop(1)
		r.Write(wfd, msg, 0, 2)
		r.Read(rfd, buf, 0, 3)
		r.Submit()
		for range 3 {
			if _, err := r.Wait(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per noop+write+read round", allocs)
	}
	bufs := [][]byte{msg[:3], msg[3:]}
	rbufs := [][]byte{buf[:5], buf[5:]}
	allocs = testing.AllocsPerRun(1000, func() {
		r.Writev(wfd, bufs, 0, 1)
		r.Readv(rfd, rbufs, 0, 2)
		for range 2 {
			if c, err := r.Wait(); err != nil || c.Result != 8 {
				t.Fatalf("%+v %v", c, err)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per writev+readv round", allocs)
	}
}

// With SQPOLL a kernel thread consumes the submission queue; Submit needs
// no system call while it is awake, and wakes it when it sleeps.
func TestSQPoll(t *testing.T) {
	r, err := New[int](8, WithSQPoll(10*time.Millisecond))
	if err != nil {
		t.Skipf("SQPOLL unavailable here: %v", err)
	}
	defer r.Close()
	rfd, wfd := pipe(t)
	for round := range 3 {
		for i := range 4 {
			if _, err := r.Noop(i); err != nil {
				t.Fatal(err)
			}
		}
		r.Write(wfd, []byte{byte(round)}, 0, 10)
		buf := make([]byte, 1)
		r.Read(rfd, buf, 0, 11)
		if _, err := r.Submit(); err != nil {
			t.Fatal(err)
		}
		for range 6 {
			c := wait(t, r)
			if c.Err() != nil {
				t.Fatalf("op %d: %v", c.Data, c.Err())
			}
		}
		if buf[0] != byte(round) {
			t.Fatalf("round %d read %d", round, buf[0])
		}
		// Let the poller go idle so the next round must wake it.
		time.Sleep(30 * time.Millisecond)
	}
}

// SubmitAndWait hands over what is queued and waits in one system call;
// with a timeout and nothing completing it returns after the timeout.
func TestSubmitAndWait(t *testing.T) {
	r := newRing[int](t, 8)
	rfd, wfd := pipe(t)
	buf := make([]byte, 1)
	r.Read(rfd, buf, 0, 1)
	before := r.Stats().Enters
	start := time.Now()
	n, err := r.SubmitAndWait(20 * time.Millisecond)
	if err != nil || n != 1 {
		t.Fatalf("SubmitAndWait = %d, %v", n, err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("returned before the timeout with nothing complete")
	}
	if got := r.Stats().Enters - before; got != 1 {
		t.Fatalf("%d enters, want 1", got)
	}
	if _, ok, _ := r.Peek(); ok {
		t.Fatal("a completion with no data written")
	}
	r.Noop(2)
	if n, err := r.SubmitAndWait(-1); err != nil || n != 1 {
		t.Fatalf("SubmitAndWait(-1) = %d, %v", n, err)
	}
	if c, ok, _ := r.Peek(); !ok || c.Data != 2 {
		t.Fatalf("Peek = %+v %v", c, ok)
	}
	unixWrite(wfd, "x")
	c := wait(t, r)
	if c.Data != 1 || c.Result != 1 {
		t.Fatalf("read: %+v", c)
	}
}
