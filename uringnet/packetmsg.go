package uringnet

import (
	"net"
	"net/netip"
	"syscall"

	"github.com/uring-go/uring/internal/fdlife"
	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/sock"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// peekScratch receives the byte a readiness probe peeks at. The kernel
// writes it and nothing reads it, so every socket can share it.
var peekScratch [1]byte

// once runs one operation through the executor, waiting on p for the
// deadline or Close while the kernel holds it. Its operations (a
// connection's recvs and sends and a datagram's sends, with
// MSG_DONTWAIT; probes; recvmsgs of a readable socket) complete during
// the enter that submits them, so they go on the ring of the processor
// the goroutine runs on, not the fd's: the goroutines the netpoller
// readies together then submit theirs with one enter (see
// reactor.StartLocal). A deadline or Close cancels the operation
// through its own Op, so nothing needs it on one fd's ring.
func (fd *netFD) once(p *fdlife.Waiter, prep reactor.Prep) (reactor.Result, error) {
	for {
		res, err := fd.e.Run(p, func() (*reactor.Operation, error) { return fd.e.StartLocal(prep) })
		if err == syscall.EINTR {
			continue
		}
		return res, err
	}
}

// msgIO is one direction of a socket's message I/O (recvmsg or sendmsg):
// the header io_uring reads and writes, and the operation closures, made
// once so that a message read or write allocates nothing. The direction's
// mutex (rmu or wmu) makes it one operation at a time; the executor's
// Wait returns only once the kernel is done with the header, so the next
// operation may reuse it.
type msgIO struct {
	fd *netFD
	m  uring.Msghdr
	// bufs backs m's buffer list; dummy is the byte a stream reads or
	// writes when a message carries only control data.
	bufs  [1][]byte
	dummy [1]byte

	prep   reactor.Prep // RecvMsg or SendMsghdr of m
	probe  reactor.Prep // the readiness probe of a receive
	direct reactor.Prep // RecvMsg or SendMsghdr of m with MSG_DONTWAIT
	try    func(uintptr) bool

	// dgram says that sends are datagrams, each sent whole or not at
	// all, so that one may go with MSG_DONTWAIT and wait for
	// writability in the netpoller (see write).
	dgram bool

	// queued says that the last receive found its message already
	// queued; the next one then skips the probe (see recv).
	queued bool

	// The operation in progress, for try; begun says that a receive
	// has made its probe (cleared before recv's pollWait, and by
	// attempt once done).
	pollOutcome
	begun bool
}

// msgReader returns the fd's message read state, made on first use. The
// caller holds rmu.
func (fd *netFD) msgReader() *msgIO {
	if fd.rmsg == nil {
		fd.rmsg = newMsgIO(fd, false)
	}
	return fd.rmsg
}

// msgWriter returns the fd's message write state, made on first use;
// dgram says the socket sends datagrams (see msgIO.write). The caller
// holds wmu.
func (fd *netFD) msgWriter(dgram bool) *msgIO {
	if fd.wmsg == nil {
		fd.wmsg = newMsgIO(fd, true)
		fd.wmsg.dgram = dgram
	}
	return fd.wmsg
}

func newMsgIO(fd *netFD, send bool) *msgIO {
	d := &msgIO{fd: fd}
	if send {
		// MSG_NOSIGNAL: a send to a stream whose peer has gone fails
		// with EPIPE instead of raising SIGPIPE.
		d.prep = func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
			return r.SendMsghdr(fd.sysfd, &d.m, unix.MSG_NOSIGNAL, o)
		}
		d.direct = func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
			return r.SendMsghdr(fd.sysfd, &d.m, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT, o)
		}
		d.try = d.attemptSend
		return d
	}
	d.prep = func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.RecvMsg(fd.sysfd, &d.m, o)
	}
	d.probe = func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.Recv(fd.sysfd, peekScratch[:], unix.MSG_PEEK|unix.MSG_DONTWAIT, o)
	}
	d.direct = func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.RecvMsgFlags(fd.sysfd, &d.m, unix.MSG_DONTWAIT, o)
	}
	d.try = d.attempt
	return d
}

// setBuffers makes b the message's data; with an empty b and dummy, the
// one byte a stream needs to carry control data alone, as net does.
func (d *msgIO) setBuffers(b []byte, dummy bool) {
	switch {
	case len(b) > 0:
		d.bufs[0] = b
	case dummy:
		d.bufs[0] = d.dummy[:]
	default:
		d.m.SetBuffers(nil)
		return
	}
	d.m.SetBuffers(d.bufs[:])
}

// release drops the references to the caller's buffers, which the
// header would otherwise keep reachable until the next operation.
func (d *msgIO) release() {
	d.bufs[0] = nil
	d.m.SetBuffers(nil)
	d.m.SetControl(nil)
}

