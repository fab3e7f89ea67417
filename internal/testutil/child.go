package testutil

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// RunPattern is the -test.run pattern that selects exactly the test (or
// subtest) named name, as t.Name() spells it.
func RunPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// RunChild re-executes the test binary with env ("NAME=value") added to
// the environment and args as its flags, for a test that must change
// what cannot be undone in-process (a seccomp filter, a dropped
// capability). It returns the child's standard output and fails tb if
// the child fails or outlives timeout.
func RunChild(tb testing.TB, env string, timeout time.Duration, args ...string) []byte {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), env)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("child (%s): %v\nstdout:\n%s\nstderr:\n%s", env, err, out, stderr.String())
	}
	return out
}

// ChildReport decodes into v the JSON that follows prefix on a line of a
// child's output, and fails tb, showing the output, if there is no such
// line.
func ChildReport(tb testing.TB, out []byte, prefix string, v any) {
	tb.Helper()
	for line := range strings.Lines(string(out)) {
		js, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		if err := json.Unmarshal([]byte(js), v); err != nil {
			tb.Fatalf("child report %q: %v", js, err)
		}
		return
	}
	tb.Fatalf("the child printed no report\nstdout:\n%s", out)
}
