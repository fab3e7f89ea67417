package engine

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/region"
	"github.com/uring-go/uring/uring"
)

// How a loop receives, by the features it has (see features.go):
//
//   - featBufRing and featMultishotRecv: one multishot receive per
//     connection, each chunk in a buffer the kernel takes from the ring
//     when the data arrives (opRecv).
//   - featBufRing alone: a single receive with a buffer selected from the
//     ring, armed again after each completion (opRecv). The kernel still
//     picks the buffer only once data is there.
//   - neither: a POLLIN wait (multishot with featMultishotPoll, else
//     armed again each time the socket has been read dry) and, once it
//     fires, a receive with MSG_DONTWAIT into a buffer of the loop's own
//     pool (opPoll, opRecvPlain). The loop, not the kernel, picks the
//     buffer, so it picks one only when the poll has said data is there.
//
// In every case an idle connection holds no receive buffer.

// bufPool is the plain-buffer path's receive buffers: equal-sized
// buffers in one anonymous mapping outside the Go heap, so that the
// kernel may fill one for as long as a receive is in flight, handed out
// by the loop and numbered like a buffer ring's so that the rest of the
// loop (delivery, sends from the buffer, recycling) treats both alike.
type bufPool struct {
	mem  []byte
	size int
	free []uint16 // IDs of the buffers not in use, as a stack
}

func newBufPool(entries, size int) (*bufPool, error) {
	mem, err := region.Mmap(entries * size)
	if err != nil {
		return nil, fmt.Errorf("mapping %d receive buffers of %d bytes: %w", entries, size, err)
	}
	p := &bufPool{mem: mem, size: size, free: make([]uint16, entries)}
	for i := range p.free {
		p.free[i] = uint16(entries - 1 - i)
	}
	return p, nil
}

func (p *bufPool) get() (uint16, bool) {
	n := len(p.free)
	if n == 0 {
		return 0, false
	}
	bid := p.free[n-1]
	p.free = p.free[:n-1]
	return bid, true
}

func (p *bufPool) put(bid uint16) { p.free = append(p.free, bid) }

// buf returns the first n bytes of buffer bid.
func (p *bufPool) buf(bid uint16, n int) []byte {
	off := int(bid) * p.size
	return p.mem[off : off+n : off+n]
}

// close unmaps the buffers; no operation may still name one.
func (p *bufPool) close() {
	region.Munmap(p.mem)
	p.mem, p.free = nil, nil
}

// initBuffers creates the stream receives' buffer ring, or the pool
// where the kernel has none, unless the engine serves only udp addresses:
// a loop of such an engine creates them when a stream connection is
// registered on it (streamBuffers). UDP receives have buffers of their
// own (see udpBuffers).
func (l *loop) initBuffers() error {
	if !l.eng.hasStream {
		return nil
	}
	return l.streamBuffers()
}

// streamBuffers creates the stream receives' buffers if the loop has
// none yet.
func (l *loop) streamBuffers() error {
	if l.br != nil || l.pool != nil {
		return nil
	}
	n := l.eng.cfg.bufRingEntries
	var err error
	if l.feat.has(featBufRing) {
		l.br, err = l.ring.NewBufRing(0, n, l.bufSize, uring.WithInitialBuffers(l.eng.cfg.bufRingInitial))
	} else {
		l.pool, err = newBufPool(n, l.bufSize)
	}
	return err
}

// rbuf returns the n bytes a receive put in buffer bid.
func (l *loop) rbuf(bid uint16, n int) []byte {
	if l.br != nil {
		return l.br.Buf(bid, n)
	}
	return l.pool.buf(bid, n)
}

// recycle makes buffer bid available to receives again (for the buffer
// ring, at the next flush's Publish).
func (l *loop) recycle(bid uint16) {
	if l.br != nil {
		l.br.Add(bid)
	} else {
		l.pool.put(bid)
	}
}

// armRecv arms what receives c's next bytes, by the loop's features.
func (l *loop) armRecv(c *conn) error {
	if l.pool != nil {
		return l.armPlain(c)
	}
	if c.recv != ioIdle {
		return nil
	}
	j, err := l.queue(func() (uring.Job, error) {
		d := opData{kind: opRecv, ref: c}
		// With Backpressure a single receive, so that once reading is
		// paused at most one more buffer arrives: a multishot one may
		// fill many before its cancel lands.
		if l.feat.has(featMultishotRecv) && !l.eng.cfg.Backpressure {
			return l.ring.RecvMultishot(c.fd, l.br, 0, d)
		}
		return l.ring.RecvBufSelect(c.fd, l.br, 0, d)
	})
	if err != nil {
		return err
	}
	c.recv, c.recvJob = ioArmed, j
	l.recvArms++
	return nil
}

