package uringnet

import (
	"context"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/sock"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// Dialer holds options for connecting, as net.Dialer does.
type Dialer struct {
	// Timeout bounds the whole dial, name resolution included. As with
	// net.Dialer, the addresses of a host name that are tried in turn
	// share it (see DialContext).
	Timeout time.Duration
	// Deadline is an absolute time after which the dial fails; the
	// addresses tried in turn share the time until it, as Timeout.
	Deadline time.Time
	// LocalAddr, if not nil, is the local address to bind before
	// connecting: a *net.TCPAddr or *net.UnixAddr.
	LocalAddr net.Addr
	// KeepAlive is the idle time before the TCP connection's first
	// keep-alive probe: 0 means the default (15s), negative turns
	// keep-alive off. It is ignored if KeepAliveConfig.Enable is true.
	KeepAlive time.Duration
	// KeepAliveConfig, if its Enable is true, configures the TCP
	// connection's keep-alive probes, as with net.Dialer (see
	// Conn.SetKeepAliveConfig).
	KeepAliveConfig KeepAliveConfig
	// Control, if not nil, is called after the socket is created and
	// before it connects, as with net.Dialer.
	Control func(network, address string, c syscall.RawConn) error
	// ControlContext, if not nil, is called as Control is, with the
	// dial's context (which carries its values and deadline); Control
	// is then ignored. As with net.Dialer.
	ControlContext func(ctx context.Context, network, address string, c syscall.RawConn) error

	// FallbackDelay is how long a "tcp" dial to a name with both IPv6
	// and IPv4 addresses waits on the first family before it races the
	// other too (Happy Eyeballs, RFC 6555), as with net.Dialer: 0 means
	// the default (300ms), negative turns the race off and the
	// addresses are tried one after another.
	FallbackDelay time.Duration

	// DualStack is ignored, as in net.Dialer, where the race above is on
	// by default.
	//
	// Deprecated: set FallbackDelay negative to turn the race off.
	DualStack bool

	// Resolver, if not nil, resolves host names instead of
	// net.DefaultResolver.
	Resolver *net.Resolver

	// FallbackToNet makes Dial and DialContext use package net when
	// io_uring cannot be used at all in this process (see
	// ListenConfig.FallbackToNet): they then return net's own
	// connection types. Package level Dial and DialContext never fall
	// back.
	FallbackToNet bool

	// mptcp is what SetMultipathTCP set, if it was called.
	mptcp mptcpStatus
}

// MultipathTCP reports whether TCP dials will ask for MPTCP (see
// SetMultipathTCP), as net.Dialer's: by default not, unless
// GODEBUG=multipathtcp is 1 or 3. It does not check whether the kernel
// has MPTCP.
func (d *Dialer) MultipathTCP() bool { return d.mptcp.use(false) }

// SetMultipathTCP makes TCP dials ask for Multipath TCP (MPTCP), or not,
// whatever the default and GODEBUG=multipathtcp say, as net.Dialer's
// does. Where the kernel has no MPTCP or refuses it (the
// net.mptcp.enabled sysctl is 0), or the MPTCP dial fails for any
// reason, the dial is made again with plain TCP, as net's is; a server
// without MPTCP makes the connection fall back to plain TCP, which
// Conn.MultipathTCP then reports.
func (d *Dialer) SetMultipathTCP(use bool) { d.mptcp.set(use) }

// Dial connects to the address on the named network, like net.Dial:
// "tcp", "tcp4", "tcp6" and "unix" give a *Conn, "udp", "udp4", "udp6"
// and "unixgram" a connected *PacketConn.
func Dial(network, address string) (net.Conn, error) {
	var d Dialer
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects with a context, like net.DialContext.
func DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d Dialer
	return d.DialContext(ctx, network, address)
}

// Dial connects to the address on the named network.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to the address on the named network (see Dial).
// The context bounds the dial (not the connection); cancelling it
// cancels the connect operation in the kernel. Host names go through the
// Resolver; the addresses of one family are tried in turn, and a "tcp"
// dial races the two families (see FallbackDelay). As with net.Dialer,
// when the dial has a deadline (Timeout, Deadline or the context's),
// each address tried in turn gets an equal share of the time left, but
// at least 2s, so that one address that never answers does not use up
// the others' time: with a minute and four addresses, each gets 15s.
// If every address fails the error is the first one's.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if useNet(d.FallbackToNet) {
		return d.netDialer().DialContext(ctx, network, address)
	}
	if isPacketNetwork(network) {
		c, err := d.dialPacket(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	c, err := d.dialStream(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ctxWithDeadline bounds ctx by the Dialer's Timeout and Deadline.
func (d *Dialer) ctxWithDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline := d.deadline(time.Now())
	if !deadline.IsZero() {
		if cd, ok := ctx.Deadline(); !ok || deadline.Before(cd) {
			return context.WithDeadline(ctx, deadline)
		}
	}
	return ctx, func() {}
}

// dialStream is DialContext for stream networks.
func (d *Dialer) dialStream(ctx context.Context, network, address string) (*Conn, error) {
	ctx, cancel := d.ctxWithDeadline(ctx)
	defer cancel()
	dialErr := func(raddr net.Addr, err error) error {
		return dialOpError(network, d.LocalAddr, raddr, err)
	}
	if err := checkNetwork(network); err != nil {
		return nil, dialErr(nil, err)
	}
	// A context already done is reported by dialSerial, naming the
	// address it left untried, as net does.
	addrs, err := resolveDialWith(ctx, d.Resolver, network, address)
	if err != nil {
		return nil, dialErr(nil, err)
	}
	e, err := executor()
	if err != nil {
		return nil, dialErr(nil, err)
	}
	primaries, fallbacks := addrs, []net.Addr(nil)
	if d.FallbackDelay >= 0 && network == "tcp" {
		primaries, fallbacks = partitionFamily(addrs)
	}
	return d.dialParallel(ctx, e, network, primaries, fallbacks, dialErr)
}

// partitionFamily splits addrs into those of the first one's family (IPv4
// or IPv6) and the others, each in the resolver's order.
func partitionFamily(addrs []net.Addr) (primaries, fallbacks []net.Addr) {
	isV4 := func(a net.Addr) bool {
		ta, ok := a.(*net.TCPAddr)
		return ok && ta.IP.To4() != nil
	}
	for _, a := range addrs {
		if isV4(a) == isV4(addrs[0]) {
			primaries = append(primaries, a)
		} else {
			fallbacks = append(fallbacks, a)
		}
	}
	return primaries, fallbacks
}

// dialParallel races the primary addresses against the fallbacks, which
// start FallbackDelay later, or at once when the primaries have all
// failed, as net does. The first connection wins; the loser's connect is
// cancelled, and a connection it made anyway is closed. If both fail the
// error is the primaries'.
func (d *Dialer) dialParallel(ctx context.Context, e *reactor.Executor, network string, primaries, fallbacks []net.Addr, dialErr func(net.Addr, error) error) (*Conn, error) {
	if len(fallbacks) == 0 {
		return d.dialSerial(ctx, e, network, primaries, dialErr)
	}
	type result struct {
		c       *Conn
		err     error
		primary bool
	}
	results := make(chan result) // unbuffered: a racer hands over or closes
	returned := make(chan struct{})
	defer close(returned)
	race := func(ctx context.Context, primary bool) {
		addrs := primaries
		if !primary {
			addrs = fallbacks
		}
		c, err := d.dialSerial(ctx, e, network, addrs, dialErr)
		select {
		case results <- result{c, err, primary}:
		case <-returned:
			if c != nil {
				c.Close()
			}
		}
	}
	// The racers outlive this call only until they see returned.
	primaryCtx, primaryCancel := context.WithCancel(ctx)
	defer primaryCancel()
	go race(primaryCtx, true)

	delay := d.FallbackDelay
	if delay == 0 {
		delay = defaultFallbackDelay
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var primaryErr error
	var primaryDone, fallbackDone bool
	for {
		select {
		case <-timer.C:
			fallbackCtx, fallbackCancel := context.WithCancel(ctx)
			defer fallbackCancel()
			go race(fallbackCtx, false)
		case r := <-results:
			if r.err == nil {
				return r.c, nil
			}
			if r.primary {
				primaryErr, primaryDone = r.err, true
			} else {
				fallbackDone = true
			}
			if primaryDone && fallbackDone {
				return nil, primaryErr
			}
			if r.primary && timer.Stop() {
				// The fallback has not started: start it now.
				timer.Reset(0)
			}
		}
	}
}

// defaultFallbackDelay is net's default for Dialer.FallbackDelay.
const defaultFallbackDelay = 300 * time.Millisecond

// dialSerial tries addrs in turn, as net does: when ctx has a deadline,
// each address gets an equal share of the time left (see
// partialDeadline), so that one address that never answers does not use
// up the time of those after it. The error is the first address's.
func (d *Dialer) dialSerial(ctx context.Context, e *reactor.Executor, network string, addrs []net.Addr, dialErr func(net.Addr, error) error) (*Conn, error) {
	var first error
	for i, a := range addrs {
		if err := ctx.Err(); err != nil {
			// Like net, report the context's end, naming the address
			// it left untried: that, not the earlier addresses'
			// failures, is why the dial stopped.
			return nil, dialErr(a, err)
		}
		dialCtx, cancel := ctx, context.CancelFunc(nil)
		if deadline, ok := ctx.Deadline(); ok {
			partial, err := partialDeadline(time.Now(), deadline, len(addrs)-i)
			if err != nil {
				if first == nil {
					first = dialErr(a, err)
				}
				break
			}
			if partial.Before(deadline) {
				dialCtx, cancel = context.WithDeadline(ctx, partial)
			}
		}
		c, err := d.dialOne(dialCtx, e, network, a)
		if cancel != nil {
			cancel()
		}
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = dialErr(a, err)
		}
	}
	if first == nil {
		first = dialErr(nil, errMissingAddress)
	}
	return nil, first
}

// minPartialTimeout is the least time an address of a serial dial gets
// before the next is tried, unless less than that is left: net's
// saneMinimum.
const minPartialTimeout = 2 * time.Second

// partialDeadline returns the deadline for one address of a serial dial
// with addrsRemaining addresses left to try before deadline (zero: none),
// as net computes it: an equal share of the time left, but at least
// minPartialTimeout, which the last addresses then go without.
func partialDeadline(now, deadline time.Time, addrsRemaining int) (time.Time, error) {
	if deadline.IsZero() {
		return deadline, nil
	}
	left := deadline.Sub(now)
	if left <= 0 {
		return time.Time{}, context.DeadlineExceeded
	}
	share := left / time.Duration(addrsRemaining)
	if share < minPartialTimeout {
		share = min(minPartialTimeout, left)
	}
	return now.Add(share), nil
}

// dialError turns the context errors that end a dial into net's: a
// deadline into an i/o timeout, a cancellation into "operation was
// canceled", each still matching its context sentinel. Like net's
// mapErr it leaves wrapped ones alone: a resolver's *net.DNSError says
// more than they would.
func dialError(err error) error {
	switch err {
	case context.DeadlineExceeded, os.ErrDeadlineExceeded:
		return timeoutError{}
	case context.Canceled:
		return canceledError{}
	}
	return err
}

// dialOpError is a dial's *net.OpError. As in net, an error before any
// address was chosen (a bad network, a failed lookup) names no source.
func dialOpError(network string, laddr, raddr net.Addr, err error) error {
	if raddr == nil {
		laddr = nil
	}
	return &net.OpError{Op: "dial", Net: network, Source: laddr, Addr: raddr, Err: dialError(err)}
}

// canceledError is a dial whose context was cancelled, as net reports it.
type canceledError struct{}

func (canceledError) Error() string        { return "operation was canceled" }
func (canceledError) Is(target error) bool { return target == context.Canceled }

// dialPacket is DialContext for datagram networks: the connect only
// records the peer, so the context is checked only before it.
func (d *Dialer) dialPacket(ctx context.Context, network, address string) (*PacketConn, error) {
	ctx, cancel := d.ctxWithDeadline(ctx)
	defer cancel()
	opErr := func(a net.Addr, err error) error {
		return dialOpError(network, d.LocalAddr, a, err)
	}
	ra, err := resolvePacket(ctx, network, address, false)
	if err != nil {
		return nil, opErr(nil, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr(ra, err)
	}
	c, err := openPacket(network, d.LocalAddr, ra, d.control(ctx))
	if err != nil {
		return nil, opErr(ra, err)
	}
	return c, nil
}

// control is the function to call before the socket connects:
// ControlContext with ctx, else Control, else nil.
func (d *Dialer) control(ctx context.Context) func(network, address string, c syscall.RawConn) error {
	if d.ControlContext != nil {
		return func(network, address string, c syscall.RawConn) error {
			return d.ControlContext(ctx, network, address, c)
		}
	}
	return d.Control
}

func isPacketNetwork(network string) bool {
	switch network {
	case "udp", "udp4", "udp6", "unixgram":
		return true
	}
	return false
}

func (d *Dialer) deadline(now time.Time) time.Time {
	dl := d.Deadline
	if d.Timeout > 0 {
		if t := now.Add(d.Timeout); dl.IsZero() || t.Before(dl) {
			dl = t
		}
	}
	return dl
}

// dialOne connects one stream socket to raddr: over MPTCP first if the
// Dialer asks for it, the kernel has it and raddr is a TCP address, and
// over plain TCP if that fails, as net's dialMPTCP does.
func (d *Dialer) dialOne(ctx context.Context, e *reactor.Executor, network string, raddr net.Addr) (*Conn, error) {
	if _, isTCP := raddr.(*net.TCPAddr); isTCP && d.MultipathTCP() && mptcpAvailable() {
		if c, err := d.dialProto(ctx, e, network, raddr, unix.IPPROTO_MPTCP); err == nil {
			return c, nil
		}
	}
	return d.dialProto(ctx, e, network, raddr, 0)
}

// dialProto connects a stream socket of protocol proto (0 for the
// family's own) to raddr.
func (d *Dialer) dialProto(ctx context.Context, e *reactor.Executor, network string, raddr net.Addr, proto int) (*Conn, error) {
	family, sa, err := addrSockaddr(network, raddr)
	if err != nil {
		return nil, err
	}
	if f := dialFamily(family, network, d.LocalAddr, raddr); f != family {
		family, sa, err = f, nil, nil
		if sa, err = familySockaddr(family, network, raddr); err != nil {
			return nil, err
		}
	}
	sysfd, err := newSocket(family, unix.SOCK_STREAM, proto, network)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	fd := newFD(e, sysfd, family, network)
	fd.setRemoteAddr(raddr)
	ok := false
	defer func() {
		if !ok {
			fd.Close()
		}
	}()
	if control := d.control(ctx); control != nil {
		if err := control(ctrlNetwork(network, family), raddr.String(), &rawConn{fd: fd}); err != nil {
			return nil, err
		}
	}
	if d.LocalAddr != nil {
		lsa, err := familySockaddr(family, network, d.LocalAddr)
		if err != nil {
			return nil, err
		}
		if err := unix.Bind(sysfd, lsa); err != nil {
			return nil, os.NewSyscallError("bind", err)
		}
	}
	for {
		_, err = e.Do(ctx, sysfd, time.Time{}, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
			return r.Connect(sysfd, sa, o)
		})
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, wrapErr("connect", err)
	}
	if err := ctx.Err(); err != nil {
		// Connected at once, but too late: net fails it too.
		return nil, err
	}
	if family != unix.AF_UNIX {
		if err := setTCPDefaults(sysfd, d.KeepAlive, d.KeepAliveConfig); err != nil {
			return nil, os.NewSyscallError("setsockopt", err)
		}
	}
	fd.setLocalAddr(sock.LocalAddr(sysfd, unix.SOCK_STREAM))
	if ra := sock.RemoteAddr(sysfd, unix.SOCK_STREAM); ra != nil {
		fd.setRemoteAddr(ra)
	}
	fd.attachPoller()
	ok = true
	return &Conn{fd: fd}, nil
}

// setTCPDefaults gives a new TCP connection, dialled or accepted, what
// net's newTCPConn gives it: TCP_NODELAY and the keep-alive settings
// (see setKeepAlive). An option the socket's protocol does not have is
// left out rather than failing the connection: MPTCP sockets lacked
// TCP_NODELAY before Linux 5.17 and the keep-alive timers before 6.x,
// and net ignores these errors too.
func setTCPDefaults(fd int, keepAlive time.Duration, cfg KeepAliveConfig) error {
	if err := setNoDelay(fd, true); err != nil && !optionMissing(err) {
		return err
	}
	if err := setKeepAlive(fd, keepAlive, cfg); err != nil && !optionMissing(err) {
		return err
	}
	return nil
}

// optionMissing reports whether a setsockopt error says the socket's
// protocol lacks the option.
func optionMissing(err error) bool { return err == unix.EOPNOTSUPP || err == unix.ENOPROTOOPT }

// mptcpStatus is what SetMultipathTCP set on a Dialer or ListenConfig:
// nothing (the zero value: the default, which GODEBUG may change), on
// or off.
type mptcpStatus uint8

const (
	mptcpDefault mptcpStatus = iota
	mptcpOn
	mptcpOff
)

func (m *mptcpStatus) set(use bool) {
	*m = mptcpOff
	if use {
		*m = mptcpOn
	}
}

// use reports whether MPTCP is asked for: as set, else as net's
// default says, which GODEBUG=multipathtcp may change (0 off, 1 on, 2 on
// for listeners only, 3 on for dialers only) and which is on for
// listeners, off for dialers. net's zero Dialer or ListenConfig answers
// for the default, so that it follows GODEBUG (the environment's and
// the program's own, from its go.mod and //go:debug lines) exactly as
// net does.
func (m *mptcpStatus) use(listener bool) bool {
	switch *m {
	case mptcpOn:
		return true
	case mptcpOff:
		return false
	}
	if listener {
		var lc net.ListenConfig
		return lc.MultipathTCP()
	}
	var d net.Dialer
	return d.MultipathTCP()
}

// mptcpAvailable reports whether the kernel knows MPTCP, as net's
// supportsMultipathTCP does: an MPTCP socket made once tells. A kernel
// without it answers EPROTONOSUPPORT (EINVAL before Linux 5.6); any
// other error (ENOPROTOOPT while the net.mptcp.enabled sysctl is 0) may
// not last, so MPTCP is then tried at each dial and listen, which fall
// back to plain TCP while it fails.
var mptcpAvailable = sync.OnceValue(func() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
	if err == unix.EAFNOSUPPORT {
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
	}
	switch err {
	case unix.EPROTONOSUPPORT, unix.EINVAL:
		return false
	case nil:
		unix.Close(fd)
	}
	return true
})
