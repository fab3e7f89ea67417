package engine

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"golang.org/x/sys/unix"
)

// The handle a handler reaches its engine by (Of), and connections the
// engine dials or adopts (Register, Enroll), as gnet's Engine.Register and
// EventLoop.Register and Enroll do.

// boundAddr is an address the engine was asked to serve, as gnet's
// listener keeps it: the scheme and the address as given, for
// DupListener, and the first socket bound to it.
type boundAddr struct {
	network, address string
	ln               *listener
}

// handlers lists the engines not yet shut down by the handler they run,
// newest last, for Of. Guarded by registryMu.
var handlers []*Engine

// Of returns the engine running handler, from the moment its OnBoot is
// called until its OnShutdown has returned, or nil. It is how a handler
// reaches its engine where gnet passes one to OnBoot: the gnet.Engine
// OnBoot receives here cannot work (see the package documentation), so
//
//	func (s *server) OnBoot(eng gnet.Engine) gnet.Action {
//		s.eng = eng // s.eng is a gnet.Engine
//
// becomes
//
//	func (s *server) OnBoot(gnet.Engine) gnet.Action {
//		s.eng = engine.Of(s) // s.eng is a *engine.Engine
//
// and s.eng.Stop, CountConnections, Dup, DupListener and Register work
// as gnet's do. handler is the value given to Run (usually a pointer);
// if several running engines share it, Of returns the one started last.
func Of(handler gnet.EventHandler) *Engine {
	registryMu.Lock()
	defer registryMu.Unlock()
	for i := len(handlers) - 1; i >= 0; i-- {
		if sameHandler(handlers[i].handler, handler) {
			return handlers[i]
		}
	}
	return nil
}

// sameHandler compares two handlers; a handler whose dynamic type cannot
// be compared (a struct value holding a slice, say) equals nothing.
func sameHandler(a, b gnet.EventHandler) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

func (e *Engine) addHandler() {
	registryMu.Lock()
	handlers = append(handlers, e)
	registryMu.Unlock()
}

func (e *Engine) removeHandler() {
	registryMu.Lock()
	defer registryMu.Unlock()
	for i, x := range handlers {
		if x == e {
			handlers = append(handlers[:i], handlers[i+1:]...)
			return
		}
	}
}

// Validate reports whether the engine can be used, as gnet's
// Engine.Validate does: gnet's ErrEngineInShutdown once it has shut down.
func (e *Engine) Validate() error {
	if e.shutDown.Load() {
		return errorx.ErrEngineInShutdown
	}
	return nil
}

// DupListener is Dup for the listener of network and addr, spelled as in
// the address given to Run or Rotate ("tcp", "127.0.0.1:9000" for
// "tcp://127.0.0.1:9000"), as gnet's Engine.DupListener: gnet's
// ErrInvalidNetworkAddress if the engine has no such listener.
func (e *Engine) DupListener(network, addr string) (int, error) {
	if err := e.Validate(); err != nil {
		return -1, err
	}
	if e.gnet != nil {
		return e.gnet.DupListener(network, addr)
	}
	for _, b := range e.bound {
		if b.network == network && b.address == addr {
			return dupFd(b.ln.fd)
		}
	}
	return -1, errorx.ErrInvalidNetworkAddress
}

// Register connects to an address, or adopts a connection, and serves
// it on the loop the load-balancing algorithm picks, as gnet's
// Engine.Register does: ctx carries a net.Conn (gnet.NewNetConnContext),
// which is adopted as EventLoop.Enroll does, or else a net.Addr
// (gnet.NewNetAddrContext), which is dialled as EventLoop.Register does;
// neither is gnet's ErrInvalidNetworkAddress. The channel delivers one
// gnet.RegisteredResult, after OnOpen, and is closed. As gnet's, it
// reports gnet's ErrEmptyEngine until OnBoot has returned, in OnBoot
// for one.
func (e *Engine) Register(ctx context.Context) (<-chan gnet.RegisteredResult, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if e.gnet != nil {
		return e.gnet.Register(ctx)
	}
	if len(e.loops) == 0 || !e.running.Load() {
		// gnet's loops are registered after OnBoot returns: its
		// Register reports ErrEmptyEngine until then, and so does this.
		return nil, errorx.ErrEmptyEngine
	}
	if c, ok := gnet.FromNetConnContext(ctx); ok {
		return e.lb.next(e.loops[0], c.RemoteAddr()).Enroll(ctx, c)
	}
	if a, ok := gnet.FromNetAddrContext(ctx); ok {
		return e.lb.next(e.loops[0], a).Register(ctx, a)
	}
	return nil, errorx.ErrInvalidNetworkAddress
}

