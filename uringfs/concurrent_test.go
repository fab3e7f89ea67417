package uringfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
)

// pattern is the byte at offset off of the test files: it depends on the
// offset, so a read from the wrong place is caught.
func pattern(off int64) byte { return byte(off*31 + off>>9) }

func TestConcurrentReadAtWriteAt(t *testing.T) {
	testutil.CheckFDs(t)
	const workers, span, rounds = 64, 3 * 4096, 8
	p := filepath.Join(t.TempDir(), "f")
	f, err := cfg.OpenFile(p, os.O_RDWR|os.O_CREATE, 0644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := int64(w * span)
			buf := make([]byte, span)
			for i := range buf {
				buf[i] = pattern(base + int64(i))
			}
			got := make([]byte, span)
			for r := range rounds {
				// Write in two unequal pieces, then read back whole.
				cut := (r*977 + w*131) % span
				if n, err := f.WriteAt(buf[:cut], base); err != nil || n != cut {
					errs <- fmt.Errorf("worker %d: WriteAt: %d, %v", w, n, err)
					return
				}
				if n, err := f.WriteAt(buf[cut:], base+int64(cut)); err != nil || n != span-cut {
					errs <- fmt.Errorf("worker %d: WriteAt: %d, %v", w, n, err)
					return
				}
				clear(got)
				if n, err := f.ReadAt(got, base); err != nil || n != span {
					errs <- fmt.Errorf("worker %d: ReadAt: %d, %v", w, n, err)
					return
				}
				if !bytes.Equal(got, buf) {
					errs <- fmt.Errorf("worker %d round %d: read back different bytes", w, r)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every byte, through os.
	all, err := os.ReadFile(p)
	if err != nil || len(all) != workers*span {
		t.Fatalf("file has %d bytes, %v", len(all), err)
	}
	for i, b := range all {
		if b != pattern(int64(i)) {
			t.Fatalf("byte %d = %d, want %d", i, b, pattern(int64(i)))
		}
	}
}

func TestConcurrentReadWriteOffset(t *testing.T) {
	testutil.CheckFDs(t)
	// Write from many goroutines at the shared offset: os serialises
	// them, so every record lands whole and none overlap.
	p := filepath.Join(t.TempDir(), "f")
	f, err := cfg.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const workers, each = 16, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := bytes.Repeat([]byte{byte('A' + w)}, 100)
			for range each {
				if _, err := f.Write(rec); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	all, _ := os.ReadFile(p)
	if len(all) != workers*each*100 {
		t.Fatalf("file has %d bytes, want %d", len(all), workers*each*100)
	}
	for i := 0; i < len(all); i += 100 {
		if !bytes.Equal(all[i:i+100], bytes.Repeat(all[i:i+1], 100)) {
			t.Fatalf("record at %d is torn", i)
		}
	}
}

func TestCloseRacesReadAt(t *testing.T) {
	testutil.CheckFDs(t)
	p := filepath.Join(t.TempDir(), "f")
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = pattern(int64(i))
	}
	os.WriteFile(p, data, 0644)
	for round := range 20 {
		f, err := cfg.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 4096)
				for i := range 200 {
					off := int64((w*200+i)*4096) % int64(len(data)-len(buf))
					n, err := f.ReadAt(buf, off)
					if err != nil {
						if !errors.Is(err, fs.ErrClosed) {
							t.Errorf("round %d: ReadAt: %v, want data or fs.ErrClosed", round, err)
						}
						return
					}
					if n != len(buf) || !bytes.Equal(buf, data[off:off+int64(n)]) {
						t.Errorf("round %d: ReadAt at %d returned wrong data", round, off)
						return
					}
				}
			}()
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("second Close: %v", err)
		}
	}
}

// TestCloseWakesBlockedRead: a Read parked on a pipe with no writer
// returns fs.ErrClosed when the file is closed, and the fd is released.
func TestCloseWakesBlockedRead(t *testing.T) {
	testutil.CheckFDs(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f, err := cfg.FromOS(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		_, err := f.Read(make([]byte, 10))
		done <- err
	}()
	<-started
	// Whether Close lands before or after the read is parked, the read
	// must end with fs.ErrClosed.
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("blocked Read after Close: %v, want fs.ErrClosed", err)
	}
	if _, err := f.Read(make([]byte, 1)); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	var pe *fs.PathError
	if _, err := f.Stat(); !errors.As(err, &pe) || pe.Op != "stat" || !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Stat after Close: %v", err)
	}
}

func TestReadBatch(t *testing.T) {
	testutil.CheckFDs(t)
	p := filepath.Join(t.TempDir(), "f")
	const size = 1<<20 + 100
	data := make([]byte, size)
	for i := range data {
		data[i] = pattern(int64(i))
	}
	os.WriteFile(p, data, 0644)
	f, err := cfg.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, depth := range []int{0, 1, 7, 64, 500} {
		reqs := make([]Request, 300)
		for i := range reqs {
			reqs[i].Off = int64(i*3511) % size
			reqs[i].Buf = make([]byte, 4096)
		}
		reqs[5].Off = size - 10 // short: io.EOF
		reqs[6].Off = size + 10 // past the end: 0, io.EOF
		reqs[7].Off = -1
		reqs[8].Buf = nil
		if err := f.ReadBatch(reqs, depth); err != nil {
			t.Fatal(err)
		}
		for i, q := range reqs {
			want := make([]byte, len(q.Buf))
			wn, werr := f.ReadAt(want, q.Off)
			if q.N != wn || !bytes.Equal(q.Buf[:q.N], want[:wn]) || fmt.Sprint(q.Err) != fmt.Sprint(werr) {
				t.Fatalf("depth %d request %d at %d: %d, %v; ReadAt gives %d, %v", depth, i, q.Off, q.N, q.Err, wn, werr)
			}
		}
	}
	// WriteBatch then read back.
	reqs := make([]Request, 100)
	for i := range reqs {
		reqs[i].Off = int64(i * 5000)
		reqs[i].Buf = bytes.Repeat([]byte{byte(i)}, 1000)
	}
	if err := f.WriteBatch(reqs, 16); err != nil {
		t.Fatal(err)
	}
	for i, q := range reqs {
		if q.N != 1000 || q.Err != nil {
			t.Fatalf("write %d: %d, %v", i, q.N, q.Err)
		}
		got := make([]byte, 1000)
		f.ReadAt(got, q.Off)
		if !bytes.Equal(got, q.Buf) {
			t.Fatalf("write %d did not land", i)
		}
	}
	// Concurrent batches on one file use separate rings.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reqs := make([]Request, 64)
			for i := range reqs {
				reqs[i] = Request{Off: int64(i * 4096), Buf: make([]byte, 4096)}
			}
			if err := f.ReadBatch(reqs, 32); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	f.Close()
	if err := f.ReadBatch(reqs, 4); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("ReadBatch after Close: %v", err)
	}
	_ = io.EOF
}
