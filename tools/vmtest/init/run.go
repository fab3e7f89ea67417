package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Package verdicts.
const (
	statusPass = "PASS"
	statusFail = "FAIL"
	statusSkip = "SKIP" // exited 0 but no test passed: all skipped or none
)

// maxFailLines caps the failure output printed per package; a timeout's
// goroutine dump can run to thousands of lines, and the first ones (the
// panic and the tests still running) say the most.
const maxFailLines = 600

// result is what one test binary did.
type result struct {
	pkg     pkg
	status  string
	why     string // for FAIL: exit status, timeout, ...
	elapsed time.Duration
	out     parsed
	raw     string
}

func (r result) counts() string {
	s := fmt.Sprintf("%.1fs, %d passed, %d skipped, %d failed", r.elapsed.Seconds(),
		r.out.top[statusPass], r.out.top[statusSkip], r.out.top[statusFail])
	if r.why != "" {
		s += "; " + r.why
	}
	return s
}

// lockedBuffer collects a child's output; exec copies into it from its own
// goroutine, and the runner may read it before that goroutine is done if
// the child cannot be reaped.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// run executes one test binary in its package directory. The binary's own
// -test.timeout fires first and panics with every goroutine's stack; the
// context is a backstop for a binary that ignores it (SIGQUIT to its
// process group, then SIGKILL), and the last wait covers a process that
// cannot even be killed because it is stuck in the kernel.
func run(p pkg, extra []string, timeout time.Duration) result {
	args := []string{
		"-test.v", "-test.short", "-test.count=1", "-test.paniconexit0",
		fmt.Sprintf("-test.timeout=%ds", int(timeout.Seconds())),
	}
	args = append(args, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Dir = srcPath(p.rel)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGQUIT)
	}
	cmd.WaitDelay = 15 * time.Second

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{pkg: p, status: statusFail, why: "start: " + err.Error()}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout + 90*time.Second):
		err = errors.New("still running after SIGKILL (stuck in the kernel?)")
	}
	// Whatever the test binary left behind (re-executed children, helper
	// processes) must not outlive it into the next package's run.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	r := result{pkg: p, elapsed: time.Since(start), raw: out.String()}
	r.out = parse(r.raw)
	switch {
	case ctx.Err() != nil:
		r.status, r.why = statusFail, fmt.Sprintf("killed after %v: %v", timeout+30*time.Second, err)
	case err != nil:
		r.status, r.why = statusFail, err.Error()
	case r.out.top[statusPass] == 0:
		r.status = statusSkip
	default:
		r.status = statusPass
	}
	return r
}

func report(r result) {
	logf("%s %s (%s)", r.status, r.pkg.rel, r.counts())
	for _, s := range r.out.skips {
		logf("  skip %s: %s", s.name, s.reason)
	}
	if r.status != statusFail {
		return
	}
	if len(r.out.failed) > 0 {
		logf("  failed: %s", strings.Join(r.out.failed, " "))
	}
	lines := r.out.failureOutput()
	if len(lines) > maxFailLines {
		n := len(lines) - maxFailLines
		lines = append(lines[:maxFailLines:maxFailLines], fmt.Sprintf("... %d more lines", n))
	}
	for _, l := range lines {
		fmt.Println("  | " + l)
	}
}

// skip is one skipped test and the last thing it logged, normally its
// t.Skip message.
type skip struct{ name, reason string }

// testRun is one run of one test; with -test.count above 1 a name runs
// several times.
type testRun struct {
	name   string
	status string // "" until its verdict line
	logs   []string
}

// parsed is the output of a test binary run with -test.v, split by test.
type parsed struct {
	top     map[string]int // verdicts of top-level tests
	runs    []*testRun     // in the order they started
	failed  []string       // failed tests without failed subtests
	skips   []skip         // skipped tests, subtests included
	general []string       // output belonging to no test: TestMain, panics, leaks
}

