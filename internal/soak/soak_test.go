package soak

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uringfs"
	"github.com/uring-go/uring/uringnet"
	"github.com/uring-go/uring/uringnet/engine"
)

var soakDuration = flag.Duration("soak.duration", 0, "how long TestSoak runs its load; 0 skips it")

// Load shape. Everything is bounded: a fixed number of goroutines, each
// doing a bounded amount of work per connection or file handle, until the
// duration ends.
const (
	echoClients     = 48
	echoMsgsPerConn = 200
	echoMaxMsg      = 64 << 10

	echoStall = 30 * time.Second // a message not echoed by then is a stall

	httpClients  = 16
	httpMaxBlob  = 2 << 20
	httpMaxPost  = 1 << 20
	httpIdleConn = 16

	numFiles        = 4
	blocksPerFile   = 64
	blockSize       = 64 << 10
	fileWriters     = 4
	fileReaders     = 8
	batchReaders    = 4
	opsPerHandle    = 300
	blocksPerBatch  = 16
	batchDepth      = 8
	rssSampleEvery  = 200 * time.Millisecond
	settleFor       = 5 * time.Second
	rssGrowthFactor = 1.25     // second-half peak may exceed first-half peak by this factor...
	rssGrowthSlack  = 32 << 20 // ...or by this many bytes, whichever is larger
)

// soakStats counts work done, for the log and to prove each kind ran.
type soakStats struct {
	echoConns, echoMsgs, echoBytes       atomic.Int64
	httpGets, httpPosts, httpBytes       atomic.Int64
	fileWrites, fileReads, batchReads    atomic.Int64
	fileReopens, fileBytesRead, failures atomic.Int64

	dumpOnce sync.Once
}

// failer reports errors from any goroutine, the first few in full.
type failer struct {
	t     *testing.T
	stats *soakStats
}

func (f failer) fail(format string, args ...any) {
	if f.stats.failures.Add(1) <= 20 {
		f.t.Errorf(format, args...)
	}
}

// stalled records every goroutine's stack, once per run, when an operation
// has timed out: a stall is rare and the stacks at that moment are what
// shows where it hangs. They go to a file, whose name is logged, because
// they run to hundreds of kilobytes.
func (f failer) stalled(what string) {
	f.stats.dumpOnce.Do(func() {
		fh, err := os.CreateTemp("", "soak-stall-*.txt")
		if err != nil {
			f.t.Logf("%s stalled; could not save the goroutine stacks: %v", what, err)
			return
		}
		pprof.Lookup("goroutine").WriteTo(fh, 2)
		fh.Close()
		f.t.Logf("%s stalled; every goroutine's stack at that moment is in %s", what, fh.Name())
	})
}

func (f failer) stalledIfTimeout(what string, err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		f.stalled(what)
	}
}

