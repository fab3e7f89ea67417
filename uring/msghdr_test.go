package uring

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// udpLoopback returns a UDP socket bound to a fresh loopback port, and its
// address.
func udpLoopback(t *testing.T) (int, *unix.SockaddrInet4) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, sa.(*unix.SockaddrInet4)
}

// A Msghdr with a control buffer of the caller's receives the raw control
// messages the socket's options ask for (IP_PKTINFO here), byte for byte
// what recvmsg(2) gives for the same datagram, and SourceInet decodes the
// sender. SendMsghdr sends the same Msghdr, with a destination, from
// another socket.
func TestRecvMsgControl(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 8)
	a, aAddr := udpLoopback(t)
	b, bAddr := udpLoopback(t)
	if err := unix.SetsockoptInt(b, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
		t.Fatal(err)
	}

	var m Msghdr // the zero value is ready to use
	if m.Control() != nil || m.Flags() != 0 {
		t.Errorf("a fresh Msghdr reports control %x, flags %#x", m.Control(), m.Flags())
	}
	if _, _, ok := m.SourceInet(); ok {
		t.Error("a fresh Msghdr reports a source")
	}
	if err := m.SetDestination(bAddr); err != nil {
		t.Fatal(err)
	}
	m.SetBuffers([][]byte{[]byte("pkt"), []byte("info")})
	if _, err := r.SendMsghdr(a, &m, 0, "send"); err != nil {
		t.Fatal(err)
	}
	if c := waitOK(t, r, "sendmsg"); c.Result != 7 {
		t.Fatalf("sendmsg = %d, want 7", c.Result)
	}
	if src, _, ok := m.SourceInet(); ok {
		t.Errorf("after a send, SourceInet reports the destination %v", src)
	}
	// The second of the same datagram is read with recvmsg(2) itself,
	// for comparison.
	if _, err := unix.SendmsgN(a, []byte("pktinfo"), nil, bAddr, 0); err != nil {
		t.Fatal(err)
	}

	buf, oob := make([]byte, 16), make([]byte, 64)
	m.SetBuffers([][]byte{buf})
	m.SetControl(oob)
	if _, err := r.RecvMsg(b, &m, "recv"); err != nil {
		t.Fatal(err)
	}
	if c := waitOK(t, r, "recvmsg"); c.Result != 7 || string(buf[:7]) != "pktinfo" {
		t.Fatalf("recvmsg = %d %q", c.Result, buf)
	}
	got := m.Control()
	if len(got) == 0 || &got[0] != &oob[0] {
		t.Fatalf("Control() = %x does not alias the control buffer", got)
	}
	wantBuf, wantOOB := make([]byte, 16), make([]byte, 64)
	_, oobn, flags, _, err := unix.Recvmsg(b, wantBuf, wantOOB, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wantOOB[:oobn]) || m.Flags()&^unix.MSG_CMSG_CLOEXEC != flags {
		t.Fatalf("control %x flags %#x; recvmsg(2) gives %x flags %#x", got, m.Flags(), wantOOB[:oobn], flags)
	}
	var cm ipv4.ControlMessage
	if err := cm.Parse(got); err != nil || !cm.Dst.Equal([]byte{127, 0, 0, 1}) || cm.IfIndex == 0 {
		t.Errorf("parsed %v, %v; want destination 127.0.0.1 on an interface", &cm, err)
	}
	src, zone, ok := m.SourceInet()
	if want := netip.AddrPortFrom(netip.AddrFrom4(aAddr.Addr), uint16(aAddr.Port)); !ok || src != want || zone != 0 {
		t.Errorf("SourceInet = %v %d %v, want %v", src, zone, ok, want)
	}
	if fds, err := m.Fds(); fds != nil || err != nil {
		t.Errorf("Fds with only IP_PKTINFO = %v, %v", fds, err)
	}

	// Too little room: MSG_CTRUNC, and what fitted.
	unix.SendmsgN(a, []byte("x"), nil, bAddr, 0)
	m.SetControl(oob[:20])
	r.RecvMsg(b, &m, "recv")
	waitOK(t, r, "recvmsg")
	if m.Flags()&unix.MSG_CTRUNC == 0 || len(m.Control()) > 20 {
		t.Errorf("20 bytes of room: flags %#x, control %d bytes", m.Flags(), len(m.Control()))
	}
}

