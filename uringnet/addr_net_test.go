package uringnet

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

// TestStreamAddrsBesideNet connects net's and this package's sockets to
// each other, both ways round, and checks that each end names the other
// as net names it: tcp4, tcp6 with and without a zone, unix with a path,
// an abstract name, an unnamed and a named peer.
func TestStreamAddrsBesideNet(t *testing.T) {
	dir := t.TempDir()
	abstract := fmt.Sprintf("@uringnet-addr-%d", os.Getpid())
	type tc struct {
		name, network, addr string
		local               net.Addr
		zone                string
	}
	cases := []tc{
		{"tcp4", "tcp4", "127.0.0.1:0", nil, ""},
		{"tcp6", "tcp6", "[::1]:0", nil, ""},
		{"unix, unnamed peer", "unix", filepath.Join(dir, "s"), nil, ""},
		{"unix abstract, unnamed peer", "unix", abstract, nil, ""},
		{"unix abstract, abstract peer", "unix", abstract + "-2", &net.UnixAddr{Name: abstract + "-peer", Net: "unix"}, ""},
		{"unix, named peer", "unix", filepath.Join(dir, "s2"), &net.UnixAddr{Name: filepath.Join(dir, "peer"), Net: "unix"}, ""},
		{"tcp6 zone", "tcp6", "", nil, "zone"},
	}
	for _, c := range cases {
		for _, oursListens := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/our listener %v", c.name, oursListens), func(t *testing.T) {
				if c.zone != "" {
					ip, zone := testutil.LinkLocal(t)
					c.addr, c.zone = net.JoinHostPort(ip.String()+"%"+zone, "0"), zone
				}
				testutil.CheckFDs(t)
				if c.network == "unix" {
					os.Remove(c.addr)
					if ua, ok := c.local.(*net.UnixAddr); ok {
						os.Remove(ua.Name)
					}
				}
				listen, dial := net.Listen, (&net.Dialer{LocalAddr: c.local, Timeout: 5 * time.Second}).Dial
				if oursListens {
					listen = Listen
				} else {
					dial = (&Dialer{LocalAddr: c.local, Timeout: 5 * time.Second}).Dial
				}
				ln, err := listen(c.network, c.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				cc, sc := testutil.Connect(t, ln, dial, c.zone)
				testutil.CheckAddr(t, "server's peer and client's address", sc.RemoteAddr(), cc.LocalAddr())
				testutil.CheckAddr(t, "server's address and client's peer", sc.LocalAddr(), cc.RemoteAddr())
				if c.zone == "" {
					testutil.CheckAddr(t, "listener's address and client's peer", ln.Addr(), cc.RemoteAddr())
				}
			})
		}
	}
}

// TestPacketAddrsBesideNet sends a datagram to a receiver of net's and
// one of this package's, from a sender of net's or this package's: each
// receiver must name its sender as the sender names itself (or not at
// all, for an unnamed Unix socket, as net's ReadFrom does), and a
// receiver's own address must be what net reports on the same address.
func TestPacketAddrsBesideNet(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, network, addr, sender string // sender "" for an unnamed one
	}{
		{"udp4", "udp4", "127.0.0.1:0", "127.0.0.1:0"},
		{"udp6", "udp6", "[::1]:0", "[::1]:0"},
		{"udp6 zone", "udp6", "zone", "zone"},
		{"unixgram, named sender", "unixgram", "r", "s"},
		{"unixgram, unnamed sender", "unixgram", "r2", ""},
		{"unixgram abstract", "unixgram", fmt.Sprintf("@uringnet-gram-%d", os.Getpid()), fmt.Sprintf("@uringnet-gram-sender-%d", os.Getpid())},
	} {
		for _, oursSends := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/our sender %v", c.name, oursSends), func(t *testing.T) {
				if c.addr == "zone" {
					ip, zone := testutil.LinkLocal(t)
					c.addr = net.JoinHostPort(ip.String()+"%"+zone, "0")
					c.sender = c.addr
				}
				testutil.CheckFDs(t)
				where := func(name, tag string) string {
					if c.network != "unixgram" || name == "" {
						return name
					}
					if name[0] == '@' {
						return name + tag
					}
					return filepath.Join(dir, fmt.Sprint(name, tag, oursSends))
				}
				nr, err := net.ListenPacket(c.network, where(c.addr, "-net"))
				if err != nil {
					t.Fatal(err)
				}
				defer nr.Close()
				or, err := ListenPacket(c.network, where(c.addr, "-ours"))
				if err != nil {
					t.Fatal(err)
				}
				defer or.Close()
				want := nr.LocalAddr()
				switch a := want.(type) {
				case *net.UDPAddr:
					// The same address, on our socket's port.
					b := *a
					b.Port = or.LocalAddr().(*net.UDPAddr).Port
					want = &b
				case *net.UnixAddr:
					want = &net.UnixAddr{Name: where(c.addr, "-ours"), Net: a.Net}
				}
				testutil.CheckAddr(t, "receiver's address", or.LocalAddr(), want)

				var froms [2]net.Addr
				for i, r := range []net.PacketConn{nr, or} {
					var s interface {
						LocalAddr() net.Addr
						Write([]byte) (int, error)
						Close() error
					}
					// A connected sender: an unnamed Unix socket
					// cannot send unconnected.
					raddr := r.LocalAddr()
					if c.network == "unixgram" {
						var laddr *net.UnixAddr
						if c.sender != "" {
							laddr = &net.UnixAddr{Name: where(c.sender, fmt.Sprint("-s", i)), Net: c.network}
						}
						if oursSends {
							d := &Dialer{}
							if laddr != nil {
								d.LocalAddr = laddr
							}
							s, err = d.Dial(c.network, raddr.String())
						} else {
							s, err = net.DialUnix(c.network, laddr, raddr.(*net.UnixAddr))
						}
					} else {
						laddr, _ := net.ResolveUDPAddr(c.network, c.sender)
						if oursSends {
							s, err = DialUDP(c.network, laddr, raddr.(*net.UDPAddr))
						} else {
							s, err = net.DialUDP(c.network, laddr, raddr.(*net.UDPAddr))
						}
					}
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					if _, err := s.Write([]byte("x")); err != nil {
						t.Fatal(err)
					}
					r.SetReadDeadline(time.Now().Add(5 * time.Second))
					if _, froms[i], err = r.ReadFrom(make([]byte, 8)); err != nil {
						t.Fatal(err)
					}
					if c.sender != "" {
						testutil.CheckAddr(t, "sender's address", s.LocalAddr(), froms[i])
					}
				}
				// Each receiver had a sender of its own: the same
				// kind of address, or none for both.
				if (froms[0] == nil) != (froms[1] == nil) || froms[0] != nil && (reflect.TypeOf(froms[0]) != reflect.TypeOf(froms[1]) || froms[0].Network() != froms[1].Network()) {
					t.Errorf("sender as received: ours %#v, net's %#v", froms[1], froms[0])
				}
			})
		}
	}
}
