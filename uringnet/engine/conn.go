package engine

import (
	"io"
	"net"
	"slices"
	"time"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"github.com/panjf2000/gnet/v2/pkg/socket"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/uring"
)

var _ gnet.Conn = (*conn)(nil)

// conn is a connection on an event loop. The Reader and Writer methods,
// Context and SetContext are for the loop goroutine (inside the
// handler's callbacks), as in gnet; AsyncWrite, AsyncWritev, Wake, Close,
// CloseWithCallback and the Socket methods are safe from any goroutine.
type conn struct {
	fd         int
	loop       *loop
	ln         *listener // the listener that accepted it
	remoteAddr net.Addr
	ctx        any

	// Inbound: buf (in inbound) is what the handler sees in OnTraffic;
	// it is either the provided buffer the kernel filled (fromIn false)
	// or in, which holds the bytes earlier callbacks left unread followed
	// by the new ones (fromIn true).
	inbound
	in []byte

	// Outbound: the send side, only while bytes are queued or a send is
	// in flight (see outbound); nil otherwise.
	o *outbound

	recvJob uring.Job
	pollJob uring.Job // plain buffers: the POLLIN wait
	idx     int32     // position in loop.conns while open, in loop.lingering while lingering
	recvBid uint16    // plain buffers: the pool buffer the receive fills

	state connState // where it is in its life
	read  readState // whether it reads: backpressure, and the peer's end meanwhile
	recv  ioState   // its receive
	poll  ioState   // plain buffers: its POLLIN wait

	// Flags independent of the states above and of each other. sending
	// is the send side's whole state: one send at a time, and its
	// cancellation (only when the loop stops) needs no state of its own,
	// since the send's completion ends it either way.
	// readable and hup describe the socket, not the connection, and
	// only the plain-buffer path keeps them. dirty and rearmQueued say
	// the connection is in one of the loop's work lists, in either or
	// both whatever its state. fromIn says what buf aliases.
	sending     bool // a send is in flight
	readable    bool // plain buffers: data may be waiting, unread
	hup         bool // plain buffers: the poll saw the end or an error: read until EAGAIN
	dirty       bool // queued in loop.dirty
	rearmQueued bool // queued in loop.rearm
	fromIn      bool
}

// connState is where a stream connection is in its life. The
// transitions, each made by the loop goroutine in the function named:
//
//	connNew       -> connOpen       register, just before OnOpen
//	connOpen      -> connLingering  closeConn, when a send is in flight or
//	                                bytes the socket did not take at once
//	                                remain, and the loop is not stopping
//	connOpen      -> connClosed     closeConn, otherwise
//	connLingering -> connClosed     unlinger: the queue has gone out, a send
//	                                failed, or the loop is stopping
//	connClosed    -> connFreed      maybeFree, once no receive, POLLIN wait
//	                                or send names the fd
//
// OnClose runs once, on leaving connOpen; Write and the other Writer
// methods work only in connOpen. The fd stays open until connFreed so
// that its number cannot be reused under an operation still in flight.
type connState uint8

const (
	connNew       connState = iota // accepted, dialled or adopted; OnOpen not yet run
	connOpen                       // between OnOpen and OnClose: in loop.conns
	connLingering                  // closed, its outbound queue still going out: in loop.lingering
	connClosed                     // closed, nothing left to send; the fd open while an operation names it
	connFreed                      // the fd is closed
)

// readState is whether an open connection reads. With
// Config.Backpressure, reading pauses while the outbound queue is over
// the write buffer cap; the peer's end may arrive meanwhile, and then
// closes the connection only after what was held back is delivered:
//
//	readOn          -> readPaused       checkPause: the queue passed the cap
//	readPaused      -> readOn           resume: the queue drained to half the cap
//	readPaused      -> readPausedEnded  peerEnded while paused
//	readPausedEnded -> readEnded        resume: what was held back is delivered,
//	                                    then closeConn reports io.EOF
//	readEnded       -> readPausedEnded  checkPause, from a write during that
//	                                    delivery
//
// Receives are armed only in readOn.
type readState uint8

