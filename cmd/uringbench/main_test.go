package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

// TestMain lets the test binary play the child roles (-serve, -load) that
// the benchmark cases start, as the uringbench binary does.
func TestMain(m *testing.M) {
	flag.Parse()
	if *flagServe != "" {
		if err := serve(*flagServe); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	if *flagLoad != "" {
		if err := load(*flagLoad); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	testutil.Main(m)
}

// A quick pass over one case of each kind: each runs and does work. This
// is a smoke test, not a measurement.
func TestSmoke(t *testing.T) {
	*flagShort = true
	d := 100 * time.Millisecond
	for _, tc := range []struct {
		name string
		run  func(time.Duration) (float64, time.Duration, time.Duration, error)
	}{
		{"ring", func(d time.Duration) (float64, time.Duration, time.Duration, error) { return goNoop(64, d) }},
		{"executor", func(d time.Duration) (float64, time.Duration, time.Duration, error) { return execNoop(8, d) }},
		{"echo-net", func(d time.Duration) (float64, time.Duration, time.Duration, error) {
			return serverLoad("echo-net", "echo", d, "-conns", "4", "-size", "64")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, cpu, wall, err := tc.run(d)
			if err != nil {
				t.Fatal(err)
			}
			if ops <= 0 || wall <= 0 || cpu < 0 {
				t.Fatalf("ops %v, cpu %v, wall %v", ops, cpu, wall)
			}
		})
	}
}

func TestTableAndChart(t *testing.T) {
	rs := []Result{
		{Group: "echo", Case: "c", Impl: "net", Baseline: true, OpsPerS: 100, CPUNsOp: 10},
		{Group: "echo", Case: "c", Impl: "uringnet", OpsPerS: 150, CPUNsOp: 5},
		{Group: "echo", Case: "c", Impl: "broken", Note: "failed"},
	}
	ratios(rs)
	if rs[1].Speedup != 1.5 || rs[1].CPURatio != 0.5 {
		t.Fatalf("ratios: %+v", rs[1])
	}
	var b bytes.Buffer
	printTable(&b, rs)
	for _, want := range []string{"base", "1.50", "0.50", "(failed)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	svg := string(chart(rs))
	if !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "uringnet") || strings.Contains(svg, "broken") {
		t.Errorf("chart:\n%s", svg)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// A -json file read back with -from gives the same table and a chart.
func TestReplay(t *testing.T) {
	dir := t.TempDir()
	rs := []Result{
		{Group: "ring", Case: "noop", Impl: "C", Baseline: true, OpsPerS: 10, CPUNsOp: 100, Runs: 3},
		{Group: "ring", Case: "noop", Impl: "Go", OpsPerS: 9, CPUNsOp: 110, Runs: 3, Speedup: 0.9, CPURatio: 1.1},
	}
	b, _ := json.Marshal(report{"test machine", 3, rs})
	in := filepath.Join(dir, "in.json")
	os.WriteFile(in, b, 0o644)
	svg := filepath.Join(dir, "out.svg")
	*flagSVG = svg
	defer func() { *flagSVG = "" }()
	if err := replay(in); err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(svg)
	if err != nil || !strings.Contains(string(out), "ring / noop: Go") {
		t.Fatalf("chart: %v\n%s", err, out)
	}
	if err := replay(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("replay of a missing file succeeded")
	}
}
