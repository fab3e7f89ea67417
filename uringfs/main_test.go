package uringfs

import (
	"fmt"
	"os"
	"testing"

	"github.com/uring-go/uring/internal/reactor"
	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines as testutil.Main does, except for
// the reapers of the process-wide executor, which files use and which
// live as long as the process by design. It makes that executor before
// any test counts fds.
func TestMain(m *testing.M) {
	if _, err := reactor.Default(); err != nil {
		fmt.Fprintln(os.Stderr, "io_uring unavailable:", err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/uring-go/uring/internal/reactor.(*shard).reap"))
}
