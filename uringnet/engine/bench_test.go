package engine

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// serverChild is an echo server in a child process, so that its CPU time
// and memory are measured apart from the client's.
type serverChild struct {
	*child
	addr string
}

func startServerChild(b *testing.B, engine string) *serverChild {
	b.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(b))
	c := startChild(b, map[string]string{envServer: engine, envAddr: "tcp://" + addr})
	if l := c.line(b); l != "ready" {
		b.Fatalf("%s server: %s", engine, l)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc, err := net.Dial("tcp", addr)
		if err == nil {
			nc.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s server not accepting: %v", engine, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return &serverChild{child: c, addr: addr}
}

// cpuTime returns the process's user+system CPU time from /proc/PID/stat.
func cpuTime(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which may contain spaces.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}

// rss returns the process's resident set size in bytes.
func rss(b *testing.B, pid int) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkEcho is ping-pong echo over loopback: each connection sends a
// message and waits for it to come back. The same client drives gnet.Run
// and this package's Run, in each of its modes (every feature, and each
// kernel fallback forced), one event loop each, in child processes; the
// metrics are round trips per second and the server's CPU time per round
// trip.
func BenchmarkEcho(b *testing.B) {
	engines := []string{"gnet"}
	for _, m := range modes {
		engines = append(engines, "uring"+m.suffix())
	}
	for _, conns := range []int{100, 1000} {
		for _, size := range []int{64, 4096} {
			for _, engine := range engines {
				b.Run(fmt.Sprintf("conns=%d/size=%d/%s", conns, size, engine), func(b *testing.B) {
					benchEcho(b, engine, conns, size)
				})
			}
		}
	}
}

func benchEcho(b *testing.B, engine string, conns, size int) {
	if err := raiseNofile(conns + 200); err != nil {
		b.Skip(err)
	}
	s := startServerChild(b, engine)
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	pingPong(b, s.cmd.Process.Pid, cs, size, func(c net.Conn, msg, got []byte) error {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		_, err := io.ReadFull(c, got)
		return err
	})
}

// pingPong runs b.N round trips spread over conns, each goroutine
// calling roundTrip with a size-byte message and a reply buffer of the
// same size (capacity one more), and reports round trips per second and the CPU time of the
// server (process pid) per round trip.
func pingPong[C interface{ SetDeadline(time.Time) error }](b *testing.B, pid int, conns []C, size int, roundTrip func(c C, msg, got []byte) error) {
	per := max(1, b.N/len(conns))
	var wg sync.WaitGroup
	errc := make(chan error, len(conns))
	b.ResetTimer()
	cpu0, t0 := cpuTime(b, pid), time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// got has one byte of room past size, for a datagram
			// reply to show it was too long.
			msg, got := bytes.Repeat([]byte{'x'}, size), make([]byte, size, size+1)
			c.SetDeadline(time.Now().Add(5 * time.Minute))
			for range per {
				if err := roundTrip(c, msg, got); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(t0), cpuTime(b, pid)-cpu0
	b.StopTimer()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	rts := float64(per * len(conns))
	b.ReportMetric(rts/elapsed.Seconds(), "rt/s")
	b.ReportMetric(float64(cpu.Microseconds())/rts, "server-µs/rt")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkIdleRSS measures the server's resident memory with 10,000
// idle connections, each of which has echoed one message.
func BenchmarkIdleRSS(b *testing.B) {
	const n = 10000
	if err := raiseNofile(n + 200); err != nil {
		b.Skip(err)
	}
	for _, engine := range []string{"gnet", "uring"} {
		b.Run(engine, func(b *testing.B) {
			s := startServerChild(b, engine)
			pid := s.cmd.Process.Pid
			base := rss(b, pid)
			cs := make([]net.Conn, 0, n)
			defer func() {
				for _, c := range cs {
					c.Close()
				}
			}()
			msg, got := []byte("12345678"), make([]byte, 8)
			for range n {
				c, err := net.Dial("tcp", s.addr)
				if err != nil {
					b.Fatal(err)
				}
				cs = append(cs, c)
				c.SetDeadline(time.Now().Add(time.Minute))
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, got); err != nil {
					b.Fatal(err)
				}
			}
			time.Sleep(200 * time.Millisecond)
			after := rss(b, pid)
			b.ReportMetric(float64(after)/(1<<20), "server-RSS-MiB")
			b.ReportMetric(float64(after-base)/n, "B/conn")
			b.ReportMetric(0, "ns/op")
		})
	}
}
