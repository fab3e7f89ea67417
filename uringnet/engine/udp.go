package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"github.com/panjf2000/gnet/v2/pkg/socket"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/sock"
	"github.com/uring-go/uring/uring"
)

// UDP, as gnet serves it: every event loop owns one socket bound to the
// address with SO_REUSEPORT (gnet forces the option on for UDP), so the
// kernel spreads senders over the loops. There are no connections: each
// datagram is one OnTraffic with a Conn whose RemoteAddr is the sender
// and whose Write replies to it; OnOpen and OnClose never run, a Close
// action is ignored, and bytes the handler leaves unread are dropped with
// the datagram.
//
// A loop receives with a multishot recvmsg that takes a provided buffer
// per datagram (Linux 6.0), the sender's address written at the buffer's
// head; on older kernels, a single recvmsg into one buffer, queued again
// after each datagram. Replies are sendmsg operations on the loop's ring,
// from send records the loop reuses, so a steady exchange allocates
// nothing per datagram.

// Operation kinds of UDP loops. They are numbered apart from the stream
// kinds in loop.go so that kinds added there cannot collide with them.
const (
	opUDPRecv opKind = 64 + iota // recvmsg on the loop's UDP socket
	opUDPSend                    // sendmsg of one datagram
)

// udpNameLen is the room for the sender's address in each receive: a
// struct sockaddr_in6, the larger of the two families.
const udpNameLen = int(unsafe.Sizeof(unix.RawSockaddrInet6{}))

// udpHeadroom is what a multishot recvmsg writes before the payload in
// each provided buffer: struct io_uring_recvmsg_out and the address.
const udpHeadroom = 16 + udpNameLen

// Largest UDP payloads: an IPv4 datagram holds 65535 bytes less the IP
// and UDP headers; an IPv6 payload (without jumbograms) 65535 less the
// UDP header. Larger writes fail at once with EMSGSIZE, as gnet's
// sendto does.
const (
	maxUDP4Payload = 65535 - 20 - 8
	maxUDP6Payload = 65535 - 8
)

// udpConnCacheSize is the number of senders a loop keeps a Conn for (see
// udpLoop.conns); a power of two.
const udpConnCacheSize = 256

// udpSock is the state of one UDP socket a loop receives on: its own
// socket on a udp address the engine serves, or a connected one served
// through Register or Enroll, as gnet's registered UDP conn. Only the
// loop goroutine touches it, except fd (see udpConn.sendNow).
type udpSock struct {
	fd        int // guarded by the loop's mu once the loop runs; -1 once closed
	family    int
	laddr     net.Addr
	conn      *udpConn // a registered socket's one Conn; nil for a listener's
	multishot bool     // receiving with multishot recvmsg, not the fallback
	armed     bool     // a receive is queued
	delivered bool     // a datagram has arrived: EINVAL is no longer the kernel's lack of multishot
	recvJob   uring.Job
	sends     int  // datagrams in flight on fd
	closing   bool // a registered socket being closed: fd closes once nothing is in flight

	// The single-shot fallback's message header and buffer.
	msg  *uring.Msghdr
	rbuf []byte

	// conns holds the Conn last used for a sender, by a hash of its
	// address, so that a sender that keeps talking reuses one Conn
	// instead of costing an allocation per datagram. A Conn is bound to
	// its sender for life, so one the handler kept (for AsyncWrite, say)
	// still answers that sender after it has been replaced here.
	conns [udpConnCacheSize]*udpConn
}

// udpSend is one datagram being sent: the kernel's view of it and the
// bytes, kept across sends so that their buffers are reused.
type udpSend struct {
	d   uring.Datagram
	buf []byte
	u   *udpSock // the socket it is sent on
}

