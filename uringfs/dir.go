package uringfs

import (
	"io"
	"io/fs"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Directory listing uses getdents64(2) directly: io_uring has no getdents
// operation on the kernels this package supports (one was proposed but is
// not in mainline), so there is nothing to gain from the ring here.

// dirInfo buffers the raw entries of a directory being read.
type dirInfo struct {
	buf  []byte
	bufp int // next entry in buf
	nbuf int // bytes of buf in use
}

const direntBufSize = 8192

// dirent is one directory entry, with its type from getdents.
type dirent struct {
	name string
	typ  fs.FileMode
}

// readDirents returns up to n entries (all when n <= 0), skipping "." and
// "..", with io.EOF when n > 0 and nothing is left, as os does. The
// caller holds a reference and f.pos.
func (f *File) readDirents(n int) ([]dirent, error) {
	if f.dir == nil {
		f.dir = &dirInfo{buf: make([]byte, direntBufSize)}
	}
	d := f.dir
	var out []dirent
	for n <= 0 || len(out) < n {
		if d.bufp >= d.nbuf {
			d.bufp = 0
			var err error
			d.nbuf, err = ignoringEINTRN(func() (int, error) { return unix.Getdents(f.fd, d.buf) })
			if err != nil {
				d.nbuf = 0
				return out, f.wrapErr("readdirent", err)
			}
			if d.nbuf <= 0 {
				d.nbuf = 0
				break
			}
		}
		buf := d.buf[d.bufp:d.nbuf]
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8,
		// name NUL-terminated.
		const nameOff = int(unsafe.Offsetof(unix.Dirent{}.Name))
		if len(buf) < nameOff {
			break
		}
		reclen := int(*(*uint16)(unsafe.Pointer(&buf[unsafe.Offsetof(unix.Dirent{}.Reclen)])))
		if reclen < nameOff || reclen > len(buf) {
			break
		}
		d.bufp += reclen
		ino := *(*uint64)(unsafe.Pointer(&buf[0]))
		if ino == 0 {
			continue
		}
		typ := buf[unsafe.Offsetof(unix.Dirent{}.Type)]
		name := buf[nameOff:reclen]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		if string(name) == "." || string(name) == ".." {
			continue
		}
		out = append(out, dirent{name: string(name), typ: direntType(typ)})
	}
	if n > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

func ignoringEINTRN(fn func() (int, error)) (int, error) {
	for {
		n, err := fn()
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// direntType maps a d_type to the type bits of fs.FileMode; unknown types
// (some file systems report none) are fixed up by a stat.
func direntType(t uint8) fs.FileMode {
	switch t {
	case unix.DT_BLK:
		return fs.ModeDevice
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.DT_DIR:
		return fs.ModeDir
	case unix.DT_FIFO:
		return fs.ModeNamedPipe
	case unix.DT_LNK:
		return fs.ModeSymlink
	case unix.DT_REG:
		return 0
	case unix.DT_SOCK:
		return fs.ModeSocket
	}
	return ^fs.FileMode(0)
}

// dirEntry is an fs.DirEntry whose Info was taken while the directory was
// open: fs.FS users (fstest among them) call Info after closing it, and
// the directory fd is the only handle that resolves the name safely
// inside a DirFS.
type dirEntry struct {
	name string
	typ  fs.FileMode
	info fs.FileInfo
	err  error
}

func (d *dirEntry) Name() string               { return d.name }
func (d *dirEntry) IsDir() bool                { return d.typ.IsDir() }
func (d *dirEntry) Type() fs.FileMode          { return d.typ }
func (d *dirEntry) Info() (fs.FileInfo, error) { return d.info, d.err }
func (d *dirEntry) String() string             { return fs.FormatDirEntry(d) }

// lstatAt describes name in the directory f without following a final
// symlink.
func (f *File) lstatAt(name string) (*fileStat, error) {
	var st unix.Stat_t
	err := ignoringEINTR(func() error { return unix.Fstatat(f.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) })
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: f.name + "/" + name, Err: err}
	}
	return statInfo(name, &st), nil
}

// ReadDir reads the directory's entries in directory order, as
// os.File.ReadDir: with n > 0 at most n, and io.EOF when none are left;
// with n <= 0 all that remain, with a nil error at the end. Each entry's
// Info is taken (fstatat) while the directory is read.
func (f *File) ReadDir(n int) ([]fs.DirEntry, error) {
	if err := f.acquire("readdirent"); err != nil {
		return nil, err
	}
	defer f.mu.decref()
	f.pos.Lock()
	defer f.pos.Unlock()
	ents, err := f.readDirents(n)
	out := make([]fs.DirEntry, 0, len(ents))
	for _, e := range ents {
		de := &dirEntry{name: e.name, typ: e.typ}
		fi, serr := f.lstatAt(e.name)
		if serr != nil {
			if errorsIsNotExist(serr) {
				// Removed since it was listed: os skips it too.
				continue
			}
			de.err = serr
		} else {
			de.info = fi
			de.typ = fi.Mode().Type()
		}
		if de.typ == ^fs.FileMode(0) {
			de.typ = fs.ModeIrregular
		}
		out = append(out, de)
	}
	return out, err
}

// Readdirnames reads the names of the directory's entries, as
// os.File.Readdirnames.
func (f *File) Readdirnames(n int) ([]string, error) {
	if err := f.acquire("readdirent"); err != nil {
		return nil, err
	}
	defer f.mu.decref()
	f.pos.Lock()
	defer f.pos.Unlock()
	ents, err := f.readDirents(n)
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.name
	}
	return names, err
}

// Readdir reads the directory's entries as fs.FileInfo values, as
// os.File.Readdir.
func (f *File) Readdir(n int) ([]fs.FileInfo, error) {
	ents, err := f.ReadDir(n)
	infos := make([]fs.FileInfo, 0, len(ents))
	for _, e := range ents {
		if fi, ierr := e.Info(); ierr == nil {
			infos = append(infos, fi)
		}
	}
	return infos, err
}

func errorsIsNotExist(err error) bool {
	pe, ok := err.(*fs.PathError)
	return ok && pe.Err == syscall.ENOENT
}
