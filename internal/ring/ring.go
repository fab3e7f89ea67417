package ring

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ring is a set-up io_uring instance: its fd and the mmap'd submission and
// completion rings. The zero value is not usable; call New.
type Ring struct {
	Fd     int
	Params Params

	sqRing []byte // mmap of the SQ ring (and the CQ ring too with SINGLE_MMAP)
	cqRing []byte // separate CQ mmap, nil with SINGLE_MMAP
	sqeMem []byte

	// Pointers into shared memory. The kernel writes sqHead, cqTail,
	// sqFlags, cqOverflow; we write sqTail, cqHead, sqArray entries and
	// SQEs.
	sqHead    *uint32
	sqTail    *uint32
	sqFlags   *uint32
	sqDropped *uint32
	sqArray   unsafe.Pointer // *uint32 array of SQEntries
	sqes      unsafe.Pointer // *SQE array of SQEntries
	sqMask    uint32
	sqEntries uint32
	// sqeShift is log2 of an SQE's size in bytes: 7 with
	// IORING_SETUP_SQE128, whose entries are 128 bytes, else 6.
	sqeShift uint32

	cqHead     *uint32
	cqTail     *uint32
	cqFlags    *uint32
	cqOverflow *uint32
	cqes       unsafe.Pointer // *CQE array of CQEntries
	cqMask     uint32
	cqEntries  uint32
	// cqeShift is log2 of a CQE's size in bytes: 5 with
	// IORING_SETUP_CQE32, whose entries are 32 bytes, else 4.
	cqeShift uint32
	// cqTailSeen is the last CQ tail read from the kernel: entries up to
	// it are known to be posted without another acquire load.
	cqTailSeen uint32
	// cqHeadLocal counts CQEs consumed; the shared head is moved to it
	// lazily (PublishCQ), since Go's atomic store is a full barrier and
	// costs as much as the rest of collecting a completion.
	cqHeadLocal uint32

	// sqHeadSeen is the last SQ head read from the kernel; GetSQE only
	// reads the shared head again when the queue looks full.
	sqHeadSeen uint32

	// sqeTail counts SQEs handed out by GetSQE; sqeHead counts SQEs
	// published to the kernel by Flush. Both only grow (mod 2^32).
	sqeHead uint32
	sqeTail uint32
}

