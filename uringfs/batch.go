package uringfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// Request is one positioned transfer of a batch: Buf at file offset Off.
// The batch call sets N and Err as ReadAt or WriteAt would return them
// for that pair: a read that reaches the end of file early has Err io.EOF.
type Request struct {
	Off int64
	Buf []byte
	N   int
	Err error
}

// DefaultBatchDepth is the queue depth a batch uses when given depth <= 0.
const DefaultBatchDepth = 64

// batchRing is a private ring a batch call owns while it runs. A File
// keeps the rings of finished batches for the next ones and closes them
// in Close.
//
// Its completions are waited for in the runtime netpoller, on an eventfd
// registered with the ring, as the executor's reapers wait (see
// internal/reactor): the goroutine is parked, not an OS thread blocked
// in io_uring_enter, and a Close of the file or of the BufferPool whose
// ring it is wakes it (wake) to cancel what it has in flight. A batch on
// a FIFO, pipe or socket may otherwise wait for ever.
//
// Batches on a file with an offset (a regular file, a block device)
// wait instead in io_uring_enter itself, as fio and a blocking pread do:
// their transfers end in bounded time, and at queue depth 1 the eventfd
// and netpoller round trip (a submit, an epoll wake-up, an eventfd read)
// cost about as much CPU as the read. Such a wait submits and waits in
// one system call, for at most blockSlice, and looks at its stop
// condition in between, so that a Close is still seen.
type batchRing struct {
	r   *uring.Ring[int32]
	efd *os.File // the eventfd: the kernel signals completions, wake signals too
	// noTimedWait is set once the kernel has no timed io_uring_enter
	// (IORING_FEAT_EXT_ARG, 5.11): every wait is then the netpoller's.
	noTimedWait bool
}

// blockSlice bounds one wait in io_uring_enter of a batch on a file with
// an offset, and so how long a Close waits to be seen by a transfer that
// does not end (a hung network file system, say).
const blockSlice = 50 * time.Millisecond

// cancelData is the user data of a batch's cancel request, whose own
// completion is not a transfer's.
const cancelData = -1

func newBatchRing(depth int) (*batchRing, error) {
	r, err := uring.New[int32](depth)
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		r.Close()
		return nil, os.NewSyscallError("eventfd", err)
	}
	if err := r.RegisterEventfd(efd); err != nil {
		unix.Close(efd)
		r.Close()
		return nil, err
	}
	// Non-blocking, so os registers it with the netpoller.
	return &batchRing{r: r, efd: os.NewFile(uintptr(efd), "io_uring-eventfd")}, nil
}

// denied handles a failed submission: denied, say by a seccomp filter
// installed since the ring was made, what was queued will never be
// submitted. It takes that back, so the ring holds nothing and can be
// closed, and returns the error to report.
func (br *batchRing) denied(err error) error {
	br.r.Unsubmit()
	if errno, ok := err.(syscall.Errno); ok {
		err = uring.EnterError(errno)
	}
	return err
}

func (br *batchRing) close() error {
	err := br.r.Close()
	br.efd.Close()
	return err
}

// wake makes the batch waiting on br look at its stop condition. Any
// goroutine may call it.
func (br *batchRing) wake() {
	one := [8]byte{1}
	br.efd.Write(one[:]) // EAGAIN only if the counter is full: awake anyway
}

// wait submits what is queued and returns the next completion, parking
// until one arrives; if stop reports true first, it returns with stopped
// set instead. A stop condition made true before wake is called is seen.
//
// With block set (a batch on a file with an offset) it waits in
// io_uring_enter instead, in slices of blockSlice; see batchRing.
func (br *batchRing) wait(stop func() bool, block bool) (c uring.Completion[int32], stopped bool, err error) {
	// Stop is looked at first: a batch whose transfers keep completing
	// (page-cache hits, a fast device) would otherwise never see it.
	if stop != nil && stop() {
		return c, true, nil
	}
	if block && !br.noTimedWait {
		br.r.SetEventfdEnabled(false) // nobody reads it meanwhile
		for {
			_, err := br.r.SubmitAndWait(blockSlice)
			var unsupported *uring.UnsupportedFeatureError
			if errors.As(err, &unsupported) {
				br.noTimedWait = true
				break
			}
			if err != nil {
				return c, false, br.denied(err)
			}
			c, ok, err := br.r.Peek()
			if err != nil || ok {
				return c, false, err
			}
			if stop != nil && stop() {
				return c, true, nil
			}
		}
	}
	br.r.SetEventfdEnabled(true)
	if _, err := br.r.Submit(); err != nil && err != syscall.EBUSY && err != syscall.EAGAIN {
		return c, false, br.denied(err)
	}
	var buf [8]byte
	for {
		c, ok, err := br.r.Peek()
		if err != nil || ok {
			return c, false, err
		}
		if stop != nil && stop() {
			return c, true, nil
		}
		if _, err := br.efd.Read(buf[:]); err != nil {
			return c, false, err
		}
	}
}

