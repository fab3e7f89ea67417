package uring

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// runner returns a function that takes an operation method's results,
// waits for that operation's completion and returns it, so that a test
// reads must(r.Op(...)).
func runner[T any](t *testing.T, r *Ring[T]) func(Job, error) Completion[T] {
	return func(j Job, err error) Completion[T] {
		t.Helper()
		if err != nil {
			t.Fatalf("queueing: %v", err)
		}
		c := wait(t, r)
		if c.Job != j {
			t.Fatalf("completion for job %+v, want %+v", c.Job, j)
		}
		return c
	}
}

// ok fails the test if c is an error and returns its result.
func ok[T any](t *testing.T, c Completion[T], what string) int32 {
	t.Helper()
	if err := c.Err(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return c.Result
}

// closeFd closes an fd the kernel opened for a test.
func closeFd(t *testing.T, fd int32) {
	t.Helper()
	if err := unix.Close(int(fd)); err != nil {
		t.Errorf("close(%d): %v", fd, err)
	}
}

// openDir opens dir as an O_PATH fd, to serve as the dirfd of *at
// operations, closed when the test ends.
func openDir(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func fstat(t *testing.T, fd int32) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// umask sets the process umask for the rest of the test. The umask is
// process-wide, so a test that calls it must not run in parallel.
func umask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func TestOpenat2DevNull(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	must := runner(t, r)
	fd := ok(t, must(r.Openat2(AtFdcwd, "/dev/null", OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC}, 1)), "openat2 /dev/null")
	defer closeFd(t, fd)
	if fd < 0 {
		t.Fatalf("openat2 returned fd %d", fd)
	}
	buf := make([]byte, 8)
	if n := ok(t, must(r.Read(int(fd), buf, 0, 2)), "read /dev/null"); n != 0 {
		t.Errorf("read of /dev/null = %d, want 0 (EOF)", n)
	}
}

// Creating with perm 0644 under umask 077 gives 0600, then the sync and
// allocation operations act on the new file.
func TestOpenat2CreateSyncFallocate(t *testing.T) {
	testutil.CheckFDs(t)
	umask(t, 0o077)
	r := newRing[int](t, 4)
	must := runner(t, r)
	path := filepath.Join(t.TempDir(), "test-openat")
	how := OpenHow{Flags: unix.O_CREAT | unix.O_EXCL | unix.O_RDWR | unix.O_CLOEXEC, Mode: 0o644}
	fd := ok(t, must(r.Openat2(AtFdcwd, path, how, 0)), "openat2 create")
	defer closeFd(t, fd)
	if perm := fstat(t, fd).Mode & 0o777; perm != 0o600 {
		t.Errorf("created with 0644 under umask 077: perm %#o, want 0600", perm)
	}
	if n := ok(t, must(r.Write(int(fd), []byte("test data"), 0, 0)), "write"); n != 9 {
		t.Fatalf("write = %d, want 9", n)
	}
	for name, f := range map[string]func() (Job, error){
		"fsync":           func() (Job, error) { return r.Fsync(int(fd), 0) },
		"fdatasync":       func() (Job, error) { return r.Fdatasync(int(fd), 0) },
		"fsync range":     func() (Job, error) { return r.FsyncRange(int(fd), 0, 9, 0) },
		"fdatasync range": func() (Job, error) { return r.FdatasyncRange(int(fd), 2, 5, 0) },
	} {
		if res := ok(t, must(f()), name); res != 0 {
			t.Errorf("%s = %d, want 0", name, res)
		}
	}
	if res := ok(t, must(r.Fallocate(int(fd), 0, 0, 4096, 0)), "fallocate"); res != 0 {
		t.Errorf("fallocate = %d", res)
	}
	if size := fstat(t, fd).Size; size != 4096 {
		t.Errorf("size after fallocate of 4096 = %d", size)
	}
	before := fstat(t, fd).Blocks
	ok(t, must(r.Fallocate(int(fd), FallocKeepSize, 4096, 8192, 0)), "fallocate keep-size")
	st := fstat(t, fd)
	if st.Size != 4096 {
		t.Errorf("size after keep-size fallocate = %d, want 4096", st.Size)
	}
	// Without this a keep-size call that did nothing would pass: it must
	// have allocated the 8192 bytes past the end (blocks of 512 bytes).
	if st.Blocks < before+8192/512 {
		t.Errorf("keep-size fallocate of 8192 bytes: %d blocks, had %d", st.Blocks, before)
	}
	// The writes and allocations hit the right file: the data is intact.
	got := make([]byte, 9)
	if _, err := unix.Pread(int(fd), got, 0); err != nil || string(got) != "test data" {
		t.Errorf("file holds %q, %v", got, err)
	}
}

func TestFsyncRangeRejectsBadLength(t *testing.T) {
	r := newRing[int](t, 4)
	for _, n := range []int{-1, 1 << 32} {
		if _, err := r.FsyncRange(0, 0, n, 0); err == nil {
			t.Errorf("FsyncRange with length %d accepted", n)
		}
	}
	if _, err := r.FdatasyncRange(0, -1, 1, 0); err == nil {
		t.Error("FdatasyncRange at offset -1 accepted")
	}
	if r.ActiveOps() != 0 {
		t.Errorf("refused ops left %d active", r.ActiveOps())
	}
}

func TestFtruncate(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	if !r.OpSupported(OpFtruncate) {
		t.Skipf("kernel lacks IORING_OP_FTRUNCATE (Linux %s)", OpFtruncate.Since())
	}
	must := runner(t, r)
	f, err := os.Create(filepath.Join(t.TempDir(), "trunc"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(make([]byte, 4096))
	if res := ok(t, must(r.Ftruncate(int(f.Fd()), 9, 0)), "ftruncate"); res != 0 {
		t.Errorf("ftruncate = %d", res)
	}
	if fi, _ := f.Stat(); fi.Size() != 9 {
		t.Errorf("size after ftruncate to 9 = %d", fi.Size())
	}
	ok(t, must(r.Ftruncate(int(f.Fd()), 10000, 0)), "ftruncate up")
	if fi, _ := f.Stat(); fi.Size() != 10000 {
		t.Errorf("size after ftruncate to 10000 = %d", fi.Size())
	}
	if c := must(r.Ftruncate(int(f.Fd()), -1, 0)); !errors.Is(c.Err(), syscall.EINVAL) {
		t.Errorf("ftruncate to -1 = %v, want EINVAL", c.Err())
	}

	r.MaskOps(OpFtruncate)
	_, err = r.Ftruncate(int(f.Fd()), 9, 0)
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "ftruncate") || !strings.Contains(err.Error(), "6.9") {
		t.Errorf("Ftruncate on a kernel without it = %v, want ErrUnsupported naming ftruncate and 6.9", err)
	}
	if r.ActiveOps() != 0 {
		t.Errorf("refused Ftruncate left %d active", r.ActiveOps())
	}
}

func checkStatx(t *testing.T, how string, st *unix.Statx_t) {
	t.Helper()
	if st.Mask&StatxSize == 0 || st.Mask&StatxType == 0 {
		t.Errorf("%s: mask %#x lacks size or type", how, st.Mask)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("%s: mode %#o is not a regular file", how, st.Mode)
	}
	if st.Mode&0o777 != 0o600 {
		t.Errorf("%s: perm %#o, want 0600", how, st.Mode&0o777)
	}
	if st.Size != 9 {
		t.Errorf("%s: size %d, want 9", how, st.Size)
	}
	if st.Nlink < 1 {
		t.Errorf("%s: nlink %d", how, st.Nlink)
	}
}

func TestStatx(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	must := runner(t, r)
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	if err := os.WriteFile(path, []byte("test data"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o600) // whatever the umask

	var st unix.Statx_t
	if res := ok(t, must(r.Statx(AtFdcwd, path, 0, StatxBasicStats, &st, 0)), "statx by path"); res != 0 {
		t.Errorf("statx = %d", res)
	}
	checkStatx(t, "statx by path", &st)

	// Relative to a directory fd.
	st = unix.Statx_t{}
	ok(t, must(r.Statx(openDir(t, dir), "file", 0, StatxSize|StatxType|StatxMode|StatxNlink, &st, 0)), "statx relative")
	checkStatx(t, "statx relative to dirfd", &st)

	// Through an O_PATH fd with an empty path.
	pfd := ok(t, must(r.Openat2(AtFdcwd, path, OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC}, 0)), "openat2 O_PATH")
	defer closeFd(t, pfd)
	st = unix.Statx_t{}
	ok(t, must(r.Statx(int(pfd), "", AtEmptyPath, StatxBasicStats, &st, 0)), "statx of O_PATH fd")
	checkStatx(t, "statx of an O_PATH fd", &st)

	if c := must(r.Statx(AtFdcwd, filepath.Join(dir, "missing"), 0, StatxBasicStats, &st, 0)); !errors.Is(c.Err(), syscall.ENOENT) {
		t.Errorf("statx of a missing file = %v, want ENOENT", c.Err())
	}
	if _, err := r.Statx(AtFdcwd, path, 0, StatxBasicStats, nil, 0); err == nil || r.ActiveOps() != 0 {
		t.Errorf("Statx with a nil target = %v, %d active", err, r.ActiveOps())
	}
}

func TestOpenat2Resolve(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	must := runner(t, r)
	dir := t.TempDir()
	dfd := openDir(t, dir)
	os.Symlink("/", filepath.Join(dir, "escape"))
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	for _, tc := range []struct {
		path    string
		resolve ResolveFlags
		want    syscall.Errno // 0: opens
	}{
		{".", 0, 0},
		{"..", 0, 0},
		{".", ResolveBeneath, 0},
		{"sub", ResolveBeneath, 0},
		{"sub/..", ResolveBeneath, 0},
		{"..", ResolveBeneath, syscall.EXDEV},
		{"/", ResolveBeneath, syscall.EXDEV},
		{"escape", ResolveBeneath, syscall.EXDEV},
		{"escape", ResolveNoSymlinks, syscall.ELOOP},
		{"..", ResolveInRoot, 0}, // ".." at the root stays at the root
	} {
		c := must(r.Openat2(dfd, tc.path, OpenHow{Flags: flags, Resolve: tc.resolve}, 0))
		if tc.want == 0 {
			if c.Err() != nil {
				t.Errorf("openat2 %q resolve %#x: %v, want success", tc.path, tc.resolve, c.Err())
				continue
			}
			closeFd(t, c.Result)
		} else if !errors.Is(c.Err(), tc.want) {
			if c.Err() == nil {
				closeFd(t, c.Result)
			}
			t.Errorf("openat2 %q resolve %#x: %v, want %v", tc.path, tc.resolve, c.Err(), tc.want)
		}
	}
	// openat2 is strict where open is lax: a mode without O_CREAT.
	c := must(r.Openat2(dfd, ".", OpenHow{Flags: flags, Mode: 0o644}, 0))
	if !errors.Is(c.Err(), syscall.EINVAL) {
		if c.Err() == nil {
			closeFd(t, c.Result)
		}
		t.Errorf("openat2 with a mode and no O_CREAT = %v, want EINVAL", c.Err())
	}
}

func TestUnlinkat(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	must := runner(t, r)
	dir := t.TempDir()
	dfd := openDir(t, dir)
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o600)
	os.Mkdir(filepath.Join(dir, "dir"), 0o700)
	os.Symlink("file", filepath.Join(dir, "link"))

	// Each kind refuses the other's target.
	if c := must(r.Unlinkat(dfd, "dir", false, 0)); !errors.Is(c.Err(), syscall.EISDIR) {
		t.Errorf("unlink of a directory = %v, want EISDIR", c.Err())
	}
	if c := must(r.Unlinkat(dfd, "file", true, 0)); !errors.Is(c.Err(), syscall.ENOTDIR) {
		t.Errorf("rmdir of a file = %v, want ENOTDIR", c.Err())
	}

	ok(t, must(r.Unlinkat(dfd, "link", false, 0)), "unlink symlink")
	if _, err := os.Stat(filepath.Join(dir, "file")); err != nil {
		t.Errorf("unlinking a symlink removed its target: %v", err)
	}
	ok(t, must(r.Unlinkat(dfd, "file", false, 0)), "unlink")
	ok(t, must(r.Unlinkat(AtFdcwd, filepath.Join(dir, "dir"), true, 0)), "rmdir")
	for _, name := range []string{"file", "dir", "link"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after unlinkat: %v", name, err)
		}
	}
	if c := must(r.Unlinkat(dfd, "file", false, 0)); !errors.Is(c.Err(), syscall.ENOENT) {
		t.Errorf("second unlink = %v, want ENOENT", c.Err())
	}
}

