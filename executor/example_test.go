package executor_test

import (
	"expvar"

	"github.com/uring-go/uring/executor"
)

// Publish the shared executor's counters with expvar: a program that
// serves net/http's default mux then shows them, read afresh on each
// request, under "uring_executor" at /debug/vars.
func Example_expvar() {
	expvar.Publish("uring_executor", expvar.Func(func() any {
		return executor.ReadStats()
	}))
}
