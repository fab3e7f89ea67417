package soak

import (
	"fmt"
	"os"
	"testing"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
)

// TestMain makes the process-wide executor before any test counts fds (its
// rings live as long as the process), then runs the tests with the leak
// check.
func TestMain(m *testing.M) {
	if _, err := reactor.Default(); err != nil {
		fmt.Fprintln(os.Stderr, "io_uring unavailable:", err)
		os.Exit(1)
	}
	testutil.Main(m)
}