// listenUDP creates a UDP socket bound to address with gnet's options:
// the address family and IPV6_V6ONLY chosen as gnet's
// socket.GetUDPSockAddr chooses them, SO_BROADCAST, SO_REUSEPORT (which
// gnet forces on for UDP), and membership of the group when the address
// is a multicast one, on the interface WithMulticastInterfaceIndex names.
func listenUDP(network, address string, o *gnet.Options) (*listener, error) {
	sa, family, udpAddr, v6only, err := socket.GetUDPSockAddr(network, address)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	fail := func(err error) (*listener, error) {
		unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: network, Addr: udpAddr, Err: err}
	}
	setInt := func(level, opt, v int) error {
		return os.NewSyscallError("setsockopt", unix.SetsockoptInt(fd, level, opt, v))
	}
	if family == unix.AF_INET6 && v6only {
		if err := setInt(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail(err)
		}
	}
	if err := setInt(unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return fail(err)
	}
	if err := setInt(unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fail(err)
	}
	if o.ReuseAddr {
		if err := setInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail(err)
		}
	}
	if o.SocketRecvBuffer > 0 {
		if err := setInt(unix.SOL_SOCKET, unix.SO_RCVBUF, o.SocketRecvBuffer); err != nil {
			return fail(err)
		}
	}
	if o.SocketSendBuffer > 0 {
		if err := setInt(unix.SOL_SOCKET, unix.SO_SNDBUF, o.SocketSendBuffer); err != nil {
			return fail(err)
		}
	}
	if udpAddr.IP.IsMulticast() {
		if join := socket.SetMulticastMembership(network, udpAddr); join != nil {
			if err := join(fd, o.MulticastInterfaceIndex); err != nil {
				return fail(err)
			}
		}
	}
	if o.BindToDevice != "" {
		if err := os.NewSyscallError("setsockopt", unix.BindToDevice(fd, o.BindToDevice)); err != nil {
			return fail(err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail(os.NewSyscallError("bind", err))
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		return fail(os.NewSyscallError("getsockname", err))
	}
	ln := &listener{fd: fd, network: "udp", addr: sock.Addr(unix.SOCK_DGRAM, bound), family: family}
	return ln, nil
}

// udpRebindAddress is the address the other loops' sockets bind to: the
// one asked for, with the port the first socket got. Re-resolving the
// bound address instead would change the socket: "udp://:9000" binds a
// dual-stack [::], while "[::]:9000" resolves to an IPv6-only one.
func udpRebindAddress(address string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return bound.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(bound.(*net.UDPAddr).Port))
}

// addUDP starts receiving on the UDP socket fd (a listener's when conn
// is nil, else the registered socket of conn), in init or on the loop.
func (l *loop) addUDP(fd, family int, laddr net.Addr, conn *udpConn) (*udpSock, error) {
	for _, op := range []uring.Op{uring.OpRecvMsg, uring.OpSendMsg} {
		if !l.ring.OpSupported(op) {
			return nil, fmt.Errorf("uringnet/engine: the kernel's io_uring lacks %s (Linux %s): %w", op, op.Since(), errors.ErrUnsupported)
		}
	}
	if err := l.udpBuffers(); err != nil {
		return nil, err
	}
	// Multishot recvmsg came with multishot recv (Linux 6.0) and needs
	// the buffer ring.
	multishot := l.feat.has(featMultishotRecv) && l.ubr != nil
	u := &udpSock{fd: fd, family: family, laddr: laddr, conn: conn, multishot: multishot}
	if conn != nil {
		conn.sock = u
	}
	if err := l.armUDP(u); err != nil {
		return nil, err
	}
	l.udps = append(l.udps, u)
	return u, nil
}

// udpBuffers creates the buffer ring UDP receives take their buffers
// from (group 1, apart from the stream receives' group 0, as its buffers
// have room for the header a multishot recvmsg writes), if the kernel has
// buffer rings and the loop has none yet. Without it, each socket's
// single recvmsg has a buffer of its own. As the stream receives' ring,
// it hands the kernel a few buffers at first and more as receives use
// them up, so that a loop serving a datagram at a time keeps a few pages
// of the ring resident, not one of each buffer.
func (l *loop) udpBuffers() error {
	if l.ubr != nil || !l.feat.has(featBufRing) {
		return nil
	}
	// Room for ReadBufferCap bytes of payload after the header a
	// multishot recvmsg writes, as gnet reads UDP into a buffer of
	// ReadBufferCap bytes.
	br, err := l.ring.NewBufRing(1, l.eng.cfg.bufRingEntries, l.bufSize+udpHeadroom, uring.WithInitialBuffers(l.eng.cfg.bufRingInitial))
	if err != nil {
		return fmt.Errorf("uringnet/engine: event loop %d: %w", l.idx, err)
	}
	l.ubr = br
	return nil
}

