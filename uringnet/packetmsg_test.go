package uringnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// listenStd is listenPacketLocal for package net.
func listenStd(tb testing.TB, network, addr string) net.PacketConn {
	tb.Helper()
	c, err := net.ListenPacket(network, addr)
	if err != nil {
		tb.Fatalf("net.ListenPacket(%q, %q): %v", network, addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// setsockopt sets an integer socket option through c's SyscallConn.
func setsockopt(tb testing.TB, c syscall.Conn, level, opt, v int) {
	tb.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil {
		tb.Fatal(err)
	}
	if serr != nil {
		tb.Fatalf("setsockopt(%d, %d, %d): %v", level, opt, v, serr)
	}
}

// udpMsgReader is what *net.UDPConn and *PacketConn share for reading
// messages.
type udpMsgReader interface {
	ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error)
	SetReadDeadline(time.Time) error
}

// msgRead is one ReadMsgUDP's results.
type msgRead struct {
	n, oobn, flags int
	addr           string
	data, oob      []byte
}

func readMsgUDP(t *testing.T, c udpMsgReader, oobSize int) msgRead {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, oob := make([]byte, 128), make([]byte, oobSize)
	n, oobn, flags, addr, err := c.ReadMsgUDP(b, oob)
	if err != nil {
		t.Fatalf("%T.ReadMsgUDP: %v", c, err)
	}
	return msgRead{n: n, oobn: oobn, flags: flags, addr: addr.String(), data: b[:n], oob: oob[:oobn]}
}

// TestReadMsgUDPControl enables IP_PKTINFO, IP_RECVTOS (or their IPv6
// counterparts) on a uringnet socket and on a net one, sends both the
// same datagram, and checks that ReadMsgUDP delivers the same raw control
// bytes, lengths and flags through both, and that x/net's parsers read
// the destination and interface from them. A control buffer too small
// for them gives the same truncation (MSG_CTRUNC) as net's.
func TestReadMsgUDPControl(t *testing.T) {
	testutil.CheckFDs(t)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no loopback interface: %v", err)
	}
	for _, tc := range []struct {
		network, host string
		opts          [][3]int
		parse         func(t *testing.T, oob []byte) (dst net.IP, ifIndex int)
	}{
		{"udp4", "127.0.0.1", [][3]int{{unix.IPPROTO_IP, unix.IP_PKTINFO, 1}, {unix.IPPROTO_IP, unix.IP_RECVTOS, 1}},
			func(t *testing.T, oob []byte) (net.IP, int) {
				var cm ipv4.ControlMessage
				if err := cm.Parse(oob); err != nil {
					t.Fatalf("ipv4.ControlMessage.Parse: %v", err)
				}
				return cm.Dst, cm.IfIndex
			}},
		{"udp6", "::1", [][3]int{{unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1}, {unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS, 1}},
			func(t *testing.T, oob []byte) (net.IP, int) {
				var cm ipv6.ControlMessage
				if err := cm.Parse(oob); err != nil {
					t.Fatalf("ipv6.ControlMessage.Parse: %v", err)
				}
				return cm.Dst, cm.IfIndex
			}},
	} {
		t.Run(tc.network, func(t *testing.T) {
			addr := net.JoinHostPort(tc.host, "0")
			if tc.network == "udp6" {
				if c, err := net.ListenPacket("udp6", addr); err != nil {
					t.Skipf("no IPv6 loopback: %v", err)
				} else {
					c.Close()
				}
			}
			uc := listenPacketLocal(t, tc.network, addr)
			nc := listenStd(t, tc.network, addr).(*net.UDPConn)
			for _, o := range tc.opts {
				setsockopt(t, uc, o[0], o[1], o[2])
				setsockopt(t, nc, o[0], o[1], o[2])
			}
			sender := listenStd(t, tc.network, addr)
			send := func() {
				for _, to := range []net.Addr{uc.LocalAddr(), nc.LocalAddr()} {
					if _, err := sender.WriteTo([]byte("control"), to); err != nil {
						t.Fatal(err)
					}
				}
			}

			send()
			got, want := readMsgUDP(t, uc, 256), readMsgUDP(t, nc, 256)
			if string(got.data) != "control" || got.flags != want.flags || got.addr != want.addr || got.oobn != want.oobn {
				t.Fatalf("uringnet read %q flags=%#x from %s, oobn %d; net read %q flags=%#x from %s, oobn %d",
					got.data, got.flags, got.addr, got.oobn, want.data, want.flags, want.addr, want.oobn)
			}
			if !bytes.Equal(got.oob, want.oob) {
				t.Fatalf("control bytes differ:\nuringnet %x\nnet      %x", got.oob, want.oob)
			}
			msgs, err := unix.ParseSocketControlMessage(got.oob)
			if err != nil || len(msgs) != 2 {
				t.Fatalf("control messages: %d, %v; want 2 (pktinfo and tos)", len(msgs), err)
			}
			dst, ifIndex := tc.parse(t, got.oob)
			if !dst.Equal(net.ParseIP(tc.host)) || ifIndex != lo.Index {
				t.Errorf("parsed destination %v on interface %d; want %s on %d", dst, ifIndex, tc.host, lo.Index)
			}

			// ReadMsgUDPAddrPort delivers the same.
			send()
			b, oob := make([]byte, 16), make([]byte, 256)
			uc.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, oobn, flags, ap, err := uc.ReadMsgUDPAddrPort(b, oob)
			if err != nil || n != 7 || flags != 0 || !bytes.Equal(oob[:oobn], want.oob) ||
				ap != sender.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Errorf("ReadMsgUDPAddrPort = %d %d %#x %v %v; oob %x, want %x", n, oobn, flags, ap, err, oob[:oobn], want.oob)
			}
			readMsgUDP(t, nc, 256)

			// Room for less than the first message: MSG_CTRUNC, and
			// the same truncated bytes as net's.
			send()
			got, want = readMsgUDP(t, uc, 20), readMsgUDP(t, nc, 20)
			if got.flags&unix.MSG_CTRUNC == 0 || got.flags != want.flags || got.oobn != want.oobn || !bytes.Equal(got.oob, want.oob) {
				t.Errorf("truncated control: uringnet flags=%#x oob %x; net flags=%#x oob %x", got.flags, got.oob, want.flags, want.oob)
			}
			// No room at all.
			send()
			got, want = readMsgUDP(t, uc, 0), readMsgUDP(t, nc, 0)
			if got.flags&unix.MSG_CTRUNC == 0 || got.flags != want.flags || got.oobn != 0 {
				t.Errorf("no control room: uringnet flags=%#x oobn %d; net flags=%#x", got.flags, got.oobn, want.flags)
			}
		})
	}
}

