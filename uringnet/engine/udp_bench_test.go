package engine

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"
)

// BenchmarkUDPEcho is ping-pong of 64-byte datagrams over loopback: each
// client sends a datagram and waits for it to come back. The same client
// drives gnet.Run and this package's Run, one event loop each, in child
// processes (the echo handler of the TCP benchmarks, unchanged); the
// metrics are round trips per second and the server's CPU time per round
// trip.
func BenchmarkUDPEcho(b *testing.B) {
	for _, clients := range []int{1, 16} {
		for _, engine := range []string{"gnet", "uring"} {
			b.Run(fmt.Sprintf("clients=%d/%s", clients, engine), func(b *testing.B) {
				benchUDPEcho(b, engine, clients, 64)
			})
		}
	}
}

func benchUDPEcho(b *testing.B, engine string, clients, size int) {
	port := freeUDPPort(b, "udp4", "127.0.0.1")
	addr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	s := startChild(b, map[string]string{envServer: engine, envAddr: "udp://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))})
	if l := s.line(b); l != "ready" {
		b.Fatalf("%s server: %s", engine, l)
	}
	cs := make([]*net.UDPConn, clients)
	for i := range cs {
		c, err := net.DialUDP("udp4", nil, addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	pingPong(b, s.cmd.Process.Pid, cs, size, func(c *net.UDPConn, msg, got []byte) error {
		// A datagram lost on loopback would stall the ping-pong; the
		// read deadline turns that into a failure.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(msg); err != nil {
			return err
		}
		// One byte of room: a longer reply would show as a wrong size.
		if n, err := c.Read(got[:cap(got)]); err != nil || n != size {
			return fmt.Errorf("reply of %d bytes: %v", n, err)
		}
		return nil
	})
}
