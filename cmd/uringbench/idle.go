package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func init() {
	groupDocs["idle"] = "memory a server holds per open, idle connection (after one 64 B echo on each): rss is VmRSS, heap the live Go heap, both after a GC that returns free memory to the system"
}

func idleCases() []benchCase {
	counts := []int{1000, 10000}
	if *flagShort {
		counts = []int{200}
	}
	var cs []benchCase
	for _, n := range counts {
		bc := benchCase{name: fmt.Sprintf("%d idle conns", n)}
		for i, srv := range connServers() {
			bc.impls = append(bc.impls, impl{
				name:     srv.name,
				baseline: i == 0,
				run: func(time.Duration) (measurement, error) {
					return idleConns(srv.kind, n)
				},
			})
		}
		cs = append(cs, bc)
	}
	return cs
}

// idleConns starts a server, asks it for its memory, has a client in
// another process open conns connections to it (each doing one echo, so
// that the server has taken the connection in and read from it), asks
// again, and reports the difference per connection. It needs no
// duration: it is done when the connections are.
func idleConns(kind string, conns int) (measurement, error) {
	if lim := fileLimit(); lim < uint64(conns)+100 {
		return measurement{}, fmt.Errorf("open-file limit %d is too low for %d connections: raise it (ulimit -n)", lim, conns)
	}
	srv, addr, err := child("-serve", kind, "-addr", "127.0.0.1:0")
	if err != nil {
		return measurement{}, err
	}
	defer srv.stop()
	if strings.HasPrefix(addr, "error") {
		return measurement{}, errors.New(addr)
	}
	scpu, ccpu, _ := cpus()
	pin(srv.pid(), scpu)
	mem := func() (heap, rss float64, err error) {
		line, err := srv.ask("mem")
		if err != nil {
			return 0, 0, fmt.Errorf("server memory: %v", err)
		}
		if heap, err = strconv.ParseFloat(line, 64); err != nil {
			return 0, 0, fmt.Errorf("server memory: %q", line)
		}
		r, err := procRSS(srv.pid())
		return heap, float64(r), err
	}
	heap0, rss0, err := mem()
	if err != nil {
		return measurement{}, err
	}
	path, args, err := goLoad(clientGo, "idle", "-conns", strconv.Itoa(conns)).argv(addr)
	if err != nil {
		return measurement{}, err
	}
	cl, ready, err := startProc(path, args...)
	if err != nil {
		return measurement{}, err
	}
	defer cl.stop()
	pin(cl.pid(), ccpu)
	if ready != "ready" {
		return measurement{}, fmt.Errorf("idle client: %s", ready)
	}
	// The last echoes are back, but their servers may not have gone
	// back to waiting yet.
	time.Sleep(100 * time.Millisecond)
	heap1, rss1, err := mem()
	if err != nil {
		return measurement{}, err
	}
	n := float64(conns)
	return measurement{figures: []Figure{
		{Name: "rss/conn", Value: max(rss1-rss0, 0) / n, Unit: "B"},
		{Name: "heap/conn", Value: max(heap1-heap0, 0) / n, Unit: "B"},
	}}, nil
}

// loadIdle opens conns connections, does one 64 B echo on each, and
// holds them open until stopped.
func loadIdle(addr string, conns int, count *atomic.Int64) (func(), error) {
	cs := make([]net.Conn, 0, conns)
	closeAll := func() {
		for _, c := range cs {
			c.Close()
		}
	}
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	for i := range conns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("connection %d: %v", i, err)
		}
		cs = append(cs, c)
		for j := range msg {
			msg[j] = byte(i + j)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(msg); err != nil {
			closeAll()
			return nil, fmt.Errorf("connection %d: %v", i, err)
		}
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != string(msg) {
			closeAll()
			return nil, fmt.Errorf("connection %d: echo: %v", i, err)
		}
		c.SetDeadline(time.Time{})
		count.Add(1)
	}
	return closeAll, nil
}
