package uringfs

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// CreateTemp creates a new temporary file, as os.CreateTemp; see
// Config.CreateTemp.
func CreateTemp(dir, pattern string) (*File, error) { return Config{}.CreateTemp(dir, pattern) }

// MkdirTemp creates a new temporary directory, as os.MkdirTemp; see
// Config.MkdirTemp.
func MkdirTemp(dir, pattern string) (string, error) { return Config{}.MkdirTemp(dir, pattern) }

// tempTries is how many names CreateTemp and MkdirTemp try before they
// give up, as os.
const tempTries = 10000

// errPatternHasSeparator is os's error for a pattern with a slash.
var errPatternHasSeparator = errors.New("pattern contains path separator")

// CreateTemp creates a new file in dir (os.TempDir() if empty) and opens
// it for reading and writing, as os.CreateTemp: its name is pattern with
// a random string in place of the last "*", or appended. The file is
// made with mode 0600 and O_EXCL, on io_uring (openat2), and is not
// removed: that is the caller's. Errors are *fs.PathError: "createtemp"
// for a bad pattern or when no name is free, otherwise OpenFile's.
func (c Config) CreateTemp(dir, pattern string) (*File, error) {
	prefix, suffix, err := tempParts(dir, pattern)
	if err != nil {
		return nil, &fs.PathError{Op: "createtemp", Path: pattern, Err: err}
	}
	for try := 1; ; try++ {
		f, err := c.OpenFile(prefix+tempRandom()+suffix, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0600)
		if isExist(err) {
			if try < tempTries {
				continue
			}
			return nil, &fs.PathError{Op: "createtemp", Path: prefix + "*" + suffix, Err: fs.ErrExist}
		}
		return f, err
	}
}

// MkdirTemp creates a new directory in dir (os.TempDir() if empty) and
// returns its name, as os.MkdirTemp: pattern with a random string in
// place of the last "*", or appended. The directory is made with mode
// 0700 by Mkdir (io_uring's mkdirat) and is not removed: that is the
// caller's. Errors are *fs.PathError: "mkdirtemp" for a bad pattern or
// when no name is free, otherwise Mkdir's, or Stat's if dir is missing.
func (c Config) MkdirTemp(dir, pattern string) (string, error) {
	prefix, suffix, err := tempParts(dir, pattern)
	if err != nil {
		return "", &fs.PathError{Op: "mkdirtemp", Path: pattern, Err: err}
	}
	if dir == "" {
		dir = os.TempDir()
	}
	for try := 1; ; try++ {
		name := prefix + tempRandom() + suffix
		err := c.Mkdir(name, 0700)
		switch {
		case err == nil:
			return name, nil
		case isExist(err):
			if try < tempTries {
				continue
			}
			return "", &fs.PathError{Op: "mkdirtemp", Path: prefix + "*" + suffix, Err: fs.ErrExist}
		case isNotExist(err):
			// As os: a missing dir is reported as itself.
			if _, serr := c.Stat(dir); isNotExist(serr) {
				return "", serr
			}
		}
		return "", err
	}
}

// tempParts splits pattern at its last "*" and puts dir (os.TempDir()
// if empty) before the first part.
func tempParts(dir, pattern string) (prefix, suffix string, err error) {
	if strings.IndexByte(pattern, '/') >= 0 {
		return "", "", errPatternHasSeparator
	}
	prefix = pattern
	if i := strings.LastIndexByte(pattern, '*'); i >= 0 {
		prefix, suffix = pattern[:i], pattern[i+1:]
	}
	if dir == "" {
		dir = os.TempDir()
	}
	if !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	return dir + prefix, suffix, nil
}

// tempRandom is the random part of a temporary name: a 32-bit number in
// decimal, as os makes it.
func tempRandom() string { return strconv.FormatUint(uint64(rand.Uint32()), 10) }

// isExist is os.IsExist: it looks through one *fs.PathError or
// *os.LinkError.
func isExist(err error) bool {
	err = underlyingError(err)
	if err == fs.ErrExist {
		return true
	}
	errno, ok := err.(syscall.Errno)
	return ok && errno.Is(fs.ErrExist)
}
