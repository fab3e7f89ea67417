package engine

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/uring"
)

// opKind says what a completion belongs to.
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
)

// opData is the user data of every operation a loop queues.
type opData struct {
	kind opKind
	c    *conn
	d    *udpSend  // the datagram of an opUDPSend
	u    *udpSock  // the socket of an opUDPRecv
	ln   *listener // the listener of an opAccept or opAcceptRetry
}

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
	// of a slice of it can be sent from it (conn.zc).
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
	lingering []*conn
	dirty     []*conn // conns with outbound bytes and no send in flight yet
	rearm     []*conn // conns whose receive must be armed again
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

	// Counters for tests and debugging; any goroutine may read them.
	enobufs atomic.Uint64 // receives ended because the buffer ring ran dry
	pauses  atomic.Uint64 // times reading stopped for backpressure
	exited  chan struct{}
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
	}
}

var wakeWord = [8]byte{1} // eventfd counters are host-endian; 1 is 1 on little-endian

func init() {
	// Put 1 in the eventfd's native byte order.
	v := uint64(1)
	wakeWord = *(*[8]byte)(unsafe.Pointer(&v))
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
	for {
		if l.runTasks() {
			return nil
		}
		if err := l.flush(); err != nil {
			return err
		}
		if err := l.enter(-1); err != nil {
			return err
		}
		if err := l.drain(); err != nil {
			return err
		}
	}
}

