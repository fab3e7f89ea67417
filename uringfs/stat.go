package uringfs

import (
	"io/fs"
	"path/filepath"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fileStat is the fs.FileInfo of a File, filled as os fills its own, with
// a *syscall.Stat_t as Sys() so that code that inspects it keeps working.
type fileStat struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
	sys     syscall.Stat_t
}

func (fs *fileStat) Name() string       { return fs.name }
func (fs *fileStat) Size() int64        { return fs.size }
func (fs *fileStat) Mode() fs.FileMode  { return fs.mode }
func (fs *fileStat) ModTime() time.Time { return fs.modTime }
func (fs *fileStat) IsDir() bool        { return fs.mode.IsDir() }
func (fs *fileStat) Sys() any           { return &fs.sys }

// Stat returns the file's fs.FileInfo, from statx(2).
//
// The statx is a plain system call, not an io_uring operation: io_uring
// never runs a statx inline but always on an io-wq worker thread, where
// it blocks exactly as the system call would, after two thread hand-offs
// that cost far more than the call itself (BenchmarkStat: ring against
// uringfs, some forty times the CPU time per Stat).
func (f *File) Stat() (fs.FileInfo, error) {
	if err := f.acquire("stat"); err != nil {
		return nil, err
	}
	defer f.mu.decref()
	if f.osf != nil {
		return f.osStat()
	}
	st := new(unix.Statx_t)
	err := ignoringEINTR(func() error { return fstatx(f.fd, st) })
	if err != nil {
		return nil, f.wrapErr("stat", err)
	}
	return statxInfo(filepath.Base(f.name), st), nil
}

// emptyPath is the C string "", which with AT_EMPTY_PATH names the fd.
var emptyPath = [1]byte{}

// fstatx is statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS), without the
// allocation unix.Statx makes to pass the empty path.
func fstatx(fd int, st *unix.Statx_t) error {
	_, _, e := syscall.Syscall6(unix.SYS_STATX, uintptr(fd), uintptr(unsafe.Pointer(&emptyPath[0])),
		unix.AT_EMPTY_PATH|unix.AT_STATX_SYNC_AS_STAT, unix.STATX_BASIC_STATS, uintptr(unsafe.Pointer(st)), 0)
	if e != 0 {
		return e
	}
	return nil
}

func statxInfo(name string, st *unix.Statx_t) *fileStat {
	fi := &fileStat{name: name}
	fi.sys = syscall.Stat_t{
		Dev:     unix.Mkdev(st.Dev_major, st.Dev_minor),
		Ino:     st.Ino,
		Nlink:   uint64(st.Nlink),
		Mode:    uint32(st.Mode),
		Uid:     st.Uid,
		Gid:     st.Gid,
		Rdev:    unix.Mkdev(st.Rdev_major, st.Rdev_minor),
		Size:    int64(st.Size),
		Blksize: int64(st.Blksize),
		Blocks:  int64(st.Blocks),
		Atim:    syscall.Timespec{Sec: st.Atime.Sec, Nsec: int64(st.Atime.Nsec)},
		Mtim:    syscall.Timespec{Sec: st.Mtime.Sec, Nsec: int64(st.Mtime.Nsec)},
		Ctim:    syscall.Timespec{Sec: st.Ctime.Sec, Nsec: int64(st.Ctime.Nsec)},
	}
	fillFileStat(fi)
	return fi
}

func statInfo(name string, st *unix.Stat_t) *fileStat {
	fi := &fileStat{name: name}
	fi.sys = syscall.Stat_t{
		Dev: st.Dev, Ino: st.Ino, Nlink: st.Nlink, Mode: st.Mode, Uid: st.Uid, Gid: st.Gid,
		Rdev: st.Rdev, Size: st.Size, Blksize: st.Blksize, Blocks: st.Blocks,
		Atim: syscall.Timespec(st.Atim), Mtim: syscall.Timespec(st.Mtim), Ctim: syscall.Timespec(st.Ctim),
	}
	fillFileStat(fi)
	return fi
}

// fillFileStat derives size, mode and time from sys, as os does.
func fillFileStat(fi *fileStat) {
	st := &fi.sys
	fi.size = st.Size
	fi.modTime = time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
	fi.mode = fs.FileMode(st.Mode & 0777)
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		fi.mode |= fs.ModeDevice
	case syscall.S_IFCHR:
		fi.mode |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		fi.mode |= fs.ModeDir
	case syscall.S_IFIFO:
		fi.mode |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		fi.mode |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		fi.mode |= fs.ModeSocket
	}
	if st.Mode&syscall.S_ISGID != 0 {
		fi.mode |= fs.ModeSetgid
	}
	if st.Mode&syscall.S_ISUID != 0 {
		fi.mode |= fs.ModeSetuid
	}
	if st.Mode&syscall.S_ISVTX != 0 {
		fi.mode |= fs.ModeSticky
	}
}
