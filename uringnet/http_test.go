package uringnet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

// serveHTTP serves h on a uringnet listener (wrapped by wrap, if not nil)
// and returns its URL; the server is shut down when the test ends.
func serveHTTP(t *testing.T, h http.Handler, wrap func(net.Listener) net.Listener) (*http.Server, string) {
	t.Helper()
	ln := listenLocal(t, "tcp", ListenConfig{})
	var l net.Listener = ln
	scheme := "http"
	if wrap != nil {
		l = wrap(ln)
		scheme = "https"
	}
	srv := &http.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return srv, scheme + "://" + ln.Addr().String()
}

func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.Proto)
	})
	// /sum returns the SHA-256 of the request body and its length.
	mux.HandleFunc("/sum", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	})
	// /blob?n=N streams N deterministic bytes without Content-Length,
	// so the response is chunked.
	mux.HandleFunc("/blob", func(w http.ResponseWriter, r *http.Request) {
		var n int64
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		io.Copy(w, io.LimitReader(patternReader{}, n))
	})
	return mux
}

// patternReader yields an endless deterministic byte stream.
type patternReader struct{}

func (p patternReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(i*31 + 7)
	}
	return len(b), nil
}

func sumOf(r io.Reader) (int64, string) {
	h := sha256.New()
	n, _ := io.Copy(h, r)
	return n, hex.EncodeToString(h.Sum(nil))
}

func TestHTTPKeepAlive(t *testing.T) {
	testutil.CheckFDs(t)
	_, url := serveHTTP(t, testMux(), nil)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	conns := map[string]bool{}
	for i := 0; i < 50; i++ {
		req, _ := http.NewRequest("GET", url+"/hello", nil)
		var local string
		req = req.WithContext(withConnTrace(req.Context(), &local))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello HTTP/1.1" {
			t.Fatalf("body %q", b)
		}
		conns[local] = true
	}
	if len(conns) != 1 {
		t.Errorf("50 sequential requests used %d connections, want 1 (keep-alive)", len(conns))
	}
}

func TestHTTPChunkedAndLarge(t *testing.T) {
	testutil.CheckFDs(t)
	_, url := serveHTTP(t, testMux(), nil)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	const size = 64 << 20
	wantN, wantSum := sumOf(io.LimitReader(patternReader{}, size))

	// Upload, chunked (unknown length).
	pr, pw := io.Pipe()
	go func() { io.Copy(pw, io.LimitReader(patternReader{}, size)); pw.Close() }()
	resp, err := client.Post(url+"/sum", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := fmt.Sprintf("%d %s", wantN, wantSum); string(b) != got {
		t.Fatalf("upload: server saw %q, want %q", b, got)
	}

	// Download, chunked.
	resp, err = client.Get(fmt.Sprintf("%s/blob?n=%d", url, size))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("download TransferEncoding %v, want chunked", resp.TransferEncoding)
	}
	n, sum := sumOf(resp.Body)
	resp.Body.Close()
	if n != wantN || sum != wantSum {
		t.Fatalf("download: %d bytes %s, want %d %s", n, sum, wantN, wantSum)
	}
}

func selfSignedCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "uringnet test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestHTTPSAndHTTP2(t *testing.T) {
	testutil.CheckFDs(t)
	cert := selfSignedCert(t)
	_, url := serveHTTP(t, testMux(), func(l net.Listener) net.Listener {
		return tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	})
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool.AddCert(leaf)
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
			if !h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			want := "hello HTTP/1.1"
			if h2 {
				want = "hello HTTP/2.0"
			}
			for i := 0; i < 10; i++ {
				resp, err := client.Get(url + "/hello")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != want {
					t.Fatalf("body %q, want %q", b, want)
				}
			}
			// A large body both ways over TLS.
			const size = 8 << 20
			wantN, wantSum := sumOf(io.LimitReader(patternReader{}, size))
			resp, err := client.Post(url+"/sum", "application/octet-stream", io.LimitReader(patternReader{}, size))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := fmt.Sprintf("%d %s", wantN, wantSum); string(b) != got {
				t.Fatalf("upload over TLS: %q, want %q", b, got)
			}
			resp, err = client.Get(fmt.Sprintf("%s/blob?n=%d", url, size))
			if err != nil {
				t.Fatal(err)
			}
			n, sum := sumOf(resp.Body)
			resp.Body.Close()
			if n != wantN || sum != wantSum {
				t.Fatalf("download over TLS: %d %s", n, sum)
			}
		})
	}
}

// TestHTTPShutdownGraceful checks that Shutdown lets an in-flight request
// finish and closes idle keep-alive connections.
func TestHTTPShutdownGraceful(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listenLocal(t, "tcp", ListenConfig{})
	started := make(chan struct{})
	release := make(chan struct{})
	mux := testMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	srv := &http.Server{Handler: mux}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	// One idle keep-alive connection.
	resp, err := client.Get(url + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	got := make(chan string, 1)
	go func() {
		// A fresh transport, so this request does not take the idle conn.
		tr2 := &http.Transport{}
		defer tr2.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr2}).Get(url + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	// Shutdown closes the listener at once: a new dial is refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting 5s after Shutdown began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if s := <-got; s != "finished" {
		t.Fatalf("in-flight request during Shutdown: %q", s)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
}
