package uring

import (
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// StatxAttr is a set of file attributes statx(2) reports
// (STATX_ATTR_*): Statx_t.Attributes holds those set on the file and
// Statx_t.Attributes_mask those the file system supports, so that a clear
// bit can be told from one the file system does not know. Read both with
// StatxAttrs.
type StatxAttr uint64

// File attributes.
const (
	// StatxAttrCompressed: the file system stores the file compressed.
	StatxAttrCompressed = StatxAttr(unix.STATX_ATTR_COMPRESSED)
	// StatxAttrImmutable: the file cannot be changed, removed or linked
	// to (chattr +i).
	StatxAttrImmutable = StatxAttr(unix.STATX_ATTR_IMMUTABLE)
	// StatxAttrAppend: the file can only be opened for appending
	// (chattr +a).
	StatxAttrAppend = StatxAttr(unix.STATX_ATTR_APPEND)
	// StatxAttrNodump: backup programs skip the file (chattr +d).
	StatxAttrNodump = StatxAttr(unix.STATX_ATTR_NODUMP)
	// StatxAttrEncrypted: reading the file needs a key (fscrypt).
	StatxAttrEncrypted = StatxAttr(unix.STATX_ATTR_ENCRYPTED)
	// StatxAttrAutomount: the directory is an automount trigger.
	StatxAttrAutomount = StatxAttr(unix.STATX_ATTR_AUTOMOUNT)
	// StatxAttrMountRoot: the path is the root of a mount. Linux 5.8.
	StatxAttrMountRoot = StatxAttr(unix.STATX_ATTR_MOUNT_ROOT)
	// StatxAttrVerity: the file is protected by fs-verity; reads check
	// its Merkle tree. Linux 5.5.
	StatxAttrVerity = StatxAttr(unix.STATX_ATTR_VERITY)
	// StatxAttrDax: the file is in DAX state: reads and writes go to
	// persistent memory directly, bypassing the page cache. Linux 5.8.
	StatxAttrDax = StatxAttr(unix.STATX_ATTR_DAX)
	// StatxAttrWriteAtomic: the file supports RWFAtomic writes (see
	// StatxWriteAtomic for their limits). Linux 6.11.
	StatxAttrWriteAtomic = StatxAttr(unix.STATX_ATTR_WRITE_ATOMIC)
)

// StatxAttrs returns the attributes set on the file st describes and the
// attributes its file system supports: a bit in supported but not in set
// is known to be off; a bit in neither is unknown. st must have been
// filled by a completed Statx.
//
// It is the Go form of OCaml's Statx.Attr.check: a.Has(StatxAttrImmutable)
// on set, and on supported where the answer must be definite.
func StatxAttrs(st *unix.Statx_t) (set, supported StatxAttr) {
	return StatxAttr(st.Attributes), StatxAttr(st.Attributes_mask)
}

// Has reports whether every attribute in b is in a.
func (a StatxAttr) Has(b StatxAttr) bool { return a&b == b }

var statxAttrNames = []struct {
	a    StatxAttr
	name string
}{
	{StatxAttrCompressed, "compressed"}, {StatxAttrImmutable, "immutable"},
	{StatxAttrAppend, "append"}, {StatxAttrNodump, "nodump"},
	{StatxAttrEncrypted, "encrypted"}, {StatxAttrAutomount, "automount"},
	{StatxAttrMountRoot, "mount_root"}, {StatxAttrVerity, "verity"},
	{StatxAttrDax, "dax"}, {StatxAttrWriteAtomic, "write_atomic"},
}

// String lists the attributes by their kernel names without the
// STATX_ATTR_ prefix, in lower case and separated by "|"; bits without a
// name are shown in hex.
func (a StatxAttr) String() string {
	if a == 0 {
		return "0"
	}
	var b strings.Builder
	for _, n := range statxAttrNames {
		if a&n.a != 0 {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(n.name)
			a &^= n.a
		}
	}
	if a != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString("0x")
		b.WriteString(strconv.FormatUint(uint64(a), 16))
	}
	return b.String()
}

// haveWriteZeroes reports whether the kernel knows FALLOC_FL_WRITE_ZEROES
// (Linux 6.17). vfs_fallocate checks the mode before whether the file is
// open for writing, so a fallocate of the read end of a pipe with that
// mode fails with EOPNOTSUPP on a kernel that does not know it and with
// EBADF on one that does, touching nothing either way. Any other answer
// is not conclusive: the operation is then left to the kernel, and is not
// cached.
func haveWriteZeroes() bool {
	if v := writeZeroes.Load(); v != 0 {
		return v > 0
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return true
	}
	err := unix.Fallocate(p[0], unix.FALLOC_FL_WRITE_ZEROES, 0, 1)
	unix.Close(p[0])
	unix.Close(p[1])
	switch err {
	case syscall.EBADF:
		writeZeroes.Store(1)
		return true
	case syscall.EOPNOTSUPP:
		writeZeroes.Store(-1)
		return false
	}
	return true
}

// writeZeroes caches haveWriteZeroes' conclusive answer: 1 yes, -1 no,
// 0 not yet known.
var writeZeroes atomic.Int32

var errWriteZeroes = &UnsupportedFeatureError{Feature: "fallocate mode FALLOC_FL_WRITE_ZEROES", Since: "6.17"}
