package ring

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Setup calls io_uring_setup(2). The kernel fills in p.
func Setup(entries uint32, p *Params) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// Enter calls io_uring_enter(2). arg and argSz are passed through: a signal
// mask, or a *GeteventsArg with IORING_ENTER_EXT_ARG.
//
// The system call is made with unix.Syscall6 so that the runtime can hand
// this goroutine's P to another while it waits in the kernel.
func Enter(fd int, toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSz uintptr) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags), uintptr(arg), argSz)
	if errno != 0 {
		return int(n), errno
	}
	return int(n), nil
}

// EnterNoWait is Enter for calls that do not wait for completions (minComplete
// 0, no IORING_ENTER_GETEVENTS). It skips the runtime's blocking-syscall
// bookkeeping, which costs as much as the submission of a cheap operation.
// Operations that can complete inline (a read from the page cache, a send
// into a socket buffer) still run during the call, as they would in a
// read(2) or send(2) made the same way.
//
// It calls syscall.RawSyscall6 itself: unix.RawSyscall6 is an assembly
// jump to it, which costs a wrapper that spills every argument.
func EnterNoWait(fd int, toSubmit, flags uint32) (int, error) {
	n, _, errno := syscall.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), uintptr(toSubmit), 0, uintptr(flags), 0, 0)
	if errno != 0 {
		return int(n), errno
	}
	return int(n), nil
}

// Register calls io_uring_register(2).
func Register(fd int, opcode uint32, arg unsafe.Pointer, nrArgs uint32) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(fd), uintptr(opcode), uintptr(arg), uintptr(nrArgs), 0, 0)
	if errno != 0 {
		return int(n), errno
	}
	return int(n), nil
}