const (
	readOn          readState = iota // receiving
	readPaused                       // stopped by backpressure
	readPausedEnded                  // stopped, and the peer's end has arrived
	readEnded                        // resumed after the peer's end: closes once delivered
)

// paused reports whether backpressure has stopped reading.
func (c *conn) paused() bool { return c.read == readPaused || c.read == readPausedEnded }

// ended reports whether the peer's end arrived while reading was paused.
func (c *conn) ended() bool { return c.read == readPausedEnded || c.read == readEnded }

// ioState is the state of a connection's receive, or of its POLLIN wait:
//
//	ioIdle                 -> ioArmed       armRecv or armPlain queues it
//	ioArmed                -> ioCancelling  cancelRecv queues its cancellation
//	ioArmed, ioCancelling  -> ioIdle        its last completion (without
//	                                        IORING_CQE_F_MORE) is handled
type ioState uint8

const (
	ioIdle       ioState = iota // none in flight
	ioArmed                     // in flight
	ioCancelling                // in flight, its cancellation queued
)

func newConn(fd int, l *loop, ln *listener, remote net.Addr) *conn {
	return &conn{fd: fd, loop: l, ln: ln, remoteAddr: remote}
}

// outbound is a connection's send side. zc, then out[head:], is queued.
// zc is a slice of provided buffer zcBid that the handler wrote back
// unchanged: it is sent from there, and the buffer recycled once it has
// gone, rather than copied into out. zc is only set while out is empty,
// and only while a send is in flight does out grow behind it. A send of
// zc, or else of out[head:len at send time], is in flight while the
// conn's sending is set.
//
// A connection holds one only while it has bytes queued or a send in
// flight (or keeps one whose buffer is too big to spare, see idleOut):
// the loop keeps the others, with their buffers, for the next
// connection that writes, so that an idle connection costs a pointer.
type outbound struct {
	zc      []byte
	out     []byte
	head    int
	sendJob uring.Job
	zcBid   uint16
}

func (c *conn) pending() int {
	if c.o == nil {
		return 0
	}
	return len(c.o.zc) + len(c.o.out) - c.o.head
}

// outq returns c's send side, taking one from the loop's spares if c
// has none.
func (c *conn) outq() *outbound {
	if c.o == nil {
		c.o = c.loop.takeOut()
	}
	return c.o
}

func (c *conn) queueOut(p []byte) {
	if len(p) == 0 {
		return
	}
	o := c.outq()
	if !c.sending {
		if o.zc != nil {
			c.unpinOut()
		} else if o.head == len(o.out) && c.loop.pinnable(c, p) {
			o.zc, o.zcBid = p, c.loop.curBid
			c.loop.pin()
			c.loop.markDirty(c)
			return
		}
	}
	o.out = append(o.out, p...)
	c.loop.markDirty(c)
}

// unpinOut moves zc, not yet being sent, into out, so that what is
// written after it goes in the same send rather than a second one.
func (c *conn) unpinOut() {
	o := c.o
	if o == nil || o.zc == nil || c.sending {
		return
	}
	o.out = append(o.out[:0], o.zc...)
	o.head = 0
	c.loop.unpin(c)
}

// keepUnread saves the bytes the handler left in buf for the next
// OnTraffic, as gnet moves them to its inbound buffer.
func (c *conn) keepUnread() {
	rest := c.buf
	c.buf = nil
	switch {
	case len(rest) == 0:
		if cap(c.in) > c.loop.bufSize {
			c.in = nil
		} else {
			c.in = c.in[:0]
		}
	case c.fromIn:
		// rest is a suffix of in: move it to the front.
		c.in = c.in[:copy(c.in, rest)]
	default:
		c.in = append(c.in[:0], rest...)
	}
}

