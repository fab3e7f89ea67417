package uring

import (
	"fmt"

	"github.com/uring-go/uring/internal/ring"
)

// Op names an io_uring operation, as reported by the kernel's probe.
type Op uint8

// Operations, with their kernel opcodes.
const (
	OpNoop           = Op(ring.IORING_OP_NOP)
	OpReadv          = Op(ring.IORING_OP_READV)
	OpWritev         = Op(ring.IORING_OP_WRITEV)
	OpFsync          = Op(ring.IORING_OP_FSYNC)
	OpReadFixed      = Op(ring.IORING_OP_READ_FIXED)
	OpWriteFixed     = Op(ring.IORING_OP_WRITE_FIXED)
	OpPollAdd        = Op(ring.IORING_OP_POLL_ADD)
	OpPollRemove     = Op(ring.IORING_OP_POLL_REMOVE)
	OpSyncFileRange  = Op(ring.IORING_OP_SYNC_FILE_RANGE)
	OpSendMsg        = Op(ring.IORING_OP_SENDMSG)
	OpRecvMsg        = Op(ring.IORING_OP_RECVMSG)
	OpTimeout        = Op(ring.IORING_OP_TIMEOUT)
	OpTimeoutRemove  = Op(ring.IORING_OP_TIMEOUT_REMOVE)
	OpAccept         = Op(ring.IORING_OP_ACCEPT)
	OpAsyncCancel    = Op(ring.IORING_OP_ASYNC_CANCEL)
	OpLinkTimeout    = Op(ring.IORING_OP_LINK_TIMEOUT)
	OpConnect        = Op(ring.IORING_OP_CONNECT)
	OpFallocate      = Op(ring.IORING_OP_FALLOCATE)
	OpOpenat         = Op(ring.IORING_OP_OPENAT)
	OpClose          = Op(ring.IORING_OP_CLOSE)
	OpFilesUpdate    = Op(ring.IORING_OP_FILES_UPDATE)
	OpStatx          = Op(ring.IORING_OP_STATX)
	OpRead           = Op(ring.IORING_OP_READ)
	OpWrite          = Op(ring.IORING_OP_WRITE)
	OpFadvise        = Op(ring.IORING_OP_FADVISE)
	OpMadvise        = Op(ring.IORING_OP_MADVISE)
	OpSend           = Op(ring.IORING_OP_SEND)
	OpRecv           = Op(ring.IORING_OP_RECV)
	OpOpenat2        = Op(ring.IORING_OP_OPENAT2)
	OpEpollCtl       = Op(ring.IORING_OP_EPOLL_CTL)
	OpSplice         = Op(ring.IORING_OP_SPLICE)
	OpProvideBuffers = Op(ring.IORING_OP_PROVIDE_BUFFERS)
	OpRemoveBuffers  = Op(ring.IORING_OP_REMOVE_BUFFERS)
	OpTee            = Op(ring.IORING_OP_TEE)
	OpShutdown       = Op(ring.IORING_OP_SHUTDOWN)
	OpRenameat       = Op(ring.IORING_OP_RENAMEAT)
	OpUnlinkat       = Op(ring.IORING_OP_UNLINKAT)
	OpMkdirat        = Op(ring.IORING_OP_MKDIRAT)
	OpSymlinkat      = Op(ring.IORING_OP_SYMLINKAT)
	OpLinkat         = Op(ring.IORING_OP_LINKAT)
	OpMsgRing        = Op(ring.IORING_OP_MSG_RING)
	OpFsetxattr      = Op(ring.IORING_OP_FSETXATTR)
	OpSetxattr       = Op(ring.IORING_OP_SETXATTR)
	OpFgetxattr      = Op(ring.IORING_OP_FGETXATTR)
	OpGetxattr       = Op(ring.IORING_OP_GETXATTR)
	OpSocket         = Op(ring.IORING_OP_SOCKET)
	OpUringCmd       = Op(ring.IORING_OP_URING_CMD)
	OpSendZC         = Op(ring.IORING_OP_SEND_ZC)
	OpSendMsgZC      = Op(ring.IORING_OP_SENDMSG_ZC)
	OpReadMultishot  = Op(ring.IORING_OP_READ_MULTISHOT)
	OpWaitid         = Op(ring.IORING_OP_WAITID)
	OpFutexWait      = Op(ring.IORING_OP_FUTEX_WAIT)
	OpFutexWake      = Op(ring.IORING_OP_FUTEX_WAKE)
	OpFutexWaitv     = Op(ring.IORING_OP_FUTEX_WAITV)
	OpFixedFdInstall = Op(ring.IORING_OP_FIXED_FD_INSTALL)
	OpFtruncate      = Op(ring.IORING_OP_FTRUNCATE)
	OpBind           = Op(ring.IORING_OP_BIND)
	OpListen         = Op(ring.IORING_OP_LISTEN)
	OpRecvZC         = Op(ring.IORING_OP_RECV_ZC)
	OpEpollWait      = Op(ring.IORING_OP_EPOLL_WAIT)
	OpReadvFixed     = Op(ring.IORING_OP_READV_FIXED)
	OpWritevFixed    = Op(ring.IORING_OP_WRITEV_FIXED)
	OpPipe           = Op(ring.IORING_OP_PIPE)
)

