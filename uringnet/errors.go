package uringnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/uring"
)

// opError wraps err as package net does for an operation on fd: errnos go
// inside an *os.SyscallError named for the system call, and everything in
// a *net.OpError naming the operation and the addresses.
func (fd *netFD) opError(op, syscallName string, err error) error {
	return &net.OpError{Op: op, Net: fd.network(), Source: fd.localAddr(), Addr: fd.remoteAddr(), Err: wrapErr(syscallName, err)}
}

// listenerError is opError for a listener's operations (accept, close),
// whose errors net reports with the listening address as Addr and no
// Source.
func (fd *netFD) listenerError(op, syscallName string, err error) error {
	return &net.OpError{Op: op, Net: fd.network(), Addr: fd.localAddr(), Err: wrapErr(syscallName, err)}
}

// wrapErr turns what the executor returned into what net would return.
func wrapErr(syscallName string, err error) error {
	// The common errors first, without errors.As's reflection: net/http
	// cuts a read short with a deadline after every request.
	switch err {
	case os.ErrDeadlineExceeded, net.ErrClosed:
		return err
	}
	if errno, ok := err.(syscall.Errno); ok {
		return os.NewSyscallError(syscallName, errno)
	}
	var errno syscall.Errno
	var se *uring.SetupError
	switch {
	case errors.As(err, &se):
		// io_uring_enter denied since the rings were set up: say so,
		// not just the errno (which would read as the socket's).
		return ioUringError(err)
	case errors.As(err, &errno):
		return os.NewSyscallError(syscallName, errno)
	case errors.Is(err, reactor.ErrClosed):
		return errExecutorClosed
	}
	return err
}

var errExecutorClosed = errors.New("uringnet: the io_uring executor is closed")

// ioUringError explains a failure to set up io_uring, which is what fails
// when the kernel or a container forbids it.
func ioUringError(err error) error {
	if reactor.Unavailable(err) {
		return fmt.Errorf("uringnet: io_uring is not available: %w (or set FallbackToNet in the ListenConfig or Dialer to use package net instead)", err)
	}
	// Anything else (out of file descriptors or memory) names its own
	// cause, and may pass: the next call tries again.
	return fmt.Errorf("uringnet: setting up io_uring: %w", err)
}

// timeoutError is a dial that ran out of time, whether by the Dialer's
// deadline or the context's: it matches both os.ErrDeadlineExceeded and
// context.DeadlineExceeded, as net's does.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded || target == context.DeadlineExceeded
}
