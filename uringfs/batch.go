package uringfs

import (
	"errors"
	"io"
	"io/fs"
	"sync"
	"syscall"
	"unsafe"

	"github.com/uring-go/uring/uring"
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
type batchRing struct {
	r *uring.Ring[int32]
}

// batchRings is a File's idle private rings, guarded by its own mutex.
type batchRings struct {
	mu    sync.Mutex
	idle  []*batchRing
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
	r, err := uring.New[int32](max(depth, DefaultBatchDepth))
	if err != nil {
		return nil, err
	}
	return &batchRing{r: r}, nil
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

// closeRings closes the idle private rings; Close calls it once no batch
// holds a reference any more.
func (f *File) closeRings() {
	f.rings.mu.Lock()
	idle := f.rings.idle
	f.rings.idle = nil
	f.rings.mu.Unlock()
	for _, br := range idle {
		br.r.Close()
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

func (f *File) batch(reqs []Request, depth int, write bool) error {
	op := "read"
	if write {
		op = "write"
	}
	if err := f.acquire(op); err != nil {
		return err
	}
	defer f.mu.decref()
	if write && f.appendMode {
		return errWriteAtInAppendMode
	}
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
	return f.runBatch(br.r, nil, reqs, depth, write)
}

// runBatch runs reqs on r, a ring only this call uses. With fixed set
// (r's registered buffer), every Buf lies inside it and the transfers are
// read_fixed/write_fixed. The caller holds a reference on f.
func (f *File) runBatch(r *uring.Ring[int32], fixed []byte, reqs []Request, depth int, write bool) error {
	op := "read"
	if write {
		op = "write"
	}
	depth = min(depth, r.QueueDepth())

	// retry holds requests that need another transfer after a short one;
	// they go before new requests.
	var retry []int32
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
	for next < len(reqs) || inflight > 0 || len(retry) > 0 {
		for inflight < depth && len(retry) > 0 {
			if !queue(retry[len(retry)-1]) {
				break
			}
			retry = retry[:len(retry)-1]
		}
		for inflight < depth && next < len(reqs) {
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
		// Wait submits what was queued; the rest of the completions
		// that are already there are taken without a system call.
		c, err := r.Wait()
		for err == nil {
			inflight--
			q := &reqs[c.Data]
			switch {
			case c.Result < 0:
				// EINTR, or ECANCELED from Linux cancelling work it
				// could not start a worker thread for (6.1): the
				// transfer did not happen, so it is queued again.
				if errno := c.Err(); errno == syscall.EINTR || errno == syscall.ECANCELED {
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
