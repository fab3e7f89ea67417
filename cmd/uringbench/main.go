// Command uringbench measures uring-go against what a Go developer would
// pick instead: the standard library (net, os), gnet v2, and C liburing and
// fio as the limit. Every comparison runs side by side in one run and
// reports throughput, CPU time per operation and the ratio to the
// baseline, and where a group measures more (bytes per idle connection,
// latency percentiles) those figures and their ratios too.
//
//	go run ./cmd/uringbench                 # everything, a table on stdout
//	go run ./cmd/uringbench -only echo      # one group: ring, file, disk, echo, frames, http, churn, idle, latency
//	go run ./cmd/uringbench -short          # a quick pass
//	go run ./cmd/uringbench -json out.json -svg out.svg
//	go run ./cmd/uringbench -only echo -client go   # the Go load client
//
// Network servers run in child processes of this command, pinned to one
// CPU, and the load client in another, pinned to the other CPU when there
// is one; server and client CPU time come from /proc/PID/stat. The echo
// group's client is C (cref/loadc.c) when a C compiler is at hand, else Go;
// the http group's is wrk when installed, else Go; frames, churn and idle use a Go
// client, latency an open-loop one (raw epoll and a timerfd, so that the
// schedule holds to the microsecond). The idle group asks each server for
// its live heap on a control line and reads its VmRSS. In-process cases
// (ring, file, disk) take the process's CPU time from getrusage; the disk
// group's fio row takes fio's own.
//
// The figures it produced, and the history of the measurements that
// decided the library's design, are kept in one place:
// docs/benchmarks.md, beside the kept run (docs/uringbench.json).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

var (
	flagOnly  = flag.String("only", "", "run only this group: "+groupNames())
	flagShort = flag.Bool("short", false, "a quick pass: shorter runs, fewer cases")
	flagJSON  = flag.String("json", "", "write the raw figures to this file")
	flagSVG   = flag.String("svg", "", "draw a chart of the ratios to this SVG file")
	flagRuns  = flag.Int("runs", 3, "runs per case; the median is reported")
	flagDur   = flag.Duration("duration", 2*time.Second, "measured time per run")
	flagFrom  = flag.String("from", "", "print the table (and -svg chart) of an earlier -json file instead of measuring")

	// Child-process roles; not for direct use.
	flagServe = flag.String("serve", "", "internal: run a benchmark server of this kind")
	flagLoad  = flag.String("load", "", "internal: run a load client of this kind")
)

// Result is one implementation's figures for one case.
type Result struct {
	Group    string  `json:"group"`
	Case     string  `json:"case"`
	Impl     string  `json:"impl"`
	Baseline bool    `json:"baseline"`
	OpsPerS  float64 `json:"ops_per_s"`
	CPUNsOp  float64 `json:"cpu_ns_per_op"`
	Runs     int     `json:"runs"`
	// Busy is the CPU time the measured process (the server, for network
	// cases) used per second of wall time: near 1 on one CPU means it was
	// saturated and cpu/op is the most it could do.
	Busy float64 `json:"cpu_busy,omitempty"`
	// Client names the load client of a network case; ClientBusy is its
	// CPU time per second of wall time, near 1 when it set the pace.
	Client     string  `json:"client,omitempty"`
	ClientBusy float64 `json:"client_busy,omitempty"`
	Note       string  `json:"note,omitempty"`
	// Figures are what a case measures besides ops/s and cpu/op, medians
	// of the runs like them.
	Figures []Figure `json:"figures,omitempty"`
	// Ratios to the case's baseline, filled in at the end.
	Speedup  float64 `json:"throughput_ratio,omitempty"`
	CPURatio float64 `json:"cpu_ratio,omitempty"`
}

// Figure is a named figure a case measures besides ops/s and cpu/op: the
// bytes a server holds per idle connection, a latency percentile.
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// Unit is "B" (bytes), "ns" or "/s".
	Unit string `json:"unit"`
	// Ratio is Value / the baseline's figure of the same name, filled in
	// at the end; lower is better for bytes and latencies.
	Ratio float64 `json:"ratio,omitempty"`
}