func TestLinkat(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	must := runner(t, r)
	dir := t.TempDir()
	dfd := openDir(t, dir)
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("x"), 0o600)
	os.Symlink("target", filepath.Join(dir, "sym"))

	ok(t, must(r.Linkat(dfd, "sym", dfd, "link-nofollow", 0, 0)), "linkat")
	if fi, err := os.Lstat(filepath.Join(dir, "link-nofollow")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("linkat of a symlink without follow: %v, %v; want a symlink", fi.Mode(), err)
	}
	ok(t, must(r.Linkat(dfd, "sym", AtFdcwd, filepath.Join(dir, "link-follow"), LinkatSymlinkFollow, 0)), "linkat follow")
	fi, err := os.Lstat(filepath.Join(dir, "link-follow"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("linkat of a symlink with follow: %v, %v; want a regular file", fi.Mode(), err)
	}
	if tfi, _ := os.Stat(target); !os.SameFile(fi, tfi) {
		t.Error("linkat with follow made a different file, not a hard link to the target")
	}
	if c := must(r.Linkat(dfd, "target", dfd, "sym", 0, 0)); !errors.Is(c.Err(), syscall.EEXIST) {
		t.Errorf("linkat onto an existing name = %v, want EEXIST", c.Err())
	}
}

func TestRenameat(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	must := runner(t, r)
	dir := t.TempDir()
	dfd := openDir(t, dir)
	os.WriteFile(filepath.Join(dir, "a"), []byte("A"), 0o600)
	os.WriteFile(filepath.Join(dir, "c"), []byte("C"), 0o600)

	ok(t, must(r.Renameat(dfd, "a", dfd, "b", 0, 0)), "renameat")
	if _, err := os.Stat(filepath.Join(dir, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old name still there: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "b")); err != nil || string(b) != "A" {
		t.Errorf("new name holds %q, %v", b, err)
	}
	if c := must(r.Renameat(dfd, "b", dfd, "c", RenameNoReplace, 0)); !errors.Is(c.Err(), syscall.EEXIST) {
		t.Errorf("renameat NOREPLACE onto an existing name = %v, want EEXIST", c.Err())
	}
	ok(t, must(r.Renameat(AtFdcwd, filepath.Join(dir, "b"), dfd, "c", RenameExchange, 0)), "renameat exchange")
	b, _ := os.ReadFile(filepath.Join(dir, "b"))
	c, _ := os.ReadFile(filepath.Join(dir, "c"))
	if string(b) != "C" || string(c) != "A" {
		t.Errorf("after RENAME_EXCHANGE b=%q c=%q, want C and A", b, c)
	}
}

