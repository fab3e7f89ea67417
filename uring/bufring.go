package uring

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/uring-go/uring/internal/ring"
	"golang.org/x/sys/unix"
)

// BufRing is a provided-buffer ring (IORING_REGISTER_PBUF_RING): a group
// of equal-sized buffers the kernel picks from when a receive is ready,
// rather than a buffer fixed when the receive was queued. Idle connections
// then hold no buffer. Create one with Ring.NewBufRing and use it with
// RecvMultishot or RecvBufSelect.
//
// A completion that used a buffer carries its ID (Completion.BufferID);
// read the data with Buf and hand the buffer back with Recycle. Buffers
// not recycled are gone from the kernel's view: when all are out, receives
// complete with ENOBUFS. With WithInitialBuffers the kernel holds only
// some of them at a time: ENOBUFS then says it had none of those left,
// and the next Publish (or Recycle) hands it more.
//
// Ring and buffer memory are mapped outside the Go heap, so the garbage
// collector never scans or moves them and the kernel may keep using them
// after any call returns. A BufRing belongs to the Ring that made it and,
// like it, is not safe for concurrent use.
type BufRing struct {
	group   uint16
	mask    uint16
	bufSize int
	ringMem []byte // entries * sizeof(io_uring_buf), page-aligned
	bufMem  []byte // entries * bufSize
	entries []ring.Buf
	tailW   *uint32 // the word holding entry 0's bid and the ring's tail
	tail    uint16
	// published is the tail the kernel was last given.
	published uint16
	closed    bool

	// With WithInitialBuffers (lazy): the buffers the kernel does not
	// hold, most recently handed back last; how many the kernel is to
	// hold after each Publish; how many it holds (handed to it, less
	// the completions collected that used one).
	lazy   bool
	spare  []uint16
	target int
	inRing int
	taken  int // buffers used since the last Publish
	dry    int // receives that found none since the last Publish

	owner      any                // the *Ring[T] it is registered with
	ringClosed func() bool        // whether that ring has been closed
	unregister func() error       // IORING_UNREGISTER_PBUF_RING
	users      func(*BufRing) int // active operations that select from it
}

// maxBufRingEntries is the kernel's limit on a buffer ring's size.
const maxBufRingEntries = 1 << 15

// BufRingOption configures a BufRing (see NewBufRing).
type BufRingOption func(*bufRingConfig)

type bufRingConfig struct{ initial int }

// WithInitialBuffers hands the kernel only n of the ring's buffers at
// first (all of them if n is not below the ring's size) and keeps the
// rest back, to be handed over as receives need them. The kernel takes
// buffers in the order they were handed to it, so every buffer it holds
// is written by some receive sooner or later: memory of a buffer it was
// never given stays untouched, costing no resident memory. Publish then
// tops the kernel's share up to a target, from the buffers handed back
// most recently, which are the ones already touched. The target, n at
// first, grows (up to the ring's size, never shrinking) whenever the
// kernel had used more than half of it by a Publish, or a receive on
// the ring completed with ENOBUFS since the last one: to twice what
// the receives since the last Publish asked for, and at least to twice
// the target. A ring that serves a few receives at a time thus keeps
// about n buffers in use, and one under load about twice what a round
// of completions uses. The buffers' memory is advised against
// transparent huge pages (MADV_NOHUGEPAGE), which would make 2 MiB
// resident around the first byte written.
func WithInitialBuffers(n int) BufRingOption {
	return func(c *bufRingConfig) { c.initial = n }
}

