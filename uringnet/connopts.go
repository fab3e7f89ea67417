package uringnet

import (
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/kernel"
)

// connSetErr is the error of a failed setting that net's conn type (not
// its TCPConn) makes: deadlines and buffer sizes. net names the local
// address as its Addr, with no Source.
func (fd *netFD) connSetErr(err error) error {
	return &net.OpError{Op: "set", Net: fd.network(), Source: nil, Addr: fd.localAddr(), Err: err}
}

// listenerOpError is the error of an operation on a listener, as net
// reports it: the listener's address is Addr, with no Source.
func (fd *netFD) listenerOpError(op, syscallName string, err error) error {
	return &net.OpError{Op: op, Net: fd.network(), Source: nil, Addr: fd.localAddr(), Err: wrapErr(syscallName, err)}
}

// setBuffer sets SO_RCVBUF or SO_SNDBUF, as net's SetReadBuffer and
// SetWriteBuffer do: the kernel doubles the size (for its bookkeeping)
// and caps it at net.core.rmem_max or wmem_max.
func (fd *netFD) setBuffer(opt, bytes int) error {
	if !fd.incref() {
		return fd.connSetErr(net.ErrClosed)
	}
	defer fd.decref()
	if err := unix.SetsockoptInt(fd.sysfd, unix.SOL_SOCKET, opt, bytes); err != nil {
		return fd.connSetErr(os.NewSyscallError("setsockopt", err))
	}
	return nil
}

// SetReadBuffer sets the size of the socket's receive buffer
// (SO_RCVBUF), like net.UDPConn's and net.UnixConn's.
func (c *PacketConn) SetReadBuffer(bytes int) error { return c.fd.setBuffer(unix.SO_RCVBUF, bytes) }

// SetWriteBuffer sets the size of the socket's send buffer (SO_SNDBUF),
// like net.UDPConn's and net.UnixConn's.
func (c *PacketConn) SetWriteBuffer(bytes int) error { return c.fd.setBuffer(unix.SO_SNDBUF, bytes) }

// mptcpInfo is MPTCP_INFO (linux/mptcp.h), a SOL_MPTCP option that
// only a socket still speaking MPTCP answers (Linux 5.16).
const mptcpInfo = 1

// MultipathTCP reports whether the connection uses MPTCP, like
// net.TCPConn's: true for an MPTCP socket (one dialled or accepted with
// MPTCP, see Dialer.SetMultipathTCP and ListenConfig.SetMultipathTCP,
// or one adopted with FileConn) whose connection has not fallen back to
// plain TCP, as it does when the peer lacks MPTCP. A closed connection
// reports false.
func (c *Conn) MultipathTCP() (bool, error) {
	fd := c.fd
	if !fd.incref() {
		return false, nil
	}
	defer fd.decref()
	proto, err := unix.GetsockoptInt(fd.sysfd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil || proto != unix.IPPROTO_MPTCP {
		return false, nil
	}
	// As net's: a connection that fell back to TCP fails MPTCP_INFO
	// with EOPNOTSUPP (IPv4) or ENOPROTOOPT (IPv6). A kernel without
	// SOL_MPTCP (before 5.16) fails it too, and net then trusts the
	// protocol alone.
	_, err = unix.GetsockoptInt(fd.sysfd, unix.SOL_MPTCP, mptcpInfo)
	if err == unix.EOPNOTSUPP || err == unix.ENOPROTOOPT {
		return !kernel.SolMPTCP.Available(), nil
	}
	return true, nil
}

// SyscallConn returns a raw connection to the listening socket, like
// net.TCPListener's and net.UnixListener's: its Control runs f with the
// fd, for socket options; its Read and Write are not supported and
// return syscall.EINVAL, as net's do.
func (l *Listener) SyscallConn() (syscall.RawConn, error) {
	return &rawListener{rawConn{fd: l.fd}}, nil
}

// rawListener is a listener's syscall.RawConn: Control only.
type rawListener struct{ rawConn }

func (*rawListener) Read(func(uintptr) bool) error  { return syscall.EINVAL }
func (*rawListener) Write(func(uintptr) bool) error { return syscall.EINVAL }
