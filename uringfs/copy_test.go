package uringfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// copyFileRangeDenied is set in a child process where a seccomp filter
// makes copy_file_range fail with EXDEV: ReadFrom must then copy another
// way, with the same results.
var copyFileRangeDenied bool

// threadIO reads this thread's I/O accounting (/proc/thread-self/io). The
// caller locks its goroutine to the thread. copy_file_range counts one
// syscr and one syscw per call; io_uring's reads and writes count none,
// and a generic copy on package os counts one per read and per write, so
// the counts tell which path a copy took.
func threadIO(t *testing.T) (map[string]int64, bool) {
	b, err := os.ReadFile("/proc/thread-self/io")
	if err != nil {
		return nil, false // no CONFIG_TASK_IO_ACCOUNTING
	}
	m := map[string]int64{}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			m[k] = n
		}
	}
	return m, true
}

// TestReadFrom copies regular files with ReadFrom from every kind of
// source copy_file_range takes, from mid-file offsets, and checks the
// bytes, both files' offsets, the LimitedReader's N, and, through the
// thread's I/O accounting, that the kernel copied them.
func TestReadFrom(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	data := make([]byte, 1<<20+12345)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	const srcOff, dstOff = 7, 3
	type source struct {
		name  string
		limit int64 // -1: no LimitedReader
	}
	var sources []source
	for _, kind := range []string{"File", "os.File"} {
		for _, limit := range []int64{-1, 0, 1000, int64(len(data) - srcOff), int64(len(data)) * 2} {
			sources = append(sources, source{kind, limit})
		}
	}
	for _, s := range sources {
		t.Run(fmt.Sprintf("%s/limit=%d", s.name, s.limit), func(t *testing.T) {
			srcPath := filepath.Join(dir, "src")
			dstPath := filepath.Join(dir, "dst")
			if err := os.WriteFile(srcPath, data, 0644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dstPath, []byte("abcdef"), 0644); err != nil {
				t.Fatal(err)
			}
			var src io.Reader
			var seek func(int64, int) (int64, error)
			if s.name == "File" {
				f, err := cfg.Open(srcPath)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				src, seek = f, f.Seek
			} else {
				f, err := os.Open(srcPath)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				src, seek = f, f.Seek
			}
			if _, err := seek(srcOff, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			want := int64(len(data) - srcOff)
			var lr *io.LimitedReader
			if s.limit >= 0 {
				lr = &io.LimitedReader{R: src, N: s.limit}
				src = lr
				want = min(want, s.limit)
			}
			dst, err := cfg.OpenFile(dstPath, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			if _, err := dst.Seek(dstOff, io.SeekStart); err != nil {
				t.Fatal(err)
			}

			runtime.LockOSThread()
			before, accounted := threadIO(t)
			n, err := dst.ReadFrom(src)
			after, _ := threadIO(t)
			runtime.UnlockOSThread()

			if err != nil || n != want {
				t.Fatalf("ReadFrom = %d, %v; want %d, nil", n, err, want)
			}
			got, _ := os.ReadFile(dstPath)
			wantFile := append([]byte("abc"), data[srcOff:srcOff+want]...)
			if len(wantFile) < 6 {
				wantFile = append(wantFile, "abcdef"[len(wantFile):]...)
			}
			if !bytes.Equal(got, wantFile) {
				t.Fatalf("destination holds %d bytes, not the %d expected (or different ones)", len(got), len(wantFile))
			}
			if pos, _ := seek(0, io.SeekCurrent); pos != srcOff+want {
				t.Errorf("source offset %d, want %d", pos, srcOff+want)
			}
			if pos, _ := dst.Seek(0, io.SeekCurrent); pos != dstOff+want {
				t.Errorf("destination offset %d, want %d", pos, dstOff+want)
			}
			if lr != nil && lr.N != s.limit-want {
				t.Errorf("LimitedReader.N = %d, want %d", lr.N, s.limit-want)
			}
			if !accounted || want == 0 {
				return
			}
			calls := after["syscw"] - before["syscw"]
			if copyFileRangeDenied {
				// Refused: only the refusing call, then the generic
				// copy (which on package os adds its writes).
				if cfg.FallbackToOS {
					if calls < 2 {
						t.Errorf("%d write system calls with copy_file_range refused, want the generic copy's", calls)
					}
				}
				return
			}
			// One call copies everything; one more sees the end,
			// unless the limit stopped it first.
			if calls < 1 || calls > 2 || after["wchar"]-before["wchar"] != want {
				t.Errorf("this thread made %d write calls for %d bytes (wchar %d): not copy_file_range",
					calls, want, after["wchar"]-before["wchar"])
			}
		})
	}
}

// TestReadFromFallsBack covers the sources and destinations that
// copy_file_range refuses, or that are not files: each is copied
// completely another way.
func TestReadFromFallsBack(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdefghij"), 40000)
	srcPath := filepath.Join(dir, "src")
	if err := os.WriteFile(srcPath, data, 0644); err != nil {
		t.Fatal(err)
	}
	copyTo := func(t *testing.T, dstPath string, flag int, src io.Reader) (int64, error) {
		t.Helper()
		dst, err := cfg.OpenFile(dstPath, flag, 0644)
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		return dst.ReadFrom(src)
	}

	t.Run("other file system", func(t *testing.T) {
		shm, err := os.MkdirTemp("/dev/shm", "uringfs-")
		if err != nil {
			t.Skipf("no second file system at /dev/shm: %v", err)
		}
		defer os.RemoveAll(shm)
		dstPath := filepath.Join(shm, "dst")
		// Show that the kernel refuses this pair, so that the copy
		// below really is the fallback.
		in, _ := os.Open(srcPath)
		out, _ := os.Create(dstPath)
		_, cerr := unix.CopyFileRange(int(in.Fd()), nil, int(out.Fd()), nil, 10, 0)
		in.Close()
		out.Close()
		if cerr != syscall.EXDEV {
			t.Logf("copy_file_range from %s to %s: %v, not EXDEV: the kernel copies across these file systems", dir, shm, cerr)
		}
		src, err := cfg.Open(srcPath)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		n, err := copyTo(t, dstPath, os.O_WRONLY|os.O_TRUNC, src)
		got, _ := os.ReadFile(dstPath)
		if err != nil || n != int64(len(data)) || !bytes.Equal(got, data) {
			t.Fatalf("ReadFrom across file systems: %d, %v; file has %d bytes (equal: %v)", n, err, len(got), bytes.Equal(got, data))
		}
		if pos, _ := src.Seek(0, io.SeekCurrent); pos != int64(len(data)) {
			t.Errorf("source offset %d after the fallback copy, want %d", pos, len(data))
		}
	})

	t.Run("source at EOF", func(t *testing.T) {
		src, err := cfg.Open(srcPath)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		src.Seek(0, io.SeekEnd)
		dstPath := filepath.Join(dir, "eof")
		os.WriteFile(dstPath, []byte("keep"), 0644)
		n, err := copyTo(t, dstPath, os.O_WRONLY, src)
		if got, _ := os.ReadFile(dstPath); n != 0 || err != nil || string(got) != "keep" {
			t.Fatalf("ReadFrom at EOF = %d, %v; file %q", n, err, got)
		}
	})

	t.Run("append destination", func(t *testing.T) {
		src, err := os.Open(srcPath)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		dstPath := filepath.Join(dir, "append")
		os.WriteFile(dstPath, []byte("head"), 0644)
		n, err := copyTo(t, dstPath, os.O_WRONLY|os.O_APPEND, src)
		got, _ := os.ReadFile(dstPath)
		if err != nil || n != int64(len(data)) || !bytes.Equal(got, append([]byte("head"), data...)) {
			t.Fatalf("ReadFrom into O_APPEND: %d, %v", n, err)
		}
	})

	t.Run("pipe source", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		go func() {
			w.Write(data)
			w.Close()
		}()
		dstPath := filepath.Join(dir, "pipe")
		n, err := copyTo(t, dstPath, os.O_WRONLY|os.O_CREATE, io.LimitReader(r, int64(len(data)-5)))
		got, _ := os.ReadFile(dstPath)
		if err != nil || n != int64(len(data)-5) || !bytes.Equal(got, data[:len(data)-5]) {
			t.Fatalf("ReadFrom from a pipe: %d, %v", n, err)
		}
		rest, _ := io.ReadAll(r)
		if string(rest) != string(data[len(data)-5:]) {
			t.Fatalf("the limit let ReadFrom take %d bytes too many from the pipe", 5-len(rest))
		}
	})

	t.Run("same file", func(t *testing.T) {
		p := filepath.Join(dir, "self")
		os.WriteFile(p, []byte("0123456789"), 0644)
		f, err := cfg.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		// Reading and writing share the offset: os copies the file
		// onto itself, reading back what it writes, until a read meets
		// the end; bounded here by the limit.
		n, err := f.ReadFrom(io.LimitReader(f, 4))
		if err != nil || n != 4 {
			t.Fatalf("ReadFrom of the file itself: %d, %v", n, err)
		}
	})

	t.Run("closed destination", func(t *testing.T) {
		src := strings.NewReader("unread")
		dst, err := cfg.Create(filepath.Join(dir, "closed"))
		if err != nil {
			t.Fatal(err)
		}
		dst.Close()
		n, err := dst.ReadFrom(src)
		var pe *fs.PathError
		if n != 0 || !errors.As(err, &pe) || pe.Op != "write" || !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("ReadFrom into a closed File = %d, %v", n, err)
		}
		if src.Len() != len("unread") {
			t.Fatal("ReadFrom into a closed File consumed its source")
		}
	})
}