// TestSoak runs echo, net/http and file traffic together for
// -soak.duration, checks every byte, and then checks that goroutines, fds
// and RSS did not grow.
func TestSoak(t *testing.T) {
	if *soakDuration <= 0 {
		t.Skip("soak test off: run it with go test -count=1 -timeout 10m -run TestSoak ./internal/soak -soak.duration=30s (or .ci/soak)")
	}
	runtime.GC()
	baseG := runtime.NumGoroutine()
	baseFD := testutil.OpenFDs(t)

	st := &soakStats{}
	f := failer{t, st}
	ctx, cancel := context.WithTimeout(context.Background(), *soakDuration)
	defer cancel()

	// RSS samples over the whole run.
	var rssMu sync.Mutex
	var rss []int64
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tk := time.NewTicker(rssSampleEvery)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				v, err := rssBytes()
				if err != nil {
					f.fail("reading RSS: %v", err)
					return
				}
				rssMu.Lock()
				rss = append(rss, v)
				rssMu.Unlock()
			}
		}
	}()

	stopEcho := startEchoServer(t, f)
	echoAddr := stopEcho.addr
	eng, err := engine.Start(&gnetEcho{}, "tcp://127.0.0.1:0", gnet.WithMulticore(true), gnet.WithLogger(quietLogger{f}))
	if err != nil {
		t.Fatalf("engine.Start: %v", err)
	}
	gnetAddr := eng.Addr().String()
	httpSrv, httpAddr := startHTTPServer(t, f)
	files := makeFiles(t, f)

	var wg sync.WaitGroup
	for i := range echoClients {
		// One client in four talks to the gnet engine, the rest to the
		// conn-per-goroutine server.
		addr := echoAddr
		if i%4 == 2 {
			addr = gnetAddr
		}
		wg.Go(func() { echoClient(ctx, f, addr, i) })
	}
	tr := &http.Transport{MaxIdleConnsPerHost: httpIdleConn, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for i := range httpClients {
		wg.Go(func() { httpClient(ctx, f, client, httpAddr, i) })
	}
	// Churn the keep-alive pool now and then, so connections are also
	// opened and closed during the run.
	wg.Go(func() {
		tk := time.NewTicker(2 * time.Second)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				tr.CloseIdleConnections()
			}
		}
	})
	for i := range fileWriters {
		wg.Go(func() { fileWriter(ctx, f, files[i%numFiles], i) })
	}
	for i := range fileReaders {
		wg.Go(func() { fileReader(ctx, f, files[i%numFiles], i) })
	}
	for i := range batchReaders {
		wg.Go(func() { batchReader(ctx, f, files[i%numFiles], i) })
	}

	wg.Wait()
	<-samplerDone
	tr.CloseIdleConnections()
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := httpSrv.Shutdown(sctx); err != nil {
		f.fail("http Shutdown: %v", err)
	}
	if err := eng.Stop(sctx); err != nil {
		f.fail("engine Stop: %v", err)
	}
	scancel()
	stopEcho.stop()

	t.Logf("echo: %d conns, %d msgs, %d MiB; http: %d gets, %d posts, %d MiB; files: %d writes, %d reads, %d batches, %d reopens, %d MiB read",
		st.echoConns.Load(), st.echoMsgs.Load(), st.echoBytes.Load()>>20,
		st.httpGets.Load(), st.httpPosts.Load(), st.httpBytes.Load()>>20,
		st.fileWrites.Load(), st.fileReads.Load(), st.batchReads.Load(), st.fileReopens.Load(), st.fileBytesRead.Load()>>20)
	if st.echoMsgs.Load() == 0 || st.httpGets.Load() == 0 || st.httpPosts.Load() == 0 ||
		st.fileWrites.Load() == 0 || st.fileReads.Load() == 0 || st.batchReads.Load() == 0 {
		t.Errorf("some kind of traffic never ran; the counts are above")
	}

	// Settle: closes finish asynchronously (the kernel's ring and socket
	// teardown, goroutines returning), so give them a moment.
	deadline := time.Now().Add(settleFor)
	var g, fds int
	for {
		runtime.GC()
		g, fds = runtime.NumGoroutine(), testutil.OpenFDs(t)
		if (g <= baseG && fds <= baseFD) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if g > baseG {
		var b bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Errorf("goroutines: %d before the load, %d after it and %v settling\n%s", baseG, g, settleFor, b.String())
	}
	if fds > baseFD {
		t.Errorf("fds: %d open before the load, %d after it and %v settling", baseFD, fds, settleFor)
	}

	rssMu.Lock()
	defer rssMu.Unlock()
	if len(rss) < 4 {
		t.Fatalf("only %d RSS samples; run for longer", len(rss))
	}
	half := len(rss) / 2
	first, second := maxOf(rss[:half]), maxOf(rss[half:])
	bound := max(int64(float64(first)*rssGrowthFactor), first+rssGrowthSlack)
	t.Logf("RSS peak: first half %d MiB, second half %d MiB (bound %d MiB), %d samples",
		first>>20, second>>20, bound>>20, len(rss))
	if second > bound {
		t.Errorf("RSS grew: peak %d MiB in the first half of the run, %d MiB in the second (bound %d MiB: %.2fx or +%d MiB)",
			first>>20, second>>20, bound>>20, rssGrowthFactor, rssGrowthSlack>>20)
	}
}

func maxOf(s []int64) int64 {
	m := s[0]
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// gnetEcho is a gnet v2 echo handler, run by engine.Start.
type gnetEcho struct{ gnet.BuiltinEventEngine }

func (*gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return gnet.None
}

// quietLogger drops gnet's informational lines and fails the test on its
// errors.
type quietLogger struct{ f failer }

func (quietLogger) Debugf(string, ...any)            {}
func (quietLogger) Infof(string, ...any)             {}
func (quietLogger) Warnf(string, ...any)             {}
func (l quietLogger) Errorf(format string, a ...any) { l.f.fail("gnet engine: "+format, a...) }
func (l quietLogger) Fatalf(format string, a ...any) { l.f.fail("gnet engine: "+format, a...) }

var _ logging.Logger = quietLogger{}

// echoServer is a uringnet listener whose conns echo everything back.
type echoServer struct {
	addr string
	stop func()
}

func startEchoServer(t *testing.T, f failer) echoServer {
	ln, err := uringnet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	var mu sync.Mutex
	conns := map[*uringnet.Conn]struct{}{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.(*uringnet.Listener).AcceptUring()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					f.fail("echo Accept: %v", err)
				}
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							f.fail("echo server Write: %v", werr)
							return
						}
					}
					if err != nil {
						if err != io.EOF && !errors.Is(err, net.ErrClosed) {
							f.fail("echo server Read: %v", err)
						}
						return
					}
				}
			})
		}
	})
	return echoServer{
		addr: ln.Addr().String(),
		stop: func() {
			ln.Close()
			mu.Lock()
			for c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		},
	}
}

