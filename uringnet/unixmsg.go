package uringnet

import (
	"errors"
	"io"
	"net"

	"golang.org/x/sys/unix"
)

// errNotUnix is the error of a message operation on a socket that cannot
// carry descriptors.
var errNotUnix = errors.New("uringnet: ReadMsgUnix and WriteMsgUnix need a Unix socket (network \"unix\" or \"unixgram\")")

// ReadMsgUnix reads data into b and the descriptors sent with it into
// oob (as an SCM_RIGHTS control message, which
// syscall.ParseSocketControlMessage and ParseUnixRights decode), like
// *net.UnixConn's, through an io_uring recvmsg. The descriptors are
// close-on-exec and the caller's to close. If more came than oob has room
// for, flags has MSG_CTRUNC and the kernel has closed the rest. With an
// empty b and room in oob it reads the one byte WriteMsgUnix sends along
// with descriptors and no data, as net does. At the end of the stream it
// returns io.EOF inside a *net.OpError, as net's does. It fails for a
// conn that is not a Unix socket.
func (c *Conn) ReadMsgUnix(b, oob []byte) (n, oobn, flags int, addr *net.UnixAddr, err error) {
	fd := c.fd
	if fd.family != unix.AF_UNIX {
		return 0, 0, 0, nil, fd.opError("read", "recvmsg", errNotUnix)
	}
	if !fd.incref() {
		return 0, 0, 0, nil, fd.opError("read", "recvmsg", net.ErrClosed)
	}
	defer fd.decref()
	fd.rmu.Lock()
	defer fd.rmu.Unlock()
	n, oobn, flags, sa, err := fd.readMsg(b, oob, true)
	if err != nil {
		return n, oobn, flags, nil, fd.opError("read", "recvmsg", err)
	}
	if n == 0 && len(b) > 0 && oobn == 0 {
		return 0, 0, flags, nil, fd.opError("read", "recvmsg", io.EOF)
	}
	if s, ok := sa.(*unix.SockaddrUnix); ok && s.Name != "" {
		addr = &net.UnixAddr{Name: s.Name, Net: fd.net}
	}
	return n, oobn, flags, addr, nil
}

// WriteMsgUnix writes b, with the descriptors of oob (built with
// syscall.UnixRights), like *net.UnixConn's, through an io_uring sendmsg.
// The receiver gets duplicates; the caller keeps its own open. With
// descriptors and no data it sends one zero byte, as net does, since a
// stream cannot carry descriptors alone. addr must be nil: the stream is
// connected. It fails for a conn that is not a Unix socket.
func (c *Conn) WriteMsgUnix(b, oob []byte, addr *net.UnixAddr) (n, oobn int, err error) {
	fd := c.fd
	if fd.family != unix.AF_UNIX {
		return 0, 0, fd.opError("write", "sendmsg", errNotUnix)
	}
	if addr != nil {
		return 0, 0, fd.opError("write", "sendmsg", net.ErrWriteToConnected)
	}
	if !fd.incref() {
		return 0, 0, fd.opError("write", "sendmsg", net.ErrClosed)
	}
	defer fd.decref()
	fds, err := oobFds(oob)
	if err != nil {
		return 0, 0, fd.opError("write", "sendmsg", err)
	}
	buf := b
	if len(b) == 0 && len(fds) > 0 {
		buf = []byte{0}
	}
	fd.wmu.Lock()
	defer fd.wmu.Unlock()
	n, err = fd.sendMsg(buf, fds, nil)
	if len(b) == 0 {
		n = 0
	}
	if err != nil {
		return n, 0, fd.opError("write", "sendmsg", err)
	}
	return n, len(oob), nil
}
