package uringfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// Config says how files are opened. Its methods are the package's
// functions; the package functions are those of the zero Config.
//
// A Config holds no state: it may be copied, shared between goroutines
// and kept in a struct, and two Configs with the same fields behave the
// same.
type Config struct {
	// FallbackToOS opts in to package os and plain system calls when
	// io_uring cannot be used at all in this process: a kernel without
	// it (ENOSYS), a seccomp profile or the kernel.io_uring_disabled
	// sysctl that forbids it (EPERM, EACCES), or an RLIMIT_MEMLOCK too
	// low for a ring (ENOMEM), each a *uring.SetupError from creating
	// the process's rings. Files opened then have the same methods,
	// errors and concurrency guarantees, backed by an *os.File; DirFS and
	// Root stay confined (openat2(2) with RESOLVE_BENEATH, as a system
	// call). Any other failure is returned, never hidden by a fallback.
	// ReadBatch and WriteBatch then run their transfers one after
	// another; a BufferPool, which is registered io_uring memory, cannot
	// be made.
	//
	// Without it, the zero value, a *fs.PathError wrapping the
	// *uring.SetupError is returned: its text says what to change.
	FallbackToOS bool
}

// unavailableError is the error of a Config without FallbackToOS when
// io_uring cannot be used at all: the setup error, which names the cause
// and the fix, and the opt-in that would avoid it.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string {
	return e.err.Error() + " (or set uringfs.Config.FallbackToOS to use package os instead)"
}

func (e *unavailableError) Unwrap() error { return e.err }

// executor returns the process-wide executor, or nil with a nil error
// when c falls back to package os.
func (c Config) executor() (*reactor.Executor, error) {
	e, err := reactor.Default()
	if err == nil {
		return e, nil
	}
	if reactor.Unavailable(err) {
		if c.FallbackToOS {
			return nil, nil
		}
		return nil, &unavailableError{err}
	}
	return nil, err
}

// Open opens the named file for reading, as os.Open.
func Open(name string) (*File, error) { return Config{}.Open(name) }

// Create creates or truncates the named file, as os.Create.
func Create(name string) (*File, error) { return Config{}.Create(name) }

// OpenFile opens the named file, as os.OpenFile; see Config.OpenFile.
func OpenFile(name string, flag int, perm fs.FileMode) (*File, error) {
	return Config{}.OpenFile(name, flag, perm)
}

// ReadFile reads the named file whole, as os.ReadFile.
func ReadFile(name string) ([]byte, error) { return Config{}.ReadFile(name) }

// WriteFile writes data to the named file, as os.WriteFile.
func WriteFile(name string, data []byte, perm fs.FileMode) error {
	return Config{}.WriteFile(name, data, perm)
}

// NewFile returns a File for the open file descriptor fd; see
// Config.NewFile.
func NewFile(fd uintptr, name string) *File { return Config{}.NewFile(fd, name) }

// FromOS returns a File for a duplicate of f's descriptor; see
// Config.FromOS.
func FromOS(f *os.File) (*File, error) { return Config{}.FromOS(f) }

// Open opens the named file for reading, as os.Open.
func (c Config) Open(name string) (*File, error) {
	return c.OpenFile(name, os.O_RDONLY, 0)
}

// Create creates or truncates the named file, as os.Create: mode 0666
// before the umask, opened for reading and writing.
func (c Config) Create(name string) (*File, error) {
	return c.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0666)
}

// OpenFile opens the named file with flag (os.O_RDONLY, os.O_CREATE, ...)
// and, for a file it creates, permission perm before the umask, as
// os.OpenFile. The open itself runs on io_uring (openat2). The fd is
// always close-on-exec. Errors are *fs.PathError with Op "open".
func (c Config) OpenFile(name string, flag int, perm fs.FileMode) (*File, error) {
	e, err := c.executor()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	appendMode := flag&os.O_APPEND != 0
	if e == nil {
		osf, err := os.OpenFile(name, flag|unix.O_CLOEXEC, perm)
		if err != nil {
			return nil, err
		}
		return newOSFile(osf, name, appendMode), nil
	}
	how := uring.OpenHow{Flags: flag | unix.O_CLOEXEC}
	if flag&os.O_CREATE != 0 || flag&unix.O_TMPFILE == unix.O_TMPFILE {
		// openat2, unlike open, rejects a mode it would ignore.
		how.Mode = syscallMode(perm)
	}
	fd, err := openat2(e, unix.AT_FDCWD, name, how)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return newFile(e, nil, fd, name, appendMode), nil
}

