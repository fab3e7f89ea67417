package uringnet

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/sock"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// ListenConfig holds options for listening, as net.ListenConfig does.
type ListenConfig struct {
	// Control, if not nil, is called after the socket is created and
	// before it is bound, as with net.ListenConfig.
	Control func(network, address string, c syscall.RawConn) error

	// KeepAlive is the idle time before accepted TCP connections' first
	// keep-alive probe: 0 means the default (15s), negative turns
	// keep-alive off. It is ignored if KeepAliveConfig.Enable is true.
	KeepAlive time.Duration

	// KeepAliveConfig, if its Enable is true, configures accepted TCP
	// connections' keep-alive probes, as with net.ListenConfig (see
	// Conn.SetKeepAliveConfig).
	KeepAliveConfig KeepAliveConfig

	// FallbackToNet makes Listen and ListenPacket use package net when
	// io_uring cannot be used at all in this process (a kernel without
	// it, the kernel.io_uring_disabled sysctl, a seccomp profile that
	// blocks it, too little locked memory for a ring): they then return
	// net's own listener and connection types, which a type assertion
	// tells apart from *Listener and *PacketConn. Without it those
	// calls fail with an error that says why and what to do. Package
	// level Listen and ListenPacket never fall back.
	FallbackToNet bool

	// mptcp is what SetMultipathTCP set, if it was called.
	mptcp mptcpStatus
}

// MultipathTCP reports whether TCP listeners will use MPTCP (see
// SetMultipathTCP), as net.ListenConfig's: by default they do, as net's
// have since Go 1.24, unless GODEBUG=multipathtcp is 0 or 3 (or the
// program's go.mod names a Go before 1.24). It does not check whether
// the kernel has MPTCP.
func (lc *ListenConfig) MultipathTCP() bool { return lc.mptcp.use(true) }

// SetMultipathTCP makes TCP listeners use Multipath TCP (MPTCP), or
// not, whatever the default and GODEBUG=multipathtcp say, as
// net.ListenConfig's does. An MPTCP listener accepts plain TCP clients
// too: their connections fall back to TCP, which Conn.MultipathTCP
// then reports. Where the kernel has no MPTCP or refuses it (the
// net.mptcp.enabled sysctl is 0), or the MPTCP listen fails for any
// reason, the listener is a plain TCP one, as net's is.
func (lc *ListenConfig) SetMultipathTCP(use bool) { lc.mptcp.set(use) }

// Listen announces on the local address, like net.Listen. The network
// must be "tcp", "tcp4", "tcp6" or "unix"; the listener is a *Listener.
func Listen(network, address string) (net.Listener, error) {
	var lc ListenConfig
	return lc.Listen(context.Background(), network, address)
}

// Listen announces on the local address, like net.ListenConfig's; the
// listener is a *Listener. The context is checked before the socket is
// created; it does not affect the listener afterwards.
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	if useNet(lc.FallbackToNet) {
		return lc.netListenConfig().Listen(ctx, network, address)
	}
	ln, err := lc.listenStream(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return ln, nil
}

// listenStream is Listen returning the concrete *Listener.
func (lc *ListenConfig) listenStream(ctx context.Context, network, address string) (*Listener, error) {
	ln, err := lc.listen(ctx, network, address)
	if err != nil {
		var src net.Addr
		if a, rerr := resolveListen(network, address); rerr == nil {
			src = a
		}
		return nil, &net.OpError{Op: "listen", Net: network, Source: nil, Addr: src, Err: err}
	}
	return ln, nil
}

func resolveListen(network, address string) (net.Addr, error) {
	if network == "unix" {
		return net.ResolveUnixAddr(network, address)
	}
	return net.ResolveTCPAddr(network, address)
}

func (lc *ListenConfig) listen(ctx context.Context, network, address string) (*Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := resolveListen(network, address)
	if err != nil {
		return nil, err
	}
	return lc.listenAddr(network, a)
}

// listenAddr is listen on a resolved address: over MPTCP first if the
// ListenConfig asks for it (as it does by default), the kernel has it
// and a is a TCP address, and over plain TCP if that fails, as net's
// listenMPTCP does.
func (lc *ListenConfig) listenAddr(network string, a net.Addr) (*Listener, error) {
	if _, isTCP := a.(*net.TCPAddr); isTCP && lc.MultipathTCP() && mptcpAvailable() {
		if l, err := lc.listenProto(network, a, unix.IPPROTO_MPTCP); err == nil {
			return l, nil
		}
	}
	return lc.listenProto(network, a, 0)
}

