package uringnet

import (
	"errors"
	"syscall"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// peekScratch receives the byte a readiness probe peeks at. The kernel
// writes it and nothing reads it, so every socket can share it.
var peekScratch [1]byte

// once runs one operation through the executor, waiting on p for the
// deadline or Close while the kernel holds it.
func (fd *netFD) once(p *pollCtx, prep reactor.Prep) (reactor.Result, error) {
	for {
		o, err := fd.e.Start(fd.sysfd, time.Time{}, prep)
		if err != nil {
			return reactor.Result{}, err
		}
		res, err := o.Wait(p)
		if err == syscall.EINTR {
			continue
		}
		return res, err
	}
}

// recvMsg runs one recvmsg(2) into m through io_uring. The caller holds
// a reference and rmu.
//
// A recvmsg submitted to an empty socket would wait inside io_uring, the
// costly path doc.go describes. A one-byte MSG_PEEK|MSG_DONTWAIT recv
// probes first instead: if nothing is queued, the goroutine waits in the
// runtime netpoller and, once the socket is readable, submits the recvmsg,
// which then finds its data during the submitting enter. In a
// request-response exchange this costs what net's failed recvmsg, epoll
// wait and recvmsg cost; only a read that finds data already queued pays
// for the probe. Submitting the recvmsg itself with MSG_DONTWAIT
// (Ring.RecvMsgFlags), and waiting for writability in the netpoller
// before sends, were both measured slower in UDP ping-pong (server CPU
// 0.96-1.06x net's against 0.88-0.92x): a recvmsg that answers EAGAIN
// still prepares and pins its message header, where the probe is a plain
// recv.
func (fd *netFD) recvMsg(m *uring.Msghdr) (reactor.Result, error) {
	prep := func(r *reactor.Ring, o *reactor.Op) (uring.Job, error) {
		return r.RecvMsg(fd.sysfd, m, o)
	}
	if fd.raw == nil {
		return fd.run(&fd.rd, prep)
	}
	probe := func(r *reactor.Ring, o *reactor.Op) (uring.Job, error) {
		return r.Recv(fd.sysfd, peekScratch[:], unix.MSG_PEEK|unix.MSG_DONTWAIT, o)
	}
	for attempt := 1; ; attempt++ {
		var (
			res    reactor.Result
			oerr   error
			probed bool
		)
		err := fd.raw.Read(func(uintptr) bool {
			if !probed {
				probed = true
				_, err := fd.once(&fd.rd, probe)
				if err == syscall.EAGAIN {
					return false
				}
				if err != nil {
					// A pending socket error (an ICMP port
					// unreachable on a connected UDP socket) is
					// reported, and cleared, by the probe.
					oerr = err
					return true
				}
			}
			res, oerr = fd.once(&fd.rd, prep)
			return oerr != syscall.EAGAIN
		})
		if err != nil {
			return reactor.Result{}, waitErr(&fd.rd, err)
		}
		if oerr == nil {
			return res, nil
		}
		if stopped(oerr) {
			if perr := fd.rd.check(); perr != nil {
				return reactor.Result{}, perr
			}
			if !reactor.Spurious(oerr) || attempt < reactor.MaxRequeue {
				// The deadline moved meanwhile, or the kernel
				// cancelled the operation before it ran.
				continue
			}
		}
		return res, oerr
	}
}

// sendMsg runs one sendmsg(2) of b (and fds, as SCM_RIGHTS) to to, or to
// the connected peer if to is nil. The caller holds a reference and wmu.
// A datagram send hardly ever waits; one that must (a full stream socket)
// waits inside io_uring.
func (fd *netFD) sendMsg(b []byte, fds []int, to unix.Sockaddr) (int, error) {
	var bufs [][]byte
	if len(b) > 0 {
		bufs = [][]byte{b}
	}
	for attempt := 1; ; attempt++ {
		res, err := fd.run(&fd.wr, func(r *reactor.Ring, o *reactor.Op) (uring.Job, error) {
			return r.SendMsg(fd.sysfd, bufs, fds, to, o)
		})
		if reactor.Spurious(err) && attempt < reactor.MaxRequeue {
			continue
		}
		if err != nil {
			return 0, err
		}
		return int(res.Res), nil
	}
}

// fdsRoom is how many descriptors an oob buffer of n bytes has room for,
// encoded as syscall.UnixRights encodes them.
func fdsRoom(n int) int {
	k := 0
	for unix.CmsgSpace((k+1)*4) <= n {
		k++
	}
	return k
}

// readMsg receives one message into b through io_uring; the descriptors
// that came with it, as many as fit in oob, are written to oob as an
// SCM_RIGHTS control message. Flags has MSG_TRUNC if the datagram was
// longer than b (the rest is lost) and MSG_CTRUNC if more descriptors
// came than oob has room for (the kernel closed the others). dummy says
// that an empty b should read one byte, as for a stream socket carrying
// only descriptors (net does the same).
func (fd *netFD) readMsg(b, oob []byte, dummy bool) (n, oobn, flags int, sa unix.Sockaddr, err error) {
	var dummyBuf [1]byte
	var bufs [][]byte
	switch {
	case len(b) > 0:
		bufs = [][]byte{b}
	case dummy && len(oob) > 0:
		bufs = [][]byte{dummyBuf[:]}
	}
	m := uring.NewMsghdr(bufs, fdsRoom(len(oob)))
	res, err := fd.recvMsg(m)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	n = int(res.Res)
	if len(b) == 0 {
		n = 0
	}
	// The kernel echoes MSG_CMSG_CLOEXEC, which RecvMsg always asks
	// for; it says nothing about the message.
	flags = m.Flags() &^ unix.MSG_CMSG_CLOEXEC
	fds, ferr := m.Fds()
	if ferr != nil {
		return n, 0, flags, nil, ferr
	}
	if len(fds) > 0 {
		oobn = copy(oob, unix.UnixRights(fds...))
	}
	sa, err = m.Source()
	if err != nil {
		for _, f := range fds {
			unix.Close(f)
		}
		return n, 0, flags, nil, err
	}
	return n, oobn, flags, sa, nil
}

// errUnsupportedOOB is the error for control messages other than
// SCM_RIGHTS, which uring.Ring.SendMsg cannot carry.
var errUnsupportedOOB = errors.New("uringnet: only SCM_RIGHTS control messages (syscall.UnixRights) can be sent; use package net for others")

// oobFds returns the descriptors of an SCM_RIGHTS oob buffer.
func oobFds(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			return nil, errUnsupportedOOB
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return nil, err
		}
		fds = append(fds, got...)
	}
	return fds, nil
}
