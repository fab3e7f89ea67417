package uringnet

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/uring-go/uring/internal/fdlife"
	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// netFD is a socket: its fd, reference count, addresses and the state its
// operations wait on.
type netFD struct {
	e     *reactor.Executor
	sysfd int

	// laddrp and raddrp are the local and peer addresses, as pointers
	// whose types addrKinds says (see packAddr): two words, not two
	// interfaces' four, keep the netFD within its size class.
	laddrp, raddrp unsafe.Pointer

	// refs counts the operations in progress; Close closes the fd
	// after the last one.
	refs fdlife.Refs

	rd, wr   fdlife.Waiter
	rmu, wmu sync.Mutex // one reader and one writer at a time, as in net

	// file registers the fd with the runtime netpoller, where reads,
	// writes and accepts that would block wait (see doc.go), and raw is
	// its RawConn: how they wait, chosen once by registerPoller and
	// followed by pollWait and acceptPoll. The file owns the fd: Close
	// closes the fd through it. raw is nil if the netpoller would not
	// take the fd: reads and writes then wait with io_uring polls, and
	// accepts inside io_uring. rio and wio are the reads' and
	// writes' attempts (ioDir).
	file *os.File
	raw  syscall.RawConn
	rio  ioDir
	wio  ioDir

	// rmsg and wmsg are the message reads' and writes' state (recvmsg
	// and sendmsg), made on first use and guarded by rmu and wmu.
	rmsg, wmsg *msgIO

	// onClose runs after the last operation has ended, before close(2).
	onClose func()

	// unlink says whether closing a Unix listener removes its socket
	// file (see Listener.SetUnlinkOnClose).
	unlink atomic.Bool
	// family is the socket's address family (AF_INET, AF_INET6,
	// AF_UNIX), and netIdx its network ("tcp", "unix", ...) as an
	// index into fdNetworks: small numbers beside unlink keep a Conn and
	// its netFD within 320 bytes (see newConn).
	family int16
	netIdx uint8
	// addrKinds is laddrp's kind in its low four bits, raddrp's above.
	addrKinds uint8
}

// Kinds of address, as packAddr stores them.
const (
	addrNil  = iota // a nil net.Addr
	addrTCP         // *net.TCPAddr
	addrUnix        // *net.UnixAddr
	addrUDP         // *net.UDPAddr
	addrBox         // any other net.Addr, in a *net.Addr
)

// packAddr is a as a pointer and its kind.
func packAddr(a net.Addr) (unsafe.Pointer, uint8) {
	switch a := a.(type) {
	case nil:
		return nil, addrNil
	case *net.TCPAddr:
		return unsafe.Pointer(a), addrTCP
	case *net.UnixAddr:
		return unsafe.Pointer(a), addrUnix
	case *net.UDPAddr:
		return unsafe.Pointer(a), addrUDP
	}
	box := new(net.Addr)
	*box = a
	return unsafe.Pointer(box), addrBox
}

// unpackAddr is the net.Addr packAddr made p and kind of.
func unpackAddr(p unsafe.Pointer, kind uint8) net.Addr {
	switch kind {
	case addrTCP:
		return (*net.TCPAddr)(p)
	case addrUnix:
		return (*net.UnixAddr)(p)
	case addrUDP:
		return (*net.UDPAddr)(p)
	case addrBox:
		return *(*net.Addr)(p)
	}
	return nil
}

// localAddr is the socket's local address (nil if unknown).
func (fd *netFD) localAddr() net.Addr { return unpackAddr(fd.laddrp, fd.addrKinds&0xf) }

// remoteAddr is the peer's address (nil if unknown).
func (fd *netFD) remoteAddr() net.Addr { return unpackAddr(fd.raddrp, fd.addrKinds>>4) }

// setLocalAddr sets the local address, before the fd is shared.
func (fd *netFD) setLocalAddr(a net.Addr) {
	var k uint8
	fd.laddrp, k = packAddr(a)
	fd.addrKinds = fd.addrKinds&0xf0 | k
}

// setRemoteAddr sets the peer's address, before the fd is shared.
func (fd *netFD) setRemoteAddr(a net.Addr) {
	var k uint8
	fd.raddrp, k = packAddr(a)
	fd.addrKinds = fd.addrKinds&0x0f | k<<4
}

// fdNetworks are the networks of sockets, as netFD.netIdx numbers them;
// moreFDNetworks grows with any other network a socket is made for.
var (
	fdNetworks     = [...]string{"tcp", "tcp4", "tcp6", "unix", "udp", "udp4", "udp6", "unixgram", "unixpacket"}
	netsMu         sync.Mutex
	moreFDNetworks []string
)

// networkIndex is network's number for netFD.netIdx.
func networkIndex(network string) uint8 {
	for i, n := range fdNetworks {
		if n == network {
			return uint8(i)
		}
	}
	netsMu.Lock()
	defer netsMu.Unlock()
	for i, n := range moreFDNetworks {
		if n == network {
			return uint8(len(fdNetworks) + i)
		}
	}
	if len(fdNetworks)+len(moreFDNetworks) > 255 {
		// Not reached: fdNetworks are names package net knows.
		return 0
	}
	moreFDNetworks = append(moreFDNetworks, network)
	return uint8(len(fdNetworks) + len(moreFDNetworks) - 1)
}

// network is the socket's network ("tcp", "unix", ...), as given when
// it was made.
func (fd *netFD) network() string {
	if i := int(fd.netIdx); i < len(fdNetworks) {
		return fdNetworks[i]
	}
	netsMu.Lock()
	defer netsMu.Unlock()
	return moreFDNetworks[int(fd.netIdx)-len(fdNetworks)]
}

