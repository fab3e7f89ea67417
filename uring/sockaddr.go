package uring

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sockaddr holds a socket address the kernel writes: the peer of Accept,
// the source of a RecvMsg. The zero value is ready to use. After the
// operation's completion has been collected, Sockaddr converts it.
//
// A Sockaddr must not be handed to a second operation while the first is
// still active: both would write to it.
type Sockaddr struct {
	raw unix.RawSockaddrAny
	// n is the socklen_t the kernel reads as the room in raw and
	// overwrites with the address's real length. Keeping it here, next to
	// raw, means the operation's slot keeps both alive with one reference.
	n uint32
}

// reset prepares s to receive an address.
func (s *Sockaddr) reset() {
	s.raw = unix.RawSockaddrAny{}
	s.n = uint32(unsafe.Sizeof(s.raw))
}

// Sockaddr returns the address the kernel stored: a *unix.SockaddrInet4,
// *unix.SockaddrInet6 or *unix.SockaddrUnix. An unnamed Unix socket (the
// usual client end) gives a *unix.SockaddrUnix with an empty Name.
func (s *Sockaddr) Sockaddr() (unix.Sockaddr, error) {
	if s.n == 0 {
		return nil, errNoSockaddr
	}
	return rawToSockaddr(&s.raw, s.n)
}

var errNoSockaddr = errorString("uring: Sockaddr holds no address (the operation has not completed, or gave none)")

// maxUnixPath is the size of sun_path. A pathname may fill it (Linux needs
// no NUL terminator then); an abstract name's first byte is the NUL, so the
// name after the @ may be one byte shorter.
const maxUnixPath = len(unix.RawSockaddrUnix{}.Path)

// Offsets of struct sockaddr_un's sun_path and of the address fields of
// sockaddr_in/sockaddr_in6, from the kernel's layout as x/sys declares it.
var (
	unixPathOff = int(unsafe.Offsetof(unix.RawSockaddrUnix{}.Path))
	sizeofInet4 = int(unsafe.Sizeof(unix.RawSockaddrInet4{}))
	sizeofInet6 = int(unsafe.Sizeof(unix.RawSockaddrInet6{}))
	sizeofUnix  = int(unsafe.Sizeof(unix.RawSockaddrUnix{}))
	sizeofAny   = int(unsafe.Sizeof(unix.RawSockaddrAny{}))
)

// sockaddrToRaw encodes sa as the kernel expects it, into raw, and returns
// the length to pass with it. Only the families Sockaddr decodes are
// accepted, so that whatever goes in can come back out.
func sockaddrToRaw(sa unix.Sockaddr, raw *unix.RawSockaddrAny) (uint32, error) {
	*raw = unix.RawSockaddrAny{}
	b := (*[unsafe.Sizeof(unix.RawSockaddrAny{})]byte)(unsafe.Pointer(raw))
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		if sa.Port < 0 || sa.Port > 0xffff {
			return 0, fmt.Errorf("uring: IPv4 port %d out of range", sa.Port)
		}
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		p.Family = unix.AF_INET
		// sin_port is in network byte order whatever the host's.
		binary.BigEndian.PutUint16(b[2:4], uint16(sa.Port))
		p.Addr = sa.Addr
		return uint32(sizeofInet4), nil
	case *unix.SockaddrInet6:
		if sa.Port < 0 || sa.Port > 0xffff {
			return 0, fmt.Errorf("uring: IPv6 port %d out of range", sa.Port)
		}
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		p.Family = unix.AF_INET6
		binary.BigEndian.PutUint16(b[2:4], uint16(sa.Port))
		p.Addr = sa.Addr
		p.Scope_id = sa.ZoneId
		return uint32(sizeofInet6), nil
	case *unix.SockaddrUnix:
		p := (*unix.RawSockaddrUnix)(unsafe.Pointer(raw))
		p.Family = unix.AF_UNIX
		name := sa.Name
		if name == "" {
			// Unnamed: bind(2) autobinds to an abstract name.
			return uint32(unixPathOff), nil
		}
		if abstract, ok := strings.CutPrefix(name, "@"); ok {
			// Abstract names are binary: every byte counts, including
			// NULs, and the length says where the name ends.
			if len(abstract) > maxUnixPath-1 {
				return 0, fmt.Errorf("uring: abstract Unix socket name of %d bytes is too long: at most %d after the @", len(abstract), maxUnixPath-1)
			}
			copy(b[unixPathOff+1:], abstract)
			return uint32(unixPathOff + 1 + len(abstract)), nil
		}
		if len(name) > maxUnixPath {
			return 0, fmt.Errorf("uring: Unix socket path of %d bytes is too long: sun_path holds at most %d; use a shorter or relative path", len(name), maxUnixPath)
		}
		if strings.IndexByte(name, 0) >= 0 {
			// The kernel would silently cut the path at the NUL.
			return 0, fmt.Errorf("uring: Unix socket path %q contains a NUL byte", name)
		}
		copy(b[unixPathOff:], name)
		// Linux takes a path that fills sun_path without a NUL (unix(7));
		// such an address can come back from the kernel, so it must be
		// accepted here too for a round trip to hold.
		return uint32(unixPathOff + min(len(name)+1, maxUnixPath)), nil
	case nil:
		return 0, errorString("uring: nil socket address")
	default:
		// reflect.TypeOf, unlike %T, does not make sa escape, so that
		// callers may pass the address of a local.
		return 0, fmt.Errorf("uring: socket address type %v is not supported (only SockaddrInet4, SockaddrInet6 and SockaddrUnix)", reflect.TypeOf(sa))
	}
}

