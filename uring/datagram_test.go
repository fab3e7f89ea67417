package uring

import (
	"bytes"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"unsafe"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

func udpSocket(t *testing.T, family int) (int, unix.Sockaddr) {
	t.Helper()
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("socket(%d, SOCK_DGRAM): %v", family, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	var sa unix.Sockaddr = &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if family == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Addr: [16]byte{15: 1}}
	}
	if err := unix.Bind(fd, sa); err != nil {
		t.Skipf("bind: %v", err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, bound
}

// A multishot recvmsg delivers each datagram with its sender in a
// provided buffer; SendDatagram replies to the raw address received, so
// that a reply needs no conversion and no allocation.
func TestRecvMsgMultishotSendDatagram(t *testing.T) {
	testutil.CheckFDs(t)
	for _, family := range []int{unix.AF_INET, unix.AF_INET6} {
		t.Run(fmt.Sprint(family), func(t *testing.T) {
			r := newRing[string](t, 16)
			const bufSize, nameLen = 64, int(unsafe.Sizeof(unix.RawSockaddrInet6{}))
			br := newBufRing(t, r, 1, 4, bufSize)
			srv, srvAddr := udpSocket(t, family)
			cli, cliAddr := udpSocket(t, family)
			if _, err := r.RecvMsgMultishot(srv, br, nameLen, 0, 0, "recv"); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Submit(); err != nil {
				t.Fatal(err)
			}
			big := bytes.Repeat([]byte("z"), 100)
			for i, msg := range [][]byte{[]byte("one"), []byte("two"), big} {
				if err := unix.Sendto(cli, msg, 0, srvAddr); err != nil {
					t.Fatal(err)
				}
				c := wait(t, r)
				if c.Data != "recv" || c.Err() != nil {
					if errors.Is(c.Err(), syscall.EINVAL) && i == 0 && !kernelAtLeastVersion(t, "6.0") {
						t.Skip("no multishot recvmsg before Linux 6.0")
					}
					t.Fatalf("completion %+v", c)
				}
				if !c.More() {
					t.Fatalf("multishot recvmsg ended: %+v", c)
				}
				bid, ok := c.BufferID()
				if !ok {
					t.Fatal("no buffer")
				}
				out, err := ParseRecvMsgOut(br.Buf(bid, int(c.Result)), nameLen, 0)
				if err != nil {
					t.Fatal(err)
				}
				src, err := rawToSockaddr((*unix.RawSockaddrAny)(unsafe.Pointer(unsafe.SliceData(out.Name))), uint32(len(out.Name)))
				if err != nil || !sockaddrEqual(src, cliAddr) {
					t.Errorf("sender %#v, %v; want %#v", src, err, cliAddr)
				}
				if out.PayloadLen != len(out.Payload) {
					t.Errorf("PayloadLen %d, want %d", out.PayloadLen, len(out.Payload))
				}
				if len(msg) <= bufSize-16-nameLen {
					if !bytes.Equal(out.Payload, msg) || out.Flags&unix.MSG_TRUNC != 0 {
						t.Errorf("payload %q flags %#x, want %q", out.Payload, out.Flags, msg)
					}
				} else if out.Flags&unix.MSG_TRUNC == 0 || len(out.Payload) != bufSize-16-nameLen || !bytes.Equal(out.Payload, msg[:len(out.Payload)]) {
					t.Errorf("truncated payload %d bytes flags %#x", len(out.Payload), out.Flags)
				}
				var d Datagram
				if err := d.SetRawAddr(out.Name); err != nil {
					t.Fatal(err)
				}
				reply := append([]byte("re:"), out.Payload...)
				d.SetPayload(reply)
				br.Recycle(bid)
				if _, err := r.SendDatagram(srv, &d, 0, "send"); err != nil {
					t.Fatal(err)
				}
				if c := waitOK(t, r, "sendmsg"); c.Data != "send" || int(c.Result) != len(reply) {
					t.Fatalf("send completion %+v", c)
				}
				got := make([]byte, 200)
				n, from, err := unix.Recvfrom(cli, got, 0)
				if err != nil || !bytes.Equal(got[:n], reply) || !sockaddrEqual(from, srvAddr) {
					t.Fatalf("reply %q from %#v, %v; want %q from %#v", got[:n], from, err, reply, srvAddr)
				}
			}
			// Close is refused while the receive selects from the ring.
			if err := br.Close(); err == nil {
				t.Fatal("BufRing.Close with a multishot recvmsg armed succeeded")
			}
			if _, err := r.CancelAll("cancel"); err != nil {
				t.Fatal(err)
			}
			for r.ActiveOps() > 0 {
				wait(t, r)
			}
		})
	}
}

func TestDatagramAddrs(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 8)
	srv4, srv4Addr := udpSocket(t, unix.AF_INET)
	cli, _ := udpSocket(t, unix.AF_INET)
	a4 := srv4Addr.(*unix.SockaddrInet4)
	var d Datagram
	d.SetPayload([]byte("v4"))
	if err := d.SetUDPAddr(unix.AF_INET, a4.Addr[:], a4.Port, 0); err != nil {
		t.Fatal(err)
	}
	r.SendDatagram(cli, &d, 0, "send")
	waitOK(t, r, "send to SetUDPAddr")
	buf := make([]byte, 8)
	if n, _, err := unix.Recvfrom(srv4, buf, 0); err != nil || string(buf[:n]) != "v4" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	if err := d.SetAddr(srv4Addr); err != nil {
		t.Fatal(err)
	}
	r.SendDatagram(cli, &d, 0, "send")
	waitOK(t, r, "send to SetAddr")
	if n, _, err := unix.Recvfrom(srv4, buf, 0); err != nil || string(buf[:n]) != "v4" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}

	// An IPv4 address on a dual-stack IPv6 socket goes IPv4-mapped.
	fd6, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skip(err)
	}
	defer unix.Close(fd6)
	mapped := append(make([]byte, 0, 16), make([]byte, 10)...)
	mapped = append(mapped, 0xff, 0xff)
	mapped = append(mapped, a4.Addr[:]...)
	for _, ip := range [][]byte{a4.Addr[:], mapped} {
		if err := d.SetUDPAddr(unix.AF_INET6, ip, a4.Port, 0); err != nil {
			t.Fatal(err)
		}
		r.SendDatagram(fd6, &d, 0, "send")
		waitOK(t, r, "send v4-mapped")
		if n, _, err := unix.Recvfrom(srv4, buf, 0); err != nil || string(buf[:n]) != "v4" {
			t.Fatalf("got %q, %v", buf[:n], err)
		}
	}

	if err := d.SetUDPAddr(unix.AF_INET, make([]byte, 16), 1, 0); err == nil {
		t.Error("IPv6 address on AF_INET accepted")
	}
	if err := d.SetUDPAddr(unix.AF_INET, a4.Addr[:], 70000, 0); err == nil {
		t.Error("port 70000 accepted")
	}
	if err := d.SetRawAddr([]byte{1}); err == nil {
		t.Error("1-byte raw address accepted")
	}
	if err := d.SetRawAddr([]byte{0xff, 0xff, 0, 0}); err == nil {
		t.Error("raw address of family 0xffff accepted")
	}
	if _, err := r.SendDatagram(cli, nil, 0, "x"); err == nil {
		t.Error("nil Datagram accepted")
	}
	if _, err := ParseRecvMsgOut(make([]byte, 10), 0, 0); err == nil {
		t.Error("10-byte multishot buffer parsed")
	}
	br := newBufRing(t, r, 2, 2, 32)
	if _, err := r.RecvMsgMultishot(srv4, br, 28, 0, 0, "x"); err == nil {
		t.Error("RecvMsgMultishot with no room for a payload accepted")
	}
	if _, err := r.RecvMsgMultishot(srv4, br, -1, 0, 0, "x"); err == nil {
		t.Error("negative name length accepted")
	}
	if r.ActiveOps() != 0 {
		t.Errorf("ActiveOps = %d", r.ActiveOps())
	}
}

