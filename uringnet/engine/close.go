package engine

// Closing stream connections: OnClose, the outbound queue's last
// bytes, and the fd once no operation names it.

import (
	"time"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/uring"
)

// closeConn closes c as gnet's eventloop.close does: OnClose with err,
// then the outbound queue goes out, then close(2). Unlike gnet, which
// writes what the socket takes at once and drops the rest, the
// connection lingers, out of conns and counts, until every queued byte
// has been sent, a send fails, or the peer has taken nothing for the
// linger limit (Config.LingerTimeout); only then, or when the loop is
// stopping, is the rest dropped, as gnet does at once. It reports whether c was open, and
// ErrEngineShutdown if OnClose asked for Shutdown.
func (l *loop) closeConn(c *conn, err error) (bool, error) {
	if c.state != connOpen {
		return false, nil
	}
	c.state = connClosed
	last := len(l.conns) - 1
	l.conns[c.idx] = l.conns[last]
	l.conns[c.idx].idx = c.idx
	l.conns[last] = nil
	l.conns = l.conns[:last]
	// count before closed, as stats reads them the other way round: a
	// reading that counts this close no longer counts c as open.
	l.count.Add(-1)
	l.closed.Add(1)
	action := l.handler.OnClose(c, err)
	c.ctx = nil
	c.buf, c.in = nil, nil
	if err := l.cancelRecv(c); err != nil {
		return true, err
	}
	switch {
	case c.sending && l.stopping:
		// The send's completion finishes the flush and the close.
		if err := l.cancel(c.o.sendJob); err != nil {
			return true, err
		}
	case c.sending:
		if err := l.linger(c); err != nil {
			return true, err
		}
	default:
		c.writeDirect()
		if c.pending() > 0 && !l.stopping {
			if err := l.linger(c); err != nil {
				return true, err
			}
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

// lingerer is a closed connection in loop.lingering, with what the
// linger limit (Config.LingerTimeout) needs: the bytes left to send as
// the last check saw them, when they last went down, and whether the
// limit has cut it (its send is being cancelled).
type lingerer struct {
	c     *conn
	left  int
	since time.Time
	cut   bool
}

// linger keeps closed connection c until its outbound queue has gone,
// or its peer has taken nothing of it for the linger limit.
func (l *loop) linger(c *conn) error {
	c.state = connLingering
	c.idx = int32(len(l.lingering))
	l.lingering = append(l.lingering, lingerer{c: c, left: l.unsent(c), since: time.Now()})
	if l.lingerLimit <= 0 || l.lingerTicking {
		return nil
	}
	return l.armLingerCheck()
}

func (l *loop) unlinger(c *conn) {
	if c.state != connLingering {
		return
	}
	c.state = connClosed
	last := len(l.lingering) - 1
	l.lingering[c.idx] = l.lingering[last]
	l.lingering[c.idx].c.idx = c.idx
	l.lingering[last] = lingerer{}
	l.lingering = l.lingering[:last]
}

// armLingerCheck queues the next check of the lingering connections, a
// quarter of the limit from now.
func (l *loop) armLingerCheck() error {
	_, err := l.queue(func() (uring.Job, error) {
		return l.ring.Timeout(max(l.lingerLimit/4, time.Millisecond), uring.Monotonic, opData{kind: opLingerCheck})
	})
	l.lingerTicking = err == nil
	return err
}

// onLingerCheck closes the lingering connections whose peer has taken
// nothing for the linger limit, and checks again later while any
// remain.
func (l *loop) onLingerCheck() error {
	l.lingerTicking = false
	if l.stopping {
		return nil
	}
	now := time.Now()
	for i := len(l.lingering) - 1; i >= 0; i-- {
		g := &l.lingering[i]
		if g.cut {
			continue
		}
		if left := l.unsent(g.c); left < g.left {
			g.left, g.since = left, now
			continue
		}
		if now.Sub(g.since) < l.lingerLimit {
			continue
		}
		if err := l.cutLinger(g); err != nil {
			return err
		}
	}
	if len(l.lingering) > 0 {
		return l.armLingerCheck()
	}
	return nil
}

// cutLinger closes lingering connection g.c, dropping what it has not
// sent: at once, or, with a send in flight, when the send's cancellation
// completes (onSendClosed).
func (l *loop) cutLinger(g *lingerer) error {
	l.lingerDropped.Add(1)
	c := g.c
	if c.sending {
		g.cut = true
		return l.cancel(c.o.sendJob)
	}
	l.lingerBytesDropped.Add(uint64(c.pending()))
	c.dropOut()
	l.unlinger(c)
	l.maybeFree(c)
	return nil
}

// unsent is what lingering connection c still has to get to its peer:
// its outbound queue, and the bytes the kernel holds in the socket's
// send queue that the peer has not taken (SIOCOUTQ: not yet
// acknowledged on tcp, not yet read on unix sockets), so that a peer
// reading slowly shows progress even while one send waits for room.
func (l *loop) unsent(c *conn) int {
	n := c.pending()
	if q, err := unix.IoctlGetInt(c.fd, unix.SIOCOUTQ); err == nil && q > 0 {
		n += q
	}
	return n
}

// lingerLimit resolves Config.LingerTimeout: zero is the default, a
// negative value no limit (0).
func lingerLimit(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultLingerTimeout
	case d < 0:
		return 0
	}
	return d
}

// maybeFree closes a closed connection's fd once no operation names it,
// so the number cannot be reused under an operation still in flight.
func (l *loop) maybeFree(c *conn) {
	if l.dead && c.state != connOpen && c.state != connFreed {
		// Its operations never complete now: end the connection for
		// the peer, and close the fd, which they do not need (they
		// hold the kernel's own reference to the socket).
		c.state = connFreed
		c.dropOut()
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
		unix.Close(c.fd)
		return
	}
	if c.state != connClosed || c.recv != ioIdle || c.poll != ioIdle || c.sending {
		return
	}
	c.state = connFreed
	c.dropOut()
	unix.Close(c.fd)
}