// TestReadMsgUDPTimestamp receives SO_TIMESTAMPNS: a timestamp the
// kernel took on arrival, between the send and the read.
func TestReadMsgUDPTimestamp(t *testing.T) {
	testutil.CheckFDs(t)
	uc := listenPacketLocal(t, "udp4", "127.0.0.1:0")
	setsockopt(t, uc, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	sender := listenStd(t, "udp4", "127.0.0.1:0")
	before := time.Now()
	if _, err := sender.WriteTo([]byte("when"), uc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	got := readMsgUDP(t, uc, 128)
	after := time.Now()
	msgs, err := unix.ParseSocketControlMessage(got.oob)
	if err != nil || len(msgs) != 1 || msgs[0].Header.Level != unix.SOL_SOCKET || msgs[0].Header.Type != unix.SCM_TIMESTAMPNS {
		t.Fatalf("control messages %+v, %v; want one SCM_TIMESTAMPNS", msgs, err)
	}
	d := msgs[0].Data
	if len(d) < 16 {
		t.Fatalf("SCM_TIMESTAMPNS of %d bytes", len(d))
	}
	at := time.Unix(int64(binary.NativeEndian.Uint64(d)), int64(binary.NativeEndian.Uint64(d[8:])))
	if at.Before(before.Add(-time.Millisecond)) || at.After(after.Add(time.Millisecond)) {
		t.Errorf("timestamp %v outside [%v, %v]", at, before, after)
	}
}

// TestUDPGROSegments sends three segments in one sendmsg with a
// UDP_SEGMENT control message (GSO) and receives them, with UDP_GRO on,
// as one read whose UDP_GRO control message gives the segment size: raw
// control messages both ways.
func TestUDPGROSegments(t *testing.T) {
	testutil.CheckFDs(t)
	rc := listenPacketLocal(t, "udp4", "127.0.0.1:0")
	if err := trySetsockopt(rc, unix.SOL_UDP, unix.UDP_GRO, 1); err != nil {
		t.Skipf("UDP_GRO: %v", err)
	}
	sc := listenPacketLocal(t, "udp4", "127.0.0.1:0")
	const seg = 100
	oob := cmsg(unix.SOL_UDP, unix.UDP_SEGMENT, binary.NativeEndian.AppendUint16(nil, seg))
	data := bytes.Repeat([]byte("0123456789"), 3*seg/10)
	n, oobn, err := sc.WriteMsgUDP(data, oob, rc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Skipf("UDP_SEGMENT send: %v", err)
	}
	if n != len(data) || oobn != len(oob) {
		t.Fatalf("WriteMsgUDP = %d, %d; want %d, %d", n, oobn, len(data), len(oob))
	}
	rc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, roob := make([]byte, 64<<10), make([]byte, 64)
	total := 0
	sawGRO := false
	for total < len(data) {
		n, oobn, _, _, err := rc.ReadMsgUDP(b, roob)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b[:n], data[total:total+n]) {
			t.Fatalf("read %d bytes at %d that differ from those sent", n, total)
		}
		total += n
		msgs, err := unix.ParseSocketControlMessage(roob[:oobn])
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_UDP && m.Header.Type == unix.UDP_GRO {
				sawGRO = true
				if len(m.Data) != 4 {
					t.Errorf("UDP_GRO message of %d bytes, want 4", len(m.Data))
				} else if size := int32(binary.NativeEndian.Uint32(m.Data)); size != seg {
					t.Errorf("UDP_GRO segment size %d, want %d", size, seg)
				}
			}
		}
	}
	if !sawGRO {
		t.Log("the kernel delivered the segments separately, with no UDP_GRO message")
	}
}