// echoClient opens connection after connection (most through uringnet,
// some through package net) and checks that each message comes back
// byte for byte.
func echoClient(ctx context.Context, f failer, addr string, id int) {
	rng := rand.New(rand.NewPCG(uint64(id), 1))
	out := make([]byte, echoMaxMsg)
	in := make([]byte, echoMaxMsg)
	for conn := 0; ctx.Err() == nil; conn++ {
		var c net.Conn
		var err error
		if id%4 == 3 {
			c, err = net.Dial("tcp", addr)
		} else {
			c, err = uringnet.Dial("tcp", addr)
		}
		if err != nil {
			f.fail("echo client %d: Dial: %v", id, err)
			return
		}
		f.stats.echoConns.Add(1)
		seed := uint64(id)<<32 | uint64(conn)
		var off int64
		nmsg := 1 + rng.IntN(echoMsgsPerConn)
		for m := 0; m < nmsg && ctx.Err() == nil; m++ {
			n := 1 + rng.IntN(echoMaxMsg)
			if rng.IntN(4) == 0 {
				n = 1 + rng.IntN(256)
			}
			fill(out[:n], seed, off)
			// Per message: a conn lives for up to echoMsgsPerConn of
			// them, which under -race on a loaded machine can take
			// longer than echoStall in total.
			c.SetDeadline(time.Now().Add(echoStall))
			if _, err := c.Write(out[:n]); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					f.stalled(fmt.Sprintf("echo client %d (%v to %v)", id, c.LocalAddr(), c.RemoteAddr()))
				}
				f.fail("echo client %d: Write: %v", id, err)
				c.Close()
				return
			}
			if _, err := io.ReadFull(c, in[:n]); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					f.stalled(fmt.Sprintf("echo client %d (%v to %v)", id, c.LocalAddr(), c.RemoteAddr()))
				}
				f.fail("echo client %d: Read: %v", id, err)
				c.Close()
				return
			}
			if i := mismatch(in[:n], seed, off); i >= 0 {
				f.fail("echo client %d: byte %d of the stream came back as %#x, want %#x", id, off+int64(i), in[i], patternByte(seed, off+int64(i)))
				c.Close()
				return
			}
			off += int64(n)
			f.stats.echoMsgs.Add(1)
			f.stats.echoBytes.Add(int64(n))
		}
		if err := c.Close(); err != nil {
			f.fail("echo client %d: Close: %v", id, err)
		}
	}
}

// startHTTPServer serves patternMux on a uringnet listener.
func startHTTPServer(t *testing.T, f failer) (*http.Server, string) {
	ln, err := uringnet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	mux := patternMux()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			f.fail("http Serve: %v", err)
		}
	}()
	return srv, ln.Addr().String()
}

// patternMux serves /blob (a body of n pattern bytes) and /sum (checks a
// posted body against its pattern and answers with its length).
func patternMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /blob", func(w http.ResponseWriter, r *http.Request) {
		seed, _ := strconv.ParseUint(r.FormValue("seed"), 10, 64)
		n, _ := strconv.ParseInt(r.FormValue("n"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		buf := make([]byte, 32<<10)
		for off := int64(0); off < n; {
			k := min(int64(len(buf)), n-off)
			fill(buf[:k], seed, off)
			if _, err := w.Write(buf[:k]); err != nil {
				return // the client went away; it reports that itself
			}
			off += k
		}
	})
	mux.HandleFunc("POST /sum", func(w http.ResponseWriter, r *http.Request) {
		seed, _ := strconv.ParseUint(r.FormValue("seed"), 10, 64)
		buf := make([]byte, 32<<10)
		var off int64
		for {
			n, err := r.Body.Read(buf)
			if i := mismatch(buf[:n], seed, off); i >= 0 {
				http.Error(w, fmt.Sprintf("byte %d of the body is %#x, want %#x", off+int64(i), buf[i], patternByte(seed, off+int64(i))), http.StatusBadRequest)
				return
			}
			off += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		fmt.Fprintf(w, "%d", off)
	})
	return mux
}

