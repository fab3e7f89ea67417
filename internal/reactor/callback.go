package reactor

import (
	"runtime"
	"strconv"
	"sync"
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
	inCallback     sync.Map     // goroutine id -> struct{}, while checkCallbacks
	callbacksNow   atomic.Int32 // entries in inCallback
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
	inCallback.Store(g, struct{}{})
	callbacksNow.Add(1)
	defer func() {
		callbacksNow.Add(-1)
		inCallback.Delete(g)
	}()
	o.each(res)
}

// entered is called on each way into the executor that takes a shard's
// lock (Start and its kin, Wait, Cancel, Stats).
func entered() {
	if checkCallbacks.Load() && callbacksNow.Load() > 0 {
		if _, ok := inCallback.Load(goid()); ok {
			panic("reactor: a multishot callback entered the executor, which holds the shard's lock while it runs")
		}
	}
}

// goid is the calling goroutine's id, read from its stack trace header
// ("goroutine 18 [running]:"): slow, for the check only.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = b[len("goroutine "):]
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	id, _ := strconv.ParseUint(string(b[:n]), 10, 64)
	return id
}