// batchRings is a File's idle private rings, and the rings batches on it
// are running on now (its own or a BufferPool's), guarded by its own
// mutex.
type batchRings struct {
	mu    sync.Mutex
	idle  []*batchRing
	busy  map[*batchRing]int // a pool's ring may run several batches on f in turn
	depth int
}

// getRing takes an idle private ring, or makes one.
func (f *File) getRing(depth int) (*batchRing, error) {
	f.rings.mu.Lock()
	if n := len(f.rings.idle); n > 0 {
		br := f.rings.idle[n-1]
		f.rings.idle = f.rings.idle[:n-1]
		f.rings.mu.Unlock()
		return br, nil
	}
	f.rings.mu.Unlock()
	return newBatchRing(max(depth, DefaultBatchDepth))
}

func (f *File) putRing(br *batchRing) {
	if br.r.ActiveOps() != 0 {
		// A failed wait left operations in it: it cannot be reused,
		// and closing it would fail; let it go with the process.
		return
	}
	f.rings.mu.Lock()
	f.rings.idle = append(f.rings.idle, br)
	f.rings.mu.Unlock()
}

// running records that a batch on f runs on br until done is called, so
// that Close can wake it.
func (f *File) running(br *batchRing) (done func()) {
	f.rings.mu.Lock()
	if f.rings.busy == nil {
		f.rings.busy = make(map[*batchRing]int)
	}
	f.rings.busy[br]++
	f.rings.mu.Unlock()
	return func() {
		f.rings.mu.Lock()
		if f.rings.busy[br]--; f.rings.busy[br] == 0 {
			delete(f.rings.busy, br)
		}
		f.rings.mu.Unlock()
	}
}

// wakeBatches wakes every batch running on f; Close calls it after
// marking f closed, so that they cancel their transfers and return.
func (f *File) wakeBatches() {
	f.rings.mu.Lock()
	for br := range f.rings.busy {
		br.wake()
	}
	f.rings.mu.Unlock()
}

// closeRings closes the idle private rings; Close calls it once no batch
// holds a reference any more.
func (f *File) closeRings() {
	f.rings.mu.Lock()
	idle := f.rings.idle
	f.rings.idle = nil
	f.rings.mu.Unlock()
	for _, br := range idle {
		br.close()
	}
}

// ReadBatch reads every request's Buf at its Off, keeping up to depth
// reads in flight (DefaultBatchDepth if depth <= 0), and sets each
// request's N and Err as ReadAt would. One goroutine drives the whole
// batch on a private ring: the reads are submitted together, so a batch
// of page-cache hits costs one system call per depth reads, and no
// goroutine is started per read. The error is non-nil only if the batch
// could not run at all (a closed file, io_uring unavailable).
//
// The reads are positioned and do not move the file offset. Batches may
// run concurrently on one File; each uses its own ring.
func (f *File) ReadBatch(reqs []Request, depth int) error {
	return f.batch(reqs, depth, false)
}

// WriteBatch writes every request's Buf at its Off, as ReadBatch reads,
// setting N and Err as WriteAt would: a short write is continued until
// the buffer is written or fails.
func (f *File) WriteBatch(reqs []Request, depth int) error {
	return f.batch(reqs, depth, true)
}

// startBatch takes the reference a batch on f holds (the caller drops
// it with f.mu.decref once startBatch succeeds) and refuses what no batch
// may do; it returns the batch's operation name for errors.
func (f *File) startBatch(write bool) (op string, err error) {
	op = "read"
	if write {
		op = "write"
	}
	if err := f.acquire(op); err != nil {
		return op, err
	}
	if write && f.appendMode {
		f.mu.decref()
		return op, errWriteAtInAppendMode
	}
	return op, nil
}

func (f *File) batch(reqs []Request, depth int, write bool) error {
	op, err := f.startBatch(write)
	if err != nil {
		return err
	}
	defer f.mu.decref()
	if f.osf != nil {
		return f.osBatch(reqs, write)
	}
	if depth <= 0 {
		depth = DefaultBatchDepth
	}
	br, err := f.getRing(depth)
	if err != nil {
		return &fs.PathError{Op: op, Path: f.name, Err: err}
	}
	defer f.putRing(br)
	return f.runBatch(br, nil, nil, reqs, depth, write)
}

