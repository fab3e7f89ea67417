package uring

import (
	"fmt"
	"syscall"
	"unsafe"

	"github.com/uring-go/uring/internal/ring"
)

// Probe records which operations the running kernel supports, as reported
// by IORING_REGISTER_PROBE.
type Probe struct {
	supported [256 / 64]uint64
	lastOp    Op
}

// Supported reports whether the kernel supports op.
func (p *Probe) Supported(op Op) bool {
	return p.supported[op/64]&(1<<(op%64)) != 0
}

// LastOp is the highest opcode the kernel knows.
func (p *Probe) LastOp() Op { return p.lastOp }

// loadProbe asks the kernel once, at New. Every kernel with the features
// this package requires (5.19+) has the probe; a failure is conclusive.
func (r *Ring[T]) loadProbe() error {
	var kp ring.Probe
	if _, err := ring.Register(r.r.Fd, ring.IORING_REGISTER_PROBE, unsafe.Pointer(&kp), uint32(len(kp.Ops))); err != nil {
		// Refused by policy (a seccomp profile that allows
		// io_uring_setup but not io_uring_register): io_uring cannot be
		// used, as if setup had failed, and the error says so.
		if errno, ok := err.(syscall.Errno); ok && (errno == syscall.EPERM || errno == syscall.EACCES || errno == syscall.ENOSYS) {
			return newSetupError("io_uring_register", errno)
		}
		return fmt.Errorf("uring: probing supported operations: %w", err)
	}
	r.probe.lastOp = Op(kp.Header.LastOp)
	for i := 0; i < int(kp.Header.OpsLen) && i < len(kp.Ops); i++ {
		if kp.Ops[i].Flags&ring.IO_URING_OP_SUPPORTED != 0 {
			op := Op(kp.Ops[i].Op)
			r.probe.supported[op/64] |= 1 << (op % 64)
		}
	}
	return nil
}

// Probe returns the kernel's supported operations.
func (r *Ring[T]) Probe() (*Probe, error) {
	if r.closed {
		return nil, ErrClosed
	}
	p := r.probe
	return &p, nil
}

// OpSupported reports whether the running kernel supports op. It is false
// on a closed ring.
func (r *Ring[T]) OpSupported(op Op) bool {
	return !r.closed && r.probe.Supported(op)
}
