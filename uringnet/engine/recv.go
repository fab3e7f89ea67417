package engine

// Receiving on stream connections: delivery to OnTraffic, and pausing
// reading for backpressure. The receive operations themselves are armed
// in fallback.go, by the loop's features.

import (
	"io"
	"os"
	"syscall"

	"github.com/panjf2000/gnet/v2"

	"github.com/uring-go/uring/uring"
)

func (l *loop) needRearm(c *conn) {
	if !c.rearmQueued {
		c.rearmQueued = true
		l.rearm = append(l.rearm, c)
	}
}

// resume reads from c again once its outbound queue has drained to half
// the cap: it delivers what was held back meanwhile, then the peer's end
// if that came too.
func (l *loop) resume(c *conn) error {
	if c.read == readPausedEnded {
		c.read = readEnded
	} else {
		c.read = readOn
	}
	// With plain buffers no poll was armed meanwhile: look.
	c.readable = true
	if c.recv == ioIdle && !c.ended() {
		l.needRearm(c)
	}
	if len(c.in) > 0 {
		// Data held back while paused.
		if err := l.wake(c); err != nil {
			return err
		}
	}
	if c.read == readEnded && c.state == connOpen {
		return l.peerEnded(c)
	}
	return nil
}

// peerEnded handles the end of the peer's stream: the connection closes
// with gnet's error for it, unless reading is paused, in which case it
// closes once what was held back has been delivered.
func (l *loop) peerEnded(c *conn) error {
	if c.paused() {
		c.read = readPausedEnded
		return nil
	}
	_, err := l.closeConn(c, os.NewSyscallError("read", io.EOF))
	return err
}

// checkPause stops reading from a connection whose outbound queue has
// passed the write buffer cap, until sends drain it (Config.Backpressure).
func (l *loop) checkPause(c *conn) {
	if !l.eng.cfg.Backpressure || c.paused() || c.state != connOpen || c.pending() <= l.wcap {
		return
	}
	if c.read == readEnded {
		c.read = readPausedEnded
	} else {
		c.read = readPaused
	}
	l.pauses.Add(1)
	if err := l.cancelRecv(c); err != nil {
		l.eng.logger.Errorf("uringnet/engine: %v", err)
	}
}

func (l *loop) onRecv(c *conn, cqe uring.Completion[opData]) error {
	more := cqe.More()
	if !more {
		c.recv = ioIdle
	}
	res := cqe.Result
	if bid, ok := cqe.BufferID(); ok {
		if err := l.received(c, bid, res); err != nil {
			return err
		}
	}
	if c.state != connOpen {
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
		if !c.paused() {
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
			if !c.paused() {
				l.needRearm(c)
			}
		case syscall.ECANCELED:
			if !c.paused() {
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
	if res <= 0 || c.state != connOpen || l.quiescing || l.stopping {
		l.recycle(bid)
		return nil
	}
	l.countRead(int(res))
	data := l.rbuf(bid, int(res))
	var err error
	if c.paused() {
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
	if c.state != connOpen || l.quiescing || l.stopping {
		return nil
	}
	c.buf, c.fromIn = c.in, true
	action := l.handler.OnTraffic(c)
	if action == gnet.None {
		c.keepUnread()
	}
	return l.handleAction(c, action)
}
