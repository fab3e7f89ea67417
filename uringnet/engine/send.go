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
		l.countWrite(int(res))
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
	if c.state != connOpen {
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