// String formats the figure for the table: "p99=1.2ms".
func (f Figure) String() string {
	v := ""
	switch f.Unit {
	case "B":
		if f.Value >= 1<<10 {
			v = fmt.Sprintf("%.1fKiB", f.Value/(1<<10))
		} else {
			v = fmt.Sprintf("%.0fB", f.Value)
		}
	case "ns":
		d := time.Duration(f.Value)
		if d >= 10*time.Microsecond {
			d = d.Round(time.Microsecond)
		}
		v = d.String()
	case "/s":
		v = fmt.Sprintf("%.0f/s", f.Value)
	default:
		v = fmt.Sprintf("%g%s", f.Value, f.Unit)
	}
	return f.Name + "=" + v
}

// group is a set of cases that run together.
type group struct {
	name  string
	cases func() []benchCase
}

// benchCase is one comparison: the same work done by several impls.
type benchCase struct {
	name  string
	impls []impl
}

// impl runs the work once for about d.
type impl struct {
	name     string
	baseline bool
	run      func(d time.Duration) (measurement, error)
}

// measurement is one run's figures: the operations done in wall time and
// the CPU time spent on them (by the server, for network cases, and then
// by the load client too), and any other figures. A measurement with no
// wall time has only other figures (the idle group's bytes).
type measurement struct {
	ops       float64
	cpu, wall time.Duration
	client    string
	clientCPU time.Duration
	figures   []Figure
}

// inProcess adapts a case measured in this process, whose CPU time is all
// that counts.
func inProcess(f func(d time.Duration) (ops float64, cpu, wall time.Duration, err error)) func(time.Duration) (measurement, error) {
	return func(d time.Duration) (measurement, error) {
		ops, cpu, wall, err := f(d)
		return measurement{ops: ops, cpu: cpu, wall: wall}, err
	}
}

var groups = []group{
	{"ring", ringCases},
	{"file", fileCases},
	{"disk", diskCases},
	{"echo", echoCases},
	{"frames", framesCases},
	{"http", httpCases},
	{"churn", churnCases},
	{"idle", idleCases},
	{"latency", latencyCases},
}

func groupNames() string {
	var ns []string
	for _, g := range groups {
		ns = append(ns, g.name)
	}
	return strings.Join(ns, ", ")
}

// cleanups remove what the cases left behind (the file and disk groups'
// files, the C references' binaries) at the end of the run.
var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

func atEnd(f func()) {
	cleanupMu.Lock()
	cleanups = append(cleanups, f)
	cleanupMu.Unlock()
}

func cleanUp() {
	cleanupMu.Lock()
	fs := cleanups
	cleanups = nil
	cleanupMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func main() {
	flag.Parse()
	raiseFileLimit()
	if *flagServe != "" {
		if err := serve(*flagServe); err != nil {
			fmt.Fprintln(os.Stderr, "uringbench server:", err)
			os.Exit(1)
		}
		return
	}
	if *flagLoad != "" {
		if err := load(*flagLoad); err != nil {
			fmt.Fprintln(os.Stderr, "uringbench load:", err)
			os.Exit(1)
		}
		return
	}
	if *flagFrom != "" {
		if err := replay(*flagFrom); err != nil {
			fmt.Fprintln(os.Stderr, "uringbench:", err)
			os.Exit(1)
		}
		return
	}
	switch *flagClient {
	case "auto", "c", "go":
	default:
		fmt.Fprintf(os.Stderr, "uringbench: -client %q: want c, go or auto\n", *flagClient)
		os.Exit(2)
	}
	if *flagDepths != "" {
		if _, err := parseDepths(*flagDepths); err != nil {
			fmt.Fprintln(os.Stderr, "uringbench:", err)
			os.Exit(2)
		}
	}
	if *flagShort {
		*flagDur = 300 * time.Millisecond
		*flagRuns = 1
	}

	var todo []struct {
		g string
		c benchCase
	}
	for _, g := range groups {
		if *flagOnly != "" && *flagOnly != g.name {
			continue
		}
		for _, c := range g.cases() {
			todo = append(todo, struct {
				g string
				c benchCase
			}{g.name, c})
		}
	}
	if len(todo) == 0 {
		fmt.Fprintf(os.Stderr, "uringbench: no group named %q (%s)\n", *flagOnly, groupNames())
		os.Exit(2)
	}
	total := 0
	for _, t := range todo {
		total += len(t.c.impls) * *flagRuns
	}
	done := 0
	start := time.Now()
	var results []Result
	for _, t := range todo {
		results = append(results, runCase(t.g, t.c, *flagRuns, func(im string) {
			progress(done, total, start, t.g+"/"+t.c.name+" "+im)
			done++
		})...)
	}
	fmt.Fprint(os.Stderr, "\r\033[K")
	removeCBinaries()
	cleanUp()
	ratios(results)
	printTable(os.Stdout, results)
	if *flagJSON != "" {
		b, _ := json.MarshalIndent(report{machine(), *flagRuns, results}, "", "  ")
		if err := os.WriteFile(*flagJSON, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "uringbench:", err)
			os.Exit(1)
		}
	}
	if *flagSVG != "" {
		if err := os.WriteFile(*flagSVG, chart(results), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "uringbench:", err)
			os.Exit(1)
		}
	}
}

