package uringnet

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// processCPU returns the CPU time, user and system, the process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// udpAddrPortConn is the netip.AddrPort half of *net.UDPConn's API.
type udpAddrPortConn interface {
	ReadFromUDPAddrPort([]byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort([]byte, netip.AddrPort) (int, error)
}

// BenchmarkUDPWriteRead measures one 64-byte datagram's WriteTo and
// ReadFrom between two sockets of the same kind, uringnet's or net's,
// from one goroutine: the datagram is queued before the read, so nothing
// waits, and the process's CPU time per op (cpu-ns/op, user and system,
// from getrusage) is the cost of the two calls themselves: on a busy
// machine steadier than ns/op, which counts time spent waiting for a
// CPU, and than a ping-pong between processes. The -addrport cases use
// WriteToUDPAddrPort and ReadFromUDPAddrPort.
func BenchmarkUDPWriteRead(b *testing.B) {
	for _, kind := range []string{"net", "uring", "net-addrport", "uring-addrport"} {
		b.Run(kind, func(b *testing.B) {
			listen := func() net.PacketConn {
				var c net.PacketConn
				var err error
				if kind == "net" || kind == "net-addrport" {
					c, err = net.ListenPacket("udp4", "127.0.0.1:0")
				} else {
					c, err = ListenPacket("udp4", "127.0.0.1:0")
				}
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { c.Close() })
				return c
			}
			src, dst := listen(), listen()
			to := dst.LocalAddr()
			msg, buf := make([]byte, 64), make([]byte, 128)
			b.ReportAllocs()
			cpu0 := processCPU(b)
			defer func() {
				b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			}()
			if kind == "net-addrport" || kind == "uring-addrport" {
				s, ok1 := src.(udpAddrPortConn)
				d, ok2 := dst.(udpAddrPortConn)
				if !ok1 || !ok2 {
					b.Skip("no AddrPort calls")
				}
				ap := to.(*net.UDPAddr).AddrPort()
				for b.Loop() {
					if _, err := s.WriteToUDPAddrPort(msg, ap); err != nil {
						b.Fatal(err)
					}
					if _, _, err := d.ReadFromUDPAddrPort(buf); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			for b.Loop() {
				if _, err := src.WriteTo(msg, to); err != nil {
					b.Fatal(err)
				}
				if _, _, err := dst.ReadFrom(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