// listenProto is listenAddr with a stream socket of protocol proto (0
// for the family's own).
func (lc *ListenConfig) listenProto(network string, a net.Addr, proto int) (*Listener, error) {
	family, sa, err := listenSockaddr(network, a)
	if err != nil {
		return nil, err
	}
	e, err := executor()
	if err != nil {
		return nil, err
	}
	sysfd, err := newSocket(family, unix.SOCK_STREAM, proto, network)
	if err != nil && family == unix.AF_INET6 && network == "tcp" && errors.Is(err, syscall.EAFNOSUPPORT) {
		// No IPv6 on this host: a wildcard "tcp" listener falls back to
		// IPv4, as net's does.
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: sa.(*unix.SockaddrInet6).Port}
		sysfd, err = newSocket(family, unix.SOCK_STREAM, proto, network)
	}
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	fd := newFD(e, sysfd, family, network)
	ok := false
	defer func() {
		if !ok {
			fd.onClose = nil
			fd.Close()
		}
	}()
	if family != unix.AF_UNIX {
		// As net does: lets a restarted server bind while old
		// connections sit in TIME_WAIT.
		if err := unix.SetsockoptInt(sysfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return nil, os.NewSyscallError("setsockopt", err)
		}
	}
	if lc.Control != nil {
		if err := lc.Control(ctrlNetwork(network, family), a.String(), &rawConn{fd: fd}); err != nil {
			return nil, err
		}
	}
	if err := unix.Bind(sysfd, sa); err != nil {
		return nil, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(sysfd, sock.Somaxconn()); err != nil {
		return nil, os.NewSyscallError("listen", err)
	}
	fd.setLocalAddr(sock.LocalAddr(sysfd, unix.SOCK_STREAM))
	if u, isUnix := sa.(*unix.SockaddrUnix); isUnix {
		// The laddr keeps the name as given (net does the same), and the
		// socket file goes away with the listener.
		fd.setLocalAddr(&net.UnixAddr{Name: u.Name, Net: "unix"})
		if name := u.Name; name != "" && name[0] != '@' {
			fd.unlinkOnClose(name, true)
		}
	}
	l := newListener(fd, lc)
	ok = true
	return l, nil
}

// newListener wraps a listening socket, one listen made or one adopted
// (FileListener).
func newListener(fd *netFD, lc *ListenConfig) *Listener {
	in := &listener{fd: fd, lc: *lc}
	fd.registerPoller()
	if fd.raw != nil {
		in.mode = acceptPoll
		in.acc.init()
	} else {
		in.mode = acceptSingle
	}
	l := &Listener{listener: in}
	// As net does (its netFD has a finalizer): a Listener dropped
	// without Close is closed when it is collected, so its port stops
	// accepting connections nobody serves. The cleanup refers to in,
	// not l, so that l can become unreachable. Close waits for the
	// kernel, so it does not run on the cleanup goroutine.
	l.cleanup = runtime.AddCleanup(l, func(in *listener) { go in.close() }, in)
	return l
}

// listenSockaddr picks the family and address to bind: a "tcp" listener
// on the wildcard address is dual-stack (AF_INET6 without V6ONLY), as
// net's is.
func listenSockaddr(network string, a net.Addr) (int, unix.Sockaddr, error) {
	if ta, ok := a.(*net.TCPAddr); ok && network == "tcp" && (ta.IP == nil || ta.IP.IsUnspecified()) {
		sa, err := sock.IPSockaddr(unix.AF_INET6, nil, ta.Port, "")
		return unix.AF_INET6, sa, err
	}
	return addrSockaddr(network, a)
}

// Listener is a stream listener whose connections' reads and writes run
// on io_uring (it accepts with accept4, see the package documentation).
// It implements net.Listener. A Listener that is dropped without Close is
// closed when the garbage collector finds it unreachable, as net's
// listeners are; Close it to stop listening at a known time.
type Listener struct {
	*listener
	cleanup runtime.Cleanup
}

// listener is a Listener's state: what its background operations refer
// to, so that the Listener itself can be collected (see listen).
type listener struct {
	fd   *netFD
	lc   ListenConfig
	mode acceptMode

	// amu makes the accept4 attempts of acceptPoll one at a time, and
	// acc is where they leave their results.
	amu sync.Mutex
	acc acceptTry
}

// acceptMode is how a listener accepts.
type acceptMode uint8

const (
	// acceptPoll: accept4(2) on the non-blocking socket, waiting in the
	// runtime netpoller while there is nothing to accept, as package
	// net does; the listening socket is registered with the netpoller
	// as connections are (netFD.registerPoller). This is the mode of
	// every listener the netpoller takes; doc.go says why not a
	// multishot accept.
	acceptPoll acceptMode = iota
	// acceptSingle: one io_uring accept per Accept, waiting in io_uring,
	// for a listener the netpoller refused (its epoll_ctl failed: the
	// fs.epoll.max_user_watches limit reached, say).
	acceptSingle
)

// acceptTry is acceptPoll's attempt: try runs accept4(2) once on the
// listening socket and leaves the new fd (or the errno) and the peer's
// address here; made once per listener so that an Accept allocates no
// closure. amu guards it.
type acceptTry struct {
	fd  int
	err syscall.Errno
	rsa unix.RawSockaddrAny
	n   uint32
	try func(uintptr) bool
}

