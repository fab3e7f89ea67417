package uring

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// newRing creates a ring that the test closes at its end, after checking
// that every operation was collected.
func newRing[T any](t *testing.T, depth int, opts ...Option) *Ring[T] {
	t.Helper()
	r, err := New[T](depth, opts...)
	if err != nil {
		t.Fatalf("New(%d): %v", depth, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func wait[T any](t *testing.T, r *Ring[T]) Completion[T] {
	t.Helper()
	c, ok, err := r.WaitTimeout(10 * time.Second)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if !ok {
		t.Fatal("Wait: no completion within 10s")
	}
	return c
}

func pipe(t *testing.T) (rfd, wfd int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

// nbpipe is pipe with O_NONBLOCK, which lets io_uring complete a read or
// write inline or wait with a poll. A blocking pipe's I/O goes to io-wq
// worker threads on older kernels (6.1), which behaves differently: there
// the operation is not done within Submit, and Linux may cancel it if it
// cannot start a worker.
func nbpipe(t *testing.T) (rfd, wfd int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

func TestQueueDepthZeroRejected(t *testing.T) {
	for _, d := range []int{0, -1, 1 << 20} {
		if r, err := New[int](d); err == nil {
			r.Close()
			t.Errorf("New(%d) succeeded", d)
		}
	}
}

func TestQueueDepthReportsKernelSize(t *testing.T) {
	r := newRing[int](t, 5)
	if got := r.QueueDepth(); got != 8 {
		t.Errorf("QueueDepth() = %d for 5, want the kernel's rounded 8", got)
	}
	r2 := newRing[int](t, 4, WithCQSize(100))
	if got := r2.CQSize(); got != 128 {
		t.Errorf("CQSize() = %d, want 128", got)
	}
}

// At depth 1 the SQ holds one entry; once it is submitted more can be
// queued, and more operations can be in flight than the queue depth.
func TestQueueFullAndInFlightBeyondDepth(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 1)
	rfd, wfd := pipe(t)
	b1, b2 := make([]byte, 4), make([]byte, 4)
	if _, err := r.Read(rfd, b1, 0, "a"); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Submit(); err != nil || n != 1 {
		t.Fatalf("Submit = %d, %v", n, err)
	}
	if _, err := r.Read(rfd, b2, 0, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(rfd, make([]byte, 1), 0, "c"); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third read: err = %v, want ErrQueueFull", err)
	}
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if r.ActiveOps() != 2 {
		t.Fatalf("ActiveOps = %d, want 2", r.ActiveOps())
	}
	unix.Write(wfd, []byte("12345678"))
	got := map[string]string{}
	for range 2 {
		c := wait(t, r)
		if c.Err() != nil || c.Result != 4 {
			t.Fatalf("read %s: %d %v", c.Data, c.Result, c.Err())
		}
		got[c.Data] = "x"
	}
	if len(got) != 2 {
		t.Fatalf("completions: %v", got)
	}
	// Both reads wait on the pipe; which the kernel serves first is its
	// choice, but between them they hold every byte once.
	if got := string(b1) + string(b2); got != "12345678" && got != "56781234" {
		t.Errorf("read %q %q", b1, b2)
	}
}

func TestNoopStats(t *testing.T) {
	r := newRing[int](t, 8)
	check := func(stage string, ready, active int) {
		t.Helper()
		if r.SQEReady() != ready || r.ActiveOps() != active {
			t.Errorf("%s: ready/active = %d/%d, want %d/%d", stage, r.SQEReady(), r.ActiveOps(), ready, active)
		}
	}
	check("before", 0, 0)
	for i := 1; i <= 5; i++ {
		if _, err := r.Noop(i); err != nil {
			t.Fatal(err)
		}
	}
	check("queued", 5, 5)
	if n, err := r.Submit(); err != nil || n != 5 {
		t.Fatalf("Submit = %d, %v", n, err)
	}
	check("submitted", 0, 5)
	for i := 1; i <= 5; i++ {
		c := wait(t, r)
		if c.Data != i || c.Result != 0 {
			t.Errorf("completion %d = %+v", i, c)
		}
	}
	check("collected", 0, 0)
	if s := r.Stats(); s.Submitted != 5 || s.Completed != 5 || s.Stray != 0 {
		t.Errorf("Stats = %+v", s)
	}
	if _, err := r.Wait(); !errors.Is(err, ErrNoActiveOps) {
		t.Errorf("Wait with nothing active = %v, want ErrNoActiveOps", err)
	}
}

func TestCloseWithActiveOps(t *testing.T) {
	testutil.CheckFDs(t)
	r, err := New[int](4)
	if err != nil {
		t.Fatal(err)
	}
	rfd, wfd := pipe(t)
	buf := make([]byte, 1)
	r.Read(rfd, buf, 0, 1)
	r.Submit()
	err = r.Close()
	var ae *ActiveOpsError
	if !errors.As(err, &ae) || ae.Active != 1 || !strings.Contains(err.Error(), "1 active request") {
		t.Fatalf("Close with a pending read = %v, want 1 active request", err)
	}
	unix.Close(wfd)
	c := wait(t, r)
	if c.Result != 0 {
		t.Fatalf("read after writer closed = %d, want 0 (EOF)", c.Result)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, f := range map[string]func() error{
		"Noop":            func() error { _, err := r.Noop(1); return err },
		"Read":            func() error { _, err := r.Read(rfd, buf, 0, 1); return err },
		"Submit":          func() error { _, err := r.Submit(); return err },
		"Wait":            func() error { _, err := r.Wait(); return err },
		"WaitTimeout":     func() error { _, _, err := r.WaitTimeout(time.Millisecond); return err },
		"Peek":            func() error { _, _, err := r.Peek(); return err },
		"Probe":           func() error { _, err := r.Probe(); return err },
		"Close":           r.Close,
		"SetFixedBuffer":  func() error { return r.SetFixedBuffer(make([]byte, 10)) },
		"RegisterEventfd": func() error { return r.RegisterEventfd(0) },
	} {
		if err := f(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestProbe(t *testing.T) {
	r := newRing[int](t, 2)
	p, err := r.Probe()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []Op{OpNoop, OpRead, OpWrite, OpTimeout, OpAsyncCancel} {
		if !p.Supported(op) {
			t.Errorf("probe says %s unsupported", op)
		}
	}
	r.MaskOps(OpNoop)
	_, err = r.Noop(1)
	var ue *UnsupportedOpError
	if !errors.Is(err, errors.ErrUnsupported) || !errors.As(err, &ue) || ue.Op != OpNoop || !strings.Contains(err.Error(), "nop") {
		t.Errorf("masked Noop = %v, want an ErrUnsupported naming nop", err)
	}
	if r.ActiveOps() != 0 {
		t.Errorf("a refused op left %d active", r.ActiveOps())
	}
}

func TestOpString(t *testing.T) {
	for op, want := range map[Op]string{OpNoop: "nop", OpOpenat2: "openat2", OpBind: "bind", Op(250): "op(250)"} {
		if op.String() != want {
			t.Errorf("%d.String() = %q, want %q", op, op.String(), want)
		}
	}
}

func TestPipeRoundTrip(t *testing.T) {
	r := newRing[string](t, 4)
	rfd, wfd := pipe(t)
	if _, err := r.Write(wfd, []byte("hello"), CurrentPosition, "w"); err != nil {
		t.Fatal(err)
	}
	c := wait(t, r)
	if c.Data != "w" || c.Result != 5 {
		t.Fatalf("write: %+v", c)
	}
	buf := make([]byte, 10)
	r.Read(rfd, buf, CurrentPosition, "r")
	c = wait(t, r)
	if c.Result != 5 || string(buf[:5]) != "hello" {
		t.Fatalf("read: %+v %q", c, buf)
	}
}

// Reads and writes at -1 use and advance the file position.
func TestCurrentPosition(t *testing.T) {
	r := newRing[int](t, 4)
	f, err := os.CreateTemp(t.TempDir(), "pos")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	for _, s := range []string{"abc", "def"} {
		r.Write(fd, []byte(s), CurrentPosition, 0)
		if c := wait(t, r); c.Result != 3 {
			t.Fatalf("write: %+v", c)
		}
	}
	if pos, _ := f.Seek(0, 1); pos != 6 {
		t.Fatalf("position after two writes = %d, want 6", pos)
	}
	f.Seek(1, 0)
	buf := make([]byte, 2)
	for _, want := range []string{"bc", "de"} {
		r.Read(fd, buf, CurrentPosition, 0)
		if c := wait(t, r); c.Result != 2 || string(buf) != want {
			t.Fatalf("read = %d %q, want %q", c.Result, buf, want)
		}
	}
}

func TestReadv(t *testing.T) {
	r := newRing[int](t, 4)
	rfd, wfd := pipe(t)
	unix.Write(wfd, []byte("0123456789"))
	a, b := make([]byte, 3), make([]byte, 7)
	r.Readv(rfd, [][]byte{a, b}, 0, 0)
	if c := wait(t, r); c.Result != 10 || string(a)+string(b) != "0123456789" {
		t.Fatalf("readv = %d %q %q", c.Result, a, b)
	}
	zero, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer zero.Close()
	for _, n := range []int{1, 7, 1000} {
		bufs := make([][]byte, n)
		for i := range bufs {
			bufs[i] = []byte{0xff}
		}
		if _, err := r.Readv(int(zero.Fd()), bufs, 0, n); err != nil {
			t.Fatal(err)
		}
		c := wait(t, r)
		if int(c.Result) != n {
			t.Errorf("readv of %d one-byte buffers = %d", n, c.Result)
		}
		for i, b := range bufs {
			if b[0] != 0 {
				t.Fatalf("buffer %d not filled", i)
			}
		}
	}
	if _, err := r.Readv(int(zero.Fd()), make([][]byte, IovMax+1), 0, 0); err == nil {
		t.Error("readv with more than IOV_MAX buffers accepted")
	}
}

func TestWritevFlags(t *testing.T) {
	r := newRing[int](t, 4)
	f, err := os.CreateTemp(t.TempDir(), "wv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r.WritevFlags(int(f.Fd()), [][]byte{[]byte("ab"), []byte("cde")}, 0, RWFDsync, 0)
	if c := wait(t, r); c.Result != 5 {
		t.Fatalf("writev with RWF_DSYNC = %d (%v)", c.Result, c.Err())
	}
	r.WritevFlags(int(f.Fd()), [][]byte{[]byte("x")}, 0, RWFlags(1<<30), 0)
	if c := wait(t, r); !errors.Is(c.Err(), syscall.EOPNOTSUPP) {
		t.Fatalf("writev with an unknown flag = %v, want EOPNOTSUPP", c.Err())
	}
}

func TestPollAdd(t *testing.T) {
	r := newRing[int](t, 4)
	rfd, wfd := pipe(t)
	r.PollAdd(rfd, PollIn, 7)
	r.Submit()
	if _, ok, _ := r.WaitTimeout(20 * time.Millisecond); ok {
		t.Fatal("poll completed before any write")
	}
	unix.Write(wfd, []byte("x"))
	c := wait(t, r)
	if c.Data != 7 || PollMask(c.Result)&PollIn == 0 {
		t.Fatalf("poll = %+v", c)
	}
}

func TestEventfd(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	if err := r.RegisterEventfd(efd); err != nil {
		t.Fatal(err)
	}
	var v [8]byte
	if _, err := unix.Read(efd, v[:]); err != unix.EAGAIN {
		t.Fatalf("eventfd readable before any completion: %v", err)
	}
	r.Noop(1)
	r.Submit()
	if _, err := unix.Read(efd, v[:]); err != nil {
		t.Fatalf("eventfd not signalled by a completion: %v", err)
	}
	wait(t, r)
	if err := r.UnregisterEventfd(); err != nil {
		t.Fatal(err)
	}
}

func ExampleRing() {
	r, err := New[string](8)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	r.Noop("hello")
	c, err := r.Wait()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Data, c.Result)
}

func unixWrite(fd int, s string) { unix.Write(fd, []byte(s)) }

// TestEnterFlushed submits what Flush published, from another goroutine
// than the ring's owner, as internal/reactor does.
func TestEnterFlushed(t *testing.T) {
	r := newRing[int](t, 4)
	for i := range 3 {
		if _, err := r.Noop(i); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.Flush(); n != 3 {
		t.Fatalf("Flush = %d, want 3", n)
	}
	done := make(chan error)
	go func() { done <- r.EnterFlushed() }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		c, ok, err := r.Peek()
		if err != nil || !ok || c.Data != i || c.Result != 0 {
			t.Fatalf("completion %d: %+v, %v, %v", i, c, ok, err)
		}
	}
}