// NewBufRing maps entries buffers of bufSize bytes each, registers them
// with the kernel as buffer group group and hands them all to it (or,
// WithInitialBuffers, some of them). entries must be a power of two, at
// most 32768. Release it with Close, before or after the ring's own
// Close: the memory is unmapped only then. Linux 5.19.
func (r *Ring[T]) NewBufRing(group uint16, entries int, bufSize int, opts ...BufRingOption) (*BufRing, error) {
	var cfg bufRingConfig
	for _, o := range opts {
		o(&cfg)
	}
	if r.closed {
		return nil, ErrClosed
	}
	if entries <= 0 || entries > maxBufRingEntries || entries&(entries-1) != 0 {
		return nil, fmt.Errorf("uring: buffer ring of %d entries: must be a power of two from 1 to %d", entries, maxBufRingEntries)
	}
	if bufSize <= 0 || uint64(bufSize) > uint64(^uint32(0)) {
		return nil, fmt.Errorf("uring: buffer size %d: must be from 1 to %d", bufSize, ^uint32(0))
	}
	if bufSize > (1<<62)/entries {
		return nil, fmt.Errorf("uring: buffer ring of %d buffers of %d bytes is too large", entries, bufSize)
	}
	entrySize := int(unsafe.Sizeof(ring.Buf{}))
	// The kernel requires the ring to be page-aligned; mmap gives that,
	// and anonymous memory arrives zeroed, so the tail starts at 0.
	ringMem, err := unix.Mmap(-1, 0, entries*entrySize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("uring: mapping buffer ring: %w", err)
	}
	bufMem, err := unix.Mmap(-1, 0, entries*bufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		unix.Munmap(ringMem)
		return nil, fmt.Errorf("uring: mapping %d buffers of %d bytes: %w", entries, bufSize, err)
	}
	br := &BufRing{
		group:   group,
		mask:    uint16(entries - 1),
		bufSize: bufSize,
		ringMem: ringMem,
		bufMem:  bufMem,
		entries: unsafe.Slice((*ring.Buf)(unsafe.Pointer(unsafe.SliceData(ringMem))), entries),
		// Bid (offset 12) and the tail (offset 14, the Resv field of
		// entry 0) share this aligned 32-bit word.
		tailW: (*uint32)(unsafe.Pointer(&(*ring.Buf)(unsafe.Pointer(unsafe.SliceData(ringMem))).Bid)),
		owner: r,
	}
	reg := ring.BufReg{
		RingAddr:    uint64(uintptr(unsafe.Pointer(unsafe.SliceData(ringMem)))),
		RingEntries: uint32(entries),
		Bgid:        group,
	}
	if _, err := ring.Register(r.r.Fd, ring.IORING_REGISTER_PBUF_RING, unsafe.Pointer(&reg), 1); err != nil {
		unix.Munmap(ringMem)
		unix.Munmap(bufMem)
		switch err {
		case syscall.EEXIST:
			return nil, fmt.Errorf("uring: registering buffer ring: group %d is already registered on this ring: %w", group, err)
		case syscall.ENOMEM:
			return nil, memlockError("registering buffer ring", len(ringMem), err)
		}
		return nil, fmt.Errorf("uring: registering buffer ring for group %d: %w", group, err)
	}
	br.ringClosed = func() bool { return r.closed }
	br.unregister = func() error {
		reg := ring.BufReg{Bgid: group}
		_, err := ring.Register(r.r.Fd, ring.IORING_UNREGISTER_PBUF_RING, unsafe.Pointer(&reg), 1)
		return err
	}
	br.users = r.bufRingUsers
	if cfg.initial > 0 && cfg.initial < entries {
		// With transparent huge pages on for all memory, the kernel's
		// first write into a buffer would make the 2 MiB around it
		// resident, 32 buffers of 64 KiB: no huge pages here. A kernel
		// without them refuses the advice, which changes nothing.
		unix.Madvise(bufMem, unix.MADV_NOHUGEPAGE)
		br.lazy = true
		br.target = cfg.initial
		// The first handed out is the last in spare: bid 0.
		br.spare = make([]uint16, entries)
		for i := range br.spare {
			br.spare[i] = uint16(entries - 1 - i)
		}
		br.fill()
		return br, nil
	}
	for bid := range entries {
		br.add(uint16(bid))
	}
	br.publish()
	return br, nil
}

// used notes that a completion collected from the ring took one of br's
// buffers (or, with ENOBUFS, found none).
func (br *BufRing) used(res int32, flags uint32) {
	if !br.lazy {
		return
	}
	if flags&ring.IORING_CQE_F_BUFFER != 0 {
		br.inRing--
		br.taken++
	} else if res == -int32(syscall.ENOBUFS) {
		br.dry++
	}
}