func (a *acceptTry) init() {
	a.try = func(s uintptr) bool {
		for {
			// Cleared: the kernel writes only as much address as
			// the peer has (an unnamed Unix socket's is its family
			// alone), and RawAddr reads up to a NUL.
			a.rsa = unix.RawSockaddrAny{}
			a.n = unix.SizeofSockaddrAny
			// A raw system call, as for getsockname (internal/sock):
			// the socket is non-blocking, so accept4 returns at once.
			r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, s, uintptr(unsafe.Pointer(&a.rsa)), uintptr(unsafe.Pointer(&a.n)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
			if e == unix.EINTR {
				continue
			}
			a.fd, a.err = int(r), e
			return e != unix.EAGAIN
		}
	}
}

var _ net.Listener = (*Listener)(nil)

// Addr returns the listener's address, with the port the kernel chose if
// the address asked for port 0.
func (l *Listener) Addr() net.Addr { return l.fd.localAddr() }

// Close stops listening. Blocked Accept calls return net.ErrClosed; a
// Unix socket's file is removed.
func (l *Listener) Close() error {
	l.cleanup.Stop()
	return l.listener.close()
}

func (l *listener) close() error {
	if err := l.fd.Close(); err != nil {
		return l.fd.listenerError("close", "close", err)
	}
	return nil
}

// SetDeadline sets the deadline for Accept calls, pending ones included,
// as net.TCPListener's does.
func (l *Listener) SetDeadline(t time.Time) error {
	if !l.fd.incref() {
		return l.fd.opError("set", "", net.ErrClosed)
	}
	defer l.fd.decref()
	l.fd.rd.SetOn(t, l.fd.mirror(false))
	return nil
}

// Accept waits for and returns the next connection. Errors are
// *net.OpError with Op "accept"; running out of fds (EMFILE, ENFILE)
// gives a temporary one, and the listener works again once fds are
// freed.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptUring()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptUring is Accept returning the concrete *Conn.
func (l *Listener) AcceptUring() (*Conn, error) {
	fd := l.fd
	if !fd.incref() {
		return nil, fd.listenerError("accept", "accept", net.ErrClosed)
	}
	defer fd.decref()
	for {
		var (
			sysfd int
			raddr net.Addr
			err   error
		)
		switch l.mode {
		case acceptPoll:
			sysfd, raddr, err = l.acceptPoll()
		default:
			sysfd, raddr, err = l.acceptOnce()
		}
		if err != nil {
			if err == syscall.ECONNABORTED {
				// The peer went away before we got to it; net
				// moves on to the next, and so do we.
				continue
			}
			return nil, fd.listenerError("accept", "accept", err)
		}
		return l.newConn(sysfd, raddr)
	}
}

// acceptPoll accepts a connection in acceptPoll mode: accept4(2), and
// while it answers EAGAIN a wait in the netpoller, which a deadline or
// Close ends (through the read side's mirror). It returns the peer's
// address from accept4 too, sparing the getpeername.
func (l *listener) acceptPoll() (int, net.Addr, error) {
	fd := l.fd
	l.amu.Lock()
	defer l.amu.Unlock()
	a := &l.acc
	a.fd, a.err = -1, 0
	if err := fd.raw.Read(a.try); err != nil {
		return -1, nil, waitErr(&fd.rd, err)
	}
	if a.err != 0 {
		return -1, nil, a.err
	}
	var raddr net.Addr
	if a.n > 0 {
		raddr = sock.RawAddr(unix.SOCK_STREAM, &a.rsa)
	}
	return a.fd, raddr, nil
}

func (l *listener) acceptOnce() (int, net.Addr, error) {
	fd := l.fd
	peer := new(uring.Sockaddr)
	res, err := fd.run(&fd.rd, func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.Accept(fd.sysfd, peer, unix.SOCK_NONBLOCK, o)
	})
	if err != nil {
		return -1, nil, err
	}
	var raddr net.Addr
	if sa, err := peer.Sockaddr(); err == nil {
		raddr = sockaddrToAddr(sa)
	}
	return int(res.Res), raddr, nil
}

// newConn wraps an accepted fd.
func (l *Listener) newConn(sysfd int, raddr net.Addr) (*Conn, error) {
	lfd := l.fd
	if lfd.family != unix.AF_UNIX {
		if err := setTCPDefaults(sysfd, l.lc.KeepAlive, l.lc.KeepAliveConfig); err != nil {
			unix.Close(sysfd)
			return nil, lfd.listenerError("accept", "setsockopt", err)
		}
	}
	c := newConn(lfd.e, sysfd, int(lfd.family), lfd.network())
	fd := c.fd
	fd.attachPoller()
	fd.setLocalAddr(sock.LocalAddr(sysfd, unix.SOCK_STREAM))
	fd.setRemoteAddr(raddr)
	if fd.remoteAddr() == nil {
		fd.setRemoteAddr(sock.RemoteAddr(sysfd, unix.SOCK_STREAM))
	}
	if fd.remoteAddr() == nil && lfd.family == unix.AF_UNIX {
		fd.setRemoteAddr(&net.UnixAddr{Name: "@", Net: "unix"})
	}
	return c, nil
}
