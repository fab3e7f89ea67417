package engine

// Sending stream connections' outbound queues, and sends straight from
// a provided buffer (Config.SendFromReadBuffer).

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/uring"
)

func (l *loop) markDirty(c *conn) {
	if !c.dirty {
		c.dirty = true
		l.dirty = append(l.dirty, c)
	}
	l.checkPause(c)
}

// startSend sends c's queue; c has bytes queued and no send in flight.
func (l *loop) startSend(c *conn) error {
	o := c.o
	if o.zc != nil {
		j, err := l.queue(func() (uring.Job, error) {
			return l.ring.Send(c.fd, o.zc, unix.MSG_NOSIGNAL, opData{kind: opSend, ref: c})
		})
		if err != nil {
			return err
		}
		c.sending, o.sendJob = true, j
		return nil
	}
	if o.head > 0 && o.head >= len(o.out)/2 {
		// No send is in flight, so the sent prefix can be reclaimed.
		n := copy(o.out, o.out[o.head:])
		o.out = o.out[:n]
		o.head = 0
	}
	j, err := l.queue(func() (uring.Job, error) {
		return l.ring.Send(c.fd, o.out[o.head:], unix.MSG_NOSIGNAL, opData{kind: opSend, ref: c})
	})
	if err != nil {
		return err
	}
	c.sending, o.sendJob = true, j
	return nil
}

func (l *loop) onSend(c *conn, res int32) error {
	c.sending = false
	o := c.o
	if res > 0 {
		l.countWrite(int(res))
		if o.zc != nil {
			// The send in flight was of zc: see outbound.
			o.zc = o.zc[res:]
		} else {
			o.head += int(res)
		}
	}
	if o.zc != nil && len(o.zc) == 0 {
		l.unpin(c)
	}
	if c.state != connOpen {
		return l.onSendClosed(c, res)
	}
	if res < 0 {
		c.dropOut()
		_, err := l.closeConn(c, os.NewSyscallError("write", syscall.Errno(-res)))
		return err
	}
	if o.zc != nil {
		return l.startSend(c)
	}
	if o.head >= len(o.out) {
		l.idleOut(c, true)
	} else if err := l.startSend(c); err != nil {
		return err
	}
	if c.paused() && c.pending() <= l.wcap/2 {
		return l.resume(c)
	}
	return nil
}

// onSendClosed goes on sending what a closed connection has queued, or
// ends it: when the queue is empty, a send fails, the linger limit has
// cut it (cutLinger), or the loop is stopping, in which case what the
// socket takes now is written and the rest dropped, as gnet's close
// does.
func (l *loop) onSendClosed(c *conn, res int32) error {
	cut := c.state == connLingering && l.lingering[c.idx].cut
	if c.state == connLingering && !cut && !l.stopping && res >= 0 && c.pending() > 0 {
		return l.startSend(c)
	}
	if l.stopping && !cut && (res >= 0 || syscall.Errno(-res) == syscall.ECANCELED) {
		c.writeDirect()
	}
	if cut {
		l.lingerBytesDropped.Add(uint64(c.pending()))
	}
	c.dropOut()
	l.unlinger(c)
	l.maybeFree(c)
	return nil
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

// unpin drops c.o.zc and hands its buffer back to the kernel, or to onRecv
// to recycle if it is the one being delivered.
func (l *loop) unpin(c *conn) {
	l.pinned--
	o := c.o
	if c == l.curConn && o.zcBid == l.curBid && l.curPinned {
		l.curPinned = false
	} else {
		l.recycle(o.zcBid)
	}
	o.zc = nil
}

// takeOut returns a spare send side, or a new one.
func (l *loop) takeOut() *outbound {
	n := len(l.spareOut)
	if n == 0 {
		return new(outbound)
	}
	o := l.spareOut[n-1]
	l.spareOut[n-1] = nil
	l.spareOut = l.spareOut[:n-1]
	l.spareOutBytes -= cap(o.out)
	return o
}

// idleOut gives c's send side, its queue sent or dropped and nothing
// pinned, back to the loop's spares, so that an idle connection holds
// none. With keep, a buffer bigger than the spares take (maxSpareBuf)
// but within four times the write buffer cap stays with c, as it would
// without spares, so that a connection that writes large replies does
// not allocate its buffer again for each.
func (l *loop) idleOut(c *conn, keep bool) {
	o := c.o
	if o == nil || c.sending {
		return
	}
	o.zc, o.head = nil, 0
	o.out = o.out[:0]
	n := cap(o.out)
	if keep && n > maxSpareBuf && n <= 4*l.wcap {
		return
	}
	c.o = nil
	if len(l.spareOut) >= maxSpareOut {
		return
	}
	if n > maxSpareBuf || l.spareOutBytes+n > maxSpareBytes {
		o.out, n = nil, 0
	}
	l.spareOutBytes += n
	l.spareOut = append(l.spareOut, o)
}

// Bounds on the spare send sides a loop keeps: how many, the largest
// buffer one keeps, and the bytes their buffers hold in all.
const (
	maxSpareOut   = 4096
	maxSpareBuf   = 16 << 10
	maxSpareBytes = 4 << 20
)