// Raw SCM_RIGHTS both ways through one reused Msghdr; a control buffer
// with room for fewer descriptors than were sent gets those that fit and
// MSG_CTRUNC, and the kernel closes the rest (CheckFDs).
func TestSendMsghdrRights(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 8)
	a, b := unixSocketpair(t, unix.SOCK_DGRAM)
	_, wfds := pipeN(t, 3)

	send := func(m *Msghdr) {
		t.Helper()
		m.SetBuffers([][]byte{[]byte("fds")})
		m.SetControl(unix.UnixRights(wfds...))
		if err := m.SetDestination(nil); err != nil {
			t.Fatal(err)
		}
		if _, err := r.SendMsghdr(a, m, unix.MSG_NOSIGNAL, "send"); err != nil {
			t.Fatal(err)
		}
		if c := waitOK(t, r, "sendmsg"); c.Result != 3 {
			t.Fatalf("sendmsg = %d", c.Result)
		}
	}
	m := NewMsghdr(nil, 0)
	for _, room := range []int{3, 1, 0} {
		send(m)
		buf := make([]byte, 8)
		m.SetBuffers([][]byte{buf})
		m.SetControl(make([]byte, unix.CmsgLen(4*room)))
		r.RecvMsg(b, m, "recv")
		if c := waitOK(t, r, "recvmsg"); c.Result != 3 {
			t.Fatalf("recvmsg = %d", c.Result)
		}
		fds, err := m.Fds()
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range fds {
			if !fdCloexec(t, fd) {
				t.Errorf("received fd %d is not close-on-exec", fd)
			}
			unix.Close(fd)
		}
		if len(fds) != room || (m.Flags()&unix.MSG_CTRUNC != 0) != (room < 3) {
			t.Errorf("room for %d: %d fds, flags %#x", room, len(fds), m.Flags())
		}
	}
}

// SetDestination refuses what it cannot encode, and SendMsghdr what it
// cannot send, before anything is queued.
func TestMsghdrErrors(t *testing.T) {
	r := newRing[string](t, 8)
	var m Msghdr
	if err := m.SetDestination(&unix.SockaddrLinklayer{}); err == nil || !strings.Contains(err.Error(), "SockaddrLinklayer") {
		t.Errorf("SetDestination(SockaddrLinklayer) = %v", err)
	}
	if err := m.SetDestination(&unix.SockaddrUnix{Name: strings.Repeat("x", 200)}); err == nil {
		t.Error("SetDestination accepted an over-long Unix path")
	}
	if _, err := r.SendMsghdr(0, nil, 0, "x"); err == nil {
		t.Error("SendMsghdr with a nil Msghdr accepted")
	}
	m.SetBuffers(make([][]byte, IovMax+1))
	if _, err := r.SendMsghdr(0, &m, 0, "x"); err == nil {
		t.Error("SendMsghdr with too many buffers accepted")
	}
	if n := r.ActiveOps(); n != 0 {
		t.Errorf("refused operations left %d active", n)
	}
}

// A reused Msghdr makes a sendmsg and a recvmsg with control data and
// addresses allocate nothing.
func TestMsghdrAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("the race detector makes allocation counts unreliable")
	}
	r := newRing[int](t, 8)
	a, _ := udpLoopback(t)
	b, bAddr := udpLoopback(t)
	if err := unix.SetsockoptInt(b, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
		t.Fatal(err)
	}
	var sm, rm Msghdr
	sbufs, rbufs := [][]byte{make([]byte, 64)}, [][]byte{make([]byte, 128)}
	oob := make([]byte, 64)
	to := *bAddr
	allocs := testing.AllocsPerRun(1000, func() {
		sm.SetBuffers(sbufs)
		if err := sm.SetDestination(&to); err != nil {
			t.Fatal(err)
		}
		r.SendMsghdr(a, &sm, 0, 1)
		rm.SetBuffers(rbufs)
		rm.SetControl(oob)
		r.RecvMsg(b, &rm, 2)
		for range 2 {
			if c, err := r.Wait(); err != nil || c.Result != 64 {
				t.Fatalf("%+v %v", c, err)
			}
		}
		if _, _, ok := rm.SourceInet(); !ok || len(rm.Control()) == 0 {
			t.Fatal("no source or no control data")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per sendmsg+recvmsg round", allocs)
	}
}
