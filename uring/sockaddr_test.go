package uring

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

func rawBytes(raw *unix.RawSockaddrAny, n uint32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(raw)), n)
}

func TestSockaddrRoundTrip(t *testing.T) {
	testutil.CheckFDs(t)
	for _, tc := range []struct {
		name string
		sa   unix.Sockaddr
		n    uint32
	}{
		{"inet4", &unix.SockaddrInet4{Port: 8080, Addr: [4]byte{127, 0, 0, 1}}, 16},
		{"inet4 port 0", &unix.SockaddrInet4{}, 16},
		{"inet4 port max", &unix.SockaddrInet4{Port: 65535, Addr: [4]byte{10, 1, 2, 3}}, 16},
		{"inet6", &unix.SockaddrInet6{Port: 443, ZoneId: 3, Addr: [16]byte{0: 0xfe, 1: 0x80, 15: 1}}, 28},
		{"unix path", &unix.SockaddrUnix{Name: "/tmp/sock"}, 2 + 10},
		{"unix path 107", &unix.SockaddrUnix{Name: strings.Repeat("p", 107)}, 110},
		{"unix path 108 (no NUL)", &unix.SockaddrUnix{Name: strings.Repeat("p", 108)}, 110},
		{"unix abstract", &unix.SockaddrUnix{Name: "@uring"}, 2 + 6},
		{"unix abstract with NULs", &unix.SockaddrUnix{Name: "@a\x00b\x00"}, 2 + 5},
		{"unix abstract 107", &unix.SockaddrUnix{Name: "@" + strings.Repeat("a", 107)}, 110},
		{"unix unnamed", &unix.SockaddrUnix{}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw unix.RawSockaddrAny
			n, err := sockaddrToRaw(tc.sa, &raw)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.n {
				t.Errorf("length = %d, want %d", n, tc.n)
			}
			back, err := rawToSockaddr(&raw, n)
			if err != nil {
				t.Fatal(err)
			}
			if !sockaddrEqual(back, tc.sa) {
				t.Errorf("round trip = %#v, want %#v", back, tc.sa)
			}
		})
	}
}

// The port is in network byte order in the raw address, whatever the
// host's byte order; the family is in the host's.
func TestSockaddrPortByteOrder(t *testing.T) {
	testutil.CheckFDs(t)
	var raw unix.RawSockaddrAny
	n, err := sockaddrToRaw(&unix.SockaddrInet4{Port: 0x1234, Addr: [4]byte{1, 2, 3, 4}}, &raw)
	if err != nil {
		t.Fatal(err)
	}
	b := rawBytes(&raw, n)
	if b[2] != 0x12 || b[3] != 0x34 || !bytes.Equal(b[4:8], []byte{1, 2, 3, 4}) {
		t.Errorf("raw sockaddr_in = % x", b)
	}
	if raw.Addr.Family != unix.AF_INET {
		t.Errorf("family = %d", raw.Addr.Family)
	}
	n, _ = sockaddrToRaw(&unix.SockaddrInet6{Port: 0xabcd}, &raw)
	if b := rawBytes(&raw, n); b[2] != 0xab || b[3] != 0xcd {
		t.Errorf("raw sockaddr_in6 = % x", b)
	}
	// And the kernel agrees: bind to a port given here and read it back
	// through getsockname.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	var got Sockaddr
	got.reset()
	if _, _, errno := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&got.raw)), uintptr(unsafe.Pointer(&got.n))); errno != 0 {
		t.Fatal(errno)
	}
	sa, err := got.Sockaddr()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := unix.Getsockname(fd)
	if !sockaddrEqual(sa, want) {
		t.Errorf("getsockname decoded as %#v, x/sys says %#v", sa, want)
	}
}

func TestSockaddrErrors(t *testing.T) {
	testutil.CheckFDs(t)
	for _, tc := range []struct {
		name string
		sa   unix.Sockaddr
		want string
	}{
		{"nil", nil, "nil"},
		{"unsupported type", &unix.SockaddrLinklayer{}, "not supported"},
		{"path too long", &unix.SockaddrUnix{Name: strings.Repeat("p", 109)}, "too long"},
		{"abstract too long", &unix.SockaddrUnix{Name: "@" + strings.Repeat("a", 108)}, "too long"},
		{"NUL in path", &unix.SockaddrUnix{Name: "/tmp/a\x00b"}, "NUL"},
		{"port too big", &unix.SockaddrInet4{Port: 65536}, "port"},
		{"negative port", &unix.SockaddrInet6{Port: -1}, "port"},
	} {
		var raw unix.RawSockaddrAny
		if _, err := sockaddrToRaw(tc.sa, &raw); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	var empty Sockaddr
	if _, err := empty.Sockaddr(); err == nil {
		t.Error("an unfilled Sockaddr converted without error")
	}
	var raw unix.RawSockaddrAny
	raw.Addr.Family = unix.AF_INET
	if _, err := rawToSockaddr(&raw, 8); err == nil {
		t.Error("an 8-byte sockaddr_in decoded")
	}
	raw.Addr.Family = unix.AF_PACKET
	if _, err := rawToSockaddr(&raw, 20); err == nil || !strings.Contains(err.Error(), "family") {
		t.Errorf("AF_PACKET: err = %v", err)
	}
	if _, err := rawToSockaddr(&raw, uint32(sizeofAny)+1); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("oversized length: err = %v", err)
	}
}

