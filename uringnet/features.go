package uringnet

import (
	"github.com/uring-go/uring/internal/reactor"
)

// executor returns the process-wide executor, or an error that says why
// io_uring cannot be used.
func executor() (*reactor.Executor, error) {
	e, err := reactor.Default()
	if err != nil {
		return nil, ioUringError(err)
	}
	return e, nil
}
