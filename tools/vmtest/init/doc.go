// Command init is PID 1 of the throwaway virtual machine that
// tools/vmtest/run.sh boots to run the project's tests on an older kernel
// (Debian's 6.1 LTS), where io_uring lacks many of the operations the
// development kernel has.
//
// It is built statically (CGO_ENABLED=0) and placed at /init of an
// initramfs next to the test binaries. It mounts the pseudo file systems,
// brings the loopback interface up, raises the fd limit, then runs each
// test binary listed in /vmtest/pkgs from its package's source directory
// under /src with the flags in /vmtest/args, one binary at a time, each
// bounded by the number of seconds in /vmtest/timeout. Tests run with
// URING_SHORT=1 and -test.short so that stress sizes stay small under
// software emulation.
//
// Every line it prints starts with "vmtest: ": a PASS, FAIL or SKIP line
// per package (SKIP when no test of the package ran to completion), the
// skipped tests with their reasons, kernel warnings logged while the
// package ran, the output of failed tests, a summary, and finally
// "vmtest: RESULT ok" or "vmtest: RESULT FAIL", which run.sh looks for.
// Then it powers the machine off. If it never prints RESULT, the machine
// did not finish and run.sh fails.
//
// It is not meant to run anywhere else: as PID 1 outside a VM it would
// mount over /proc and power the host off, so it refuses to start unless
// its process id is 1.
package main
