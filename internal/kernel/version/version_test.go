package version

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		rel        string
		maj, minor int
	}{
		{"6.1.0-18-amd64", 6, 1},
		{"5.19.0", 5, 19},
		{"6.18.44-fc-v669", 6, 18},
		{"4.18.0-553.el8_10.x86_64", 4, 18},
		{"6", 6, 0},
		{"", 0, 0},
		{"unknown", 0, 0},
	} {
		if maj, minor := Parse(tc.rel); maj != tc.maj || minor != tc.minor {
			t.Errorf("Parse(%q) = %d.%d, want %d.%d", tc.rel, maj, minor, tc.maj, tc.minor)
		}
	}
	if ReleaseAtLeast("", 0, 1) || !ReleaseAtLeast("5.1.0", 5, 1) || ReleaseAtLeast("5.0.21", 5, 1) || !ReleaseAtLeast("10.0", 5, 19) {
		t.Error("ReleaseAtLeast misorders versions")
	}
}

func TestAtLeast(t *testing.T) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	maj, minor := Parse(unix.ByteSliceToString(u.Release[:]))
	if !AtLeast(maj, minor) || AtLeast(maj, minor+1) || AtLeast(maj+1, 0) || !AtLeast(maj-1, 99) {
		t.Errorf("AtLeast disagrees with the running kernel's %d.%d", maj, minor)
	}
}
