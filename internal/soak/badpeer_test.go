package soak

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

// An http server on a uringnet listener meets peers that reset mid-request
// and mid-response, stall with half a request, half-close after a request,
// or send garbage; meanwhile well-behaved keep-alive clients must get
// every response right, and the server must still be serving at the end.
func TestHTTPBadPeers(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listen(t)
	srv := &http.Server{Handler: patternMux()}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	end := time.Now().Add(2 * time.Second)
	dial := func() (*net.TCPConn, error) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c.(*net.TCPConn), nil
	}
	var wg sync.WaitGroup
	var bad atomic.Int64
	peer := func(name string, seed uint64, do func(rng *rand.Rand) error) {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, 7))
			for i := 0; i < 500 && time.Now().Before(end); i++ {
				if err := do(rng); err != nil {
					t.Errorf("%s peer: %v", name, err)
					return
				}
				bad.Add(1)
			}
		})
	}

	// Resets while the server writes a large response.
	peer("reset mid-response", 1, func(rng *rand.Rand) error {
		c, err := dial()
		if err != nil {
			return err
		}
		fmt.Fprintf(c, "GET /blob?seed=1&n=%d HTTP/1.1\r\nHost: x\r\n\r\n", 4<<20)
		io.CopyN(io.Discard, c, int64(rng.IntN(256<<10)))
		c.SetLinger(0)
		return c.Close()
	})
	// Resets in the middle of a request body.
	peer("reset mid-request", 2, func(rng *rand.Rand) error {
		c, err := dial()
		if err != nil {
			return err
		}
		body := make([]byte, rng.IntN(64<<10))
		fill(body, 5, 0)
		fmt.Fprintf(c, "POST /sum?seed=5 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 1<<20)
		c.Write(body)
		c.SetLinger(0)
		return c.Close()
	})
	// Sends a whole request, then half-closes: the response must still
	// come, complete.
	peer("half-close", 3, func(rng *rand.Rand) error {
		c, err := dial()
		if err != nil {
			return err
		}
		defer c.Close()
		n := rng.IntN(256 << 10)
		fmt.Fprintf(c, "GET /blob?seed=3&n=%d HTTP/1.1\r\nHost: x\r\n\r\n", n)
		if err := c.CloseWrite(); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return fmt.Errorf("reading the response after half-closing: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(b) != n || mismatch(b, 3, 0) >= 0 {
			return fmt.Errorf("body after half-closing: %d bytes (want %d), %v", len(b), n, err)
		}
		return nil
	})
	// Sends garbage: the server answers 400 or hangs up, and lives on.
	peer("garbage", 4, func(rng *rand.Rand) error {
		c, err := dial()
		if err != nil {
			return err
		}
		defer c.Close()
		junk := make([]byte, 1+rng.IntN(8<<10))
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		if rng.IntN(2) == 0 {
			copy(junk, "GET /")
		}
		junk = append(junk, "\r\n\r\n"...)
		c.Write(junk)
		resp, err := io.ReadAll(c)
		if len(resp) > 0 && !bytes.HasPrefix(resp, []byte("HTTP/1.1 4")) {
			return fmt.Errorf("answer to garbage: %.80q", resp)
		}
		if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.ECONNRESET) {
			return fmt.Errorf("reading the answer to garbage: %v", err)
		}
		return nil
	})
	// Stallers: hold half a request open for the whole test.
	var stalled []net.Conn
	for range 64 {
		c, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Time{})
		c.Write([]byte("GET /blob?seed=1&n=1 HT"))
		stalled = append(stalled, c)
	}
	defer func() {
		for _, c := range stalled {
			c.Close()
		}
	}()

	// Well-behaved keep-alive clients, checked byte for byte.
	tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var good atomic.Int64
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 8))
			for i := 0; i < 2000 && time.Now().Before(end); i++ {
				if err := goodRequest(client, addr, rng, uint64(g)<<32|uint64(i)); err != nil {
					t.Errorf("well-behaved client: %v", err)
					return
				}
				good.Add(1)
			}
		})
	}
	wg.Wait()
	// Still serving, with the stallers still connected.
	if err := goodRequest(client, addr, rand.New(rand.NewPCG(9, 9)), 12345); err != nil {
		t.Errorf("after the bad peers: %v", err)
	}
	t.Logf("%d bad peers, %d good requests, %d stalled conns", bad.Load(), good.Load(), len(stalled))
	if err := srv.Close(); err != nil {
		t.Errorf("server Close: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve: %v, want http.ErrServerClosed", err)
	}
}

// goodRequest makes one GET or POST through client and checks it.
func goodRequest(client *http.Client, addr string, rng *rand.Rand, seed uint64) error {
	if rng.IntN(2) == 0 {
		n := rng.IntN(512 << 10)
		resp, err := client.Get(fmt.Sprintf("http://%s/blob?seed=%d&n=%d", addr, seed, n))
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(b) != n {
			return fmt.Errorf("GET: status %d, %d bytes (want %d), %v", resp.StatusCode, len(b), n, err)
		}
		if i := mismatch(b, seed, 0); i >= 0 {
			return fmt.Errorf("GET: byte %d of the body is wrong", i)
		}
		return nil
	}
	body := make([]byte, rng.IntN(256<<10))
	fill(body, seed, 0)
	resp, err := client.Post(fmt.Sprintf("http://%s/sum?seed=%d", addr, seed), "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(b) != strconv.Itoa(len(body)) {
		return fmt.Errorf("POST of %d bytes: status %d, answer %q, %v", len(body), resp.StatusCode, b, err)
	}
	return nil
}
