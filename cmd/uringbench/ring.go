package main

import (
	"bytes"
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
				{name: "C liburing", baseline: true, run: inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) { return cNoop(batch, d) })},
				{name: "uring.Ring", run: inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) { return goNoop(batch, d) })},
			},
		})
	}
	for _, g := range []int{1, 64} {
		cs = append(cs, benchCase{
			name: fmt.Sprintf("executor noop, %d goroutine(s)", g),
			impls: []impl{
				{name: "reactor", run: inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) { return execNoop(g, d) })},
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
	cMu     sync.Mutex
	cDir    string
	cBuilt  = map[string]cBuild{}
	ccFound = sync.OnceValue(func() error {
		_, err := exec.LookPath("cc")
		return err
	})
)

type cBuild struct {
	path string
	err  error
}

// cBinary compiles a C reference program from cref/ once per run. Each
// program builds on its own, when first needed, so that one that does not
// build leaves the others be.
func cBinary(name string) (string, error) {
	cMu.Lock()
	defer cMu.Unlock()
	if b, ok := cBuilt[name]; ok {
		return b.path, b.err
	}
	path, err := buildC(name)
	cBuilt[name] = cBuild{path, err}
	return path, err
}

func buildC(name string) (string, error) {
	src, err := crefs.ReadFile("cref/" + name + ".c")
	if err != nil {
		return "", fmt.Errorf("no C reference named %q", name)
	}
	if err := ccFound(); err != nil {
		return "", fmt.Errorf("C reference %s unavailable: no C compiler (apt-get install gcc): %v", name, err)
	}
	if cDir == "" {
		if cDir, err = os.MkdirTemp("", "uringbench-c"); err != nil {
			return "", err
		}
	}
	p := filepath.Join(cDir, name+".c")
	if err := os.WriteFile(p, src, 0o644); err != nil {
		return "", err
	}
	out := strings.TrimSuffix(p, ".c")
	args := []string{"-O2", "-o", out, p}
	if bytes.Contains(src, []byte("<liburing.h>")) {
		args = append(args, "-luring")
	}
	if b, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("C reference %s unavailable (needs cc and liburing-dev: apt-get install gcc liburing-dev): %v: %s", name, err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// removeCBinaries removes what cBinary built.
func removeCBinaries() {
	cMu.Lock()
	defer cMu.Unlock()
	if cDir != "" {
		os.RemoveAll(cDir)
		cDir = ""
		clear(cBuilt)
	}
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
					if _, err := e.Do(context.Background(), g, time.Time{}, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.Noop(o) }); err != nil {
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
