package uringfs

import "github.com/uring-go/uring/internal/fdlife"

// fdMu is a File's reference count (fdlife.Refs): every operation holds a
// reference while the kernel may use the fd number, and Close runs
// close(2) after the last one is dropped, so the number is never reused
// by another open while an operation still names it.
type fdMu struct{ fdlife.Refs }

// incref takes a reference; it fails once the file is closed.
func (m *fdMu) incref() bool { return m.Incref() }

// decref drops a reference.
func (m *fdMu) decref() { m.Decref() }