// New sets up a ring with io_uring_setup and maps its memory. p carries the
// setup flags and options in; on return it holds what the kernel filled in.
func New(entries uint32, p *Params) (*Ring, error) {
	fd, err := Setup(entries, p)
	if err != nil {
		return nil, err
	}
	r := &Ring{Fd: fd, Params: *p}
	if err := r.mmap(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return r, nil
}

func (r *Ring) mmap() error {
	p := &r.Params
	// Big entries: the kernel indexes its arrays with the larger
	// stride, and so must we (liburing's io_uring_sqe_shift and
	// io_uring_cqe_shift).
	r.sqeShift, r.cqeShift = sqeLog, cqeLog
	if p.Flags&IORING_SETUP_SQE128 != 0 {
		r.sqeShift++
	}
	if p.Flags&IORING_SETUP_CQE32 != 0 {
		r.cqeShift++
	}
	sqSize := uintptr(p.SQOff.Array) + uintptr(p.SQEntries)*4
	cqSize := uintptr(p.CQOff.Cqes) + uintptr(p.CQEntries)<<r.cqeShift
	single := p.Features&IORING_FEAT_SINGLE_MMAP != 0
	if single && cqSize > sqSize {
		sqSize = cqSize
	}
	var err error
	r.sqRing, err = unix.Mmap(r.Fd, IORING_OFF_SQ_RING, int(sqSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap io_uring SQ ring: %w", err)
	}
	cq := r.sqRing
	if !single {
		r.cqRing, err = unix.Mmap(r.Fd, IORING_OFF_CQ_RING, int(cqSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			r.unmap()
			return fmt.Errorf("mmap io_uring CQ ring: %w", err)
		}
		cq = r.cqRing
	}
	r.sqeMem, err = unix.Mmap(r.Fd, IORING_OFF_SQES, int(uintptr(p.SQEntries)<<r.sqeShift), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.unmap()
		return fmt.Errorf("mmap io_uring SQE array: %w", err)
	}

	sq := unsafe.Pointer(&r.sqRing[0])
	r.sqHead = (*uint32)(unsafe.Add(sq, p.SQOff.Head))
	r.sqTail = (*uint32)(unsafe.Add(sq, p.SQOff.Tail))
	r.sqFlags = (*uint32)(unsafe.Add(sq, p.SQOff.Flags))
	r.sqDropped = (*uint32)(unsafe.Add(sq, p.SQOff.Dropped))
	r.sqArray = unsafe.Add(sq, p.SQOff.Array)
	r.sqMask = *(*uint32)(unsafe.Add(sq, p.SQOff.RingMask))
	r.sqEntries = *(*uint32)(unsafe.Add(sq, p.SQOff.RingEntries))
	r.sqes = unsafe.Pointer(&r.sqeMem[0])

	c := unsafe.Pointer(&cq[0])
	r.cqHead = (*uint32)(unsafe.Add(c, p.CQOff.Head))
	r.cqTail = (*uint32)(unsafe.Add(c, p.CQOff.Tail))
	r.cqOverflow = (*uint32)(unsafe.Add(c, p.CQOff.Overflow))
	if p.CQOff.Flags != 0 {
		r.cqFlags = (*uint32)(unsafe.Add(c, p.CQOff.Flags))
	}
	r.cqes = unsafe.Add(c, p.CQOff.Cqes)
	r.cqMask = *(*uint32)(unsafe.Add(c, p.CQOff.RingMask))
	r.cqEntries = *(*uint32)(unsafe.Add(c, p.CQOff.RingEntries))

	// The SQ index array is an indirection we do not use: entry i always
	// names SQE i, as liburing sets it up.
	if p.Flags&IORING_SETUP_NO_SQARRAY == 0 {
		for i := uint32(0); i < r.sqEntries; i++ {
			*(*uint32)(unsafe.Add(r.sqArray, uintptr(i)*4)) = i
		}
	}
	return nil
}

func (r *Ring) unmap() {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
		r.sqeMem = nil
	}
	if r.cqRing != nil {
		unix.Munmap(r.cqRing)
		r.cqRing = nil
	}
	if r.sqRing != nil {
		unix.Munmap(r.sqRing)
		r.sqRing = nil
	}
}

// Close unmaps the rings and closes the ring fd. The kernel cancels
// whatever is still in flight and frees the ring once its own references
// are gone.
func (r *Ring) Close() error {
	r.unmap()
	return unix.Close(r.Fd)
}

// SQEntries is the number of SQ slots the kernel gave.
func (r *Ring) SQEntries() uint32 { return r.sqEntries }

// CQEntries is the number of CQ slots the kernel gave.
func (r *Ring) CQEntries() uint32 { return r.cqEntries }

// GetSQE returns the next free SQE, zeroed, or nil if the submission queue
// is full. The SQE becomes visible to the kernel at the next Flush.
func (r *Ring) GetSQE() *SQE {
	if r.sqeTail-r.sqHeadSeen >= r.sqEntries {
		r.sqHeadSeen = r.sqeHeadKernel()
		if r.sqeTail-r.sqHeadSeen >= r.sqEntries {
			return nil
		}
	}
	sqe := r.SQEAt(r.sqeTail)
	r.sqeTail++
	*sqe = SQE{}
	if r.sqeShift != sqeLog {
		// The second half of a 128-byte entry carries command data
		// (uring_cmd); clear what a previous user left there.
		*(*SQE)(unsafe.Add(unsafe.Pointer(sqe), unsafe.Sizeof(SQE{}))) = SQE{}
	}
	return sqe
}

// log2 of the sizes of SQE{} and CQE{}, the entries' size without
// IORING_SETUP_SQE128 and IORING_SETUP_CQE32.
const (
	sqeLog = 6
	cqeLog = 4
)

// SQE{} and CQE{} are 1<<sqeLog and 1<<cqeLog bytes: the build fails
// otherwise.
const _ = uint(1<<sqeLog-unsafe.Sizeof(SQE{})) + uint(unsafe.Sizeof(SQE{})-1<<sqeLog) +
	uint(1<<cqeLog-unsafe.Sizeof(CQE{})) + uint(unsafe.Sizeof(CQE{})-1<<cqeLog)

// sqeHeadKernel is the kernel's SQ head: SQEs before it have been consumed.
// Without SQPOLL the kernel only moves it inside io_uring_enter, which we
// called, so a plain read would do; with SQPOLL the kernel thread moves it
// at any time, and the acquire load orders our reuse of those SQEs after the
// kernel's reads of them.
func (r *Ring) sqeHeadKernel() uint32 {
	return atomic.LoadUint32(r.sqHead)
}

// SQEAt returns the SQE with sequence number seq (as counted by SQETail),
// which must not have been flushed yet.
func (r *Ring) SQEAt(seq uint32) *SQE {
	// The shift is masked to 63, which it never reaches, so that the
	// compiler need not handle shifts of 64 or more.
	return (*SQE)(unsafe.Add(r.sqes, uintptr(seq&r.sqMask)<<(r.sqeShift&63)))
}

// SQETail is the sequence number the next SQE from GetSQE will have.
func (r *Ring) SQETail() uint32 { return r.sqeTail }

// SQEHead is the sequence number of the first SQE not yet flushed.
func (r *Ring) SQEHead() uint32 { return r.sqeHead }

// Unflushed is how many SQEs were handed out but not yet flushed.
func (r *Ring) Unflushed() uint32 { return r.sqeTail - r.sqeHead }

// Flush publishes the SQEs handed out since the last Flush to the kernel by
// moving the SQ tail, and returns how many SQEs the kernel has not yet
// consumed.
func (r *Ring) Flush() uint32 {
	if r.sqeTail != r.sqeHead {
		r.sqeHead = r.sqeTail
		// Release: the kernel reads the SQEs after it sees the new tail
		// (io_uring.h: "the application must use a release store").
		atomic.StoreUint32(r.sqTail, r.sqeTail)
	}
	return r.sqeTail - atomic.LoadUint32(r.sqHead)
}

// SQReady is the number of SQEs flushed but not yet consumed by the kernel.
func (r *Ring) SQReady() uint32 {
	return atomic.LoadUint32(r.sqTail) - atomic.LoadUint32(r.sqHead)
}

// SQFlags reads the SQ ring flags (IORING_SQ_*).
func (r *Ring) SQFlags() uint32 { return atomic.LoadUint32(r.sqFlags) }

// Dropped is the kernel's count of invalid SQEs it skipped.
func (r *Ring) Dropped() uint32 { return atomic.LoadUint32(r.sqDropped) }

// CQReady is the number of CQEs posted and not yet consumed.
func (r *Ring) CQReady() uint32 {
	r.PublishCQ()
	// Acquire: CQE contents written by the kernel before it moved the
	// tail are visible once we see the tail.
	r.cqTailSeen = atomic.LoadUint32(r.cqTail)
	return r.cqTailSeen - r.cqHeadLocal
}

// CQEAt copies the CQE at head+i. i must be below CQReady().
func (r *Ring) CQEAt(i uint32) CQE {
	return *r.cqeAt(r.cqHeadLocal + i)
}

// cqeAt points at the CQE with sequence number seq. With
// IORING_SETUP_CQE32 it is the first half of a 32-byte entry; the second
// half (big_cqe) carries extra results only uring_cmd uses.
func (r *Ring) cqeAt(seq uint32) *CQE {
	return (*CQE)(unsafe.Add(r.cqes, uintptr(seq&r.cqMask)<<(r.cqeShift&63)))
}

// PeekCQE copies the oldest unconsumed CQE, if any. The caller advances
// past it with AdvanceCQ once it has what it needs; the copy is taken
// before that so the kernel can reuse the slot right away.
func (r *Ring) PeekCQE() (CQE, bool) {
	head := r.cqHeadLocal
	if r.cqTailSeen == head && !r.refreshCQ() {
		return CQE{}, false
	}
	return *r.cqeAt(head), true
}

// refreshCQ is PeekCQE's path for when everything seen so far is
// consumed: it hands the slots back before looking for more, and reports
// whether there are more. It is apart so that PeekCQE inlines.
func (r *Ring) refreshCQ() bool {
	r.PublishCQ()
	r.cqTailSeen = atomic.LoadUint32(r.cqTail)
	return r.cqTailSeen != r.cqHeadLocal
}

// AdvanceCQ marks n CQEs consumed. The kernel learns of it at the next
// PublishCQ, which PeekCQE calls once it has consumed all it has seen;
// callers must call PublishCQ before waiting in io_uring_enter.
func (r *Ring) AdvanceCQ(n uint32) {
	r.cqHeadLocal += n
}

// PublishCQ hands consumed CQ slots back to the kernel.
func (r *Ring) PublishCQ() {
	if *r.cqHead != r.cqHeadLocal {
		// Release: our reads of the CQEs happen before the kernel may
		// overwrite them.
		atomic.StoreUint32(r.cqHead, r.cqHeadLocal)
	}
}

// Overflow is the kernel's count of CQEs it could not post or keep. With
// IORING_FEAT_NODROP this stays 0 unless the kernel ran out of memory.
func (r *Ring) Overflow() uint32 { return atomic.LoadUint32(r.cqOverflow) }

// CQFlags reads the CQ ring flags, or 0 on kernels without them.
func (r *Ring) CQFlags() uint32 {
	if r.cqFlags == nil {
		return 0
	}
	return atomic.LoadUint32(r.cqFlags)
}

// SetCQFlags writes the CQ ring flags (IORING_CQ_EVENTFD_DISABLED).
func (r *Ring) SetCQFlags(f uint32) {
	if r.cqFlags != nil {
		atomic.StoreUint32(r.cqFlags, f)
	}
}

// Unpublish takes back every SQE the kernel has not consumed, published or
// not: the SQ tail moves back to the kernel's head, and SQEHead and
// SQETail with it. It is sound only while nothing can consume the SQ
// meanwhile: no SQPOLL thread, and no io_uring_enter call in progress on
// the ring. It returns the sequence numbers [from, to) of the SQEs taken
// back, whose contents are still readable with SQEAt.
func (r *Ring) Unpublish() (from, to uint32) {
	from, to = atomic.LoadUint32(r.sqHead), r.sqeTail
	r.sqeTail, r.sqeHead = from, from
	atomic.StoreUint32(r.sqTail, from)
	return from, to
}
