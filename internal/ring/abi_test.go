package ring

import (
	"testing"
	"unsafe"
)

// The layouts below are those of include/uapi/linux/io_uring.h.
func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(io_uring_sqe)", unsafe.Sizeof(SQE{}), 64},
		{"sqe.opcode", unsafe.Offsetof(SQE{}.Opcode), 0},
		{"sqe.flags", unsafe.Offsetof(SQE{}.Flags), 1},
		{"sqe.ioprio", unsafe.Offsetof(SQE{}.Ioprio), 2},
		{"sqe.fd", unsafe.Offsetof(SQE{}.Fd), 4},
		{"sqe.off", unsafe.Offsetof(SQE{}.Off), 8},
		{"sqe.addr", unsafe.Offsetof(SQE{}.Addr), 16},
		{"sqe.len", unsafe.Offsetof(SQE{}.Len), 24},
		{"sqe.rw_flags", unsafe.Offsetof(SQE{}.OpFlags), 28},
		{"sqe.user_data", unsafe.Offsetof(SQE{}.UserData), 32},
		{"sqe.buf_index", unsafe.Offsetof(SQE{}.BufIndex), 40},
		{"sqe.personality", unsafe.Offsetof(SQE{}.Personality), 42},
		{"sqe.splice_fd_in", unsafe.Offsetof(SQE{}.SpliceFdIn), 44},
		{"sqe.addr3", unsafe.Offsetof(SQE{}.Addr3), 48},
		{"sizeof(io_uring_cqe)", unsafe.Sizeof(CQE{}), 16},
		{"cqe.user_data", unsafe.Offsetof(CQE{}.UserData), 0},
		{"cqe.res", unsafe.Offsetof(CQE{}.Res), 8},
		{"cqe.flags", unsafe.Offsetof(CQE{}.Flags), 12},
		{"sizeof(io_sqring_offsets)", unsafe.Sizeof(SQRingOffsets{}), 40},
		{"sizeof(io_cqring_offsets)", unsafe.Sizeof(CQRingOffsets{}), 40},
		{"sizeof(io_uring_params)", unsafe.Sizeof(Params{}), 120},
		{"params.sq_off", unsafe.Offsetof(Params{}.SQOff), 40},
		{"params.cq_off", unsafe.Offsetof(Params{}.CQOff), 80},
		{"sizeof(io_uring_getevents_arg)", unsafe.Sizeof(GeteventsArg{}), 24},
		{"getevents_arg.ts", unsafe.Offsetof(GeteventsArg{}.Ts), 16},
		{"sizeof(__kernel_timespec)", unsafe.Sizeof(Timespec{}), 16},
		{"sizeof(io_uring_probe_op)", unsafe.Sizeof(ProbeOp{}), 8},
		{"sizeof(io_uring_probe)", unsafe.Sizeof(ProbeHeader{}), 16},
		{"probe.ops", unsafe.Offsetof(Probe{}.Ops), 16},
		{"sizeof(io_uring_buf)", unsafe.Sizeof(Buf{}), 16},
		{"buf.bid", unsafe.Offsetof(Buf{}.Bid), 12},
		{"sizeof(io_uring_buf_reg)", unsafe.Sizeof(BufReg{}), 40},
		{"sizeof(io_uring_rsrc_register)", unsafe.Sizeof(RsrcRegister{}), 32},
		{"sizeof(io_uring_rsrc_update2)", unsafe.Sizeof(RsrcUpdate2{}), 32},
		{"sizeof(io_uring_recvmsg_out)", unsafe.Sizeof(RecvmsgOut{}), 16},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}
