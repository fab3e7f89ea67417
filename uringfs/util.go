package uringfs

import "unsafe"

// unsafeBytes views s as bytes for a write, which only reads them.
func unsafeBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
