// Package splice is the one splice(2) engine under uringfs and uringnet,
// as internal/poll's Splice is under os and net: it moves bytes between
// two descriptors inside the kernel with io_uring splice operations,
// through a pipe of its own when neither end is a pipe.
//
// The engine owns the pipe, the loop, short transfers, the fall back
// when the kernel refuses a splice, and the count. It runs no operation
// itself: the package that holds the two ends does, through Ends, on its
// executor, holding its references and locks, and waiting as its own
// reads and writes wait. That is how a Close of an end ends a copy (of
// an end whose package cancels its waits on Close): the end's splice or
// wait returns an error, which Copy returns with the bytes that reached
// the destination, no byte counted twice.
//
// The protocol, for one copy:
//
//  1. In fills the engine's empty pipe with up to its capacity, so a
//     fill never waits for room; 0 is the end of the source.
//  2. Out drains the pipe into the destination until it is empty, then
//     step 1 again. N counts only drained bytes.
//  3. If the first splice fails with EINVAL, ENOSYS or EBADF (an end
//     whose file system has no splice, an old kernel, an end that takes
//     no splice in that direction), nothing is counted: the bytes in the
//     pipe, if any, go to the caller's fallback writer, and the caller
//     copies the rest as io.Copy would (Result.Handled is false).
//  4. Any other error ends the copy: Result.Side says which end it came
//     from, and Left how many bytes were read from the source but never
//     reached the destination (the caller may give them back, as a file
//     source does by moving its offset back).
//
// When one end is a pipe, Direct splices straight between the two.
package splice

import (
	"errors"
	"io"
	"math"
	"syscall"

	"golang.org/x/sys/unix"
)

// MaxChunk is the most one splice moves, and the capacity asked of the
// engine's pipe (F_SETPIPE_SZ; the default pipe-max-size allows it).
// Every splice is a trip through io-wq, so the larger pipe pays: half the
// time per 4 MiB received from a socket (uringnet's
// BenchmarkWriteToFile), a third of read(2) and write(2)'s CPU for a
// page-cached file sent to /dev/null.
const MaxChunk = 1 << 20

// defaultPipe is a pipe's capacity when F_SETPIPE_SZ is refused
// (pipe-max-size or the per-user pipe limits).
const defaultPipe = 64 << 10

// All is the limit of a copy to the end of its source.
const All = math.MaxInt64

// Ends is what the package holding a copy's two ends does for it. Each
// func runs one splice on that package's executor and returns the bytes
// moved; it holds whatever reference and lock its end needs for the
// operation, and waits (for readiness after EAGAIN, under a deadline,
// until Close) as that end's own operations wait. Func values, which
// Copy only calls, keep the adapters' state off the heap.
type Ends struct {
	// In splices up to n bytes from the source into the pipe fd p.
	In func(p, n int) (int, error)
	// Out splices up to n bytes from the pipe fd p into the destination.
	Out func(p, n int) (int, error)
}

// Side is the end of a copy that an error came from.
type Side uint8

const (
	Source Side = iota + 1
	Dest
)

// Result is how a copy ended.
type Result struct {
	// N is the bytes that reached the destination.
	N int64
	// Handled is false if the ends take no splice: N bytes, handed
	// over from the pipe with the fallback writer, are in the
	// destination, Err is that write's error, and the caller copies the
	// rest.
	Handled bool
	// Err is the error that ended the copy, from Side (Copy's only:
	// Direct's errors are the caller's to place).
	Err  error
	Side Side
	// Left is the bytes read from the source into the pipe that never
	// reached the destination, when Out failed or refused with no
	// fallback writer.
	Left int
}