// cmsg lays out one control message as the kernel expects it.
func cmsg(level, typ int, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = int32(level), int32(typ)
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func trySetsockopt(c syscall.Conn, level, opt, v int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil {
		return err
	}
	return serr
}

// TestWriteMsgUDPPktinfo picks the source address of a datagram with an
// IP_PKTINFO control message (x/net's ipv4.ControlMessage), from a socket
// bound to the wildcard address: the receiver sees 127.0.0.2, as when net
// sends the same.
func TestWriteMsgUDPPktinfo(t *testing.T) {
	testutil.CheckFDs(t)
	recv := listenStd(t, "udp4", "127.0.0.1:0").(*net.UDPConn)
	to := recv.LocalAddr().(*net.UDPAddr)
	oob := (&ipv4.ControlMessage{Src: net.IPv4(127, 0, 0, 2)}).Marshal()
	uc := listenPacketLocal(t, "udp4", "0.0.0.0:0")
	nc := listenStd(t, "udp4", "0.0.0.0:0").(*net.UDPConn)
	for _, w := range []struct {
		name string
		port int
		send func() (int, int, error)
	}{
		{"net", nc.LocalAddr().(*net.UDPAddr).Port, func() (int, int, error) { return nc.WriteMsgUDP([]byte("from"), oob, to) }},
		{"uringnet", uc.LocalAddr().(*net.UDPAddr).Port, func() (int, int, error) { return uc.WriteMsgUDP([]byte("from"), oob, to) }},
		{"uringnet AddrPort", uc.LocalAddr().(*net.UDPAddr).Port, func() (int, int, error) {
			return uc.WriteMsgUDPAddrPort([]byte("from"), oob, to.AddrPort())
		}},
	} {
		n, oobn, err := w.send()
		if err != nil || n != 4 || oobn != len(oob) {
			t.Fatalf("%s WriteMsgUDP = %d, %d, %v; want 4, %d", w.name, n, oobn, err, len(oob))
		}
		recv.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 16)
		n, from, err := recv.ReadFromUDPAddrPort(b)
		if err != nil || string(b[:n]) != "from" {
			t.Fatalf("read: %q %v", b[:n], err)
		}
		if want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(w.port)); from != want {
			t.Errorf("%s: datagram from %v, want %v", w.name, from, want)
		}
	}
	// A control message the kernel refuses fails the send, as with net.
	bad := (&ipv4.ControlMessage{Src: net.IPv4(192, 0, 2, 1)}).Marshal()
	_, _, nerr := nc.WriteMsgUDP([]byte("x"), bad, to)
	_, _, uerr := uc.WriteMsgUDP([]byte("x"), bad, to)
	if nerr == nil || uerr == nil || unwrapErrno(uerr) != unwrapErrno(nerr) {
		t.Errorf("source address not ours: net %v, uringnet %v", nerr, uerr)
	}
}

