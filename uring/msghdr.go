package uring

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Msghdr is a message header, the Go side of struct msghdr: data
// buffers, a control buffer and the peer's address. RecvMsg fills it;
// after the completion has been collected, Fds, Control, Source and Flags
// tell what arrived. SendMsghdr sends from it: its buffers, its control
// bytes as given, to its destination. The zero value has no buffers and
// no control room; NewMsghdr makes one with both.
//
// A Msghdr serves one operation at a time: it must not be changed (Set
// methods) or handed to another operation until the completion of the
// one that has it has been collected. The ring keeps it, its buffers and
// its control buffer reachable and pinned until then. Reusing one
// Msghdr, with SetBuffers and SetControl, is how a loop of receives or
// sends avoids allocating.
type Msghdr struct {
	hdr     unix.Msghdr
	name    unix.RawSockaddrAny
	iov     []unix.Iovec
	bufs    [][]byte
	control []byte
	// room is the control length offered to the kernel on receive;
	// hdr.Controllen is overwritten with what it used.
	room int
	// destLen is the length of the destination SetDestination encoded
	// in name, 0 for none. A receive overwrites name and clears it.
	destLen uint32
	// received says that hdr and name describe a completed receive,
	// not a send, so that Source never reports a destination.
	received bool

	// The descriptors are parsed once per message, so that repeated
	// calls to Fds agree and an error path never closes a number twice.
	parsed bool
	fds    []int
	fdsErr error
}

// NewMsghdr returns a Msghdr that receives into bufs, in order, and
// accepts up to maxFds file descriptors (SCM_RIGHTS). At most IovMax
// buffers.
func NewMsghdr(bufs [][]byte, maxFds int) *Msghdr {
	m := &Msghdr{}
	m.SetBuffers(bufs)
	if maxFds > 0 {
		// The buffer is CMSG_SPACE-sized, as the kernel aligns the
		// header it writes, but the kernel is offered only CMSG_LEN:
		// it installs as many fds as fit in the length offered, and
		// CMSG_SPACE rounds up to room for an extra fd when maxFds is
		// odd. Offering exactly maxFds makes "room for n" mean n, and
		// any more are reported with MSG_CTRUNC.
		m.control = make([]byte, unix.CmsgSpace(maxFds*4))
		m.room = unix.CmsgLen(maxFds * 4)
	}
	return m
}

// SetBuffers replaces the data buffers of the next RecvMsg or SendMsghdr
// with bufs, in order (at most IovMax). m keeps bufs itself, not a copy,
// and reuses its iovec array when it is large enough.
func (m *Msghdr) SetBuffers(bufs [][]byte) {
	m.bufs = bufs
	if cap(m.iov) < len(bufs) {
		m.iov = make([]unix.Iovec, len(bufs))
	}
	m.iov = m.iov[:len(bufs)]
}

// SetControl replaces the control buffer with b, which m keeps (not a
// copy). On receive the kernel is offered all of b, as recvmsg(2) with
// msg_controllen = len(b): it writes its control messages there
// (SCM_RIGHTS, IP_PKTINFO, timestamps, UDP_GRO, whatever the socket's
// options ask for) and sets MSG_CTRUNC in Flags when they did not fit;
// received descriptors that did not fit are released by the kernel
// (scm_detach_fds installs as many as msg_controllen has room for and
// drops its references to the rest), those that did are installed
// close-on-exec. Control then returns what it wrote. On send, b is sent
// as given: control messages laid out as the kernel expects
// (unix.UnixRights, unix.CmsgSpace and friends, or golang.org/x/net/ipv4's
// ControlMessage.Marshal). A nil b means none.
func (m *Msghdr) SetControl(b []byte) {
	m.control = b
	m.room = len(b)
	m.parsed, m.fds, m.fdsErr = false, nil, nil
}

// Control returns the control messages the last RecvMsg received: the
// first bytes of the control buffer, as many as the kernel wrote
// (msg_controllen after recvmsg(2)). unix.ParseSocketControlMessage
// decodes them. It aliases the control buffer.
func (m *Msghdr) Control() []byte {
	if !m.received {
		return nil
	}
	n := min(int(m.hdr.Controllen), m.room)
	return m.control[:n:n]
}

