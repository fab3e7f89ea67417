package uringfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/timeslice"
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
	// slice is when a batch on this ring last passed through the
	// scheduler; see yield.
	slice timeslice.Clock
}

// blockSlice bounds one wait in io_uring_enter of a batch on a file with
// an offset, and so how long a Close waits to be seen by a transfer that
// does not end (a hung network file system, say). It is the executor's
// slice for a lone ReadAt or WriteAt on such a file, which waits the
// same way.
const blockSlice = reactor.WaitSlice

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

// yield calls runtime.Gosched once batches on br have run for
// timeslice.Every without doing so. A batch on a file with an offset
// never parks: its goroutine only returns from io_uring_enter to queue
// more, and would run one time slice that never ends (see package
// timeslice); on a virtual machine at 4 KiB O_DIRECT reads and queue
// depth 16 the runtime's retakes of its P were about 3,000 more context
// switches a second, 10-20% of the CPU per read. Gosched itself wakes
// an idle thread, which often takes the goroutine over: at a yield
// every 2 ms the futex calls were 2.4 times those at 5 ms.
func (br *batchRing) yield() {
	if br.slice.Due() {
		runtime.Gosched()
	}
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
	if stopNow(stop) {
		return c, true, nil
	}
	if block && !br.noTimedWait {
		return br.waitEnter(stop)
	}
	return br.waitPoll(stop)
}

// stopNow reports whether stop, if any, says to stop.
func stopNow(stop func() bool) bool { return stop != nil && stop() }

// waitEnter is wait for a batch on a file with an offset: it submits and
// waits in io_uring_enter, for at most blockSlice at a time, looking at
// stop between slices. On a kernel without a timed io_uring_enter it
// notes so and waits in the netpoller, now and from then on.
func (br *batchRing) waitEnter(stop func() bool) (c uring.Completion[int32], stopped bool, err error) {
	br.r.SetEventfdEnabled(false) // nobody reads it meanwhile
	for {
		if _, err := br.r.SubmitAndWait(blockSlice); err != nil {
			// Looked at only on failure: errors.As's target escapes, an
			// allocation per wait.
			var unsupported *uring.UnsupportedFeatureError
			if errors.As(err, &unsupported) {
				br.noTimedWait = true
				return br.waitPoll(stop)
			}
			return c, false, br.denied(err)
		}
		c, ok, err := br.r.Peek()
		if err != nil || ok {
			return c, false, err
		}
		if stopNow(stop) {
			return c, true, nil
		}
	}
}

