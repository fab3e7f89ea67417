package uringnet

import (
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// idleServer accepts from ln and serves each connection with an echo
// goroutine (as the echo benchmarks' server does), until ln is closed.
func idleServer(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 4<<10)
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
}

// idleMem opens conns connections to a server on ln in this process,
// does one 64-byte echo on each, and returns the server side's heap and
// goroutine-stack bytes per idle connection: the growth of the live heap
// and of stack memory in use, less what the same number of client conns
// alone cost (measured beforehand against a listener that only accepts).
func idleMem(tb testing.TB, ln net.Listener, conns int) (heap, stack float64) {
	go idleServer(ln)
	measure := func() (uint64, uint64) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc, ms.StackInuse
	}
	h0, s0 := measure()
	cs := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	msg, buf := make([]byte, 64), make([]byte, 64)
	for range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		cs = append(cs, c)
		if _, err := c.Write(msg); err != nil {
			tb.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			tb.Fatal(err)
		}
	}
	// The last echo is back; let its server goroutine park again.
	time.Sleep(50 * time.Millisecond)
	h1, s1 := measure()
	n := float64(conns)
	return (float64(h1) - float64(h0)) / n, (float64(s1) - float64(s0)) / n
}

// BenchmarkIdleConns measures the memory a server in this process holds
// per open, idle connection, each served by a goroutine blocked in Read
// after one echo: heap-B/conn is the live heap (net's clients, the same
// for both, included), stack-B/conn the goroutine stacks. b.N is
// ignored beyond running once per iteration.
func BenchmarkIdleConns(b *testing.B) {
	raiseNofile()
	const conns = 1000
	for _, server := range []string{"net", "uring"} {
		b.Run(server, func(b *testing.B) {
			var heap, stack float64
			for range b.N {
				var ln net.Listener
				var err error
				if server == "net" {
					ln, err = net.Listen("tcp", "127.0.0.1:0")
				} else {
					ln, err = Listen("tcp", "127.0.0.1:0")
				}
				if err != nil {
					b.Fatal(err)
				}
				h, s := idleMem(b, ln, conns)
				ln.Close()
				heap += h
				stack += s
			}
			b.ReportMetric(heap/float64(b.N), "heap-B/conn")
			b.ReportMetric(stack/float64(b.N), "stack-B/conn")
		})
	}
}
