package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/uring-go/uring/uringfs"
)

func init() {
	fileImpls = append(fileImpls, struct {
		name string
		open func(path string) (readerAt, error)
	}{"uringfs.File", func(p string) (readerAt, error) { return uringfs.Open(p) }})
	extraFileCases = append(extraFileCases, benchCase{
		name: "4 KiB random reads, batch depth 64",
		impls: []impl{{name: "uringfs batch", run: inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) {
			return batchReads(64, 4096, d)
		})}},
	}, benchCase{
		name: "whole file to /dev/null, per MiB",
		impls: []impl{
			{name: "os io.Copy", baseline: true, run: inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) {
				return toDevNull(func(p string, w *os.File) (int64, error) {
					f, err := os.Open(p)
					if err != nil {
						return 0, err
					}
					defer f.Close()
					return io.Copy(w, f)
				}, d)
			})},
			{name: "uringfs WriteTo", run: inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) {
				return toDevNull(func(p string, w *os.File) (int64, error) {
					f, err := uringfs.Open(p)
					if err != nil {
						return 0, err
					}
					defer f.Close()
					return f.WriteTo(w)
				}, d)
			})},
		},
	})
}

// toDevNull writes the whole file to /dev/null with pass until d is up,
// as cat FILE >/dev/null does, and counts MiB written. uringfs splices
// (the kernel's io-wq threads, counted in the process's CPU time, move
// page references, no bytes); io.Copy reads and writes through a buffer.
func toDevNull(pass func(path string, w *os.File) (int64, error), d time.Duration) (float64, time.Duration, time.Duration, error) {
	path, err := hotFile()
	if err != nil {
		return 0, 0, 0, err
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, 0, 0, err
	}
	defer null.Close()
	var bytes int64
	start, cpu0 := time.Now(), selfCPU()
	for time.Since(start) < d {
		n, err := pass(path, null)
		if err != nil {
			return 0, 0, 0, err
		}
		if n != fileSize() {
			return 0, 0, 0, fmt.Errorf("wrote %d bytes of %d", n, fileSize())
		}
		bytes += n
	}
	return float64(bytes) / (1 << 20), selfCPU() - cpu0, time.Since(start), nil
}

// batchReads reads random blocks from one goroutine through ReadBatch,
// depth at a time.
func batchReads(depth, size int, d time.Duration) (float64, time.Duration, time.Duration, error) {
	path, err := hotFile()
	if err != nil {
		return 0, 0, 0, err
	}
	f, err := uringfs.Open(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	reqs := make([]uringfs.Request, depth)
	for i := range reqs {
		reqs[i].Buf = make([]byte, size)
	}
	return batchesOn(f, fileSize(), reqs, depth, size, d)
}

// batchesOn is batchReads on an open file of fileSize bytes: ReadBatch
// of reqs (whose Bufs are size bytes) at depth, over and over.
func batchesOn(f *uringfs.File, fileSize int64, reqs []uringfs.Request, depth, size int, d time.Duration) (float64, time.Duration, time.Duration, error) {
	blocks := fileSize / int64(size)
	rng := rand.New(rand.NewPCG(1, 2))
	var ops float64
	start, cpu0 := time.Now(), selfCPU()
	for time.Since(start) < d {
		for i := range reqs {
			reqs[i].Off = rng.Int64N(blocks) * int64(size)
		}
		if err := f.ReadBatch(reqs, depth); err != nil {
			return 0, 0, 0, err
		}
		for i := range reqs {
			if reqs[i].Err != nil || reqs[i].N != size {
				return 0, 0, 0, fmt.Errorf("batch read at %d: %d bytes, %v", reqs[i].Off, reqs[i].N, reqs[i].Err)
			}
		}
		ops += float64(len(reqs))
	}
	return ops, selfCPU() - cpu0, time.Since(start), nil
}
