package uringfs

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/region"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// Benchmarks of random 4 KiB reads of one large page-cache-hot file, and of
// the same with O_DIRECT. The file size is URINGFS_BENCH_SIZE bytes
// (default 256 MiB; the figures asked for use 1 GiB: set 1073741824).
//
// Threads is the process's OS thread count after the run
// (/proc/self/status); it only grows, so run one sub-benchmark per
// process (-bench 'RandomReadAt/os$') to compare it. cpu-ns/op is the
// process's user+system CPU time per read.

const blockSize = 4096

func benchSize(b *testing.B) int64 {
	if s := os.Getenv("URINGFS_BENCH_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1<<20 {
			b.Fatalf("URINGFS_BENCH_SIZE=%q: want a byte count of at least 1 MiB", s)
		}
		return n &^ (blockSize - 1)
	}
	return 256 << 20
}

// benchFile writes a file of benchSize bytes and reads it once so that
// it is in the page cache.
func benchFile(b *testing.B) string {
	b.Helper()
	dir := os.Getenv("URINGFS_BENCH_DIR") // default: the test's temp dir
	if dir == "" {
		dir = b.TempDir()
	}
	p := filepath.Join(dir, "uringfs-bench-"+strconv.Itoa(os.Getpid()))
	b.Cleanup(func() { os.Remove(p) })
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("uringfs!"), 1<<17)
	size := benchSize(b)
	for off := int64(0); off < size; off += int64(len(chunk)) {
		if _, err := f.Write(chunk[:min(int64(len(chunk)), size-off)]); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	return p
}

func threads(b *testing.B) float64 {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	i := bytes.Index(st, []byte("Threads:"))
	line := st[i+len("Threads:"):]
	line = line[:bytes.IndexByte(line, '\n')]
	n, _ := strconv.Atoi(string(bytes.TrimSpace(line)))
	return float64(n)
}

func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// measure runs body and reports CPU time per op and the thread count.
func measure(b *testing.B, body func()) {
	b.SetBytes(blockSize)
	b.ReportAllocs()
	c0 := cpuTime()
	b.ResetTimer()
	body()
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(threads(b), "threads")
}

type readerAt interface {
	ReadAt([]byte, int64) (int, error)
}

// parallelReadAt: 64 goroutines (on any GOMAXPROCS) each do their share of
// b.N random aligned 4 KiB ReadAt calls on one shared file.
func parallelReadAt(b *testing.B, f readerAt, size int64, direct bool) {
	goroutinesReadAt(b, f, size, direct, 64)
}

func goroutinesReadAt(b *testing.B, f readerAt, size int64, direct bool, goroutines int) {
	randomBlocks(b, size, goroutines, 1, func(g int) ([]byte, func(), error) {
		if !direct {
			return make([]byte, blockSize), func() {}, nil
		}
		m, err := region.Mmap(blockSize)
		if err != nil {
			return nil, nil, err
		}
		return m, func() { region.Munmap(m) }, nil
	}, f.ReadAt)
}

