package engine

// Accepting stream connections and handing them to a loop.

import (
	"hash/crc32"
	"net"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/sock"
	"github.com/uring-go/uring/uring"
)

// armAccept queues a single-shot accept on ln that stores the peer's
// address in ln.peer, as gnet's accept4 does, so no getpeername follows.
// A multishot accept cannot do this: the kernel would write every
// connection's address to the one buffer it was given, with nothing to
// tie an address to its completion, so each connection would cost a
// getpeername (and a peer already gone would have no address). The
// single accept is armed again after each completion has been handled
// (ln.peer read); with connections waiting in the backlog, it completes
// as it is submitted.
func (l *loop) armAccept(ln *listener) error {
	_, err := l.queue(func() (uring.Job, error) {
		return l.ring.Accept(ln.fd, &ln.peer, unix.SOCK_NONBLOCK, opData{kind: opAccept, ref: ln})
	})
	if err == nil {
		ln.acceptArmed = true
		l.acceptArms++
	}
	return err
}

func (l *loop) onAccept(ln *listener, res int32, more bool) error {
	if !more {
		ln.acceptArmed = false
	}
	if res >= 0 {
		l.accepts.Add(1)
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
					return l.ring.Timeout(100*time.Millisecond, uring.Monotonic, opData{kind: opAcceptRetry, ref: ln})
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
	if sa, err := ln.peer.Sockaddr(); err == nil {
		remote = sock.Addr(unix.SOCK_STREAM, sa)
	}
	if remote == nil {
		// Not expected: the kernel fills the address of every
		// connection it accepts (or fails the accept).
		if ln.network == "unix" {
			remote = &net.UnixAddr{Name: "@", Net: "unix"}
		} else {
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
	c.state = connOpen
	l.opened.Add(1)
	out, action := l.handler.OnOpen(c)
	if len(out) > 0 && c.state == connOpen {
		c.queueOut(out)
	}
	if err := l.handleAction(c, action); err != nil {
		return
	}
	if c.state == connOpen && c.recv == ioIdle && !c.paused() {
		l.needRearm(c)
	}
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
