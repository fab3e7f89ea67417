package uringfs

import "sync/atomic"

// fdMu reference-counts a file's descriptor, like internal/poll's fdMutex:
// every operation holds a reference while the kernel may use the fd
// number, Close marks the fd closed so that no new reference is taken,
// and close(2) runs only once the last reference is dropped. The number is
// therefore never reused by another open while an operation still names
// it.
type fdMu struct {
	// state holds the closed bit and, below it, the reference count.
	state atomic.Uint64
	// idle receives once when the count drops to zero after Close.
	idle chan struct{}
}

const (
	mutexClosed   = 1 << 63
	mutexRefMask  = mutexClosed - 1
	mutexRefLimit = mutexRefMask >> 1
)

func newFdMu() fdMu { return fdMu{idle: make(chan struct{}, 1)} }

// incref takes a reference; it fails once the fd is closed.
func (m *fdMu) incref() bool {
	for {
		s := m.state.Load()
		if s&mutexClosed != 0 {
			return false
		}
		if s&mutexRefMask >= mutexRefLimit {
			// Billions of concurrent operations: refuse rather than
			// overflow into the closed bit.
			return false
		}
		if m.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// decref drops a reference and signals a waiting Close when it was the
// last one.
func (m *fdMu) decref() {
	if m.state.Add(^uint64(0)) == mutexClosed {
		m.idle <- struct{}{}
	}
}

// markClosed sets the closed bit. It reports false if it was already set,
// and otherwise whether references are still held (Close must wait on
// idle).
func (m *fdMu) markClosed() (first, busy bool) {
	for {
		s := m.state.Load()
		if s&mutexClosed != 0 {
			return false, false
		}
		if m.state.CompareAndSwap(s, s|mutexClosed) {
			return true, s&mutexRefMask != 0
		}
	}
}

func (m *fdMu) closed() bool { return m.state.Load()&mutexClosed != 0 }
