package soak

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uringfs"
	"github.com/uring-go/uring/uringnet"
)

// Each Close-race test repeats its scenario until this much time or its
// iteration count is used up.
const raceFor = 2 * time.Second

// peerGone reports whether err is how a read or write learns that the
// other end of the connection closed or reset it.
func peerGone(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// Close on a conn races its own Read and Write, run from other goroutines
// while the peer streams data both ways. Every call on the closed conn
// returns data (which must be the right bytes, in order) or net.ErrClosed;
// the peer sees its stream end or reset; nothing leaks.
func TestCloseRacesConnIO(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listen(t)
	rng := rand.New(rand.NewPCG(1, 1))
	end := time.Now().Add(raceFor)
	iters := 0
	for ; iters < 500 && time.Now().Before(end); iters++ {
		c, s := pair(t, ln)
		var wg sync.WaitGroup
		seedC, seedS := uint64(iters)<<1, uint64(iters)<<1|1
		rbufN, wbufN := 1+rng.IntN(64<<10), 1+rng.IntN(128<<10)
		// c's reader: the peer's stream, in order, until net.ErrClosed.
		wg.Go(func() {
			buf := make([]byte, rbufN)
			var off int64
			for {
				n, err := c.Read(buf)
				if i := mismatch(buf[:n], seedS, off); i >= 0 {
					t.Errorf("iteration %d: Read: byte %d of the stream is wrong", iters, off+int64(i))
					return
				}
				off += int64(n)
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("iteration %d: Read racing Close: %v, want data or net.ErrClosed", iters, err)
					}
					return
				}
			}
		})
		// c's writer.
		wg.Go(func() {
			buf := make([]byte, wbufN)
			var off int64
			for {
				fill(buf, seedC, off)
				n, err := c.Write(buf)
				off += int64(n)
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("iteration %d: Write racing Close: %v, want nil or net.ErrClosed", iters, err)
					}
					return
				}
			}
		})
		// The peer reads c's stream and checks it, and writes its own,
		// until c's close ends both.
		wg.Go(func() {
			buf := make([]byte, 32<<10)
			var off int64
			for {
				n, err := s.Read(buf)
				if i := mismatch(buf[:n], seedC, off); i >= 0 {
					t.Errorf("iteration %d: peer Read: byte %d of the stream is wrong", iters, off+int64(i))
					return
				}
				off += int64(n)
				if err != nil {
					if !peerGone(err) {
						t.Errorf("iteration %d: peer Read: %v, want EOF or ECONNRESET", iters, err)
					}
					return
				}
			}
		})
		wg.Go(func() {
			buf := make([]byte, 16<<10)
			var off int64
			s.SetWriteDeadline(time.Now().Add(10 * time.Second))
			for {
				fill(buf, seedS, off)
				n, err := s.Write(buf)
				off += int64(n)
				if err != nil {
					if !peerGone(err) {
						t.Errorf("iteration %d: peer Write: %v, want EPIPE or ECONNRESET", iters, err)
					}
					return
				}
			}
		})
		// Two closers: one Close wins, the other gets nil or net.ErrClosed
		// (a second Close of a net.Conn reports ErrClosed).
		delay := time.Duration(rng.IntN(2000)) * time.Microsecond
		for range 2 {
			wg.Go(func() {
				time.Sleep(delay)
				if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
					t.Errorf("iteration %d: Close: %v", iters, err)
				}
			})
		}
		waitGroupOrFail(t, &wg, 20*time.Second, "iteration %d: calls racing Close did not return within 20s", iters)
		s.Close()
		if t.Failed() {
			break
		}
	}
	t.Logf("%d iterations", iters)
}

