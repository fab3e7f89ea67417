package engine

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/timeslice"
	"github.com/uring-go/uring/uring"
)

// opKind says what a completion belongs to. The UDP kinds, opUDPRecv and
// opUDPSend, are in udp.go.
type opKind uint8

const (
	opAccept      opKind = iota + 1 // accept on the loop's listener
	opAcceptRetry                   // timer before re-arming a failed accept
	opWake                          // read of the loop's eventfd
	opRecv                          // receive of a connection from the buffer ring
	opSend                          // send of a connection's outbound buffer
	opCancel                        // cancellation of another operation
	opPoll                          // POLLIN wait of a connection (plain buffers)
	opRecvPlain                     // receive into a loop-owned buffer (plain buffers)
	opLingerCheck                   // timer: the next check of the lingering connections
)

// opData is the user data of every operation a loop queues. The ring
// keeps one per operation in flight, an idle connection's receive
// among them, so it holds one reference whose type the kind fixes
// rather than a field for each.
type opData struct {
	kind opKind
	ref  any // *conn, *listener (opAccept, opAcceptRetry), *udpSock (opUDPRecv) or *udpSend (opUDPSend)
}

func (d opData) conn() *conn         { return d.ref.(*conn) }
func (d opData) listener() *listener { return d.ref.(*listener) }
func (d opData) udpSock() *udpSock   { return d.ref.(*udpSock) }
func (d opData) udpSend() *udpSend   { return d.ref.(*udpSend) }

// loop is one event loop: a goroutine locked to its thread, owning one
// ring. Every field without a comment saying otherwise is touched only by
// that goroutine.
type loop struct {
	eng     *Engine
	idx     int
	lns     []*listener // every stream listener it accepts on (Rotate: several)
	udpLns  []*listener // every UDP socket of the engine's it receives on
	handler gnet.EventHandler

	ring    *uring.Ring[opData]
	feat    features       // the engine's: which fallbacks this loop uses
	br      *uring.BufRing // with featBufRing
	pool    *bufPool       // without featBufRing
	cqSize  int
	efd     int
	efdBuf  []byte // the eventfd read's target
	bufSize int    // provided buffer size: gnet's ReadBufferCap
	wcap    int    // gnet's WriteBufferCap: the backpressure threshold

	wakeArmed bool

	// The provided buffer being delivered to OnTraffic, so that a Write
	// of a slice of it can be sent from it (outbound.zc).
	curConn   *conn
	curBuf    []byte
	curBid    uint16
	curPinned bool   // a conn's zc holds it: onRecv must not recycle it
	pinned    int    // provided buffers held by sends
	maxPinned int    // bound on pinned, so receives always have buffers
	pins      uint64 // writes sent from their provided buffer; read after exit

	// Operations armed, by kind, for tests of the fallbacks; read after
	// exit.
	acceptArms, recvArms, pollArms uint64

	// UDP: the sockets received on (the loop's own on each udp address,
	// and registered ones), the buffer ring of their receives, send
	// records not in flight, and registered sockets closed and not yet
	// released by the ring.
	udps       []*udpSock
	ubr        *uring.BufRing
	udpFree    []*udpSend
	udpClosing []*udpSock

	conns []*conn
	// closed conns whose outbound queue is still going out; c.idx is
	// the position here once c has left conns
	lingering     []lingerer
	lingerLimit   time.Duration // Config.LingerTimeout resolved; <= 0: none
	lingerTicking bool          // an opLingerCheck timer is armed
	// send sides no connection holds, for the next that writes, and
	// the capacity of their buffers (see idleOut)
	spareOut      []*outbound
	spareOutBytes int
	dirty         []*conn // conns with outbound bytes and no send in flight yet
	rearm         []*conn // conns whose receive must be armed again
	// conns that found the plain-buffer pool empty, for the next flush
	starved []*conn

	stopping bool // the loop is ending: no callbacks for new events
	// dead: io_uring_enter was denied for good (a seccomp filter applied
	// while the loop ran); no completion will be collected again.
	dead      bool
	quiescing bool // a handler asked for Shutdown: no more events dispatched

	count atomic.Int32 // connections assigned to this loop; any goroutine

	// Cross-goroutine task queue. Lock order: mu is a leaf lock.
	mu          sync.Mutex
	tasks       []func()
	tasksClosed bool
	stopReq     bool
	notified    atomic.Bool // an eventfd write is pending or in progress
	spare       []func()

	rr atomic.Uint64 // round-robin cursor, for the accepting loop

	counters // for Engine.Stats and tests; any goroutine may read them

	exited chan struct{}
}