// NewFile returns a File for the open file descriptor fd, which it then
// owns: Close closes fd. Like os.NewFile it returns nil for an invalid fd.
// WriteAt refuses to write to an fd opened with O_APPEND, as os does for
// files it opened so. If io_uring cannot be used, the File's methods
// return the reason, unless c falls back to package os.
func (c Config) NewFile(fd uintptr, name string) *File {
	ifd := int(fd)
	if ifd < 0 {
		return nil
	}
	e, err := c.executor()
	appendMode := false
	if fl, ferr := unix.FcntlInt(fd, unix.F_GETFL, 0); ferr == nil {
		appendMode = fl&unix.O_APPEND != 0
	}
	if e == nil && err == nil {
		return wrapFd(nil, ifd, name, appendMode)
	}
	return newFile(e, err, ifd, name, appendMode)
}

// FromOS returns a File for a duplicate of f's descriptor. The two share
// the file offset and status flags but are closed independently: the
// caller still closes f.
func (c Config) FromOS(f *os.File) (*File, error) {
	if f == nil {
		return nil, fs.ErrInvalid
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, &fs.PathError{Op: "dup", Path: f.Name(), Err: err}
	}
	var nfd int
	var derr error
	if err := sc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, &fs.PathError{Op: "dup", Path: f.Name(), Err: err}
	}
	if derr != nil {
		return nil, &fs.PathError{Op: "dup", Path: f.Name(), Err: derr}
	}
	return c.NewFile(uintptr(nfd), f.Name()), nil
}

// maxOpenRetries bounds how often an open is tried again after EAGAIN,
// which openat2 returns for RESOLVE_BENEATH when a concurrent rename or
// mount could have let ".." escape: resolution is simply retried.
const maxOpenRetries = 16

// openat2 opens path relative to dirfd through the executor, or with the
// system call when e is nil, and returns the new fd.
func openat2(e *reactor.Executor, dirfd int, path string, how uring.OpenHow) (int, error) {
	for try := 1; ; try++ {
		fd, err := openat2Once(e, dirfd, path, how)
		if err == syscall.EINTR || (err == syscall.EAGAIN && how.Resolve != 0 && try < maxOpenRetries) {
			continue
		}
		return fd, err
	}
}

func openat2Once(e *reactor.Executor, dirfd int, path string, how uring.OpenHow) (int, error) {
	if e == nil {
		return unix.Openat2(dirfd, path, &unix.OpenHow{Flags: uint64(how.Flags), Mode: uint64(how.Mode), Resolve: uint64(how.Resolve)})
	}
	res, err := e.Do(context.Background(), dirfd, time.Time{}, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.Openat2(dirfd, path, how, o)
	})
	if err != nil {
		var ip *uring.InvalidPathError
		if errors.As(err, &ip) {
			return -1, syscall.EINVAL
		}
		return -1, err
	}
	return int(res.Res), nil
}

// syscallMode converts an fs.FileMode to open(2)'s mode bits, including
// setuid, setgid and sticky, as os does.
func syscallMode(i fs.FileMode) (o uint32) {
	o |= uint32(i.Perm())
	if i&fs.ModeSetuid != 0 {
		o |= syscall.S_ISUID
	}
	if i&fs.ModeSetgid != 0 {
		o |= syscall.S_ISGID
	}
	if i&fs.ModeSticky != 0 {
		o |= syscall.S_ISVTX
	}
	return o
}

// ReadFile reads the named file whole, as os.ReadFile: a nil error, not
// io.EOF, at the end.
func (c Config) ReadFile(name string) ([]byte, error) {
	f, err := c.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.readAll()
}

// readAll reads from the file offset to the end, sizing the buffer from
// the file's size when it has one.
func (f *File) readAll() ([]byte, error) {
	size := 0
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		if s := fi.Size(); int64(int(s)) == s {
			size = int(s)
		}
	}
	size++ // one byte more, to see the end without a second read
	if size < 512 {
		size = 512
	}
	data := make([]byte, 0, size)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return data, err
		}
		if len(data) >= cap(data) {
			d := append(data[:cap(data)], 0)
			data = d[:len(data)]
		}
	}
}

// WriteFile writes data to the named file, creating it with perm (before
// the umask) if needed and truncating it otherwise, as os.WriteFile.
func (c Config) WriteFile(name string, data []byte, perm fs.FileMode) error {
	f, err := c.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	return f.writeAndClose(data)
}

// writeAndClose writes data to f and closes it, reporting the first error,
// as os.WriteFile does.
func (f *File) writeAndClose(data []byte) error {
	_, err := f.Write(data)
	if err1 := f.Close(); err1 != nil && err == nil {
		err = err1
	}
	return err
}
