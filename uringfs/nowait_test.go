package uringfs

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/region"
	"golang.org/x/sys/unix"
)

// nowaitFile writes size bytes of pattern to a new file and returns it
// open for reading through a private executor, whose counters then tell
// which reads went to the ring.
func nowaitFile(t *testing.T, size int, flag int) (*File, *reactor.Executor, []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	want := make([]byte, size)
	for i := range want {
		want[i] = pattern(int64(i))
	}
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := reactor.New(reactor.Config{Shards: 1, QueueDepth: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC|flag, 0)
	if err != nil {
		t.Skipf("open with flags %#x: %v", flag, err)
	}
	f := newFile(e, nil, fd, p, flag&unix.O_APPEND != 0)
	t.Cleanup(func() { f.Close() })
	return f, e, want
}

// evict drops [off, off+n) of f's file from the page cache, turns off
// readahead on f, and skips the test if the kernel kept the range (a file
// system that cannot drop clean pages on request, such as tmpfs): a
// RWF_NOWAIT read of the range's first page must now find nothing.
func evict(t *testing.T, f *File, off, n int64) {
	t.Helper()
	if err := unix.Fdatasync(f.fd); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(f.fd, off, n, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	// No readahead either: a read of the cached part must not bring
	// the evicted part back in behind the test's back.
	if err := unix.Fadvise(f.fd, 0, 0, unix.FADV_RANDOM); err != nil {
		t.Fatal(err)
	}
	// Ask mincore, not an RWF_NOWAIT read: a read that misses starts
	// readahead of the page it asked for, which then lands in the cache
	// before the test's own read and hides the miss.
	if cachedPage(t, f, off) {
		t.Skip("the page cache kept the file's pages after FADV_DONTNEED")
	}
}

// cachedPage reports whether the page of f holding off is in the page
// cache, without reading it.
func cachedPage(t *testing.T, f *File, off int64) bool {
	t.Helper()
	page := int64(os.Getpagesize())
	m, err := unix.Mmap(f.fd, off/page*page, int(page), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, 1)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal("mincore:", e)
	}
	return vec[0]&1 != 0
}

func submitted(e *reactor.Executor) uint64 { return e.Stats().Submitted }

// Reads of cached data never reach the ring, and return what os returns,
// short reads and EOF included.
func TestReadNowaitCachedSkipsTheRing(t *testing.T) {
	testutil.CheckFDs(t)
	const size = 3*4096 + 100
	f, e, want := nowaitFile(t, size, 0)
	got := make([]byte, 4096)
	for off := int64(0); off < size; off += 4096 {
		n, err := f.ReadAt(got, off)
		end := min(off+4096, size)
		if !bytes.Equal(got[:n], want[off:end]) {
			t.Fatalf("ReadAt at %d: wrong bytes", off)
		}
		if wantErr := error(nil); end-off < 4096 {
			if err != io.EOF {
				t.Fatalf("ReadAt at %d: %d, %v; want %d, EOF", off, n, err, end-off)
			}
		} else if err != wantErr {
			t.Fatalf("ReadAt at %d: %v", off, err)
		}
	}
	// Read uses and moves the file offset on this path too.
	all, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(all, want) {
		t.Fatalf("ReadAll: %d bytes, %v", len(all), err)
	}
	if pos, err := f.Seek(0, io.SeekCurrent); err != nil || pos != size {
		t.Fatalf("offset after ReadAll: %d, %v; want %d", pos, err, size)
	}
	if n := submitted(e); n != 0 {
		t.Fatalf("%d reads of cached data went to the ring; want 0", n)
	}
}

// A read of data not in the page cache goes to the ring, which reads it
// from the disk; once the data is cached, reads leave the ring again.
func TestReadNowaitMissGoesToTheRing(t *testing.T) {
	testutil.CheckFDs(t)
	const size = 1 << 20
	f, e, want := nowaitFile(t, size, 0)
	evict(t, f, 0, size)
	got := make([]byte, 64<<10)
	if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, want[:len(got)]) {
		t.Fatalf("ReadAt of evicted data: %v (or wrong bytes)", err)
	}
	after := submitted(e)
	if after == 0 {
		t.Fatal("a read of evicted data never went to the ring")
	}
	// The miss sends the next read to the ring too (backoff); from then
	// on cached reads are made directly again.
	for range 10 {
		if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, want[:len(got)]) {
			t.Fatalf("ReadAt of cached data: %v (or wrong bytes)", err)
		}
	}
	if n := submitted(e) - after; n > 1 {
		t.Fatalf("%d of 10 reads of cached data went to the ring after one miss; want at most 1", n)
	}
}