// runCase runs every impl of c runs times and gives their medians. The
// runs take turns (the first run of each impl, then the second...), so
// that a burst of load from elsewhere on the machine falls on all impls
// alike rather than on one. An impl that fails runs no more.
func runCase(group string, c benchCase, runs int, starting func(impl string)) []Result {
	type figures struct {
		runs                    int
		ops, cpus, busy, clBusy []float64
		note, client            string
		names                   []string
		units                   map[string]string
		values                  map[string][]float64
	}
	fs := make([]figures, len(c.impls))
	for range runs {
		for i, im := range c.impls {
			f := &fs[i]
			if f.note != "" {
				continue
			}
			starting(im.name)
			m, err := im.run(*flagDur)
			if err != nil {
				f.note = err.Error()
				continue
			}
			f.runs++
			for _, fig := range m.figures {
				if f.values == nil {
					f.values, f.units = map[string][]float64{}, map[string]string{}
				}
				if _, ok := f.values[fig.Name]; !ok {
					f.names = append(f.names, fig.Name)
				}
				f.values[fig.Name] = append(f.values[fig.Name], fig.Value)
				f.units[fig.Name] = fig.Unit
			}
			if m.wall <= 0 {
				continue
			}
			f.ops = append(f.ops, m.ops/m.wall.Seconds())
			if m.ops > 0 {
				f.cpus = append(f.cpus, float64(m.cpu.Nanoseconds())/m.ops)
			}
			f.busy = append(f.busy, m.cpu.Seconds()/m.wall.Seconds())
			if m.client != "" {
				f.client = m.client
				f.clBusy = append(f.clBusy, m.clientCPU.Seconds()/m.wall.Seconds())
			}
		}
	}
	var rs []Result
	for i, im := range c.impls {
		f := fs[i]
		var figs []Figure
		for _, n := range f.names {
			figs = append(figs, Figure{Name: n, Value: median(f.values[n]), Unit: f.units[n]})
		}
		rs = append(rs, Result{
			Group: group, Case: c.name, Impl: im.name, Baseline: im.baseline,
			OpsPerS: median(f.ops), CPUNsOp: median(f.cpus), Runs: f.runs,
			Busy: median(f.busy), Client: f.client, ClientBusy: median(f.clBusy), Note: f.note,
			Figures: figs,
		})
	}
	return rs
}

// report is the -json file.
type report struct {
	Machine string   `json:"machine"`
	Runs    int      `json:"runs"`
	Results []Result `json:"results"`
}

// replay prints the table of a -json file and draws its chart.
func replay(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if rep.Runs > 0 {
		*flagRuns = rep.Runs
	}
	machineOverride = rep.Machine
	printTable(os.Stdout, rep.Results)
	if *flagSVG != "" {
		return os.WriteFile(*flagSVG, chart(rep.Results), 0o644)
	}
	return nil
}

