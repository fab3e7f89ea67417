package main

import (
	"slices"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// Output of a real test binary run with -test.v -test.count=2: passing,
// failing, skipped and parallel tests and subtests, a multi-line error,
// a name that fails in one run only.
const chatty = `=== RUN   TestA
    x_test.go:3: hello a
--- PASS: TestA (0.00s)
=== RUN   TestB
=== RUN   TestB/sub
    x_test.go:4: no op bind
=== RUN   TestB/s2
    x_test.go:4: bad
        line2
--- FAIL: TestB (0.00s)
    --- SKIP: TestB/sub (0.00s)
    --- FAIL: TestB/s2 (0.00s)
=== RUN   TestC
    x_test.go:5: kernel lacks X
--- SKIP: TestC (0.00s)
=== RUN   TestD
=== PAUSE TestD
=== RUN   TestE
=== PAUSE TestE
=== CONT  TestD
=== CONT  TestE
    x_test.go:7: e fail
=== NAME  TestD
    x_test.go:6: d
--- PASS: TestD (0.00s)
--- FAIL: TestE (0.00s)
=== RUN   TestA
    x_test.go:3: hello a
--- PASS: TestA (0.00s)
=== RUN   TestB
=== RUN   TestB/sub
    x_test.go:4: no op bind
=== RUN   TestB/s2
--- PASS: TestB (0.00s)
    --- SKIP: TestB/sub (0.00s)
    --- PASS: TestB/s2 (0.00s)
FAIL
goleak: Errors on successful test run: found unexpected goroutines:
[Goroutine 7 in state chan receive]
`

func TestParse(t *testing.T) {
	p := parse(chatty)
	if got, want := p.failed, []string{"TestB/s2", "TestE"}; !slices.Equal(got, want) {
		t.Errorf("failed = %q, want %q", got, want)
	}
	if got := p.top; got[statusPass] != 4 || got[statusFail] != 2 || got[statusSkip] != 1 {
		t.Errorf("top-level verdicts = %v, want 4 PASS, 2 FAIL, 1 SKIP", got)
	}
	wantSkips := []skip{
		{"TestB/sub", "x_test.go:4: no op bind"},
		{"TestC", "x_test.go:5: kernel lacks X"},
		{"TestB/sub", "x_test.go:4: no op bind"},
	}
	if !slices.Equal(p.skips, wantSkips) {
		t.Errorf("skips = %q, want %q", p.skips, wantSkips)
	}
	want := []string{
		"--- FAIL: TestB",
		"--- FAIL: TestB/s2",
		"    x_test.go:4: bad",
		"        line2",
		"--- FAIL: TestE",
		"    x_test.go:7: e fail",
		"goleak: Errors on successful test run: found unexpected goroutines:",
		"[Goroutine 7 in state chan receive]",
	}
	if got := p.failureOutput(); !slices.Equal(got, want) {
		t.Errorf("failure output:\n%q\nwant\n%q", got, want)
	}
}

// A -test.timeout panic ends attribution: the dump is shown whole, even
// though it comes while a test is running.
func TestParseCrash(t *testing.T) {
	p := parse("=== RUN   TestHang\n    x_test.go:9: waiting\npanic: test timed out after 1s\n\trunning tests:\n\t\tTestHang (1s)\n\ngoroutine 5 [chan receive]:\n")
	want := []string{"panic: test timed out after 1s", "\trunning tests:", "\t\tTestHang (1s)", "", "goroutine 5 [chan receive]:"}
	if !slices.Equal(p.general, want) {
		t.Errorf("general = %q, want %q", p.general, want)
	}
	if len(p.failed) != 0 || p.top[statusPass] != 0 {
		t.Errorf("a test without a verdict was counted: %+v", p)
	}
}
