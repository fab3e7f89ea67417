package ring

import "structs"

// SQE is struct io_uring_sqe: one submission queue entry (64 bytes).
//
// Several kernel fields are unions; the Go field carries the name of the
// most common member and the comment lists the others.
type SQE struct {
	_        structs.HostLayout
	Opcode   Op     // IORING_OP_*
	Flags    uint8  // IOSQE_*
	Ioprio   uint16 // ioprio; also accept/recv/send flags for some ops
	Fd       int32  // file descriptor (or registered file index)
	Off      uint64 // off | addr2 | cmd_op
	Addr     uint64 // addr | splice_off_in
	Len      uint32 // buffer length, iovec count, mode, ...
	OpFlags  uint32 // rw_flags | fsync_flags | poll32_events | msg_flags | timeout_flags | ...
	UserData uint64 // returned in the CQE
	BufIndex uint16 // buf_index | buf_group
	// Personality is the credentials id registered with IORING_REGISTER_PERSONALITY.
	Personality uint16
	SpliceFdIn  int32 // splice_fd_in | file_index | addr_len (low 16 bits)
	Addr3       uint64
	_           uint64
}

// CQE is struct io_uring_cqe: one completion queue entry (16 bytes).
type CQE struct {
	_        structs.HostLayout
	UserData uint64
	Res      int32
	Flags    uint32
}

// SQRingOffsets is struct io_sqring_offsets.
type SQRingOffsets struct {
	_           structs.HostLayout
	Head        uint32
	Tail        uint32
	RingMask    uint32
	RingEntries uint32
	Flags       uint32
	Dropped     uint32
	Array       uint32
	Resv1       uint32
	UserAddr    uint64
}

// CQRingOffsets is struct io_cqring_offsets.
type CQRingOffsets struct {
	_           structs.HostLayout
	Head        uint32
	Tail        uint32
	RingMask    uint32
	RingEntries uint32
	Overflow    uint32
	Cqes        uint32
	Flags       uint32
	Resv1       uint32
	UserAddr    uint64
}

// Params is struct io_uring_params, passed to io_uring_setup and filled in
// by the kernel.
type Params struct {
	_            structs.HostLayout
	SQEntries    uint32
	CQEntries    uint32
	Flags        uint32
	SQThreadCPU  uint32
	SQThreadIdle uint32
	Features     uint32
	WQFd         uint32
	Resv         [3]uint32
	SQOff        SQRingOffsets
	CQOff        CQRingOffsets
}

// GeteventsArg is struct io_uring_getevents_arg, passed to io_uring_enter
// with IORING_ENTER_EXT_ARG.
type GeteventsArg struct {
	_         structs.HostLayout
	Sigmask   uint64
	SigmaskSz uint32
	MinWaitUs uint32
	Ts        uint64 // pointer to a Timespec
}

// Timespec is struct __kernel_timespec.
type Timespec struct {
	_    structs.HostLayout
	Sec  int64
	Nsec int64
}

// ProbeOp is struct io_uring_probe_op.
type ProbeOp struct {
	_     structs.HostLayout
	Op    Op
	Resv  uint8
	Flags uint16 // IO_URING_OP_SUPPORTED
	Resv2 uint32
}

// ProbeHeader is the fixed part of struct io_uring_probe; ProbeOps entries
// follow it in memory.
type ProbeHeader struct {
	_      structs.HostLayout
	LastOp Op
	OpsLen uint8
	Resv   uint16
	Resv2  [3]uint32
}

// Probe is struct io_uring_probe with room for every opcode a kernel can
// report.
type Probe struct {
	_      structs.HostLayout
	Header ProbeHeader
	Ops    [256]ProbeOp
}

// Buf is struct io_uring_buf, one entry of a provided-buffer ring.
type Buf struct {
	_    structs.HostLayout
	Addr uint64
	Len  uint32
	Bid  uint16
	Resv uint16 // in entry 0 this is the ring's tail
}

// BufReg is struct io_uring_buf_reg, the argument of
// IORING_REGISTER_PBUF_RING.
type BufReg struct {
	_           structs.HostLayout
	RingAddr    uint64
	RingEntries uint32
	Bgid        uint16
	Flags       uint16
	Resv        [3]uint64
}

// RsrcRegister is struct io_uring_rsrc_register (IORING_REGISTER_FILES2,
// IORING_REGISTER_BUFFERS2).
type RsrcRegister struct {
	_     structs.HostLayout
	Nr    uint32
	Flags uint32
	Resv2 uint64
	Data  uint64
	Tags  uint64
}

// RsrcUpdate2 is struct io_uring_rsrc_update2 (IORING_REGISTER_FILES_UPDATE2).
type RsrcUpdate2 struct {
	_      structs.HostLayout
	Offset uint32
	Resv   uint32
	Data   uint64
	Tags   uint64
	Nr     uint32
	Resv2  uint32
}

// RecvmsgOut is struct io_uring_recvmsg_out, which heads each buffer filled
// by a multishot recvmsg.
type RecvmsgOut struct {
	_          structs.HostLayout
	Namelen    uint32
	Controllen uint32
	Payloadlen uint32
	Flags      uint32
}
