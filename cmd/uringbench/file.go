package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// fileImpls are the file readers compared, baseline first; the uringfs
// ones are registered by file_uringfs.go.
var fileImpls = []struct {
	name string
	open func(path string) (readerAt, error)
}{
	{"os.File", func(p string) (readerAt, error) { return os.Open(p) }},
}

type readerAt interface {
	ReadAt(p []byte, off int64) (int, error)
	Close() error
}

// fileSize is the size of the page-cache-hot file the file group reads.
func fileSize() int64 {
	if *flagShort {
		return 64 << 20
	}
	return 1 << 30
}

var (
	testFileOnce sync.Once
	testFile     string
	testFileErr  error
)

// hotFile creates the file once per run and reads it once so that it is
// in the page cache.
func hotFile() (string, error) {
	testFileOnce.Do(func() {
		dir, err := os.MkdirTemp("", "uringbench-file")
		if err != nil {
			testFileErr = err
			return
		}
		atEnd(func() { os.RemoveAll(dir) })
		testFile = filepath.Join(dir, "data")
		f, err := os.Create(testFile)
		if err != nil {
			testFileErr = err
			return
		}
		defer f.Close()
		buf := make([]byte, 1<<20)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		for off := int64(0); off < fileSize(); off += int64(len(buf)) {
			if _, err := f.Write(buf); err != nil {
				testFileErr = err
				return
			}
		}
	})
	return testFile, testFileErr
}

func fileCases() []benchCase {
	random := benchCase{name: "4 KiB random ReadAt, 64 goroutines"}
	lone := benchCase{name: "4 KiB random ReadAt, 1 goroutine"}
	seq := benchCase{name: "1 MiB sequential ReadAt"}
	for i, im := range fileImpls {
		random.impls = append(random.impls, impl{
			name: im.name, baseline: i == 0,
			run: inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) {
				return randomReads(im.open, 64, 4096, d)
			}),
		})
		lone.impls = append(lone.impls, impl{
			name: im.name, baseline: i == 0,
			run: inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) {
				return randomReads(im.open, 1, 4096, d)
			}),
		})
		seq.impls = append(seq.impls, impl{
			name: im.name, baseline: i == 0,
			run: inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) {
				return randomReads(im.open, 1, 1<<20, d)
			}),
		})
	}
	cs := []benchCase{random, lone, seq}
	cs = append(cs, extraFileCases...)
	return cs
}

// extraFileCases are cases with no standard-library counterpart (the batch
// API), registered by file_uringfs.go.
var extraFileCases []benchCase

// randomReads reads size-byte blocks at random block offsets from
// goroutines goroutines (sequentially when one goroutine reads blocks of
// 1 MiB or more) and counts the reads.
func randomReads(open func(string) (readerAt, error), goroutines, size int, d time.Duration) (float64, time.Duration, time.Duration, error) {
	path, err := hotFile()
	if err != nil {
		return 0, 0, 0, err
	}
	f, err := open(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	return readsOn(f, fileSize(), goroutines, size, func(int) []byte { return make([]byte, size) }, d)
}

// readsOn is randomReads on an open file of fileSize bytes, goroutine g
// reading into buf(g).
func readsOn(f readerAt, fileSize int64, goroutines, size int, buf func(g int) []byte, d time.Duration) (float64, time.Duration, time.Duration, error) {
	blocks := fileSize / int64(size)
	var ops atomic.Int64
	var firstErr atomic.Value
	start, cpu0 := time.Now(), selfCPU()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := buf(g)
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			n := int64(0)
			seq := int64(g)
			for time.Since(start) < d {
				for range 16 {
					var off int64
					if goroutines == 1 && size >= 1<<20 {
						off = (seq % blocks) * int64(size)
						seq++
					} else {
						off = rng.Int64N(blocks) * int64(size)
					}
					if n, err := f.ReadAt(buf, off); err != nil || n != size {
						firstErr.CompareAndSwap(nil, fmt.Errorf("ReadAt(%d): %d bytes, %v", off, n, err))
						return
					}
					n++
				}
			}
			ops.Add(n)
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, 0, err
	}
	return float64(ops.Load()), selfCPU() - cpu0, time.Since(start), nil
}