// enroll serves c, or a connection dialled to addr if c is nil, on l, as
// gnet's eventloop.enroll does: on a goroutine of its own it dials,
// duplicates the socket and closes c (the engine owns the duplicate),
// then OnOpen runs on l with the Conn's Context already set to
// gnet.FromContext(ctx), and the result follows. A stream (tcp, unix)
// socket becomes a connection as accepted ones are; a udp one, connected
// to its peer, is received on by the loop as gnet's registered UDP conn:
// OnOpen, an OnTraffic per datagram on the one Conn (whose Write sends to
// the peer), OnClose when it is closed or the engine stops.
func (l *loop) enroll(ctx context.Context, c net.Conn, addr net.Addr) (<-chan gnet.RegisteredResult, error) {
	res := make(chan gnet.RegisteredResult, 1)
	go func() {
		defer close(res)
		a, err := l.adopt(ctx, c, addr)
		if err != nil {
			res <- gnet.RegisteredResult{Err: err}
			return
		}
		var gc gnet.Conn
		var ready func() error // on the loop: opens the conn
		if a.udp {
			uc := newUDPConn(l, nil, a.peer)
			uc.raddr = a.remote.(*net.UDPAddr)
			uc.ctx = gnet.FromContext(ctx)
			gc = uc
			ready = func() error { return l.registerUDP(uc, a) }
		} else {
			sc := newConn(a.fd, l, &listener{fd: -1, network: a.network, addr: a.local}, a.remote)
			sc.ctx = gnet.FromContext(ctx)
			gc = sc
			ready = func() error {
				if err := l.streamBuffers(); err != nil {
					l.count.Add(-1)
					unix.Close(a.fd)
					return err
				}
				l.register(sc)
				return nil
			}
		}
		opened := make(chan error, 1)
		l.count.Add(1)
		err = l.enqueue(func() {
			if l.stopping || l.quiescing {
				l.count.Add(-1)
				unix.Close(a.fd)
				opened <- errorx.ErrEngineInShutdown
				return
			}
			opened <- ready()
		})
		if err == nil {
			err = <-opened
		} else {
			l.count.Add(-1)
			unix.Close(a.fd)
		}
		if err != nil {
			res <- gnet.RegisteredResult{Err: err}
			return
		}
		res <- gnet.RegisteredResult{Conn: gc}
	}()
	return res, nil
}

// registerUDP starts receiving on the registered udp socket of c and
// opens c: OnOpen, whose reply is sent to the peer, and its action.
func (l *loop) registerUDP(c *udpConn, a adopted) error {
	if _, err := l.addUDP(a.fd, a.family, a.local, c); err != nil {
		l.count.Add(-1)
		unix.Close(a.fd)
		return err
	}
	c.opened = true
	l.opened.Add(1)
	out, action := l.handler.OnOpen(c)
	if len(out) > 0 && c.opened {
		if _, err := c.Write(out); err != nil {
			l.eng.logger.Warnf("uringnet/engine: event loop %d: OnOpen's reply on a registered udp conn: %v", l.idx, err)
		}
	}
	switch action {
	case gnet.Close:
		l.closeUDP(c, nil)
	case gnet.Shutdown:
		l.quiesce()
	}
	return nil
}

// adopted is a socket enroll serves: a duplicate the engine owns.
type adopted struct {
	fd            int
	udp           bool
	family        int
	network       string // "tcp" or "unix", for a stream socket
	local, remote net.Addr
	peer          []byte // a udp socket's peer, as the kernel encodes it
}

