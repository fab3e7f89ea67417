// Package sock is the one socket helper set that uringnet and the engine
// share: kernel addresses to and from net's address types, IPv6 zone
// names, the listen backlog and keep-alive probes.
//
// The addresses are the ones package net reports for the same socket, so
// that a uringnet Conn and an engine connection name a peer as net.Conn
// would: an unnamed Unix stream socket is "@", an abstract name starts
// with "@", an IPv6 zone is the interface's name or, for an index without
// one, its number.
package sock

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ZoneName is the name of the IPv6 zone (interface) index, as net names
// it: "" for 0, the interface's name, or the index in decimal when no
// interface has it.
func ZoneName(index uint32) string {
	if index == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(index), 10)
}

// ZoneIndex is the inverse of ZoneName: the interface named zone, else
// zone read as a number (0 if it is neither), as net reads it.
func ZoneIndex(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	n, _ := strconv.ParseUint(zone, 10, 32)
	return uint32(n)
}

// Addr converts a kernel address of a socket of sotype (SOCK_STREAM or
// SOCK_DGRAM) to the one net reports: *net.TCPAddr or *net.UnixAddr
// ("unix") for a stream, *net.UDPAddr or *net.UnixAddr ("unixgram") for
// datagrams; nil for other types.
//
// A *unix.SockaddrUnix with an empty Name (an unnamed socket, as uring
// decodes an accept's or a receive's address) is "@" for a stream, as
// net's accept reports such a peer, and nil for a datagram's sender, as
// net's ReadFrom reports one.
func Addr(sotype int, sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return ipAddr(sotype, sa.Addr[:], sa.Port, "")
	case *unix.SockaddrInet6:
		return ipAddr(sotype, sa.Addr[:], sa.Port, ZoneName(sa.ZoneId))
	case *unix.SockaddrUnix:
		return unixAddr(sotype, sa.Name)
	}
	return nil
}

func ipAddr(sotype int, ip []byte, port int, zone string) net.Addr {
	switch sotype {
	case unix.SOCK_STREAM:
		return &net.TCPAddr{IP: append(net.IP(nil), ip...), Port: port, Zone: zone}
	case unix.SOCK_DGRAM:
		return &net.UDPAddr{IP: append(net.IP(nil), ip...), Port: port, Zone: zone}
	}
	return nil
}

func unixAddr(sotype int, name string) net.Addr {
	switch sotype {
	case unix.SOCK_STREAM:
		if name == "" {
			name = "@"
		}
		return &net.UnixAddr{Name: name, Net: "unix"}
	case unix.SOCK_DGRAM:
		if name == "" {
			return nil
		}
		return &net.UnixAddr{Name: name, Net: "unixgram"}
	}
	return nil
}

// RawAddr is Addr for an address as the kernel wrote it (getsockname,
// accept), decoded as x/sys decodes one: an abstract name's leading NUL
// shown as '@', a path ending at its first NUL. An unnamed Unix socket is
// therefore "@" for either type, as net's getsockname reports it.
func RawAddr(sotype int, rsa *unix.RawSockaddrAny) net.Addr {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		pp := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return ipAddr(sotype, pp.Addr[:], ntohs(pp.Port), "")
	case unix.AF_INET6:
		pp := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return ipAddr(sotype, pp.Addr[:], ntohs(pp.Port), ZoneName(pp.Scope_id))
	case unix.AF_UNIX:
		pp := (*unix.RawSockaddrUnix)(unsafe.Pointer(rsa))
		path := unsafe.Slice((*byte)(unsafe.Pointer(&pp.Path[0])), len(pp.Path))
		if path[0] == 0 {
			path[0] = '@'
		}
		n := 0
		for n < len(path) && path[n] != 0 {
			n++
		}
		return unixAddr(sotype, string(path[:n]))
	}
	return nil
}

// ntohs converts a port from network byte order.
func ntohs(p uint16) int {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return int(b[0])<<8 | int(b[1])
}

// LocalAddr is fd's address (getsockname) as net reports it for a socket
// of sotype, nil if it has none.
func LocalAddr(fd, sotype int) net.Addr { return name(unix.SYS_GETSOCKNAME, fd, sotype) }

// RemoteAddr is fd's peer's address (getpeername), nil if it has none
// (ENOTCONN: not connected, or the peer has already gone).
func RemoteAddr(fd, sotype int) net.Addr { return name(unix.SYS_GETPEERNAME, fd, sotype) }

// name runs getsockname(2) or getpeername(2) (trap) into a buffer on the
// stack and converts the address straight to net's type, with one system
// call: unix.Getsockname and Getpeername also ask for an IPv4 or IPv6
// socket's protocol (an SO_PROTOCOL getsockopt, to tell L2TP over IP
// apart), a second system call per address that accepting a TCP
// connection paid twice.
func name(trap uintptr, fd, sotype int) net.Addr {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	_, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)))
	if e != 0 {
		return nil
	}
	return RawAddr(sotype, &rsa)
}

// IPSockaddr is the kernel address of ip:port in family (AF_INET or
// AF_INET6), zone naming an IPv6 address's interface. A nil or
// unspecified ip is the family's wildcard; an IPv4 ip in AF_INET6 is
// IPv4-mapped. An IPv6 ip cannot be AF_INET.
func IPSockaddr(family int, ip net.IP, port int, zone string) (unix.Sockaddr, error) {
	if family == unix.AF_INET {
		sa := &unix.SockaddrInet4{Port: port}
		if ip4 := ip.To4(); ip4 != nil {
			copy(sa.Addr[:], ip4)
		} else if ip != nil && !ip.IsUnspecified() {
			return nil, &net.AddrError{Err: "non-IPv4 address", Addr: ip.String()}
		}
		return sa, nil
	}
	sa := &unix.SockaddrInet6{Port: port, ZoneId: ZoneIndex(zone)}
	if ip != nil && !ip.Equal(net.IPv4zero) {
		copy(sa.Addr[:], ip.To16())
	}
	return sa, nil
}

// Somaxconn is the listen backlog net uses: the kernel's
// net.core.somaxconn, read once, or SOMAXCONN where it cannot be read.
var Somaxconn = sync.OnceValue(func() int {
	if n := SysctlInt("/proc/sys/net/core/somaxconn"); n > 0 {
		return n
	}
	return unix.SOMAXCONN
})

// SysctlInt reads the integer in a /proc/sys file, 0 if there is none.
func SysctlInt(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return n
}

// SetKeepAlive turns TCP keep-alive probes on fd on or off, then sets the
// idle time before the first probe, the interval between probes (both in
// seconds) and the number of probes, as net's SetKeepAliveConfig does
// whether on or off; a negative value leaves that option as it is.
// Callers choose the defaults and rounding: net's and gnet's differ.
func SetKeepAlive(fd int, on bool, idleSecs, intervalSecs, count int) error {
	v := 0
	if on {
		v = 1
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, v); err != nil {
		return err
	}
	for _, o := range [...]struct{ opt, v int }{
		{unix.TCP_KEEPIDLE, idleSecs},
		{unix.TCP_KEEPINTVL, intervalSecs},
		{unix.TCP_KEEPCNT, count},
	} {
		if o.v < 0 {
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, o.opt, o.v); err != nil {
			return err
		}
	}
	return nil
}
