package uringnet

import (
	"errors"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestUnixgramFromTo checks PacketConn.ReadFromUnix and WriteToUnix
// against net.UnixConn's: datagrams both ways between the packages, the
// senders' addresses, and the errors for every refused destination and
// after Close.
func TestUnixgramFromTo(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	addr := func(name string) *net.UnixAddr {
		return &net.UnixAddr{Name: filepath.Join(dir, name), Net: "unixgram"}
	}
	c, err := ListenUnixgram("unixgram", addr("ours"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nc, err := net.ListenUnixgram("unixgram", addr("net"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	deadline := time.Now().Add(10 * time.Second)
	c.SetDeadline(deadline)
	nc.SetDeadline(deadline)
	buf := make([]byte, 16)
	if _, err := c.WriteToUnix([]byte("to net"), addr("net")); err != nil {
		t.Fatal(err)
	}
	n, from, err := nc.ReadFromUnix(buf)
	if err != nil || string(buf[:n]) != "to net" || addrKey(from) != addrKey(addr("ours")) {
		t.Fatalf("net's ReadFromUnix: %q from %v, %v", buf[:n], from, err)
	}
	if _, err := nc.WriteToUnix([]byte("to ours"), addr("ours")); err != nil {
		t.Fatal(err)
	}
	n, from, err = c.ReadFromUnix(buf)
	if err != nil || string(buf[:n]) != "to ours" || addrKey(from) != addrKey(addr("net")) {
		t.Fatalf("ReadFromUnix: %q from %v, %v", buf[:n], from, err)
	}
	// An unnamed sender: nil, as net's.
	anon, err := Dial("unixgram", addr("ours").Name)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	nanon, err := net.Dial("unixgram", addr("net").Name)
	if err != nil {
		t.Fatal(err)
	}
	defer nanon.Close()
	anon.Write([]byte("anon"))
	nanon.Write([]byte("anon"))
	_, from, err = c.ReadFromUnix(buf)
	_, nfrom, nerr := nc.ReadFromUnix(buf)
	if err != nil || nerr != nil || from != nil || nfrom != nil {
		t.Errorf("unnamed sender: %v, %v; net's %v, %v", from, err, nfrom, nerr)
	}

	ours := []net.Addr{c.LocalAddr()}
	nets := []net.Addr{nc.LocalAddr()}
	for _, tc := range []struct {
		name string
		to   *net.UnixAddr
	}{
		{"nil", nil},
		{"stream address", &net.UnixAddr{Name: addr("other").Name, Net: "unix"}},
		{"no such socket", addr("none")},
	} {
		_, err := c.WriteToUnix([]byte("x"), tc.to)
		_, nerr := nc.WriteToUnix([]byte("x"), tc.to)
		sameErrLike(t, "WriteToUnix to "+tc.name, err, nerr, ours, nets)
	}
	// A connected socket refuses a destination, as net's.
	_, err = anon.(*PacketConn).WriteToUnix([]byte("x"), addr("ours"))
	_, nerr = nanon.(*net.UnixConn).WriteToUnix([]byte("x"), addr("ours"))
	sameErrLike(t, "WriteToUnix on a connected socket", err, nerr, []net.Addr{anon.LocalAddr()}, []net.Addr{nanon.LocalAddr()})

	c.Close()
	nc.Close()
	_, err = c.WriteToUnix([]byte("x"), addr("net"))
	_, nerr = nc.WriteToUnix([]byte("x"), addr("ours"))
	sameErrLike(t, "WriteToUnix after Close", err, nerr, []net.Addr{c.LocalAddr(), addr("net")}, []net.Addr{nc.LocalAddr(), addr("ours")})
	_, _, err = c.ReadFromUnix(buf)
	_, _, nerr = nc.ReadFromUnix(buf)
	sameErrLike(t, "ReadFromUnix after Close", err, nerr, ours, nets)

	// Not a Unix socket.
	u := listenPacketLocal(t, "udp4", "127.0.0.1:0")
	if _, err := u.WriteToUnix([]byte("x"), addr("net")); !errors.Is(err, errNotUnix) {
		t.Errorf("WriteToUnix on UDP: %v", err)
	}
	if _, _, err := u.ReadFromUnix(buf); !errors.Is(err, errNotUnix) {
		t.Errorf("ReadFromUnix on UDP: %v", err)
	}
}

// TestWriteToSyscallName checks that a failed WriteTo, WriteToUDP and
// WriteToUDPAddrPort name the system call as net's do (sendto), for a
// destination the kernel refuses.
func TestWriteToSyscallName(t *testing.T) {
	testutil.CheckFDs(t)
	c := listenPacketLocal(t, "udp4", "127.0.0.1:0")
	nc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// The limited broadcast address with SO_BROADCAST (which both
	// packages set) turned off: the kernel refuses it (EACCES). As
	// net.IPv4bcast is 16 bytes, its AddrPort is IPv4-mapped, which an
	// IPv4 socket takes, as net's does.
	to := &net.UDPAddr{IP: net.IPv4bcast, Port: 9}
	for _, pc := range []interface {
		SyscallConn() (syscall.RawConn, error)
	}{c, nc} {
		rc, _ := pc.SyscallConn()
		rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 0) })
	}
	ours, nets := []net.Addr{c.LocalAddr()}, []net.Addr{nc.LocalAddr()}
	_, err = c.WriteTo([]byte("x"), to)
	_, nerr := nc.WriteTo([]byte("x"), to)
	if err == nil {
		t.Fatal("WriteTo to the broadcast address without SO_BROADCAST succeeded")
	}
	sameErrLike(t, "WriteTo", err, nerr, ours, nets)
	_, err = c.WriteToUDP([]byte("x"), to)
	_, nerr = nc.WriteToUDP([]byte("x"), to)
	sameErrLike(t, "WriteToUDP", err, nerr, ours, nets)
	_, err = c.WriteToUDPAddrPort([]byte("x"), to.AddrPort())
	_, nerr = nc.WriteToUDPAddrPort([]byte("x"), to.AddrPort())
	// net's Addr here is a type of its own (addrPortUDPAddr, printing
	// the AddrPort as given), which ours cannot be: compare the causes.
	var oe, noe *net.OpError
	if !errors.As(err, &oe) || !errors.As(nerr, &noe) || oe.Op != noe.Op || oe.Err.Error() != noe.Err.Error() {
		t.Errorf("WriteToUDPAddrPort: %v; net's %v", err, nerr)
	}
}
