package uring

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

func newBufRing[T any](t *testing.T, r *Ring[T], group uint16, entries, size int) *BufRing {
	t.Helper()
	br, err := r.NewBufRing(group, entries, size)
	if err != nil {
		t.Fatalf("NewBufRing(%d, %d, %d): %v", group, entries, size, err)
	}
	// Registered cleanups run last-in first-out: this one runs before the
	// ring's Close that newRing registered.
	t.Cleanup(func() {
		if err := br.Close(); err != nil && !errors.Is(err, errBufRingClosed) {
			t.Errorf("BufRing.Close: %v", err)
		}
	})
	return br
}

func TestNewBufRingValidation(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	for _, tc := range []struct{ entries, size int }{
		{0, 16}, {3, 16}, {-4, 16}, {1 << 16, 16}, {4, 0}, {4, -1},
	} {
		if br, err := r.NewBufRing(1, tc.entries, tc.size); err == nil {
			br.Close()
			t.Errorf("NewBufRing(entries %d, size %d) succeeded", tc.entries, tc.size)
		}
	}
	br := newBufRing(t, r, 7, 1, 16)
	if br.Group() != 7 {
		t.Errorf("Group() = %d", br.Group())
	}
	if _, err := r.NewBufRing(7, 4, 16); err == nil || !strings.Contains(err.Error(), "already registered") || !errors.Is(err, syscall.EEXIST) {
		t.Errorf("second ring for group 7: %v, want an EEXIST naming the group", err)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	if err := br.Close(); !errors.Is(err, errBufRingClosed) {
		t.Errorf("second Close = %v", err)
	}
	// The group is free again once unregistered.
	newBufRing(t, r, 7, 32768, 1)
}

// A multishot receive with 4 small buffers: it uses all four, then ends
// with ENOBUFS while data is still waiting; recycling and re-arming picks
// up where it stopped, and every byte arrives exactly once, in order.
func TestRecvMultishotBufRing(t *testing.T) {
	testutil.CheckFDs(t)
	const bufSize, nbuf = 8, 4
	r := newRing[string](t, 8)
	br := newBufRing(t, r, 3, nbuf, bufSize)
	a, b := unixSocketpair(t, unix.SOCK_STREAM)

	want := make([]byte, 100)
	for i := range want {
		want[i] = byte('A' + i%26)
	}
	// All of it waits in the socket before the receive is armed, so each
	// arming uses up the four buffers at once.
	if _, err := unix.Write(a, want); err != nil {
		t.Fatal(err)
	}

	var got []byte
	var held []uint16 // buffers delivered since the last arming
	arms, enobufs, shut := 0, 0, false
	arm := func() {
		t.Helper()
		for _, bid := range held {
			br.Recycle(bid)
		}
		held = nil
		if arms++; arms > 50 {
			t.Fatalf("no end after %d armings; received %d of %d bytes", arms, len(got), len(want))
		}
		if _, err := r.RecvMultishot(b, br, 0, "recv"); err != nil {
			t.Fatal(err)
		}
	}
	arm()
	for done := false; !done; {
		c := wait(t, r)
		if c.Data != "recv" {
			t.Fatalf("unexpected completion %+v", c)
		}
		if bid, ok := c.BufferID(); ok {
			if c.Result < 0 || c.Result > bufSize {
				t.Fatalf("completion with buffer %d has result %d", bid, c.Result)
			}
			got = append(got, br.Buf(bid, int(c.Result))...)
			held = append(held, bid)
		}
		if len(got) == len(want) && !shut {
			// Everything arrived; end the stream so that the receive
			// finishes with 0.
			unix.Shutdown(a, unix.SHUT_WR)
			shut = true
		}
		switch {
		case c.More():
		case errors.Is(c.Err(), syscall.ENOBUFS):
			enobufs++
			if len(held) != nbuf {
				t.Fatalf("ENOBUFS with %d of %d buffers delivered since arming", len(held), nbuf)
			}
			arm() // after recycling: the data waited in the socket
		case c.Err() != nil:
			t.Fatalf("recv: %v", c.Err())
		case c.Result == 0:
			done = true
		default:
			// The kernel may end a multishot receive at any time;
			// arming again continues it.
			arm()
		}
	}
	if enobufs == 0 {
		t.Error("the receive never ran out of buffers")
	}
	if !bytes.Equal(got, want) {
		t.Errorf("received %d bytes %q,\nwant %d bytes %q", len(got), got, len(want), want)
	}
	t.Logf("%d armings, %d ENOBUFS", arms, enobufs)
	if r.ActiveOps() != 0 {
		t.Errorf("ActiveOps = %d at the end", r.ActiveOps())
	}
}

// A single receive with buffer selection, and ENOBUFS when the group is
// empty.
func TestRecvBufSelect(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 4)
	br := newBufRing(t, r, 9, 1, 64)
	a, b := unixSocketpair(t, unix.SOCK_STREAM)
	unix.Write(a, []byte("selected"))
	r.RecvBufSelect(b, br, 0, "recv")
	c := waitOK(t, r, "recv")
	bid, ok := c.BufferID()
	if !ok || c.More() || string(br.Buf(bid, int(c.Result))) != "selected" {
		t.Fatalf("recv = %+v (buffer %d %v)", c, bid, ok)
	}
	unix.Write(a, []byte("more"))
	r.RecvBufSelect(b, br, 0, "recv")
	if c := wait(t, r); !errors.Is(c.Err(), syscall.ENOBUFS) {
		t.Fatalf("recv with the only buffer out = %+v, want ENOBUFS", c)
	}
	// Added but not yet published, the buffer is still not the kernel's.
	br.Add(bid)
	r.RecvBufSelect(b, br, 0, "recv")
	if c := wait(t, r); !errors.Is(c.Err(), syscall.ENOBUFS) {
		t.Fatalf("recv with the buffer added but unpublished = %+v, want ENOBUFS", c)
	}
	br.Publish()
	br.Publish() // nothing new: no second store, no harm
	r.RecvBufSelect(b, br, 0, "recv")
	c = waitOK(t, r, "recv")
	if bid, ok := c.BufferID(); !ok || string(br.Buf(bid, int(c.Result))) != "more" {
		t.Fatalf("recv after publishing = %+v", c)
	}
	br.Recycle(bid)
}

