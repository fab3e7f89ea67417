package uringnet

import (
	"net"
	"syscall"
)

// rawConn is a syscall.RawConn over a socket. A connection's waits for
// readiness go through the runtime netpoller, as its reads and writes
// do; a listener's through io_uring poll operations.
type rawConn struct {
	fd *netFD
}

// SyscallConn returns a raw connection for socket options and for I/O the
// package does not offer. Its Read and Write callbacks run as with net:
// f is called with the fd, and while it returns false the goroutine waits
// for readiness (with the read or write deadline) and calls it again.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	return &rawConn{fd: c.fd}, nil
}

// Control calls f with the fd, which stays open until f returns.
func (rc *rawConn) Control(f func(fd uintptr)) error {
	fd := rc.fd
	if !fd.incref() {
		// net names only the local address here, unlike raw-read.
		return &net.OpError{Op: "raw-control", Net: fd.network(), Addr: fd.localAddr(), Err: net.ErrClosed}
	}
	defer fd.decref()
	f(uintptr(fd.sysfd))
	return nil
}

// Read calls f until it returns true, waiting for the fd to be readable
// in between.
func (rc *rawConn) Read(f func(fd uintptr) (done bool)) error {
	fd := rc.fd
	if !fd.incref() {
		return fd.opError("raw-read", "", net.ErrClosed)
	}
	defer fd.decref()
	fd.rmu.Lock()
	defer fd.rmu.Unlock()
	var out pollOutcome
	if _, err := fd.pollWait(&fd.rd, f, &out); err != nil {
		return fd.opError("raw-read", "poll", err)
	}
	return nil
}

// Write calls f until it returns true, waiting for the fd to be writable
// in between.
func (rc *rawConn) Write(f func(fd uintptr) (done bool)) error {
	fd := rc.fd
	if !fd.incref() {
		return fd.opError("raw-write", "", net.ErrClosed)
	}
	defer fd.decref()
	fd.wmu.Lock()
	defer fd.wmu.Unlock()
	var out pollOutcome
	if _, err := fd.pollWait(&fd.wr, f, &out); err != nil {
		return fd.opError("raw-write", "poll", err)
	}
	return nil
}
