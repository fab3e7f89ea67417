package sock

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// fdOf is c's socket.
func fdOf(t *testing.T, c syscall.Conn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	if err := rc.Control(func(s uintptr) { fd = int(s) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestStreamAddrsMatchNet checks LocalAddr and RemoteAddr on the
// listener, dialing and accepted sockets of net's own connections against
// what net reports for them.
func TestStreamAddrsMatchNet(t *testing.T) {
	dir := t.TempDir()
	abstract := fmt.Sprintf("@uring-sock-test-%d", os.Getpid())
	cases := []streamCase{
		{"tcp4", "tcp4", "127.0.0.1:0", nil, ""},
		{"tcp6", "tcp6", "[::1]:0", nil, ""},
		{"tcp dual-stack", "tcp", ":0", nil, ""},
		{"unix path, unnamed peer", "unix", filepath.Join(dir, "s"), nil, ""},
		{"unix abstract, unnamed peer", "unix", abstract, nil, ""},
		{"unix abstract, abstract peer", "unix", abstract + "-2", &net.UnixAddr{Name: abstract + "-peer", Net: "unix"}, ""},
		{"unix path, path peer", "unix", filepath.Join(dir, "s2"), &net.UnixAddr{Name: filepath.Join(dir, "peer"), Net: "unix"}, ""},
	}
	t.Run("zone", func(t *testing.T) {
		ip, zone := testutil.LinkLocal(t)
		testStream(t, streamCase{"tcp6 zone", "tcp6", net.JoinHostPort(ip.String()+"%"+zone, "0"), nil, zone})
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { testStream(t, c) })
	}
}

type streamCase struct {
	name, network, addr string
	local               net.Addr // the dialer's, if any
	zone                string   // the listener's address's
}

func testStream(t *testing.T, c streamCase) {
	testutil.CheckFDs(t)
	ln, err := net.Listen(c.network, c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{LocalAddr: c.local, Timeout: 5 * time.Second}
	cc, sc := testutil.Connect(t, ln, d.Dial, c.zone)
	lfd := fdOf(t, ln.(syscall.Conn))
	testutil.CheckAddr(t, "listener", LocalAddr(lfd, unix.SOCK_STREAM), ln.Addr())
	for _, s := range []struct {
		name string
		c    net.Conn
	}{{"dialed", cc}, {"accepted", sc}} {
		fd := fdOf(t, s.c.(syscall.Conn))
		testutil.CheckAddr(t, s.name+" local", LocalAddr(fd, unix.SOCK_STREAM), s.c.LocalAddr())
		testutil.CheckAddr(t, s.name+" remote", RemoteAddr(fd, unix.SOCK_STREAM), s.c.RemoteAddr())
		sa, err := unix.Getpeername(fd)
		if err != nil {
			t.Fatal(err)
		}
		testutil.CheckAddr(t, s.name+" remote, decoded", Addr(unix.SOCK_STREAM, sa), s.c.RemoteAddr())
	}
	if c.network == "unix" && c.local == nil {
		// uring decodes an accept's unnamed peer as an empty name.
		testutil.CheckAddr(t, "accepted remote, unnamed", Addr(unix.SOCK_STREAM, &unix.SockaddrUnix{}), sc.RemoteAddr())
	}
}

// TestPacketAddrsMatchNet checks datagram sockets' addresses, and a
// sender's as a receiver sees it, against net's.
func TestPacketAddrsMatchNet(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, network, addr string
		local               string // the sender's, "" for none
	}{
		{"udp4", "udp4", "127.0.0.1:0", "127.0.0.1:0"},
		{"udp6", "udp6", "[::1]:0", "[::1]:0"},
		{"unixgram, named sender", "unixgram", filepath.Join(dir, "g"), filepath.Join(dir, "sender")},
		{"unixgram, unnamed sender", "unixgram", filepath.Join(dir, "g2"), ""},
		{"zone", "udp6", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "zone" {
				ip, zone := testutil.LinkLocal(t)
				c.addr = net.JoinHostPort(ip.String()+"%"+zone, "0")
				c.local = c.addr
			}
			testutil.CheckFDs(t)
			pc, err := net.ListenPacket(c.network, c.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			var sender interface {
				LocalAddr() net.Addr
				Close() error
			}
			if c.local != "" {
				s, err := net.ListenPacket(c.network, c.local)
				if err != nil {
					t.Fatal(err)
				}
				sender = s
				if _, err := s.WriteTo([]byte("x"), pc.LocalAddr()); err != nil {
					t.Fatal(err)
				}
			} else {
				s, err := net.DialUnix(c.network, nil, pc.LocalAddr().(*net.UnixAddr))
				if err != nil {
					t.Fatal(err)
				}
				sender = s
				if _, err := s.Write([]byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			defer sender.Close()
			pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, from, err := pc.ReadFrom(make([]byte, 8))
			if err != nil {
				t.Fatal(err)
			}
			pfd, sfd := fdOf(t, pc.(syscall.Conn)), fdOf(t, sender.(syscall.Conn))
			testutil.CheckAddr(t, "receiver", LocalAddr(pfd, unix.SOCK_DGRAM), pc.LocalAddr())
			testutil.CheckAddr(t, "sender", LocalAddr(sfd, unix.SOCK_DGRAM), sender.LocalAddr())
			sa, err := unix.Getsockname(sfd)
			if err != nil {
				t.Fatal(err)
			}
			if c.local == "" {
				// What a receive reports for an unnamed sender: no
				// name (uring decodes it as an empty one).
				sa = &unix.SockaddrUnix{}
			}
			testutil.CheckAddr(t, "sender as received", Addr(unix.SOCK_DGRAM, sa), from)
		})
	}
}

func TestZoneNames(t *testing.T) {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range ifs {
		if got := ZoneName(uint32(ifi.Index)); got != ifi.Name {
			t.Errorf("ZoneName(%d) = %q, want %q", ifi.Index, got, ifi.Name)
		}
		if got := ZoneIndex(ifi.Name); got != uint32(ifi.Index) {
			t.Errorf("ZoneIndex(%q) = %d, want %d", ifi.Name, got, ifi.Index)
		}
	}
	// An index no interface has is named by its number, as net names it
	// (its zone cache falls back to the decimal index), and read back.
	const none = 1 << 30
	if _, err := net.InterfaceByIndex(none); err == nil {
		t.Skip("an interface has index", none)
	}
	if got := ZoneName(none); got != strconv.Itoa(none) {
		t.Errorf("ZoneName(%d) = %q, want the number", none, got)
	}
	for zone, want := range map[string]uint32{"": 0, strconv.Itoa(none): none, "no-such-interface": 0} {
		if got := ZoneIndex(zone); got != want {
			t.Errorf("ZoneIndex(%q) = %d, want %d", zone, got, want)
		}
	}
	if got := ZoneName(0); got != "" {
		t.Errorf("ZoneName(0) = %q", got)
	}
}

func TestIPSockaddr(t *testing.T) {
	for _, c := range []struct {
		family int
		ip     net.IP
		zone   string
		want   unix.Sockaddr
		fails  bool
	}{
		{unix.AF_INET, net.ParseIP("10.1.2.3"), "", &unix.SockaddrInet4{Port: 80, Addr: [4]byte{10, 1, 2, 3}}, false},
		{unix.AF_INET, nil, "", &unix.SockaddrInet4{Port: 80}, false},
		{unix.AF_INET, net.IPv6unspecified, "", &unix.SockaddrInet4{Port: 80}, false},
		{unix.AF_INET, net.ParseIP("::1"), "", nil, true},
		{unix.AF_INET6, nil, "", &unix.SockaddrInet6{Port: 80}, false},
		{unix.AF_INET6, net.IPv4zero, "", &unix.SockaddrInet6{Port: 80}, false},
		{unix.AF_INET6, net.ParseIP("10.1.2.3"), "", &unix.SockaddrInet6{Port: 80, Addr: [16]byte{10: 0xff, 11: 0xff, 12: 10, 13: 1, 14: 2, 15: 3}}, false},
		{unix.AF_INET6, net.ParseIP("fe80::1"), "7", &unix.SockaddrInet6{Port: 80, ZoneId: 7, Addr: [16]byte{0: 0xfe, 1: 0x80, 15: 1}}, false},
	} {
		got, err := IPSockaddr(c.family, c.ip, 80, c.zone)
		if (err != nil) != c.fails || !c.fails && !reflect.DeepEqual(got, c.want) {
			t.Errorf("IPSockaddr(%d, %v, 80, %q) = %#v, %v; want %#v (fails %v)", c.family, c.ip, c.zone, got, err, c.want, c.fails)
		}
	}
}

func TestSomaxconn(t *testing.T) {
	want := unix.SOMAXCONN
	if b, err := os.ReadFile("/proc/sys/net/core/somaxconn"); err == nil {
		if n, err := strconv.Atoi(string(b[:len(b)-1])); err == nil && n > 0 {
			want = n
		}
	}
	if got := Somaxconn(); got != want {
		t.Errorf("Somaxconn() = %d, want %d", got, want)
	}
}

func TestSetKeepAlive(t *testing.T) {
	testutil.CheckFDs(t)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	get := func() [4]int {
		var v [4]int
		for i, o := range [][2]int{{unix.SOL_SOCKET, unix.SO_KEEPALIVE}, {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE}, {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL}, {unix.IPPROTO_TCP, unix.TCP_KEEPCNT}} {
			if v[i], err = unix.GetsockoptInt(fd, o[0], o[1]); err != nil {
				t.Fatal(err)
			}
		}
		return v
	}
	for _, c := range []struct {
		on                    bool
		idle, interval, count int
		want                  [4]int
	}{
		{true, 7, 3, 4, [4]int{1, 7, 3, 4}},
		{true, -1, 5, -1, [4]int{1, 7, 5, 4}},
		{false, 9, -1, 2, [4]int{0, 9, 5, 2}},
	} {
		if err := SetKeepAlive(fd, c.on, c.idle, c.interval, c.count); err != nil {
			t.Fatal(err)
		}
		if got := get(); got != c.want {
			t.Errorf("SetKeepAlive(%v, %d, %d, %d): options %v, want %v", c.on, c.idle, c.interval, c.count, got, c.want)
		}
	}
}
