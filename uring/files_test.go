package uring

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// A pipe's write end registered in the file table is written through its
// index with FixedFile; emptying the entry makes the index unusable.
func TestRegisteredFileWrite(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 4)
	rfd, wfd := pipe(t)
	if err := r.RegisterFilesSparse(4); err != nil {
		t.Fatal(err)
	}
	if err := r.UpdateFiles(2, []int{wfd}); err != nil {
		t.Fatal(err)
	}
	const idx = 2
	writeFixed := func(msg string) Completion[string] {
		t.Helper()
		// idx is not an fd: the pipe's fd is some other number.
		j, err := r.Write(idx, []byte(msg), 0, "write")
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetSQEFlags(j, FixedFile); err != nil {
			t.Fatal(err)
		}
		return wait(t, r)
	}
	if c := writeFixed("via index"); c.Result != 9 {
		t.Fatalf("write through registered index = %d (%v)", c.Result, c.Err())
	}
	buf := make([]byte, 16)
	if n, err := unix.Read(rfd, buf); err != nil || string(buf[:n]) != "via index" {
		t.Fatalf("pipe read %q, %v", buf[:n], err)
	}

	if err := r.UpdateFiles(idx, []int{-1}); err != nil {
		t.Fatal(err)
	}
	if c := writeFixed("gone"); !errors.Is(c.Err(), syscall.EBADF) {
		t.Errorf("write through an emptied index = %+v, want EBADF", c)
	}
	if err := r.UnregisterFiles(); err != nil {
		t.Fatal(err)
	}
	if err := r.UnregisterFiles(); err == nil {
		t.Error("second UnregisterFiles succeeded")
	}
}

func TestRegisterFiles(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 4)
	rfd, wfd := pipe(t)
	if err := r.RegisterFiles([]int{rfd, -1, wfd}); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterFiles([]int{rfd}); err == nil || !errors.Is(err, syscall.EBUSY) || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("second RegisterFiles = %v, want EBUSY saying a table is registered", err)
	}
	j, _ := r.Write(2, []byte("x"), 0, "w")
	r.SetSQEFlags(j, FixedFile)
	if c := wait(t, r); c.Result != 1 {
		t.Fatalf("write through index 2 = %d (%v)", c.Result, c.Err())
	}
	buf := make([]byte, 1)
	j, _ = r.Read(0, buf, 0, "r")
	r.SetSQEFlags(j, FixedFile)
	if c := wait(t, r); c.Result != 1 || buf[0] != 'x' {
		t.Fatalf("read through index 0 = %d %q (%v)", c.Result, buf, c.Err())
	}

	// Every failed update is reported, naming the entry.
	for _, tc := range []struct {
		off  int
		fds  []int
		want string
	}{
		{3, []int{wfd}, "entry 3"},                  // past the end of the table
		{1, []int{wfd, 1 << 30}, "entry 2"},         // the second is not an fd
		{-1, []int{wfd}, "outside"},                 // negative offset
		{0, []int{int(^uint32(0) >> 1)}, "entry 0"}, // not an fd
	} {
		if err := r.UpdateFiles(tc.off, tc.fds); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("UpdateFiles(%d, %v) = %v, want an error naming %q", tc.off, tc.fds, err, tc.want)
		}
	}
	if err := r.UnregisterFiles(); err != nil {
		t.Fatal(err)
	}
	if err := r.UpdateFiles(0, []int{rfd}); err == nil || !strings.Contains(err.Error(), "no file table") {
		t.Errorf("UpdateFiles without a table = %v", err)
	}
	if err := r.RegisterFiles(nil); err == nil {
		t.Error("RegisterFiles(nil) succeeded")
	}
	if err := r.RegisterFiles([]int{1 << 30}); err == nil {
		t.Error("registering a non-fd succeeded")
	}
}

// A table larger than RLIMIT_NOFILE is refused with advice, before the
// kernel is asked.
func TestRegisterFilesLimit(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 4)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	n := lim.Cur + 1
	if n > maxFixedFiles {
		t.Skipf("RLIMIT_NOFILE %d is above the kernel's own table limit %d", lim.Cur, maxFixedFiles)
	}
	for name, f := range map[string]func() error{
		"RegisterFilesSparse": func() error { return r.RegisterFilesSparse(int(n)) },
		"RegisterFiles":       func() error { return r.RegisterFiles(make([]int, n)) },
	} {
		err := f()
		if err == nil || !strings.Contains(err.Error(), "raise RLIMIT_NOFILE") || !errors.Is(err, syscall.EMFILE) {
			t.Errorf("%s(%d) with RLIMIT_NOFILE %d = %v, want EMFILE advising to raise RLIMIT_NOFILE", name, n, lim.Cur, err)
		}
	}
	if err := r.RegisterFilesSparse(maxFixedFiles + 1); err == nil {
		t.Error("a table above the kernel's limit was accepted")
	}
	// Within the limit it works.
	if err := r.RegisterFilesSparse(int(min(lim.Cur, 1024))); err != nil {
		t.Fatal(err)
	}
	if err := r.UnregisterFiles(); err != nil {
		t.Fatal(err)
	}
}

// Every operation and registration of this file family reports ErrClosed
// after Close.
func TestNetAndFilesAfterClose(t *testing.T) {
	testutil.CheckFDs(t)
	r, err := New[int](4)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	sa := &unix.SockaddrInet4{}
	job := func(_ Job, err error) error { return err }
	for name, err := range map[string]error{
		"Socket":              job(r.Socket(unix.AF_INET, unix.SOCK_STREAM, 0, 0)),
		"Bind":                job(r.Bind(0, sa, 0)),
		"Listen":              job(r.Listen(0, 1, 0)),
		"Connect":             job(r.Connect(0, sa, 0)),
		"Accept":              job(r.Accept(0, new(Sockaddr), 0, 0)),
		"AcceptMultishot":     job(r.AcceptMultishot(0, 0, 0)),
		"Send":                job(r.Send(0, []byte("x"), 0, 0)),
		"Recv":                job(r.Recv(0, make([]byte, 1), 0, 0)),
		"SendZC":              job(r.SendZC(0, []byte("x"), 0, 0)),
		"SendMsg":             job(r.SendMsg(0, [][]byte{[]byte("x")}, nil, nil, 0)),
		"RecvMsg":             job(r.RecvMsg(0, NewMsghdr(nil, 1), 0)),
		"Shutdown":            job(r.Shutdown(0, unix.SHUT_WR, 0)),
		"RecvMultishot":       job(r.RecvMultishot(0, nil, 0, 0)),
		"RecvBufSelect":       job(r.RecvBufSelect(0, nil, 0, 0)),
		"RegisterFiles":       r.RegisterFiles([]int{0}),
		"RegisterFilesSparse": r.RegisterFilesSparse(1),
		"UpdateFiles":         r.UpdateFiles(0, []int{0}),
		"UnregisterFiles":     r.UnregisterFiles(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if _, err := r.NewBufRing(1, 1, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("NewBufRing after Close = %v, want ErrClosed", err)
	}
}
