package uringnet

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// udpChildEnv, when set to "uring" or "net", makes the test binary a UDP
// echo server of that kind instead of running tests (see init below).
const udpChildEnv = "URINGNET_UDP_ECHO_CHILD"

func init() {
	// TestMain's child modes belong to another file; this one starts
	// before it, so the benchmark's server needs no entry there.
	if server := os.Getenv(udpChildEnv); server != "" {
		os.Exit(runUDPEchoChild(server))
	}
}

// addrPortConn is the allocation-free half of *net.UDPConn's API, which
// *PacketConn shares.
type addrPortConn interface {
	ReadFromUDPAddrPort([]byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort([]byte, netip.AddrPort) (int, error)
}

// udpSocketsEnv, in the child's environment, is how many sockets the
// echo server opens (1 if unset), each served by its own goroutine.
const udpSocketsEnv = "URINGNET_UDP_ECHO_SOCKETS"

// runUDPEchoChild echoes datagrams on loopback ports until SIGTERM,
// printing the ports' addresses first, on one line separated by spaces.
// server is "net" or "uring", with "-addrport" to echo through
// ReadFromUDPAddrPort and WriteToUDPAddrPort instead of ReadFrom and
// WriteTo. Each socket has a goroutine of its own, as a server of many
// peers would, so that their reads and writes run side by side.
func runUDPEchoChild(server string) int {
	raiseNofile()
	sockets := 1
	if v := os.Getenv(udpSocketsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fmt.Printf("error: %s=%q is not a positive number\n", udpSocketsEnv, v)
			return 1
		}
		sockets = n
	}
	kind, addrPort := strings.CutSuffix(server, "-addrport")
	cs := make([]net.PacketConn, sockets)
	addrs := make([]string, sockets)
	for i := range cs {
		var c net.PacketConn
		var err error
		if kind == "net" {
			c, err = net.ListenPacket("udp4", "127.0.0.1:0")
		} else {
			c, err = ListenPacket("udp4", "127.0.0.1:0")
		}
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		cs[i], addrs[i] = c, c.LocalAddr().String()
	}
	fmt.Println(strings.Join(addrs, " "))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			udpEcho(c, addrPort)
		}()
	}
	<-sig
	for _, c := range cs {
		c.Close()
	}
	wg.Wait()
	return 0
}

// udpEcho sends every datagram c receives back to its sender until c
// fails (is closed).
func udpEcho(c net.PacketConn, addrPort bool) {
	buf := make([]byte, 64<<10) // the largest datagram, so none is cut
	if ac, ok := c.(addrPortConn); ok && addrPort {
		for {
			n, a, err := ac.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if _, err := ac.WriteToUDPAddrPort(buf[:n], a); err != nil {
				return
			}
		}
	}
	for {
		n, a, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		if _, err := c.WriteTo(buf[:n], a); err != nil {
			return
		}
	}
}

// startUDPServer starts an echo server child of the given kind (see
// runUDPEchoChild) with that many sockets; the child's address line is
// in the result's addr.
func startUDPServer(b *testing.B, server string, sockets int) *childServer {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), udpChildEnv+"="+server, udpSocketsEnv+"="+strconv.Itoa(sockets), "GOMAXPROCS="+os.Getenv("SERVER_GOMAXPROCS"))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error") {
		cmd.Process.Kill()
		cmd.Wait()
		b.Fatalf("server child: %q %v", line, err)
	}
	s := &childServer{cmd: cmd, addr: strings.TrimSpace(line)}
	b.Cleanup(s.stop)
	return s
}

// udpRoundTrips sends a 64-byte datagram on c and waits for it back, n
// times. A datagram lost on loopback is sent again after a timeout.
func udpRoundTrips(b *testing.B, c net.Conn, n int) {
	msg := make([]byte, 64)
	buf := make([]byte, 128)
	for range n {
		for {
			if _, err := c.Write(msg); err != nil {
				b.Error(err)
				return
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c.Read(buf); err == nil {
				break
			} else if !os.IsTimeout(err) {
				b.Error(err)
				return
			}
		}
	}
}

// BenchmarkUDPPingPong measures round trips of 64-byte datagrams between
// a std client and an echo server, uringnet's or net's, in a child
// process: the client sends one and waits for it back, over and over.
// The metric that matters is the server's CPU time per round trip. A
// datagram lost on loopback is sent again after a timeout. The -addrport
// servers echo through the netip.AddrPort calls, which allocate nothing.
func BenchmarkUDPPingPong(b *testing.B) {
	for _, server := range []string{"net", "uring", "net-addrport", "uring-addrport"} {
		b.Run(server, func(b *testing.B) {
			s := startUDPServer(b, server, 1)
			c, err := net.Dial("udp4", s.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			rt := func(n int) { udpRoundTrips(b, c, n) }
			rt(1000)
			b.ResetTimer()
			cpu0 := s.cpu(b)
			t0 := time.Now()
			rt(b.N)
			el := time.Since(t0)
			cpu := s.cpu(b) - cpu0
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "rt/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "server-ns/rt")
		})
	}
}

// BenchmarkUDPPingPongMany is BenchmarkUDPPingPong with many sockets
// served at once: the server child opens that many, each echoed by its
// own goroutine through ReadFrom and WriteTo, and a std client socket
// per server socket, each in its own goroutine, runs round trips of
// 64-byte datagrams with it. b.N is the total number of round trips. The
// server's goroutines are readied together by the netpoller, so its
// operations can share io_uring enters; the metric that matters is the
// server's CPU time per round trip.
func BenchmarkUDPPingPongMany(b *testing.B) {
	raiseNofile()
	for _, sockets := range []int{100, 1000} {
		for _, server := range []string{"net", "uring"} {
			b.Run(fmt.Sprintf("sockets=%d/%s", sockets, server), func(b *testing.B) {
				s := startUDPServer(b, server, sockets)
				addrs := strings.Fields(s.addr)
				if len(addrs) != sockets {
					b.Fatalf("server child gave %d addresses, want %d", len(addrs), sockets)
				}
				cs := make([]net.Conn, sockets)
				for i, a := range addrs {
					c, err := net.Dial("udp4", a)
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					cs[i] = c
				}
				// Warm up every socket and its server goroutine.
				udpRoundTripsAll(b, cs, 10*sockets)
				b.ResetTimer()
				cpu0 := s.cpu(b)
				t0 := time.Now()
				udpRoundTripsAll(b, cs, b.N)
				el := time.Since(t0)
				cpu := s.cpu(b) - cpu0
				b.StopTimer()
				b.ReportMetric(float64(b.N)/el.Seconds(), "rt/s")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "server-ns/rt")
			})
		}
	}
}

// udpRoundTripsAll runs n round trips spread over the client sockets,
// each from its own goroutine.
func udpRoundTripsAll(b *testing.B, cs []net.Conn, n int) {
	spread(cs, n, func(c net.Conn, k int) { udpRoundTrips(b, c, k) })
}