// enter submits everything queued and waits for at least one completion
// (or the timeout, if not negative) in a single io_uring_enter call.
func (l *loop) enter(timeout time.Duration) error {
	if _, err := l.ring.SubmitAndWait(timeout); err != nil {
		return fmt.Errorf("uringnet/engine: event loop %d: io_uring_enter: %w", l.idx, os.NewSyscallError("io_uring_enter", err))
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
		return l.onAccept(cqe.Data.ln, cqe.Result, cqe.More())
	case opAcceptRetry:
		if ln := cqe.Data.ln; !l.stopping && !ln.acceptArmed {
			return l.armAccept(ln)
		}
	case opRecv:
		return l.onRecv(cqe.Data.c, cqe)
	case opSend:
		return l.onSend(cqe.Data.c, cqe.Result)
	case opPoll:
		return l.onPoll(cqe.Data.c, cqe)
	case opRecvPlain:
		return l.onRecvPlain(cqe.Data.c, cqe)
	case opCancel:
	default:
		return l.handleUDP(cqe)
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

func (l *loop) armWake() error {
	_, err := l.queue(func() (uring.Job, error) { return l.ring.Read(l.efd, l.efdBuf, 0, opData{kind: opWake}) })
	if err == nil {
		l.wakeArmed = true
	}
	return err
}

func (l *loop) armAccept(ln *listener) error {
	_, err := l.queue(func() (uring.Job, error) {
		if !l.feat.has(featMultishotAccept) {
			// The peer's address comes from getpeername, as with
			// multishot accept, so there is one path after this.
			return l.ring.Accept(ln.fd, nil, unix.SOCK_NONBLOCK, opData{kind: opAccept, ln: ln})
		}
		return l.ring.AcceptMultishot(ln.fd, unix.SOCK_NONBLOCK, opData{kind: opAccept, ln: ln})
	})
	if err == nil {
		ln.acceptArmed = true
		l.acceptArms++
	}
	return err
}

func (l *loop) cancel(j uring.Job) error {
	_, err := l.queue(func() (uring.Job, error) { return l.ring.Cancel(j, opData{kind: opCancel}) })
	if errors.Is(err, uring.ErrJobDone) {
		return nil
	}
	return err
}

func (l *loop) onAccept(ln *listener, res int32, more bool) error {
	if !more {
		ln.acceptArmed = false
	}
	if res >= 0 {
		l.accepted(ln, int(res))
	} else {
		switch e := syscall.Errno(-res); e {
		case syscall.ECANCELED, syscall.EINTR, syscall.EAGAIN, syscall.ECONNABORTED, syscall.ECONNRESET:
		default:
			l.eng.logger.Errorf("uringnet/engine: event loop %d: accept: %v", l.idx, e)
			if !more && !l.stopping {
				// EMFILE and the like fail again at once: retry after a
				// pause instead of spinning.
				_, err := l.queue(func() (uring.Job, error) {
					return l.ring.Timeout(100*time.Millisecond, uring.Monotonic, opData{kind: opAcceptRetry, ln: ln})
				})
				return err
			}
		}
	}
	if !more && !l.stopping && !ln.acceptArmed {
		return l.armAccept(ln)
	}
	return nil
}

// accepted hands a new connection to the loop the load balancer picks.
func (l *loop) accepted(ln *listener, fd int) {
	if l.stopping || l.quiescing {
		unix.Close(fd)
		return
	}
	var remote net.Addr
	if sa, err := unix.Getpeername(fd); err == nil {
		remote = sockaddrToAddr(sa)
	}
	if remote == nil {
		if ln.network == "unix" {
			remote = &net.UnixAddr{Net: "unix"}
		} else {
			// The peer is already gone (ENOTCONN); the first receive
			// will report it.
			remote = &net.TCPAddr{}
		}
	}
	target := l
	if !l.eng.opts.ReusePort {
		target = l.eng.lb.next(l, remote)
	}
	c := newConn(fd, target, ln, remote)
	target.count.Add(1)
	if target == l {
		l.register(c)
		return
	}
	if err := target.enqueue(func() { target.register(c) }); err != nil {
		target.count.Add(-1)
		unix.Close(fd)
	}
}

// register opens a connection on its loop: OnOpen, its reply, its receive.
func (l *loop) register(c *conn) {
	if l.stopping || l.quiescing {
		l.count.Add(-1)
		unix.Close(c.fd)
		return
	}
	c.idx = int32(len(l.conns))
	l.conns = append(l.conns, c)
	c.opened = true
	out, action := l.handler.OnOpen(c)
	if len(out) > 0 && c.opened {
		c.queueOut(out)
	}
	if err := l.handleAction(c, action); err != nil {
		return
	}
	if c.opened && !c.recvArmed && !c.paused {
		l.needRearm(c)
	}
}

func (l *loop) needRearm(c *conn) {
	if !c.rearmQueued {
		c.rearmQueued = true
		l.rearm = append(l.rearm, c)
	}
}

func (l *loop) markDirty(c *conn) {
	if !c.dirty {
		c.dirty = true
		l.dirty = append(l.dirty, c)
	}
	l.checkPause(c)
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
		if (c.opened || c.lingering) && !c.sending && c.pending() > 0 {
			if err := l.startSend(c); err != nil {
				return err
			}
		}
	}
	l.dirty = l.dirty[:0]
	for i, c := range l.rearm {
		l.rearm[i] = nil
		c.rearmQueued = false
		if c.opened && !c.paused && !c.eof && !l.stopping {
			if err := l.armRecv(c); err != nil {
				return err
			}
		}
	}
	l.rearm = l.rearm[:0]
	l.retryStarved()
	return nil
}

func (l *loop) startSend(c *conn) error {
	if c.zc != nil {
		j, err := l.queue(func() (uring.Job, error) {
			return l.ring.Send(c.fd, c.zc, unix.MSG_NOSIGNAL, opData{kind: opSend, c: c})
		})
		if err != nil {
			return err
		}
		c.sending, c.sendJob = true, j
		return nil
	}
	if c.head > 0 && c.head >= len(c.out)/2 {
		// No send is in flight, so the sent prefix can be reclaimed.
		n := copy(c.out, c.out[c.head:])
		c.out = c.out[:n]
		c.head = 0
	}
	j, err := l.queue(func() (uring.Job, error) {
		return l.ring.Send(c.fd, c.out[c.head:], unix.MSG_NOSIGNAL, opData{kind: opSend, c: c})
	})
	if err != nil {
		return err
	}
	c.sending, c.sendJob = true, j
	return nil
}

func (l *loop) onSend(c *conn, res int32) error {
	c.sending = false
	if res > 0 {
		if c.zc != nil {
			// The send in flight was of zc: see conn.zc.
			c.zc = c.zc[res:]
		} else {
			c.head += int(res)
		}
	}
	if c.zc != nil && len(c.zc) == 0 {
		l.unpin(c)
	}
	if !c.opened {
		return l.onSendClosed(c, res)
	}
	if res < 0 {
		c.dropOut()
		_, err := l.closeConn(c, os.NewSyscallError("write", syscall.Errno(-res)))
		return err
	}
	if c.zc != nil {
		return l.startSend(c)
	}
	if c.head >= len(c.out) {
		c.head = 0
		if cap(c.out) > 4*l.wcap {
			c.out = nil
		} else {
			c.out = c.out[:0]
		}
	} else if err := l.startSend(c); err != nil {
		return err
	}
	if c.paused && c.pending() <= l.wcap/2 {
		return l.resume(c)
	}
	return nil
}

// onSendClosed goes on sending what a closed connection has queued, or
// ends it: when the queue is empty, a send fails, or the loop is
// stopping, in which case what the socket takes now is written and the
// rest dropped, as gnet's close does.
func (l *loop) onSendClosed(c *conn, res int32) error {
	if c.lingering && !l.stopping && res >= 0 && c.pending() > 0 {
		return l.startSend(c)
	}
	if l.stopping && (res >= 0 || syscall.Errno(-res) == syscall.ECANCELED) {
		c.writeDirect()
	}
	c.dropOut()
	l.unlinger(c)
	l.maybeFree(c)
	return nil
}

// resume reads from c again once its outbound queue has drained to half
// the cap: it delivers what was held back meanwhile, then the peer's end
// if that came too.
func (l *loop) resume(c *conn) error {
	c.paused = false
	// With plain buffers no poll was armed meanwhile: look.
	c.readable = true
	if !c.recvArmed && !c.eof {
		l.needRearm(c)
	}
	if len(c.in) > 0 {
		// Data held back while paused.
		if err := l.wake(c); err != nil {
			return err
		}
	}
	if c.eof && c.opened && !c.paused {
		return l.peerEnded(c)
	}
	return nil
}

// peerEnded handles the end of the peer's stream: the connection closes
// with gnet's error for it, unless reading is paused, in which case it
// closes once what was held back has been delivered.
func (l *loop) peerEnded(c *conn) error {
	if c.paused {
		c.eof = true
		return nil
	}
	_, err := l.closeConn(c, os.NewSyscallError("read", io.EOF))
	return err
}

// pinnable reports whether p, written to c, can be sent from the provided
// buffer being delivered to c rather than copied: Config.SendFromReadBuffer
// is set, p lies within that buffer, is at least minPinWrite bytes, the
// buffer is not held already, and sends hold fewer than maxPinned buffers.
func (l *loop) pinnable(c *conn, p []byte) bool {
	if !l.eng.cfg.SendFromReadBuffer || len(p) < minPinWrite || c != l.curConn || l.curPinned || l.pinned >= l.maxPinned {
		return false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(l.curBuf)))
	q := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	return q >= base && q+uintptr(len(p)) <= base+uintptr(len(l.curBuf))
}

