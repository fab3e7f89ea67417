package uringnet

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/uring-go/uring/internal/fdlife"
	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// ioDir is one direction of a connected socket's I/O: a recv or send
// submitted with MSG_DONTWAIT, so that io_uring completes it with EAGAIN
// instead of arming a poll of its own, and the goroutine then waits for
// readiness (pollWait), in the runtime netpoller as package net does.
// Its fields are the arguments and results of the attempt in progress,
// which the direction's mutex (rmu or wmu) makes one at a time; prep and
// try are made once per connection so that an attempt allocates nothing.
type ioDir struct {
	// buf is the attempt's buffer, as a pointer and a length: its
	// capacity would be 8 bytes more per direction for nothing (see
	// newConn).
	buf  *byte
	nbuf int

	pollOutcome

	prep reactor.Prep
	try  func(uintptr) bool
}

// setBuf makes b the buffer of the attempts to come; nil after one, so
// that the direction does not keep b alive.
func (d *ioDir) setBuf(b []byte) { d.buf, d.nbuf = unsafe.SliceData(b), len(b) }

// bytes is the attempt's buffer.
func (d *ioDir) bytes() []byte { return unsafe.Slice(d.buf, d.nbuf) }

// initIO makes the reads' and writes' prep and try (rio and wio). The
// closures capture fd alone and name their direction's fields outright,
// so that a direction needs neither a pointer back to fd nor one to its
// Waiter, and a closure is no larger than a function and one pointer.
func (fd *netFD) initIO() {
	// A send to a peer that has gone fails with EPIPE instead of
	// raising SIGPIPE.
	fd.wio.prep = func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.Send(fd.sysfd, fd.wio.bytes(), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, o)
	}
	fd.rio.prep = func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) {
		return r.Recv(fd.sysfd, fd.rio.bytes(), unix.MSG_DONTWAIT, o)
	}
	// try runs the operation once through the executor (as fd.once,
	// which says why on the processor's ring, written out here). It
	// returns false when the socket was not ready (EAGAIN), for
	// pollWait to wait and call it again, and true with res and err
	// set otherwise.
	//
	// The kernel completes a MSG_DONTWAIT operation during the
	// submitting enter, so this normally returns at once; waiting on
	// the direction's Waiter still lets a deadline or Close stop it
	// where the kernel parks it anyway (kernels that ignore
	// MSG_DONTWAIT for io_uring).
	//
	// A closure, not the method value of a method calling once: every
	// frame between Conn.Read and the enter counts, as the deepest
	// call decides a conn goroutine's stack size for good (see
	// Conn.Read). For the same reason the two directions' are written
	// out, not one function of the direction.
	//
	// Not through Executor.Run, for the same reason: an operation the
	// kernel cancelled unasked is started again here, under Run's bound
	// and counted as Run counts it (Executor.Requeue).
	fd.rio.try = func(uintptr) bool {
		d := &fd.rio
		for attempt := 1; ; attempt++ {
			o, err := fd.e.StartLocal(d.prep)
			if err != nil {
				d.res, d.err = reactor.Result{}, err
				return true
			}
			d.res, d.err = o.Wait(&fd.rd)
			if d.err == syscall.ECANCELED && fd.e.Requeue(attempt) {
				continue
			}
			if d.err != syscall.EINTR {
				return d.err != syscall.EAGAIN
			}
		}
	}
	fd.wio.try = func(uintptr) bool {
		d := &fd.wio
		for attempt := 1; ; attempt++ {
			o, err := fd.e.StartLocal(d.prep)
			if err != nil {
				d.res, d.err = reactor.Result{}, err
				return true
			}
			d.res, d.err = o.Wait(&fd.wr)
			if d.err == syscall.ECANCELED && fd.e.Requeue(attempt) {
				continue
			}
			if d.err != syscall.EINTR {
				return d.err != syscall.EAGAIN
			}
		}
	}
}

// attachPoller sets up a connected socket's reads and writes (rio, wio)
// and chooses, once, how they wait for readiness (see pollWait): it
// registers the socket with the runtime netpoller and records the
// RawConn that waits there in raw. Sockets that cannot be registered
// wait with io_uring polls instead.
func (fd *netFD) attachPoller() {
	fd.initIO()
	fd.registerPoller()
}

