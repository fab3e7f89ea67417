// Package version reads the running kernel's version, for the facilities
// whose presence only the version tells (a flag an older kernel ignores).
// It is apart from package kernel, whose tests create rings, so that
// package uring can use it too.
package version

import (
	"sync"

	"golang.org/x/sys/unix"
)

// AtLeast reports whether the running kernel, from uname(2), is Linux
// major.minor or later.
func AtLeast(major, minor int) bool { return ReleaseAtLeast(Release(), major, minor) }

// Release is the running kernel's release, as uname -r prints it; "" if
// uname(2) fails.
var Release = sync.OnceValue(func() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
})

// ReleaseAtLeast reports whether release (as uname -r prints it) is
// major.minor or later; an unknown release is not.
func ReleaseAtLeast(release string, major, minor int) bool {
	maj, min := Parse(release)
	return maj > major || maj == major && min >= minor
}

// Parse reads the major and minor version from a kernel release string
// such as "6.1.0-18-amd64"; 0.0 if it has none.
func Parse(release string) (major, minor int) {
	i := 0
	for ; i < len(release) && release[i] >= '0' && release[i] <= '9'; i++ {
		major = major*10 + int(release[i]-'0')
	}
	if i < len(release) && release[i] == '.' {
		for i++; i < len(release) && release[i] >= '0' && release[i] <= '9'; i++ {
			minor = minor*10 + int(release[i]-'0')
		}
	}
	return major, minor
}
