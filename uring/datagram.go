package uring

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/uring-go/uring/internal/ring"
	"golang.org/x/sys/unix"
)

// recvMsgMultishot is what one RecvMsgMultishot hands the kernel: the
// msghdr it reads for the room to leave for the address and control data,
// and the buffer ring, which BufRing.Close counts as in use while the
// receive is armed.
type recvMsgMultishot struct {
	hdr  unix.Msghdr
	name unix.RawSockaddrAny // never written: multishot puts the address in the buffer
	br   *BufRing
}

// RecvMsgMultishot queues a recvmsg(2) on the socket fd that stays armed
// and takes a buffer from br for each datagram (io_uring_prep_recvmsg_multishot).
// Each buffer starts with a header, then nameLen bytes of room for the
// sender's address, then controlLen bytes of room for control data, then
// the payload; the completion's result is the number of bytes of the
// buffer used. Read it with ParseRecvMsgOut(br.Buf(bid, result), nameLen,
// controlLen). A payload longer than the room left in the buffer is
// truncated and reported with MSG_TRUNC. The receive ends as
// RecvMultishot's does: a completion without CQEMore (an error,
// -ECANCELED after Cancel, -ENOBUFS when br is empty). Kernels before
// Linux 6.0 fail it with EINVAL; use RecvMsg there.
func (r *Ring[T]) RecvMsgMultishot(fd int, br *BufRing, nameLen, controlLen, flags int, data T) (Job, error) {
	if err := r.checkBufRing(br); err != nil {
		return Job{}, err
	}
	if nameLen < 0 || nameLen > sizeofAny || controlLen < 0 {
		return Job{}, fmt.Errorf("uring: RecvMsgMultishot with %d bytes for the address and %d for control data: the address takes 0 to %d", nameLen, controlLen, sizeofAny)
	}
	if hdrLen := recvMsgOutLen + nameLen + controlLen; hdrLen >= br.bufSize {
		return Job{}, fmt.Errorf("uring: RecvMsgMultishot needs %d bytes of each buffer before the payload; the buffer ring's are %d bytes", hdrLen, br.bufSize)
	}
	sqe, s, j, err := r.prepMem(OpRecvMsg, data)
	if err != nil {
		return j, err
	}
	m := &recvMsgMultishot{br: br}
	if nameLen > 0 {
		// The kernel ignores msg_namelen when msg_name is NULL.
		m.hdr.Name = (*byte)(unsafe.Pointer(&m.name))
		m.hdr.Namelen = uint32(nameLen)
	}
	m.hdr.SetControllen(controlLen)
	if controlLen > 0 {
		// Like the name, control data goes into the buffer; the pointer
		// only has to be non-NULL.
		m.hdr.Control = (*byte)(unsafe.Pointer(&m.name))
	}
	s.keep = m
	s.pin.Pin(m)
	s.pinned = true
	setMsg(sqe, fd, &m.hdr, uint32(flags|unix.MSG_CMSG_CLOEXEC))
	sqe.Flags = ring.IOSQE_BUFFER_SELECT
	sqe.BufIndex = br.group
	sqe.Ioprio = ring.IORING_RECV_MULTISHOT
	return j, nil
}

// recvMsgOutLen is the size of struct io_uring_recvmsg_out.
const recvMsgOutLen = int(unsafe.Sizeof(ring.RecvmsgOut{}))

// RecvMsgOut is one datagram delivered by RecvMsgMultishot, as slices of
// the provided buffer it arrived in: valid until the buffer is recycled.
type RecvMsgOut struct {
	// Name is the sender's address as the kernel encodes it (a struct
	// sockaddr_in or sockaddr_in6, say), cut to the room offered.
	Name []byte
	// Control is the control data, cut to the room offered.
	Control []byte
	// Payload is the datagram, or as much of it as fitted.
	Payload []byte
	// PayloadLen is the length recvmsg(2) would have returned: the
	// bytes received, or with the MSG_TRUNC receive flag the datagram's
	// full length.
	PayloadLen int
	// Flags are recvmsg(2)'s msg_flags: MSG_TRUNC, MSG_CTRUNC.
	Flags int
}