// A read whose first part is cached and the rest not returns all of it:
// the direct read is short, and the rest follows. Where the rest comes
// from is up to the kernel: a RWF_NOWAIT read starts the disk reads it
// does not wait for, so a later attempt may find them done, or the ring
// waits for them.
func TestReadNowaitPartlyCached(t *testing.T) {
	testutil.CheckFDs(t)
	// Halves a whole number of the largest folios apart, so that the
	// page cache can drop one and keep the other.
	const size = 8 << 20
	f, _, want := nowaitFile(t, size, 0)
	evict(t, f, size/2, size/2)
	got := make([]byte, size)
	n, err := f.ReadAt(got, 0)
	if err != nil || n != size || !bytes.Equal(got, want) {
		t.Fatalf("ReadAt: %d, %v (or wrong bytes)", n, err)
	}
}

// O_DIRECT reads always go to the ring: a RWF_NOWAIT one would still wait
// for the device, holding a thread.
func TestReadNowaitNotForODirect(t *testing.T) {
	testutil.CheckFDs(t)
	const size = 64 << 10
	f, e, want := nowaitFile(t, size, unix.O_DIRECT)
	buf, err := region.Mmap(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer region.Munmap(buf)
	const reads = 8
	for i := range reads {
		off := int64(i * 4096)
		if _, err := f.ReadAt(buf, off); err != nil {
			t.Fatalf("ReadAt: %v", err)
		}
		if !bytes.Equal(buf, want[off:off+4096]) {
			t.Fatalf("ReadAt at %d: wrong bytes", off)
		}
	}
	if n := submitted(e); n < reads {
		t.Fatalf("%d of %d O_DIRECT reads went to the ring; want all", n, reads)
	}
}

// After attempts that find nothing ready, reads go straight to the ring
// for exponentially longer; one attempt that reads something ends that.
func TestNowaitBackoff(t *testing.T) {
	var w directIO
	w.state.Store(directNowait)
	skipped := func() int {
		n := 0
		for w.mode(-1) == directOff {
			n++
		}
		return n
	}
	for i, want := range []int{1, 2, 4, 8, 16} {
		w.miss()
		if got := skipped(); got != want {
			t.Fatalf("after %d misses: %d reads skipped the attempt; want %d", i+1, got, want)
		}
	}
	for range 20 {
		w.miss()
	}
	if got := skipped(); got != maxNowaitBackoff {
		t.Fatalf("after many misses: %d reads skipped; want the bound %d", got, maxNowaitBackoff)
	}
	w.hit()
	w.miss()
	if got := skipped(); got != 1 {
		t.Fatalf("after a hit and a miss: %d reads skipped; want 1", got)
	}
	w.unsupported(-1, false)
	for range 3 {
		if w.mode(-1) != directOff {
			t.Fatal("attempted after the file said it does not support RWF_NOWAIT")
		}
	}
}

// Writes to a regular file never reach the ring unless they would block
// in a way the ring can wait for: RWF_NOWAIT writes where the file
// system has them, plain pwritev2 where it answers EOPNOTSUPP (ext4,
// tmpfs), whose io_uring writes would each run on an io-wq thread.
func TestWriteDirectRegularFile(t *testing.T) {
	testutil.CheckFDs(t)
	for _, flag := range []int{0, unix.O_APPEND} {
		f, e, want := nowaitFile(t, 8192, flag)
		block := bytes.Repeat([]byte("w"), 4096)
		if flag == 0 {
			if _, err := f.WriteAt(block, 4096); err != nil {
				t.Fatal(err)
			}
			copy(want[4096:], block)
		}
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := f.Write(block); err != nil {
				t.Fatal(err)
			}
			want = append(want, block...)
		}
		if pos, err := f.Seek(0, io.SeekCurrent); err != nil || pos != int64(len(want)) {
			t.Fatalf("flag %#x: offset after writes %d, %v; want %d", flag, pos, err, len(want))
		}
		got, err := os.ReadFile(f.Name())
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("flag %#x: file holds %d bytes (%v), not what was written", flag, len(got), err)
		}
		if n := submitted(e); n != 0 {
			t.Fatalf("flag %#x: %d writes went to the ring; want 0", flag, n)
		}
		var probe [1]byte
		_, perr := transfer(f.fd, probe[:], 0, true, unix.RWF_NOWAIT)
		t.Logf("flag %#x: RWF_NOWAIT write on this file system: %v; mode %d", flag, perr, f.wdirect.state.Load())
	}
}

