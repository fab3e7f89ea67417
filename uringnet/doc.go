// Package uringnet provides net.Listener and net.Conn implementations whose
// I/O runs on io_uring, shaped like package net so that existing code
// (net/http, crypto/tls, anything that takes a net.Listener or net.Conn)
// works unchanged:
//
//	ln, err := uringnet.Listen("tcp", "127.0.0.1:8080")
//	if err != nil { ... }
//	http.Serve(ln, handler)
//
// Beside the stream API (Listen, Dial, ListenConfig, Dialer, for tcp,
// tcp4, tcp6 and unix) it has datagram sockets (ListenPacket and
// DialPacket give a PacketConn for udp, udp4, udp6 and unixgram), file
// descriptor passing over Unix sockets (ReadMsgUnix, WriteMsgUnix).
//
// # Moving code from package net
//
// The functions and methods of net that do I/O have counterparts here
// with the same names, arguments and errors, so that a program moves by
// changing the package name: Listen, Dial, DialContext, DialTimeout,
// ListenPacket, ListenConfig, Dialer; the typed constructors ListenTCP,
// ListenUnix, ListenUDP, ListenUnixgram, DialTCP, DialUDP and DialUnix;
// FileListener, FileConn and FilePacketConn, which adopt sockets a
// program inherits (systemd socket activation) or receives; and the
// methods of net's connection and listener types (AcceptTCP,
// SetKeepAliveConfig, SetLinger, SetReadBuffer, ReadFromUDP, File,
// SyscallConn, ...). Where net returns its own types, these return this
// package's: *Listener for *net.TCPListener and *net.UnixListener,
// *Conn for *net.TCPConn and a stream *net.UnixConn, *PacketConn for
// *net.UDPConn and a datagram *net.UnixConn. So DialUnix dials "unix"
// only (a datagram socket is Dial("unixgram", ...)), and a variable
// declared with one of net's connection types needs this package's.
//
// What does no I/O stays net's and is used from there: addresses and
// their parsing (net.IP, net.ParseIP, net.TCPAddr, net.UDPAddr,
// net.UnixAddr, net.ResolveTCPAddr, net.SplitHostPort, net.JoinHostPort,
// ...), net.Resolver and the lookups, the error types (net.OpError,
// net.Error, net.ErrClosed) and the interfaces (net.Conn, net.Listener,
// net.PacketConn). KeepAliveConfig is an alias of net's.
// The gnet-compatible event engine, which runs unmodified gnet v2
// handlers on io_uring event loops, is package
// github.com/uring-go/uring/uringnet/engine; this package does not
// import gnet, so a program that only listens and dials links none of it.
//
// # How it runs
//
// Every read, write and connect is an io_uring operation run through the
// process-wide executor (internal/reactor): the calling goroutine submits
// it and, when the socket is ready, finds the completion during its own
// io_uring_enter, combined with other goroutines' submissions when they
// contend. Connects that must wait are parked inside io_uring.
//
// Accepts are the exception: a listener calls accept4(2) on its
// non-blocking socket and, while there is nothing to accept, waits in the
// runtime netpoller, as package net does, and takes the peer's address
// from accept4. A multishot accept on io_uring, which this package used
// before, posts each connection as task work to whichever thread
// submitted it (interrupting that thread, which then contended for the
// listener's lock with the client's handshake on the other CPU), wakes a
// reaper goroutine through an eventfd, and reports no peer address (a
// getpeername per connection): a connection per request cost 1.2 times
// net's server CPU (docs/benchmarks.md). A listener the netpoller does
// not take still accepts on io_uring, one accept per call, which names
// the peer.
//
// Reads and writes of a connection wait differently: they are submitted
// with MSG_DONTWAIT, which makes io_uring complete one that would block
// with EAGAIN instead of arming a poll of its own, and the goroutine then
// waits for readiness in the runtime netpoller (the socket is registered
// with it through an *os.File, which owns the fd) and submits again, as
// package net retries its read(2). Letting io_uring wait cost several
// times net's server CPU per round trip: when data arrived the kernel
// queued task work to the thread that had submitted, which re-issued the
// recv while the receive path on another CPU held the socket lock, and
// the completion then went eventfd, netpoller, reaper goroutine, channel,
// parked goroutine. Waiting in the netpoller removes that, but an
// io_uring_enter carrying one recv or send still costs more than the
// read(2) or write(2) net makes. So these recvs and
// sends go on the ring of the processor the goroutine runs on, which
// yields once after queueing (internal/reactor's StartLocal): the
// goroutines the netpoller readied together queue theirs meanwhile, and
// one enter submits them all; a lone connection, with nothing to batch
// with, pays nothing for it (its yields back off). docs/benchmarks.md
// has the figures, and how each step measured.
//
// # Semantics
//
// Errors follow package net: *net.OpError with Op "read", "write",
// "accept", "dial", ...; io.EOF (never wrapped) when the peer closes;
// net.ErrClosed after Close; os.ErrDeadlineExceeded, with Timeout() true,
// when a deadline passes. Deadlines apply to operations already blocked,
// and a conn stays usable after one: a read stopped by a deadline loses no
// bytes, the next read returns them.
//
// # Without io_uring
//
// Where io_uring cannot be used at all (a kernel without it, the
// kernel.io_uring_disabled sysctl, a container's seccomp profile, too
// little locked memory), Listen and Dial fail with a *net.OpError that
// says why and what to do. A ListenConfig or Dialer with FallbackToNet
// set uses package net instead and returns net's own types; a type
// assertion to *Listener, *Conn or *PacketConn tells which is in use.
//
// # Lifetimes
//
// A socket's fd is reference-counted like internal/poll's: each operation
// holds a reference while it runs; Close marks the fd closing, wakes every
// blocked operation (cancelling it in the kernel and waiting for its
// completion), and the close(2) happens after the last operation has
// finished, so the fd number is never reused while the kernel may still
// act on it. Close returns after that close(2).
//
// Reads are serialised with each other, and writes with each other, as in
// package net; one Read and one Write may run at the same time.
package uringnet
