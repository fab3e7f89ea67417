package uringnet

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/sock"
)

// FuzzAddrRoundTrip checks the conversions between the kernel's socket
// addresses and net's: sockaddrToAddr gives the *net.TCPAddr or
// *net.UnixAddr net reports for the address, field for field, in memory
// of its own; and addrSockaddr and packetSockaddr, given that address
// back with the network of its family, give the same kernel address in
// the same family. The only changes are net's own rules: the IPv4-mapped
// unspecified address binds as ::, an unnamed Unix socket is reported as
// "@" (which addresses the empty abstract name), "tcp" and "udp" carry an
// IPv4-mapped address over AF_INET, and "tcp6" and "udp6" carry an IPv4
// one IPv4-mapped over AF_INET6 (where the kernel refuses it, EINVAL,
// as with net).
// (uring's FuzzSockaddr covers the step from the kernel's bytes to a
// unix.Sockaddr.)
//
// Input: byte 0 picks the family; for IP, the next two bytes are the
// port, then the address (4 or 16 bytes) and, for IPv6, the scope ID;
// for Unix, the rest is the name.
func FuzzAddrRoundTrip(f *testing.F) {
	f.Add([]byte{0, 0x1f, 0x90, 127, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0x01, 0xbb, 0xfe, 0x80, 18: 1, 22: 1})     // fe80::1, scope 1 (lo)
	f.Add([]byte{1, 0, 80, 13: 0xff, 14: 0xff, 15: 10, 18: 1}) // ::ffff:10.0.0.1
	f.Add([]byte{1, 0, 80, 13: 0xff, 14: 0xff, 18: 0})         // ::ffff:0.0.0.0
	f.Add([]byte{1, 0, 80, 18: 0, 0xff, 0xff, 0xff, 0xff})     // scope 2^32-1, no such interface
	f.Add([]byte("\x02/run/x.sock"))
	f.Add([]byte("\x02@abstract\x00name"))
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, in []byte) {
		sa, ok := decodeSockaddr(in)
		if !ok {
			return
		}
		a := sockaddrToAddr(sa)
		switch sa := sa.(type) {
		case *unix.SockaddrInet4:
			ta, ok := a.(*net.TCPAddr)
			if !ok || len(ta.IP) != 4 || [4]byte(ta.IP) != sa.Addr || ta.Port != sa.Port || ta.Zone != "" {
				t.Fatalf("%+v reported as %#v", sa, a)
			}
			checkIPBack(t, sa, ta.IP, ta.Port, ta.Zone)
		case *unix.SockaddrInet6:
			ta, ok := a.(*net.TCPAddr)
			if !ok || len(ta.IP) != 16 || [16]byte(ta.IP) != sa.Addr || ta.Port != sa.Port {
				t.Fatalf("%+v reported as %#v", sa, a)
			}
			if got := sock.ZoneIndex(ta.Zone); got != sa.ZoneId {
				t.Fatalf("scope %d reported as zone %q, which names scope %d", sa.ZoneId, ta.Zone, got)
			}
			if sa.ZoneId == 0 && ta.Zone != "" {
				t.Fatalf("no scope reported as zone %q", ta.Zone)
			}
			checkIPBack(t, sa, ta.IP, ta.Port, ta.Zone)
		case *unix.SockaddrUnix:
			ua, ok := a.(*net.UnixAddr)
			want := sa.Name
			if want == "" {
				want = "@"
			}
			if !ok || ua.Name != want || ua.Net != "unix" {
				t.Fatalf("%+v reported as %#v, want name %q", sa, a, want)
			}
			fam, back, err := addrSockaddr("unix", ua)
			if err != nil || fam != unix.AF_UNIX {
				t.Fatalf("addrSockaddr(unix, %v) = %d, %v", ua, fam, err)
			}
			if got := back.(*unix.SockaddrUnix).Name; got != want {
				t.Fatalf("%q back as %q", want, got)
			}
			fam, back, err = packetSockaddr("unixgram", &net.UnixAddr{Name: ua.Name, Net: "unixgram"})
			if err != nil || fam != unix.AF_UNIX || back.(*unix.SockaddrUnix).Name != want {
				t.Fatalf("packetSockaddr(unixgram, %q) = %d, %#v, %v", want, fam, back, err)
			}
		}
	})
}