func TestSymlinkat(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	must := runner(t, r)
	dir := t.TempDir()
	dfd := openDir(t, dir)
	// The target need not exist: a symlink stores a string.
	const target = "../some/where/else"
	ok(t, must(r.Symlinkat(target, dfd, "link", 0)), "symlinkat")
	if got, err := os.Readlink(filepath.Join(dir, "link")); err != nil || got != target {
		t.Errorf("readlink = %q, %v; want %q", got, err, target)
	}
	if c := must(r.Symlinkat("x", dfd, "link", 0)); !errors.Is(c.Err(), syscall.EEXIST) {
		t.Errorf("second symlinkat = %v, want EEXIST", c.Err())
	}
}

func TestMkdirat(t *testing.T) {
	testutil.CheckFDs(t)
	umask(t, 0o077)
	r := newRing[int](t, 4)
	must := runner(t, r)
	dir := t.TempDir()
	dfd := openDir(t, dir)
	ok(t, must(r.Mkdirat(dfd, "d", 0o755, 0)), "mkdirat")
	fi, err := os.Stat(filepath.Join(dir, "d"))
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("mkdirat 0755 under umask 077: %v, %v; want a directory with perm 0700", fi.Mode(), err)
	}
	if c := must(r.Mkdirat(dfd, "d", 0o755, 0)); !errors.Is(c.Err(), syscall.EEXIST) {
		t.Errorf("second mkdirat = %v, want EEXIST", c.Err())
	}
}

