package uringfs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestReadWriteSameFIFO: on one FIFO opened read-write, a Read waiting
// for data does not hold up the Write that brings it, nor a Write
// waiting on the full FIFO the Reads that drain it, as with os, which
// keeps one lock for reads and one for writes.
func TestReadWriteSameFIFO(t *testing.T) {
	testutil.CheckFDs(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // larger than the FIFO holds
	var got [2][]string
	for i, o := range openers {
		dir := t.TempDir()
		p := filepath.Join(dir, "fifo")
		if err := unix.Mkfifo(p, 0600); err != nil {
			t.Fatal(err)
		}
		f, err := o.openFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		read := make(chan string)
		go func() {
			b := make([]byte, 10)
			n, err := f.Read(b)
			read <- describe(dir, fmt.Sprintf("read %q", b[:n]), err)
		}()
		n, err := f.Write([]byte("hello"))
		got[i] = append(got[i], describe(dir, fmt.Sprint("write ", n), err), <-read)

		wrote := make(chan string)
		go func() {
			n, err := f.Write(big)
			wrote <- describe(dir, fmt.Sprint("write ", n), err)
		}()
		back := make([]byte, len(big))
		_, err = io.ReadFull(f, back)
		got[i] = append(got[i], describe(dir, fmt.Sprint("read back ", bytes.Equal(back, big)), err), <-wrote)
		f.Close()
	}
	if fmt.Sprint(got[0]) != fmt.Sprint(got[1]) {
		t.Errorf("os:      %q\nuringfs: %q", got[0], got[1])
	}
}
