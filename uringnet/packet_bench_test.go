package uringnet

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strings"
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

// runUDPEchoChild echoes datagrams on a loopback port until SIGTERM,
// printing the port's address first. server is "net" or "uring", with
// "-addrport" to echo through ReadFromUDPAddrPort and WriteToUDPAddrPort
// instead of ReadFrom and WriteTo.
func runUDPEchoChild(server string) int {
	var c net.PacketConn
	var err error
	kind, addrPort := strings.CutSuffix(server, "-addrport")
	if kind == "net" {
		c, err = net.ListenPacket("udp4", "127.0.0.1:0")
	} else {
		c, err = ListenPacket("udp4", "127.0.0.1:0")
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println(c.LocalAddr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() { <-sig; c.Close() }()
	buf := make([]byte, 2048)
	if ac, ok := c.(addrPortConn); ok && addrPort {
		for {
			n, a, err := ac.ReadFromUDPAddrPort(buf)
			if err != nil {
				return 0
			}
			if _, err := ac.WriteToUDPAddrPort(buf[:n], a); err != nil {
				return 0
			}
		}
	}
	for {
		n, a, err := c.ReadFrom(buf)
		if err != nil {
			return 0
		}
		if _, err := c.WriteTo(buf[:n], a); err != nil {
			return 0
		}
	}
}

func startUDPServer(b *testing.B, server string) *childServer {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), udpChildEnv+"="+server, "GOMAXPROCS="+os.Getenv("SERVER_GOMAXPROCS"))
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

// BenchmarkUDPPingPong measures round trips of 64-byte datagrams between
// a std client and an echo server, uringnet's or net's, in a child
// process: the client sends one and waits for it back, over and over.
// The metric that matters is the server's CPU time per round trip. A
// datagram lost on loopback is sent again after a timeout. The -addrport
// servers echo through the netip.AddrPort calls, which allocate nothing.
func BenchmarkUDPPingPong(b *testing.B) {
	for _, server := range []string{"net", "uring", "net-addrport", "uring-addrport"} {
		b.Run(server, func(b *testing.B) {
			s := startUDPServer(b, server)
			c, err := net.Dial("udp4", s.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			msg := make([]byte, 64)
			buf := make([]byte, 128)
			rt := func(n int) {
				for range n {
					for {
						if _, err := c.Write(msg); err != nil {
							b.Fatal(err)
						}
						c.SetReadDeadline(time.Now().Add(time.Second))
						if _, err := c.Read(buf); err == nil {
							break
						} else if !os.IsTimeout(err) {
							b.Fatal(err)
						}
					}
				}
			}
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