// writeDirect writes what the socket takes of the outbound queue now,
// without waiting, and keeps the rest; no send may be in flight.
func (c *conn) writeDirect() {
	o := c.o
	if o == nil {
		return
	}
	for len(o.zc) > 0 {
		n, err := unix.Write(c.fd, o.zc)
		if err != nil || n <= 0 {
			return
		}
		c.loop.countWrite(n)
		o.zc = o.zc[n:]
	}
	if o.zc != nil {
		c.loop.unpin(c)
	}
	for o.head < len(o.out) {
		n, err := unix.Write(c.fd, o.out[o.head:])
		if err != nil || n <= 0 {
			return
		}
		c.loop.countWrite(n)
		o.head += n
	}
}

// dropOut discards the outbound queue and gives the send side back to
// the loop; no send may be in flight.
func (c *conn) dropOut() {
	if c.o == nil {
		return
	}
	if c.o.zc != nil {
		c.loop.unpin(c)
	}
	c.loop.idleOut(c, false)
}

// Reader: the methods of inbound.

// Writer.

// Write queues p for sending; it goes out after the callback returns.
func (c *conn) Write(p []byte) (int, error) {
	if c.state != connOpen {
		return 0, net.ErrClosed
	}
	c.queueOut(p)
	return len(p), nil
}

// Writev queues bs for sending, in order.
func (c *conn) Writev(bs [][]byte) (int, error) {
	if c.state != connOpen {
		return 0, net.ErrClosed
	}
	n := 0
	for _, b := range bs {
		c.queueOut(b)
		n += len(b)
	}
	return n, nil
}

