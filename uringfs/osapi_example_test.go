package uringfs_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/uring-go/uring/uringfs"
)

// The package's path functions are os's: a program switches by changing
// the package name.
func ExampleMkdirAll() {
	dir, err := uringfs.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer uringfs.RemoveAll(dir)
	if err := uringfs.MkdirAll(filepath.Join(dir, "a/b/c"), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := uringfs.Rename(filepath.Join(dir, "a/b"), filepath.Join(dir, "moved")); err != nil {
		log.Fatal(err)
	}
	ents, err := uringfs.ReadDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range ents {
		fmt.Println(e.Name(), e.IsDir())
	}
}

func ExampleCreateTemp() {
	f, err := uringfs.CreateTemp("", "data-*.bin")
	if err != nil {
		log.Fatal(err)
	}
	defer uringfs.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write([]byte("payload")); err != nil {
		log.Fatal(err)
	}
	fi, err := uringfs.Stat(f.Name())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fi.Size(), fi.Mode())
}

// A read from a FIFO that nobody writes to gives up at the deadline; the
// file stays usable.
func ExampleFile_SetReadDeadline() {
	f, err := uringfs.OpenFile("/run/myfifo", os.O_RDWR, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	f.SetReadDeadline(time.Now().Add(time.Second))
	_, err = f.Read(make([]byte, 512))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		f.SetReadDeadline(time.Time{}) // wait without a bound from now on
	}
}