// ParseRecvMsgOut splits buf, the used part of a buffer that
// RecvMsgMultishot filled with nameLen and controlLen, into its parts
// (io_uring_recvmsg_validate and friends). It allocates nothing.
func ParseRecvMsgOut(buf []byte, nameLen, controlLen int) (RecvMsgOut, error) {
	head := recvMsgOutLen + nameLen + controlLen
	if nameLen < 0 || controlLen < 0 || len(buf) < head {
		return RecvMsgOut{}, fmt.Errorf("uring: multishot recvmsg buffer of %d bytes is shorter than its %d-byte header", len(buf), head)
	}
	// The header is four host-endian u32s at the buffer's start, which
	// the kernel wrote before posting the completion.
	var o ring.RecvmsgOut
	copy((*[recvMsgOutLen]byte)(unsafe.Pointer(&o))[:], buf)
	name := buf[recvMsgOutLen : recvMsgOutLen+min(int(o.Namelen), nameLen)]
	ctl := buf[recvMsgOutLen+nameLen : recvMsgOutLen+nameLen+min(int(o.Controllen), controlLen)]
	return RecvMsgOut{
		Name:       name,
		Control:    ctl,
		Payload:    buf[head:],
		PayloadLen: int(o.Payloadlen),
		Flags:      int(o.Flags),
	}, nil
}

// RawSource returns the sender's address of the last message received
// into m as the kernel encoded it, without converting it (Source does,
// at the cost of an allocation). The slice aliases m and is valid until
// m's next receive.
func (m *Msghdr) RawSource() []byte {
	b := (*[unsafe.Sizeof(unix.RawSockaddrAny{})]byte)(unsafe.Pointer(&m.name))
	return b[:min(int(m.hdr.Namelen), len(b))]
}

// Datagram is an outgoing message for SendDatagram: a payload and a
// destination address, held with the msghdr the kernel reads, so that a
// sender that reuses its Datagrams allocates nothing per send. A Datagram
// must not be changed or sent again until the completion of its send has
// been collected.
type Datagram struct {
	hdr  unix.Msghdr
	iov  unix.Iovec
	name unix.RawSockaddrAny
	n    uint32 // the address's length; 0 for none
	buf  []byte
}

// SetPayload sets the data to send; the Datagram keeps p, not a copy.
func (d *Datagram) SetPayload(p []byte) { d.buf = p }

// Payload returns the data set by SetPayload.
func (d *Datagram) Payload() []byte { return d.buf }

// SetAddr sets the destination, nil for none (a connected socket).
func (d *Datagram) SetAddr(sa unix.Sockaddr) error {
	if sa == nil {
		d.n = 0
		return nil
	}
	n, err := sockaddrToRaw(sa, &d.name)
	if err != nil {
		d.n = 0
		return err
	}
	d.n = n
	return nil
}

// SetRawAddr sets the destination from an address as the kernel encodes
// it, such as RecvMsgOut.Name or Msghdr.RawSource: an IPv4 or IPv6
// address, or a Unix one.
func (d *Datagram) SetRawAddr(raw []byte) error {
	if len(raw) < 2 || len(raw) > sizeofAny {
		d.n = 0
		return fmt.Errorf("uring: raw socket address of %d bytes: want 2 to %d", len(raw), sizeofAny)
	}
	b := (*[unsafe.Sizeof(unix.RawSockaddrAny{})]byte)(unsafe.Pointer(&d.name))
	copy(b[:], raw)
	switch fam := binary.NativeEndian.Uint16(raw); fam {
	case unix.AF_INET, unix.AF_INET6, unix.AF_UNIX:
	default:
		d.n = 0
		return fmt.Errorf("uring: raw socket address of family %d: want AF_INET, AF_INET6 or AF_UNIX", fam)
	}
	d.n = uint32(len(raw))
	return nil
}