// recv runs one recvmsg(2) into d.m through io_uring. The caller holds
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
// before sends, were both measured slower in UDP ping-pong (figures in
// docs/benchmarks.md): a recvmsg that answers EAGAIN
// still prepares and pins its message header, where the probe is a plain
// recv. But when messages arrive faster than they are read, the probe
// finds one queued every time and only adds a system call; so after a
// receive whose probe found its message queued, the next one submits
// its recvmsg with MSG_DONTWAIT straight away, and goes back to probing
// once that answers EAGAIN. A request-response exchange keeps probing.
func (d *msgIO) recv() (reactor.Result, error) {
	fd := d.fd
	d.begun = false
	return fd.pollWait(&fd.rd, d.try, &d.pollOutcome)
}

// attempt is the netpoller callback of recv: the probe, once, then the
// recvmsg; or, if the last receive found its message queued, the recvmsg
// with MSG_DONTWAIT. It returns false to wait for readability. Once
// done it clears begun, so that an attempt pollWait starts again (a
// deadline moved meanwhile) probes afresh, as the next receive does.
func (d *msgIO) attempt(uintptr) bool {
	done := d.attemptStep()
	if done {
		d.begun = false
	}
	return done
}

// attemptStep is attempt's one call.
func (d *msgIO) attemptStep() bool {
	fd := d.fd
	if !d.begun {
		d.begun = true
		if d.queued {
			d.res, d.err = fd.once(&fd.rd, d.direct)
			if d.err != syscall.EAGAIN {
				return true
			}
			d.queued = false
			return false
		}
		_, err := fd.once(&fd.rd, d.probe)
		if err == syscall.EAGAIN {
			return false
		}
		if err != nil {
			// A pending socket error (an ICMP port unreachable on a
			// connected UDP socket) is reported, and cleared, by the
			// probe.
			d.err = err
			return true
		}
		d.queued = true
	}
	d.res, d.err = fd.once(&fd.rd, d.prep)
	return d.err != syscall.EAGAIN
}

// attemptSend is the netpoller callback of a datagram's send: the
// sendmsg with MSG_DONTWAIT. It returns false to wait for writability.
func (d *msgIO) attemptSend(uintptr) bool {
	d.res, d.err = d.fd.once(&d.fd.wr, d.direct)
	return d.err != syscall.EAGAIN
}

// read receives one message into b and its control messages into oob,
// raw, as recvmsg(2) writes them: oobn is how many bytes of oob the
// kernel used. Flags has MSG_TRUNC if the datagram was longer than b (the
// rest is lost) and MSG_CTRUNC if the control messages did not fit in oob
// (descriptors that did not fit were closed by the kernel). Received
// descriptors are close-on-exec. dummy says that an empty b should read
// one byte when oob has room, as for a stream socket carrying only
// descriptors (net does the same). The sender's address stays in d.m.
func (d *msgIO) read(b, oob []byte, dummy bool) (n, oobn, flags int, err error) {
	d.setBuffers(b, dummy && len(oob) > 0)
	d.m.SetControl(oob)
	res, err := d.recv()
	if err == nil {
		n = int(res.Res)
		if len(b) == 0 {
			n = 0
		}
		// The kernel echoes MSG_CMSG_CLOEXEC, which RecvMsg always
		// asks for; it says nothing about the message.
		flags = d.m.Flags() &^ unix.MSG_CMSG_CLOEXEC
		oobn = len(d.m.Control())
	}
	d.release()
	return n, oobn, flags, err
}

// write sends b with the control messages of oob, as given, to the
// destination set in d.m (none for the connected peer). dummy says that
// an empty b with oob should send one zero byte, as a stream needs to
// carry control data (net does the same); n then counts only b. The
// caller holds a reference and wmu.
//
// A datagram is sent whole or not at all, so a datagram socket's send
// goes with MSG_DONTWAIT, on the processor's ring like a connection's
// (see once), and waits for writability in the netpoller in the rare
// case that there is no room, then sends afresh. It must not wait
// inside io_uring: a unixgram sendmsg copies the data before it finds
// the peer's queue full, and the retry io_uring makes once there is
// room then sent an empty datagram (Linux 6.18; TestPacketBlockedWriteTo
// catches it). On a socket the netpoller did not take, pollWait waits
// for room with an io_uring poll instead. A stream's send waits inside io_uring
// when it must: there the kernel takes buffer space before it copies
// data, so its retry resends nothing twice and loses nothing
// (TestWriteMsgUnixBlocked), and it sends, as net's one sendmsg(2)
// does, what fits once there is room.
func (d *msgIO) write(b, oob []byte, dummy bool) (int, error) {
	d.dummy[0] = 0
	d.setBuffers(b, dummy && len(oob) > 0)
	d.m.SetControl(oob)
	defer d.release()
	var res reactor.Result
	var err error
	if d.dgram {
		res, err = d.fd.pollWait(&d.fd.wr, d.try, &d.pollOutcome)
	} else {
		// run requeues a send the kernel cancelled before it ran.
		res, err = d.fd.run(&d.fd.wr, d.prep)
	}
	if err != nil {
		return 0, err
	}
	if len(b) == 0 {
		return 0, nil
	}
	return int(res.Res), nil
}