// decodeSockaddr makes a unix.Sockaddr of the fuzzer's bytes.
func decodeSockaddr(in []byte) (unix.Sockaddr, bool) {
	if len(in) < 1 {
		return nil, false
	}
	fam, rest := in[0]%3, in[1:]
	if fam == 2 {
		return &unix.SockaddrUnix{Name: string(rest)}, true
	}
	if len(rest) < 2 {
		return nil, false
	}
	port := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if fam == 0 {
		if len(rest) < 4 {
			return nil, false
		}
		return &unix.SockaddrInet4{Port: port, Addr: [4]byte(rest)}, true
	}
	if len(rest) < 16 {
		return nil, false
	}
	sa := &unix.SockaddrInet6{Port: port, Addr: [16]byte(rest)}
	if len(rest) >= 20 {
		sa.ZoneId = binary.BigEndian.Uint32(rest[16:])
	}
	return sa, true
}

// checkIPBack converts an IP address as reported back into a kernel
// address with each network that may carry it, stream and datagram, and
// checks that it is the one reported, by net's rules.
func checkIPBack(t *testing.T, sa unix.Sockaddr, ip net.IP, port int, zone string) {
	t.Helper()
	v4 := ip.To4() // also an IPv4-mapped IPv6 address
	for _, network := range []string{"tcp", "tcp4", "tcp6"} {
		var want unix.Sockaddr
		var wantFam int
		switch {
		case network == "tcp4" && v4 == nil:
			// The address is not IPv4: net refuses it. (An IPv4
			// address with "tcp6" goes in IPv4-mapped, below, as
			// net's ipToSockaddrInet6 takes it; the kernel refuses
			// it on the IPv6-only socket.)
		case network == "tcp6" || network == "tcp" && v4 == nil:
			w := &unix.SockaddrInet6{Port: port}
			if s6, ok := sa.(*unix.SockaddrInet6); ok {
				w.ZoneId = s6.ZoneId
			}
			if !ip.Equal(net.IPv4zero) {
				copy(w.Addr[:], ip.To16())
			}
			want, wantFam = w, unix.AF_INET6
		default:
			want, wantFam = &unix.SockaddrInet4{Port: port, Addr: [4]byte(v4)}, unix.AF_INET
		}
		for _, datagram := range []bool{false, true} {
			var fam int
			var got unix.Sockaddr
			var err error
			if datagram {
				fam, got, err = packetSockaddr("udp"+network[3:], &net.UDPAddr{IP: ip, Port: port, Zone: zone})
			} else {
				fam, got, err = addrSockaddr(network, &net.TCPAddr{IP: ip, Port: port, Zone: zone})
			}
			if want == nil {
				var ae *net.AddrError
				if !errors.As(err, &ae) {
					t.Fatalf("%s (datagram %v) address %v: %d, %#v, %v; want a *net.AddrError", network, datagram, ip, fam, got, err)
				}
				continue
			}
			if err != nil || fam != wantFam || !sockaddrSame(got, want) {
				t.Fatalf("%s (datagram %v) address %v port %d zone %q: %d, %#v, %v; want %d, %#v", network, datagram, ip, port, zone, fam, got, err, wantFam, want)
			}
		}
	}
	// What was reported is the caller's to change.
	ip[0] ^= 0xff
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		if sa.Addr[0] == ip[0] {
			t.Fatal("the reported IP shares memory with the kernel address")
		}
	case *unix.SockaddrInet6:
		if sa.Addr[0] == ip[0] {
			t.Fatal("the reported IP shares memory with the kernel address")
		}
	}
	ip[0] ^= 0xff
}

// sockaddrSame compares the exported fields of two IP socket addresses.
func sockaddrSame(a, b unix.Sockaddr) bool {
	switch a := a.(type) {
	case *unix.SockaddrInet4:
		b, ok := b.(*unix.SockaddrInet4)
		return ok && a.Port == b.Port && a.Addr == b.Addr
	case *unix.SockaddrInet6:
		b, ok := b.(*unix.SockaddrInet6)
		return ok && a.Port == b.Port && a.ZoneId == b.ZoneId && a.Addr == b.Addr
	}
	return false
}
