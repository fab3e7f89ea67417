package splice

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// sysEnds splices with splice(2) itself, so that the engine is tested
// apart from either adapter's executor.
func sysEnds(src, dst int) Ends {
	return Ends{
		In:  func(p, n int) (int, error) { return spliceOnce(src, p, n) },
		Out: func(p, n int) (int, error) { return spliceOnce(p, dst, n) },
	}
}

func spliceOnce(src, dst, n int) (int, error) {
	for {
		m, err := unix.Splice(src, nil, dst, nil, n, 0)
		if err != syscall.EINTR {
			return int(m), err
		}
	}
}

// source opens a file of size bytes of testutil.Pattern.
func source(t *testing.T, size int) (*os.File, []byte) {
	data := testutil.Pattern(size)
	return testutil.TempFile(t, os.O_RDONLY, data), data
}

func dest(t *testing.T, flag int) *os.File { return testutil.TempFile(t, os.O_RDWR|flag, nil) }

// TestCopy copies files through the engine's pipe, whole and up to a
// limit, across chunk boundaries: every byte arrives once, and N and the
// source's offset say exactly how many.
func TestCopy(t *testing.T) {
	testutil.CheckFDs(t)
	for _, tc := range []struct {
		size  int
		limit int64
	}{
		{0, All}, {1, All}, {MaxChunk, All}, {3*MaxChunk + 12345, All},
		{3*MaxChunk + 12345, MaxChunk + 7}, {100, 0}, {100, 1000},
	} {
		src, data := source(t, tc.size)
		dst := dest(t, 0)
		res := Copy(sysEnds(int(src.Fd()), int(dst.Fd())), tc.limit, nil, nil)
		want := data[:min(int64(len(data)), tc.limit)]
		if !res.Handled || res.Err != nil || res.N != int64(len(want)) || res.Left != 0 {
			t.Fatalf("size %d limit %d: %+v, want %d bytes handled", tc.size, tc.limit, res, len(want))
		}
		if got, _ := os.ReadFile(dst.Name()); !bytes.Equal(got, want) {
			t.Fatalf("size %d limit %d: destination holds %d other bytes", tc.size, tc.limit, len(got))
		}
		if off, _ := src.Seek(0, io.SeekCurrent); off != res.N {
			t.Fatalf("size %d limit %d: source offset %d, want %d", tc.size, tc.limit, off, res.N)
		}
	}
}

// TestCopyRefused: a destination opened O_APPEND takes no splice. The
// bytes already in the pipe go to the fallback writer, not counted as
// handled; with no fallback writer they are Left. A source that takes no
// splice (a directory) is refused with nothing read.
func TestCopyRefused(t *testing.T) {
	testutil.CheckFDs(t)
	const size = 3*MaxChunk + 5
	src, data := source(t, size)
	dst := dest(t, os.O_APPEND)
	res := Copy(sysEnds(int(src.Fd()), int(dst.Fd())), All, dst, nil)
	off, _ := src.Seek(0, io.SeekCurrent)
	if res.Handled || res.Err != nil || res.N == 0 || res.N != off {
		t.Fatalf("into O_APPEND: %+v (source at %d), want the pipe's bytes handed over", res, off)
	}
	if got, _ := os.ReadFile(dst.Name()); !bytes.Equal(got, data[:off]) {
		t.Fatalf("destination holds %d other bytes, want %d", len(got), off)
	}

	src.Seek(0, io.SeekStart)
	res = Copy(sysEnds(int(src.Fd()), int(dst.Fd())), All, nil, nil)
	off, _ = src.Seek(0, io.SeekCurrent)
	if res.Handled || res.Err != nil || res.N != 0 || int64(res.Left) != off || off == 0 {
		t.Fatalf("into O_APPEND, no fallback: %+v (source at %d), want the pipe's bytes Left", res, off)
	}

	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if res := Copy(sysEnds(int(dir.Fd()), int(dst.Fd())), All, dst, nil); res.Handled || res.Err != nil || res.N != 0 {
		t.Fatalf("from a directory: %+v, want refused", res)
	}
}

// TestCopyDestFails: a destination that fails after taking bytes (a pipe
// whose reader leaves) ends the copy with its error, Side Dest, N the
// bytes it took and Left those still in the engine's pipe: together,
// what was read from the source.
func TestCopyDestFails(t *testing.T) {
	testutil.CheckFDs(t)
	src, _ := source(t, 4*MaxChunk)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const taken = 1000
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.CopyN(io.Discard, r, taken)
		r.Close()
	}()
	wfd := int(w.Fd())
	if err := unix.SetNonblock(wfd, false); err != nil {
		t.Fatal(err)
	}
	res := Copy(sysEnds(int(src.Fd()), wfd), All, nil, nil)
	<-done
	off, _ := src.Seek(0, io.SeekCurrent)
	if !res.Handled || !errors.Is(res.Err, syscall.EPIPE) || res.Side != Dest || res.N < taken || res.N+int64(res.Left) != off {
		t.Fatalf("into a pipe whose reader left: %+v (source at %d), want EPIPE from Dest, N+Left = %d", res, off, off)
	}
}

// TestDirect splices a file straight into a pipe, whole and up to a
// limit, and stops at the end of the source.
func TestDirect(t *testing.T) {
	testutil.CheckFDs(t)
	for _, limit := range []int64{All, MaxChunk + 3} {
		src, data := source(t, 2*MaxChunk+99)
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte)
		go func() {
			b, _ := io.ReadAll(r)
			got <- b
		}()
		sfd, wfd := int(src.Fd()), int(w.Fd())
		if err := unix.SetNonblock(wfd, false); err != nil {
			t.Fatal(err)
		}
		res := Direct(func(n int) (int, error) { return spliceOnce(sfd, wfd, n) }, limit)
		w.Close()
		b := <-got
		r.Close()
		want := data[:min(int64(len(data)), limit)]
		if !res.Handled || res.Err != nil || res.N != int64(len(want)) || !bytes.Equal(b, want) {
			t.Fatalf("limit %d: %+v, reader got %d bytes; want %d", limit, res, len(b), len(want))
		}
	}
}