// setDest encodes to as the destination of m, as net's conversions
// would for a socket of fd's family, without allocating.
func (fd *netFD) setDest(m *uring.Msghdr, to packetDest) error {
	switch a := to.addr.(type) {
	case nil:
		if fd.family == unix.AF_UNIX {
			return syscall.EINVAL
		}
		return fd.setAddrPortDest(m, to.ap)
	case *net.UDPAddr:
		if a == nil {
			return errMissingAddress
		}
		if fd.family == unix.AF_UNIX {
			return syscall.EINVAL
		}
		return fd.setUDPDest(m, a.IP, a.Port, a.Zone)
	case *net.UnixAddr:
		if a == nil {
			return errMissingAddress
		}
		if fd.family != unix.AF_UNIX {
			return syscall.EINVAL
		}
		sa := unix.SockaddrUnix{Name: a.Name}
		return m.SetDestination(&sa)
	}
	return syscall.EINVAL
}

// setUDPDest is net's ipToSockaddr: an IPv4 socket takes IPv4 addresses
// (or none, meaning this host); an IPv6 one takes any, IPv4 ones mapped.
func (fd *netFD) setUDPDest(m *uring.Msghdr, ip net.IP, port int, zone string) error {
	if fd.family == unix.AF_INET {
		sa := unix.SockaddrInet4{Port: port}
		if len(ip) > 0 {
			ip4 := ip.To4()
			if ip4 == nil {
				return &net.AddrError{Err: "non-IPv4 address", Addr: ip.String()}
			}
			copy(sa.Addr[:], ip4)
		}
		return m.SetDestination(&sa)
	}
	sa := unix.SockaddrInet6{Port: port, ZoneId: sock.ZoneIndex(zone)}
	if len(ip) > 0 && !ip.Equal(net.IPv4zero) {
		ip6 := ip.To16()
		if ip6 == nil {
			return &net.AddrError{Err: "non-IPv6 address", Addr: ip.String()}
		}
		copy(sa.Addr[:], ip6)
	}
	return m.SetDestination(&sa)
}

// setAddrPortDest is net's addrPortToSockaddr: an IPv4 socket takes
// IPv4 addresses, IPv4-mapped ones included, an IPv6 one any valid
// address.
func (fd *netFD) setAddrPortDest(m *uring.Msghdr, ap netip.AddrPort) error {
	ip := ap.Addr()
	if fd.family == unix.AF_INET {
		if !ip.Is4() && !ip.Is4In6() {
			return &net.AddrError{Err: "non-IPv4 address", Addr: ip.String()}
		}
		sa := unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
		return m.SetDestination(&sa)
	}
	if !ip.IsValid() {
		return &net.AddrError{Err: "non-IPv6 address", Addr: ip.String()}
	}
	sa := unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16(), ZoneId: sock.ZoneIndex(ip.Zone())}
	return m.SetDestination(&sa)
}

// packetDest is where a datagram goes: addr (a *net.UDPAddr or
// *net.UnixAddr) if not nil, else ap if valid, else the connected peer.
type packetDest struct {
	addr net.Addr
	ap   netip.AddrPort
}

func (to packetDest) isSet() bool { return to.addr != nil || to.ap.IsValid() }

// opAddr is the destination as a *net.OpError names it.
func (to packetDest) opAddr() net.Addr {
	switch {
	case to.addr != nil:
		return to.addr
	case to.ap.IsValid():
		return net.UDPAddrFromAddrPort(to.ap)
	}
	return nil
}

// packetSource is the sender of a datagram, copied out of the header
// before the next read reuses it.
type packetSource struct {
	ap   netip.AddrPort // a UDP sender, zone included
	name string         // a unixgram sender's name
	ok   bool
}

// source returns the sender recorded in d.m by the last read.
func (d *msgIO) source() packetSource {
	if d.fd.family == unix.AF_UNIX {
		sa, _ := d.m.Source()
		if s, ok := sa.(*unix.SockaddrUnix); ok && s.Name != "" {
			return packetSource{name: s.Name, ok: true}
		}
		return packetSource{}
	}
	ap, zone, ok := d.m.SourceInet()
	if ok && zone != 0 {
		ap = netip.AddrPortFrom(ap.Addr().WithZone(sock.ZoneName(zone)), ap.Port())
	}
	return packetSource{ap: ap, ok: ok}
}