// SetUDPAddr sets an IPv4 or IPv6 destination without allocating: ip is
// 4 or 16 bytes, zone an IPv6 scope (interface index) or 0. With family
// unix.AF_INET6 an IPv4 address is encoded IPv4-mapped, as a dual-stack
// IPv6 socket wants it.
func (d *Datagram) SetUDPAddr(family int, ip []byte, port int, zone uint32) error {
	if port < 0 || port > 0xffff {
		d.n = 0
		return fmt.Errorf("uring: port %d out of range", port)
	}
	d.name = unix.RawSockaddrAny{}
	b := (*[unsafe.Sizeof(unix.RawSockaddrAny{})]byte)(unsafe.Pointer(&d.name))
	if ip4 := to4(ip); ip4 != nil && family == unix.AF_INET {
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&d.name))
		p.Family = unix.AF_INET
		binary.BigEndian.PutUint16(b[2:4], uint16(port))
		copy(p.Addr[:], ip4)
		d.n = uint32(sizeofInet4)
		return nil
	}
	if family != unix.AF_INET6 || (len(ip) != 4 && len(ip) != 16) {
		d.n = 0
		return fmt.Errorf("uring: %d-byte IP address for address family %d", len(ip), family)
	}
	p := (*unix.RawSockaddrInet6)(unsafe.Pointer(&d.name))
	p.Family = unix.AF_INET6
	binary.BigEndian.PutUint16(b[2:4], uint16(port))
	if len(ip) == 4 {
		p.Addr[10], p.Addr[11] = 0xff, 0xff
		copy(p.Addr[12:], ip)
	} else {
		copy(p.Addr[:], ip)
	}
	p.Scope_id = zone
	d.n = uint32(sizeofInet6)
	return nil
}

// to4 returns ip's IPv4 form if it is 4 bytes or IPv4-mapped, else nil.
func to4(ip []byte) []byte {
	if len(ip) == 4 {
		return ip
	}
	if len(ip) == 16 && ip[10] == 0xff && ip[11] == 0xff {
		for _, c := range ip[:10] {
			if c != 0 {
				return nil
			}
		}
		return ip[12:16]
	}
	return nil
}

// SendDatagram queues a sendmsg(2) of d's payload to d's address on the
// socket fd with MSG_* flags. The result is the number of bytes sent. The
// ring keeps d and its payload alive and pinned until the completion is
// collected; d may then be reused.
func (r *Ring[T]) SendDatagram(fd int, d *Datagram, flags int, data T) (Job, error) {
	if d == nil {
		return Job{}, errorString("uring: SendDatagram with a nil Datagram")
	}
	sqe, s, j, err := r.prepMem(OpSendMsg, data)
	if err != nil {
		return j, err
	}
	d.hdr = unix.Msghdr{}
	if d.n > 0 {
		d.hdr.Name = (*byte)(unsafe.Pointer(&d.name))
		d.hdr.Namelen = d.n
	}
	d.iov = unix.Iovec{}
	if len(d.buf) > 0 {
		p := unsafe.SliceData(d.buf)
		s.pin.Pin(p)
		d.iov.Base = p
	}
	d.iov.SetLen(len(d.buf))
	d.hdr.Iov = &d.iov
	d.hdr.SetIovlen(1)
	s.pin.Pin(d)
	s.pinned = true
	s.keep = d
	setMsg(sqe, fd, &d.hdr, uint32(flags))
	return j, nil
}

// selectedFrom returns the buffer ring an operation whose slot keeps
// keep selects its buffers from, or nil.
func selectedFrom(keep any) *BufRing {
	switch k := keep.(type) {
	case *BufRing:
		return k
	case *recvMsgMultishot:
		return k.br
	}
	return nil
}
