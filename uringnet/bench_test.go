package uringnet

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The benchmarks run the server in a child process (this test binary,
// started with childEnv set), so that its CPU time, read from
// /proc/PID/stat, is the server's alone; the clients are the standard
// library's, in this process, and the same for both servers.

// runEchoServerChild serves until SIGTERM: "echo" mode echoes every
// connection with a goroutine each, "http" mode serves a hello-world
// handler. server is "uring" or "net". It prints the address it listens
// on as its first line.
func runEchoServerChild(server, addr string) int {
	raiseNofile()
	var ln net.Listener
	var err error
	if server == "net" {
		ln, err = net.Listen("tcp", addr)
	} else {
		ln, err = Listen("tcp", addr)
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	if path := os.Getenv("SERVER_CPUPROFILE"); path != "" {
		// A profile of the server alone, for finding where its time goes.
		f, err := os.Create(path)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	fmt.Println(ln.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() { <-sig; ln.Close() }()
	if os.Getenv("PROTO") == "http" {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "Hello, World!")
		}))
		return 0
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
	}
	return 0
}

// childServer is a running server child.
type childServer struct {
	cmd  *exec.Cmd
	addr string
}

func startServer(tb testing.TB, server, proto string) *childServer {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), childEnv+"=echo-server", "SERVER="+server, "PROTO="+proto, "ADDR=127.0.0.1:0", "GOMAXPROCS="+os.Getenv("SERVER_GOMAXPROCS"))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error") {
		cmd.Process.Kill()
		cmd.Wait()
		tb.Fatalf("server child: %q %v", line, err)
	}
	s := &childServer{cmd: cmd, addr: strings.TrimSpace(line)}
	tb.Cleanup(s.stop)
	return s
}

func (s *childServer) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// cpu returns the child's user+system CPU time so far.
func (s *childServer) cpu(tb testing.TB) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 14th and 15th fields, in clock ticks (100 per second on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// BenchmarkEcho measures ping-pong round trips: each client connection
// writes a message and reads it back, over and over. b.N is the total
// number of round trips. Metrics: rt/s, and the server's CPU time per
// round trip. One connection is a lone goroutine, whose operations have
// nothing to be batched with (see reactor.StartLocal).
func BenchmarkEcho(b *testing.B) {
	for _, conns := range []int{1, 100, 1000} {
		for _, size := range []int{64, 4096} {
			for _, server := range []string{"net", "uring"} {
				b.Run(fmt.Sprintf("conns=%d/size=%d/%s", conns, size, server), func(b *testing.B) {
					benchEcho(b, server, conns, size)
				})
			}
		}
	}
}

func benchEcho(b *testing.B, server string, conns, size int) {
	raiseNofile()
	s := startServer(b, server, "echo")
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	// Warm up every connection (and the server's goroutines).
	pingPong(b, cs, size, conns)
	b.ResetTimer()
	cpu0 := s.cpu(b)
	t0 := time.Now()
	pingPong(b, cs, size, b.N)
	el := time.Since(t0)
	cpu := s.cpu(b) - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "rt/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "server-ns/rt")
}

// BenchmarkConnChurn measures short connections: 16 clients each dial,
// exchange one byte and close, over and over. b.N is the number of
// connections; the metric that matters is the server's CPU time per
// connection (accept, a read, a write, the EOF read and close).
func BenchmarkConnChurn(b *testing.B) {
	for _, server := range []string{"net", "uring"} {
		b.Run(server, func(b *testing.B) {
			s := startServer(b, server, "echo")
			const clients = 16
			b.ResetTimer()
			cpu0 := s.cpu(b)
			t0 := time.Now()
			var wg sync.WaitGroup
			for i := range clients {
				k := b.N / clients
				if i < b.N%clients {
					k++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					var one [1]byte
					for range k {
						c, err := net.Dial("tcp", s.addr)
						if err != nil {
							b.Error(err)
							return
						}
						_, err = c.Write(one[:])
						if err == nil {
							_, err = io.ReadFull(c, one[:])
						}
						c.Close()
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(t0)
			cpu := s.cpu(b) - cpu0
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "conn/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "server-ns/conn")
		})
	}
}

// pingPong runs n round trips spread over the connections.
func pingPong(b *testing.B, cs []net.Conn, size, n int) {
	spread(cs, n, func(c net.Conn, k int) {
		msg := make([]byte, size)
		got := make([]byte, size)
		for range k {
			if _, err := c.Write(msg); err != nil {
				b.Error(err)
				return
			}
			if _, err := io.ReadFull(c, got); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// spread splits n round trips over the connections as evenly as it
// goes and runs each connection's share, k of them, in a goroutine of its
// own, returning when all are done.
func spread(cs []net.Conn, n int, run func(c net.Conn, k int)) {
	var wg sync.WaitGroup
	for i, c := range cs {
		k := n / len(cs)
		if i < n%len(cs) {
			k++
		}
		if k == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(c, k)
		}()
	}
	wg.Wait()
}

// BenchmarkHTTP measures a hello-world net/http server with keep-alive
// connections, driven by the standard http.Client with 64 concurrent
// requesters. b.N is the number of requests.
func BenchmarkHTTP(b *testing.B) {
	for _, server := range []string{"net", "uring"} {
		b.Run(server, func(b *testing.B) {
			s := startServer(b, server, "http")
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			url := "http://" + s.addr + "/"
			get := func() {
				resp, err := client.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			for range 64 {
				get()
			}
			b.ResetTimer()
			cpu0 := s.cpu(b)
			t0 := time.Now()
			var wg sync.WaitGroup
			for w := range 64 {
				k := b.N/64 + map[bool]int{true: 1}[w < b.N%64]
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range k {
						get()
					}
				}()
			}
			wg.Wait()
			el := time.Since(t0)
			cpu := s.cpu(b) - cpu0
			b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "server-ns/req")
		})
	}
}

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// BenchmarkHTTPWrk drives the hello-world server with wrk (100
// connections, 2 threads, 5 seconds per iteration) and reports wrk's
// requests per second and the server's CPU time per request. It is
// skipped when wrk is not installed (Debian: apt-get install wrk).
func BenchmarkHTTPWrk(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed")
	}
	for _, server := range []string{"net", "uring"} {
		b.Run(server, func(b *testing.B) {
			s := startServer(b, server, "http")
			var reqs, secs float64
			var cpu time.Duration
			for range b.N {
				cpu0 := s.cpu(b)
				out, err := exec.Command(wrk, "-t2", "-c100", "-d5s", "http://"+s.addr+"/").CombinedOutput()
				if err != nil {
					b.Fatalf("wrk: %v\n%s", err, out)
				}
				cpu += s.cpu(b) - cpu0
				m := wrkRate.FindSubmatch(out)
				if m == nil {
					b.Fatalf("wrk output without Requests/sec:\n%s", out)
				}
				r, _ := strconv.ParseFloat(string(m[1]), 64)
				reqs += r * 5
				secs += 5
			}
			b.ReportMetric(reqs/secs, "req/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/reqs, "server-ns/req")
		})
	}
}