// armPlain is armRecv for plain buffers: a receive if the socket may
// have data, else a POLLIN wait if none is armed.
func (l *loop) armPlain(c *conn) error {
	if c.recv != ioIdle {
		// Its completion arms what comes next.
		return nil
	}
	if !c.readable {
		if c.poll != ioIdle {
			return nil
		}
		j, err := l.queue(func() (uring.Job, error) {
			d := opData{kind: opPoll, ref: c}
			if l.feat.has(featMultishotPoll) {
				return l.ring.PollMultishot(c.fd, uring.PollIn|uring.PollRdHup, d)
			}
			return l.ring.PollAdd(c.fd, uring.PollIn|uring.PollRdHup, d)
		})
		if err != nil {
			return err
		}
		c.poll, c.pollJob = ioArmed, j
		l.pollArms++
		return nil
	}
	bid, ok := l.pool.get()
	if !ok {
		// Every buffer is in a receive in flight, being delivered, or
		// held by a send (at most half of them): completions will bring
		// some back, and the next flush tries again.
		l.enobufs.Add(1)
		c.rearmQueued = true
		l.starved = append(l.starved, c)
		return nil
	}
	// MSG_DONTWAIT: the receive completes at once, with the data or
	// EAGAIN, instead of holding the buffer while it waits for more.
	j, err := l.queue(func() (uring.Job, error) {
		return l.ring.Recv(c.fd, l.pool.buf(bid, l.bufSize), unix.MSG_DONTWAIT, opData{kind: opRecvPlain, ref: c})
	})
	if err != nil {
		l.pool.put(bid)
		return err
	}
	c.readable = false
	c.recv, c.recvJob, c.recvBid = ioArmed, j, bid
	l.recvArms++
	return nil
}

// retryStarved queues the connections that found the pool empty for the
// next flush, which runs after the next completions have returned
// buffers.
func (l *loop) retryStarved() {
	if len(l.starved) == 0 {
		return
	}
	l.rearm = append(l.rearm, l.starved...)
	clear(l.starved)
	l.starved = l.starved[:0]
}

// cancelRecv cancels c's receive and POLLIN wait, if armed.
func (l *loop) cancelRecv(c *conn) error {
	if c.recv == ioArmed {
		c.recv = ioCancelling
		if err := l.cancel(c.recvJob); err != nil {
			return err
		}
	}
	if c.poll == ioArmed {
		c.poll = ioCancelling
		if err := l.cancel(c.pollJob); err != nil {
			return err
		}
	}
	return nil
}

// onPoll handles a POLLIN wait's completion: the socket has data, an end
// of stream or an error, which the receive it leads to reports.
func (l *loop) onPoll(c *conn, cqe uring.Completion[opData]) error {
	if !cqe.More() {
		c.poll = ioIdle
	}
	if c.state != connOpen {
		l.maybeFree(c)
		return nil
	}
	if res := cqe.Result; res >= 0 {
		c.readable = true
		if uring.PollMask(res)&(uring.PollRdHup|uring.PollHup|uring.PollErr) != 0 {
			// The end of the stream or an error waits behind any
			// data, and a multishot poll reports no more events for
			// it: a short read no longer means the socket is dry.
			c.hup = true
		}
	} else if e := syscall.Errno(-res); e != syscall.ECANCELED {
		_, err := l.closeConn(c, os.NewSyscallError("poll", e))
		return err
	}
	// After ECANCELED (backpressure, or Linux cancelling unasked) the
	// wait is armed again unless c is paused.
	if c.read == readOn {
		l.needRearm(c)
	}
	return nil
}

// onRecvPlain handles a plain-buffer receive's completion.
func (l *loop) onRecvPlain(c *conn, cqe uring.Completion[opData]) error {
	c.recv = ioIdle
	res := cqe.Result
	if err := l.received(c, c.recvBid, res); err != nil {
		return err
	}
	if c.state != connOpen {
		l.maybeFree(c)
		return nil
	}
	switch {
	case res > 0:
		// A full buffer, or the kernel saying so, means more may be
		// waiting; a short read drained the socket, and the poll says
		// when more arrives, unless it has already reported the end.
		if int(res) == l.bufSize || c.hup || cqe.Flags&uring.CQESockNonempty != 0 {
			c.readable = true
		}
	case res == 0:
		return l.peerEnded(c)
	default:
		switch e := syscall.Errno(-res); e {
		case syscall.EAGAIN:
			// The poll fired for data an earlier receive took.
		case syscall.ECANCELED, syscall.EINTR:
			c.readable = true
		default:
			_, err := l.closeConn(c, os.NewSyscallError("read", e))
			return err
		}
	}
	if c.read == readOn {
		l.needRearm(c)
	}
	return nil
}
