package uringfs_test

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/uring-go/uring/uringfs"
)

// WriteFile and ReadFile are os's, with the open, the transfers and the
// close all on io_uring.
func ExampleReadFile() {
	dir, err := os.MkdirTemp("", "uringfs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "greeting")
	if err := uringfs.WriteFile(name, []byte("hello, io_uring\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	b, err := uringfs.ReadFile(name)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(bytes.ToUpper(b)))
}
