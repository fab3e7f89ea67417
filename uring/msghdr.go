package uring

import (
	"fmt"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Msghdr is the message header a RecvMsg fills: the data buffers, room for
// received file descriptors, and the sender's address. Create one with
// NewMsghdr; after the RecvMsg completion has been collected, read what
// arrived with Fds, Source and Flags. A Msghdr may be reused for another
// RecvMsg once the previous one has completed, never by two at once.
type Msghdr struct {
	hdr     unix.Msghdr
	name    unix.RawSockaddrAny
	iov     []unix.Iovec
	bufs    [][]byte
	control []byte
	// room is the control length offered to the kernel; hdr.Controllen
	// is overwritten with what it used.
	room int

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
	m := &Msghdr{bufs: bufs, iov: make([]unix.Iovec, len(bufs))}
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

// prepare resets the header for a receive: the kernel overwrites the name
// length, control length and flags of the previous one.
func (m *Msghdr) prepare() {
	m.name = unix.RawSockaddrAny{}
	m.parsed, m.fds, m.fdsErr = false, nil, nil
	m.hdr = unix.Msghdr{
		Name:    (*byte)(unsafe.Pointer(&m.name)),
		Namelen: uint32(unsafe.Sizeof(m.name)),
	}
	if len(m.iov) > 0 {
		m.hdr.Iov = &m.iov[0]
		m.hdr.SetIovlen(len(m.iov))
	}
	if m.room > 0 {
		clear(m.control)
		m.hdr.Control = &m.control[0]
		m.hdr.SetControllen(m.room)
	}
}

// pin fills the iovecs and pins everything the kernel finds through the
// msghdr: the header itself (and the name inside it), the iovec array, the
// buffers and the control buffer. Their addresses live in Go memory the
// kernel reads after the submitting call has returned.
func pinMsghdr[T any](s *slot[T], hdr *unix.Msghdr, iov []unix.Iovec, bufs [][]byte, control []byte) {
	pinIovecs(s, iov, bufs)
	s.pin.Pin(hdr)
	if len(control) > 0 {
		s.pin.Pin(unsafe.SliceData(control))
	}
}

// Flags returns the message flags the kernel reported: MSG_TRUNC if the
// data did not fit in the buffers (a datagram's excess is lost),
// MSG_CTRUNC if more file descriptors were sent than the Msghdr had room
// for (the excess were closed by the kernel, not installed).
func (m *Msghdr) Flags() int { return int(m.hdr.Flags) }

// Fds returns the file descriptors that arrived with the message. They
// are new descriptors, close-on-exec, owned by the caller, who must close
// them; each call returns the same ones. If Flags has MSG_CTRUNC, some
// sent descriptors did not fit; those that did are still returned here.
func (m *Msghdr) Fds() ([]int, error) {
	if !m.parsed {
		m.fds, m.fdsErr = m.parseFds()
		m.parsed = true
	}
	return slices.Clone(m.fds), m.fdsErr
}

func (m *Msghdr) parseFds() ([]int, error) {
	n := int(m.hdr.Controllen)
	if n == 0 || m.room == 0 {
		return nil, nil
	}
	if n > len(m.control) {
		return nil, fmt.Errorf("uring: control length %d exceeds the control buffer (%d)", n, len(m.control))
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

// Source returns the sender's address, or nil if the message carried none
// (as on a connected socket or a socketpair).
func (m *Msghdr) Source() (unix.Sockaddr, error) {
	if m.hdr.Namelen == 0 {
		return nil, nil
	}
	return rawToSockaddr(&m.name, m.hdr.Namelen)
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