// SetDestination sets where the next SendMsghdr sends: sa, a
// *unix.SockaddrInet4, *unix.SockaddrInet6 or *unix.SockaddrUnix, for an
// unconnected datagram socket; nil for none (the connected peer). It
// copies the address, so sa may be reused at once. A RecvMsg clears it.
func (m *Msghdr) SetDestination(sa unix.Sockaddr) error {
	m.destLen = 0
	if sa == nil {
		return nil
	}
	n, err := sockaddrToRaw(sa, &m.name)
	if err != nil {
		return err
	}
	m.received = false
	m.destLen = n
	return nil
}

// prepare resets the header for a receive: the kernel overwrites the name
// length, control length and flags of the previous one.
func (m *Msghdr) prepare() {
	m.name = unix.RawSockaddrAny{}
	m.destLen = 0
	m.received = true
	m.parsed, m.fds, m.fdsErr = false, nil, nil
	m.hdr = unix.Msghdr{
		Name:    (*byte)(unsafe.Pointer(&m.name)),
		Namelen: uint32(unsafe.Sizeof(m.name)),
	}
	m.fill()
	if m.room > 0 {
		m.hdr.SetControllen(m.room)
	}
}

// prepareSend sets the header for a send: the destination, if any, and
// all of the control buffer.
func (m *Msghdr) prepareSend() {
	m.received = false
	m.parsed, m.fds, m.fdsErr = false, nil, nil
	m.hdr = unix.Msghdr{}
	if m.destLen > 0 {
		m.hdr.Name = (*byte)(unsafe.Pointer(&m.name))
		m.hdr.Namelen = m.destLen
	}
	m.fill()
	if len(m.control) > 0 {
		m.hdr.SetControllen(len(m.control))
	}
}

// fill points the header at the iovecs and the control buffer.
func (m *Msghdr) fill() {
	if len(m.iov) > 0 {
		m.hdr.Iov = &m.iov[0]
		m.hdr.SetIovlen(len(m.iov))
	}
	if len(m.control) > 0 {
		m.hdr.Control = &m.control[0]
	}
}

// pin fills the iovecs and pins everything the kernel finds through the
// msghdr: the header itself (and the name inside it), the iovec array, the
// buffers and the control buffer. Their addresses live in Go memory the
// kernel reads after the submitting call has returned.
func pinMsghdr(s *slotMem, hdr *unix.Msghdr, iov []unix.Iovec, bufs [][]byte, control []byte) {
	pinIovecs(s, iov, bufs)
	s.pin.Pin(hdr)
	if len(control) > 0 {
		s.pin.Pin(unsafe.SliceData(control))
	}
}

// Flags returns the message flags the kernel reported after a RecvMsg:
// MSG_TRUNC if the data did not fit in the buffers (a datagram's excess
// is lost), MSG_CTRUNC if the control messages did not fit in the control
// room (descriptors that did not fit were closed by the kernel, not
// installed). The kernel echoes MSG_CMSG_CLOEXEC, which RecvMsg always
// asks for.
func (m *Msghdr) Flags() int {
	if !m.received {
		return 0
	}
	return int(m.hdr.Flags)
}

// Fds returns the file descriptors that arrived with the message. They
// are new descriptors, close-on-exec, owned by the caller, who must close
// them; each call returns the same ones. If Flags has MSG_CTRUNC, some
// sent descriptors did not fit; those that did are still returned here.
// With a control buffer of the caller's (SetControl), they are those of
// the SCM_RIGHTS messages in Control, not more descriptors.
func (m *Msghdr) Fds() ([]int, error) {
	if !m.parsed {
		m.fds, m.fdsErr = m.parseFds()
		m.parsed = true
	}
	return slices.Clone(m.fds), m.fdsErr
}