// minPinWrite is the smallest write sent from its provided buffer: below
// it, copying costs less than holding the buffer until the send completes
// (measured with 64-byte echoes).
const minPinWrite = 1024

// pin marks the buffer being delivered as held by a send.
func (l *loop) pin() {
	l.pins++
	l.pinned++
	l.curPinned = true
}

// unpin drops c.zc and hands its buffer back to the kernel, or to onRecv
// to recycle if it is the one being delivered.
func (l *loop) unpin(c *conn) {
	l.pinned--
	if c == l.curConn && c.zcBid == l.curBid && l.curPinned {
		l.curPinned = false
	} else {
		l.recycle(c.zcBid)
	}
	c.zc = nil
}

// checkPause stops reading from a connection whose outbound queue has
// passed the write buffer cap, until sends drain it (Config.Backpressure).
func (l *loop) checkPause(c *conn) {
	if !l.eng.cfg.Backpressure || c.paused || !c.opened || c.pending() <= l.wcap {
		return
	}
	c.paused = true
	l.pauses.Add(1)
	if err := l.cancelRecv(c); err != nil {
		l.eng.logger.Errorf("uringnet/engine: %v", err)
	}
}

func (l *loop) onRecv(c *conn, cqe uring.Completion[opData]) error {
	more := cqe.More()
	if !more {
		c.recvArmed = false
		c.recvCancel = false
	}
	res := cqe.Result
	if bid, ok := cqe.BufferID(); ok {
		if err := l.received(c, bid, res); err != nil {
			return err
		}
	}
	if !c.opened {
		l.maybeFree(c)
		return nil
	}
	if more {
		return nil
	}
	switch {
	case res > 0:
		// A single receive completed, or the kernel ended the
		// multishot one (a full CQ, say): arm it again.
		if !c.paused {
			l.needRearm(c)
		}
	case res == 0:
		return l.peerEnded(c)
	default:
		switch e := syscall.Errno(-res); e {
		case syscall.ENOBUFS:
			l.enobufs.Add(1)
			// The buffer ring ran dry; the data waits in the socket.
			// Every buffer handed out this round is recycled by the
			// time flush re-arms, but for those held by sends (at most
			// maxPinned, half the ring), so nothing is lost.
			if !c.paused {
				l.needRearm(c)
			}
		case syscall.ECANCELED:
			if !c.paused {
				l.needRearm(c)
			}
		default:
			_, err := l.closeConn(c, os.NewSyscallError("read", e))
			return err
		}
	}
	return nil
}

