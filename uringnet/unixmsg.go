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

// ReadMsgUnix reads data into b and the control messages sent with it
// into oob, raw, like *net.UnixConn's, through an io_uring recvmsg:
// descriptors arrive as an SCM_RIGHTS message (which
// syscall.ParseSocketControlMessage and ParseUnixRights decode),
// close-on-exec and the caller's to close. If they did not fit in oob,
// flags has MSG_CTRUNC and the kernel has closed the descriptors that did
// not fit. With an empty b and room in oob it reads the one byte
// WriteMsgUnix sends along with control data and no data, as net does. At
// the end of the stream it returns io.EOF inside a *net.OpError, as net's
// does. It fails for a conn that is not a Unix socket.
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
	d := fd.msgReader()
	n, oobn, flags, err = d.read(b, oob, true)
	if err != nil {
		return n, oobn, flags, nil, fd.opError("read", "recvmsg", err)
	}
	if n == 0 && len(b) > 0 && oobn == 0 {
		return 0, 0, flags, nil, fd.opError("read", "recvmsg", io.EOF)
	}
	if src := d.source(); src.ok {
		addr = &net.UnixAddr{Name: src.name, Net: fd.network()}
	}
	return n, oobn, flags, addr, nil
}

// WriteMsgUnix writes b, with the control messages of oob sent as given
// (descriptors built with syscall.UnixRights, SCM_CREDENTIALS), like
// *net.UnixConn's, through an io_uring sendmsg. The receiver gets
// duplicates of the descriptors; the caller keeps its own open. With
// control data and no data it sends one zero byte, as net does, since a
// stream cannot carry control data alone. addr must be nil: the stream is
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
	fd.wmu.Lock()
	defer fd.wmu.Unlock()
	n, err = fd.msgWriter(false).write(b, oob, true)
	if err != nil {
		return n, 0, fd.opError("write", "sendmsg", err)
	}
	return n, len(oob), nil
}
