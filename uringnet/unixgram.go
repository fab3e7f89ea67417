package uringnet

import (
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReadFromUnix reads one datagram into b, like net.UnixConn's: ReadFrom
// with the sender as a *net.UnixAddr, nil for an unnamed sender. The
// socket must be a Unix one.
func (c *PacketConn) ReadFromUnix(b []byte) (int, *net.UnixAddr, error) {
	n, _, _, addr, err := c.ReadMsgUnix(b, nil)
	return n, addr, err
}

// WriteToUnix sends b as one datagram to addr, like net.UnixConn's. As
// with net, it fails with net.ErrWriteToConnected on a connected socket,
// a missing address for a nil addr, and EAFNOSUPPORT for an address of
// another network than the socket's ("unixgram"). The socket must be a
// Unix one.
func (c *PacketConn) WriteToUnix(b []byte, addr *net.UnixAddr) (int, error) {
	fd := c.fd
	switch {
	case fd.family != unix.AF_UNIX:
		return 0, fd.opError("write", "sendmsg", errNotUnix)
	case c.connected:
		return 0, c.writeErr(packetDest{addr: opAddr(addr)}, net.ErrWriteToConnected)
	case addr == nil:
		return 0, c.writeErr(packetDest{}, errMissingAddress)
	case addr.Net != fd.network():
		// net's error holds the bare errno here.
		return 0, &net.OpError{Op: "write", Net: fd.network(), Source: fd.localAddr(), Addr: addr, Err: syscall.EAFNOSUPPORT}
	}
	if !fd.incref() {
		// After the checks above, and naming the destination, as net.
		return 0, c.writeErr(packetDest{addr: addr}, net.ErrClosed)
	}
	defer fd.decref()
	n, _, err := c.writeMsg(b, nil, packetDest{addr: addr})
	return n, sendtoError(err)
}

// sendtoError names the system call of a failed send "sendto", as net's
// WriteTo methods do (they call sendto(2); the ring runs sendmsg).
func sendtoError(err error) error {
	// A type assertion, not errors.As, whose target escapes: this runs
	// on every send, and a send that succeeds must allocate nothing.
	if oe, ok := err.(*net.OpError); ok {
		if se, ok := oe.Err.(*os.SyscallError); ok && se.Syscall == "sendmsg" {
			e := *oe
			e.Err = os.NewSyscallError("sendto", se.Err)
			return &e
		}
	}
	return err
}