// armUDP queues the socket's receive.
func (l *loop) armUDP(u *udpSock) error {
	var err error
	var j uring.Job
	if u.multishot {
		j, err = l.queue(func() (uring.Job, error) {
			return l.ring.RecvMsgMultishot(u.fd, l.ubr, udpNameLen, 0, 0, opData{kind: opUDPRecv, ref: u})
		})
	} else {
		if u.msg == nil {
			u.rbuf = make([]byte, l.bufSize)
			u.msg = uring.NewMsghdr([][]byte{u.rbuf}, 0)
		}
		j, err = l.queue(func() (uring.Job, error) {
			return l.ring.RecvMsg(u.fd, u.msg, opData{kind: opUDPRecv, ref: u})
		})
	}
	if err == nil {
		u.armed = true
		u.recvJob = j
	}
	return err
}

func (l *loop) onUDPRecv(u *udpSock, cqe uring.Completion[opData]) error {
	more := cqe.More()
	if !more {
		u.armed = false
	}
	res := cqe.Result
	live := !l.quiescing && !l.stopping && !u.closing
	var err error
	if bid, ok := cqe.BufferID(); ok {
		if res > 0 && live {
			var out uring.RecvMsgOut
			out, err = uring.ParseRecvMsgOut(l.ubr.Buf(bid, int(res)), udpNameLen, 0)
			if err == nil {
				err = l.deliverUDP(u, out.Name, out.Payload)
			}
		}
		l.ubr.Add(bid)
	} else if !u.multishot && res >= 0 && live {
		// An empty datagram is one too: gnet hands it to OnTraffic.
		err = l.deliverUDP(u, u.msg.RawSource(), u.rbuf[:res])
	}
	if err != nil {
		return err
	}
	if u.closing {
		l.finishUDP(u)
		return nil
	}
	if more || l.stopping {
		return nil
	}
	if res < 0 {
		switch e := syscall.Errno(-res); e {
		case syscall.ENOBUFS:
			// Every buffer is out; those handed back in this batch
			// reach the kernel (flush publishes them) before the
			// receive queued now is submitted. The datagrams wait in
			// the socket.
			l.enobufs.Add(1)
		case syscall.ECANCELED, syscall.EINTR, syscall.EAGAIN:
		case syscall.ECONNREFUSED:
			// A connected (registered) socket's peer refused an
			// earlier datagram; gnet's recvfrom reports it and keeps
			// the socket.
			if u.conn == nil {
				return fmt.Errorf("uringnet/engine: event loop %d: %w", l.idx, os.NewSyscallError("recvmsg", e))
			}
		case syscall.EINVAL:
			if !u.multishot || u.delivered {
				return fmt.Errorf("uringnet/engine: event loop %d: %w", l.idx, os.NewSyscallError("recvmsg", e))
			}
			// A kernel without multishot recvmsg (before 6.0).
			u.multishot = false
		default:
			return fmt.Errorf("uringnet/engine: event loop %d: %w", l.idx, os.NewSyscallError("recvmsg", e))
		}
	}
	return l.armUDP(u)
}

// deliverUDP runs OnTraffic for one datagram on u from the sender whose
// address the kernel encoded as name.
func (l *loop) deliverUDP(u *udpSock, name, payload []byte) error {
	u.delivered = true
	l.countRead(len(payload))
	var c *udpConn
	if u.conn != nil {
		// A registered socket: its one Conn, whose Context persists,
		// as gnet's registered conn's does.
		c = u.conn
		c.buf = payload
	} else {
		if len(name) < 2 || len(name) > udpNameLen {
			// Not an IP sender (truncated or missing): nothing to reply to.
			l.eng.logger.Warnf("uringnet/engine: event loop %d: datagram with a %d-byte source address dropped", l.idx, len(name))
			return nil
		}
		c = l.udpConnFor(u, name)
		c.buf, c.ctx = payload, nil
	}
	action := l.handler.OnTraffic(c)
	c.buf = nil
	// As in gnet, Close means nothing here (gnet's UDP read ignores it,
	// for a registered conn too); only Shutdown acts.
	if action == gnet.Shutdown {
		l.quiesce()
		return errorx.ErrEngineShutdown
	}
	return nil
}

