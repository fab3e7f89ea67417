package engine

import (
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/sock"
	"github.com/uring-go/uring/uring"
)

// listener is a bound, listening socket.
type listener struct {
	fd        int
	network   string // "tcp", "udp" or "unix"
	addr      net.Addr
	unixPath  string // the socket file to remove on close
	family    int    // a UDP socket's address family
	closeOnce sync.Once

	acceptArmed bool           // an accept is active; for the loop that accepts on it
	peer        uring.Sockaddr // where the armed accept stores the peer's address
}

// listen creates the listening socket with gnet's socket options. On
// Linux, accepted sockets inherit TCP_NODELAY, keep-alive and the buffer
// sizes from the listener, so they are set once here, as gnet does.
func listen(network, address string, o *gnet.Options) (*listener, error) {
	switch network {
	case "udp", "udp4", "udp6":
		return listenUDP(network, address, o)
	}
	to, err := resolveStream(network, address)
	if err != nil {
		return nil, err
	}
	network = to.network
	fd, err := unix.Socket(to.family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	ln := &listener{fd: fd, network: network}
	fail := func(call string, err error) (*listener, error) {
		unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: network, Addr: nil, Err: os.NewSyscallError(call, err)}
	}
	if err := setListenerOptions(fd, network, to.v6only, o); err != nil {
		return fail("setsockopt", err)
	}
	if err := unix.Bind(fd, to.sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, sock.Somaxconn()); err != nil {
		return fail("listen", err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	ln.addr = sock.Addr(unix.SOCK_STREAM, bound)
	if network == "unix" {
		ln.unixPath = address
		if ln.addr == nil || ln.addr.String() == "" {
			ln.addr = &net.UnixAddr{Name: address, Net: "unix"}
		}
	}
	return ln, nil
}

// streamSockaddr is where a stream listener binds: the socket's network
// ("tcp" or "unix") and family, the address, and whether an IPv6 socket
// is to take IPv6 connections only.
type streamSockaddr struct {
	network string
	family  int
	sa      unix.Sockaddr
	v6only  bool
}

// resolveStream resolves address on a stream network, gnet's way.
func resolveStream(network, address string) (streamSockaddr, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return resolveTCP(network, address)
	case "unix":
		// gnet removes a stale socket file before binding.
		_ = os.RemoveAll(address)
		return streamSockaddr{network: "unix", family: unix.AF_UNIX, sa: &unix.SockaddrUnix{Name: address}}, nil
	default:
		return streamSockaddr{}, fmt.Errorf("uringnet/engine: network %q is not supported: use tcp, tcp4, tcp6, udp, udp4, udp6 or unix", network)
	}
}

// resolveTCP resolves address on network tcp, tcp4 or tcp6, refusing an
// address of the other IP version than tcp4 or tcp6 asks for. A tcp6
// socket takes IPv6 only; a tcp one on an IPv6 or no address takes both.
func resolveTCP(network, address string) (streamSockaddr, error) {
	ta, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return streamSockaddr{}, err
	}
	s := streamSockaddr{network: "tcp"}
	switch {
	case ta.IP.To4() != nil && network == "tcp6":
		return s, &net.AddrError{Err: "IPv4 address on a tcp6 network", Addr: address}
	case ta.IP.To4() != nil || ta.IP == nil && network == "tcp4":
		s.family = unix.AF_INET
	case network == "tcp4":
		return s, &net.AddrError{Err: "IPv6 address on a tcp4 network", Addr: address}
	default:
		s.family = unix.AF_INET6
		s.v6only = network == "tcp6"
	}
	if s.sa, err = sock.IPSockaddr(s.family, ta.IP, ta.Port, ta.Zone); err != nil {
		return s, err
	}
	return s, nil
}

// setListenerOptions sets gnet's socket options on fd, a listening
// socket on network "tcp" or "unix", before it is bound.
func setListenerOptions(fd int, network string, v6only bool, o *gnet.Options) error {
	// In the order gnet sets them.
	ints := [...]struct {
		set             bool
		level, opt, val int
	}{
		{v6only, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1},
		{o.ReusePort, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1},
		{o.ReuseAddr, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1},
		{network == "tcp" && o.TCPNoDelay == gnet.TCPNoDelay, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
		{o.SocketRecvBuffer > 0, unix.SOL_SOCKET, unix.SO_RCVBUF, o.SocketRecvBuffer},
		{o.SocketSendBuffer > 0, unix.SOL_SOCKET, unix.SO_SNDBUF, o.SocketSendBuffer},
	}
	for _, so := range ints {
		if !so.set {
			continue
		}
		if err := unix.SetsockoptInt(fd, so.level, so.opt, so.val); err != nil {
			return err
		}
	}
	if o.BindToDevice != "" {
		if err := unix.BindToDevice(fd, o.BindToDevice); err != nil {
			return err
		}
	}
	if network == "tcp" && o.TCPKeepAlive > 0 {
		return setKeepAlive(fd, o.TCPKeepAlive, o.TCPKeepInterval, o.TCPKeepCount)
	}
	return nil
}

func (ln *listener) close() {
	ln.closeOnce.Do(func() {
		unix.Close(ln.fd)
		if ln.unixPath != "" {
			_ = os.RemoveAll(ln.unixPath)
		}
	})
}

// setKeepAlive turns keep-alive probes on with gnet's defaults: the
// interval is a fifth of the idle time and the count 5 unless given.
func setKeepAlive(fd int, idle, intvl time.Duration, cnt int) error {
	if intvl == 0 {
		intvl = idle / 5
	}
	if cnt == 0 {
		cnt = 5
	}
	secs := func(d time.Duration) int { return max(1, int(d/time.Second)) }
	return sock.SetKeepAlive(fd, true, secs(idle), secs(intvl), cnt)
}

func dupFd(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("fcntl", err)
	}
	return nfd, nil
}