// TestReadFromCopyFileRangeRefused runs the ReadFrom tests in a child
// process where a seccomp filter makes copy_file_range fail with EXDEV, as
// old kernels do across file systems: every copy must take the other way,
// with the same bytes and offsets.
func TestReadFromCopyFileRangeRefused(t *testing.T) {
	if !inChild(t) {
		runChildWith(t, "", t.Name()+"/ReadFrom", t.Name()+"/ReadFromFallsBack")
		return
	}
	// TestMain leaves the executor to a child; this one keeps io_uring.
	if _, err := reactor.Default(); err != nil {
		t.Fatal(err)
	}
	if err := testutil.DenySyscall(unix.SYS_COPY_FILE_RANGE, syscall.EXDEV); err != nil {
		t.Fatal(err)
	}
	copyFileRangeDenied = true
	t.Run("ReadFrom", TestReadFrom)
	t.Run("ReadFromFallsBack", TestReadFromFallsBack)
}

// BenchmarkReadFromPipe copies 16 MiB a writer goroutine pushes through a
// pipe into a file: ReadFrom with splice, the generic copy (the reader
// hidden behind another type), and os.File.ReadFrom; CPU time per byte
// counts the io-wq threads splice runs on.
func BenchmarkReadFromPipe(b *testing.B) {
	const size = 16 << 20
	chunk := bytes.Repeat([]byte("pipe data "), 6554)[:64<<10]
	dir := b.TempDir()
	for _, impl := range []string{"splice", "generic", "os"} {
		b.Run(impl, func(b *testing.B) {
			b.SetBytes(size)
			c0 := cpuTime()
			for range b.N {
				r, w, err := os.Pipe()
				if err != nil {
					b.Fatal(err)
				}
				go func() {
					for sent := 0; sent < size; sent += len(chunk) {
						w.Write(chunk)
					}
					w.Close()
				}()
				p := filepath.Join(dir, impl)
				var n int64
				if impl == "os" {
					f, _ := os.Create(p)
					n, err = f.ReadFrom(r)
					f.Close()
				} else {
					f, _ := Create(p)
					var src io.Reader = r
					if impl == "generic" {
						src = struct{ io.Reader }{r}
					}
					n, err = f.ReadFrom(src)
					f.Close()
				}
				r.Close()
				if err != nil || n != size {
					b.Fatalf("copied %d, %v", n, err)
				}
			}
			b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/size, "cpu-ns/B")
		})
	}
}

