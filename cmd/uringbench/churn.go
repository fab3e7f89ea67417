package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func init() {
	groupDocs["churn"] = "a connection per request: connect, one 64 B echo, close; ops/s are connections, cpu/op the server's CPU per connection"
}

// connServers are the Go servers of the echo group (net, gnet, uringnet
// conn, the engine), baseline first: the churn, idle and latency groups
// compare them. The C server is left out: it answers echo, not the
// control lines (memory) the idle group asks a server.
func connServers() []struct{ name, kind string } {
	var ss []struct{ name, kind string }
	for _, s := range echoServers {
		if _, c := cServers[s.kind]; !c {
			ss = append(ss, s)
		}
	}
	return ss
}

// churnCases: loopback connections, each carrying one round trip, from
// a Go client in its own process on the other CPU.
func churnCases() []benchCase {
	const size = 64
	par := 16
	if *flagShort {
		par = 4
	}
	bc := benchCase{name: fmt.Sprintf("connect+echo+close, %d at once", par)}
	bc.impls = serverImpls(connServers(), goLoad(clientGo, "churn", "-conns", strconv.Itoa(par), "-size", strconv.Itoa(size)))
	return []benchCase{bc}
}

// loadChurn keeps par goroutines each connecting, sending size bytes,
// reading them back (checking each byte) and closing, over and over,
// and counts the connections. The client closes first, so the TIME_WAIT
// sockets are its own; Linux reuses them for new loopback connections
// (net.ipv4.tcp_tw_reuse, 2 by default), so the ports do not run out.
// A failure ends the client, and so the run, with the error.
func loadChurn(addr string, par, size int, count *atomic.Int64) (func(), error) {
	// Fail at once if the server is not there.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.Close()
	var stopped atomic.Bool
	var wg sync.WaitGroup
	for g := range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := bytes.Repeat([]byte{byte(g + 1)}, size)
			buf := make([]byte, size)
			for !stopped.Load() {
				if err := churnOnce(addr, msg, buf); err != nil {
					if stopped.Load() {
						return
					}
					fmt.Fprintln(os.Stderr, "churn:", err)
					os.Exit(1)
				}
				count.Add(1)
			}
		}()
	}
	return func() { stopped.Store(true); wg.Wait() }, nil
}

func churnOnce(addr string, msg, buf []byte) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if !bytes.Equal(buf, msg) {
		return fmt.Errorf("corrupted reply")
	}
	return nil
}
