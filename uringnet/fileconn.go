package uringnet

import (
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/sock"
)

// This file adopts sockets a program is handed as files: inherited from
// its parent (systemd socket activation passes listeners as fds 3 and
// up), received over a Unix socket (ReadMsgUnix), or taken from another
// package's File method.

// FileListener returns a listener on a copy of the listening socket f,
// like net.FileListener: a *Listener, whose connections run on io_uring.
// f stays the caller's to close, and closing either one does not affect
// the other. The socket must be TCP or a Unix stream socket; as with
// net, closing the listener leaves a Unix socket's file in place. With
// systemd socket activation:
//
//	f := os.NewFile(3, "listener") // LISTEN_FDS=1
//	ln, err := uringnet.FileListener(f)
//	f.Close()
//
// Errors are a *net.OpError with Op "file" and Net "file+net", as net's.
func FileListener(f *os.File) (net.Listener, error) {
	ln, err := fileListener(f)
	if err != nil {
		return nil, fileError(f, err)
	}
	return ln, nil
}

// FileConn returns a connection on a copy of the socket f, like
// net.FileConn: a *Conn for a TCP or Unix stream socket, a *PacketConn
// for a UDP or Unix datagram socket. f stays the caller's to close, and
// closing either one does not affect the other. A TCP connection gets
// TCP_NODELAY and net's default keep-alive, as net.FileConn's does.
func FileConn(f *os.File) (net.Conn, error) {
	c, err := fileConn(f)
	if err != nil {
		return nil, fileError(f, err)
	}
	return c, nil
}

// FilePacketConn returns a datagram connection on a copy of the socket
// f, like net.FilePacketConn: a *PacketConn, for a UDP or Unix datagram
// socket. f stays the caller's to close. net's also adopts a Unix
// stream socket as a packet connection; this one refuses it (EINVAL),
// as *Conn is not a net.PacketConn: use FileConn.
func FilePacketConn(f *os.File) (net.PacketConn, error) {
	fd, sotype, err := newFileFD(f)
	if err != nil {
		return nil, fileError(f, err)
	}
	if sotype != unix.SOCK_DGRAM {
		fd.Close()
		return nil, fileError(f, syscall.EINVAL)
	}
	fd.attachPoller()
	return &PacketConn{fd: fd, connected: fd.remoteAddr() != nil}, nil
}

func fileListener(f *os.File) (*Listener, error) {
	fd, sotype, err := newFileFD(f)
	if err != nil {
		return nil, err
	}
	if sotype != unix.SOCK_STREAM {
		fd.Close()
		return nil, syscall.EINVAL
	}
	if ua, ok := fd.localAddr().(*net.UnixAddr); ok && ua.Name != "" && ua.Name[0] != '@' {
		// Not removed on Close unless SetUnlinkOnClose says so, as
		// with net.
		fd.unlinkOnClose(ua.Name, false)
	}
	return newListener(fd, &ListenConfig{}), nil
}

func fileConn(f *os.File) (net.Conn, error) {
	fd, sotype, err := newFileFD(f)
	if err != nil {
		return nil, err
	}
	if sotype == unix.SOCK_DGRAM {
		fd.attachPoller()
		return &PacketConn{fd: fd, connected: fd.remoteAddr() != nil}, nil
	}
	if fd.family != unix.AF_UNIX {
		// As net's newTCPConn, which does not fail for these.
		setNoDelay(fd.sysfd, true)
		setKeepAlive(fd.sysfd, 0, KeepAliveConfig{})
	}
	fd.attachPoller()
	return &Conn{fd: fd}, nil
}

// newFileFD makes a netFD on a non-blocking, close-on-exec duplicate of
// f's socket, with net's checks and addresses: those of the socket's
// family and type, and the network they name ("tcp", "udp", "unix",
// "unixgram").
func newFileFD(f *os.File) (*netFD, int, error) {
	e, err := executor()
	if err != nil {
		return nil, 0, err
	}
	// f.Fd, as net uses, which also makes f blocking; the flag is the
	// open file's, so the duplicate's SetNonblock turns it back.
	s, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	runtime.KeepAlive(f)
	if err != nil {
		return nil, 0, os.NewSyscallError("fcntl", err)
	}
	if err := unix.SetNonblock(s, true); err != nil {
		unix.Close(s)
		return nil, 0, os.NewSyscallError("setnonblock", err)
	}
	sotype, err := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		unix.Close(s)
		return nil, 0, os.NewSyscallError("getsockopt", err)
	}
	lsa, err := unix.Getsockname(s)
	if err != nil {
		unix.Close(s)
		return nil, 0, os.NewSyscallError("getsockname", err)
	}
	var family int
	switch lsa.(type) {
	case *unix.SockaddrInet4:
		family = unix.AF_INET
	case *unix.SockaddrInet6:
		family = unix.AF_INET6
	case *unix.SockaddrUnix:
		family = unix.AF_UNIX
	default:
		unix.Close(s)
		return nil, 0, syscall.EPROTONOSUPPORT
	}
	// The addresses net gives an adopted socket (its addrFunc): none for
	// the types this package does not handle.
	laddr := sock.Addr(sotype, lsa)
	if laddr == nil {
		// A raw or seqpacket socket, which net adopts and this
		// package has no type for.
		unix.Close(s)
		return nil, 0, net.UnknownNetworkError(sotypeNetwork(family, sotype))
	}
	fd := newFD(e, s, family, laddr.Network())
	fd.setLocalAddr(laddr)
	fd.setRemoteAddr(sock.RemoteAddr(s, sotype))
	return fd, sotype, nil
}

// sotypeNetwork names a socket this package cannot adopt, for its error.
func sotypeNetwork(family, sotype int) string {
	switch {
	case family == unix.AF_UNIX && sotype == unix.SOCK_SEQPACKET:
		return "unixpacket"
	case sotype == unix.SOCK_RAW:
		return "ip"
	}
	return "socket type " + strconv.Itoa(sotype)
}

// fileError is the error of a failed adoption, as net reports it.
func fileError(f *os.File, err error) error {
	return &net.OpError{Op: "file", Net: "file+net", Addr: fileAddr(f.Name()), Err: err}
}

// fileAddr is the address of an adoption's error: the file's name, with
// net's network "file+net".
type fileAddr string

func (fileAddr) Network() string  { return "file+net" }
func (f fileAddr) String() string { return string(f) }