// topUp grows a lazy ring's target if receives are using its buffers
// up (to twice what they asked for since the last Publish, buffers
// taken plus receives that found none, or at least to twice the
// target), then fills it.
func (br *BufRing) topUp() {
	if br.dry > 0 || br.inRing < br.target/2 {
		// What the last round asked for, twice over: one burst of
		// receives that ran dry sizes the ring at once.
		want := max(2*br.target, 2*(br.taken+br.dry))
		br.target = min(want, int(br.mask)+1)
	}
	br.taken, br.dry = 0, 0
	br.fill()
}

// fill hands the kernel spare buffers, the most recently handed back
// first, until it holds the target.
func (br *BufRing) fill() {
	for br.inRing < br.target && len(br.spare) > 0 {
		n := len(br.spare) - 1
		br.add(br.spare[n])
		br.spare = br.spare[:n]
		br.inRing++
	}
	br.publish()
}

// bufRingUsers counts the active operations that select buffers from br.
// The slot table is the one record of what is active, so counting there
// cannot drift from it the way a separate counter, decremented on the
// last completion, could if completions are collected by other code.
func (r *Ring[T]) bufRingUsers(br *BufRing) int {
	n := 0
	for i := range r.slots {
		if s := &r.slots[i]; s.inUse && s.mem && selectedFrom(r.mem[i].keep) == br {
			n++
		}
	}
	return n
}

// Group returns the buffer group ID, which completions' buffers come from.
func (br *BufRing) Group() uint16 { return br.group }

// Buf returns the first n bytes of buffer bid: the data a completion with
// BufferID bid and result n delivered. The slice aliases the ring's
// memory; it is valid until bid is recycled and must not be used after
// Close.
func (br *BufRing) Buf(bid uint16, n int) []byte {
	br.check(bid)
	if n < 0 || n > br.bufSize {
		panic(fmt.Sprintf("uring: BufRing.Buf(%d, %d): length outside the buffer size %d", bid, n, br.bufSize))
	}
	off := int(bid) * br.bufSize
	return br.bufMem[off : off+n : off+n]
}

// Recycle hands buffer bid back to the kernel, to be filled again. Call it
// once for each completion that delivered bid, after its data has been
// consumed; recycling a buffer the kernel still holds corrupts the ring.
func (br *BufRing) Recycle(bid uint16) {
	br.Add(bid)
	br.Publish()
}

// Add is Recycle without telling the kernel yet: the buffer is queued
// until Publish, which hands back everything added since with a single
// store. An event loop adds the buffers of a batch of completions and
// publishes once, before it next enters the kernel.
func (br *BufRing) Add(bid uint16) {
	br.check(bid)
	if br.lazy {
		br.spare = append(br.spare, bid)
		return
	}
	br.add(bid)
}

// Publish hands the buffers queued by Add to the kernel (WithInitialBuffers:
// as many of the spare ones as its target asks for).
func (br *BufRing) Publish() {
	if br.closed {
		panic("uring: use of a closed BufRing")
	}
	if br.lazy {
		br.topUp()
		return
	}
	br.publish()
}

func (br *BufRing) check(bid uint16) {
	if br.closed {
		panic("uring: use of a closed BufRing")
	}
	if int(bid) > int(br.mask) {
		panic(fmt.Sprintf("uring: buffer ID %d outside buffer ring of %d", bid, int(br.mask)+1))
	}
}

// add writes buffer bid into the next free entry (io_uring_buf_ring_add).
// The kernel does not look at it until publish moves the tail past it.
func (br *BufRing) add(bid uint16) {
	e := &br.entries[br.tail&br.mask]
	e.Addr = uint64(uintptr(unsafe.Pointer(&br.bufMem[int(bid)*br.bufSize])))
	e.Len = uint32(br.bufSize)
	e.Bid = bid
	br.tail++
}

