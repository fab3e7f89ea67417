package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
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
			fmt.Fprintln(os.Stderr, "uringbench server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if *flagLoad != "" {
		if err := load(*flagLoad); err != nil {
			fmt.Fprintln(os.Stderr, "uringbench load:", err)
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
		run  func(time.Duration) (measurement, error)
	}{
		{"ring", inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) { return goNoop(64, d) })},
		{"executor", inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) { return execNoop(8, d) })},
		{"echo-net, Go client", func(d time.Duration) (measurement, error) {
			return serverLoad("echo-net", goLoad(clientGo, "echo", "-conns", "4", "-size", "64"), d)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := measureSome(tc.run, d)
			if err != nil {
				t.Fatal(err)
			}
			if m.ops <= 0 || m.wall <= 0 || m.cpu < 0 || m.clientCPU < 0 {
				t.Fatalf("%+v", m)
			}
		})
	}
}

// measureSome runs a case for d, and for four times as long while it
// reports no operations, up to a few seconds: on a loaded machine a short
// window may see none, which says nothing about the case.
func measureSome(run func(time.Duration) (measurement, error), d time.Duration) (measurement, error) {
	for {
		m, err := run(d)
		if err != nil || m.ops > 0 || d > 2*time.Second {
			return m, err
		}
		d *= 4
	}
}

// needC skips a test when the C reference cannot be built here; what it
// builds goes when the test ends.
func needC(t *testing.T, name string) string {
	t.Helper()
	t.Cleanup(removeCBinaries)
	bin, err := cBinary(name)
	if err != nil {
		t.Skip(err)
	}
	return bin
}