func (m *Msghdr) parseFds() ([]int, error) {
	if !m.received {
		return nil, nil
	}
	n := int(m.hdr.Controllen)
	if n == 0 || m.room == 0 {
		return nil, nil
	}
	if n > m.room {
		return nil, fmt.Errorf("uring: control length %d exceeds the control room (%d)", n, m.room)
	}
	msgs, err := unix.ParseSocketControlMessage(m.control[:n])
	if err != nil {
		return nil, fmt.Errorf("uring: parsing received control messages: %w", err)
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			// The caller gets no descriptors along with the error, so
			// those already parsed are closed rather than leaked.
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, fmt.Errorf("uring: parsing received file descriptors: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// Source returns the sender's address after a RecvMsg, or nil if the
// message carried none (as on a connected socket or a socketpair).
func (m *Msghdr) Source() (unix.Sockaddr, error) {
	if !m.received || m.hdr.Namelen == 0 {
		return nil, nil
	}
	return rawToSockaddr(&m.name, m.hdr.Namelen)
}

// SourceInet returns the sender's IP address and port after a RecvMsg,
// without allocating: an IPv4 address (netip.Addr.Is4) from an AF_INET
// socket, a 16-byte one (IPv4-mapped for an IPv4 sender on a dual-stack
// socket) from an AF_INET6 socket. zoneIndex is the IPv6 scope, the
// interface index of a link-local sender (net.InterfaceByIndex names it);
// the address carries no zone. ok is false if the message carried no
// IPv4 or IPv6 address.
func (m *Msghdr) SourceInet() (addr netip.AddrPort, zoneIndex uint32, ok bool) {
	if !m.received {
		return netip.AddrPort{}, 0, false
	}
	n := int(m.hdr.Namelen)
	b := (*[unsafe.Sizeof(unix.RawSockaddrAny{})]byte)(unsafe.Pointer(&m.name))
	switch m.name.Addr.Family {
	case unix.AF_INET:
		if n < sizeofInet4 {
			return netip.AddrPort{}, 0, false
		}
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&m.name))
		// sin_port is in network byte order whatever the host's.
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), binary.BigEndian.Uint16(b[2:4])), 0, true
	case unix.AF_INET6:
		if n < sizeofInet6 {
			return netip.AddrPort{}, 0, false
		}
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(&m.name))
		return netip.AddrPortFrom(netip.AddrFrom16(p.Addr), binary.BigEndian.Uint16(b[2:4])), p.Scope_id, true
	}
	return netip.AddrPort{}, 0, false
}

// SendMsghdr queues a sendmsg(2) on the socket fd from m: its buffers'
// data, in order; its control bytes (SetControl) as given; to its
// destination (SetDestination), or to the connected peer if it has none.
// flags are sendmsg(2) flags (unix.MSG_NOSIGNAL, unix.MSG_DONTWAIT, ...).
// The result is the number of bytes sent. Unlike SendMsg, it allocates
// nothing when m is reused.
func (r *Ring[T]) SendMsghdr(fd int, m *Msghdr, flags int, data T) (Job, error) {
	return r.msghdrOp(OpSendMsg, "SendMsghdr", fd, m, uint32(flags), data)
}

// msghdrOp queues a recvmsg or sendmsg (op) on fd with m, readying m's
// header for the direction and keeping m and all it points to pinned and
// reachable until the completion is collected. caller names the method
// for errors.
func (r *Ring[T]) msghdrOp(op Op, caller string, fd int, m *Msghdr, flags uint32, data T) (Job, error) {
	if r.closed {
		return Job{}, ErrClosed
	}
	if m == nil {
		return Job{}, fmt.Errorf("uring: %s with a nil Msghdr; create one with NewMsghdr or use a zero Msghdr", caller)
	}
	if len(m.bufs) > IovMax {
		return Job{}, fmt.Errorf("uring: %s with %d buffers: at most %d (IOV_MAX)", caller, len(m.bufs), IovMax)
	}
	sqe, s, j, err := r.prepMem(op, data)
	if err != nil {
		return j, err
	}
	if op == OpSendMsg {
		m.prepareSend()
	} else {
		m.prepare()
	}
	pinMsghdr(s, &m.hdr, m.iov, m.bufs, m.control)
	s.keep = m
	setMsg(sqe, fd, &m.hdr, flags)
	return j, nil
}

// sendMsg is everything one SendMsg hands the kernel, kept in its slot.
type sendMsg struct {
	hdr     unix.Msghdr
	name    unix.RawSockaddrAny
	iov     []unix.Iovec
	bufs    [][]byte
	control []byte
}

func newSendMsg(bufs [][]byte, fds []int, to unix.Sockaddr) (*sendMsg, error) {
	if len(bufs) > IovMax {
		return nil, fmt.Errorf("uring: sendmsg with %d buffers: at most %d (IOV_MAX)", len(bufs), IovMax)
	}
	m := &sendMsg{bufs: bufs, iov: make([]unix.Iovec, len(bufs))}
	if to != nil {
		n, err := sockaddrToRaw(to, &m.name)
		if err != nil {
			return nil, err
		}
		m.hdr.Name = (*byte)(unsafe.Pointer(&m.name))
		m.hdr.Namelen = n
	}
	if len(m.iov) > 0 {
		m.hdr.Iov = &m.iov[0]
		m.hdr.SetIovlen(len(m.iov))
	}
	if len(fds) > 0 {
		m.control = unix.UnixRights(fds...)
		m.hdr.Control = &m.control[0]
		m.hdr.SetControllen(len(m.control))
	}
	return m, nil
}
