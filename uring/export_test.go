package uring

// Test hooks, as the standard library keeps them: in the package's own
// tests only.

// Mask hides ops from the probe, so that the ring reports them unsupported
// and refuses them, for testing the paths taken without them.
func (p *Probe) Mask(ops ...Op) {
	for _, op := range ops {
		p.supported[op/64] &^= 1 << (op % 64)
	}
}

// MaskOps makes the ring treat ops as unsupported by the kernel, as if the
// probe had not listed them; see Probe.Mask.
func (r *Ring[T]) MaskOps(ops ...Op) { r.probe.Mask(ops...) }
