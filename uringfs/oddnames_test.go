package uringfs

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
)

// TestDirFSOddNamesMatchOS compares DirFS with os.DirFS for names no
// system call takes as they are: NUL bytes, an element over NAME_MAX,
// whole names over PATH_MAX. (Root's are in TestRootMatchesOS.)
func TestDirFSOddNamesMatchOS(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0644)
	// A real path over PATH_MAX, made one element at a time beneath dir.
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat("a/", 2100)
	if err := r.MkdirAll(deep, 0755); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile(deep+"f", []byte("deep"), 0644); err != nil {
		t.Fatal(err)
	}
	r.Close()
	names := []string{
		"\x00", "f\x00", "a\x00/f", "f/\x00",
		strings.Repeat("n", 256), strings.Repeat("n", 256) + "/f", strings.Repeat("n", 5000),
		deep + "f", deep[:len(deep)-1],
	}
	ours, theirs := DirFS(dir), os.DirFS(dir)
	for _, name := range names {
		short := name
		if len(short) > 40 {
			short = short[:40] + "..."
		}
		for _, op := range []struct {
			name string
			fn   func(fs.FS, string) string
		}{
			{"Open", func(fsys fs.FS, n string) string {
				f, err := fsys.Open(n)
				if err == nil {
					f.Close()
				}
				return rootErr(err)
			}},
			{"Stat", func(fsys fs.FS, n string) string { _, err := fs.Stat(fsys, n); return rootErr(err) }},
			{"ReadFile", func(fsys fs.FS, n string) string { _, err := fs.ReadFile(fsys, n); return rootErr(err) }},
			{"ReadDir", func(fsys fs.FS, n string) string { _, err := fs.ReadDir(fsys, n); return rootErr(err) }},
		} {
			if got, want := op.fn(ours, name), op.fn(theirs, name); got != want {
				t.Errorf("%s(%q):\nos:      %.300s\nuringfs: %.300s", op.name, short, want, got)
			}
		}
	}
}
