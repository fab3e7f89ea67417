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

// Open opens the named file for reading, as os.Open.
func Open(name string) (*File, error) {
	return OpenFile(name, os.O_RDONLY, 0)
}

// Create creates or truncates the named file, as os.Create: mode 0666
// before the umask, opened for reading and writing.
func Create(name string) (*File, error) {
	return OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0666)
}

// OpenFile opens the named file with flag (os.O_RDONLY, os.O_CREATE, ...)
// and, for a file it creates, permission perm before the umask, as
// os.OpenFile. The open itself runs on io_uring (openat2). The fd is
// always close-on-exec. Errors are *fs.PathError with Op "open".
func OpenFile(name string, flag int, perm fs.FileMode) (*File, error) {
	e, err := reactor.Default()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
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
	return newFile(e, nil, fd, name, flag&os.O_APPEND != 0), nil
}

// openat2 opens path relative to dirfd through the executor and returns
// the new fd.
func openat2(e *reactor.Executor, dirfd int, path string, how uring.OpenHow) (int, error) {
	for {
		res, err := e.Do(context.Background(), dirfd, time.Time{}, func(r *reactor.Ring, o *reactor.Op) (uring.Job, error) {
			return r.Openat2(dirfd, path, how, o)
		})
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			var ip *uring.InvalidPathError
			if errors.As(err, &ip) {
				return -1, syscall.EINVAL
			}
			return -1, err
		}
		return int(res.Res), nil
	}
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
func ReadFile(name string) ([]byte, error) {
	f, err := Open(name)
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
func WriteFile(name string, data []byte, perm fs.FileMode) error {
	f, err := OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err1 := f.Close(); err1 != nil && err == nil {
		err = err1
	}
	return err
}
