package reactor

import (
	"runtime"
	"sync/atomic"
)

// A multishot operation's callback (StartMultishot) runs while the
// goroutine that collected the completion holds the shard's lock: see
// Locks in the package documentation. A callback that entered the
// executor would deadlock on that lock, or on another shard's against a
// callback there, so the rule is checked in tests: CheckCallbacks makes
// every entry into the executor panic if the calling goroutine is inside
// a callback. It costs one atomic load per entry when off, and allocates
// only while a callback runs when on.

var (
	checkCallbacks atomic.Bool
	// inCallback holds the ids of the goroutines running a callback
	// (0: a free slot), while checkCallbacks: fixed slots rather than
	// a map, so that the check allocates nothing and allocation tests
	// run with it on.
	inCallback   [64]atomic.Uint64
	callbacksNow atomic.Int32 // goroutines in a callback
)

// CheckCallbacks turns the check of the callback rule on, for tests: a
// TestMain of a package with multishot callbacks calls it.
func CheckCallbacks() { checkCallbacks.Store(true) }

// callback runs a multishot operation's callback with res.
func (o *Operation) callback(res Result) {
	if !checkCallbacks.Load() {
		o.each(res)
		return
	}
	g := goid()
	slot := -1
	for i := range inCallback {
		if inCallback[i].CompareAndSwap(0, g) {
			slot = i
			break
		}
	}
	callbacksNow.Add(1)
	defer func() {
		callbacksNow.Add(-1)
		if slot >= 0 {
			inCallback[slot].Store(0)
		}
	}()
	o.each(res)
}

// entered is called on each way into the executor that takes a shard's
// lock (Start and its kin, Wait, Cancel, Stats).
func entered() {
	if checkCallbacks.Load() && callbacksNow.Load() > 0 {
		g := goid()
		for i := range inCallback {
			if inCallback[i].Load() == g {
				panic("reactor: a multishot callback entered the executor, which holds the shard's lock while it runs")
			}
		}
	}
}

// goid is the calling goroutine's id, read from its stack trace header
// ("goroutine 18 [running]:"): slow, for the check only.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	var id uint64
	for _, c := range b[len("goroutine "):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