func newFD(e *reactor.Executor, sysfd, family int, network string) *netFD {
	fd := new(netFD)
	fd.init(e, sysfd, family, network)
	return fd
}

func (fd *netFD) init(e *reactor.Executor, sysfd, family int, network string) {
	fd.e, fd.sysfd, fd.family, fd.netIdx = e, sysfd, int16(family), networkIndex(network)
}

// newConn makes a Conn and its netFD together, in one allocation (of
// 320 bytes, a size class: a netFD larger than 312 would make it 352;
// TestIdleConnHeap).
func newConn(e *reactor.Executor, sysfd, family int, network string) *Conn {
	cf := new(struct {
		c  Conn
		fd netFD
	})
	cf.fd.init(e, sysfd, family, network)
	cf.c.fd = &cf.fd
	return &cf.c
}

// incref takes a reference for an operation; false means the fd is
// closing and the operation must fail with net.ErrClosed.
func (fd *netFD) incref() bool { return fd.refs.Incref() }

// decref drops an operation's reference.
func (fd *netFD) decref() { fd.refs.Decref() }

// Close wakes every pending operation, which cancels its io_uring
// operation and waits for the kernel to finish with it, and returns once
// the last one has and the fd is closed.
func (fd *netFD) Close() error {
	first, busy := fd.refs.MarkClosed()
	if !first {
		return net.ErrClosed
	}
	if !busy {
		// Nothing waits, in the netpoller or io_uring: no mirror
		// deadline to move.
		fd.rd.Close(net.ErrClosed)
		fd.wr.Close(net.ErrClosed)
	} else {
		fd.rd.CloseOn(net.ErrClosed, fd.mirror(false))
		fd.wr.CloseOn(net.ErrClosed, fd.mirror(true))
		// Wait for the operations to end; the fd stays open
		// meanwhile.
		idle := fd.refs.Idle()
		var broken <-chan struct{}
		if fd.e != nil {
			broken = fd.e.BrokenC()
		}
		select {
		case <-idle:
		case <-broken:
			// io_uring_enter is denied (a seccomp filter installed
			// since the rings were set up): the cancel requests
			// that end operations waiting inside io_uring (an
			// accept, a connect) never reach the kernel. Shutting
			// the socket down ends them instead: the kernel
			// completes them with an error, which needs no
			// io_uring_enter.
			unix.Shutdown(fd.sysfd, unix.SHUT_RDWR)
			<-idle
		}
	}
	if fd.onClose != nil {
		fd.onClose()
	}
	if fd.file != nil {
		// No operation holds the file now, so this closes the fd at
		// once (and takes it out of the netpoller).
		fd.file.Close()
	} else {
		unix.Close(fd.sysfd)
	}
	return nil
}

// run runs one operation on the fd, waiting on p (the direction's
// deadline and close state). It returns the completion, or
// net.ErrClosed, os.ErrDeadlineExceeded, a syscall.Errno, or an executor
// error. An operation stopped by a deadline that was moved meanwhile is
// started again; one that completed anyway returns its real result, so
// nothing read is lost.
func (fd *netFD) run(p *fdlife.Waiter, prep reactor.Prep) (reactor.Result, error) {
	for {
		if err := p.Check(); err != nil {
			return reactor.Result{}, err
		}
		res, err := fd.e.Run(p, func() (*reactor.Operation, error) { return fd.e.Start(fd.sysfd, time.Time{}, prep) })
		if err == nil {
			return res, nil
		}
		var errno syscall.Errno
		if errors.As(err, &errno) {
			switch errno {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				// The kernel hands EAGAIN back when it could not arm
				// its own poll, or for a MSG_DONTWAIT operation (a
				// datagram send, see msgIO.write); wait for
				// readiness, then submit afresh.
				if err := fd.waitReady(p); err != nil {
					return reactor.Result{}, err
				}
				continue
			case syscall.ECANCELED:
				// Cancelled by someone else (an executor shutting
				// down, a cancel by fd): say why if we know.
				if err := p.Check(); err != nil {
					return reactor.Result{}, err
				}
			}
			return res, errno
		}
		if err := p.Check(); err != nil {
			return reactor.Result{}, err
		}
		if err == reactor.ErrCanceled || err == os.ErrDeadlineExceeded || err == net.ErrClosed {
			// Woken by a deadline that has since moved: go again.
			continue
		}
		return res, err
	}
}

// waitReady waits, through the executor, for the fd to become readable
// (if p is the read side) or writable.
func (fd *netFD) waitReady(p *fdlife.Waiter) error {
	mask := pollIn
	if p == &fd.wr {
		mask = pollOut
	}
	_, err := fd.poll(p, mask)
	return err
}

const (
	pollIn  = uring.PollIn
	pollOut = uring.PollOut
)

// poll waits for the events in mask with a poll operation, the io_uring
// counterpart of the runtime netpoller.
func (fd *netFD) poll(p *fdlife.Waiter, mask uring.PollMask) (reactor.Result, error) {
	return fd.run(p, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.PollAdd(fd.sysfd, mask, o)
	})
}

// stopped reports whether err means the operation was stopped before it
// did anything: by a deadline, Close, or the kernel on its own.
func stopped(err error) bool {
	return err == reactor.ErrCanceled || err == os.ErrDeadlineExceeded || err == net.ErrClosed || err == syscall.ECANCELED
}
