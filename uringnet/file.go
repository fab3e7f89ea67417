package uringnet

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// dup returns a duplicate of the socket's fd as an *os.File, as net's
// File methods do: a new fd (F_DUPFD_CLOEXEC, so close-on-exec) on the
// same open socket, named as net names it.
func (fd *netFD) dup() (*os.File, error) {
	return fd.dupWith(fd.opError)
}

// dupWith is dup with the errors made by opError.
func (fd *netFD) dupWith(opError func(op, syscallName string, err error) error) (*os.File, error) {
	if !fd.incref() {
		return nil, opError("file", "", net.ErrClosed)
	}
	defer fd.decref()
	nfd, err := unix.FcntlInt(uintptr(fd.sysfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, opError("file", "fcntl", err)
	}
	return os.NewFile(uintptr(nfd), fd.network()+":"+addrString(fd.localAddr())+"->"+addrString(fd.remoteAddr())), nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// File returns a copy of the connection's fd as an *os.File, as net's
// File does. It is the caller's to close; closing c does not affect the
// file, nor closing the file c. The file's fd is a different one on the
// same socket: changing its properties (through the file, or after
// passing it to another process) may or may not affect c. Reads and
// writes through it bypass io_uring.
func (c *Conn) File() (*os.File, error) { return c.fd.dup() }

// File returns a copy of the listener's fd as an *os.File, as
// net.TCPListener's and net.UnixListener's File do; see Conn.File. The
// copy is the same listening socket: connections accepted through it
// (net.FileListener, or another process) are no longer there for Accept.
// Closing a Unix listener removes its socket file even while the copy
// stays open, as net's does when it created the file.
func (l *Listener) File() (*os.File, error) { return l.fd.dupWith(l.fd.listenerOpError) }

// File returns a copy of the socket's fd as an *os.File, as
// net.UDPConn's and net.UnixConn's File do; see Conn.File.
func (c *PacketConn) File() (*os.File, error) { return c.fd.dup() }