func unwrapErrno(err error) syscall.Errno {
	var errno syscall.Errno
	for err != nil {
		if e, ok := err.(syscall.Errno); ok {
			return e
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			break
		}
		err = u.Unwrap()
	}
	return errno
}

// unixgramPair returns a uringnet unixgram socket and a net one, each
// bound to its own path.
func unixgramPair(t *testing.T) (*PacketConn, *net.UnixConn) {
	dir := t.TempDir()
	uc := listenPacketLocal(t, "unixgram", filepath.Join(dir, "u"))
	nc := listenStd(t, "unixgram", filepath.Join(dir, "n")).(*net.UnixConn)
	return uc, nc
}

// devNulls opens k descriptors of /dev/null, closed when the test ends.
func devNulls(t *testing.T, k int) []int {
	var fds []int
	for range k {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		fds = append(fds, int(f.Fd()))
	}
	return fds
}

// TestReadMsgUnixRawOOB passes descriptors over unixgram with raw oob
// both ways and compares what ReadMsgUnix returns with net's for the
// same message: with room, with room for fewer than were sent (the
// kernel closes the rest and sets MSG_CTRUNC), with room for none, and
// with no oob at all. Every descriptor received is close-on-exec, and
// none leaks (CheckFDs).
func TestReadMsgUnixRawOOB(t *testing.T) {
	testutil.CheckFDs(t)
	uc, nc := unixgramPair(t)
	sent := devNulls(t, 3)
	rights := syscall.UnixRights(sent...)
	for _, oobSize := range []int{
		syscall.CmsgSpace(3 * 4), // room for all
		syscall.CmsgSpace(4),     // room for two (rounded up on 64-bit)
		syscall.CmsgLen(4),       // room for one
		syscall.CmsgLen(0) + 1,   // room for none
		0,
	} {
		type result struct {
			n, oobn, flags int
			oob            []byte
		}
		var results []result
		// The uringnet socket sends to the net one and the net one to
		// the uringnet one, so WriteMsgUnix is checked too.
		for _, rw := range []struct {
			write func() error
			read  func(b, oob []byte) (int, int, int, *net.UnixAddr, error)
			from  string
		}{
			{func() error {
				_, _, err := uc.WriteMsgUnix([]byte("fds"), rights, nc.LocalAddr().(*net.UnixAddr))
				return err
			}, nc.ReadMsgUnix, uc.LocalAddr().String()},
			{func() error {
				_, _, err := nc.WriteMsgUnix([]byte("fds"), rights, uc.LocalAddr().(*net.UnixAddr))
				return err
			}, uc.ReadMsgUnix, nc.LocalAddr().String()},
		} {
			if err := rw.write(); err != nil {
				t.Fatal(err)
			}
			b, oob := make([]byte, 8), make([]byte, oobSize)
			n, oobn, flags, from, err := rw.read(b, oob)
			if err != nil || string(b[:n]) != "fds" || from == nil || from.String() != rw.from {
				t.Fatalf("ReadMsgUnix: %q from %v, %v", b[:n], from, err)
			}
			results = append(results, result{n, oobn, flags &^ unix.MSG_CMSG_CLOEXEC, oob[:oobn]})
			var fds []int
			if oobn > 0 {
				msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
				if err != nil || len(msgs) != 1 {
					t.Fatalf("oob %d of %d: %d messages, %v", oobn, oobSize, len(msgs), err)
				}
				if fds, err = syscall.ParseUnixRights(&msgs[0]); err != nil {
					t.Fatal(err)
				}
			}
			for _, fd := range fds {
				if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
					t.Errorf("received fd %d flags %#x %v: not close-on-exec", fd, fl, err)
				}
				unix.Close(fd)
			}
			room := max(0, (oobSize-syscall.CmsgLen(0))/4)
			if want := min(room, len(sent)); len(fds) != want {
				t.Errorf("oob of %d bytes: %d fds, want %d", oobSize, len(fds), want)
			}
			if (flags&unix.MSG_CTRUNC != 0) != (room < len(sent)) {
				t.Errorf("oob of %d bytes: flags %#x", oobSize, flags)
			}
		}
		// The descriptor numbers differ; the layout must not.
		u, n := results[1], results[0]
		if u.n != n.n || u.oobn != n.oobn || u.flags != n.flags {
			t.Errorf("oob of %d bytes: uringnet n=%d oobn=%d flags=%#x, net n=%d oobn=%d flags=%#x",
				oobSize, u.n, u.oobn, u.flags, n.n, n.oobn, n.flags)
		}
	}
}