// publish makes the added entries visible to the kernel
// (io_uring_buf_ring_advance), with a release store of the tail so that
// the kernel, which reads the tail with smp_load_acquire
// (io_uring/kbuf.c), sees the entries' contents before the tail covers
// them.
//
// The tail is a u16 sharing a 32-bit word with entry 0's bid, and Go has
// no 16-bit atomic store; so the whole word is stored. That is safe
// because this goroutine is the only writer of either half: the kernel
// only reads the tail and the bids (IOU_PBUF_RING_INC, which would let it
// write entries, is not used, and even then it writes addr and len only).
// The bid half written back is therefore the one already there, and a
// plain read of it suffices. The half-words are assembled through memory
// rather than by shifting, which keeps the code right on either
// byte order.
func (br *BufRing) publish() {
	if br.tail == br.published {
		return
	}
	br.published = br.tail
	var w [2]uint16
	*(*uint32)(unsafe.Pointer(&w)) = *br.tailW
	w[1] = br.tail
	atomic.StoreUint32(br.tailW, *(*uint32)(unsafe.Pointer(&w)))
}

// Close unregisters the buffer group and unmaps its memory. It fails,
// changing nothing, while an operation that selects from it is active:
// cancel it and collect its final completion first. If the ring was
// closed first, the kernel has already dropped the group and Close only
// unmaps.
func (br *BufRing) Close() error {
	if br.closed {
		return errBufRingClosed
	}
	if !br.ringClosed() {
		if n := br.users(br); n > 0 {
			return fmt.Errorf("uring: cannot close buffer ring of group %d: %d active operations use it; cancel them and collect their completions first", br.group, n)
		}
		if err := br.unregister(); err != nil {
			return fmt.Errorf("uring: unregistering buffer ring of group %d: %w", br.group, err)
		}
	}
	br.closed = true
	br.entries, br.spare = nil, nil
	br.tailW = nil
	errR := unix.Munmap(br.ringMem)
	errB := unix.Munmap(br.bufMem)
	br.ringMem, br.bufMem = nil, nil
	if errR != nil {
		return fmt.Errorf("uring: unmapping buffer ring: %w", errR)
	}
	if errB != nil {
		return fmt.Errorf("uring: unmapping buffers: %w", errB)
	}
	return nil
}

var (
	errBufRingClosed   = errorString("uring: BufRing already closed")
	errBufRingNotOwned = errorString("uring: BufRing belongs to another Ring")
)

// checkBufRing reports why a receive on r cannot select from br, if it
// cannot.
func (r *Ring[T]) checkBufRing(br *BufRing) error {
	switch {
	case r.closed:
		return ErrClosed
	case br == nil || br.closed:
		return errBufRingClosed
	case br.owner != any(r):
		return errBufRingNotOwned
	}
	return nil
}

// bufSelect queues a receive that takes its buffer from br.
func (r *Ring[T]) bufSelect(fd int, br *BufRing, flags int, multishot bool, data T) (Job, error) {
	if err := r.checkBufRing(br); err != nil {
		return Job{}, err
	}
	sqe, s, j, err := r.prepMem(OpRecv, data)
	if err != nil {
		return j, err
	}
	// The slot's reference is what BufRing.Close counts.
	s.keep = br
	sqe.Fd = int32(fd)
	sqe.Flags = ring.IOSQE_BUFFER_SELECT
	sqe.BufIndex = br.group // buf_group
	sqe.OpFlags = uint32(flags)
	if multishot {
		sqe.Ioprio = ring.IORING_RECV_MULTISHOT
	}
	return j, nil
}

// RecvMultishot queues a receive on the socket fd that stays armed and
// takes a buffer from br for each chunk of data: each completion's result
// is a byte count, its BufferID the buffer holding the bytes, and CQEMore
// is set while it stays armed. It ends with a completion without CQEMore:
// 0 at end of stream, an error, -ECANCELED after Cancel, or -ENOBUFS when
// br has no buffer left. After ENOBUFS, Recycle buffers and queue a new
// RecvMultishot; no data is lost, it waits in the socket. MSG_WAITALL is
// not allowed. Linux 6.0.
func (r *Ring[T]) RecvMultishot(fd int, br *BufRing, flags int, data T) (Job, error) {
	return r.bufSelect(fd, br, flags, true, data)
}

// RecvBufSelect queues a single recv(2) on the socket fd into a buffer the
// kernel takes from br when data arrives. The result is the byte count
// (0 at end of stream, which may still use a buffer: see BufferID) or
// -ENOBUFS if br had no buffer left. Linux 5.19.
func (r *Ring[T]) RecvBufSelect(fd int, br *BufRing, flags int, data T) (Job, error) {
	return r.bufSelect(fd, br, flags, false, data)
}
