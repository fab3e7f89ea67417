package reactor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// TestMain checks the callback rule (see CheckCallbacks) in every test.
func TestMain(m *testing.M) {
	CheckCallbacks()
	testutil.Main(m)
}

func newExec(t testing.TB, cfg Config) *Executor {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func pipe(t testing.TB) (int, int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

func noop(r *Ring, o *Operation) (uring.Job, error) { return r.Noop(o) }

func read(fd int, buf []byte) Prep {
	return func(r *Ring, o *Operation) (uring.Job, error) { return r.Read(fd, buf, 0, o) }
}

func write(fd int, buf []byte) Prep {
	return func(r *Ring, o *Operation) (uring.Job, error) { return r.Write(fd, buf, 0, o) }
}

func TestNoop(t *testing.T) {
	testutil.CheckFDs(t)
	e := newExec(t, Config{Shards: 2, QueueDepth: 8})
	for i := range 100 {
		res, err := e.Do(context.Background(), i, time.Time{}, noop)
		if err != nil || res.Res != 0 {
			t.Fatalf("noop %d: %+v %v", i, res, err)
		}
	}
}

// Many goroutines at once, more than the queue depth: each gets its own
// completion and nothing is lost.
func TestManyGoroutines(t *testing.T) {
	e := newExec(t, Config{Shards: 2, QueueDepth: 4})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if _, err := e.Do(context.Background(), g+i, time.Time{}, noop); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := e.Stats()
	if st.Completed < 64*200 || st.Active != 0 {
		t.Fatalf("stats: %+v", st)
	}
	t.Logf("%d ops in %d enters", st.Completed, st.Enters)
}

// A read with no data parks until a write arrives, then gets every byte.
func TestBlockedReadIsWoken(t *testing.T) {
	e := newExec(t, Config{Shards: 1})
	rfd, wfd := pipe(t)
	done := make(chan error, 1)
	buf := make([]byte, 5)
	go func() {
		res, err := e.Do(context.Background(), rfd, time.Time{}, read(rfd, buf))
		if err == nil && res.Res != 5 {
			err = fmt.Errorf("read %d bytes", res.Res)
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("read returned before any write: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	unix.Write(wfd, []byte("hello"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if string(buf) != "hello" {
		t.Fatalf("read %q", buf)
	}
}

func TestContextCancel(t *testing.T) {
	e := newExec(t, Config{Shards: 1})
	rfd, wfd := pipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.Do(ctx, rfd, time.Time{}, read(rfd, make([]byte, 1)))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read = %v, want context.Canceled", err)
	}
	if st := e.Stats(); st.Active != 0 {
		t.Fatalf("%d operations still active after cancel", st.Active)
	}
	// Nothing was consumed by the cancelled read.
	unix.Write(wfd, []byte("z"))
	buf := make([]byte, 1)
	if res, err := e.Do(context.Background(), rfd, time.Time{}, read(rfd, buf)); err != nil || res.Res != 1 || buf[0] != 'z' {
		t.Fatalf("read after cancel: %+v %v %q", res, err, buf)
	}
}

func TestDeadline(t *testing.T) {
	e := newExec(t, Config{Shards: 1})
	rfd, _ := pipe(t)
	start := time.Now()
	_, err := e.Do(context.Background(), rfd, time.Now().Add(20*time.Millisecond), read(rfd, make([]byte, 1)))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline = %v, want os.ErrDeadlineExceeded", err)
	}
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Fatalf("returned after %v, before the deadline", el)
	}
	if _, err := e.Do(context.Background(), rfd, time.Now().Add(-time.Second), read(rfd, make([]byte, 1))); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("deadline in the past = %v", err)
	}
	// A deadline that does not expire changes nothing.
	_, wfd := pipe(t)
	if res, err := e.Do(context.Background(), wfd, time.Now().Add(time.Minute), write(wfd, []byte("ok"))); err != nil || res.Res != 2 {
		t.Fatalf("write with a far deadline: %+v %v", res, err)
	}
}

// Cancel racing completion: every byte written is read exactly once,
// either by the read being cancelled or by the next one.
func TestCancelRacesCompletion(t *testing.T) {
	e := newExec(t, Config{Shards: 1})
	rfd, wfd := pipe(t)
	var got []byte
	for i := range 300 {
		ctx, cancel := context.WithCancel(context.Background())
		buf := make([]byte, 1)
		o, err := e.Start(rfd, time.Time{}, read(rfd, buf))
		if err != nil {
			t.Fatal(err)
		}
		go unix.Write(wfd, []byte{byte(i)})
		if i%2 == 0 {
			cancel()
		} else {
			go cancel()
		}
		res, err := o.Wait(ctx)
		if err == nil && res.Res == 1 {
			got = append(got, buf[0])
		}
		cancel()
	}
	// Collect whatever the cancelled reads left in the pipe.
	for len(got) < 300 {
		buf := make([]byte, 300)
		res, err := e.Do(context.Background(), rfd, time.Now().Add(time.Second), read(rfd, buf))
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:res.Res]...)
	}
	seen := map[byte]int{}
	for _, b := range got {
		seen[b]++
	}
	for i := range 300 {
		if seen[byte(i)] == 0 {
			t.Fatalf("byte %d lost", i)
		}
	}
	if len(got) != 300 {
		t.Fatalf("read %d bytes, wrote 300", len(got))
	}
}