// pipeSource makes a pipe of the given kind, returning the reader ReadFrom
// gets and the writing end.
func pipeSource(t *testing.T, kind string) (io.Reader, *os.File) {
	t.Helper()
	var p [2]int
	flags := unix.O_CLOEXEC
	if kind == "File nonblocking" || kind == "os.File nonblocking" {
		flags |= unix.O_NONBLOCK
	}
	if err := unix.Pipe2(p[:], flags); err != nil {
		t.Fatal(err)
	}
	w := os.NewFile(uintptr(p[1]), "w")
	t.Cleanup(func() { w.Close() })
	switch kind {
	case "File nonblocking", "File blocking":
		r := cfg.NewFile(uintptr(p[0]), "r")
		t.Cleanup(func() { r.Close() })
		return r, w
	default:
		// os polls the non-blocking one in its netpoller; the
		// blocking one it cannot.
		r := os.NewFile(uintptr(p[0]), "r")
		t.Cleanup(func() { r.Close() })
		return r, w
	}
}

// TestReadFromPipe copies from pipes of every kind ReadFrom splices from,
// with the writer slower than the copy so that it waits on an empty pipe,
// and checks the bytes, the destination's offset, and that a limit takes
// exactly its bytes and leaves the rest in the pipe.
func TestReadFromPipe(t *testing.T) {
	testutil.CheckFDs(t)
	data := make([]byte, 300000)
	for i := range data {
		data[i] = byte(i*13 + i>>8)
	}
	for _, kind := range []string{"File nonblocking", "File blocking", "os.File nonblocking", "os.File blocking"} {
		for _, limit := range []int64{-1, 123457} {
			t.Run(fmt.Sprintf("%s/limit=%d", kind, limit), func(t *testing.T) {
				src, w := pipeSource(t, kind)
				go func() {
					for off := 0; off < len(data); off += 50000 {
						time.Sleep(time.Millisecond)
						w.Write(data[off:min(off+50000, len(data))])
					}
					if limit < 0 {
						w.Close()
					}
				}()
				want := data
				var lr *io.LimitedReader
				if limit >= 0 {
					lr = &io.LimitedReader{R: src, N: limit}
					src, want = lr, data[:limit]
				}
				p := filepath.Join(t.TempDir(), "dst")
				os.WriteFile(p, []byte("abcdef"), 0644)
				dst, err := cfg.OpenFile(p, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer dst.Close()
				dst.Seek(3, io.SeekStart)
				n, err := dst.ReadFrom(src)
				if err != nil || n != int64(len(want)) {
					t.Fatalf("ReadFrom = %d, %v; want %d", n, err, len(want))
				}
				if got, _ := os.ReadFile(p); !bytes.Equal(got, append([]byte("abc"), want...)) {
					t.Fatalf("destination holds %d bytes, not the %d copied (or different ones)", len(got), 3+len(want))
				}
				if pos, _ := dst.Seek(0, io.SeekCurrent); pos != 3+int64(len(want)) {
					t.Errorf("destination offset %d, want %d", pos, 3+len(want))
				}
				if lr != nil {
					if lr.N != 0 {
						t.Errorf("LimitedReader.N = %d, want 0", lr.N)
					}
					rest := make([]byte, len(data)-len(want))
					if _, err := io.ReadFull(lr.R, rest); err != nil || !bytes.Equal(rest, data[len(want):]) {
						t.Errorf("the bytes past the limit were not left in the pipe: %v", err)
					}
				}
			})
		}
	}
}

// TestSpliceFrom checks that pipes, and only pipes, are spliced.
func TestSpliceFrom(t *testing.T) {
	testutil.CheckFDs(t)
	if cfg.FallbackToOS {
		t.Skip("package os has no splice from a pipe to a file; the generic copy runs")
	}
	dst, err := cfg.Create(filepath.Join(t.TempDir(), "dst"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	for _, kind := range []string{"File nonblocking", "os.File blocking"} {
		src, w := pipeSource(t, kind)
		w.Write([]byte("spliced"))
		w.Close()
		if n, handled, err := dst.spliceFrom(src); !handled || err != nil || n != 7 {
			t.Errorf("spliceFrom(%s) = %d, %v, %v; want 7 bytes spliced", kind, n, handled, err)
		}
	}
	if _, handled, _ := dst.spliceFrom(strings.NewReader("x")); handled {
		t.Error("spliceFrom took a reader that is no pipe")
	}
	reg, err := cfg.Open(dst.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, handled, _ := dst.spliceFrom(reg); handled {
		t.Error("spliceFrom took a regular file")
	}
	if got, _ := os.ReadFile(dst.Name()); string(got) != "splicedspliced" {
		t.Errorf("destination holds %q", got)
	}
}

// TestReadFromPipeClose: closing the destination while ReadFrom waits for
// an empty pipe does not wait for the pipe's writer; the copy then ends
// with fs.ErrClosed.
func TestReadFromPipeClose(t *testing.T) {
	testutil.CheckFDs(t)
	src, w := pipeSource(t, "File nonblocking")
	dst, err := cfg.Create(filepath.Join(t.TempDir(), "dst"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := dst.ReadFrom(src)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- dst.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		w.Write([]byte("x")) // let the test end
		t.Fatal("Close waited for the pipe's writer")
	}
	w.Write([]byte("late"))
	if err := <-done; !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("ReadFrom into the closed file: %v, want fs.ErrClosed", err)
	}
}
