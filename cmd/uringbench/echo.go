package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
)

var (
	flagAddr  = flag.String("addr", "127.0.0.1:0", "internal: address for -serve and -load")
	flagConns = flag.Int("conns", 100, "internal: connections for -load")
	flagSize  = flag.Int("size", 64, "internal: message size for -load")
)

// echoServers are the servers compared in the echo group, baseline first.
// Each is a child process started with -serve NAME, or a C reference
// program (cServers).
var echoServers = []struct {
	name, kind string
}{
	{"net", "echo-net"},
	{"gnet", "echo-gnet"},
	{"C liburing", "echo-c"},
}

// echoOnlyServers are variants of the servers above that only the echo
// group compares (an engine option's cost, say).
var echoOnlyServers []struct{ name, kind string }

// cServers maps server kinds to C reference programs in cref/, which print
// their address and serve until stdin closes, as a -serve child does.
var cServers = map[string]string{"echo-c": "echo"}

func echoCases() []benchCase {
	var cs []benchCase
	conns := []int{100, 1000}
	sizes := []int{64, 4096}
	if *flagShort {
		conns, sizes = []int{100}, []int{64}
	}
	for _, c := range conns {
		for _, s := range sizes {
			bc := benchCase{name: fmt.Sprintf("echo %d conns, %d B", c, s)}
			bc.impls = serverImpls(append(slices.Clip(echoServers), echoOnlyServers...), echoClient(c, s))
			cs = append(cs, bc)
		}
	}
	return cs
}

// serverImpls are the impls of a case that loads each of servers (the
// first is the baseline) with client.
func serverImpls(servers []struct{ name, kind string }, client loadClient) []impl {
	var ims []impl
	for i, srv := range servers {
		ims = append(ims, impl{
			name:     srv.name,
			baseline: i == 0,
			run: func(d time.Duration) (measurement, error) {
				return serverLoad(srv.kind, client, d)
			},
		})
	}
	return ims
}

// Load client names, as the table shows them.
const (
	clientC   = "C"
	clientGo  = "Go"
	clientWrk = "wrk"
)

// loadClient is a program that loads a server at an address and speaks
// the child protocol: it prints "ready" once connected, then answers each
// "sample" line with the operations completed so far, until stdin closes.
type loadClient struct {
	name string
	argv func(addr string) (path string, args []string, err error)
}

// goLoad is this program in its -load role.
func goLoad(name, kind string, args ...string) loadClient {
	return loadClient{name, func(addr string) (string, []string, error) {
		self, err := os.Executable()
		return self, append([]string{"-load", kind, "-addr", addr}, args...), err
	}}
}

var flagClient = flag.String("client", "auto", "echo load client: c (cref/loadc.c), go, or auto (c when it builds, else go)")

var (
	echoClientWarn sync.Once
	// echoFallback is why echo fell back to the Go client, for the table.
	echoFallback string
)

// echoClient is the echo group's load client (see -client). On loopback
// each side pays for its sends and for the receive path they set off on
// the other's socket, so a client costs about what a server does per
// round trip: the C one about what the C server costs, the Go one more,
// enough that with one CPU each it, not the server, may set the pace.
func echoClient(conns, size int) loadClient {
	goClient := goLoad(clientGo, "echo", "-conns", strconv.Itoa(conns), "-size", strconv.Itoa(size))
	cClient := loadClient{clientC, func(addr string) (string, []string, error) {
		bin, err := cBinary("loadc")
		return bin, []string{addr, strconv.Itoa(conns), strconv.Itoa(size)}, err
	}}
	switch *flagClient {
	case "go":
		return goClient
	case "c":
		return cClient
	}
	if _, err := cBinary("loadc"); err != nil {
		echoClientWarn.Do(func() {
			echoFallback = err.Error()
			fmt.Fprintf(os.Stderr, "uringbench: echo falls back to the Go load client, which may saturate before the servers do: %v\n", err)
		})
		return goClient
	}
	return cClient
}