func progress(done, total int, start time.Time, what string) {
	left := "?"
	if done > 0 {
		per := time.Since(start) / time.Duration(done)
		left = (per * time.Duration(total-done)).Round(time.Second).String()
	}
	fmt.Fprintf(os.Stderr, "\r\033[K[%d/%d, %s left] %s", done+1, total, left, what)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ratios(rs []Result) {
	base := map[string]Result{}
	for _, r := range rs {
		if r.Baseline && (r.OpsPerS > 0 || len(r.Figures) > 0) {
			base[r.Group+"/"+r.Case] = r
		}
	}
	for i, r := range rs {
		b, ok := base[r.Group+"/"+r.Case]
		if !ok {
			continue
		}
		for j, f := range r.Figures {
			for _, bf := range b.Figures {
				if bf.Name == f.Name && bf.Value > 0 {
					rs[i].Figures[j].Ratio = f.Value / bf.Value
				}
			}
		}
		if r.OpsPerS == 0 || b.OpsPerS == 0 {
			continue
		}
		rs[i].Speedup = r.OpsPerS / b.OpsPerS
		if b.CPUNsOp > 0 && r.CPUNsOp > 0 {
			rs[i].CPURatio = r.CPUNsOp / b.CPUNsOp
		}
	}
}

func printTable(w io.Writer, rs []Result) {
	fmt.Fprintf(w, "machine: %s\n\n", machine())
	fmt.Fprintf(w, "%-7s %-34s %-14s %-6s %12s %11s %5s %5s %7s %7s\n", "group", "case", "impl", "client", "ops/s", "cpu/op", "busy", "cl", "x thrpt", "x cpu")
	fmt.Fprintln(w, strings.Repeat("-", 117))
	clients := map[string]bool{}
	for _, r := range rs {
		ratio, cpuRatio := "", ""
		if r.Baseline {
			if r.OpsPerS > 0 {
				ratio, cpuRatio = "base", "base"
			}
		} else {
			if r.Speedup > 0 {
				ratio = fmt.Sprintf("%.2f", r.Speedup)
			}
			if r.CPURatio > 0 {
				cpuRatio = fmt.Sprintf("%.2f", r.CPURatio)
			}
		}
		ops, cpu, busy, clBusy, client := "-", "-", "", "", "-"
		if r.OpsPerS > 0 {
			ops = fmt.Sprintf("%.0f", r.OpsPerS)
		}
		if r.CPUNsOp > 0 {
			cpu = time.Duration(r.CPUNsOp).Round(time.Nanosecond).String()
		}
		if r.Busy > 0 {
			busy = fmt.Sprintf("%.2f", r.Busy)
		}
		if r.Client != "" {
			client = r.Client
			clients[r.Client] = true
			if r.ClientBusy > 0 {
				clBusy = fmt.Sprintf("%.2f", r.ClientBusy)
			}
		}
		fmt.Fprintf(w, "%-7s %-34s %-14s %-6s %12s %11s %5s %5s %7s %7s", r.Group, r.Case, r.Impl, client, ops, cpu, busy, clBusy, ratio, cpuRatio)
		for _, f := range r.Figures {
			fmt.Fprintf(w, "  %s", f)
			if !r.Baseline && f.Ratio > 0 {
				fmt.Fprintf(w, " (x%.2f)", f.Ratio)
			}
		}
		if r.Note != "" {
			fmt.Fprintf(w, "  (%s)", r.Note)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nops/s, cpu/op and busy are medians of %d run(s); x thrpt is throughput / baseline (higher is better), x cpu is CPU per op / baseline (lower is better).\n", *flagRuns)
	fmt.Fprintln(w, "cpu/op and busy are the server's for network cases (busy: CPU seconds per second, 1.00 = its whole CPU), this process's otherwise; cl is the load client's busy.")
	for _, r := range rs {
		if len(r.Figures) > 0 {
			fmt.Fprintln(w, "name=value is a figure of the case's own (median of the runs), (xR) is its ratio to the baseline's: lower is better for bytes and latencies.")
			break
		}
	}
	for _, g := range groupsIn(rs) {
		if doc := groupDocs[g]; doc != "" {
			fmt.Fprintf(w, "%s: %s\n", g, doc)
		}
	}
	var names []string
	for c := range clients {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		doc := clientDocs[c]
		if doc == "" {
			doc = "a load client"
		}
		fmt.Fprintf(w, "client %s: %s\n", c, doc)
	}
	if echoFallback != "" {
		fmt.Fprintf(w, "echo fell back to the Go client, which may be what sets the pace: %s\n", echoFallback)
	}
}

// groupDocs say, for the table's footer, what the groups whose figures
// need it measure.
var groupDocs = map[string]string{}

// groupsIn lists the groups of rs in order of appearance.
func groupsIn(rs []Result) []string {
	var gs []string
	seen := map[string]bool{}
	for _, r := range rs {
		if !seen[r.Group] {
			seen[r.Group] = true
			gs = append(gs, r.Group)
		}
	}
	return gs
}

// clientDocs say what each load client is, for the table's footer.
var clientDocs = map[string]string{
	clientC:   "cref/loadc.c, one thread, io_uring multishot recv and send, every echoed byte checked",
	clientGo:  "goroutine per connection in a child of this program; echo uses it with -client go or when the C client does not build, http when wrk is not installed",
	clientWrk: "wrk -t1, one thread",
}