// registerPoller registers the socket with the runtime netpoller through
// an *os.File, which owns the fd from then on, and records in raw the
// RawConn that waits there; raw stays nil if the netpoller did not take
// the fd. Deadlines and Close reach the file (netFD.mirror).
func (fd *netFD) registerPoller() {
	f := os.NewFile(uintptr(fd.sysfd), fileName(fd.network()))
	if f == nil {
		return
	}
	// From here on the file owns the fd, registered or not: dropping it
	// would let its cleanup close the fd under us.
	fd.file = f
	// SetDeadline fails for a file the netpoller does not watch.
	if f.SetDeadline(time.Time{}) != nil {
		return
	}
	raw, err := f.SyscallConn()
	if err != nil {
		return
	}
	fd.raw = raw
}

// mirror is what the read (or, if write, the write) Waiter's deadlines
// and Close reach besides: the *os.File, if the fd waits in the
// netpoller through it (raw, set once before the fd is shared).
func (fd *netFD) mirror(write bool) fdlife.Mirror {
	if fd.raw == nil {
		return fdlife.Mirror{}
	}
	return fdlife.Mirror{File: fd.file, Write: write}
}

// fileName is the name of a socket's *os.File: "uringnet-" and the
// network, made once for the usual ones.
func fileName(network string) string {
	switch network {
	case "tcp":
		return "uringnet-tcp"
	case "tcp4":
		return "uringnet-tcp4"
	case "tcp6":
		return "uringnet-tcp6"
	case "unix":
		return "uringnet-unix"
	}
	return "uringnet-" + network
}

// dontWait runs d's operation (fd.rio's, waiting on p = fd.rd, or
// fd.wio's on fd.wr) on buf, waiting while the socket is not ready.
// Errors are as pollWait's.
func (fd *netFD) dontWait(d *ioDir, p *fdlife.Waiter, buf []byte) (reactor.Result, error) {
	d.setBuf(buf)
	res, err := fd.pollWait(p, d.try, &d.pollOutcome)
	d.setBuf(nil)
	return res, err
}

// pollOutcome is where a netpoller callback (see pollWait) leaves the
// result of its operation.
type pollOutcome struct {
	res reactor.Result
	err error
}

// pollWait is the one way an attempt on a connected socket waits: it
// calls try, and each time it returns false waits for the socket to be
// ready (readable if p is fd.rd, else writable) and calls it again, until
// it leaves a result in out. The wait is the one attachPoller chose: in
// the runtime netpoller, through raw, or with an io_uring poll (pollLoop)
// where the netpoller did not take the socket. An operation stopped
// inside io_uring goes again if the deadline has moved since; one the
// kernel cancelled unasked, the executor has already started again.
// Errors are net.ErrClosed, os.ErrDeadlineExceeded, a syscall.Errno or
// an executor error.
func (fd *netFD) pollWait(p *fdlife.Waiter, try func(uintptr) bool, out *pollOutcome) (reactor.Result, error) {
	for {
		*out = pollOutcome{}
		var err error
		switch {
		case fd.raw == nil:
			err = fd.pollLoop(p, try)
		case p == &fd.rd:
			err = fd.raw.Read(try)
		default:
			err = fd.raw.Write(try)
		}
		res, oerr := out.res, out.err
		out.err = nil
		if err != nil {
			return reactor.Result{}, waitErr(p, err)
		}
		if oerr == nil {
			return res, nil
		}
		if stopped(oerr) {
			if perr := p.Check(); perr != nil {
				return reactor.Result{}, perr
			}
			if oerr != syscall.ECANCELED {
				continue
			}
		}
		return res, oerr
	}
}

// pollLoop is pollWait's wait for a socket the netpoller did not take:
// try, then an io_uring poll for p's direction, until try returns true.
func (fd *netFD) pollLoop(p *fdlife.Waiter, try func(uintptr) bool) error {
	for {
		if err := p.Check(); err != nil {
			return err
		}
		if try(uintptr(fd.sysfd)) {
			return nil
		}
		if err := fd.waitReady(p); err != nil {
			return err
		}
	}
}

// waitErr is the error of a wait: in the netpoller, it ends by the
// direction's deadline, and Close wakes it with a past one, so p tells
// the two apart.
func waitErr(p *fdlife.Waiter, err error) error {
	switch {
	case p.Err() == net.ErrClosed, errors.Is(err, os.ErrClosed):
		return net.ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return os.ErrDeadlineExceeded
	}
	return err
}
