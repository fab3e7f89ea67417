package engine

// Closing stream connections: OnClose, the outbound queue's last
// bytes, and the fd once no operation names it.

import (
	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"golang.org/x/sys/unix"
)

// closeConn closes c as gnet's eventloop.close does: OnClose with err,
// then the outbound queue goes out, then close(2). Unlike gnet, which
// writes what the socket takes at once and drops the rest, the
// connection lingers, out of conns and counts, until every queued byte
// has been sent or a send fails; only when the loop is stopping is the
// rest dropped, as gnet does. It reports whether c was open, and
// ErrEngineShutdown if OnClose asked for Shutdown.
func (l *loop) closeConn(c *conn, err error) (bool, error) {
	if c.state != connOpen {
		return false, nil
	}
	c.state = connClosed
	l.closed.Add(1)
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
	c.state = connLingering
	c.idx = int32(len(l.lingering))
	l.lingering = append(l.lingering, c)
}

func (l *loop) unlinger(c *conn) {
	if c.state != connLingering {
		return
	}
	c.state = connClosed
	last := len(l.lingering) - 1
	l.lingering[c.idx] = l.lingering[last]
	l.lingering[c.idx].idx = c.idx
	l.lingering[last] = nil
	l.lingering = l.lingering[:last]
}

// maybeFree closes a closed connection's fd once no operation names it,
// so the number cannot be reused under an operation still in flight.
func (l *loop) maybeFree(c *conn) {
	if c.state != connClosed || c.recv != ioIdle || c.poll != ioIdle || c.sending {
		return
	}
	c.state = connFreed
	c.out, c.head = nil, 0
	unix.Close(c.fd)
}