// O_DIRECT writes always go to the ring.
func TestWriteODirectUsesTheRing(t *testing.T) {
	testutil.CheckFDs(t)
	f, e, _ := nowaitFile(t, 64<<10, unix.O_DIRECT)
	buf, err := region.Mmap(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer region.Munmap(buf)
	copy(buf, bytes.Repeat([]byte("d"), 4096))
	const writes = 4
	for i := range writes {
		if _, err := f.WriteAt(buf, int64(i*4096)); err != nil {
			t.Fatal(err)
		}
	}
	if n := submitted(e); n < writes {
		t.Fatalf("%d of %d O_DIRECT writes went to the ring; want all", n, writes)
	}
	if _, err := f.ReadAt(buf, 3*4096); err != nil || !bytes.Equal(buf, bytes.Repeat([]byte("d"), 4096)) {
		t.Fatalf("read back: %v (or wrong bytes)", err)
	}
}

// A write into a full pipe finds no room (EAGAIN) and waits in the ring
// until a reader makes some; every byte arrives once, in order, for a
// blocking and a non-blocking pipe alike.
func TestWritePipeWaitsInTheRing(t *testing.T) {
	testutil.CheckFDs(t)
	for _, nonblock := range []bool{false, true} {
		var p [2]int
		flags := unix.O_CLOEXEC
		if nonblock {
			flags |= unix.O_NONBLOCK
		}
		if err := unix.Pipe2(p[:], flags); err != nil {
			t.Fatal(err)
		}
		e, err := reactor.New(reactor.Config{Shards: 1, QueueDepth: 8})
		if err != nil {
			t.Fatal(err)
		}
		w := newFile(e, nil, p[1], "pipe", false)
		r := os.NewFile(uintptr(p[0]), "pipe-r")
		want := make([]byte, 1<<20)
		for i := range want {
			want[i] = pattern(int64(i))
		}
		got := make(chan []byte)
		go func() {
			b, _ := io.ReadAll(r)
			got <- b
		}()
		n, err := w.Write(want)
		w.Close()
		out := <-got
		r.Close()
		if err != nil || n != len(want) || !bytes.Equal(out, want) {
			t.Fatalf("nonblock %v: wrote %d, %v; the reader got %d bytes (equal: %v)", nonblock, n, err, len(out), bytes.Equal(out, want))
		}
		if submitted(e) == 0 {
			t.Fatalf("nonblock %v: 1 MiB went through a 64 KiB pipe without waiting in the ring", nonblock)
		}
		e.Close()
	}
}