// rawToSockaddr decodes n bytes of raw, as the kernel returned them. It
// never reads beyond n, unlike x/sys's conversion, which also cannot tell
// an unnamed Unix socket from the abstract name "@".
func rawToSockaddr(raw *unix.RawSockaddrAny, n uint32) (unix.Sockaddr, error) {
	if int64(n) > int64(sizeofAny) {
		return nil, fmt.Errorf("uring: socket address of %d bytes is longer than any supported (%d): truncated by the kernel", n, sizeofAny)
	}
	if n < 2 {
		return nil, fmt.Errorf("uring: socket address of %d bytes has no family", n)
	}
	b := (*[unsafe.Sizeof(unix.RawSockaddrAny{})]byte)(unsafe.Pointer(raw))[:n]
	switch raw.Addr.Family {
	case unix.AF_INET:
		if len(b) < sizeofInet4 {
			return nil, fmt.Errorf("uring: IPv4 socket address of %d bytes, want %d", n, sizeofInet4)
		}
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		return &unix.SockaddrInet4{Port: int(binary.BigEndian.Uint16(b[2:4])), Addr: p.Addr}, nil
	case unix.AF_INET6:
		if len(b) < sizeofInet6 {
			return nil, fmt.Errorf("uring: IPv6 socket address of %d bytes, want %d", n, sizeofInet6)
		}
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		return &unix.SockaddrInet6{Port: int(binary.BigEndian.Uint16(b[2:4])), ZoneId: p.Scope_id, Addr: p.Addr}, nil
	case unix.AF_UNIX:
		if len(b) > sizeofUnix {
			return nil, fmt.Errorf("uring: Unix socket address of %d bytes, longer than sockaddr_un (%d)", n, sizeofUnix)
		}
		path := b[unixPathOff:]
		switch {
		case len(path) == 0:
			return &unix.SockaddrUnix{}, nil
		case path[0] == 0:
			return &unix.SockaddrUnix{Name: "@" + string(path[1:])}, nil
		}
		// The kernel may or may not count the pathname's NUL.
		if i := strings.IndexByte(string(path), 0); i >= 0 {
			path = path[:i]
		}
		if path[0] == '@' {
			return nil, fmt.Errorf("uring: Unix socket path %q cannot be represented: unix.SockaddrUnix reads a leading @ as an abstract name", path)
		}
		return &unix.SockaddrUnix{Name: string(path)}, nil
	}
	return nil, fmt.Errorf("uring: socket address family %d is not supported: %w", raw.Addr.Family, syscall.EAFNOSUPPORT)
}