// runBatch runs reqs on br, a ring only this call uses. With fixed set
// (its registered buffer), every Buf lies inside it and the transfers
// are read_fixed/write_fixed. The caller holds a reference on f.
//
// If f is closed meanwhile, or closed reports an error (the BufferPool
// whose ring it is was closed), the transfers in flight are cancelled,
// no more are started, and once the kernel has finished with them
// runBatch returns a *fs.PathError around fs.ErrClosed (or closed's
// error); every request not done has that error too.
func (f *File) runBatch(br *batchRing, fixed []byte, closed func() error, reqs []Request, depth int, write bool) error {
	op := "read"
	if write {
		op = "write"
	}
	r := br.r
	depth = min(depth, r.QueueDepth())
	block := f.fileKind() == kindOffset
	defer f.running(br)()
	var stopErr error // why the batch stops early
	stop := func() bool {
		switch {
		case f.mu.Closed():
			stopErr = fs.ErrClosed
		case closed != nil:
			stopErr = closed()
		}
		return stopErr != nil
	}
	cancelled := false

	// retry holds requests that need another transfer after a short one;
	// they go before new requests.
	var retry []int32
	// unasked counts each request's ECANCELED completions that no stop
	// asked for; made at the first.
	var unasked map[int32]int
	next, inflight := 0, 0
	for i := range reqs {
		reqs[i].N, reqs[i].Err = 0, nil
	}
	queue := func(i int32) bool {
		q := &reqs[i]
		b := q.Buf[q.N:]
		if len(b) > maxRW {
			b = b[:maxRW]
		}
		var err error
		switch {
		case fixed != nil && write:
			_, err = r.WriteFixed(f.fd, q.Off+int64(q.N), fixedOffset(fixed, b), len(b), i)
		case fixed != nil:
			_, err = r.ReadFixed(f.fd, q.Off+int64(q.N), fixedOffset(fixed, b), len(b), i)
		case write:
			_, err = r.Write(f.fd, b, q.Off+int64(q.N), i)
		default:
			_, err = r.Read(f.fd, b, q.Off+int64(q.N), i)
		}
		if errors.Is(err, uring.ErrQueueFull) {
			return false
		}
		if err != nil {
			q.Err = f.wrapErr(op, err)
			return true
		}
		inflight++
		return true
	}
	for (next < len(reqs) || len(retry) > 0) && stopErr == nil || inflight > 0 {
		for stopErr == nil && inflight < depth && len(retry) > 0 {
			if !queue(retry[len(retry)-1]) {
				break
			}
			retry = retry[:len(retry)-1]
		}
		for stopErr == nil && inflight < depth && next < len(reqs) {
			q := &reqs[next]
			if q.Off < 0 {
				q.Err = &fs.PathError{Op: op + "at", Path: f.name, Err: errNegativeOffset}
				next++
				continue
			}
			if len(q.Buf) == 0 {
				next++
				continue
			}
			if !queue(int32(next)) {
				break
			}
			next++
		}
		if inflight == 0 {
			continue
		}
		// wait submits what was queued; the rest of the completions
		// that are already there are taken without a system call.
		waitStop := stop
		if cancelled {
			waitStop = nil // only the kernel's answers are left to wait for
		}
		c, stopped, err := br.wait(waitStop, block)
		if stopped {
			// Cancel everything this ring has in flight: it is this
			// call's alone.
			if _, err := r.CancelAll(cancelData); err != nil {
				return &fs.PathError{Op: op, Path: f.name, Err: err}
			}
			cancelled = true
			continue
		}
		for err == nil {
			if c.Data == cancelData {
				var ok bool
				if c, ok, err = r.Peek(); !ok {
					break
				}
				continue
			}
			inflight--
			q := &reqs[c.Data]
			switch {
			case c.Result < 0 && stopErr != nil && (c.Err() == syscall.ECANCELED || c.Err() == syscall.EINTR):
				q.Err = &fs.PathError{Op: op, Path: f.name, Err: stopErr}
			case c.Result < 0:
				// EINTR, or ECANCELED from Linux cancelling work it
				// could not start a worker thread for (6.1, see
				// reactor.Run): the transfer did not happen, so it is
				// queued again, the latter within the executor's bound.
				errno := c.Err()
				if errno == syscall.ECANCELED {
					if unasked == nil {
						unasked = make(map[int32]int)
					}
					unasked[c.Data]++
				}
				if errno == syscall.EINTR || errno == syscall.ECANCELED && reactor.Requeue(unasked[c.Data]) {
					retry = append(retry, c.Data)
				} else {
					q.Err = f.wrapErr(op, errno)
				}
			case c.Result == 0:
				if write {
					q.Err = f.wrapErr(op, io.ErrUnexpectedEOF)
				} else {
					q.Err = io.EOF
				}
			default:
				q.N += int(c.Result)
				if q.N < len(q.Buf) {
					retry = append(retry, c.Data)
				}
			}
			var ok bool
			c, ok, err = r.Peek()
			if !ok {
				break
			}
		}
		if err != nil {
			return &fs.PathError{Op: op, Path: f.name, Err: err}
		}
	}
	if stopErr != nil {
		perr := &fs.PathError{Op: op, Path: f.name, Err: stopErr}
		for _, i := range retry {
			reqs[i].Err = perr
		}
		for i := next; i < len(reqs); i++ {
			reqs[i].Err = perr
		}
		return perr
	}
	return nil
}

// fixedOffset is b's offset inside fixed, or -1 (which ReadFixed refuses)
// if b is not inside it.
func fixedOffset(fixed, b []byte) int {
	if len(b) == 0 || len(fixed) == 0 {
		return -1
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(fixed)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < start || p-start+uintptr(len(b)) > uintptr(len(fixed)) {
		return -1
	}
	return int(p - start)
}
