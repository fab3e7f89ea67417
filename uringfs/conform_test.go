package uringfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"testing/iotest"

	"github.com/uring-go/uring/internal/testutil"
)

// osFile is the part of *os.File's API that *File shares, so that one
// script can drive both.
type osFile interface {
	io.Reader
	io.Writer
	io.ReaderAt
	io.WriterAt
	io.Seeker
	io.Closer
	Stat() (fs.FileInfo, error)
	Sync() error
	Truncate(int64) error
	Name() string
	ReadDir(int) ([]fs.DirEntry, error)
	Readdirnames(int) ([]string, error)
}

var (
	_ osFile         = (*File)(nil)
	_ osFile         = (*os.File)(nil)
	_ io.ReaderFrom  = (*File)(nil)
	_ io.WriterTo    = (*File)(nil)
	_ fs.File        = (*File)(nil)
	_ fs.ReadDirFile = (*File)(nil)
)

type opener struct {
	name     string
	openFile func(name string, flag int, perm fs.FileMode) (osFile, error)
}

var openers = [2]opener{
	{"os", func(name string, flag int, perm fs.FileMode) (osFile, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return f, nil
	}},
	{"uringfs", func(name string, flag int, perm fs.FileMode) (osFile, error) {
		f, err := cfg.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return f, nil
	}},
}

// describe renders a result so that os's and ours compare equal when
// they behave alike: the error's text, with the temporary directory
// replaced, and which standard sentinels it matches.
func describe(dir string, v any, err error) string {
	s := fmt.Sprintf("%v", v)
	if err != nil {
		var pe *fs.PathError
		op := ""
		if errors.As(err, &pe) {
			op = "PathError." + pe.Op
		}
		s += fmt.Sprintf(" err=%q %s notexist=%v exist=%v perm=%v closed=%v eof=%v",
			err.Error(), op, errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrExist),
			errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrClosed), err == io.EOF)
	}
	return string(bytes.ReplaceAll([]byte(s), []byte(dir), []byte("$DIR")))
}

// step is one action of a conformance script; it returns a description
// of what happened.
type step func(t *testing.T, dir string, f osFile, o opener) string