// serverLoad starts a server child and a load client and measures, after
// a warm-up, the operations the client completes in d and the CPU time
// the server and the client spend over the same window.
func serverLoad(serverKind string, client loadClient, d time.Duration) (measurement, error) {
	var (
		srv  *proc
		addr string
		err  error
	)
	if c, ok := cServers[serverKind]; ok {
		bin, berr := cBinary(c)
		if berr != nil {
			return measurement{}, berr
		}
		srv, addr, err = startProc(bin)
	} else {
		srv, addr, err = child("-serve", serverKind, "-addr", "127.0.0.1:0")
	}
	if err != nil {
		return measurement{}, err
	}
	defer srv.stop()
	if strings.HasPrefix(addr, "error") {
		return measurement{}, errors.New(addr)
	}
	scpu, ccpu, _ := cpus()
	pin(srv.pid(), scpu)
	path, args, err := client.argv(addr)
	if err != nil {
		return measurement{}, err
	}
	cl, ready, err := startProc(path, args...)
	if err != nil {
		return measurement{}, err
	}
	defer cl.stop()
	if ready != "ready" {
		return measurement{}, fmt.Errorf("load client: %s", ready)
	}
	pin(cl.pid(), ccpu)
	time.Sleep(d / 4)
	pin(srv.pid(), scpu) // threads started since
	pin(cl.pid(), ccpu)
	type sample struct {
		ops     float64
		srv, cl time.Duration
		t       time.Time
		figures []Figure
	}
	take := func() (sample, error) {
		var s sample
		var err error
		if s.srv, err = procCPU(srv.pid(), false); err != nil {
			return s, err
		}
		// A client's children (wrk) count once it has reaped them.
		if s.cl, err = procCPU(cl.pid(), true); err != nil {
			return s, err
		}
		s.t = time.Now()
		line, err := cl.ask("sample")
		if err != nil {
			return s, fmt.Errorf("load client: %v", err)
		}
		if s.ops, s.figures, err = parseSample(line); err != nil {
			return s, fmt.Errorf("load client: %s", line)
		}
		return s, nil
	}
	s0, err := take()
	if err != nil {
		return measurement{}, err
	}
	time.Sleep(d)
	s1, err := take()
	if err != nil {
		return measurement{}, err
	}
	return measurement{
		ops: s1.ops - s0.ops, cpu: s1.srv - s0.srv, wall: s1.t.Sub(s0.t),
		client: client.name, clientCPU: s1.cl - s0.cl,
		figures: s1.figures,
	}, nil
}

// sampleUnits are the units of the figures a load client may report
// after its count (the latency client's percentiles, in nanoseconds).
var sampleUnits = map[string]string{"p50": "ns", "p99": "ns", "p99.9": "ns"}

// parseSample reads a load client's answer to "sample": the operations
// completed so far, then any name=value figures over the time since the
// previous sample.
func parseSample(line string) (float64, []Figure, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return 0, nil, errors.New("empty sample")
	}
	ops, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, nil, err
	}
	var figs []Figure
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		x, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			return 0, nil, fmt.Errorf("bad figure %q", kv)
		}
		figs = append(figs, Figure{Name: k, Value: x, Unit: sampleUnits[k]})
	}
	return ops, figs, nil
}

// serve runs a benchmark server until stdin closes or a signal arrives,
// after printing its address.
func serve(kind string) error {
	var (
		addr    string
		closeFn func()
		err     error
	)
	switch kind {
	case "echo-net":
		addr, closeFn, err = serveEchoNet(*flagAddr)
	case "echo-gnet":
		addr, closeFn, err = serveEchoGnet(*flagAddr)
	case "http-net":
		addr, closeFn, err = serveHTTPNet(*flagAddr)
	default:
		if f, ok := extraServers[kind]; ok {
			addr, closeFn, err = f(*flagAddr)
		} else {
			err = fmt.Errorf("unknown server %q", kind)
		}
	}
	if err != nil {
		fmt.Println("error:", err)
		return err
	}
	fmt.Println(addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	eof := make(chan struct{})
	go func() {
		// "mem" asks for the live Go heap (the idle group's control
		// line); anything else is ignored.
		in := bufioScanner(os.Stdin)
		for in.Scan() {
			if in.Text() == "mem" {
				fmt.Println(liveHeap())
			}
		}
		close(eof)
	}()
	select {
	case <-sig:
	case <-eof:
	}
	closeFn()
	return nil
}

// extraServers are servers registered by the adapters' files.
var extraServers = map[string]func(addr string) (string, func(), error){}

func serveEchoNet(addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	go acceptEcho(ln)
	return ln.Addr().String(), func() { ln.Close() }, nil
}

// acceptEcho is the goroutine-per-connection echo server, for any
// net.Listener.
func acceptEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 16<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

type gnetEcho struct {
	gnet.BuiltinEventEngine
	eng gnet.Engine
}

func (h *gnetEcho) OnBoot(e gnet.Engine) gnet.Action { h.eng = e; return gnet.None }

func (h *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	c.Write(buf)
	return gnet.None
}

func serveEchoGnet(addr string) (string, func(), error) {
	h := &gnetEcho{}
	return serveGnet(addr, h, &h.eng)
}

// serveGnet runs h on gnet with one event loop, on a free port of addr;
// eng is where h's OnBoot keeps the gnet.Engine, which stops it.
func serveGnet(addr string, h gnet.EventHandler, eng *gnet.Engine) (string, func(), error) {
	a, err := freePort(addr)
	if err != nil {
		return "", nil, err
	}
	errc := make(chan error, 1)
	go func() {
		errc <- gnet.Run(h, "tcp://"+a, gnet.WithNumEventLoop(1), gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithLogger(stderrLogger{}))
	}()
	if err := waitDial(a, errc); err != nil {
		return "", nil, err
	}
	return a, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		eng.Stop(ctx)
	}, nil
}