// received hands the res bytes the kernel put in buffer bid to the
// handler, or keeps them if c is paused, then recycles the buffer unless
// a send now holds it.
func (l *loop) received(c *conn, bid uint16, res int32) error {
	if res <= 0 || !c.opened || l.quiescing || l.stopping {
		l.recycle(bid)
		return nil
	}
	data := l.rbuf(bid, int(res))
	var err error
	if c.paused {
		// Received before the cancel of the receive took effect: keep
		// it inbound, undelivered, so that the handler's replies cannot
		// grow the outbound queue past the cap. It is delivered on
		// resume.
		c.in = append(c.in, data...)
	} else {
		l.curConn, l.curBuf, l.curBid = c, data, bid
		err = l.deliver(c, data)
		l.curConn, l.curBuf = nil, nil
	}
	if l.curPinned {
		l.curPinned = false
	} else {
		l.recycle(bid)
	}
	return err
}

// deliver presents data, after any bytes the handler left unread last
// time, to OnTraffic, then keeps what it leaves unread.
func (l *loop) deliver(c *conn, data []byte) error {
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		c.buf, c.fromIn = c.in, true
	} else {
		c.buf, c.fromIn = data, false
	}
	action := l.handler.OnTraffic(c)
	if action == gnet.None {
		c.keepUnread()
	}
	return l.handleAction(c, action)
}

// wake runs OnTraffic for Conn.Wake, with whatever is buffered.
func (l *loop) wake(c *conn) error {
	if !c.opened || l.quiescing || l.stopping {
		return nil
	}
	c.buf, c.fromIn = c.in, true
	action := l.handler.OnTraffic(c)
	if action == gnet.None {
		c.keepUnread()
	}
	return l.handleAction(c, action)
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

// closeConn closes c as gnet's eventloop.close does: OnClose with err,
// then the outbound queue goes out, then close(2). Unlike gnet, which
// writes what the socket takes at once and drops the rest, the
// connection lingers, out of conns and counts, until every queued byte
// has been sent or a send fails; only when the loop is stopping is the
// rest dropped, as gnet does. It reports whether c was open, and
// ErrEngineShutdown if OnClose asked for Shutdown.
func (l *loop) closeConn(c *conn, err error) (bool, error) {
	if !c.opened {
		return false, nil
	}
	c.opened = false
	last := len(l.conns) - 1
	l.conns[c.idx] = l.conns[last]
	l.conns[c.idx].idx = c.idx
	l.conns[last] = nil
	l.conns = l.conns[:last]
	l.count.Add(-1)
	action := l.handler.OnClose(c, err)
	c.ctx = nil
	c.buf, c.in = nil, nil
	if err := l.cancelRecv(c); err != nil {
		return true, err
	}
	switch {
	case c.sending && l.stopping:
		// The send's completion finishes the flush and the close.
		if err := l.cancel(c.sendJob); err != nil {
			return true, err
		}
	case c.sending:
		l.linger(c)
	default:
		c.writeDirect()
		if c.pending() > 0 && !l.stopping {
			l.linger(c)
			l.markDirty(c)
		} else {
			c.dropOut()
		}
	}
	l.maybeFree(c)
	if action == gnet.Shutdown {
		l.quiesce()
		return true, errorx.ErrEngineShutdown
	}
	return true, nil
}

// linger keeps closed connection c until its outbound queue has gone.
func (l *loop) linger(c *conn) {
	c.lingering = true
	c.idx = int32(len(l.lingering))
	l.lingering = append(l.lingering, c)
}

func (l *loop) unlinger(c *conn) {
	if !c.lingering {
		return
	}
	c.lingering = false
	last := len(l.lingering) - 1
	l.lingering[c.idx] = l.lingering[last]
	l.lingering[c.idx].idx = c.idx
	l.lingering[last] = nil
	l.lingering = l.lingering[:last]
}

// maybeFree closes a closed connection's fd once no operation names it,
// so the number cannot be reused under an operation still in flight.
func (l *loop) maybeFree(c *conn) {
	if l.dead && !c.opened && !c.freed {
		// Its operations never complete now: end the connection for
		// the peer, and close the fd, which they do not need (they
		// hold the kernel's own reference to the socket).
		c.freed = true
		c.out, c.head = nil, 0
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
		unix.Close(c.fd)
		return
	}
	if c.opened || c.lingering || c.recvArmed || c.pollArmed || c.sending || c.freed {
		return
	}
	c.freed = true
	c.out, c.head = nil, 0
	unix.Close(c.fd)
}

// enqueue runs fn on the loop goroutine soon. It fails with gnet's
// ErrEngineInShutdown once the loop has ended.
func (l *loop) enqueue(fn func()) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tasksClosed {
		return errorx.ErrEngineInShutdown
	}
	l.tasks = append(l.tasks, fn)
	l.notifyLocked()
	return nil
}

