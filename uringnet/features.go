package uringnet

import (
	"sync"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// multishotAccept reports whether the kernel has multishot accept: the
// accept operation (probed) and Linux 5.19, which added the multishot
// flag (older kernels ignore it and accept once).
var multishotAccept = sync.OnceValue(func() bool {
	if !kernelAtLeast(5, 19) {
		return false
	}
	r, err := uring.New[struct{}](1)
	if err != nil {
		return false
	}
	defer r.Close()
	return r.OpSupported(uring.OpAccept)
})

func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	var maj, min int
	rel := u.Release[:]
	i := 0
	for ; i < len(rel) && rel[i] >= '0' && rel[i] <= '9'; i++ {
		maj = maj*10 + int(rel[i]-'0')
	}
	if i < len(rel) && rel[i] == '.' {
		for i++; i < len(rel) && rel[i] >= '0' && rel[i] <= '9'; i++ {
			min = min*10 + int(rel[i]-'0')
		}
	}
	return maj > major || maj == major && min >= minor
}

// executor returns the process-wide executor, or an error that says why
// io_uring cannot be used.
func executor() (*reactor.Executor, error) {
	e, err := reactor.Default()
	if err != nil {
		return nil, ioUringError(err)
	}
	return e, nil
}

var somaxconn = sync.OnceValue(func() int {
	n := readSysctlInt("/proc/sys/net/core/somaxconn")
	if n <= 0 {
		return unix.SOMAXCONN
	}
	return n
})
