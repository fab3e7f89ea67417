// Command cat writes files to standard output, like cat(1), through
// uringfs: a regular file is spliced into standard output on io_uring when
// standard output takes splices (a pipe, /dev/null, a socket), and is
// otherwise read with several reads in flight at once, written out in
// order. A pipe on standard output is first grown to 1 MiB.
//
//	go run ./examples/cat FILE...
//
// A name of "-", or no names, reads standard input. A file that cannot be
// read is reported on standard error as cat reports it, the rest are
// still written, and the exit status is 1.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/uring-go/uring/uring"
	"github.com/uring-go/uring/uringfs"
	"golang.org/x/sys/unix"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(names []string, stdout, stderr *os.File) int {
	growPipe(stdout)
	if len(names) == 0 {
		names = []string{"-"}
	}
	status := 0
	for _, name := range names {
		if err := catFile(name, stdout); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) && pe.Op == "write" {
				if errors.Is(err, syscall.EPIPE) {
					// The reader is gone. A write of our own to the
					// broken pipe lets os end the process with
					// SIGPIPE, as it ends cat(1).
					stdout.Write([]byte{0})
				}
				fmt.Fprintf(stderr, "cat: write error: %s\n", strerror(pe.Err))
				return 1
			}
			fmt.Fprintf(stderr, "cat: %s: %s\n", name, strerror(err))
			status = 1
		}
	}
	return status
}

func catFile(name string, stdout *os.File) error {
	var f *uringfs.File
	var err error
	if name == "-" {
		f, err = uringfs.FromOS(os.Stdin)
	} else {
		f, err = uringfs.Open(name)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	// WriteTo splices a regular file into stdout when stdout takes it
	// (a pipe, /dev/null, a socket): no byte is copied through this
	// process. Its write errors, like os.File.Write's, are
	// *fs.PathError with Op "write"; read errors have Op "read".
	_, err = f.WriteTo(stdout)
	return err
}

// growPipe enlarges stdout's buffer when it is a pipe, to what an
// unprivileged process may ask (/proc/sys/fs/pipe-max-size, 1 MiB by
// default): each splice then moves up to that much instead of the
// default 64 KiB, and the reader wakes up a sixteenth as often. A pipe
// that cannot grow keeps its size; nothing else changes.
func growPipe(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// Control, unlike Fd, leaves the descriptor's blocking mode alone.
	rc.Control(func(fd uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO {
			unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20)
		}
	})
}

// strerror renders an error as the C library does for cat: the errno's
// text with a capital letter, without Go's "open NAME:" prefix.
//
// An error that io_uring cannot be used (a seccomp profile, the
// kernel.io_uring_disabled sysctl) is given whole: its errno alone
// ("Operation not permitted") would read as a problem with the file,
// while the error says what blocks io_uring and what to change.
func strerror(err error) string {
	var se *uring.SetupError
	if errors.As(err, &se) {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err.Error()
		}
		return err.Error()
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" && s[0] >= 'a' && s[0] <= 'z' {
			s = string(s[0]-'a'+'A') + s[1:]
		}
		return s
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