// adopt dials addr if c is nil, and returns a duplicate of c's socket,
// closing c.
func (l *loop) adopt(ctx context.Context, c net.Conn, addr net.Addr) (adopted, error) {
	var a adopted
	if c == nil {
		var d net.Dialer
		var err error
		if c, err = d.DialContext(ctx, addr.Network(), addr.String()); err != nil {
			return a, err
		}
	}
	defer c.Close()
	sc, ok := c.(syscall.Conn)
	if !ok {
		return a, fmt.Errorf("uringnet/engine: a %T has no socket to serve (it is not a syscall.Conn); pass a *net.TCPConn, *net.UDPConn, *net.UnixConn or *uringnet.Conn", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return a, err
	}
	fd, typ, family := -1, 0, 0
	var dupErr error
	if err := rc.Control(func(s uintptr) {
		if typ, dupErr = unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_TYPE); dupErr != nil {
			return
		}
		if family, dupErr = unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_DOMAIN); dupErr != nil {
			return
		}
		fd, dupErr = dupFd(int(s))
	}); err != nil {
		return a, err
	}
	if dupErr != nil {
		return a, dupErr
	}
	a = adopted{fd: fd, family: family, local: c.LocalAddr(), remote: c.RemoteAddr()}
	fail := func(err error) (adopted, error) {
		unix.Close(fd)
		return adopted{}, err
	}
	switch {
	case typ == unix.SOCK_STREAM:
		a.network = "tcp"
		if _, ok := a.local.(*net.UnixAddr); ok {
			a.network = "unix"
		}
	case typ == unix.SOCK_DGRAM && (family == unix.AF_INET || family == unix.AF_INET6):
		ra, ok := a.remote.(*net.UDPAddr)
		if !ok || ra == nil {
			return fail(fmt.Errorf("uringnet/engine: Enroll of a %T: a udp socket must be connected to its peer (net.Dial, not net.ListenUDP): %w", c, errorx.ErrInvalidNetConn))
		}
		sa, err := unix.Getpeername(fd)
		if err != nil {
			return fail(os.NewSyscallError("getpeername", err))
		}
		if a.peer = rawSockaddr(sa); a.peer == nil {
			return fail(fmt.Errorf("uringnet/engine: Enroll of a %T: peer %v is not an IP address: %w", c, ra, errorx.ErrUnsupportedOp))
		}
		a.udp = true
	default:
		return fail(fmt.Errorf("uringnet/engine: Enroll of a %T: only tcp, unix stream and udp connections can be served: %w", c, errorx.ErrUnsupportedOp))
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fail(err)
	}
	return a, nil
}

// rawSockaddr encodes an IP socket address as the kernel does, or
// returns nil.
func rawSockaddr(sa unix.Sockaddr) []byte {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		r := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: sa.Addr}
		p := (*[2]byte)(unsafe.Pointer(&r.Port))
		p[0], p[1] = byte(sa.Port>>8), byte(sa.Port)
		return bytes.Clone((*[unix.SizeofSockaddrInet4]byte)(unsafe.Pointer(&r))[:])
	case *unix.SockaddrInet6:
		r := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: sa.Addr, Scope_id: sa.ZoneId}
		p := (*[2]byte)(unsafe.Pointer(&r.Port))
		p[0], p[1] = byte(sa.Port>>8), byte(sa.Port)
		return bytes.Clone((*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(&r))[:])
	}
	return nil
}

// abandon runs the tasks queued on a loop that will never run (OnBoot
// asked for Shutdown, or its ring could not be set up), as teardown runs
// them, so that nothing waits for them.
func (l *loop) abandon() {
	l.stopping = true
	l.closeTasks()
}

// closeTasks refuses tasks from now on and runs those already queued, so
// that nothing waits for them.
func (l *loop) closeTasks() {
	l.mu.Lock()
	l.tasksClosed = true
	tasks := l.tasks
	l.tasks = nil
	l.mu.Unlock()
	for _, fn := range tasks {
		fn()
	}
}
