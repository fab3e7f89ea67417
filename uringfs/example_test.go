package uringfs_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"syscall"

	"github.com/uring-go/uring/uringfs"
)

func ExampleOpen() {
	f, err := uringfs.Open("/etc/hostname")
	if err != nil {
		log.Fatal(err) // errors.Is(err, fs.ErrNotExist) as with os
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, err := f.ReadAt(buf, 0)
	fmt.Println(n, err)
}

func ExampleFile_ReadBatch() {
	f, err := uringfs.Open("/var/tmp/data")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	reqs := make([]uringfs.Request, 256)
	for i := range reqs {
		reqs[i] = uringfs.Request{Off: int64(i) * 1 << 20, Buf: make([]byte, 4096)}
	}
	// 64 reads in flight, driven by this goroutine alone.
	if err := f.ReadBatch(reqs, 64); err != nil {
		log.Fatal(err)
	}
	for _, r := range reqs {
		fmt.Println(r.Off, r.N, r.Err)
	}
}

func ExampleNewBufferPool() {
	pool, err := uringfs.NewBufferPool(1<<20, 4096)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	f, err := uringfs.OpenFile("/var/tmp/data", os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	c, err := pool.Get()
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Put(c)
	n, err := pool.ReadChunkAt(f, c, uringfs.WholeChunk, 0)
	fmt.Println(pool.Bytes(c)[:n], err)
}

func ExampleDirFS() {
	fsys := uringfs.DirFS("/srv/www")
	b, err := fs.ReadFile(fsys, "index.html")
	fmt.Println(len(b), err)
	_, err = fs.ReadFile(fsys, "../etc/passwd") // refused: not a valid fs path
	fmt.Println(err)
}

// A program that must also run where io_uring is blocked (a container's
// seccomp profile, the io_uring_disabled sysctl) opts in to package os.
func ExampleConfig() {
	files := uringfs.Config{FallbackToOS: true}
	data, err := files.ReadFile("/etc/hostname")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes\n", len(data))
}

// A Root confines every name to one directory tree: a request for
// "../../etc/passwd", or for a symlink leading outside, fails.
func ExampleOpenRoot() {
	root, err := uringfs.OpenRoot("/srv/www")
	if err != nil {
		log.Fatal(err)
	}
	defer root.Close()
	page, err := root.ReadFile("index.html")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes\n", len(page))
	if _, err := root.Open("../../etc/passwd"); errors.Is(err, syscall.EXDEV) {
		fmt.Println("refused:", err)
	}
}