// Copy moves up to limit bytes (All: to the end of the source) from e's
// source to its destination through a pipe of its own. fallback is the
// destination for a plain write of what is in the pipe if the
// destination refuses the first splice (nil: the bytes are Left for the
// caller to give back to the source); buf, if not empty, is the buffer
// for it.
func Copy(e Ends, limit int64, fallback io.Writer, buf []byte) Result {
	p, err := newPipe()
	if err != nil {
		return Result{}
	}
	defer p.close()
	res := Result{Handled: true}
	for res.N < limit {
		in, err := e.In(p.w, int(min(limit-res.N, int64(p.size))))
		switch {
		case err != nil && res.N == 0 && refused(err):
			return Result{}
		case err != nil:
			res.Err, res.Side = err, Source
			return res
		case in == 0:
			return res
		}
		switch res = p.drain(&e, res, in); {
		case !res.Handled:
			return p.handOff(in, fallback, buf)
		case res.Err != nil:
			return res
		}
	}
	return res
}

// drain moves the in bytes in the pipe to the destination, and counts
// them in res. A first splice refused comes back as res not Handled.
func (p pipe) drain(e *Ends, res Result, in int) Result {
	for in > 0 {
		m, err := e.Out(p.r, in)
		switch {
		case err != nil && res.N == 0 && refused(err):
			res.Handled = false
			return res
		case err == nil && m == 0:
			err = io.ErrShortWrite
		}
		if err != nil {
			res.Err, res.Side, res.Left = err, Dest, in
			return res
		}
		in -= m
		res.N += int64(m)
	}
	return res
}

// Direct moves up to limit bytes with move, which splices up to n bytes
// from the source straight into the destination, one of them a pipe,
// until it returns 0. The errors are move's; which end each came from
// is for the caller to say.
func Direct(move func(n int) (int, error), limit int64) Result {
	res := Result{Handled: true}
	for res.N < limit {
		m, err := move(int(min(limit-res.N, MaxChunk)))
		switch {
		case err != nil && res.N == 0 && refused(err):
			return Result{}
		case err != nil:
			res.Err = err
			return res
		case m == 0:
			return res
		}
		res.N += int64(m)
	}
	return res
}

// refused reports whether err, from a first splice, means that an end
// takes no splice, so that a plain copy is to do the work.
func refused(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EBADF)
}

// pipe is the engine's pipe between two ends that are not pipes. Nobody
// waits on it: In fills it only when it is empty, Out and handOff take
// only what it holds. It is blocking because the kernel makes a splice
// between two pipes non-blocking if either is: into a destination that
// is a blocking pipe, Out then waits for room rather than fail with
// EAGAIN.
type pipe struct{ r, w, size int }

func newPipe() (pipe, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return pipe{}, err
	}
	size := defaultPipe
	if n, err := unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, MaxChunk); err == nil {
		size = n
	}
	return pipe{r: fds[0], w: fds[1], size: size}, nil
}

func (p pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// handOff reads the n bytes in the pipe and writes them to w, for a
// destination that takes no splice. Without w, they are Left.
func (p pipe) handOff(n int, w io.Writer, buf []byte) Result {
	if w == nil {
		return Result{Left: n}
	}
	if len(buf) == 0 {
		buf = make([]byte, min(n, defaultPipe))
	}
	var res Result
	for n > 0 {
		k, err := unix.Read(p.r, buf[:min(n, len(buf))])
		switch {
		case err == syscall.EINTR:
			continue
		case err == nil && k == 0:
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			res.Err = err
			return res
		}
		m, err := w.Write(buf[:k])
		res.N += int64(m)
		if err != nil {
			res.Err = err
			return res
		}
		n -= k
	}
	return res
}

// Mode is the type of the file fd (unix.S_IFREG, S_IFIFO, ...), or 0 if
// fstat(2) fails.
func Mode(fd int) uint32 {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0
	}
	return st.Mode & unix.S_IFMT
}

// Limited returns the reader under an *io.LimitedReader, as lr, with the
// bytes it may still give; any other reader comes back as it is, with
// All and a nil lr. The caller takes what it copied off lr.N.
func Limited(r io.Reader) (inner io.Reader, limit int64, lr *io.LimitedReader) {
	if lr, ok := r.(*io.LimitedReader); ok {
		return lr.R, lr.N, lr
	}
	return r, All, nil
}