// ReadFrom queues everything r yields until io.EOF, which it does not
// report, as gnet's outbound buffer does; after another error it returns
// the error, and what r yielded before it stays queued.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if c.state != connOpen {
		return 0, net.ErrClosed
	}
	o := c.outq()
	c.unpinOut()
	defer c.loop.markDirty(c)
	var total int64
	for {
		if cap(o.out)-len(o.out) < minReadFrom {
			o.out = slices.Grow(o.out, max(minReadFrom, len(o.out)))
		}
		n, err := r.Read(o.out[len(o.out):cap(o.out)])
		if n < 0 || n > cap(o.out)-len(o.out) {
			panic("uringnet/engine: Conn.ReadFrom: invalid count from Read")
		}
		o.out = o.out[:len(o.out)+n]
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// minReadFrom is the least room ReadFrom offers a Read.
const minReadFrom = 32 << 10

// SendTo is for UDP; on a stream connection it returns gnet's
// ErrUnsupportedOp, as gnet does.
func (c *conn) SendTo([]byte, net.Addr) (int, error) { return 0, errorx.ErrUnsupportedOp }

// Flush starts sending the outbound buffer now rather than after the
// callback returns.
func (c *conn) Flush() error {
	if c.state != connOpen {
		return net.ErrClosed
	}
	if c.sending || c.pending() == 0 {
		return nil
	}
	return c.loop.startSend(c)
}

// OutboundBuffered returns the number of bytes queued and not yet sent.
func (c *conn) OutboundBuffered() int { return c.pending() }

// AsyncWrite queues a copy of buf from any goroutine, so that buf is the
// caller's again when it returns (gnet's keeps buf until its loop writes
// it); callback, if not nil, runs on the loop after the bytes are queued
// (or with net.ErrClosed if the connection closed first).
func (c *conn) AsyncWrite(buf []byte, callback gnet.AsyncCallback) error {
	return c.asyncWrite(append([]byte(nil), buf...), callback)
}

// AsyncWritev is AsyncWrite for several buffers, copied into one.
func (c *conn) AsyncWritev(bs [][]byte, callback gnet.AsyncCallback) error {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	buf := make([]byte, 0, n)
	for _, b := range bs {
		buf = append(buf, b...)
	}
	return c.asyncWrite(buf, callback)
}

// asyncWrite queues buf, which the connection owns, on the loop.
func (c *conn) asyncWrite(buf []byte, callback gnet.AsyncCallback) error {
	return c.loop.enqueue(func() {
		var err error
		if c.state == connOpen {
			_, err = c.Write(buf)
		} else {
			err = net.ErrClosed
		}
		if callback != nil {
			_ = callback(c, err)
		}
	})
}

// Socket.

// Fd returns the connection's file descriptor.
func (c *conn) Fd() int { return c.fd }

// Dup returns a duplicate of the file descriptor; the caller closes it.
func (c *conn) Dup() (int, error) { return socket.Dup(c.fd) }

// SetReadBuffer sets SO_RCVBUF.
func (c *conn) SetReadBuffer(bytes int) error { return socket.SetRecvBuffer(c.fd, bytes) }

// SetWriteBuffer sets SO_SNDBUF.
func (c *conn) SetWriteBuffer(bytes int) error { return socket.SetSendBuffer(c.fd, bytes) }

// SetLinger sets SO_LINGER.
func (c *conn) SetLinger(sec int) error { return socket.SetLinger(c.fd, sec) }

// SetNoDelay sets TCP_NODELAY.
func (c *conn) SetNoDelay(noDelay bool) error {
	v := 0
	if noDelay {
		v = 1
	}
	return socket.SetNoDelay(c.fd, v)
}

// SetKeepAlivePeriod enables keep-alive with period d (TCP only).
func (c *conn) SetKeepAlivePeriod(d time.Duration) error {
	if c.ln.network != "tcp" {
		return errorx.ErrUnsupportedOp
	}
	return socket.SetKeepAlivePeriod(c.fd, int(d.Seconds()))
}

// SetKeepAlive sets the keep-alive options (TCP only).
func (c *conn) SetKeepAlive(enabled bool, idle, intvl time.Duration, cnt int) error {
	if c.ln.network != "tcp" {
		return errorx.ErrUnsupportedOp
	}
	return socket.SetKeepAlive(c.fd, enabled, int(idle.Seconds()), int(intvl.Seconds()), cnt)
}

// Context returns the user-defined context.
func (c *conn) Context() any { return c.ctx }

// SetContext sets the user-defined context.
func (c *conn) SetContext(ctx any) { c.ctx = ctx }

// EventLoop returns the connection's loop.
func (c *conn) EventLoop() gnet.EventLoop { return c.loop }

// LocalAddr returns the listener's address.
func (c *conn) LocalAddr() net.Addr { return c.ln.addr }

// RemoteAddr returns the peer's address.
func (c *conn) RemoteAddr() net.Addr { return c.remoteAddr }

// Wake triggers OnTraffic for the connection with whatever it has
// buffered; callback, if not nil, runs on the loop afterwards.
func (c *conn) Wake(callback gnet.AsyncCallback) error {
	return c.loop.enqueue(func() {
		err := c.loop.wake(c)
		if callback != nil {
			_ = callback(c, err)
		}
	})
}

// CloseWithCallback closes the connection from any goroutine; callback,
// if not nil, runs on the loop afterwards.
func (c *conn) CloseWithCallback(callback gnet.AsyncCallback) error {
	return c.loop.enqueue(func() {
		_, err := c.loop.closeConn(c, nil)
		if callback != nil {
			_ = callback(c, err)
		}
	})
}

// Close closes the connection from any goroutine; OnClose runs with a nil
// error.
func (c *conn) Close() error {
	return c.loop.enqueue(func() { c.loop.closeConn(c, nil) })
}

// SetDeadline is not supported, as in gnet.
func (*conn) SetDeadline(time.Time) error { return errorx.ErrUnsupportedOp }

// SetReadDeadline is not supported, as in gnet.
func (*conn) SetReadDeadline(time.Time) error { return errorx.ErrUnsupportedOp }

// SetWriteDeadline is not supported, as in gnet.
func (*conn) SetWriteDeadline(time.Time) error { return errorx.ErrUnsupportedOp }
