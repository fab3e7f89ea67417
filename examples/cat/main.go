// Command cat writes files to standard output, like cat(1), reading them
// through uringfs: several reads of a regular file are in flight on
// io_uring at once and are written out in order.
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
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/uring-go/uring/uringfs"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(names []string, stdout, stderr *os.File) int {
	if len(names) == 0 {
		names = []string{"-"}
	}
	status := 0
	for _, name := range names {
		if err := catFile(name, stdout); err != nil {
			var we *writeError
			if errors.As(err, &we) {
				fmt.Fprintf(stderr, "cat: write error: %s\n", strerror(we.err))
				return 1
			}
			fmt.Fprintf(stderr, "cat: %s: %s\n", name, strerror(err))
			status = 1
		}
	}
	return status
}

// writeError marks a failure to write standard output, which ends cat,
// unlike a file that cannot be read.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// stdoutWriter tags write errors so that they can be told from read
// errors after WriteTo.
type stdoutWriter struct{ w io.Writer }

func (s stdoutWriter) Write(b []byte) (int, error) {
	n, err := s.w.Write(b)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
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
	_, err = f.WriteTo(stdoutWriter{stdout})
	return err
}

// strerror renders an error as the C library does for cat: the errno's
// text with a capital letter, without Go's "open NAME:" prefix.
func strerror(err error) string {
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
