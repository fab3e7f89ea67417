package uring

import (
	"github.com/uring-go/uring/internal/ring"
	"golang.org/x/sys/unix"
)

// Socket queues a socket(2). The completion's result is the new fd. Pass
// unix.SOCK_CLOEXEC (and unix.SOCK_NONBLOCK if wanted) in typ, as with
// socket(2); nothing is added. Linux 5.19.
func (r *Ring[T]) Socket(domain, typ, proto int, data T) (Job, error) {
	sqe, j, err := r.prep(OpSocket, data)
	if err != nil {
		return j, err
	}
	// io_uring_prep_socket: the domain travels in fd, the type in off and
	// the protocol in len; rw_flags must stay 0.
	sqe.Fd = int32(domain)
	sqe.Off = uint64(typ)
	sqe.Len = uint32(proto)
	return j, nil
}

// sockaddrOp queues an operation that passes a socket address in addr and
// its length in addr2 (off), as connect and bind do.
func (r *Ring[T]) sockaddrOp(op Op, fd int, sa unix.Sockaddr, data T) (Job, error) {
	if r.closed {
		return Job{}, ErrClosed
	}
	raw := new(unix.RawSockaddrAny)
	n, err := sockaddrToRaw(sa, raw)
	if err != nil {
		return Job{}, err
	}
	sqe, s, j, err := r.prepMem(op, data)
	if err != nil {
		return j, err
	}
	// The kernel may copy the address only when the operation is issued
	// (after Submit, or later from a worker), so it stays in the slot.
	s.keep = raw
	sqe.Fd = int32(fd)
	sqe.Addr = ptr(raw)
	sqe.Off = uint64(n)
	return j, nil
}

// Bind queues a bind(2) of the socket fd to sa. The result is 0. Linux
// 6.11.
func (r *Ring[T]) Bind(fd int, sa unix.Sockaddr, data T) (Job, error) {
	return r.sockaddrOp(OpBind, fd, sa, data)
}

// Listen queues a listen(2) on the bound socket fd with the given backlog
// (which the kernel caps at net.core.somaxconn). The result is 0. Linux
// 6.11.
func (r *Ring[T]) Listen(fd, backlog int, data T) (Job, error) {
	sqe, j, err := r.prep(OpListen, data)
	if err != nil {
		return j, err
	}
	sqe.Fd = int32(fd)
	sqe.Len = uint32(backlog)
	return j, nil
}

// Connect queues a connect(2) of the socket fd to sa. The result is 0 once
// the connection is established, even on a non-blocking socket: the ring
// waits for it rather than reporting EINPROGRESS.
func (r *Ring[T]) Connect(fd int, sa unix.Sockaddr, data T) (Job, error) {
	return r.sockaddrOp(OpConnect, fd, sa, data)
}

// Accept queues an accept4(2) on the listening socket fd. The result is
// the new connection's fd, which is always close-on-exec (SOCK_CLOEXEC is
// added to flags; add unix.SOCK_NONBLOCK if wanted). If peer is not nil,
// the peer's address is stored in it; read it with peer.Sockaddr after the
// completion has been collected.
func (r *Ring[T]) Accept(fd int, peer *Sockaddr, flags int, data T) (Job, error) {
	sqe, s, j, err := r.prepMem(OpAccept, data)
	if err != nil {
		return j, err
	}
	sqe.Fd = int32(fd)
	sqe.OpFlags = uint32(flags | unix.SOCK_CLOEXEC)
	if peer != nil {
		peer.reset()
		s.keep = peer
		sqe.Addr = ptr(&peer.raw)
		// addr2 points at the socklen_t: room on the way in, the
		// address's length on the way out.
		sqe.Off = ptr(&peer.n)
	}
	return j, nil
}

// AcceptMultishot queues an accept that stays armed: each connection
// posts a completion whose result is its fd (close-on-exec, like Accept's)
// and whose flags have CQEMore. A completion without CQEMore, an error or
// the result of Cancel, ends it. Peer addresses are not reported; use
// getpeername. Linux 5.19.
func (r *Ring[T]) AcceptMultishot(fd int, flags int, data T) (Job, error) {
	sqe, j, err := r.prep(OpAccept, data)
	if err != nil {
		return j, err
	}
	sqe.Fd = int32(fd)
	sqe.OpFlags = uint32(flags | unix.SOCK_CLOEXEC)
	sqe.Ioprio = ring.IORING_ACCEPT_MULTISHOT
	return j, nil
}