func newLoop(e *Engine, idx int, lns []*listener) *loop {
	var stream, udp []*listener
	for _, ln := range lns {
		if ln.network == "udp" {
			udp = append(udp, ln)
		} else {
			stream = append(stream, ln)
		}
	}
	return &loop{
		eng:     e,
		idx:     idx,
		lns:     stream,
		udpLns:  udp,
		handler: e.handler,
		feat:    e.feat,
		efd:     -1,
		bufSize: e.opts.ReadBufferCap,
		wcap:    e.opts.WriteBufferCap,
		exited:  make(chan struct{}),

		lingerLimit: lingerLimit(e.cfg.LingerTimeout),
	}
}

// run is the loop goroutine. It reports on started whether its ring could
// be set up, then runs until stopped.
func (l *loop) run(started chan<- error) {
	// SINGLE_ISSUER: only the task that created the ring may submit to it,
	// so the goroutine stays on this thread for the ring's whole life.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(l.exited)
	if err := l.init(); err != nil {
		l.release()
		l.abandon()
		started <- err
		return
	}
	started <- nil
	if err := l.serve(); err != nil {
		l.dead = unavailable(err)
		l.eng.logger.Errorf("uringnet/engine: event loop %d is exiting due to an error: %v", l.idx, err)
		l.eng.fail(err)
	} else {
		l.eng.logger.Debugf("uringnet/engine: event loop %d is exiting: the engine is shutting down", l.idx)
	}
	l.teardown()
}

func (l *loop) init() error {
	depth := l.eng.cfg.queueDepth
	opts := []uring.Option{uring.WithCQSize(depth * 8)}
	if l.feat.has(featDeferTaskrun) {
		opts = append(opts, uring.WithFlags(ringFlags))
	}
	r, err := uring.New[opData](depth, opts...)
	if err != nil {
		return fmt.Errorf("uringnet/engine: creating the io_uring of event loop %d: %w", l.idx, err)
	}
	l.ring = r
	l.cqSize = r.CQSize()
	for _, op := range []uring.Op{uring.OpAccept, uring.OpRecv, uring.OpSend, uring.OpRead, uring.OpAsyncCancel, uring.OpPollAdd} {
		if !r.OpSupported(op) {
			return fmt.Errorf("uringnet/engine: the kernel's io_uring lacks %s (added in Linux %s): %w; run on a newer kernel, or serve with gnet.Run", op, op.Since(), errors.ErrUnsupported)
		}
	}
	if err := l.initBuffers(); err != nil {
		return fmt.Errorf("uringnet/engine: event loop %d: %w", l.idx, err)
	}
	l.maxPinned = l.eng.cfg.bufRingEntries / 2
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("eventfd", err)
	}
	// Other loops may already be serving and hand this one connections
	// (enqueue reads efd under mu): publish the eventfd under mu, and
	// signal it for any task queued before it existed.
	l.mu.Lock()
	l.efd = efd
	if len(l.tasks) > 0 || l.stopReq {
		l.notified.Store(false)
		l.notifyLocked()
	}
	l.mu.Unlock()
	l.efdBuf = make([]byte, 8)
	if err := l.armWake(); err != nil {
		return err
	}
	for _, ln := range l.lns {
		if err := l.armAccept(ln); err != nil {
			return err
		}
	}
	for _, ln := range l.udpLns {
		if _, err := l.addUDP(ln.fd, ln.family, ln.addr, nil); err != nil {
			return err
		}
	}
	// Submit now so that a listener the kernel refuses to accept on
	// fails Start rather than the running loop.
	if _, err := r.Submit(); err != nil {
		return fmt.Errorf("uringnet/engine: event loop %d: submitting: %w", l.idx, err)
	}
	return nil
}

