package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// Pattern returns size bytes that are not all alike, nor repeat at a
// page's or a chunk's stride, so that a byte lost, repeated or moved by
// a copy shows.
func Pattern(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + i>>13)
	}
	return b
}

// TempFile creates a file holding data in a temporary directory of tb's,
// opens it with flag (os.O_RDONLY, os.O_RDWR|os.O_APPEND, ...) and closes
// it when tb ends.
func TempFile(tb testing.TB, flag int, data []byte) *os.File {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "file")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}