// Close refuses while a receive selecting from the ring is armed: the
// kernel would write into unmapped memory.
func TestBufRingCloseWhileActive(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 4)
	br := newBufRing(t, r, 1, 4, 32)
	_, b := unixSocketpair(t, unix.SOCK_STREAM)
	job, err := r.RecvMultishot(b, br, 0, "recv")
	if err != nil {
		t.Fatal(err)
	}
	r.Submit()
	if err := br.Close(); err == nil || !strings.Contains(err.Error(), "1 active") {
		t.Fatalf("Close with an armed receive = %v, want an error naming 1 active operation", err)
	}
	// Still usable: the refusal changed nothing.
	br.Buf(0, 1)
	r.Cancel(job, "cancel")
	for range 2 {
		wait(t, r)
	}
	if err := br.Close(); err != nil {
		t.Fatalf("Close after the receive ended: %v", err)
	}
	if _, err := r.RecvMultishot(b, br, 0, "recv"); err == nil {
		t.Error("RecvMultishot on a closed BufRing accepted")
	}
	other := newRing[string](t, 4)
	br2 := newBufRing(t, other, 1, 4, 32)
	if _, err := r.RecvBufSelect(b, br2, 0, "recv"); err == nil || !strings.Contains(err.Error(), "another Ring") {
		t.Errorf("RecvBufSelect with another ring's BufRing = %v", err)
	}
	if r.ActiveOps() != 0 {
		t.Errorf("refused operations left %d active", r.ActiveOps())
	}
}

// A BufRing outliving its ring still releases its memory.
func TestBufRingCloseAfterRing(t *testing.T) {
	testutil.CheckFDs(t)
	r, err := New[int](4)
	if err != nil {
		t.Fatal(err)
	}
	br, err := r.NewBufRing(1, 8, 64)
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := br.Close(); err != nil {
		t.Fatalf("BufRing.Close after the ring's: %v", err)
	}
	if _, err := r.NewBufRing(2, 8, 64); !errors.Is(err, ErrClosed) {
		t.Errorf("NewBufRing on a closed ring = %v, want ErrClosed", err)
	}
}