// Close on a listener races Accept from several goroutines while clients
// dial: every Accept returns a conn or net.ErrClosed, and conns still in
// the backlog are not leaked.
func TestCloseRacesAccept(t *testing.T) {
	testutil.CheckFDs(t)
	rng := rand.New(rand.NewPCG(2, 2))
	end := time.Now().Add(raceFor)
	iters, accepted := 0, 0
	for ; iters < 300 && time.Now().Before(end); iters++ {
		ln, err := uringnet.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 4 {
			wg.Go(func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						if !errors.Is(err, net.ErrClosed) {
							t.Errorf("iteration %d: Accept racing Close: %v, want a conn or net.ErrClosed", iters, err)
						}
						return
					}
					mu.Lock()
					accepted++
					mu.Unlock()
					c.Close()
				}
			})
		}
		for range 4 {
			wg.Go(func() {
				for range 8 {
					// Refused or reset once the listener is gone: that
					// is the dialer's business, not the test's.
					if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
						c.Close()
					}
				}
			})
		}
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Microsecond)
		if err := ln.Close(); err != nil {
			t.Errorf("iteration %d: Close: %v", iters, err)
		}
		waitGroupOrFail(t, &wg, 20*time.Second, "iteration %d: Accept racing Close did not return within 20s", iters)
		if t.Failed() {
			break
		}
	}
	t.Logf("%d iterations, %d conns accepted", iters, accepted)
}

// Close on a uringfs file races ReadAt, WriteAt and ReadBatch from other
// goroutines. The writes rewrite the bytes already there, so every read
// that returns data must return the file's pattern; every call returns
// data or fs.ErrClosed.
func TestCloseRacesFileIO(t *testing.T) {
	testutil.CheckFDs(t)
	const size = 1 << 20
	const seed = 77
	path := filepath.Join(t.TempDir(), "f")
	data := make([]byte, size)
	fill(data, seed, 0)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	closedErr := func(err error) bool { return errors.Is(err, fs.ErrClosed) }
	rng := rand.New(rand.NewPCG(3, 3))
	end := time.Now().Add(raceFor)
	iters := 0
	var reads, batches, writes, closedCalls int
	var mu sync.Mutex
	count := func(p *int) { mu.Lock(); *p++; mu.Unlock() }
	for ; iters < 500 && time.Now().Before(end); iters++ {
		f, err := uringfs.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				buf := make([]byte, 64<<10)
				for i := 0; ; i++ {
					off := int64((g*7919 + i*4099) % (size - len(buf)))
					n, err := f.ReadAt(buf, off)
					if j := mismatch(buf[:n], seed, off); j >= 0 {
						t.Errorf("iteration %d: ReadAt at %d: byte %d is wrong", iters, off, j)
						return
					}
					if err != nil {
						if !closedErr(err) {
							t.Errorf("iteration %d: ReadAt racing Close: %v, want data or fs.ErrClosed", iters, err)
						}
						count(&closedCalls)
						return
					}
					count(&reads)
				}
			})
		}
		wg.Go(func() {
			for i := 0; ; i++ {
				off := int64((i * 12289) % (size - 4096))
				n, err := f.WriteAt(data[off:off+4096], off)
				if err != nil {
					if !closedErr(err) {
						t.Errorf("iteration %d: WriteAt racing Close: %d, %v, want nil or fs.ErrClosed", iters, n, err)
					}
					count(&closedCalls)
					return
				}
				count(&writes)
			}
		})
		wg.Go(func() {
			reqs := make([]uringfs.Request, 16)
			for i := range reqs {
				reqs[i].Buf = make([]byte, 16<<10)
			}
			for i := 0; ; i++ {
				for j := range reqs {
					reqs[j].Off = int64(((i*16 + j) * 16 << 10) % size)
				}
				err := f.ReadBatch(reqs, 4)
				if err != nil {
					if !closedErr(err) {
						t.Errorf("iteration %d: ReadBatch racing Close: %v, want nil or fs.ErrClosed", iters, err)
					}
					count(&closedCalls)
					return
				}
				for _, r := range reqs {
					if r.Err != nil && !closedErr(r.Err) {
						t.Errorf("iteration %d: ReadBatch request at %d racing Close: %d, %v, want data or fs.ErrClosed", iters, r.Off, r.N, r.Err)
						return
					}
					if j := mismatch(r.Buf[:r.N], seed, r.Off); j >= 0 {
						t.Errorf("iteration %d: ReadBatch at %d: byte %d is wrong", iters, r.Off, j)
						return
					}
				}
				count(&batches)
			}
		})
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Microsecond)
		if err := f.Close(); err != nil {
			t.Errorf("iteration %d: Close: %v", iters, err)
		}
		waitGroupOrFail(t, &wg, 20*time.Second, "iteration %d: calls racing Close did not return within 20s", iters)
		if t.Failed() {
			break
		}
	}
	t.Logf("%d iterations: %d reads, %d batches, %d writes completed, %d calls ended by Close", iters, reads, batches, writes, closedCalls)
}