// notifyLocked wakes the loop through its eventfd, once per batch of
// tasks. The write happens under mu so that it cannot reach an eventfd
// the ending loop has closed.
func (l *loop) notifyLocked() {
	if l.notified.CompareAndSwap(false, true) {
		if _, err := unix.Write(l.efd, wakeWord[:]); err != nil {
			l.notified.Store(false)
		}
	}
}

// stop asks the loop to end; it returns at once.
func (l *loop) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tasksClosed {
		return
	}
	l.stopReq = true
	l.notifyLocked()
}

// runTasks runs the queued tasks and reports whether the loop must stop.
func (l *loop) runTasks() bool {
	l.mu.Lock()
	tasks := l.tasks
	l.tasks = l.spare[:0]
	stop := l.stopReq
	l.mu.Unlock()
	for i, fn := range tasks {
		tasks[i] = nil
		fn()
	}
	l.spare = tasks[:0]
	return stop
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
		c := l.lingering[i]
		if c.sending {
			l.cancel(c.sendJob)
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

// The gnet.EventLoop interface, for Conn.EventLoop.

// Register dials addr and serves the connection on this loop, as gnet's
// EventLoop.Register does: see Engine.Register.
func (l *loop) Register(ctx context.Context, addr net.Addr) (<-chan gnet.RegisteredResult, error) {
	if l.eng.shutDown.Load() {
		return nil, errorx.ErrEngineInShutdown
	}
	if addr == nil {
		return nil, errorx.ErrInvalidNetworkAddress
	}
	return l.enroll(ctx, nil, addr)
}

// Enroll serves an established connection on this loop, as gnet's
// EventLoop.Enroll does: the loop serves a duplicate of its socket and c
// is closed. See Engine.Register.
func (l *loop) Enroll(ctx context.Context, c net.Conn) (<-chan gnet.RegisteredResult, error) {
	if l.eng.shutDown.Load() {
		return nil, errorx.ErrEngineInShutdown
	}
	if c == nil {
		return nil, errorx.ErrInvalidNetConn
	}
	return l.enroll(ctx, c, nil)
}

// Execute runs runnable on the loop. An error it returns is logged;
// ErrEngineShutdown shuts the engine down, as in gnet.
func (l *loop) Execute(ctx context.Context, runnable gnet.Runnable) error {
	if l.eng.shutDown.Load() {
		return errorx.ErrEngineInShutdown
	}
	if runnable == nil {
		return errorx.ErrNilRunnable
	}
	return l.enqueue(func() {
		if err := runnable.Run(ctx); err != nil {
			if errors.Is(err, errorx.ErrEngineShutdown) {
				l.quiesce()
				return
			}
			l.eng.logger.Errorf("uringnet/engine: event loop %d: runnable: %v", l.idx, err)
		}
	})
}

// Schedule is not supported, as in gnet.
func (l *loop) Schedule(context.Context, gnet.Runnable, time.Duration) error {
	return errorx.ErrUnsupportedOp
}

// Close closes c, which must belong to this loop; call it on the loop.
func (l *loop) Close(c gnet.Conn) error {
	if uc, ok := c.(*udpConn); ok && uc.loop == l {
		// A registered udp conn closes as gnet's does; a sender's is
		// never open, and closing it does nothing, as in gnet.
		if uc.registered() {
			return l.closeUDP(uc, nil)
		}
		return nil
	}
	cc, ok := c.(*conn)
	if !ok || cc.loop != l {
		return errorx.ErrUnsupportedOp
	}
	_, err := l.closeConn(cc, nil)
	return err
}

// balancer is gnet's load balancing over the loops, used by the accepting
// loop when there is one listener.
type balancer struct {
	algo  gnet.LoadBalancing
	loops []*loop
}

func (b *balancer) next(from *loop, remote net.Addr) *loop {
	switch b.algo {
	case gnet.LeastConnections:
		best := b.loops[0]
		n := best.count.Load()
		for _, l := range b.loops[1:] {
			if m := l.count.Load(); m < n {
				best, n = l, m
			}
		}
		return best
	case gnet.SourceAddrHash:
		h := int(crc32.ChecksumIEEE([]byte(remote.String())))
		if h < 0 {
			h = -h
		}
		return b.loops[h%len(b.loops)]
	default:
		i := from.rr.Add(1) - 1
		return b.loops[i%uint64(len(b.loops))]
	}
}
