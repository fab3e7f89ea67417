package uringfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/region"
)

func TestBufferPool(t *testing.T) {
	testutil.CheckFDs(t)
	p := filepath.Join(t.TempDir(), "f")
	const size = 100000
	data := make([]byte, size)
	for i := range data {
		data[i] = pattern(int64(i))
	}
	os.WriteFile(p, data, 0644)
	f, err := OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pool, err := NewBufferPool(64<<10, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	n, err := pool.ReadChunkAt(f, c, WholeChunk, 4096)
	if err != nil || n != 4096 || !bytes.Equal(pool.Bytes(c), data[4096:8192]) {
		t.Fatalf("ReadChunkAt: %d, %v", n, err)
	}
	n, err = pool.ReadChunkAt(f, c, WholeChunk, size-100)
	if n != 100 || err != io.EOF || !bytes.Equal(pool.Bytes(c)[:100], data[size-100:]) {
		t.Fatalf("ReadChunkAt at the end: %d, %v; want 100, io.EOF", n, err)
	}
	copy(pool.Bytes(c), "written through write_fixed")
	if n, err := pool.WriteChunkAt(f, c, 27, 10); n != 27 || err != nil {
		t.Fatalf("WriteChunkAt: %d, %v", n, err)
	}
	got := make([]byte, 27)
	f.ReadAt(got, 10)
	if string(got) != "written through write_fixed" {
		t.Fatalf("file holds %q", got)
	}
	// A batch across all chunks.
	var reqs []Request
	var chunks []region.Chunk
	for {
		c, err := pool.Get()
		if err != nil {
			break
		}
		chunks = append(chunks, c)
		reqs = append(reqs, Request{Off: int64(len(reqs) * 5000), Buf: pool.Bytes(c)})
	}
	if err := pool.ReadBatch(f, reqs, 8); err != nil {
		t.Fatal(err)
	}
	for i, q := range reqs {
		want := make([]byte, len(q.Buf))
		wn, _ := f.ReadAt(want, q.Off)
		if q.N != wn || !bytes.Equal(q.Buf[:q.N], want[:wn]) {
			t.Fatalf("batch request %d: %d bytes", i, q.N)
		}
	}
	// Memory outside the pool is refused, not read into.
	if err := pool.ReadBatch(f, []Request{{Buf: make([]byte, 10)}}, 1); !errors.Is(err, region.ErrForeignChunk) {
		t.Fatalf("ReadBatch into Go memory: %v", err)
	}
	other, _ := region.New(make([]byte, 8192), 4096)
	oc, _ := other.Alloc()
	if _, err := pool.ReadChunkAt(f, oc, WholeChunk, 0); !errors.Is(err, region.ErrForeignChunk) {
		t.Fatalf("ReadChunkAt with a foreign chunk: %v", err)
	}
	for _, c := range chunks {
		pool.Put(c)
	}
	pool.Put(c)
}

// TestODirect reads and writes a file opened with O_DIRECT, through
// aligned memory from region.Mmap, with ReadAt, WriteAt and a pool.
func TestODirect(t *testing.T) {
	testutil.CheckFDs(t)
	var dir string
	for _, d := range []string{t.TempDir(), "/var/tmp"} {
		dir = d
		p := filepath.Join(d, "odirect-probe")
		f, err := OpenFile(p, os.O_RDWR|os.O_CREATE|syscall.O_DIRECT, 0600)
		if err == nil {
			f.Close()
			os.Remove(p)
			break
		}
		os.Remove(p)
		if !errors.Is(err, syscall.EINVAL) {
			t.Fatal(err)
		}
		dir = ""
	}
	if dir == "" {
		t.Skip("no directory here supports O_DIRECT (open gives EINVAL)")
	}
	p := filepath.Join(dir, "odirect-"+filepath.Base(t.TempDir()))
	defer os.Remove(p)
	f, err := OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC|syscall.O_DIRECT, 0600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const block = 4096
	mem, err := region.Mmap(16 * block)
	if err != nil {
		t.Fatal(err)
	}
	defer region.Munmap(mem)
	for i := range mem {
		mem[i] = pattern(int64(i))
	}
	if n, err := f.WriteAt(mem, 0); n != len(mem) || err != nil {
		t.Fatalf("O_DIRECT WriteAt: %d, %v", n, err)
	}
	clear(mem)
	if n, err := f.ReadAt(mem[block:3*block], 5*block); n != 2*block || err != nil {
		t.Fatalf("O_DIRECT ReadAt: %d, %v", n, err)
	}
	for i := range 2 * block {
		if mem[block+i] != pattern(int64(5*block+i)) {
			t.Fatalf("O_DIRECT ReadAt: byte %d wrong", i)
		}
	}
	// Misaligned memory is the kernel's EINVAL, as with os.
	_, err = f.ReadAt(mem[1:block+1], 0)
	if !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("misaligned O_DIRECT read: %v, want EINVAL", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Fatalf("misaligned O_DIRECT read: %T is not a *fs.PathError", err)
	}

	pool, err := NewBufferPool(8*block, block)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var reqs []Request
	for i := range 8 {
		c, _ := pool.Get()
		reqs = append(reqs, Request{Off: int64((15 - i) * block), Buf: pool.Bytes(c)})
	}
	if err := pool.ReadBatch(f, reqs, 4); err != nil {
		t.Fatal(err)
	}
	for i, q := range reqs {
		if q.N != block || q.Err != nil || q.Buf[7] != pattern(q.Off+7) {
			t.Fatalf("O_DIRECT fixed read %d: %d, %v", i, q.N, q.Err)
		}
	}
}
