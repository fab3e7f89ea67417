package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// httpServers are the servers compared in the http group, baseline first.
var httpServers = []struct {
	name, kind string
}{
	{"net", "http-net"},
}

func httpCases() []benchCase {
	conns := 64
	bc := benchCase{name: fmt.Sprintf("hello, keep-alive, %d conns", conns)}
	// The -load child runs wrk when it finds it, as loadHTTP does.
	name := clientGo
	if _, err := exec.LookPath("wrk"); err == nil {
		name = clientWrk
	}
	client := goLoad(name, "http", "-conns", strconv.Itoa(conns))
	bc.impls = serverImpls(httpServers, client)
	return []benchCase{bc}
}

var hello = []byte("Hello, World!")

func helloHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write(hello)
}

// serveHTTP serves hello world on ln until closed.
func serveHTTP(ln net.Listener) (string, func(), error) {
	srv := &http.Server{Handler: http.HandlerFunc(helloHandler)}
	go srv.Serve(ln)
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

func serveHTTPNet(addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	return serveHTTP(ln)
}

// loadHTTP drives the server with wrk when it is installed (a separate,
// efficient C client), else with Go clients over keep-alive connections.
func loadHTTP(addr string, conns int, count *atomic.Int64) (func(), error) {
	if path, err := exec.LookPath("wrk"); err == nil {
		return loadWrk(path, addr, conns, count)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	client := &http.Client{Transport: tr}
	url := "http://" + addr + "/"
	var stopped atomic.Bool
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped.Load() {
				resp, err := client.Get(url)
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				count.Add(1)
			}
		}()
	}
	return func() { stopped.Store(true); wg.Wait(); tr.CloseIdleConnections() }, nil
}

var wrkRequests = regexp.MustCompile(`(\d+) requests in`)

// loadWrk runs wrk in back-to-back 1-second slices and counts the requests
// each reports, so that "sample" can be answered at any time with a count
// no more than a slice behind.
func loadWrk(path, addr string, conns int, count *atomic.Int64) (func(), error) {
	var stopped atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stopped.Load() {
			out, err := exec.Command(path, "-t1", fmt.Sprintf("-c%d", conns), "-d1s", "http://"+addr+"/").Output()
			if err != nil {
				return
			}
			if m := wrkRequests.FindSubmatch(out); m != nil {
				n, _ := strconv.ParseInt(string(m[1]), 10, 64)
				count.Add(n)
			}
		}
	}()
	return func() { stopped.Store(true); <-done }, nil
}
