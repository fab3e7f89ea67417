package uringfs

import (
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkRootTree makes, renames, changes and removes a small tree
// through os.Root and through Root, side by side: what one call of each
// method that walks its name costs. cpu-ns/op is the process's user and
// system time (io_uring's workers included: they are its threads), which
// a shared machine disturbs less than the wall clock. uringfs-syscalls
// is Root without io_uring, as Config.FallbackToOS runs it.
func BenchmarkRootTree(b *testing.B) {
	run := func(b *testing.B, r rootAPI) {
		defer r.Close()
		cpu := func() int64 {
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			return ru.Utime.Nano() + ru.Stime.Nano()
		}
		start := cpu()
		defer func() { b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			if err := r.MkdirAll("t/a/b/c/d", 0o755); err != nil {
				b.Fatal(err)
			}
			if err := r.Symlink("../d", "t/a/b/c/l"); err != nil {
				b.Fatal(err)
			}
			if err := r.Rename("t/a/b/c/d", "t/a/d"); err != nil {
				b.Fatal(err)
			}
			if err := r.Link("t/a/b/c/l", "t/a/l2"); err != nil {
				b.Fatal(err)
			}
			if err := r.Chmod("t/a/d", 0o700); err != nil {
				b.Fatal(err)
			}
			if err := r.Chtimes("t/a/d", fixedTime, fixedTime); err != nil {
				b.Fatal(err)
			}
			if err := r.RemoveAll("t"); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("os", func(b *testing.B) {
		r, err := os.OpenRoot(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		run(b, r)
	})
	b.Run("uringfs-syscalls", func(b *testing.B) {
		// Root without an executor, as Config.FallbackToOS runs it:
		// the same walk, on system calls.
		fd, err := unix.Open(b.TempDir(), rootFlags|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		run(b, newRoot(beneath{fd: fd}, "fallback"))
	})
	b.Run("uringfs", func(b *testing.B) {
		r, err := OpenRoot(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		run(b, r)
	})
}