// A file goes through a pipe into another file, at offsets on both file
// ends, so that a mix-up of the SQE's in and out fields shows.
func TestSplice(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[int](t, 4)
	must := runner(t, r)
	dir := t.TempDir()
	data := make([]byte, 10000)
	for i := range data {
		data[i] = byte(i*7 + i/256)
	}
	src, err := os.Create(filepath.Join(dir, "src"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.Write(data)
	dst, err := os.Create(filepath.Join(dir, "dst"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	rfd, wfd := pipe(t)

	const inOff, outOff = 3, 5
	want := len(data) - inOff
	// Splice may move less than asked; whatever it moved is in the pipe.
	for moved := 0; moved < want; {
		n := ok(t, must(r.Splice(int(src.Fd()), int64(inOff+moved), wfd, CurrentPosition, want-moved, 0, 0)), "splice file to pipe")
		if n == 0 {
			t.Fatalf("splice file to pipe hit EOF after %d of %d bytes", moved, want)
		}
		moved += int(n)
	}
	for moved := 0; moved < want; {
		n := ok(t, must(r.Splice(rfd, CurrentPosition, int(dst.Fd()), int64(outOff+moved), want-moved, 0, 0)), "splice pipe to file")
		moved += int(n)
	}
	got, _ := os.ReadFile(dst.Name())
	if len(got) != outOff+want || !bytes.Equal(got[outOff:], data[inOff:]) {
		t.Fatalf("round trip through splice: %d bytes, want %d, equal=%v", len(got), outOff+want, len(got) == outOff+want && bytes.Equal(got[outOff:], data[inOff:]))
	}

	// The seed's form moves from and to the current positions.
	src.Seek(100, 0)
	if n := ok(t, must(r.SpliceStream(int(src.Fd()), wfd, 50, 0)), "splice stream in"); n != 50 {
		t.Fatalf("SpliceStream into pipe = %d, want 50", n)
	}
	if pos, _ := src.Seek(0, 1); pos != 150 {
		t.Errorf("source position after SpliceStream = %d, want 150", pos)
	}
	out := make([]byte, 50)
	if n, _ := unix.Read(rfd, out); n != 50 || !bytes.Equal(out, data[100:150]) {
		t.Errorf("pipe holds %d bytes %q, want data[100:150]", n, out[:max(n, 0)])
	}
	unix.Close(wfd)
	if n := ok(t, must(r.SpliceStream(rfd, int(dst.Fd()), 50, 0)), "splice from closed pipe"); n != 0 {
		t.Errorf("splice from an empty pipe with no writer = %d, want 0", n)
	}
	// Neither end a pipe.
	if c := must(r.SpliceStream(int(src.Fd()), int(dst.Fd()), 10, 0)); !errors.Is(c.Err(), syscall.EINVAL) {
		t.Errorf("splice between two files = %v, want EINVAL", c.Err())
	}
}

// A path with a NUL byte inside is refused before anything is queued.
func TestPathWithNULRejected(t *testing.T) {
	r := newRing[int](t, 4)
	var st unix.Statx_t
	const bad = "a\x00b"
	for name, f := range map[string]func() (Job, error){
		"Openat2":        func() (Job, error) { return r.Openat2(AtFdcwd, bad, OpenHow{Flags: unix.O_RDONLY}, 0) },
		"Linkat old":     func() (Job, error) { return r.Linkat(AtFdcwd, bad, AtFdcwd, "x", 0, 0) },
		"Linkat new":     func() (Job, error) { return r.Linkat(AtFdcwd, "x", AtFdcwd, bad, 0, 0) },
		"Unlinkat":       func() (Job, error) { return r.Unlinkat(AtFdcwd, bad, false, 0) },
		"Mkdirat":        func() (Job, error) { return r.Mkdirat(AtFdcwd, bad, 0o700, 0) },
		"Renameat old":   func() (Job, error) { return r.Renameat(AtFdcwd, bad, AtFdcwd, "x", 0, 0) },
		"Renameat new":   func() (Job, error) { return r.Renameat(AtFdcwd, "x", AtFdcwd, bad, 0, 0) },
		"Symlinkat tgt":  func() (Job, error) { return r.Symlinkat(bad, AtFdcwd, "x", 0) },
		"Symlinkat link": func() (Job, error) { return r.Symlinkat("x", AtFdcwd, bad, 0) },
		"Statx":          func() (Job, error) { return r.Statx(AtFdcwd, bad, 0, StatxBasicStats, &st, 0) },
	} {
		_, err := f()
		var pe *InvalidPathError
		if !errors.Is(err, syscall.EINVAL) || !errors.As(err, &pe) || pe.Path != bad || !strings.Contains(err.Error(), "NUL") {
			t.Errorf("%s with a NUL in the path = %v, want an InvalidPathError matching EINVAL", name, err)
		}
		if r.ActiveOps() != 0 || r.SQEReady() != 0 {
			t.Fatalf("%s: a refused path left %d active, %d queued", name, r.ActiveOps(), r.SQEReady())
		}
	}
}

// The paths, open_how structs and statx targets of operations in flight
// are only referenced by the ring; a garbage collector running all the
// while must neither free nor let anything else overwrite them.
func TestFsOpsSurviveGC(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	const files = 16
	size := func(i int) int64 { return int64(i*37 + 1) }
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%02d", i)), make([]byte, size(i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dfd := openDir(t, dir)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var junk [][]byte
		for {
			select {
			case <-stop:
				return
			default:
			}
			runtime.GC()
			// Reuse whatever was freed, with bytes a path never holds,
			// so that a freed path would be read as garbage.
			junk = junk[:0]
			for range 64 {
				b := make([]byte, 24)
				for i := range b {
					b[i] = 0xff
				}
				junk = append(junk, b)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	type op struct {
		statx bool
		file  int
	}
	r := newRing[op](t, 64)
	stats := map[Job]*unix.Statx_t{}
	const rounds, perRound = 20, 48
	var total, spurious int
	defer func() {
		if spurious > 0 {
			t.Logf("%d of %d operations were cancelled by the kernel before they ran", spurious, total)
		}
		if spurious > total/2 {
			t.Errorf("%d of %d operations never ran: the test checked too little", spurious, total)
		}
	}()
	for round := range rounds {
		for batch := range 2 {
			for i := range perRound {
				file := (round + batch + i) % files
				name := fmt.Sprintf("file-%02d", file) // a fresh heap string each time
				var j Job
				var err error
				if i%2 == 0 {
					st := new(unix.Statx_t)
					j, err = r.Statx(dfd, name, 0, StatxSize, st, op{true, file})
					stats[j] = st
				} else {
					j, err = r.Openat2(dfd, name, OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC}, op{false, file})
				}
				if err != nil {
					t.Fatal(err)
				}
				if i%3 == 0 {
					// Straight to a kernel worker, which reads the
					// memory later than an inline attempt would.
					r.SetSQEFlags(j, Async)
				}
			}
			// Give the collector time to run between queueing and the
			// kernel reading the paths.
			time.Sleep(time.Millisecond)
			if _, err := r.Submit(); err != nil {
				t.Fatal(err)
			}
		}
		// Errors are reported without stopping, so that every fd is
		// closed and the ring drained.
		for r.ActiveOps() > 0 {
			c := wait(t, r)
			st := stats[c.Job]
			delete(stats, c.Job)
			total++
			if errors.Is(c.Err(), syscall.ECANCELED) {
				// Linux (6.1) cancels work it could not start an
				// io-wq worker for; the op never ran.
				spurious++
				continue
			}
			if c.Err() != nil {
				t.Errorf("%+v: %v", c.Data, c.Err())
				continue
			}
			want := size(c.Data.file)
			if c.Data.statx {
				if st.Size != uint64(want) {
					t.Errorf("statx of file %d: size %d, want %d", c.Data.file, st.Size, want)
				}
				continue
			}
			got := fstat(t, c.Result).Size
			closeFd(t, c.Result)
			if got != want {
				t.Errorf("openat2 of file %d opened a file of %d bytes, want %d", c.Data.file, got, want)
			}
		}
		if t.Failed() {
			return
		}
	}
}

func ExampleRing_Openat2() {
	r, err := New[string](8)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	how := OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: ResolveBeneath}
	if _, err := r.Openat2(AtFdcwd, "go.mod", how, "open go.mod"); err != nil {
		fmt.Println(err)
		return
	}
	c, err := r.Wait()
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Err(); err != nil {
		fmt.Println(c.Data, "failed:", err)
		return
	}
	fd := int(c.Result)
	defer unix.Close(fd)
	fmt.Println(c.Data, "gave fd", fd)
}

func ExampleRing_Statx() {
	r, err := New[string](8)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	// st must stay untouched until the completion is collected.
	var st unix.Statx_t
	if _, err := r.Statx(AtFdcwd, "/etc/hostname", 0, StatxSize|StatxMtime, &st, "hostname"); err != nil {
		fmt.Println(err)
		return
	}
	c, err := r.Wait()
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Err(); err != nil {
		fmt.Println(c.Data, err)
		return
	}
	fmt.Println(c.Data, st.Size, "bytes, modified", time.Unix(st.Mtime.Sec, int64(st.Mtime.Nsec)))
}