func TestConformance(t *testing.T) {
	testutil.CheckFDs(t)
	type script struct {
		name  string
		setup func(dir string) // run before each side
		path  string
		flag  int
		perm  fs.FileMode
		steps []step
	}
	read := func(n int) step {
		return func(t *testing.T, dir string, f osFile, o opener) string {
			b := make([]byte, n)
			m, err := f.Read(b)
			return describe(dir, fmt.Sprintf("read %d %q", m, b[:m]), err)
		}
	}
	readAt := func(n int, off int64) step {
		return func(t *testing.T, dir string, f osFile, o opener) string {
			b := make([]byte, n)
			m, err := f.ReadAt(b, off)
			return describe(dir, fmt.Sprintf("readat %d %q", m, b[:m]), err)
		}
	}
	write := func(s string) step {
		return func(t *testing.T, dir string, f osFile, o opener) string {
			m, err := f.Write([]byte(s))
			return describe(dir, fmt.Sprintf("write %d", m), err)
		}
	}
	writeAt := func(s string, off int64) step {
		return func(t *testing.T, dir string, f osFile, o opener) string {
			m, err := f.WriteAt([]byte(s), off)
			return describe(dir, fmt.Sprintf("writeat %d", m), err)
		}
	}
	seek := func(off int64, whence int) step {
		return func(t *testing.T, dir string, f osFile, o opener) string {
			r, err := f.Seek(off, whence)
			return describe(dir, fmt.Sprintf("seek %d", r), err)
		}
	}
	stat := func(t *testing.T, dir string, f osFile, o opener) string {
		fi, err := f.Stat()
		if err != nil {
			return describe(dir, "stat", err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		return fmt.Sprintf("stat %s %d %v dir=%v ino=%v", fi.Name(), fi.Size(), fi.Mode(), fi.IsDir(), st.Ino != 0)
	}
	truncate := func(n int64) step {
		return func(t *testing.T, dir string, f osFile, o opener) string {
			return describe(dir, "truncate", f.Truncate(n))
		}
	}
	sync := func(t *testing.T, dir string, f osFile, o opener) string {
		return describe(dir, "sync", f.Sync())
	}
	closeF := func(t *testing.T, dir string, f osFile, o opener) string {
		return describe(dir, "close", f.Close())
	}
	readdir := func(n int) step {
		return func(t *testing.T, dir string, f osFile, o opener) string {
			ents, err := f.ReadDir(n)
			s := "readdir"
			for _, e := range ents {
				fi, ierr := e.Info()
				if ierr != nil {
					return describe(dir, "info", ierr)
				}
				s += fmt.Sprintf(" %s:%v:%d", e.Name(), e.Type(), fi.Size())
			}
			return describe(dir, s, err)
		}
	}
	readdirnames := func(n int) step {
		return func(t *testing.T, dir string, f osFile, o opener) string {
			names, err := f.Readdirnames(n)
			return describe(dir, fmt.Sprint("names ", names), err)
		}
	}
	fileWith := func(s string) func(string) {
		return func(dir string) { os.WriteFile(filepath.Join(dir, "f"), []byte(s), 0644) }
	}
	scripts := []script{
		{name: "read to EOF", setup: fileWith("hello, world"), path: "f", flag: os.O_RDONLY,
			steps: []step{read(5), read(0), read(100), read(10), stat, closeF, read(1), closeF}},
		{name: "readat", setup: fileWith("0123456789"), path: "f", flag: os.O_RDONLY,
			steps: []step{readAt(4, 2), readAt(4, 8), readAt(4, 10), readAt(4, 100), readAt(1, -1), read(3)}},
		{name: "write seek read", path: "f", flag: os.O_RDWR | os.O_CREATE, perm: 0640,
			steps: []step{write("abcdef"), seek(0, io.SeekCurrent), seek(1, io.SeekStart), read(2), write("XY"),
				seek(-2, io.SeekEnd), read(10), seek(-100, io.SeekStart), stat, writeAt("zz", 10), stat,
				readAt(12, 0), truncate(3), stat, truncate(-1), sync, closeF, write("x"), stat, seek(0, 0), closeF}},
		{name: "append", setup: fileWith("base"), path: "f", flag: os.O_WRONLY | os.O_APPEND,
			steps: []step{write("+1"), writeAt("no", 0), seek(0, 0), write("+2"), stat, read(1)}},
		{name: "create exclusive exists", setup: fileWith("x"), path: "f", flag: os.O_RDWR | os.O_CREATE | os.O_EXCL, perm: 0600},
		{name: "create exclusive", path: "new", flag: os.O_RDWR | os.O_CREATE | os.O_EXCL, perm: 0600 | fs.ModeSticky,
			steps: []step{stat}},
		{name: "setuid setgid", path: "new", flag: os.O_RDWR | os.O_CREATE, perm: 0755 | fs.ModeSetuid | fs.ModeSetgid,
			steps: []step{stat}},
		{name: "missing", path: "nope", flag: os.O_RDONLY},
		{name: "missing dir", path: "nope/f", flag: os.O_RDWR | os.O_CREATE, perm: 0644},
		{name: "write readonly", setup: fileWith("abc"), path: "f", flag: os.O_RDONLY,
			steps: []step{write("x"), writeAt("x", 0), truncate(0)}},
		{name: "read writeonly", setup: fileWith("abc"), path: "f", flag: os.O_WRONLY,
			steps: []step{read(1), readAt(1, 0)}},
		{name: "truncate flag", setup: fileWith("abc"), path: "f", flag: os.O_RDWR | os.O_TRUNC,
			steps: []step{stat, read(1)}},
		{name: "nul in name", path: "a\x00b", flag: os.O_RDONLY},
		{name: "directory", setup: func(dir string) {
			os.Mkdir(filepath.Join(dir, "d"), 0755)
			os.WriteFile(filepath.Join(dir, "d", "a"), []byte("1"), 0644)
			os.WriteFile(filepath.Join(dir, "d", "b"), []byte("22"), 0644)
			os.Mkdir(filepath.Join(dir, "d", "c"), 0755)
			os.Symlink("a", filepath.Join(dir, "d", "l"))
		}, path: "d", flag: os.O_RDONLY,
			steps: []step{stat, read(1), readdirnames(-1), readdirnames(-1), readdirnames(1), seek(0, 0), readdir(-1), seek(0, 0),
				readdir(2), readdir(2), readdir(2), seek(0, 0), readdirnames(10)}},
		{name: "readdir on file", setup: fileWith("x"), path: "f", flag: os.O_RDONLY,
			steps: []step{readdir(-1), readdirnames(1)}},
		{name: "write to dir", path: ".", flag: os.O_RDWR},
	}
	for _, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			var got [2][]string
			for i, o := range openers {
				dir := t.TempDir()
				if sc.setup != nil {
					sc.setup(dir)
				}
				path := filepath.Join(dir, sc.path)
				f, err := o.openFile(path, sc.flag, sc.perm)
				got[i] = append(got[i], describe(dir, "open", err))
				if err != nil {
					continue
				}
				for _, st := range sc.steps {
					got[i] = append(got[i], st(t, dir, f, o))
				}
				f.Close()
				if sc.steps == nil {
					fi, err := os.Stat(path)
					if err == nil {
						got[i] = append(got[i], fmt.Sprint("mode ", fi.Mode()))
					}
				}
			}
			if len(got[0]) != len(got[1]) {
				t.Fatalf("os did %d steps, uringfs %d:\nos:      %q\nuringfs: %q", len(got[0]), len(got[1]), got[0], got[1])
			}
			for i := range got[0] {
				if got[0][i] != got[1][i] {
					t.Errorf("step %d:\nos:      %s\nuringfs: %s", i, got[0][i], got[1][i])
				}
			}
		})
	}
}