// Operations parked in the kernel hold no OS thread.
func TestNoThreadPerBlockedOp(t *testing.T) {
	e := newExec(t, Config{Shards: 2})
	threads := func() int {
		ents, _ := os.ReadDir("/proc/self/task")
		return len(ents)
	}
	before := threads()
	const n = 500
	var wg sync.WaitGroup
	wfds := make([]int, n)
	for i := range n {
		rfd, wfd := pipe(t)
		wfds[i] = wfd
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1)
			if _, err := e.Do(context.Background(), rfd, time.Time{}, read(rfd, buf)); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	during := threads()
	for _, w := range wfds {
		unix.Write(w, []byte("x"))
	}
	wg.Wait()
	if during-before > 20 {
		t.Fatalf("threads grew from %d to %d with %d blocked reads", before, during, n)
	}
}

// An idle executor uses no CPU: nothing polls on a timer.
func TestIdleUsesNoCPU(t *testing.T) {
	e := newExec(t, Config{Shards: 2})
	e.Do(context.Background(), 0, time.Time{}, noop)
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	before := cpu()
	time.Sleep(500 * time.Millisecond)
	if used := cpu() - before; used > 50*time.Millisecond {
		t.Fatalf("idle executor used %v of CPU in 500ms", used)
	}
}

// Go memory handed to the kernel stays put and alive while the garbage
// collector runs constantly: thousands of reads and writes through pipes,
// every byte checked.
func TestGCStress(t *testing.T) {
	e := newExec(t, Config{Shards: 2, QueueDepth: 16})
	stop := make(chan struct{})
	var gcwg sync.WaitGroup
	gcwg.Add(1)
	go func() {
		defer gcwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer func() { close(stop); gcwg.Wait() }()
	var wg sync.WaitGroup
	for g := range 32 {
		rfd, wfd := pipe(t)
		wg.Add(2)
		const rounds, size = 100, 512
		go func() {
			defer wg.Done()
			for i := range rounds {
				msg := bytes.Repeat([]byte{byte(g + i)}, size)
				for len(msg) > 0 {
					res, err := e.Do(context.Background(), wfd, time.Time{}, write(wfd, msg))
					if err != nil {
						t.Error(err)
						return
					}
					msg = msg[res.Res:]
				}
			}
		}()
		go func() {
			defer wg.Done()
			var got int
			for got < rounds*size {
				buf := make([]byte, 300)
				res, err := e.Do(context.Background(), rfd, time.Time{}, read(rfd, buf))
				if err != nil {
					t.Error(err)
					return
				}
				for _, b := range buf[:res.Res] {
					if want := byte(g + got/size); b != want {
						t.Errorf("byte %d: got %d, want %d", got, b, want)
						return
					}
					got++
				}
			}
		}()
	}
	wg.Wait()
}

func TestClose(t *testing.T) {
	testutil.CheckFDs(t)
	e, err := New(Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	rfd, _ := pipe(t)
	done := make(chan error, 1)
	go func() {
		_, err := e.Do(context.Background(), rfd, time.Time{}, read(rfd, make([]byte, 1)))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("read blocked across Close returned no error")
	}
	if _, err := e.Do(context.Background(), 0, time.Time{}, noop); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close = %v", err)
	}
	if err := e.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
}

func BenchmarkNoopRoundTrip(b *testing.B) {
	for _, par := range []int{1, 64} {
		b.Run(fmt.Sprintf("goroutines=%d", par), func(b *testing.B) {
			e := newExec(b, Config{})
			b.ReportAllocs()
			before := e.Stats()
			if par == 1 {
				for i := 0; i < b.N; i++ {
					if _, err := e.Do(context.Background(), 0, time.Time{}, noop); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism((par + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						i++
						if _, err := e.Do(context.Background(), i, time.Time{}, noop); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			after := e.Stats()
			b.ReportMetric(float64(after.Completed-before.Completed)/float64(max(1, after.Enters-before.Enters)), "ops/enter")
		})
	}
}

// A multishot poll delivers every readiness event to the callback until it
// is cancelled; Wait then returns the final completion.
func TestMultishot(t *testing.T) {
	e := newExec(t, Config{Shards: 1})
	rfd, wfd := pipe(t)
	events := make(chan Result, 16)
	o, err := e.StartMultishot(rfd, func(r *Ring, o *Operation) (uring.Job, error) {
		return r.PollMultishot(rfd, uring.PollIn, o)
	}, func(res Result) { events <- res })
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	for i := range 3 {
		unix.Write(wfd, []byte{byte(i)})
		select {
		case res := <-events:
			if uring.PollMask(res.Res)&uring.PollIn == 0 || !res.More() {
				t.Fatalf("event %d: %+v", i, res)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d never arrived", i)
		}
		unix.Read(rfd, buf)
	}
	o.Cancel()
	if _, err := o.Wait(context.Background()); !errors.Is(err, ErrCanceled) {
		t.Fatalf("Wait after Cancel = %v, want ErrCanceled", err)
	}
}

// A zero-copy send posts its result and then a notification; Wait returns
// the byte count, after the notification.
func TestSendZC(t *testing.T) {
	e := newExec(t, Config{Shards: 1})
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	unix.Listen(ln, 1)
	sa, _ := unix.Getsockname(ln)
	c, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(c)
	if err := unix.Connect(c, sa); err != nil {
		t.Fatal(err)
	}
	msg := []byte("zero-copy")
	for range 3 {
		res, err := e.Do(context.Background(), c, time.Time{}, func(r *Ring, o *Operation) (uring.Job, error) {
			return r.SendZC(c, msg, 0, o)
		})
		if errors.Is(err, errors.ErrUnsupported) {
			t.Skip(err)
		}
		if err != nil || int(res.Res) != len(msg) {
			t.Fatalf("send_zc = %+v, %v", res, err)
		}
	}
	if st := e.Stats(); st.Active != 0 {
		t.Fatalf("%d ops active after send_zc returned", st.Active)
	}
}

// A round trip through the executor allocates nothing: the Operation is pooled
// and the prep closure does not escape.
func TestDoNoAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random")
	}
	e := newExec(t, Config{Shards: 1})
	rfd, wfd := pipe(t)
	buf := make([]byte, 4)
	msg := []byte("ping")
	ctx := context.Background()
	allocs := testing.AllocsPerRun(500, func() {
		if _, err := e.Do(ctx, wfd, time.Time{}, write(wfd, msg)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Do(ctx, rfd, time.Time{}, read(rfd, buf)); err != nil {
			t.Fatal(err)
		}
	})
	// The read/write helpers return closures that capture their
	// arguments; inline closures at the call site are what callers use.
	allocsInline := testing.AllocsPerRun(500, func() {
		e.Do(ctx, wfd, time.Time{}, func(r *Ring, o *Operation) (uring.Job, error) { return r.Write(wfd, msg, 0, o) })
		e.Do(ctx, rfd, time.Time{}, func(r *Ring, o *Operation) (uring.Job, error) { return r.Read(rfd, buf, 0, o) })
	})
	t.Logf("allocs per write+read: %v via helpers, %v inline", allocs, allocsInline)
	if allocsInline != 0 {
		t.Fatalf("%v allocations per write+read round trip", allocsInline)
	}
}

func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&uring.SetupError{Errno: syscall.ENOSYS}, true},
		{fmt.Errorf("reactor: ring: %w", &uring.SetupError{Errno: syscall.EPERM}), true},
		{&uring.SetupError{Errno: syscall.ENOMEM}, true},
		{&uring.SetupError{Errno: syscall.EINVAL}, false}, // a bad flag, not a missing io_uring
		{&uring.SetupError{Errno: syscall.EMFILE}, false}, // out of fds: transient
		{syscall.EPERM, false},                            // not from io_uring_setup
		{nil, false},
	} {
		if got := Unavailable(tc.err); got != tc.want {
			t.Errorf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestCloseRacesSubmitters closes executors while goroutines keep
// submitting. A submitter can be anywhere between publishing its entry and
// entering the kernel when Close cancels, drains and unmaps the ring; it
// must find the ring gone (or still mapped), never touch freed memory.
func TestCloseRacesSubmitters(t *testing.T) {
	testCloseRaces(t, 1, 8, 200, func(e *Executor) error {
		_, err := e.Do(context.Background(), 0, time.Time{}, noop)
		return err
	})
}

// testCloseRaces runs rounds of: submitters goroutines calling submit
// until it fails, Close after a varying pause, then every submitter's
// error must be ErrClosed.
func testCloseRaces(t *testing.T, shards, submitters, rounds int, submit func(*Executor) error) {
	t.Helper()
	testutil.CheckFDs(t)
	if testing.Short() {
		rounds /= 4
	}
	for round := range rounds {
		e, err := New(Config{Shards: shards})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, submitters)
		for range submitters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if err := submit(e); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(round%20) * 50 * time.Microsecond)
		if err := e.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		wg.Wait()
		for range submitters {
			if err := <-errs; !errors.Is(err, ErrClosed) {
				t.Fatalf("round %d: a submitter racing Close got %v, want ErrClosed", round, err)
			}
		}
	}
}