// FuzzSockaddr checks that decoding any bytes the kernel could return
// either fails with an error or yields a Sockaddr whose encoding is the
// canonical form of those bytes: identical in every field a unix.Sockaddr
// represents (family, port, address, IPv6 scope, Unix name), with padding
// and IPv6 flow information, which it does not represent, zeroed. The
// canonical form is a fixed point: decoding and encoding it again changes
// nothing.
func FuzzSockaddr(f *testing.F) {
	for _, sa := range []unix.Sockaddr{
		&unix.SockaddrInet4{Port: 80, Addr: [4]byte{127, 0, 0, 1}},
		&unix.SockaddrInet6{Port: 443, ZoneId: 2, Addr: [16]byte{15: 1}},
		&unix.SockaddrUnix{Name: "/run/x.sock"},
		&unix.SockaddrUnix{Name: "@abstract\x00name"},
		&unix.SockaddrUnix{},
		&unix.SockaddrUnix{Name: strings.Repeat("z", 108)},
	} {
		var raw unix.RawSockaddrAny
		n, err := sockaddrToRaw(sa, &raw)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.Clone(rawBytes(&raw, n)))
	}
	// Past failures: a pathname starting with @, which SockaddrUnix
	// cannot tell from an abstract name, and an AF_UNIX address longer
	// than sockaddr_un.
	f.Add([]byte("\x01\x00@"))
	f.Add(append([]byte{1, 0}, bytes.Repeat([]byte{'0'}, 109)...))
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(make([]byte, 200))
	f.Fuzz(func(t *testing.T, in []byte) {
		var raw unix.RawSockaddrAny
		copy(rawBytes(&raw, uint32(sizeofAny)), in)
		sa, err := rawToSockaddr(&raw, uint32(len(in)))
		if err != nil {
			return
		}
		var out unix.RawSockaddrAny
		n, err := sockaddrToRaw(sa, &out)
		if err != nil {
			t.Fatalf("decoded % x as %#v, which does not encode: %v", in, sa, err)
		}
		got := rawBytes(&out, n)
		same := func(what string, lo, hi int) {
			if !bytes.Equal(got[lo:hi], in[lo:hi]) {
				t.Fatalf("%s differs: in % x, out % x", what, in, got)
			}
		}
		zero := func(what string, lo, hi int) {
			if hi > len(got) {
				hi = len(got)
			}
			if !bytes.Equal(got[lo:hi], make([]byte, hi-lo)) {
				t.Fatalf("%s not zeroed: % x", what, got)
			}
		}
		same("family", 0, 2)
		switch raw.Addr.Family {
		case unix.AF_INET:
			same("port and address", 2, 8)
			zero("padding", 8, 16)
		case unix.AF_INET6:
			same("port", 2, 4)
			zero("flow info", 4, 8)
			same("address and scope", 8, 28)
		case unix.AF_UNIX:
			// An abstract name or an unnamed address is kept byte for
			// byte; a pathname up to its NUL, which the encoding always
			// has unless the name fills sun_path.
			want := bytes.Clone(in[2:])
			if len(want) > 0 && want[0] != 0 {
				if i := bytes.IndexByte(want, 0); i >= 0 {
					want = want[:i+1]
				} else if len(want) < maxUnixPath {
					want = append(want, 0)
				}
			}
			if !bytes.Equal(got[2:], want) {
				t.Fatalf("unix name: in % x, out % x", in, got)
			}
		default:
			t.Fatalf("decoded family %d as %#v", raw.Addr.Family, sa)
		}
		again, err := rawToSockaddr(&out, n)
		if err != nil || !sockaddrEqual(again, sa) {
			t.Fatalf("canonical form % x decodes as %#v, %v; want %#v", got, again, err, sa)
		}
	})
}

// sockaddrEqual compares the exported fields of two addresses: x/sys keeps
// an encoding cache in unexported fields, filled in when an address is
// passed to a system call, which reflect.DeepEqual would compare too.
func sockaddrEqual(a, b unix.Sockaddr) bool {
	switch a := a.(type) {
	case *unix.SockaddrInet4:
		b, ok := b.(*unix.SockaddrInet4)
		return ok && a.Port == b.Port && a.Addr == b.Addr
	case *unix.SockaddrInet6:
		b, ok := b.(*unix.SockaddrInet6)
		return ok && a.Port == b.Port && a.ZoneId == b.ZoneId && a.Addr == b.Addr
	case *unix.SockaddrUnix:
		b, ok := b.(*unix.SockaddrUnix)
		return ok && a.Name == b.Name
	}
	return a == nil && b == nil
}
