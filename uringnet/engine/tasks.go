package engine

// The loop's task queue: how other goroutines hand a loop work (Conn
// methods, Execute, connections accepted by another loop) and wake it
// through its eventfd.

import (
	"unsafe"

	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/uring"
)

var wakeWord = [8]byte{1} // eventfd counters are host-endian; 1 is 1 on little-endian

func init() {
	// Put 1 in the eventfd's native byte order.
	v := uint64(1)
	wakeWord = *(*[8]byte)(unsafe.Pointer(&v))
}

func (l *loop) armWake() error {
	_, err := l.queue(func() (uring.Job, error) { return l.ring.Read(l.efd, l.efdBuf, 0, opData{kind: opWake}) })
	if err == nil {
		l.wakeArmed = true
	}
	return err
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
