package uringfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// hangBound bounds a call that must return (see testutil.Returns).
const hangBound = testutil.HangBound

// waitInStack yields until some goroutine's stack holds fn: the call
// under test has got that far.
func waitInStack(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for start := time.Now(); ; {
		n := runtime.Stack(buf, true)
		if strings.Contains(string(buf[:n]), fn) {
			return
		}
		if time.Since(start) > hangBound {
			t.Fatalf("no goroutine reached %s", fn)
		}
		runtime.Gosched()
	}
}

// blockingFile opens a file whose reads wait (nothing is ever written to
// it) in one of the ways a File can name one: a FIFO opened by name, a
// pipe through NewFile, a socket through FromOS.
func blockingFile(t *testing.T, kind string) *File {
	t.Helper()
	switch kind {
	case "fifo":
		p := filepath.Join(t.TempDir(), "fifo")
		if err := unix.Mkfifo(p, 0600); err != nil {
			t.Fatal(err)
		}
		// O_RDWR: the open does not wait for a writer, and the FIFO
		// never sees end of file.
		f, err := cfg.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		return f
	case "pipe":
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(p[1]) })
		return cfg.NewFile(uintptr(p[0]), "pipe")
	case "socket":
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(sp[1]) })
		osf := os.NewFile(uintptr(sp[0]), "socket")
		defer osf.Close()
		f, err := cfg.FromOS(osf)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	panic(kind)
}

// TestCloseWakesBatch closes a File, or the BufferPool, while a batch on
// it waits for data that never comes: Close returns, and the batch
// returns an error matching fs.ErrClosed (or the pool's closed error).
// The batch runs on a private ring, which the executor's cancel by fd
// does not reach.
func TestCloseWakesBatch(t *testing.T) {
	type batchFn func(f *File, p *BufferPool) error
	readBatch := func(f *File, _ *BufferPool) error {
		reqs := []Request{{Off: 0, Buf: make([]byte, 16)}, {Off: 0, Buf: make([]byte, 16)}}
		return f.ReadBatch(reqs, 0)
	}
	poolRead := func(f *File, p *BufferPool) error {
		c, err := p.Get()
		if err != nil {
			return err
		}
		defer p.Put(c)
		_, err = p.ReadChunkAt(f, c, WholeChunk, 0)
		return err
	}
	poolBatch := func(f *File, p *BufferPool) error {
		c, err := p.Get()
		if err != nil {
			return err
		}
		defer p.Put(c)
		return p.ReadBatch(f, []Request{{Buf: p.Bytes(c)}}, 4)
	}
	for _, kind := range []string{"fifo", "pipe", "socket"} {
		for _, tc := range []struct {
			name      string
			fn        batchFn
			closePool bool
		}{
			{"ReadBatch", readBatch, false},
			{"BufferPool.ReadChunkAt", poolRead, false},
			{"BufferPool.ReadBatch", poolBatch, false},
			{"BufferPool.ReadChunkAt/PoolClose", poolRead, true},
			{"BufferPool.ReadBatch/PoolClose", poolBatch, true},
		} {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				testutil.CheckFDs(t)
				f := blockingFile(t, kind)
				var p *BufferPool
				if tc.name != "ReadBatch" {
					var err error
					if p, err = NewBufferPool(64<<10, 4096); err != nil {
						t.Fatal(err)
					}
				}
				done := make(chan error, 1)
				go func() { done <- tc.fn(f, p) }()
				waitInStack(t, "uringfs.(*File).runBatch")
				var err error
				if tc.closePool {
					if err := testutil.Returns(t, "BufferPool.Close", p.Close); err != nil {
						t.Errorf("BufferPool.Close: %v", err)
					}
					err = testutil.Returns(t, tc.name, func() error { return <-done })
					if !errors.Is(err, errPoolClosed) {
						t.Errorf("%s after BufferPool.Close: %v, want the pool's closed error", tc.name, err)
					}
					if err := f.Close(); err != nil {
						t.Error(err)
					}
				} else {
					if err := testutil.Returns(t, "File.Close", f.Close); err != nil {
						t.Errorf("File.Close: %v", err)
					}
					err = testutil.Returns(t, tc.name, func() error { return <-done })
					if !errors.Is(err, fs.ErrClosed) {
						t.Errorf("%s after File.Close: %v, want fs.ErrClosed", tc.name, err)
					}
					if p != nil {
						if err := p.Close(); err != nil {
							t.Error(err)
						}
					}
				}
				var pe *fs.PathError
				if !errors.As(err, &pe) {
					t.Errorf("%s: %v (%T), want a *fs.PathError", tc.name, err, err)
				}
			})
		}
	}
}

// TestCloseWakesWriteBatch: the same for a WriteBatch into a full pipe.
func TestCloseWakesWriteBatch(t *testing.T) {
	testutil.CheckFDs(t)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	// Fill the pipe, then make the write end blocking again.
	for {
		if _, err := unix.Write(p[1], make([]byte, 4096)); err != nil {
			break
		}
	}
	if err := unix.SetNonblock(p[1], false); err != nil {
		t.Fatal(err)
	}
	f := cfg.NewFile(uintptr(p[1]), "pipe")
	done := make(chan error, 1)
	go func() { done <- f.WriteBatch([]Request{{Buf: make([]byte, 4096)}}, 0) }()
	waitInStack(t, "uringfs.(*File).runBatch")
	if err := testutil.Returns(t, "File.Close", f.Close); err != nil {
		t.Errorf("File.Close: %v", err)
	}
	if err := testutil.Returns(t, "WriteBatch", func() error { return <-done }); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("WriteBatch after File.Close: %v, want fs.ErrClosed", err)
	}
}

// TestCloseStopsFileBatch closes a regular file while a long ReadBatch on
// it keeps completing (page-cache hits, waited for in io_uring_enter):
// Close returns, and the batch stops early with fs.ErrClosed, every
// request either read whole or failed with fs.ErrClosed, none lost.
func TestCloseStopsFileBatch(t *testing.T) {
	testutil.CheckFDs(t)
	path := filepath.Join(t.TempDir(), "data")
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i / 16)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	reqs := make([]Request, 1<<20)
	bufs := make([]byte, 16*len(reqs))
	for i := range reqs {
		reqs[i] = Request{Off: int64(i%(len(data)/16)) * 16, Buf: bufs[i*16 : (i+1)*16]}
	}
	done := make(chan error, 1)
	go func() { done <- f.ReadBatch(reqs, 8) }()
	waitInStack(t, "uringfs.(*File).runBatch")
	if err := testutil.Returns(t, "File.Close", f.Close); err != nil {
		t.Errorf("File.Close: %v", err)
	}
	err = testutil.Returns(t, "ReadBatch", func() error { return <-done })
	if !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("ReadBatch after Close: %v, want fs.ErrClosed (the batch ran to the end instead of seeing Close)", err)
	}
	read, closed := 0, 0
	for i, q := range reqs {
		switch {
		case q.Err == nil && q.N == 16:
			read++
			if want := data[q.Off : q.Off+16]; string(q.Buf) != string(want) {
				t.Fatalf("request %d at %d read %x, want %x", i, q.Off, q.Buf, want)
			}
		case errors.Is(q.Err, fs.ErrClosed) && q.N == 0:
			closed++
		default:
			t.Fatalf("request %d: N %d, Err %v; want a whole read or fs.ErrClosed", i, q.N, q.Err)
		}
	}
	if closed == 0 {
		t.Fatalf("all %d requests read: Close did not stop the batch", read)
	}
	t.Logf("%d requests read, %d stopped by Close", read, closed)
}