// release frees what init created, once nothing is in flight.
func (l *loop) release() {
	if l.ring != nil && l.ring.ActiveOps() > 0 {
		l.ring.CancelAll(opData{kind: opCancel})
		deadline := time.Now().Add(2 * time.Second)
		for l.ring.ActiveOps() > 0 && time.Now().Before(deadline) {
			if _, _, err := l.ring.WaitTimeout(100 * time.Millisecond); err != nil {
				break
			}
		}
	}
	if l.ring != nil && l.ring.ActiveOps() > 0 {
		// Entries io_uring_enter never took (it is denied) come back.
		l.ring.Unsubmit()
	}
	if l.ring != nil && l.ring.ActiveOps() > 0 {
		// The kernel still holds memory the ring keeps alive: leak the
		// ring rather than free memory the kernel may write; only its
		// fd is closed.
		l.eng.logger.Errorf("uringnet/engine: event loop %d: %d operations still active at exit; leaking the ring", l.idx, l.ring.ActiveOps())
		l.ring.Abandon()
	} else {
		if l.br != nil {
			l.br.Close()
		}
		if l.ubr != nil {
			l.ubr.Close()
		}
		if l.pool != nil {
			l.pool.close()
		}
		if l.ring != nil {
			l.ring.Close()
		}
	}
	l.mu.Lock()
	if l.efd >= 0 {
		unix.Close(l.efd)
		l.efd = -1
	}
	l.mu.Unlock()
}

// serve is the event loop proper.
func (l *loop) serve() error {
	var slice timeslice.Clock
	for {
		if l.runTasks() {
			return nil
		}
		if err := l.flush(); err != nil {
			return err
		}
		if slice.Due() {
			if err := l.yield(); err != nil {
				return err
			}
		}
		if err := l.enter(-1); err != nil {
			return err
		}
		if err := l.drain(); err != nil {
			return err
		}
	}
}

// yield submits what is queued, then lets the Go scheduler run (see
// package timeslice: the loop only waits in io_uring_enter, and would
// otherwise run one time slice that never ends). What is queued is
// submitted first, so that replies do not wait for the yield. gnet's
// loop, not locked to its thread, yields each time a poll finds
// nothing; this one, locked, pays two thread switches to yield, and so
// does it once per timeslice.Every.
func (l *loop) yield() error {
	if _, err := l.ring.Submit(); err != nil && err != syscall.EBUSY && err != syscall.EINTR {
		return fmt.Errorf("uringnet/engine: event loop %d: submitting: %w", l.idx, err)
	}
	runtime.Gosched()
	return nil
}

// enter submits everything queued and waits for at least one completion
// (or the timeout, if not negative) in a single io_uring_enter call.
func (l *loop) enter(timeout time.Duration) error {
	if _, err := l.ring.SubmitAndWait(timeout); err != nil {
		return fmt.Errorf("uringnet/engine: event loop %d: %w", l.idx, err)
	}
	return nil
}

// drain handles the completions that are ready, at most a CQ's worth so
// that sends queued by the handlers go out without waiting for the rest.
func (l *loop) drain() error {
	for range l.cqSize {
		c, ok, err := l.ring.Peek()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if err := l.handle(c); err != nil {
			return err
		}
	}
	return nil
}

// handle dispatches one completion. Its error is fatal to the loop; a
// handler's Shutdown action is not an error here (quiesce has taken care
// of it).
func (l *loop) handle(cqe uring.Completion[opData]) error {
	err := l.handle1(cqe)
	if errors.Is(err, errorx.ErrEngineShutdown) {
		return nil
	}
	return err
}

func (l *loop) handle1(cqe uring.Completion[opData]) error {
	switch cqe.Data.kind {
	case opWake:
		l.wakeArmed = false
		l.notified.Store(false)
		if !l.stopping {
			return l.armWake()
		}
	case opAccept:
		return l.onAccept(cqe.Data.listener(), cqe.Result, cqe.More())
	case opAcceptRetry:
		if ln := cqe.Data.listener(); !l.stopping && !ln.acceptArmed {
			return l.armAccept(ln)
		}
	case opRecv:
		return l.onRecv(cqe.Data.conn(), cqe)
	case opSend:
		return l.onSend(cqe.Data.conn(), cqe.Result)
	case opPoll:
		return l.onPoll(cqe.Data.conn(), cqe)
	case opRecvPlain:
		return l.onRecvPlain(cqe.Data.conn(), cqe)
	case opUDPRecv:
		return l.onUDPRecv(cqe.Data.udpSock(), cqe)
	case opUDPSend:
		return l.onUDPSend(cqe.Data.udpSend(), cqe.Result)
	case opLingerCheck:
		return l.onLingerCheck()
	case opCancel:
	default:
		// Every kind a loop queues has a case above: a completion of
		// another is a bug the loop must not go on past.
		return fmt.Errorf("uringnet/engine: event loop %d: a completion of unknown kind %d", l.idx, cqe.Data.kind)
	}
	return nil
}