func TestReadFileWriteFile(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	for _, size := range []int{0, 1, 511, 512, 513, 1 << 20} {
		p := filepath.Join(dir, fmt.Sprint(size))
		data := bytes.Repeat([]byte("abcdefg"), size/7+1)[:size]
		if err := cfg.WriteFile(p, data, 0600); err != nil {
			t.Fatal(err)
		}
		got, err := cfg.ReadFile(p)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("ReadFile of %d bytes: %d bytes, %v", size, len(got), err)
		}
		want, _ := os.ReadFile(p)
		if !bytes.Equal(want, got) {
			t.Fatal("os.ReadFile disagrees")
		}
	}
	// A file without a size.
	got, err := cfg.ReadFile("/proc/self/status")
	if err != nil || !bytes.Contains(got, []byte("Threads:")) {
		t.Fatalf("ReadFile(/proc/self/status) = %q, %v", got, err)
	}
	_, err = cfg.ReadFile(filepath.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadFile(missing) = %v, want fs.ErrNotExist", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "open" {
		t.Fatalf("error %#v is not a PathError from open", err)
	}
	if err := cfg.WriteFile(filepath.Join(dir, "no/such/dir"), nil, 0600); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("WriteFile into a missing dir: %v", err)
	}
}

func TestIOTest(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 70000)
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, data, 0644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"plain", func(r io.Reader) io.Reader { return r }},
		{"onebyte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := cfg.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if tc.name == "plain" {
				if err := iotest.TestReader(f, data); err != nil {
					t.Fatal(err)
				}
				return
			}
			got, err := io.ReadAll(tc.wrap(f))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestWriteToReadFrom(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	for _, size := range []int{0, 1, streamChunk - 1, streamChunk, streamChunk*streamDepth + 17, 5*streamChunk*streamDepth + 3} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7 / 3)
		}
		src := filepath.Join(dir, "src")
		os.WriteFile(src, data, 0644)
		f, err := cfg.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		// Start mid-file: WriteTo goes from the offset and leaves it at
		// the end.
		skip := min(size, 5)
		if _, err := f.Seek(int64(skip), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		n, err := f.WriteTo(&buf)
		if err != nil || n != int64(size-skip) || !bytes.Equal(buf.Bytes(), data[skip:]) {
			t.Fatalf("WriteTo of %d bytes: n=%d err=%v equal=%v", size, n, err, bytes.Equal(buf.Bytes(), data[skip:]))
		}
		if pos, _ := f.Seek(0, io.SeekCurrent); pos != int64(size) {
			t.Fatalf("offset after WriteTo = %d, want %d", pos, size)
		}
		f.Seek(0, io.SeekStart)

		dst, err := cfg.Create(filepath.Join(dir, "dst"))
		if err != nil {
			t.Fatal(err)
		}
		n, err = dst.ReadFrom(f)
		if err != nil || n != int64(size) {
			t.Fatalf("ReadFrom: %d, %v", n, err)
		}
		f.Close()
		dst.Close()
		got, _ := os.ReadFile(filepath.Join(dir, "dst"))
		if !bytes.Equal(got, data) {
			t.Fatalf("ReadFrom copy of %d bytes differs", size)
		}
	}
	// A pipe: not seekable, copied a read at a time.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w.Write(bytes.Repeat([]byte("p"), 100000))
		w.Close()
	}()
	pf, err := cfg.FromOS(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := pf.WriteTo(&buf)
	pf.Close()
	if err != nil || n != 100000 {
		t.Fatalf("WriteTo from a pipe: %d, %v", n, err)
	}
}

func TestNewFile(t *testing.T) {
	testutil.CheckFDs(t)
	if cfg.NewFile(^uintptr(0), "bad") != nil {
		t.Fatal("NewFile(-1) is not nil")
	}
	p := filepath.Join(t.TempDir(), "f")
	of, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0644)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	f, err := cfg.FromOS(of)
	if err != nil {
		t.Fatal(err)
	}
	if f.Fd() == of.Fd() {
		t.Fatal("FromOS did not duplicate the fd")
	}
	if _, err := f.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); err != errWriteAtInAppendMode {
		t.Fatalf("WriteAt on an O_APPEND fd: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if f.Fd() != ^uintptr(0) {
		t.Fatal("Fd after Close is not ^uintptr(0)")
	}
	if _, err := of.Write([]byte("d")); err != nil {
		t.Fatal("the os.File was closed with its duplicate:", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "abcd" {
		t.Fatalf("file holds %q", got)
	}
	var nilf *File
	if _, err := nilf.Read(nil); err != fs.ErrInvalid {
		t.Fatalf("Read on a nil *File: %v", err)
	}
	if err := nilf.Close(); err != fs.ErrInvalid {
		t.Fatalf("Close on a nil *File: %v", err)
	}
}

func TestNonblockingPipe(t *testing.T) {
	testutil.CheckFDs(t)
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, w := cfg.NewFile(uintptr(p[0]), "r"), cfg.NewFile(uintptr(p[1]), "w")
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		b := make([]byte, 5)
		_, err := io.ReadFull(r, b)
		if err == nil && string(b) != "hello" {
			err = fmt.Errorf("read %q", b)
		}
		done <- err
	}()
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w.Close()
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read after the writer closed: %d, %v", n, err)
	}
}
