package engine

import "sync/atomic"

// LoopStats are one event loop's counters. All but Connections only
// grow: take the difference of two readings for a rate. Reading them
// costs an atomic load each; the loop updates them with an atomic add
// where the work happens, and never allocates to do it.
type LoopStats struct {
	// Connections is the number of connections the loop serves now:
	// open stream connections and registered udp conns, as
	// Engine.CountConnections counts them, and ones handed to the loop
	// whose OnOpen has not run yet.
	Connections int
	// Accepted counts the connections the loop's accepts brought, the
	// ones then handed to another loop included: with gnet.WithReusePort
	// (or a udp address beside the stream ones) each loop accepts on a
	// listener of its own; without, loop 0 accepts every connection and
	// the load balancer (gnet.WithLoadBalancing) spreads them.
	Accepted uint64
	// Opened counts the connections opened on the loop (OnOpen ran
	// there): accepted ones it was given and ones Register or Enroll put
	// on it. Closed counts those whose OnClose ran.
	Opened uint64
	// Closed counts the connections whose OnClose ran on the loop.
	Closed uint64
	// BytesRead counts the bytes received: every byte a stream
	// receive brought, and the payloads of the datagrams handed to
	// OnTraffic. Reads counts the receives that brought bytes: one per
	// buffer the kernel filled on a stream connection (a receive takes
	// what the socket holds, up to gnet's ReadBufferCap, so the kernel
	// may merge the peer's writes or split one), one per datagram.
	BytesRead uint64
	// Reads counts the receives that brought bytes (see BytesRead).
	Reads uint64
	// BytesWritten counts the bytes the kernel took for sending: by the
	// loop's sends, by the write(2) that gives a closing connection its
	// last bytes, and by udp AsyncWrite's sendto(2). Writes counts those
	// operations that took bytes, and one per datagram sent: a send of a
	// connection's outbound queue that the socket took in part counts
	// once, and the send of the rest again.
	BytesWritten uint64
	// Writes counts the sends that took bytes (see BytesWritten).
	Writes uint64
	// BufferExhausted counts the times a receive found no buffer: it
	// ended with ENOBUFS because the provided-buffer ring ran dry (the
	// data waits in the socket, and the receive is armed again after
	// the buffers in use come back), or, on kernels without buffer
	// rings, found the loop's buffer pool empty. A loop has 256 receive
	// buffers of WithReadBufferCap bytes for its stream connections (and
	// as many for udp): a count that keeps growing says more connections
	// had data at once than that, or that Config.SendFromReadBuffer
	// holds many of them; data waits, none is lost.
	BufferExhausted uint64
	// Pauses counts the times Config.Backpressure stopped reading from a
	// connection whose outbound queue passed gnet's WriteBufferCap.
	Pauses uint64
	// LingerDropped counts the closed connections the linger limit
	// (Config.LingerTimeout) cut off: their peer took nothing of what
	// was queued for them for that long. LingerBytesDropped counts the
	// queued bytes they never sent.
	LingerDropped uint64
	// LingerBytesDropped counts the queued bytes the connections the
	// linger limit cut off never sent (see LingerDropped).
	LingerBytesDropped uint64
}

// counters are what LoopStats reads: the loop goroutine updates them,
// but for the bytes udp AsyncWrite sends from its caller's goroutine;
// any goroutine may read them.
type counters struct {
	accepts, opened, closed atomic.Uint64
	bytesRead, reads        atomic.Uint64
	bytesWritten, writes    atomic.Uint64
	enobufs                 atomic.Uint64 // receives that found no buffer
	pauses                  atomic.Uint64 // times reading stopped for backpressure
	lingerDropped           atomic.Uint64 // lingering conns cut by the limit
	lingerBytesDropped      atomic.Uint64 // what they left unsent
}

// countRead counts a receive of n bytes.
func (k *counters) countRead(n int) {
	k.bytesRead.Add(uint64(n))
	k.reads.Add(1)
}

// countWrite counts a send or write(2) that took n bytes.
func (k *counters) countWrite(n int) {
	k.bytesWritten.Add(uint64(n))
	k.writes.Add(1)
}

// stats reads l's counters. Closed and Opened are read before
// Connections, which the loop updates before them (count before closed
// when a connection closes, count before opened when one is handed
// over): a reading that counts a close or an open also sees its change
// to Connections.
func (l *loop) stats() LoopStats {
	closed := l.closed.Load()
	opened := l.opened.Load()
	return LoopStats{
		Connections:     int(l.count.Load()),
		Accepted:        l.accepts.Load(),
		Opened:          opened,
		Closed:          closed,
		BytesRead:       l.bytesRead.Load(),
		Reads:           l.reads.Load(),
		BytesWritten:    l.bytesWritten.Load(),
		Writes:          l.writes.Load(),
		BufferExhausted: l.enobufs.Load(),
		Pauses:          l.pauses.Load(),

		LingerDropped:      l.lingerDropped.Load(),
		LingerBytesDropped: l.lingerBytesDropped.Load(),
	}
}

// Stats returns each event loop's counters, in the loops' order (the
// order of gnet's event loop indexes). After the engine has shut down it
// returns the final counts; an engine running on gnet
// (Config.FallbackToGnet) has no loops of its own, and Stats returns nil.
func (e *Engine) Stats() []LoopStats {
	if len(e.loops) == 0 {
		return nil
	}
	s := make([]LoopStats, len(e.loops))
	for i, l := range e.loops {
		s[i] = l.stats()
	}
	return s
}
