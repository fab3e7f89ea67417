// Package engine runs unmodified gnet v2 event handlers on io_uring event
// loops: a program that calls gnet.Run(h, "tcp://127.0.0.1:9000", opts...)
// calls engine.Run with the same handler, address and options instead.
//
// # Moving from gnet
//
// Two changes, and the rest of a gnet v2 program stays as it is: the
// handler type (gnet.EventHandler, gnet.BuiltinEventEngine), the Conn
// methods, the options (gnet.WithMulticore, WithTicker, WithLogger, ...),
// the actions and gnet's errors.
//
//  1. gnet.Run becomes engine.Run (gnet.Rotate becomes engine.Rotate,
//     gnet.Stop becomes engine.Stop), with the same arguments.
//
//  2. A handler that keeps the gnet.Engine OnBoot receives keeps
//     engine.Of(handler) instead, a *Engine with the same methods (Stop,
//     CountConnections, Dup, DupListener, Register, Validate).
//
// The second, in a handler s whose field eng was a gnet.Engine and is now
// a *engine.Engine:
//
//	func (s *server) OnBoot(gnet.Engine) gnet.Action {
//		s.eng = engine.Of(s) // was: s.eng = eng
//		return gnet.None
//	}
//
// gnet.Engine is a struct whose unexported fields only package gnet can
// fill, so the one OnBoot and OnShutdown receive here is gnet's zero
// Engine, whose methods report gnet's ErrEmptyEngine: that is the one
// difference a program must change for. Start (and Config.StartRotate)
// return the *Engine too, for a program that starts the engine itself.
//
// Every option gnet accepts is accepted. WithEdgeTriggeredIO and
// WithEdgeTriggeredIOChunk choose how gnet drains epoll readiness; a
// completion ring has none to drain, so they are hints without effect.
// OnTick runs on a goroutine of its own, as in gnet, first at once, then
// after each delay it returns; a Shutdown action from it shuts the engine
// down. Register and Enroll (on the Engine or a Conn's EventLoop) dial or
// adopt tcp and unix connections and serve them as accepted ones, and
// connected udp sockets as gnet's registered UDP conns (an OnTraffic per
// datagram from the peer on one Conn, whose Write sends to it, and
// OnClose when it is closed or the engine stops), on an engine of any
// address: OnOpen runs, with the Conn's Context set from gnet.NewContext,
// before the gnet.RegisteredResult arrives. Rotate serves any mix of tcp,
// udp and unix addresses on the same loops. The remaining differences, all in
// behaviour a gnet program rarely relies on, are listed under Differences
// from gnet.
//
// # Engine options
//
// Config holds the options gnet has no counterpart for; the zero Config
// is what Run uses. Config.FallbackToGnet runs the same handler on gnet
// itself, with the same options, when io_uring cannot be used in the
// process (see When io_uring is missing).
//
// # Logging
//
// gnet's logging options work as in gnet: WithLogger, or else WithLogPath
// (a file written at WithLogLevel), or else gnet's default logger
// (github.com/panjf2000/gnet/v2/pkg/logging, whose GNET_LOGGING_LEVEL and
// GNET_LOGGING_FILE settings carry over). The engine logs what gnet logs,
// at the same levels: the launch and the addresses (info), each loop's
// exit and the shutdown (debug), an error that stops a loop or the start
// (error). Unlike gnet.Run, Run does not replace gnet's package-level
// default logger. As with gnet, a WithLogPath file stays open for the
// life of the process.
//
// # When io_uring is missing
//
// io_uring cannot be used where the kernel lacks it (before Linux 5.1:
// ENOSYS), where the kernel.io_uring_disabled sysctl or a container's
// seccomp profile forbids it (EPERM, EACCES), or where RLIMIT_MEMLOCK is
// too low for a ring (ENOMEM, kernels before 5.12). Run and Start then
// return an error wrapping the *uring.SetupError (errors.As), whose text
// names the cause and the fix and mentions Config.FallbackToGnet; with
// it, they run the handler on gnet.Run instead, and Engine.OnGnet reports
// so. The fallback is never taken while io_uring works, and no other
// failure is hidden by it. The engine itself needs Linux 5.19 (see
// Kernel features for what it does without newer facilities).
//
// # Event loops
//
// Each event loop is one goroutine that owns one io_uring instance
// (SINGLE_ISSUER|DEFER_TASKRUN where the kernel has them, so the loop
// goroutine is locked to its OS thread for its whole life). A loop keeps a
// single accept armed on its listener, again after each connection (it
// names the peer, so no getpeername follows), a multishot receive on every
// connection that takes its buffer from a provided-buffer ring only when
// data arrives (an idle connection holds no read buffer; see Kernel
// features for older kernels), and at most one
// send per connection in flight; what the handler writes meanwhile is
// queued in the connection's outbound buffer (a copy, as gnet's: the
// caller may reuse its slice at once) and goes out in the next send (an
// idle connection holds no outbound buffer either, unless it last
// queued more than 16 KiB at once: the loop lends one, from the ones it
// keeps spare, to a connection while it has bytes to send);
// with Config.SendFromReadBuffer, a send takes the bytes straight from
// the receive's provided buffer when the handler wrote back a slice of
// it. Each iteration makes one
// io_uring_enter call that submits everything queued and waits for at
// least one completion; an idle loop sleeps in that call. There is no goroutine per connection.
//
// Other goroutines reach a loop (Conn.AsyncWrite, Wake, Close,
// CloseWithCallback, Engine.Stop) through a mutex-protected task queue and
// an eventfd whose read is kept armed in the loop's ring.
//
// # Counters
//
// Engine.Stats returns each loop's counters (LoopStats): connections
// open now, accepted and opened in total, bytes and operations read and
// written, receives that found the buffer ring empty (ENOBUFS), and
// backpressure pauses. The loop counts with an atomic add where the work
// happens, without allocating; Stats may be read from any goroutine, at
// any rate, and after the shutdown gives the final counts. Publish them
// with expvar as the package example does. Per loop, they show how the
// load balancer spread connections (Opened, Connections) and whether
// WithReadBufferCap suits the traffic (BytesRead/Reads, the mean bytes
// per receive, and BufferExhausted).
//
// # UDP
//
// On a udp, udp4 or udp6 address every loop owns one socket bound to it
// with SO_REUSEPORT, as gnet forces the option on for UDP, and the kernel
// spreads senders over the loops. As in gnet there are no connections:
// each datagram is one OnTraffic whose Conn stands for the sender
// (RemoteAddr is a *net.UDPAddr; Write and SendTo send one datagram each,
// to the sender and to an address); OnOpen and OnClose never run, a Close
// action is ignored, Wake and Close run no callback of the handler, and
// bytes left unread are dropped with their datagram. A loop receives with
// a multishot recvmsg that takes one provided buffer per datagram, the
// sender's address at its head (Linux 6.0; before that, a single recvmsg
// queued again after each datagram), and replies with sendmsg on its
// ring. The Conn of a sender is kept for its next datagrams and the send
// records are reused, so a steady exchange allocates nothing per
// datagram. A datagram longer than WithReadBufferCap is cut to it, as
// gnet's read into a buffer of that size cuts it.
//
// A connected udp socket given to Register or Enroll is, as in gnet, a
// Conn of its own: OnOpen runs for it (its reply goes to the peer), each
// datagram from the peer is an OnTraffic on that Conn, whose Context
// persists, a Close action from OnTraffic is ignored as for the others,
// and Conn.Close or the engine's stop runs OnClose and closes the
// socket. A loop receives on it as on its own sockets.
//
// # Kernel features
//
// Start asks the kernel once (by the io_uring probe, the kernel
// version, and a buffer-ring registration, the one conclusive test for
// it) which newer io_uring facilities it has, and every loop of the
// engine uses an older way where one is missing:
//
//	feature                        Linux  without it
//	provided-buffer ring           5.19   a POLLIN wait, then a MSG_DONTWAIT receive into a
//	                                      buffer from a pool the loop owns (same size and count)
//	multishot receive              6.0    a single receive selecting from the buffer ring,
//	                                      armed again after each completion
//	SINGLE_ISSUER|DEFER_TASKRUN    6.1    a ring without them: completions' task work runs
//	                                      as it arrives rather than when the loop waits
//	multishot poll                 5.13   (plain buffers only) a single poll, armed again
//	                                      each time the socket has been read dry
//
// So on Linux 5.19 the engine runs with single receives and a plain
// ring, and on 6.0 with a plain ring. In every mode an idle connection
// holds no read buffer: with the ring the kernel takes one only when
// data has arrived, and without it the loop takes one from its pool only
// after the poll has said so. The fallbacks cost an operation armed per
// accepted connection (single accept) or per read (single receive: one
// more submission per read; plain buffers: a poll completion and a
// receive, a loop iteration apart, and a poll armed per read without
// multishot poll). In BenchmarkEcho (ping-pong over 100 and 1000
// connections with 64 B and 4 KiB messages, medians of five interleaved
// runs on a busy 2-core machine) the server's CPU time per round trip
// in each fallback mode, and with all of them at once, was 0.87-1.17x
// that with every feature, except the plain ring alone with 1000
// connections: 1.11-1.34x (presumably because its task work then runs as
// each receive completes rather than when the loop waits). Writes sent
// from the receive buffer (Config.SendFromReadBuffer) work in every
// mode.
//
// WithWriteBufferCap is, as in gnet, no limit: a connection's outbound
// queue grows as far as the handler writes, and the loop keeps reading,
// so a client may write a whole large request before it reads the
// reply. Config.Backpressure makes it a limit: while more than the cap
// is queued for a connection, its receive is cancelled (and armed as a
// single receive rather than a multishot one, so at most one more
// buffer's worth arrives, held inbound, undelivered), until the queue
// has drained to half the cap. A peer that sends and never reads then
// costs the server about twice the cap plus one read buffer of memory,
// plus what the handler writes in one callback.
//
// # Differences from gnet
//
//   - OnBoot and OnShutdown receive gnet's zero Engine: gnet.Engine is a
//     struct with unexported fields that only package gnet can fill, so
//     its methods report gnet's "empty engine" error. Of(handler) returns
//     this package's *Engine, with the same methods (Stop,
//     CountConnections, Dup, DupListener, Register, Validate), from
//     OnBoot on: keep engine.Of(h) where the handler kept OnBoot's
//     argument (see Of).
//   - Conn.Write, Writev and ReadFrom inside a callback append to the
//     outbound buffer; the bytes go out in one send after the callback
//     returns, so OutboundBuffered counts them until the send completes.
//   - Write, Writev, AsyncWrite and AsyncWritev copy the caller's bytes
//     before they return, so the caller may reuse or change its slices
//     at once; gnet's AsyncWrite and AsyncWritev keep them until the
//     loop writes them. With Config.SendFromReadBuffer, a Write of
//     1 KiB or more from Next or Peek, with nothing else queued, is
//     sent straight from the provided buffer the kernel received it
//     into, instead of being copied: a handler that sets it must not
//     modify bytes it has written, even within the callback.
//   - A connection that closes, by the peer's end of its stream, a
//     Close action, Conn.Close or CloseWithCallback, sends everything
//     queued for it before close(2), after OnClose (with gnet's error,
//     read: EOF, for the peer's end). gnet's close writes until the
//     socket would block and drops the rest, so it loses bytes only
//     when the peer's receive buffer is full; here only Engine.Stop,
//     a Shutdown and Config.LingerTimeout do that. A closed connection
//     waiting for a peer that does not read keeps its descriptor and
//     its queue until the peer has taken nothing for LingerTimeout
//     (30 s unless set; a negative value waits until the engine
//     stops), and is then closed with the rest dropped, counted in
//     LoopStats.LingerDropped.
//   - Loops are always locked to their OS threads (SINGLE_ISSUER requires
//     one submitting thread), whatever WithLockOSThread says.
//   - Conn.LocalAddr is the listener's bound address, with the real port
//     when the address asked for port 0.
//   - WithEdgeTriggeredIO and WithEdgeTriggeredIOChunk choose how gnet
//     drains epoll readiness; a completion ring has no such mode, so they
//     are accepted and have no effect (gnet ignores them on udp too).
//     WithMulticastInterfaceIndex, as in gnet, matters only on a udp
//     address that is a multicast group and is ignored elsewhere.
//   - On UDP, Write and SendTo inside a callback queue the datagram, which
//     goes out when the callback returns; gnet sends it at once, so a
//     send error other than EMSGSIZE (checked at once) is logged rather
//     than returned. Like every Writer method they are for callbacks, as
//     gnet's interface says; gnet's UDP Write, a bare sendto(2), happens
//     to work from other goroutines too, this one does not: use
//     AsyncWrite there, which sends at once with sendto(2) from the
//     calling goroutine, as gnet's does. ReadFrom returns
//     ErrUnsupportedOp: gnet accepts the bytes into a buffer a UDP conn
//     never sends. The Conn a handler keeps stays bound to its sender,
//     but RemoteAddr and LocalAddr stay valid after the callback (gnet's
//     turn nil), and a sender's Conn is reused for its later datagrams,
//     with its Context reset to nil for each, as gnet's is new.
//   - With several loops on a UDP address with port 0, every loop's
//     socket is bound to the port the first got; gnet binds each to a
//     port of its own.
//   - Rotate over unix and udp addresses together: gnet, which then
//     forces SO_REUSEPORT, binds each loop's unix socket again at the
//     same path, so only the last loop accepts; here loop 0 accepts on
//     the stream addresses and the load balancer hands connections out.
package engine