// httpClient makes keep-alive requests: small and large GETs whose bodies
// it checks, and POSTs whose bodies the server checks.
func httpClient(ctx context.Context, f failer, client *http.Client, addr string, id int) {
	rng := rand.New(rand.NewPCG(uint64(id), 2))
	post := make([]byte, httpMaxPost)
	buf := make([]byte, 32<<10)
	for req := 0; ctx.Err() == nil; req++ {
		seed := uint64(id)<<32 | uint64(req)
		switch rng.IntN(3) {
		case 0, 1:
			n := int64(rng.IntN(4 << 10))
			if rng.IntN(2) == 0 {
				n = int64(256<<10 + rng.IntN(httpMaxBlob-256<<10))
			}
			resp, err := client.Get(fmt.Sprintf("http://%s/blob?seed=%d&n=%d", addr, seed, n))
			if err != nil {
				f.stalledIfTimeout("http client", err)
				f.fail("http client %d: GET: %v", id, err)
				return
			}
			var off int64
			for {
				k, err := resp.Body.Read(buf)
				if i := mismatch(buf[:k], seed, off); i >= 0 {
					f.fail("http client %d: byte %d of a GET body is %#x, want %#x", id, off+int64(i), buf[i], patternByte(seed, off+int64(i)))
					resp.Body.Close()
					return
				}
				off += int64(k)
				if err == io.EOF {
					break
				}
				if err != nil {
					f.stalledIfTimeout("http client", err)
					f.fail("http client %d: reading a GET body: %v", id, err)
					resp.Body.Close()
					return
				}
			}
			resp.Body.Close()
			if off != n || resp.StatusCode != http.StatusOK {
				f.fail("http client %d: GET returned %d bytes, status %d; want %d bytes, 200", id, off, resp.StatusCode, n)
				return
			}
			f.stats.httpGets.Add(1)
			f.stats.httpBytes.Add(n)
		case 2:
			n := rng.IntN(httpMaxPost)
			fill(post[:n], seed, 0)
			resp, err := client.Post(fmt.Sprintf("http://%s/sum?seed=%d", addr, seed), "application/octet-stream", bytes.NewReader(post[:n]))
			if err != nil {
				f.stalledIfTimeout("http client", err)
				f.fail("http client %d: POST: %v", id, err)
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || string(body) != strconv.Itoa(n) {
				f.fail("http client %d: POST of %d bytes: status %d, body %q, err %v", id, n, resp.StatusCode, body, err)
				return
			}
			f.stats.httpPosts.Add(1)
			f.stats.httpBytes.Add(int64(n))
		}
	}
}

// soakFile is a file of blocks, each holding the pattern of its
// (file, block, version); the lock of a block is held for writing while
// it is rewritten, and for reading while it is read and checked.
type soakFile struct {
	id     int
	path   string
	blocks [blocksPerFile]struct {
		mu      sync.RWMutex
		version uint64
	}
}

func blockSeed(file, block int, version uint64) uint64 {
	return uint64(file)<<56 | uint64(block)<<40 | version
}

func makeFiles(t *testing.T, f failer) []*soakFile {
	dir := t.TempDir()
	files := make([]*soakFile, numFiles)
	buf := make([]byte, blockSize)
	for i := range files {
		sf := &soakFile{id: i, path: filepath.Join(dir, fmt.Sprintf("f%d", i))}
		fh, err := uringfs.Create(sf.path)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		for b := range blocksPerFile {
			fill(buf, blockSeed(i, b, 0), 0)
			if _, err := fh.WriteAt(buf, int64(b)*blockSize); err != nil {
				t.Fatalf("WriteAt: %v", err)
			}
		}
		if err := fh.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		files[i] = sf
	}
	return files
}

// fileWriter rewrites random blocks with their next version, reopening
// its handle every opsPerHandle writes.
func fileWriter(ctx context.Context, f failer, sf *soakFile, id int) {
	rng := rand.New(rand.NewPCG(uint64(id), 3))
	buf := make([]byte, blockSize)
	for ctx.Err() == nil {
		fh, err := uringfs.OpenFile(sf.path, os.O_RDWR, 0)
		if err != nil {
			f.fail("file writer %d: OpenFile: %v", id, err)
			return
		}
		f.stats.fileReopens.Add(1)
		for op := 0; op < opsPerHandle && ctx.Err() == nil; op++ {
			b := rng.IntN(blocksPerFile)
			blk := &sf.blocks[b]
			blk.mu.Lock()
			v := blk.version + 1
			fill(buf, blockSeed(sf.id, b, v), 0)
			n, err := fh.WriteAt(buf, int64(b)*blockSize)
			if err != nil || n != blockSize {
				blk.mu.Unlock()
				f.fail("file writer %d: WriteAt block %d: %d, %v", id, b, n, err)
				fh.Close()
				return
			}
			blk.version = v
			blk.mu.Unlock()
			f.stats.fileWrites.Add(1)
			if op%100 == 99 {
				if err := fh.Sync(); err != nil {
					f.fail("file writer %d: Sync: %v", id, err)
				}
			}
		}
		if err := fh.Close(); err != nil {
			f.fail("file writer %d: Close: %v", id, err)
		}
	}
}

// fileReader reads random ranges within a block with ReadAt and checks
// them against the block's current version.
func fileReader(ctx context.Context, f failer, sf *soakFile, id int) {
	rng := rand.New(rand.NewPCG(uint64(id), 4))
	buf := make([]byte, blockSize)
	for ctx.Err() == nil {
		fh, err := uringfs.Open(sf.path)
		if err != nil {
			f.fail("file reader %d: Open: %v", id, err)
			return
		}
		f.stats.fileReopens.Add(1)
		for op := 0; op < opsPerHandle && ctx.Err() == nil; op++ {
			b := rng.IntN(blocksPerFile)
			lo := rng.IntN(blockSize)
			hi := lo + 1 + rng.IntN(blockSize-lo)
			blk := &sf.blocks[b]
			blk.mu.RLock()
			seed := blockSeed(sf.id, b, blk.version)
			n, err := fh.ReadAt(buf[:hi-lo], int64(b)*blockSize+int64(lo))
			bad := mismatch(buf[:n], seed, int64(lo))
			blk.mu.RUnlock()
			if err != nil || n != hi-lo || bad >= 0 {
				f.fail("file reader %d: ReadAt block %d [%d,%d): n=%d err=%v first bad byte %d", id, b, lo, hi, n, err, bad)
				fh.Close()
				return
			}
			f.stats.fileReads.Add(1)
			f.stats.fileBytesRead.Add(int64(n))
		}
		if err := fh.Close(); err != nil {
			f.fail("file reader %d: Close: %v", id, err)
		}
	}
}

// batchReader reads sets of whole blocks with ReadBatch, holding their
// locks (taken in ascending order) while it checks them.
func batchReader(ctx context.Context, f failer, sf *soakFile, id int) {
	rng := rand.New(rand.NewPCG(uint64(id), 5))
	bufs := make([][]byte, blocksPerBatch)
	for i := range bufs {
		bufs[i] = make([]byte, blockSize)
	}
	reqs := make([]uringfs.Request, blocksPerBatch)
	seeds := make([]uint64, blocksPerBatch)
	for ctx.Err() == nil {
		fh, err := uringfs.Open(sf.path)
		if err != nil {
			f.fail("batch reader %d: Open: %v", id, err)
			return
		}
		f.stats.fileReopens.Add(1)
		for op := 0; op < opsPerHandle/10 && ctx.Err() == nil; op++ {
			// blocksPerBatch distinct blocks, ascending.
			perm := rng.Perm(blocksPerFile)[:blocksPerBatch]
			slices.Sort(perm)
			for i, b := range perm {
				sf.blocks[b].mu.RLock()
				seeds[i] = blockSeed(sf.id, b, sf.blocks[b].version)
				reqs[i] = uringfs.Request{Off: int64(b) * blockSize, Buf: bufs[i]}
			}
			err := fh.ReadBatch(reqs, batchDepth)
			var bad string
			for i, r := range reqs {
				if r.Err != nil || r.N != blockSize {
					bad = fmt.Sprintf("block %d: n=%d err=%v", perm[i], r.N, r.Err)
				} else if j := mismatch(r.Buf, seeds[i], 0); j >= 0 {
					bad = fmt.Sprintf("block %d: byte %d is %#x, want %#x", perm[i], j, r.Buf[j], patternByte(seeds[i], int64(j)))
				}
				f.stats.fileBytesRead.Add(int64(r.N))
			}
			for _, b := range perm {
				sf.blocks[b].mu.RUnlock()
			}
			if err != nil || bad != "" {
				f.fail("batch reader %d: ReadBatch: %v %s", id, err, bad)
				fh.Close()
				return
			}
			f.stats.batchReads.Add(1)
		}
		if err := fh.Close(); err != nil {
			f.fail("batch reader %d: Close: %v", id, err)
		}
	}
}