// waitPoll is wait in the runtime netpoller: it submits, then parks on
// the eventfd until a completion is there or stop reports true (wake
// makes it look).
func (br *batchRing) waitPoll(stop func() bool) (c uring.Completion[int32], stopped bool, err error) {
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
		if stopNow(stop) {
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

// running records that a batch on f runs on br until it calls stopped,
// so that Close can wake it. (A returned func to defer would be a heap
// allocation per batch.)
func (f *File) running(br *batchRing) {
	f.rings.mu.Lock()
	if f.rings.busy == nil {
		f.rings.busy = make(map[*batchRing]int)
	}
	f.rings.busy[br]++
	f.rings.mu.Unlock()
}

// stopped undoes running.
func (f *File) stopped(br *batchRing) {
	f.rings.mu.Lock()
	if f.rings.busy[br]--; f.rings.busy[br] == 0 {
		delete(f.rings.busy, br)
	}
	f.rings.mu.Unlock()
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
	var stopErr error // why the batch stops early
	b := batchRun{
		f:       f,
		br:      br,
		fixed:   fixed,
		closed:  closed,
		reqs:    reqs,
		depth:   min(depth, br.r.QueueDepth()),
		write:   write,
		block:   f.fileKind() == kindOffset,
		stopErr: &stopErr,
	}
	f.running(br)
	defer f.stopped(br)
	for i := range reqs {
		reqs[i].N, reqs[i].Err = 0, nil
	}
	// retry holds requests that need another transfer after a short one;
	// they go before new requests. It is kept here rather than in b so
	// that its first entries can stay on the stack (see batchRun).
	var retry []int32
	for b.more(len(retry)) {
		retry = b.refill(retry)
		if b.inflight == 0 {
			continue
		}
		// wait submits what was queued; the rest of the completions
		// that are already there are taken without a system call.
		c, ok, err := b.wait()
		for ok && err == nil {
			if c.Data != cancelData && b.complete(c) {
				retry = append(retry, c.Data)
			}
			c, ok, err = br.r.Peek()
		}
		if err != nil {
			return &fs.PathError{Op: b.op(), Path: f.name, Err: err}
		}
		// After the completions, before the refill: what is still in
		// flight keeps the device busy meanwhile.
		br.yield()
	}
	return b.finish(retry)
}

// batchRun is the state of one runBatch call: the requests, how far they
// have got, and why the batch stops early, if it does.
//
// Nothing loaded from a field of batchRun may be stored anywhere else
// (an error, a slice grown by append): the compiler's escape analysis
// would then take everything batchRun points to as escaping, and move a
// caller's requests (chunkAt's one) and closed func to the heap, an
// allocation or two per call. So the stop's error, which goes into the
// requests' errors, is reached through a pointer, the operation's name
// is a method, and the retries are runBatch's.
type batchRun struct {
	f      *File
	br     *batchRing
	fixed  []byte       // the registered buffer, or nil
	closed func() error // the BufferPool's closed condition, or nil
	reqs   []Request
	depth  int // the most transfers in flight
	write  bool
	block  bool // wait in io_uring_enter (a file with an offset)

	stopErr   *error // why the batch stops early, once it does
	cancelled bool   // the transfers in flight have been cancelled

	// unasked counts each request's ECANCELED completions that no stop
	// asked for; made at the first.
	unasked map[int32]int
	// next is the first request not yet started; inflight counts the
	// transfers the kernel has and has not answered.
	next, inflight int
}

// op names the batch's operation, for errors.
func (b *batchRun) op() string {
	if b.write {
		return "write"
	}
	return "read"
}

// more reports whether the batch goes on: it has transfers to start
// (retries of them waiting) and has not been stopped, or the kernel
// still has some.
func (b *batchRun) more(retries int) bool {
	return (b.next < len(b.reqs) || retries > 0) && *b.stopErr == nil || b.inflight > 0
}

// stop reports whether the batch is to stop early (f closed, or the
// BufferPool's closed condition), recording why.
func (b *batchRun) stop() bool {
	switch {
	case b.f.mu.Closed():
		*b.stopErr = fs.ErrClosed
	case b.closed != nil:
		*b.stopErr = b.closed()
	}
	return *b.stopErr != nil
}

// queue queues the next transfer of request i, and reports false if the
// ring's queue is full. A request the ring refuses gets the error.
func (b *batchRun) queue(i int32) bool {
	f, r := b.f, b.br.r
	q := &b.reqs[i]
	buf := q.Buf[q.N:]
	if len(buf) > maxRW {
		buf = buf[:maxRW]
	}
	var err error
	switch {
	case b.fixed != nil && b.write:
		_, err = r.WriteFixed(f.fd, q.Off+int64(q.N), fixedOffset(b.fixed, buf), len(buf), i)
	case b.fixed != nil:
		_, err = r.ReadFixed(f.fd, q.Off+int64(q.N), fixedOffset(b.fixed, buf), len(buf), i)
	case b.write:
		_, err = r.Write(f.fd, buf, q.Off+int64(q.N), i)
	default:
		_, err = r.Read(f.fd, buf, q.Off+int64(q.N), i)
	}
	if errors.Is(err, uring.ErrQueueFull) {
		return false
	}
	if err != nil {
		q.Err = f.wrapErr(b.op(), err)
		return true
	}
	b.inflight++
	return true
}

// refill queues transfers up to the depth, the retries first, then new
// requests, and returns the retries left. Nothing is queued once the
// batch is stopping.
func (b *batchRun) refill(retry []int32) []int32 {
	for *b.stopErr == nil && b.inflight < b.depth && len(retry) > 0 {
		if !b.queue(retry[len(retry)-1]) {
			return retry
		}
		retry = retry[:len(retry)-1]
	}
	for *b.stopErr == nil && b.inflight < b.depth && b.next < len(b.reqs) {
		q := &b.reqs[b.next]
		if q.Off < 0 {
			q.Err = &fs.PathError{Op: b.op() + "at", Path: b.f.name, Err: errNegativeOffset}
			b.next++
			continue
		}
		if len(q.Buf) == 0 {
			b.next++
			continue
		}
		if !b.queue(int32(b.next)) {
			return retry
		}
		b.next++
	}
	return retry
}

// wait returns the next completion (see batchRing.wait) with ok set. If
// the batch is to stop instead, it cancels what is in flight and returns
// without a completion.
func (b *batchRun) wait() (c uring.Completion[int32], ok bool, err error) {
	waitStop := b.stop
	if b.cancelled {
		waitStop = nil // only the kernel's answers are left to wait for
	}
	c, stopped, err := b.br.wait(waitStop, b.block)
	if stopped {
		// Cancel everything this ring has in flight: it is this call's
		// alone.
		if _, err := b.br.r.CancelAll(cancelData); err != nil {
			return c, false, err
		}
		b.cancelled = true
		return c, false, nil
	}
	return c, err == nil, err
}

// complete handles the completion of one transfer, and reports whether
// its request needs another: the transfer was short, or did not happen.
func (b *batchRun) complete(c uring.Completion[int32]) (again bool) {
	b.inflight--
	q := &b.reqs[c.Data]
	switch {
	case c.Result < 0 && *b.stopErr != nil && (c.Err() == syscall.ECANCELED || c.Err() == syscall.EINTR):
		q.Err = &fs.PathError{Op: b.op(), Path: b.f.name, Err: *b.stopErr}
	case c.Result < 0:
		return b.failed(c.Data, c.Err())
	case c.Result == 0:
		if b.write {
			q.Err = b.f.wrapErr(b.op(), io.ErrUnexpectedEOF)
		} else {
			q.Err = io.EOF
		}
	default:
		q.N += int(c.Result)
		return q.N < len(q.Buf)
	}
	return false
}

// failed handles a transfer of request i that failed with errno, not
// because the batch stops, and reports whether it is to be done again.
func (b *batchRun) failed(i int32, errno error) (again bool) {
	// EINTR, or ECANCELED from Linux cancelling work it could not start
	// a worker thread for (6.1, see reactor.Run): the transfer did not
	// happen, so it is queued again, the latter within the executor's
	// bound.
	if errno == syscall.ECANCELED {
		if b.unasked == nil {
			b.unasked = make(map[int32]int)
		}
		b.unasked[i]++
	}
	if errno == syscall.EINTR || errno == syscall.ECANCELED && reactor.Requeue(b.unasked[i]) {
		return true
	}
	b.reqs[i].Err = b.f.wrapErr(b.op(), errno)
	return false
}

// finish returns the batch's result once nothing is in flight: if it
// stopped early, every request not done (retry holds those waiting for
// another transfer) gets the stop's error, which is returned too.
func (b *batchRun) finish(retry []int32) error {
	if *b.stopErr == nil {
		return nil
	}
	perr := &fs.PathError{Op: b.op(), Path: b.f.name, Err: *b.stopErr}
	for _, i := range retry {
		b.reqs[i].Err = perr
	}
	for i := b.next; i < len(b.reqs); i++ {
		b.reqs[i].Err = perr
	}
	return perr
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
