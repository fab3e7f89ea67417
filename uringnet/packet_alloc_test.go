package uringnet

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

// TestPacketConnAllocs counts the allocations of each datagram read and
// write on a uringnet socket and on a net one, side by side, and fails if
// uringnet allocates more than net for any of them. The other end of each
// exchange is a net socket using the AddrPort calls, which allocate
// nothing.
func TestPacketConnAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	testutil.CheckFDs(t)
	pc := listenPacketLocal(t, "udp4", "127.0.0.1:0")
	nc := listenStd(t, "udp4", "127.0.0.1:0").(*net.UDPConn)
	peer := listenStd(t, "udp4", "127.0.0.1:0").(*net.UDPConn)
	peerAddr := peer.LocalAddr().(*net.UDPAddr)
	peerAP := peerAddr.AddrPort()
	for _, c := range []interface{ SetDeadline(time.Time) error }{pc, nc, peer} {
		c.SetDeadline(time.Now().Add(time.Minute))
	}
	msg, buf, oob := make([]byte, 64), make([]byte, 128), make([]byte, 64)
	fail := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	// feed queues a datagram for the conn under test to read; drain
	// reads the one it wrote.
	feed := func(to netip.AddrPort) {
		_, err := peer.WriteToUDPAddrPort(msg, to)
		fail(err)
	}
	drain := func() {
		_, _, err := peer.ReadFromUDPAddrPort(buf)
		fail(err)
	}
	pcAP := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	ncAP := nc.LocalAddr().(*net.UDPAddr).AddrPort()
	for _, op := range []struct {
		name   string
		uring  func()
		stdlib func()
	}{
		{"ReadFrom",
			func() { feed(pcAP); _, _, err := pc.ReadFrom(buf); fail(err) },
			func() { feed(ncAP); _, _, err := nc.ReadFrom(buf); fail(err) }},
		{"ReadFromUDP",
			func() { feed(pcAP); _, _, err := pc.ReadFromUDP(buf); fail(err) },
			func() { feed(ncAP); _, _, err := nc.ReadFromUDP(buf); fail(err) }},
		{"ReadFromUDPAddrPort",
			func() { feed(pcAP); _, _, err := pc.ReadFromUDPAddrPort(buf); fail(err) },
			func() { feed(ncAP); _, _, err := nc.ReadFromUDPAddrPort(buf); fail(err) }},
		{"ReadMsgUDP",
			func() { feed(pcAP); _, _, _, _, err := pc.ReadMsgUDP(buf, oob); fail(err) },
			func() { feed(ncAP); _, _, _, _, err := nc.ReadMsgUDP(buf, oob); fail(err) }},
		{"ReadMsgUDPAddrPort",
			func() { feed(pcAP); _, _, _, _, err := pc.ReadMsgUDPAddrPort(buf, oob); fail(err) },
			func() { feed(ncAP); _, _, _, _, err := nc.ReadMsgUDPAddrPort(buf, oob); fail(err) }},
		{"WriteTo",
			func() { _, err := pc.WriteTo(msg, peerAddr); fail(err); drain() },
			func() { _, err := nc.WriteTo(msg, peerAddr); fail(err); drain() }},
		{"WriteToUDP",
			func() { _, err := pc.WriteToUDP(msg, peerAddr); fail(err); drain() },
			func() { _, err := nc.WriteToUDP(msg, peerAddr); fail(err); drain() }},
		{"WriteToUDPAddrPort",
			func() { _, err := pc.WriteToUDPAddrPort(msg, peerAP); fail(err); drain() },
			func() { _, err := nc.WriteToUDPAddrPort(msg, peerAP); fail(err); drain() }},
		{"WriteMsgUDP",
			func() { _, _, err := pc.WriteMsgUDP(msg, nil, peerAddr); fail(err); drain() },
			func() { _, _, err := nc.WriteMsgUDP(msg, nil, peerAddr); fail(err); drain() }},
		{"WriteMsgUDPAddrPort",
			func() { _, _, err := pc.WriteMsgUDPAddrPort(msg, nil, peerAP); fail(err); drain() },
			func() { _, _, err := nc.WriteMsgUDPAddrPort(msg, nil, peerAP); fail(err); drain() }},
	} {
		u := testing.AllocsPerRun(200, op.uring)
		n := testing.AllocsPerRun(200, op.stdlib)
		t.Logf("%-20s uringnet %v, net %v allocations", op.name, u, n)
		if u > n {
			t.Errorf("%s: uringnet allocates %v per call, net %v", op.name, u, n)
		}
	}
}