// Sends and multishot receives of datagrams allocate nothing once the
// ring's slots exist.
func TestDatagramAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	testutil.CheckFDs(t)
	r := newRing[string](t, 16)
	br := newBufRing(t, r, 1, 8, 128)
	srv, srvAddr := udpSocket(t, unix.AF_INET)
	cli, _ := udpSocket(t, unix.AF_INET)
	if _, err := r.RecvMsgMultishot(srv, br, 28, 0, 0, "recv"); err != nil {
		t.Fatal(err)
	}
	a4 := srvAddr.(*unix.SockaddrInet4)
	var d, reply Datagram
	d.SetPayload([]byte("ping"))
	if err := d.SetUDPAddr(unix.AF_INET, a4.Addr[:], a4.Port, 0); err != nil {
		t.Fatal(err)
	}
	reply.SetPayload([]byte("pong"))
	buf := make([]byte, 16)
	round := func() {
		if _, err := r.SendDatagram(cli, &d, 0, "send"); err != nil {
			t.Fatal(err)
		}
		var got, sent bool
		for !got || !sent {
			c := wait(t, r)
			switch {
			case c.Err() != nil:
				if errors.Is(c.Err(), syscall.EINVAL) {
					t.Skip("no multishot recvmsg")
				}
				t.Fatalf("%s: %v", c.Data, c.Err())
			case c.Data == "send":
				sent = true
			case c.Data == "recv":
				bid, _ := c.BufferID()
				out, err := ParseRecvMsgOut(br.Buf(bid, int(c.Result)), 28, 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := reply.SetRawAddr(out.Name); err != nil {
					t.Fatal(err)
				}
				br.Recycle(bid)
				got = true
			}
		}
		if _, err := r.SendDatagram(srv, &reply, 0, "reply"); err != nil {
			t.Fatal(err)
		}
		if c := waitOK(t, r, "reply"); c.Data != "reply" {
			t.Fatalf("completion %+v", c)
		}
		if _, err := unix.Read(cli, buf); err != nil {
			t.Fatal(err)
		}
	}
	round()
	if n := testing.AllocsPerRun(200, round); n != 0 {
		t.Errorf("%.1f allocations per datagram round trip, want 0", n)
	}
	r.CancelAll("cancel")
	for r.ActiveOps() > 0 {
		wait(t, r)
	}
}
