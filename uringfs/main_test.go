package uringfs

import (
	"fmt"
	"os"
	"testing"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
)

// cfg is the Config the tests open files with: the zero Config, which is
// what the package functions use, or, in a child process where io_uring
// is blocked (see fallback_test.go), one that falls back to package os,
// so that the same tests check both.
var cfg Config

// TestMain makes the process-wide executor before any test counts fds (its
// rings live as long as the process), then runs the tests with the leak
// check. A child process started to run without io_uring makes none: it
// blocks io_uring first.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "" {
		if _, err := reactor.Default(); err != nil {
			fmt.Fprintln(os.Stderr, "io_uring unavailable:", err)
			os.Exit(1)
		}
	}
	testutil.Main(m)
}
