// Package soak holds long-running and fault-injection tests that drive
// uringnet and uringfs together through their public APIs, the way a
// program would: echo traffic on uringnet conns, net/http on a uringnet
// listener, and positioned reads and writes on uringfs files, all on the
// one process-wide executor at once.
//
// The soak test is off by default because it runs for as long as it is
// told; run it with
//
//	go test -count=1 -timeout 10m -run TestSoak ./internal/soak -soak.duration=30s
//
// (.ci/soak does so with a short duration). Every byte moved is checked
// against a pattern derived from its position, and at the end, after
// everything is closed and a settle period, the goroutine count, the fd
// count and the resident set size must not have grown.
//
// The fault-injection tests run in the normal suite, a few seconds each:
// Close racing reads, writes and accepts; deadlines racing arriving data;
// misbehaving HTTP peers; submission bursts far above the queue depth; a
// completion queue that overflows before it is reaped.
//
// The package has no non-test code.
package soak
