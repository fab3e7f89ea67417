package testutil

import (
	"syscall"
	"testing"
	"time"
)

// CPUTimes returns the process's user and system CPU time so far
// (getrusage).
func CPUTimes() (usr, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// ReportCPU reports the user and system CPU time the process spent per
// operation of b since CPUTimes returned usr0 and sys0, as usr-ns/op and
// sys-ns/op.
func ReportCPU(b *testing.B, usr0, sys0 time.Duration) {
	usr, sys := CPUTimes()
	b.ReportMetric(float64(usr-usr0)/float64(b.N), "usr-ns/op")
	b.ReportMetric(float64(sys-sys0)/float64(b.N), "sys-ns/op")
}