// freePort is addr with a free port in place of port 0: gnet and the
// engine need a concrete one.
func freePort(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitDial waits until a server that starts in the background accepts
// connections, or fails.
func waitDial(addr string, errc <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			return fmt.Errorf("server exited: %v", err)
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("server at %s did not come up", addr)
}

// load runs a load client: it connects, prints "ready", and answers each
// "sample" line on stdin with the operations completed so far, until stdin
// closes.
func load(kind string) error {
	var count atomic.Int64
	var stopLoad func()
	var err error
	switch kind {
	case "echo":
		stopLoad, err = loadEcho(*flagAddr, *flagConns, *flagSize, &count)
	case "http":
		stopLoad, err = loadHTTP(*flagAddr, *flagConns, &count)
	case "frames":
		stopLoad, err = loadFrames(*flagAddr, *flagConns, *flagSize, *flagBurst, &count)
	case "churn":
		stopLoad, err = loadChurn(*flagAddr, *flagConns, *flagSize, &count)
	case "idle":
		stopLoad, err = loadIdle(*flagAddr, *flagConns, &count)
	case "latency":
		// Its own loop on one thread: it answers stdin itself.
		return loadLatency(*flagAddr, *flagConns, *flagSize, *flagRate)
	default:
		err = fmt.Errorf("unknown load %q", kind)
	}
	if err != nil {
		fmt.Println("error:", err)
		return err
	}
	defer stopLoad()
	fmt.Println("ready")
	in := bufioScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "sample" {
			fmt.Println(count.Load())
		}
	}
	return nil
}

// loadEcho keeps conns connections each doing write-then-read round trips
// of size bytes, checking every byte.
func loadEcho(addr string, conns, size int, count *atomic.Int64) (func(), error) {
	return loadRoundTrips(addr, conns, "echo", func(i int) ([]byte, int64) {
		return bytes.Repeat([]byte{byte(i)}, size), 1
	}, count)
}

// loadRoundTrips keeps conns connections each writing its message (msg
// of the connection's index) and reading back its echo, checking every
// byte, over and over; each round trip adds ops to count. A corrupted
// echo ends the client with a message naming what.
func loadRoundTrips(addr string, conns int, what string, msg func(i int) (b []byte, ops int64), count *atomic.Int64) (func(), error) {
	cs := make([]net.Conn, 0, conns)
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			for _, c := range cs {
				c.Close()
			}
			return nil, err
		}
		cs = append(cs, c)
	}
	var stopped atomic.Bool
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, ops := msg(i)
			buf := make([]byte, len(msg))
			for !stopped.Load() {
				if _, err := c.Write(msg); err != nil {
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if !bytes.Equal(buf, msg) {
					fmt.Fprintln(os.Stderr, what+": corrupted reply")
					os.Exit(1)
				}
				count.Add(ops)
			}
		}()
	}
	return func() {
		stopped.Store(true)
		for _, c := range cs {
			c.Close()
		}
		wg.Wait()
	}, nil
}

// stderrLogger keeps gnet's log lines off stdout, which carries the
// child protocol, and drops all but errors.
type stderrLogger struct{}

func (stderrLogger) Debugf(string, ...any)        {}
func (stderrLogger) Infof(string, ...any)         {}
func (stderrLogger) Warnf(string, ...any)         {}
func (stderrLogger) Errorf(f string, args ...any) { fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", args...) }
func (stderrLogger) Fatalf(f string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", args...)
	os.Exit(1)
}
