package uring_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uringfs"
	"github.com/uring-go/uring/uringnet"
	"go.uber.org/goleak"
)

// TestMain makes the process-wide executor before any test counts fds and
// leaves its reapers, which live as long as the process, out of the leak
// check.
func TestMain(m *testing.M) {
	if _, err := reactor.Default(); err != nil {
		fmt.Fprintln(os.Stderr, "io_uring unavailable:", err)
		os.Exit(1)
	}
	testutil.Main(m, goleak.IgnoreAnyFunction("github.com/uring-go/uring/internal/reactor.(*shard).reap"))
}

// serve runs an http.Server with h on a uringnet listener until the test
// ends, and returns its base URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := uringnet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// randomFile writes n random bytes to a file in dir and returns its path
// and contents.
func randomFile(t *testing.T, dir string, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n)})
	r.Read(b)
	path := filepath.Join(dir, fmt.Sprintf("data-%d", n))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, b
}

func uploadHandler(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%d %x\n", n, h.Sum(nil))
}

// TestHTTPStdClient serves files (net/http's file server, which copies
// with the conn's ReadFrom: splice on uringnet) and uploads to the
// standard client.
func TestHTTPStdClient(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	files := map[string][]byte{}
	for _, n := range []int{0, 1, 4095, 1 << 20, 9<<20 + 17} {
		path, b := randomFile(t, dir, n)
		files[filepath.Base(path)] = b
	}
	mux := http.NewServeMux()
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(dir))))
	mux.HandleFunc("/upload", uploadHandler)
	url := serve(t, mux)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for name, want := range files {
		resp, err := client.Get(url + "/files/" + name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("GET %s: %d bytes (%v), want %d equal", name, len(got), err, len(want))
		}
		// A range request, which net/http serves from the file offset.
		if len(want) > 100 {
			req, _ := http.NewRequest("GET", url+"/files/"+name, nil)
			req.Header.Set("Range", "bytes=50-99")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, want[50:100]) {
				t.Fatalf("range GET %s: %s, %q", name, resp.Status, got)
			}
		}
		resp, err = client.Post(url+"/upload", "application/octet-stream", bytes.NewReader(want))
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if wantSum := fmt.Sprintf("%d %x\n", len(want), sha256.Sum256(want)); string(got) != wantSum {
			t.Fatalf("upload of %s: %q, want %q", name, got, wantSum)
		}
	}
}

// TestHTTPCurl fetches and uploads with curl, a client outside Go.
func TestHTTPCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	testutil.CheckFDs(t)
	dir := t.TempDir()
	path, want := randomFile(t, dir, 3<<20+5)
	mux := http.NewServeMux()
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(dir))))
	mux.HandleFunc("/upload", uploadHandler)
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	url := serve(t, mux)

	// Several URLs in one curl run share one keep-alive connection.
	out, err := exec.Command(curl, "-sS", "--fail", url+"/hello", url+"/hello", url+"/hello").Output()
	if err != nil || string(out) != "hellohellohello" {
		t.Fatalf("curl hello: %q, %v", out, err)
	}
	out, err = exec.Command(curl, "-sS", "--fail", url+"/files/"+filepath.Base(path)).Output()
	if err != nil || !bytes.Equal(out, want) {
		t.Fatalf("curl download: %d bytes, %v; want %d equal", len(out), err, len(want))
	}
	// Chunked upload from curl.
	out, err = exec.Command(curl, "-sS", "--fail", "-H", "Transfer-Encoding: chunked", "--data-binary", "@"+path, url+"/upload").Output()
	if wantSum := fmt.Sprintf("%d %x\n", len(want), sha256.Sum256(want)); err != nil || string(out) != wantSum {
		t.Fatalf("curl upload: %q, %v; want %q", out, err, wantSum)
	}
}

// TestManyEchoClients runs 200 clients at once against an echo server on
// uringnet, each sending 200 messages of varied sizes, and checks every
// byte. Half the clients are uringnet's, half net's.
func TestManyEchoClients(t *testing.T) {
	testutil.CheckFDs(t)
	ln, err := uringnet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var srvWG sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			srvWG.Add(1)
			go func() {
				defer srvWG.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	const clients, msgs = 200, 200
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var err error
			if i%2 == 0 {
				c, err = uringnet.Dial("tcp", ln.Addr().String())
			} else {
				c, err = net.Dial("tcp", ln.Addr().String())
			}
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			r := rand.New(rand.NewPCG(uint64(i), 1))
			buf := make([]byte, 0, 8192)
			got := make([]byte, 8192)
			for j := range msgs {
				n := 1 + r.IntN(8192)
				buf = buf[:n]
				for k := range buf {
					buf[k] = byte(i + j*3 + k*7)
				}
				if _, err := c.Write(buf); err != nil {
					errs <- fmt.Errorf("client %d message %d: %w", i, j, err)
					return
				}
				if _, err := io.ReadFull(c, got[:n]); err != nil {
					errs <- fmt.Errorf("client %d message %d: %w", i, j, err)
					return
				}
				if !bytes.Equal(got[:n], buf) {
					errs <- fmt.Errorf("client %d message %d: echo differs", i, j)
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
	ln.Close()
	srvWG.Wait()
}

// TestUringfsFileOverUringnet sends a file opened with uringfs over a
// uringnet connection, three ways: io.Copy (which takes the file's
// pipelined WriteTo), the conn's ReadFrom (splice), and net/http's
// ServeContent.
func TestUringfsFileOverUringnet(t *testing.T) {
	testutil.CheckFDs(t)
	path, want := randomFile(t, t.TempDir(), 5<<20+3)
	ln, err := uringnet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, how := range []string{"io.Copy", "ReadFrom"} {
		t.Run(how, func(t *testing.T) {
			f, err := uringfs.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sent := make(chan error, 1)
			go func() {
				c, err := ln.(*uringnet.Listener).AcceptUring()
				if err != nil {
					sent <- err
					return
				}
				defer c.Close()
				var n int64
				if how == "io.Copy" {
					n, err = io.Copy(c, f)
				} else {
					n, err = c.ReadFrom(f)
				}
				if err == nil && n != int64(len(want)) {
					err = fmt.Errorf("sent %d bytes, want %d", n, len(want))
				}
				sent <- err
			}()
			c, err := uringnet.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("received %d bytes, want the file's %d", len(got), len(want))
			}
		})
	}
	t.Run("ServeContent", func(t *testing.T) {
		url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, err := uringfs.Open(path)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			defer f.Close()
			http.ServeContent(w, r, "data", time.Time{}, f)
		}))
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ServeContent: %d bytes, %v", len(got), err)
		}
	})
}