// TestUnixStreamOOBOnly sends descriptors with no data both ways between
// a uringnet stream conn and a net one: the sender adds one byte, which
// the receiver with an empty b consumes, as net does.
func TestUnixStreamOOBOnly(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listenLocal(t, "unix", ListenConfig{})
	nc, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	uc, err := ln.AcceptUring()
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	fd := devNulls(t, 1)
	n, oobn, err := uc.WriteMsgUnix(nil, syscall.UnixRights(fd...), nil)
	if err != nil || n != 0 || oobn != syscall.CmsgSpace(4) {
		t.Fatalf("WriteMsgUnix with no data = %d, %d, %v", n, oobn, err)
	}
	oob := make([]byte, syscall.CmsgSpace(4))
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, oobn, _, _, err = nc.(*net.UnixConn).ReadMsgUnix(nil, oob)
	if err != nil || oobn != len(oob) {
		t.Fatalf("net ReadMsgUnix = oobn %d, %v", oobn, err)
	}
	msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
	got, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(got) != 1 {
		t.Fatalf("fds %v %v", got, err)
	}
	unix.Close(got[0])
	// Then data after it arrives intact: the dummy byte was consumed.
	uc.Write([]byte("after"))
	b := make([]byte, 8)
	if n, err := nc.Read(b); err != nil || string(b[:n]) != "after" {
		t.Fatalf("read after the descriptors: %q %v", b[:n], err)
	}
}

// TestReadQueuedThenEmpty reads datagrams that were queued before the
// reads (after the first, each is received without a probe), then reads
// from the empty socket: the recvmsg answers EAGAIN, the read waits, a
// deadline stops it with nothing lost, and a later datagram arrives
// whole.
func TestReadQueuedThenEmpty(t *testing.T) {
	testutil.CheckFDs(t)
	pc := listenPacketLocal(t, "udp4", "127.0.0.1:0")
	sender := listenStd(t, "udp4", "127.0.0.1:0")
	for _, m := range []string{"one", "two", "three"} {
		if _, err := sender.WriteTo([]byte(m), pc.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	b := make([]byte, 16)
	for i, want := range []string{"one", "two", "three"} {
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := pc.ReadFromUDPAddrPort(b)
		if err != nil || string(b[:n]) != want {
			t.Fatalf("read %d: %q %v; want %q", i, b[:n], err, want)
		}
		if i > 0 && !pc.fd.rmsg.queued {
			t.Errorf("read %d found its datagram queued but the next read will probe", i)
		}
	}
	pc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := pc.ReadFromUDPAddrPort(b); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from an empty socket: %v, want a deadline error", err)
	}
	if pc.fd.rmsg.queued {
		t.Error("an empty socket left the reads skipping the probe")
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		sender.WriteTo([]byte("later"), pc.LocalAddr())
	}()
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _, err := pc.ReadFromUDPAddrPort(b); err != nil || string(b[:n]) != "later" {
		t.Fatalf("read after the deadline: %q %v", b[:n], err)
	}
}