// queue runs prep, submitting first if the submission queue is full.
func (l *loop) queue(prep func() (uring.Job, error)) (uring.Job, error) {
	j, err := prep()
	if errors.Is(err, uring.ErrQueueFull) {
		if _, err := l.ring.Submit(); err != nil && err != syscall.EBUSY && err != syscall.EINTR {
			return j, fmt.Errorf("uringnet/engine: event loop %d: submitting: %w", l.idx, err)
		}
		j, err = prep()
	}
	if err != nil {
		return j, fmt.Errorf("uringnet/engine: event loop %d: %w", l.idx, err)
	}
	return j, nil
}

func (l *loop) cancel(j uring.Job) error {
	_, err := l.queue(func() (uring.Job, error) { return l.ring.Cancel(j, opData{kind: opCancel}) })
	if errors.Is(err, uring.ErrJobDone) {
		return nil
	}
	return err
}

// flush queues a send for every connection with new outbound bytes and
// re-arms the receives that ended.
func (l *loop) flush() error {
	// Buffers the last batch of completions handed back go to the kernel
	// with one store, before the receives that need them are re-armed.
	if l.br != nil {
		l.br.Publish()
	}
	if l.ubr != nil {
		l.ubr.Publish()
	}
	for i, c := range l.dirty {
		l.dirty[i] = nil
		c.dirty = false
		if (c.state == connOpen || c.state == connLingering) && !c.sending && c.pending() > 0 {
			if err := l.startSend(c); err != nil {
				return err
			}
		}
	}
	l.dirty = l.dirty[:0]
	for i, c := range l.rearm {
		l.rearm[i] = nil
		c.rearmQueued = false
		if c.state == connOpen && c.read == readOn && !l.stopping {
			if err := l.armRecv(c); err != nil {
				return err
			}
		}
	}
	l.rearm = l.rearm[:0]
	l.retryStarved()
	return nil
}

// handleAction applies a callback's action. Its error is what gnet
// reports to AsyncCallbacks: ErrEngineShutdown after Shutdown.
func (l *loop) handleAction(c *conn, a gnet.Action) error {
	switch a {
	case gnet.Close:
		if c != nil {
			_, err := l.closeConn(c, nil)
			return err
		}
	case gnet.Shutdown:
		l.quiesce()
		return errorx.ErrEngineShutdown
	}
	return nil
}

// quiesce stops dispatching events after a handler asked for Shutdown;
// the engine then calls OnShutdown and stops every loop.
func (l *loop) quiesce() {
	l.quiescing = true
	l.eng.shutdown()
}

// teardown closes every connection (OnClose for each, as gnet's
// closeConns does), runs the tasks still queued, cancels what is armed
// and waits for the kernel to finish with every buffer before releasing
// the ring.
func (l *loop) teardown() {
	l.stopping = true
	if l.dead {
		// Its accepts never complete now: stop listening, so that new
		// connections are refused instead of waiting in the backlog
		// for ever (the engine is shutting down anyway).
		for _, ln := range l.lns {
			unix.Shutdown(ln.fd, unix.SHUT_RDWR)
		}
	}
	for len(l.conns) > 0 {
		l.closeConn(l.conns[len(l.conns)-1], nil)
	}
	// Registered UDP sockets close as connections do (gnet closes every
	// conn of a loop, with OnClose).
	for i := len(l.udps) - 1; i >= 0; i-- {
		if c := l.udps[i].conn; c != nil {
			l.closeUDP(c, nil)
		}
	}
	// Connections closed earlier and still sending: now gnet's close,
	// what the socket takes at once.
	for i := len(l.lingering) - 1; i >= 0; i-- {
		c := l.lingering[i].c
		if c.sending {
			if !l.lingering[i].cut {
				l.cancel(c.o.sendJob)
			}
			continue
		}
		c.writeDirect()
		c.dropOut()
		l.unlinger(c)
		l.maybeFree(c)
	}
	l.closeTasks()
	_ = l.flush()
	if l.ring.ActiveOps() > 0 {
		l.queue(func() (uring.Job, error) { return l.ring.CancelAll(opData{kind: opCancel}) })
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.ring.ActiveOps() > 0 && time.Now().Before(deadline) {
		if err := l.enter(100 * time.Millisecond); err != nil {
			break
		}
		if err := l.drain(); err != nil {
			break
		}
	}
	l.release()
	// Registered UDP sockets the ring did not release (it is leaked):
	// the kernel holds its own references to their files.
	l.mu.Lock()
	for _, u := range l.udpClosing {
		if u.fd >= 0 {
			unix.Close(u.fd)
			u.fd = -1
		}
	}
	l.udpClosing = nil
	l.mu.Unlock()
}