// randomBlocks has goroutines goroutines each run their share of b.N
// calls of op on random aligned blocks of a file of size bytes, each
// with its own buffer from buf (released by the func it returns).
func randomBlocks(b *testing.B, size int64, goroutines int, seed uint64, buf func(g int) ([]byte, func(), error), op func([]byte, int64) (int, error)) {
	measure(b, func() {
		var wg sync.WaitGroup
		per := (b.N + goroutines - 1) / goroutines
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				bb, release, err := buf(g)
				if err != nil {
					b.Error(err)
					return
				}
				defer release()
				rng := rand.New(rand.NewPCG(uint64(g), seed))
				blocks := size / blockSize
				for range per {
					if _, err := op(bb, rng.Int64N(blocks)*blockSize); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}

func BenchmarkRandomReadAt(b *testing.B) {
	p := benchFile(b)
	size := benchSize(b)
	b.Run("os", func(b *testing.B) {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		parallelReadAt(b, f, size, false)
	})
	b.Run("uringfs", func(b *testing.B) {
		f, err := Open(p)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		parallelReadAt(b, f, size, false)
	})
	// One goroutine alone: nothing to batch with, so this is the cost
	// of a lone operation's round trip (and of its rare yields).
	b.Run("os-1goroutine", func(b *testing.B) {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		goroutinesReadAt(b, f, size, false, 1)
	})
	b.Run("uringfs-1goroutine", func(b *testing.B) {
		f, err := Open(p)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		goroutinesReadAt(b, f, size, false, 1)
	})
}

// BenchmarkWriteToDevNull: the whole page-cache-hot file written to
// /dev/null, as cat does: io.Copy from an *os.File (read and write
// through a 32 KiB buffer) against File.WriteTo (splice). One op is
// one pass over the file; cpu-ns/op is the process's CPU time, io-wq
// worker threads included.
func BenchmarkWriteToDevNull(b *testing.B) {
	p := benchFile(b)
	size := benchSize(b)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	run := func(b *testing.B, pass func() (int64, error)) {
		b.SetBytes(size)
		c0 := cpuTime()
		for b.Loop() {
			if n, err := pass(); err != nil || n != size {
				b.Fatalf("%d bytes, %v", n, err)
			}
		}
		b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
	}
	b.Run("os-io.Copy", func(b *testing.B) {
		run(b, func() (int64, error) {
			f, err := os.Open(p)
			if err != nil {
				return 0, err
			}
			defer f.Close()
			return io.Copy(null, f)
		})
	})
	b.Run("uringfs-WriteTo", func(b *testing.B) {
		run(b, func() (int64, error) {
			f, err := Open(p)
			if err != nil {
				return 0, err
			}
			defer f.Close()
			return f.WriteTo(null)
		})
	})
}

// randomRequests makes n requests for random aligned blocks, with bufs
// carved from mem.
func randomRequests(mem []byte, n int, size int64, seed uint64) []Request {
	rng := rand.New(rand.NewPCG(seed, 2))
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{Off: rng.Int64N(size/blockSize) * blockSize, Buf: mem[i*blockSize : (i+1)*blockSize]}
	}
	return reqs
}

// executorBatch is ReadBatch done on the shared executor with Start/Wait
// (a window of depth ops, waited in order) rather than a private ring;
// kept here to compare the two.
func executorBatch(f *File, reqs []Request, depth int) {
	ops := make([]*reactor.Operation, depth)
	fd := f.fd
	start := func(i int) {
		q := &reqs[i]
		b, off := q.Buf, q.Off
		o, err := f.start(func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.Read(fd, b, off, o) })
		if err != nil {
			q.Err = err
		}
		ops[i%depth] = o
	}
	n := 0
	for ; n < min(depth, len(reqs)); n++ {
		start(n)
	}
	for i := range reqs {
		if o := ops[i%depth]; o != nil {
			reqs[i].N, reqs[i].Err = f.wait(o)
			ops[i%depth] = nil
		}
		if n < len(reqs) {
			start(n)
			n++
		}
	}
}

// BenchmarkBatch: one goroutine, 4 KiB random reads at depth 64 (256 per
// batch call), through ReadBatch (private ring), the executor, a
// BufferPool (registered memory) and, for reference, a loop of os ReadAt.
func BenchmarkBatch(b *testing.B) {
	p := benchFile(b)
	size := benchSize(b)
	const depth, perCall = 64, 256
	run := func(b *testing.B, batch func(reqs []Request)) {
		mem := make([]byte, perCall*blockSize)
		measure(b, func() {
			for done, seed := 0, uint64(0); done < b.N; seed++ {
				n := min(perCall, b.N-done)
				reqs := randomRequests(mem, n, size, seed)
				batch(reqs)
				for i := range reqs {
					if reqs[i].Err != nil || reqs[i].N != blockSize {
						b.Fatalf("read %d: %d, %v", i, reqs[i].N, reqs[i].Err)
					}
				}
				done += n
			}
		})
	}
	f, err := Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.Run("os-loop", func(b *testing.B) {
		of, _ := os.Open(p)
		defer of.Close()
		run(b, func(reqs []Request) {
			for i := range reqs {
				reqs[i].N, reqs[i].Err = of.ReadAt(reqs[i].Buf, reqs[i].Off)
			}
		})
	})
	b.Run("ReadBatch", func(b *testing.B) {
		run(b, func(reqs []Request) {
			if err := f.ReadBatch(reqs, depth); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("executor", func(b *testing.B) {
		run(b, func(reqs []Request) { executorBatch(f, reqs, depth) })
	})
	b.Run("BufferPool", func(b *testing.B) {
		pool, err := NewBufferPool(perCall*blockSize, blockSize)
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		mem := pool.mem
		measure(b, func() {
			for done, seed := 0, uint64(0); done < b.N; seed++ {
				n := min(perCall, b.N-done)
				reqs := randomRequests(mem, n, size, seed)
				if err := pool.ReadBatch(f, reqs, depth); err != nil {
					b.Fatal(err)
				}
				done += n
			}
		})
	})
}

// BenchmarkODirect: random 4 KiB reads that go to the device, 64
// goroutines on os and on uringfs, and one goroutine at depth 64 with
// ReadBatch and with a BufferPool. URINGFS_BENCH_DIR picks the file
// system (it must support O_DIRECT).
func BenchmarkODirect(b *testing.B) {
	p := benchFile(b)
	size := benchSize(b)
	open := func(b *testing.B) *os.File {
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_DIRECT, 0)
		if err != nil {
			b.Skip("O_DIRECT unsupported here:", err)
		}
		return f
	}
	b.Run("os-64goroutines", func(b *testing.B) {
		f := open(b)
		defer f.Close()
		parallelReadAt(b, f, size, true)
	})
	b.Run("uringfs-64goroutines", func(b *testing.B) {
		open(b).Close()
		f, err := OpenFile(p, os.O_RDONLY|syscall.O_DIRECT, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		parallelReadAt(b, f, size, true)
	})
	const depth = 64
	batch := func(b *testing.B, pool *BufferPool) {
		open(b).Close()
		f, err := OpenFile(p, os.O_RDONLY|syscall.O_DIRECT, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		var mem []byte
		if pool != nil {
			mem = pool.mem
		} else {
			m, err := region.Mmap(depth * 4 * blockSize)
			if err != nil {
				b.Fatal(err)
			}
			defer region.Munmap(m)
			mem = m
		}
		measure(b, func() {
			for done, seed := 0, uint64(0); done < b.N; seed++ {
				n := min(depth*4, b.N-done)
				reqs := randomRequests(mem, n, size, seed)
				var err error
				if pool != nil {
					err = pool.ReadBatch(f, reqs, depth)
				} else {
					err = f.ReadBatch(reqs, depth)
				}
				if err != nil {
					b.Fatal(err)
				}
				done += n
			}
		})
	}
	b.Run("ReadBatch-depth64", func(b *testing.B) { batch(b, nil) })
	b.Run("BufferPool-depth64", func(b *testing.B) {
		pool, err := NewBufferPool(depth*4*blockSize, blockSize)
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		batch(b, pool)
	})
}

type writerAt interface {
	WriteAt([]byte, int64) (int, error)
}

// BenchmarkRandomWriteAt: 64 goroutines each write their share of b.N
// random aligned 4 KiB blocks of one page-cache-hot file with WriteAt.
// File systems that cannot take a buffered write without blocking
// (ext4 answers RWF_NOWAIT writes with EOPNOTSUPP) make io_uring run
// every such write on an io-wq worker.
func BenchmarkRandomWriteAt(b *testing.B) {
	p := benchFile(b)
	size := benchSize(b)
	run := func(b *testing.B, f writerAt) {
		randomBlocks(b, size, 64, 2, func(g int) ([]byte, func(), error) {
			return bytes.Repeat([]byte{byte(g)}, blockSize), func() {}, nil
		}, f.WriteAt)
	}
	b.Run("os", func(b *testing.B) {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		run(b, f)
	})
	b.Run("uringfs", func(b *testing.B) {
		f, err := OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		run(b, f)
	})
	// ring: every write on io_uring, as File wrote them before writes
	// that RWF_NOWAIT refuses went to pwritev2 (nowait.go).
	b.Run("ring", func(b *testing.B) {
		f, err := OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		f.wdirect.state.Store(directOff)
		run(b, f)
	})
}

// BenchmarkStat: File.Stat against os.File.Stat on one open file, and
// ring: the same statx(2) as an io_uring operation, which File.Stat
// stopped using because io_uring runs every statx on an io-wq worker.
func BenchmarkStat(b *testing.B) {
	p := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	type stater interface {
		Stat() (os.FileInfo, error)
		Close() error
	}
	for _, im := range []struct {
		name string
		open func(string) (stater, error)
	}{
		{"os", func(p string) (stater, error) { return os.Open(p) }},
		{"uringfs", func(p string) (stater, error) { return Open(p) }},
	} {
		b.Run(im.name, func(b *testing.B) {
			f, err := im.open(p)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.ReportAllocs()
			c0 := cpuTime()
			for range b.N {
				if _, err := f.Stat(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
	b.Run("ring", func(b *testing.B) {
		f, err := Open(p)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if f.exec == nil {
			b.Skip(f.execErr)
		}
		st := new(unix.Statx_t)
		fd := f.fd
		b.ReportAllocs()
		c0 := cpuTime()
		for range b.N {
			if _, err := f.run(func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
				return r.Statx(fd, "", uring.AtEmptyPath, uring.StatxBasicStats, st, o)
			}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
	})
}
