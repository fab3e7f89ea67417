package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/uring"
)

//go:embed cref/*.c
var crefs embed.FS

func ringCases() []benchCase {
	var cs []benchCase
	for _, batch := range []int{1, 64} {
		cs = append(cs, benchCase{
			name: fmt.Sprintf("noop batch=%d", batch),
			impls: []impl{
				{name: "C liburing", baseline: true, run: func(d time.Duration) (float64, time.Duration, time.Duration, error) { return cNoop(batch, d) }},
				{name: "uring.Ring", run: func(d time.Duration) (float64, time.Duration, time.Duration, error) { return goNoop(batch, d) }},
			},
		})
	}
	for _, g := range []int{1, 64} {
		cs = append(cs, benchCase{
			name: fmt.Sprintf("executor noop, %d goroutine(s)", g),
			impls: []impl{
				{name: "reactor", run: func(d time.Duration) (float64, time.Duration, time.Duration, error) { return execNoop(g, d) }},
			},
		})
	}
	return cs
}

func goNoop(batch int, d time.Duration) (float64, time.Duration, time.Duration, error) {
	r, err := uring.New[int](64)
	if err != nil {
		return 0, 0, 0, err
	}
	defer r.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ops float64
	start, cpu0 := time.Now(), selfCPU()
	for time.Since(start) < d {
		for range 256 {
			for j := range batch {
				if _, err := r.Noop(j); err != nil {
					return 0, 0, 0, err
				}
			}
			if _, err := r.Submit(); err != nil {
				return 0, 0, 0, err
			}
			for range batch {
				if _, err := r.Wait(); err != nil {
					return 0, 0, 0, err
				}
			}
			ops += float64(batch)
		}
	}
	return ops, selfCPU() - cpu0, time.Since(start), nil
}

var (
	cBuildOnce sync.Once
	cDir       string
	cBuildErr  error
)

// cBinary compiles a C reference program (liburing, from Debian's
// liburing-dev) once per run.
func cBinary(name string) (string, error) {
	cBuildOnce.Do(func() {
		cDir, cBuildErr = os.MkdirTemp("", "uringbench-c")
		if cBuildErr != nil {
			return
		}
		ents, _ := crefs.ReadDir("cref")
		for _, e := range ents {
			src, _ := crefs.ReadFile("cref/" + e.Name())
			p := filepath.Join(cDir, e.Name())
			os.WriteFile(p, src, 0o644)
			out := strings.TrimSuffix(p, ".c")
			cmd := exec.Command("cc", "-O2", "-o", out, p, "-luring")
			if b, err := cmd.CombinedOutput(); err != nil {
				cBuildErr = fmt.Errorf("C reference unavailable (needs cc and liburing-dev: apt-get install gcc liburing-dev): %v: %s", err, strings.TrimSpace(string(b)))
				return
			}
		}
	})
	if cBuildErr != nil {
		return "", cBuildErr
	}
	return filepath.Join(cDir, name), nil
}

func cNoop(batch int, d time.Duration) (float64, time.Duration, time.Duration, error) {
	bin, err := cBinary("nop")
	if err != nil {
		return 0, 0, 0, err
	}
	out, err := exec.Command(bin, fmt.Sprint(batch), fmt.Sprint(d.Milliseconds())).Output()
	if err != nil {
		return 0, 0, 0, err
	}
	var ops, cpu, wall int64
	if _, err := fmt.Sscan(string(out), &ops, &cpu, &wall); err != nil {
		return 0, 0, 0, fmt.Errorf("C nop printed %q", out)
	}
	return float64(ops), time.Duration(cpu), time.Duration(wall), nil
}

func execNoop(goroutines int, d time.Duration) (float64, time.Duration, time.Duration, error) {
	e, err := reactor.New(reactor.Config{})
	if err != nil {
		return 0, 0, 0, err
	}
	defer e.Close()
	var ops atomic.Int64
	var firstErr atomic.Value
	start, cpu0 := time.Now(), selfCPU()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(0)
			for time.Since(start) < d {
				for range 64 {
					if _, err := e.Do(context.Background(), g, time.Time{}, func(r *reactor.Ring, o *reactor.Op) (uring.Job, error) { return r.Noop(o) }); err != nil {
						firstErr.CompareAndSwap(nil, err)
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
		return 0, 0, 0, errors.Join(err)
	}
	return float64(ops.Load()), selfCPU() - cpu0, time.Since(start), nil
}