// parse attributes each line of chatty test output to a test. In -test.v
// mode the testing package streams a test's log lines right after a
// "=== RUN", "=== CONT" or "=== NAME" header naming it, and prints a new
// header whenever output switches to another test, so a line belongs to
// the test named by the last header. After a "--- PASS/FAIL/SKIP" line,
// output belongs to no test until the next header: that is where
// TestMain's leak checks and the final PASS/FAIL appear. A runtime panic
// or a -test.timeout dump belongs to no test either, and everything after
// it is kept whole.
func parse(out string) parsed {
	p := parsed{top: map[string]int{}}
	latest := map[string]*testRun{} // the current run of each name
	var cur *testRun
	crashed := false
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if crashed {
			p.general = append(p.general, line)
			continue
		}
		if isCrash(line) {
			crashed = true
			p.general = append(p.general, line)
			continue
		}
		if kind, name, ok := header(line); ok {
			if kind == "RUN" || latest[name] == nil {
				latest[name] = &testRun{name: name}
				p.runs = append(p.runs, latest[name])
			}
			cur = latest[name]
			continue
		}
		if st, name, depth, ok := verdict(line); ok {
			tr := latest[name]
			if tr == nil || tr.status != "" {
				tr = &testRun{name: name}
				latest[name] = tr
				p.runs = append(p.runs, tr)
			}
			tr.status = st
			if depth == 0 {
				p.top[st]++
			}
			cur = nil
			continue
		}
		if cur == nil {
			if line != "PASS" && line != "FAIL" && line != "" {
				p.general = append(p.general, line)
			}
			continue
		}
		cur.logs = append(cur.logs, line)
	}
	for i, tr := range p.runs {
		switch tr.status {
		case statusSkip:
			reason := ""
			if len(tr.logs) > 0 {
				reason = strings.TrimSpace(tr.logs[len(tr.logs)-1])
			}
			p.skips = append(p.skips, skip{tr.name, reason})
		case statusFail:
			if !p.hasFailedChild(i) {
				p.failed = append(p.failed, tr.name)
			}
		}
	}
	return p
}

// hasFailedChild reports whether a subtest of the i'th run failed. Its
// subtests start after it and before the next run of the same name.
func (p parsed) hasFailedChild(i int) bool {
	name := p.runs[i].name
	for _, tr := range p.runs[i+1:] {
		if tr.name == name {
			break
		}
		if tr.status == statusFail && strings.HasPrefix(tr.name, name+"/") {
			return true
		}
	}
	return false
}

// failureOutput is what to show for a failed binary: the output of every
// failed test, then whatever belonged to no test.
func (p parsed) failureOutput() []string {
	var lines []string
	for _, tr := range p.runs {
		if tr.status != statusFail {
			continue
		}
		lines = append(lines, "--- FAIL: "+tr.name)
		lines = append(lines, tr.logs...)
	}
	return append(lines, p.general...)
}

// header recognizes "=== RUN   TestX" and its CONT, NAME and PAUSE
// variants.
func header(line string) (kind, name string, ok bool) {
	rest, ok := strings.CutPrefix(line, "=== ")
	if !ok {
		return "", "", false
	}
	kind, name, ok = strings.Cut(rest, " ")
	switch kind {
	case "RUN", "CONT", "NAME", "PAUSE":
		return kind, strings.TrimSpace(name), ok
	}
	return "", "", false
}

// verdict recognizes "--- PASS: TestX/sub (0.01s)", indented four spaces
// per level of subtest.
func verdict(line string) (status, name string, depth int, ok bool) {
	trimmed := strings.TrimLeft(line, " ")
	indent := len(line) - len(trimmed)
	for _, st := range []string{statusPass, statusFail, statusSkip} {
		rest, found := strings.CutPrefix(trimmed, "--- "+st+": ")
		if !found {
			continue
		}
		name, _, _ = strings.Cut(rest, " (")
		return st, name, indent / 4, true
	}
	return "", "", 0, false
}

// isCrash recognizes the first line of output that ends a test binary
// abnormally: a panic (including -test.timeout's), a fatal runtime error
// or a signal's goroutine dump.
func isCrash(line string) bool {
	for _, prefix := range []string{"panic: ", "fatal error: ", "SIGQUIT", "SIGABRT", "SIGSEGV", "unexpected fault address"} {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}