// The tail the kernel reads sits in entry 0's spare half-word; publishing
// it must leave entry 0's buffer ID alone, and the kernel must see both.
func TestBufRingTailLayout(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	br := newBufRing(t, r, 2, 4, 16)
	if br.entries[0].Bid != 0 || br.entries[1].Bid != 1 || br.entries[0].Resv != 4 {
		t.Fatalf("after setup: entry 0 bid %d, entry 1 bid %d, tail %d; want 0, 1, 4", br.entries[0].Bid, br.entries[1].Bid, br.entries[0].Resv)
	}
	a, b := unixSocketpair(t, unix.SOCK_DGRAM)
	recv := func() (uint16, string) {
		t.Helper()
		r.RecvBufSelect(b, br, 0, 0)
		c := waitOK(t, r, "recv")
		bid, ok := c.BufferID()
		if !ok {
			t.Fatalf("recv without a buffer: %+v", c)
		}
		return bid, string(br.Buf(bid, int(c.Result)))
	}
	// The kernel hands the buffers out in ring order.
	for want := range uint16(4) {
		msg := fmt.Sprint("msg", want)
		unix.Write(a, []byte(msg))
		if bid, got := recv(); bid != want || got != msg {
			t.Fatalf("recv %d: buffer %d %q", want, bid, got)
		}
	}
	// Entries 0 and 1 are free again; give back buffers 3 and 2 in that
	// order, so that entry 0 holds buffer 3 and the tail moves to 6.
	br.Recycle(3)
	br.Recycle(2)
	if e := br.entries[0]; e.Bid != 3 || e.Len != 16 || e.Resv != 6 {
		t.Fatalf("entry 0 = %+v, want bid 3, len 16, tail 6", e)
	}
	for _, want := range []uint16{3, 2} {
		unix.Write(a, []byte("again"))
		if bid, got := recv(); bid != want || got != "again" {
			t.Errorf("recv after recycling: buffer %d %q, want %d", bid, got, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Buf of an out-of-range buffer ID did not panic")
		}
	}()
	br.Buf(4, 1)
}

func ExampleRing_RecvMultishot() {
	r, err := New[int](64)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	// 16 buffers of 4 KiB for group 1, shared by every connection's
	// receive: a buffer is taken only when data arrives.
	br, err := r.NewBufRing(1, 16, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer br.Close()

	var conn int // a connected socket
	r.RecvMultishot(conn, br, 0, conn)
	for {
		c, err := r.Wait()
		if err != nil {
			return
		}
		if bid, ok := c.BufferID(); ok {
			fmt.Printf("fd %d: %q\n", c.Data, br.Buf(bid, int(c.Result)))
			br.Recycle(bid)
		}
		if c.More() {
			continue
		}
		if errors.Is(c.Err(), syscall.ENOBUFS) {
			// Out of buffers: the data waits in the socket. Recycle,
			// then arm again.
			r.RecvMultishot(c.Data, br, 0, c.Data)
			continue
		}
		return // end of stream or an error
	}
}

// residentPages counts the pages of b that are resident.
func residentPages(t *testing.T, b []byte) int {
	t.Helper()
	page := unix.Getpagesize()
	vec := make([]byte, (len(b)+page-1)/page)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	if errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// One receive at a time, each buffer recycled before the next: a ring
// handed all its buffers has the kernel write into every one in turn,
// while WithInitialBuffers keeps reusing the few it handed out, and
// the rest of the memory is never touched.
func TestBufRingInitialBuffersReuse(t *testing.T) {
	testutil.CheckFDs(t)
	const entries, initial, rounds = 64, 4, 200
	page := unix.Getpagesize()
	for _, lazy := range []bool{false, true} {
		t.Run(fmt.Sprintf("lazy=%v", lazy), func(t *testing.T) {
			r := newRing[string](t, 4)
			var opts []BufRingOption
			if lazy {
				opts = append(opts, WithInitialBuffers(initial))
			}
			br, err := r.NewBufRing(5, entries, page, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer br.Close()
			a, b := unixSocketpair(t, unix.SOCK_STREAM)
			used := map[uint16]bool{}
			for i := range rounds {
				msg := fmt.Sprintf("message %d", i)
				if _, err := unix.Write(a, []byte(msg)); err != nil {
					t.Fatal(err)
				}
				if _, err := r.RecvBufSelect(b, br, 0, "recv"); err != nil {
					t.Fatal(err)
				}
				c := waitOK(t, r, "recv")
				bid, ok := c.BufferID()
				if !ok || string(br.Buf(bid, int(c.Result))) != msg {
					t.Fatalf("round %d: recv = %+v", i, c)
				}
				used[bid] = true
				br.Recycle(bid)
			}
			resident := residentPages(t, br.bufMem)
			t.Logf("%d buffers used, %d pages resident", len(used), resident)
			want := entries
			if lazy {
				want = initial
			}
			if len(used) != want || resident != want {
				t.Errorf("%d buffers used, %d pages resident; want %d", len(used), resident, want)
			}
		})
	}
}

// A ring handed only some of its buffers hands over more when receives
// use them up: a multishot receive of more data than the first buffers
// hold runs dry, and each Publish after that grows the kernel's share to
// twice what the receives asked for; every byte arrives once, in order.
func TestBufRingInitialBuffersGrow(t *testing.T) {
	testutil.CheckFDs(t)
	const entries, initial, bufSize = 64, 4, 8
	r := newRing[string](t, 8)
	br, err := r.NewBufRing(6, entries, bufSize, WithInitialBuffers(initial))
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	a, b := unixSocketpair(t, unix.SOCK_STREAM)
	want := make([]byte, 2*entries*bufSize)
	for i := range want {
		want[i] = byte('a' + i%26)
	}
	if _, err := unix.Write(a, want); err != nil {
		t.Fatal(err)
	}
	unix.Shutdown(a, unix.SHUT_WR)
	var got []byte
	var held []uint16
	arms, enobufs := 0, 0
	arm := func() {
		t.Helper()
		for _, bid := range held {
			br.Add(bid)
		}
		held = nil
		br.Publish()
		if arms++; arms > 50 {
			t.Fatalf("no end after %d armings; received %d of %d bytes", arms, len(got), len(want))
		}
		if _, err := r.RecvMultishot(b, br, 0, "recv"); err != nil {
			t.Fatal(err)
		}
	}
	arm()
	for done := false; !done; {
		c := wait(t, r)
		if bid, ok := c.BufferID(); ok && c.Result > 0 {
			got = append(got, br.Buf(bid, int(c.Result))...)
			held = append(held, bid)
		} else if ok {
			held = append(held, bid)
		}
		switch {
		case c.More():
		case errors.Is(c.Err(), syscall.ENOBUFS):
			enobufs++
			arm()
		case c.Err() != nil:
			t.Fatalf("recv: %v", c.Err())
		case c.Result == 0:
			done = true
		default:
			arm()
		}
	}
	for _, bid := range held {
		br.Add(bid)
	}
	br.Publish()
	if !bytes.Equal(got, want) {
		t.Errorf("received %d bytes %q,\nwant %d bytes %q", len(got), got, len(want), want)
	}
	t.Logf("%d armings, %d ENOBUFS, target %d", arms, enobufs, br.target)
	// 4, then 2*(4+1), 2*(10+1), 2*(22+1) if each arming takes what
	// the ring holds and ends with ENOBUFS (the kernel may also end a
	// multishot receive early, and the target then grows by the same
	// rule at the next arming): the ring runs dry at most three times
	// before it holds enough.
	if enobufs < 1 || enobufs > 3 || br.target <= initial {
		t.Errorf("%d ENOBUFS, target %d; want 1 to 3, and a target above %d", enobufs, br.target, initial)
	}
	// Everything recycled: the kernel holds the target, the rest wait.
	if br.inRing != br.target || br.inRing+len(br.spare) != entries {
		t.Errorf("%d buffers in the ring, %d spare, target %d; want the target in the ring and %d in all", br.inRing, len(br.spare), br.target, entries)
	}
}

// A ring with WithInitialBuffers advises its buffers' memory against
// transparent huge pages ("nh" in the mapping's VmFlags in
// /proc/self/smaps): with them on for all memory, the first receive
// would make 2 MiB around its buffer resident. A ring with every buffer
// handed over is left as it is.
func TestBufRingInitialBuffersNoHugePages(t *testing.T) {
	testutil.CheckFDs(t)
	for _, lazy := range []bool{false, true} {
		t.Run(fmt.Sprintf("lazy=%v", lazy), func(t *testing.T) {
			r := newRing[string](t, 4)
			var opts []BufRingOption
			if lazy {
				opts = append(opts, WithInitialBuffers(16))
			}
			br, err := r.NewBufRing(6, 256, 64<<10, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer br.Close()
			start := uintptr(unsafe.Pointer(unsafe.SliceData(br.Buf(0, 1))))
			smaps, err := os.ReadFile("/proc/self/smaps")
			if err != nil {
				t.Skipf("no /proc/self/smaps: %v", err)
			}
			flags, found := "", false
			for _, line := range strings.Split(string(smaps), "\n") {
				if f := strings.Fields(line); len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
					var lo, hi uintptr
					_, err := fmt.Sscanf(f[0], "%x-%x", &lo, &hi)
					found = err == nil && lo <= start && start < hi
					continue
				}
				if found && strings.HasPrefix(line, "VmFlags:") {
					flags = line
					break
				}
			}
			if flags == "" {
				t.Fatalf("no mapping in /proc/self/smaps holds the buffers at %#x", start)
			}
			nh := strings.Contains(flags+" ", " nh ")
			if nh != lazy {
				t.Errorf("buffers' mapping has %q: MADV_NOHUGEPAGE %v, want %v", flags, nh, lazy)
			}
		})
	}
}