// The C load client drives real servers, Go and C, through the harness:
// it connects, counts round trips, and its CPU time is read.
func TestCLoadClient(t *testing.T) {
	needC(t, "loadc")
	_, echoErr := cBinary("echo")
	for _, srv := range []string{"echo-net", "echo-engine", "echo-engine-sfrb", "echo-c"} {
		// 64 KiB messages take many receive buffers each, and their
		// sends may complete short.
		for _, size := range []int{64, 4096, 64 << 10} {
			t.Run(fmt.Sprintf("%s/%d", srv, size), func(t *testing.T) {
				if srv == "echo-c" && echoErr != nil {
					t.Skip(echoErr)
				}
				client := echoClient(20, size)
				if client.name != clientC {
					t.Fatalf("echo group client %q with loadc built", client.name)
				}
				m, err := measureSome(func(d time.Duration) (measurement, error) { return serverLoad(srv, client, d) }, 100*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				if m.ops <= 0 || m.wall <= 0 || m.client != clientC {
					t.Fatalf("%+v", m)
				}
			})
		}
	}
}

// Without a C compiler the echo group says so and loads with Go.
func TestEchoClientFallback(t *testing.T) {
	cMu.Lock()
	saved, had := cBuilt["loadc"]
	cBuilt["loadc"] = cBuild{err: errors.New("no C compiler")}
	cMu.Unlock()
	defer func() {
		cMu.Lock()
		if had {
			cBuilt["loadc"] = saved
		} else {
			delete(cBuilt, "loadc")
		}
		cMu.Unlock()
	}()
	client := echoClient(4, 64)
	if client.name != clientGo {
		t.Fatalf("client %q, want the Go fallback", client.name)
	}
	var b bytes.Buffer
	printTable(&b, nil)
	if !strings.Contains(b.String(), "echo fell back to the Go client") || !strings.Contains(b.String(), "no C compiler") {
		t.Errorf("the table does not say why echo used the Go client:\n%s", b.String())
	}
	m, err := measureSome(func(d time.Duration) (measurement, error) { return serverLoad("echo-net", client, d) }, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if m.ops <= 0 || m.client != clientGo {
		t.Fatalf("%+v", m)
	}
}

// faultyEcho serves one connection on ln, writing back what reply makes
// of each read (total is the bytes read before it), and hangs up when
// reply returns nil.
func faultyEcho(ln net.Listener, reply func(total int, b []byte) []byte) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	total := 0
	for {
		n, err := c.Read(buf)
		if n > 0 {
			out := reply(total, buf[:n])
			if out == nil {
				return
			}
			total += n
			if _, err := c.Write(out); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// The C load client checks every byte it gets back: a changed or extra
// byte, or a server hanging up, ends it with an error that says what went
// wrong, rather than counting a round trip.
func TestCLoadClientChecks(t *testing.T) {
	bin := needC(t, "loadc")
	const size = 4096
	for _, tc := range []struct {
		name  string
		reply func(total int, b []byte) []byte
		want  string
	}{
		{"changed byte", func(total int, b []byte) []byte {
			if at := 10*size + 1000 - total; at >= 0 && at < len(b) {
				b[at]++
			}
			return b
		}, `round 10: echoed byte 1000 `},
		// An echo written twice puts its copy where the next round's
		// message belongs.
		{"duplicate", func(total int, b []byte) []byte {
			if total <= 3*size && 3*size < total+len(b) {
				return append(b, b...)
			}
			return b
		}, `round 4: echoed byte|round 3: \d+ bytes echoed, only 4096 sent`},
		{"hang-up", func(total int, b []byte) []byte {
			if total >= 5*size {
				return nil
			}
			return b
		}, `server closed the connection after 0 of 4096 bytes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { defer close(done); faultyEcho(ln, tc.reply) }()
			defer func() { ln.Close(); <-done }()
			var stderr bytes.Buffer
			cmd := exec.Command(bin, ln.Addr().String(), "1", strconv.Itoa(size))
			cmd.Stderr = &stderr
			// A stdin that stays open: the client runs until it fails.
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			cmd.Stdin = pr
			out, err := cmd.Output()
			pr.Close()
			if err == nil {
				t.Fatalf("loadc exited cleanly:\n%s", out)
			}
			if string(out) != "ready\n" || !regexp.MustCompile(tc.want).MatchString(stderr.String()) {
				t.Fatalf("stdout %q, stderr %q, want %q", out, stderr.String(), tc.want)
			}
		})
	}
}

func TestTableAndChart(t *testing.T) {
	rs := []Result{
		{Group: "echo", Case: "c", Impl: "net", Baseline: true, OpsPerS: 100, CPUNsOp: 10, Busy: 0.97, Client: clientC, ClientBusy: 0.61},
		{Group: "echo", Case: "c", Impl: "uringnet", OpsPerS: 150, CPUNsOp: 5, Busy: 0.75, Client: clientC, ClientBusy: 0.92},
		{Group: "echo", Case: "c", Impl: "broken", Note: "failed"},
	}
	ratios(rs)
	if rs[1].Speedup != 1.5 || rs[1].CPURatio != 0.5 {
		t.Fatalf("ratios: %+v", rs[1])
	}
	var b bytes.Buffer
	printTable(&b, rs)
	for _, want := range []string{"base", "1.50", "0.50", "(failed)", " C ", "0.97", "0.61", "client C: cref/loadc.c"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	svg := string(chart(rs))
	if !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "echo / c: uringnet (C client)") || strings.Contains(svg, "broken") {
		t.Errorf("chart:\n%s", svg)
	}
}

// Runs take turns across impls; a failing impl stops and says why; the
// figures are the medians of the runs.
func TestRunCaseTakesTurns(t *testing.T) {
	var order []string
	fake := func(name string, fail bool) impl {
		n := 0
		return impl{name: name, run: func(time.Duration) (measurement, error) {
			order = append(order, name)
			n++
			if fail {
				return measurement{}, errors.New("broken")
			}
			return measurement{ops: float64(100 * n), cpu: time.Duration(n) * time.Millisecond, wall: time.Second, client: clientC, clientCPU: 500 * time.Millisecond}, nil
		}}
	}
	c := benchCase{name: "c", impls: []impl{fake("a", false), fake("b", true), fake("c", false)}}
	var started []string
	rs := runCase("g", c, 3, func(im string) { started = append(started, im) })
	if got, want := strings.Join(order, " "), "a b c a c a c"; got != want {
		t.Errorf("run order %q, want %q", got, want)
	}
	if strings.Join(started, " ") != strings.Join(order, " ") {
		t.Errorf("started %q, ran %q", started, order)
	}
	a, b := rs[0], rs[1]
	// Runs did 100, 200, 300 ops in 1, 2, 3 ms of server CPU.
	if a.OpsPerS != 200 || a.CPUNsOp != 10000 || a.Runs != 3 || a.Busy != 0.002 || a.ClientBusy != 0.5 || a.Client != clientC {
		t.Errorf("a: %+v", a)
	}
	if b.Runs != 0 || b.Note != "broken" || b.OpsPerS != 0 {
		t.Errorf("b: %+v", b)
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

// Figures besides ops/s and cpu/op are medians of the runs, get ratios to
// the baseline's figure of the same name, and show in the table; a case
// with figures only (no wall time) has no throughput.
func TestFigures(t *testing.T) {
	fig := func(name string, vals ...float64) impl {
		n := 0
		return impl{name: name, baseline: name == "first", run: func(time.Duration) (measurement, error) {
			v := vals[n%len(vals)]
			n++
			return measurement{figures: []Figure{{Name: "rss/conn", Value: v, Unit: "B"}, {Name: "p99", Value: v * 1000, Unit: "ns"}}}, nil
		}}
	}
	c := benchCase{name: "c", impls: []impl{fig("first", 2048, 4096, 1024), fig("other", 1024, 512, 2048)}}
	rs := runCase("idle", c, 3, func(string) {})
	ratios(rs)
	if rs[0].Runs != 3 || rs[0].OpsPerS != 0 || len(rs[0].Figures) != 2 || rs[0].Figures[0].Value != 2048 {
		t.Fatalf("base: %+v", rs[0])
	}
	if f := rs[1].Figures[0]; f.Value != 1024 || f.Ratio != 0.5 {
		t.Fatalf("other: %+v", rs[1].Figures)
	}
	var b bytes.Buffer
	printTable(&b, rs)
	for _, want := range []string{"rss/conn=2.0KiB", "rss/conn=1.0KiB (x0.50)", "p99=1.024ms (x0.50)", "(xR) is its ratio"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), " base ") {
		t.Errorf("a case without throughput shows a throughput baseline:\n%s", b.String())
	}
	if svg := string(chart(rs)); !strings.Contains(svg, "idle / c: other, rss/conn") || !strings.Contains(svg, ">0.50<") {
		t.Errorf("chart:\n%s", svg)
	}
}

func TestParseSample(t *testing.T) {
	ops, figs, err := parseSample("1234 p50=1500 p99.9=90000")
	if err != nil || ops != 1234 || len(figs) != 2 || figs[1] != (Figure{Name: "p99.9", Value: 90000, Unit: "ns"}) {
		t.Fatalf("%v %+v %v", ops, figs, err)
	}
	for _, bad := range []string{"", "x", "12 p50", "12 p50=x"} {
		if _, _, err := parseSample(bad); err == nil {
			t.Errorf("parseSample(%q) took it", bad)
		}
	}
}

// The new groups' cases run for real, briefly, on every server they
// compare: a smoke test of the group, not a measurement.
func shortGroup(t *testing.T, name string) []benchCase {
	t.Helper()
	saved := *flagShort
	*flagShort = true
	t.Cleanup(func() { *flagShort = saved })
	t.Cleanup(cleanUp)
	for _, g := range groups {
		if g.name == name {
			return g.cases()
		}
	}
	t.Fatalf("no group %q", name)
	return nil
}

func TestChurnGroup(t *testing.T) { smokeLoadGroup(t, "churn", 4) }

// smokeLoadGroup runs, briefly, each impl of the one short case of a
// group whose servers the Go load client loads, and checks each did
// work.
func smokeLoadGroup(t *testing.T, name string, impls int) {
	cs := shortGroup(t, name)
	if len(cs) != 1 || len(cs[0].impls) != impls {
		t.Fatalf("%s cases: %+v", name, cs)
	}
	for _, im := range cs[0].impls {
		t.Run(im.name, func(t *testing.T) {
			m, err := measureSome(im.run, 100*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if m.ops <= 0 || m.client != clientGo {
				t.Fatalf("%+v", m)
			}
		})
	}
}

func TestIdleGroup(t *testing.T) {
	cs := shortGroup(t, "idle")
	if len(cs) != 1 || len(cs[0].impls) != 4 {
		t.Fatalf("idle cases: %+v", cs)
	}
	for _, im := range cs[0].impls {
		t.Run(im.name, func(t *testing.T) {
			m, err := im.run(0)
			if err != nil {
				t.Fatal(err)
			}
			// Memory may even shrink under a server; the figures are
			// there and not negative.
			if m.wall != 0 || len(m.figures) != 2 || m.figures[0].Name != "rss/conn" || m.figures[1].Name != "heap/conn" || m.figures[0].Value < 0 || m.figures[1].Value < 0 {
				t.Fatalf("%+v", m)
			}
		})
	}
}

// A server answers "mem" with its live heap, which grows with what it
// holds.
func TestServerMem(t *testing.T) {
	srv, addr, err := child("-serve", "echo-net", "-addr", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	if strings.HasPrefix(addr, "error") {
		t.Fatal(addr)
	}
	line, err := srv.ask("mem")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := strconv.ParseUint(line, 10, 64); err != nil || n == 0 {
		t.Fatalf("mem: %q", line)
	}
	if rss, err := procRSS(srv.pid()); err != nil || rss < 1<<20 {
		t.Fatalf("rss %d, %v", rss, err)
	}
}

// The closed-loop case sets net's rate; the open-loop cases offer shares
// of it to every server and report latency percentiles.
func TestLatencyGroup(t *testing.T) {
	cs := shortGroup(t, "latency")
	if len(cs) != 3 || len(cs[0].impls) != 1 || len(cs[1].impls) != 4 {
		t.Fatalf("latency cases: %+v", cs)
	}
	if _, err := cs[1].impls[0].run(50 * time.Millisecond); err == nil {
		t.Fatal("an open-loop case ran before the closed loop set the rate")
	}
	m, err := measureSome(cs[0].impls[0].run, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if m.ops <= 0 || m.client != clientSched || len(m.figures) != 3 {
		t.Fatalf("closed loop: %+v", m)
	}
	for _, im := range cs[1].impls {
		t.Run(im.name, func(t *testing.T) {
			m, err := measureSome(im.run, 100*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if m.ops <= 0 || len(m.figures) != 4 || m.figures[0].Name != "offered" || m.figures[3].Name != "p99.9" {
				t.Fatalf("%+v", m)
			}
			if p50, p999 := m.figures[1].Value, m.figures[3].Value; p50 <= 0 || p999 < p50 {
				t.Fatalf("p50 %v, p99.9 %v", p50, p999)
			}
		})
	}
}

// A percentile read from the histogram is within 1.6% of the true one.
func TestLatHist(t *testing.T) {
	var h latHist
	for v := int64(1); v <= 100000; v++ {
		h.add(v * 37)
	}
	for _, q := range []float64{0.5, 0.99, 0.999} {
		want := q * 100000 * 37
		got := float64(h.quantile(q))
		if got < want*0.984 || got > want*1.016 {
			t.Errorf("quantile(%v) = %v, want about %v", q, got, want)
		}
	}
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 40, 1<<63 + 5} {
		b := latBucket(v)
		if b < 0 || b >= len(h.counts) || (v >= 64 && (float64(latValue(b)) < float64(v)*0.984 || float64(latValue(b)) > float64(v)*1.016)) || (v < 64 && latValue(b) != v) {
			t.Errorf("value %d: bucket %d of value %d", v, b, latValue(b))
		}
	}
}

// Every disk impl reads at every short depth, fio when it is installed;
// the file goes at the end.
func TestDiskGroup(t *testing.T) {
	cs := shortGroup(t, "disk")
	if _, _, err := diskFile(); errors.Is(err, syscall.EINVAL) {
		t.Skip(err) // TMPDIR on a file system without O_DIRECT
	} else if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 {
		t.Fatalf("disk cases: %+v", cs)
	}
	for _, c := range cs {
		for _, im := range c.impls {
			t.Run(c.name+"/"+im.name, func(t *testing.T) {
				if _, err := exec.LookPath("fio"); err != nil && im.name == "fio io_uring" {
					t.Skip("fio not installed")
				}
				m, err := measureSome(im.run, 50*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				if m.ops <= 0 || m.cpu < 0 || m.wall <= 0 {
					t.Fatalf("%+v", m)
				}
			})
		}
	}
	path, _, err := diskFile()
	if err != nil {
		t.Fatal(err)
	}
	cleanUp()
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("the disk file's directory is still there: %v", err)
	}
}

// The latency client checks every echo: a changed byte or a server
// hanging up ends it with an error, rather than counting a reply.
func TestSchedClientChecks(t *testing.T) {
	const size = 64
	for _, tc := range []struct {
		name  string
		reply func(total int, b []byte) []byte
		want  string
	}{
		{"changed byte", func(total int, b []byte) []byte {
			if at := 10*size + 20 - total; at >= 0 && at < len(b) {
				b[at]++
			}
			return b
		}, "corrupted echo"},
		{"hang-up", func(total int, b []byte) []byte {
			if total >= 5*size {
				return nil
			}
			return b
		}, "closed a connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { defer close(done); faultyEcho(ln, tc.reply) }()
			defer func() { ln.Close(); <-done }()
			path, args, err := schedClient(1, size, 0).argv(ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(path, args...)
			cmd.Stderr = &stderr
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			cmd.Stdin = pr
			out, err := cmd.Output()
			pr.Close()
			if err == nil {
				t.Fatalf("the client exited cleanly:\n%s", out)
			}
			if string(out) != "ready\n" || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stdout %q, stderr %q, want %q", out, stderr.String(), tc.want)
			}
		})
	}
}

// -depths takes positive queue depths, comma-separated, and refuses
// anything else with a message that says what it wants.
func TestParseDepths(t *testing.T) {
	for in, want := range map[string][]int{"16": {16}, "1,16, 128": {1, 16, 128}} {
		if got, err := parseDepths(in); err != nil || !slices.Equal(got, want) {
			t.Errorf("parseDepths(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "1,x", "1,,2", "5000"} {
		if got, err := parseDepths(in); err == nil || !strings.Contains(err.Error(), "positive integers") {
			t.Errorf("parseDepths(%q) = %v, %v; want an error saying what -depths takes", in, got, err)
		}
	}
}
