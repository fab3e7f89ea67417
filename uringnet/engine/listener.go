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
)

// listener is a bound, listening socket.
type listener struct {
	fd        int
	network   string // "tcp", "udp" or "unix"
	addr      net.Addr
	unixPath  string // the socket file to remove on close
	family    int    // a UDP socket's address family
	closeOnce sync.Once

	acceptArmed bool // an accept is active; for the loop that accepts on it
}

// listen creates the listening socket with gnet's socket options. On
// Linux, accepted sockets inherit TCP_NODELAY, keep-alive and the buffer
// sizes from the listener, so they are set once here, as gnet does.
func listen(network, address string, o *gnet.Options) (*listener, error) {
	var (
		family int
		sa     unix.Sockaddr
		v6only bool
	)
	switch network {
	case "udp", "udp4", "udp6":
		return listenUDP(network, address, o)
	case "tcp", "tcp4", "tcp6":
		ta, err := net.ResolveTCPAddr(network, address)
		if err != nil {
			return nil, err
		}
		switch {
		case ta.IP.To4() != nil && network == "tcp6":
			return nil, &net.AddrError{Err: "IPv4 address on a tcp6 network", Addr: address}
		case ta.IP.To4() != nil || ta.IP == nil && network == "tcp4":
			family = unix.AF_INET
		case network == "tcp4":
			return nil, &net.AddrError{Err: "IPv6 address on a tcp4 network", Addr: address}
		default:
			family = unix.AF_INET6
			v6only = network == "tcp6"
		}
		if sa, err = sock.IPSockaddr(family, ta.IP, ta.Port, ta.Zone); err != nil {
			return nil, err
		}
		network = "tcp"
	case "unix":
		family = unix.AF_UNIX
		sa = &unix.SockaddrUnix{Name: address}
		// gnet removes a stale socket file before binding.
		_ = os.RemoveAll(address)
	default:
		return nil, fmt.Errorf("uringnet/engine: network %q is not supported: use tcp, tcp4, tcp6, udp, udp4, udp6 or unix", network)
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	ln := &listener{fd: fd, network: network}
	fail := func(call string, err error) (*listener, error) {
		unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: network, Addr: nil, Err: os.NewSyscallError(call, err)}
	}
	if v6only {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if o.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if o.ReuseAddr {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if network == "tcp" && o.TCPNoDelay == gnet.TCPNoDelay {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if o.SocketRecvBuffer > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, o.SocketRecvBuffer); err != nil {
			return fail("setsockopt", err)
		}
	}
	if o.SocketSendBuffer > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, o.SocketSendBuffer); err != nil {
			return fail("setsockopt", err)
		}
	}
	if o.BindToDevice != "" {
		if err := unix.BindToDevice(fd, o.BindToDevice); err != nil {
			return fail("setsockopt", err)
		}
	}
	if network == "tcp" && o.TCPKeepAlive > 0 {
		if err := setKeepAlive(fd, o.TCPKeepAlive, o.TCPKeepInterval, o.TCPKeepCount); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
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
