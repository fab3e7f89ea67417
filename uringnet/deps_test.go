package uringnet_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goTool returns the go command, or skips where there is none (the
// kernel-matrix VM runs test binaries without a toolchain).
func goTool(t *testing.T) string {
	t.Helper()
	g, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH:", err)
	}
	return g
}

// The library's packages below the engine link no gnet: a program that
// only listens and dials must not pay for the engine (gnet pulls in zap,
// ants, lumberjack and net/http, and starts goroutines at init).
func TestImportGraph(t *testing.T) {
	g := goTool(t)
	forbidden := []string{"github.com/panjf2000/", "go.uber.org/zap", "gopkg.in/natefinch/lumberjack", "net/http"}
	for _, pkg := range []string{"uringnet", "uringfs", "uring", "region"} {
		out, err := exec.Command(g, "list", "-deps", "github.com/uring-go/uring/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for dep := range strings.FieldsSeq(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s imports %s (through the engine's dependencies?); only package uringnet/engine may", pkg, dep)
				}
			}
		}
	}
}

// A program that only calls uringnet.Listen starts no goroutine before
// main and is within 15% of the same program on package net in size.
func TestListenOnlyProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two programs")
	}
	g := goTool(t)
	dir := t.TempDir()
	size := map[string]int64{}
	for _, p := range []string{"listenonly", "netonly"} {
		bin := filepath.Join(dir, p)
		if out, err := exec.Command(g, "build", "-o", bin, "./testdata/"+p).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", p, err, out)
		}
		fi, err := os.Stat(bin)
		if err != nil {
			t.Fatal(err)
		}
		size[p] = fi.Size()
		out, err := exec.Command(bin, "listen").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", p, err, out)
		}
		if n := strings.TrimSpace(string(out)); n != "1" {
			t.Errorf("%s: %s goroutines at the start of main, want 1 (main itself)", p, n)
		}
	}
	ratio := float64(size["listenonly"]) / float64(size["netonly"])
	t.Logf("Listen-only binary: uringnet %d bytes, net %d bytes (%.3fx)", size["listenonly"], size["netonly"], ratio)
	if ratio > 1.15 {
		t.Errorf("a Listen-only program on uringnet is %.2fx the size of the same program on net; want at most 1.15x", ratio)
	}
}