// udpConnFor returns the Conn for the sender name on u, from the cache or
// new.
func (l *loop) udpConnFor(u *udpSock, name []byte) *udpConn {
	// FNV-1a over the address bytes.
	h := uint32(2166136261)
	for _, b := range name {
		h = (h ^ uint32(b)) * 16777619
	}
	slot := &u.conns[h&(udpConnCacheSize-1)]
	if c := *slot; c != nil && bytes.Equal(c.peer[:c.peerLen], name) {
		return c
	}
	c := newUDPConn(l, u, name)
	*slot = c
	return c
}

// sendUDP queues p as one datagram on u, to the raw address peer if it is
// not nil, else to the address set by setAddr.
func (l *loop) sendUDP(u *udpSock, p []byte, peer []byte, setAddr func(*uring.Datagram) error) error {
	if u.closing {
		return net.ErrClosed
	}
	var s *udpSend
	if n := len(l.udpFree); n > 0 {
		s = l.udpFree[n-1]
		l.udpFree[n-1] = nil
		l.udpFree = l.udpFree[:n-1]
	} else {
		s = new(udpSend)
	}
	var err error
	if peer != nil {
		err = s.d.SetRawAddr(peer)
	} else {
		err = setAddr(&s.d)
	}
	if err != nil {
		l.udpFree = append(l.udpFree, s)
		return err
	}
	s.buf = append(s.buf[:0], p...)
	s.d.SetPayload(s.buf)
	s.u = u
	_, err = l.queue(func() (uring.Job, error) {
		return l.ring.SendDatagram(u.fd, &s.d, 0, opData{kind: opUDPSend, ref: s})
	})
	if err != nil {
		s.u = nil
		l.udpFree = append(l.udpFree, s)
		return err
	}
	u.sends++
	return nil
}

func (l *loop) onUDPSend(s *udpSend, res int32) error {
	if res >= 0 {
		l.countWrite(int(res))
	}
	if res < 0 && !l.stopping {
		// gnet's Write would have returned this error from sendto; the
		// handler has long returned, so it is logged.
		e := syscall.Errno(-res)
		if e != syscall.ECANCELED {
			l.eng.logger.Warnf("uringnet/engine: event loop %d: UDP send of %d bytes: %v", l.idx, len(s.buf), os.NewSyscallError("sendmsg", e))
		}
	}
	u := s.u
	s.u = nil
	s.d.SetPayload(nil)
	l.udpFree = append(l.udpFree, s)
	if u != nil {
		u.sends--
		if u.closing {
			l.finishUDP(u)
		}
	}
	return nil
}

// closeUDP closes a registered UDP conn as gnet's eventloop.close does:
// OnClose with err, then the socket, once its receive has been cancelled
// and its sends have completed. It reports ErrEngineShutdown if OnClose
// asked for Shutdown.
func (l *loop) closeUDP(c *udpConn, err error) error {
	if !c.opened {
		return nil
	}
	c.opened = false
	u := c.sock
	for i, x := range l.udps {
		if x == u {
			l.udps = append(l.udps[:i], l.udps[i+1:]...)
			break
		}
	}
	l.count.Add(-1)
	l.closed.Add(1)
	u.closing = true
	l.udpClosing = append(l.udpClosing, u)
	action := l.handler.OnClose(c, err)
	c.ctx = nil
	if u.armed {
		l.queue(func() (uring.Job, error) { return l.ring.Cancel(u.recvJob, opData{kind: opCancel}) })
	}
	l.finishUDP(u)
	if action == gnet.Shutdown {
		l.quiesce()
		return errorx.ErrEngineShutdown
	}
	return nil
}

// finishUDP closes a closing registered socket once nothing on the ring
// names it.
func (l *loop) finishUDP(u *udpSock) {
	if u.armed || u.sends > 0 || u.fd < 0 {
		return
	}
	l.mu.Lock()
	unix.Close(u.fd)
	u.fd = -1
	l.mu.Unlock()
	for i, x := range l.udpClosing {
		if x == u {
			l.udpClosing = append(l.udpClosing[:i], l.udpClosing[i+1:]...)
			break
		}
	}
}

// maxPayload returns the largest datagram sendable to the raw address
// peer.
func maxPayload(peer []byte) int {
	if len(peer) >= udpNameLen && binary16(peer) == unix.AF_INET6 {
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(unsafe.SliceData(peer)))
		if net.IP(a.Addr[:]).To4() == nil { // not IPv4-mapped
			return maxUDP6Payload
		}
	}
	return maxUDP4Payload
}

func binary16(b []byte) uint16 { return binary.NativeEndian.Uint16(b) }
