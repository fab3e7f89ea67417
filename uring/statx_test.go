package uring

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStatxMntIDDioalign asks the ring's statx for the mount ID and the
// direct I/O alignment and checks them against statx(2) made directly.
func TestStatxMntIDDioalign(t *testing.T) {
	r := newRing[int](t, 4)
	must := runner(t, r)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var st, want unix.Statx_t
	ok(t, must(r.Statx(AtFdcwd, path, AtStatxSyncAsStat, StatxMntID|StatxDioalign, &st, 0)), "statx")
	if err := unix.Statx(unix.AT_FDCWD, path, 0, StatxMntID|StatxDioalign, &want); err != nil {
		t.Fatal(err)
	}
	if st.Mask&StatxMntID == 0 || st.Mnt_id == 0 || st.Mnt_id != want.Mnt_id {
		t.Errorf("mask %#x, mount ID %d; want STATX_MNT_ID and %d", st.Mask, st.Mnt_id, want.Mnt_id)
	}
	if st.Mask&StatxDioalign != want.Mask&StatxDioalign || st.Dio_mem_align != want.Dio_mem_align || st.Dio_offset_align != want.Dio_offset_align {
		t.Errorf("dioalign: mask bit %v, mem %d, offset %d; statx(2) says %v, %d, %d",
			st.Mask&StatxDioalign != 0, st.Dio_mem_align, st.Dio_offset_align,
			want.Mask&StatxDioalign != 0, want.Dio_mem_align, want.Dio_offset_align)
	}
}

// fsNodumpFl is FS_NODUMP_FL from linux/fs.h, the inode flag chattr +d
// sets; golang.org/x/sys/unix does not define it.
const fsNodumpFl = 0x40

// TestStatxAttrs marks a file nodump (chattr +d) and checks that statx
// through the ring reports the attribute set and supported, and that a
// file without it reports it supported but clear.
func TestStatxAttrs(t *testing.T) {
	r := newRing[int](t, 4)
	must := runner(t, r)
	dir := t.TempDir()
	marked, plain := filepath.Join(dir, "marked"), filepath.Join(dir, "plain")
	for _, p := range []string{marked, plain} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(marked)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, fsNodumpFl)
	f.Close()
	if err != nil {
		t.Skipf("chattr +d on %s: %v", dir, err)
	}
	var st unix.Statx_t
	ok(t, must(r.Statx(AtFdcwd, marked, 0, StatxBasicStats, &st, 0)), "statx")
	set, supported := StatxAttrs(&st)
	if !supported.Has(StatxAttrNodump) {
		t.Skipf("the file system does not report nodump (supported: %v)", supported)
	}
	if !set.Has(StatxAttrNodump) || set.Has(StatxAttrImmutable) {
		t.Errorf("attributes of a nodump file = %v, want nodump without immutable", set)
	}
	st = unix.Statx_t{}
	ok(t, must(r.Statx(AtFdcwd, plain, 0, StatxBasicStats, &st, 0)), "statx")
	if set, supported := StatxAttrs(&st); set.Has(StatxAttrNodump) || !supported.Has(StatxAttrNodump) {
		t.Errorf("plain file: set %v, supported %v; want nodump supported and clear", set, supported)
	}
}

func TestStatxAttrString(t *testing.T) {
	for a, want := range map[StatxAttr]string{
		0:                                     "0",
		StatxAttrImmutable:                    "immutable",
		StatxAttrAppend | StatxAttrNodump:     "append|nodump",
		StatxAttrDax | StatxAttr(1<<40):       "dax|0x10000000000",
		StatxAttrCompressed | StatxAttrVerity: "compressed|verity",
	} {
		if got := a.String(); got != want {
			t.Errorf("%#x.String() = %q, want %q", uint64(a), got, want)
		}
	}
	if (StatxAttrAppend | StatxAttrNodump).Has(StatxAttrAppend | StatxAttrDax) {
		t.Error("Has reports an attribute that is not in the set")
	}
}

// TestFallocateWriteZeroes zeroes a range of a written file with
// FallocWriteZeroes. On a kernel before 6.17 Fallocate must refuse the
// mode before queueing, with an error matching errors.ErrUnsupported; on
// a later one the probe must not say so.
func TestFallocateWriteZeroes(t *testing.T) {
	r := newRing[int](t, 4)
	must := runner(t, r)
	f, data := digitsFile(t, 3*4096)
	j, err := r.Fallocate(int(f.Fd()), FallocWriteZeroes, 4096, 4096, 0)
	if !kernelAtLeastVersion(t, "6.17") {
		if !errors.Is(err, errors.ErrUnsupported) || r.ActiveOps() != 0 {
			t.Fatalf("Fallocate(FallocWriteZeroes) before Linux 6.17 = %v, %d active; want ErrUnsupported, nothing queued", err, r.ActiveOps())
		}
		t.Skipf("Fallocate(FallocWriteZeroes): %v", err)
	}
	c := must(j, err)
	if errors.Is(c.Err(), syscall.EOPNOTSUPP) {
		t.Skipf("FALLOC_FL_WRITE_ZEROES on %s: %v (the file system or device lacks it)", f.Name(), c.Err())
	}
	ok(t, c, "fallocate write_zeroes")
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		want := data[i]
		if i >= 4096 && i < 2*4096 {
			want = 0
		}
		if got[i] != want {
			t.Fatalf("byte %d after write_zeroes of [4096, 8192) = %q, want %q", i, got[i], want)
		}
	}
	if c := must(r.Fallocate(int(f.Fd()), FallocWriteZeroes|FallocKeepSize, 0, 4096, 0)); !errors.Is(c.Err(), syscall.EOPNOTSUPP) {
		t.Errorf("write_zeroes with keep-size = %v, want EOPNOTSUPP", c.Err())
	}
}