// Send queues a send(2) of buf on the socket fd with MSG_* flags. The
// result is the number of bytes sent, which may be short.
func (r *Ring[T]) Send(fd int, buf []byte, flags int, data T) (Job, error) {
	return r.sendRecv(OpSend, fd, buf, flags, data)
}

// Recv queues a recv(2) into buf from the socket fd with MSG_* flags. The
// result is the number of bytes received, 0 at end of stream.
func (r *Ring[T]) Recv(fd int, buf []byte, flags int, data T) (Job, error) {
	return r.sendRecv(OpRecv, fd, buf, flags, data)
}

func (r *Ring[T]) sendRecv(op Op, fd int, buf []byte, flags int, data T) (Job, error) {
	sqe, s, j, err := r.prepMem(op, data)
	if err != nil {
		return j, err
	}
	s.buf = buf
	sqe.Fd = int32(fd)
	sqe.Addr = bufAddr(buf)
	sqe.Len = uint32(len(buf))
	sqe.OpFlags = uint32(flags)
	return j, nil
}

// SendZC queues a zero-copy send of buf on the socket fd: the kernel sends
// from buf's pages instead of copying them. It posts two completions, even
// when the send fails: the result (bytes sent, or an error), with CQEMore
// set, and later a notification with CQENotif set and no CQEMore, once the
// kernel no longer uses buf. buf must not be modified until the
// notification; the ring keeps it until then. Only sockets that support
// zero copy (TCP, UDP) accept it; others fail with EOPNOTSUPP. Linux 6.0.
func (r *Ring[T]) SendZC(fd int, buf []byte, flags int, data T) (Job, error) {
	return r.sendRecv(OpSendZC, fd, buf, flags, data)
}

// SendMsg queues a sendmsg(2) on the socket fd: the data of bufs, in
// order; fds, if any, passed as SCM_RIGHTS (Unix sockets only; the
// receiver gets duplicates, the caller keeps its own); and to, if not nil,
// as the destination (for unconnected datagram sockets). The result is the
// number of bytes sent. At most IovMax buffers.
func (r *Ring[T]) SendMsg(fd int, bufs [][]byte, fds []int, to unix.Sockaddr, data T) (Job, error) {
	return r.SendMsgFlags(fd, bufs, fds, to, 0, data)
}

// SendMsgFlags is SendMsg with sendmsg(2) flags: unix.MSG_DONTWAIT, for
// instance, makes a send that would block complete with EAGAIN instead of
// waiting inside io_uring.
func (r *Ring[T]) SendMsgFlags(fd int, bufs [][]byte, fds []int, to unix.Sockaddr, flags int, data T) (Job, error) {
	if r.closed {
		return Job{}, ErrClosed
	}
	m, err := newSendMsg(bufs, fds, to)
	if err != nil {
		return Job{}, err
	}
	sqe, s, j, err := r.prepMem(OpSendMsg, data)
	if err != nil {
		return j, err
	}
	pinMsghdr(s, &m.hdr, m.iov, m.bufs, m.control)
	s.keep = m
	setMsg(sqe, fd, &m.hdr, uint32(flags))
	return j, nil
}

// RecvMsg queues a recvmsg(2) on the socket fd into m. The result is the
// number of bytes received, spread over m's buffers in order; then m's
// Fds, Source and Flags tell the rest. Received descriptors are
// close-on-exec (MSG_CMSG_CLOEXEC), as with package net.
func (r *Ring[T]) RecvMsg(fd int, m *Msghdr, data T) (Job, error) {
	return r.RecvMsgFlags(fd, m, 0, data)
}

// RecvMsgFlags is RecvMsg with recvmsg(2) flags (MSG_CMSG_CLOEXEC is
// always added): unix.MSG_DONTWAIT, for instance, makes a receive from an
// empty socket complete with EAGAIN instead of waiting inside io_uring.
func (r *Ring[T]) RecvMsgFlags(fd int, m *Msghdr, flags int, data T) (Job, error) {
	return r.msghdrOp(OpRecvMsg, "RecvMsg", fd, m, uint32(flags|unix.MSG_CMSG_CLOEXEC), data)
}

// Shutdown queues a shutdown(2) of the socket fd: unix.SHUT_RD, SHUT_WR or
// SHUT_RDWR. The result is 0.
func (r *Ring[T]) Shutdown(fd, how int, data T) (Job, error) {
	sqe, j, err := r.prep(OpShutdown, data)
	if err != nil {
		return j, err
	}
	sqe.Fd = int32(fd)
	sqe.Len = uint32(how)
	return j, nil
}