// opInfo is the one place that says what each operation is called and
// which kernel added it.
var opInfo = [...]struct {
	name  string
	since string
}{
	OpNoop: {"nop", "5.1"}, OpReadv: {"readv", "5.1"}, OpWritev: {"writev", "5.1"},
	OpFsync: {"fsync", "5.1"}, OpReadFixed: {"read_fixed", "5.1"}, OpWriteFixed: {"write_fixed", "5.1"},
	OpPollAdd: {"poll_add", "5.1"}, OpPollRemove: {"poll_remove", "5.1"},
	OpSyncFileRange: {"sync_file_range", "5.2"}, OpSendMsg: {"sendmsg", "5.3"}, OpRecvMsg: {"recvmsg", "5.3"},
	OpTimeout: {"timeout", "5.4"}, OpTimeoutRemove: {"timeout_remove", "5.5"}, OpAccept: {"accept", "5.5"},
	OpAsyncCancel: {"async_cancel", "5.5"}, OpLinkTimeout: {"link_timeout", "5.5"}, OpConnect: {"connect", "5.5"},
	OpFallocate: {"fallocate", "5.6"}, OpOpenat: {"openat", "5.6"}, OpClose: {"close", "5.6"},
	OpFilesUpdate: {"files_update", "5.6"}, OpStatx: {"statx", "5.6"}, OpRead: {"read", "5.6"},
	OpWrite: {"write", "5.6"}, OpFadvise: {"fadvise", "5.6"}, OpMadvise: {"madvise", "5.6"},
	OpSend: {"send", "5.6"}, OpRecv: {"recv", "5.6"}, OpOpenat2: {"openat2", "5.6"},
	OpEpollCtl: {"epoll_ctl", "5.6"}, OpSplice: {"splice", "5.7"}, OpProvideBuffers: {"provide_buffers", "5.7"},
	OpRemoveBuffers: {"remove_buffers", "5.7"}, OpTee: {"tee", "5.8"}, OpShutdown: {"shutdown", "5.11"},
	OpRenameat: {"renameat", "5.11"}, OpUnlinkat: {"unlinkat", "5.11"}, OpMkdirat: {"mkdirat", "5.15"},
	OpSymlinkat: {"symlinkat", "5.15"}, OpLinkat: {"linkat", "5.15"}, OpMsgRing: {"msg_ring", "5.18"},
	OpFsetxattr: {"fsetxattr", "5.19"}, OpSetxattr: {"setxattr", "5.19"}, OpFgetxattr: {"fgetxattr", "5.19"},
	OpGetxattr: {"getxattr", "5.19"}, OpSocket: {"socket", "5.19"}, OpUringCmd: {"uring_cmd", "5.19"},
	OpSendZC: {"send_zc", "6.0"}, OpSendMsgZC: {"sendmsg_zc", "6.1"}, OpReadMultishot: {"read_multishot", "6.7"},
	OpWaitid: {"waitid", "6.7"}, OpFutexWait: {"futex_wait", "6.7"}, OpFutexWake: {"futex_wake", "6.7"},
	OpFutexWaitv: {"futex_waitv", "6.7"}, OpFixedFdInstall: {"fixed_fd_install", "6.8"},
	OpFtruncate: {"ftruncate", "6.9"}, OpBind: {"bind", "6.11"}, OpListen: {"listen", "6.11"},
	OpRecvZC: {"recv_zc", "6.15"}, OpEpollWait: {"epoll_wait", "6.15"}, OpReadvFixed: {"readv_fixed", "6.15"},
	OpWritevFixed: {"writev_fixed", "6.15"}, OpPipe: {"pipe", "6.16"},
}

// String returns the operation's name as liburing spells it, without the
// IORING_OP_ prefix, in lower case.
func (o Op) String() string {
	if int(o) < len(opInfo) && opInfo[o].name != "" {
		return opInfo[o].name
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Since returns the Linux version that added the operation, or "unknown".
func (o Op) Since() string {
	if int(o) < len(opInfo) && opInfo[o].since != "" {
		return opInfo[o].since
	}
	return "unknown"
}
