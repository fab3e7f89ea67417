package uringfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
)

// FuzzReadDir creates a directory of entries whose names, kinds and
// number come from the input, and checks that File.ReadDir, read whole or
// in batches of a fuzzed size, returns exactly the names os.ReadDir does
// (each once, none lost across getdents buffer refills, "." and ".."
// never), with the same types, batches of at most the size asked for and
// io.EOF only when n > 0 and nothing is left, as os does; Readdirnames
// agrees.
//
// Input: byte 0 is the batch size (0 means all at once), byte 1 how many
// times the names repeat with a numeric suffix (to cross the 8 KiB
// getdents buffer); the rest is split at '/' into names, which get a
// suffix if empty, "." or "..", and are cut to 255 bytes. A name's first
// byte picks file, directory or symlink.
func FuzzReadDir(f *testing.F) {
	f.Add([]byte("\x00\x00a/b/c"))
	f.Add([]byte("\x03\x00a/b/c/d/e/f/g"))
	f.Add([]byte("\x01\x40long-enough-name-to-fill-buffers-quickly-0123456789/x"))
	f.Add([]byte("\x07\x00./../...//\xff\xfe/ space/\n"))
	f.Add(append([]byte("\x02\x10"), make([]byte, 300)...))
	f.Add([]byte("\x05\x3f" + strings.Repeat("n", 200) + "/\x01" + strings.Repeat("d", 200) + "/\x02" + strings.Repeat("s", 200))) // 192 entries, 43 KB of records
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		batch, repeat := int(data[0]%16), 1+int(data[1]%64)
		dir := t.TempDir()
		made := make(map[string]bool)
		for _, part := range splitNames(data[2:]) {
			for r := 0; r < repeat; r++ {
				name := part
				if repeat > 1 || name == "" || name == "." || name == ".." {
					name += "." + string(rune('a'+r%26)) + string(rune('a'+r/26))
				}
				if len(name) > 255 {
					name = name[len(name)-255:]
				}
				if made[name] || len(made) == maxEntries {
					continue
				}
				p := filepath.Join(dir, name)
				var err error
				switch part0(part) % 3 {
				case 0:
					err = os.WriteFile(p, nil, 0o644)
				case 1:
					err = os.Mkdir(p, 0o755)
				case 2:
					err = os.Symlink("target", p)
				}
				if err != nil {
					t.Fatalf("creating %q: %v", name, err)
				}
				made[name] = true
			}
		}
		want, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != len(made) {
			t.Fatalf("os.ReadDir found %d entries, %d made", len(want), len(made))
		}

		testutil.CheckFDs(t)
		file, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		var got []string
		types := make(map[string]os.FileMode)
		for {
			ents, err := file.ReadDir(batch)
			if batch > 0 && len(ents) > batch {
				t.Fatalf("ReadDir(%d) returned %d entries", batch, len(ents))
			}
			for _, e := range ents {
				got = append(got, e.Name())
				types[e.Name()] = e.Type()
			}
			if batch <= 0 {
				if err != nil {
					t.Fatalf("ReadDir(%d): %v", batch, err)
				}
				break
			}
			if errors.Is(err, io.EOF) {
				if len(ents) > 0 {
					t.Fatalf("ReadDir(%d) returned %d entries with io.EOF", batch, len(ents))
				}
				break
			}
			if err != nil {
				t.Fatalf("ReadDir(%d): %v", batch, err)
			}
			if len(ents) == 0 {
				t.Fatalf("ReadDir(%d) returned nothing and no error", batch)
			}
		}
		slices.Sort(got)
		if dup := slices.Compact(slices.Clone(got)); len(dup) != len(got) {
			t.Fatalf("ReadDir returned a name twice: %d names, %d distinct", len(got), len(dup))
		}
		var wantNames []string
		for _, e := range want {
			wantNames = append(wantNames, e.Name())
			if types[e.Name()] != e.Type() {
				t.Errorf("%q: type %v, os says %v", e.Name(), types[e.Name()], e.Type())
			}
		}
		if !slices.Equal(got, wantNames) {
			t.Fatalf("ReadDir(%d) names differ from os.ReadDir's:\n got %q\nwant %q", batch, got, wantNames)
		}

		if _, err := file.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		names, err := file.Readdirnames(-1)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(names)
		if !slices.Equal(names, wantNames) {
			t.Fatalf("Readdirnames after rewinding: %q, want %q", names, wantNames)
		}
	})
}

// splitNames splits b at '/' (names cannot hold it) and drops NULs.
func splitNames(b []byte) []string {
	var out []string
	cur := []byte{}
	for _, c := range b {
		switch c {
		case '/':
			out = append(out, string(cur))
			cur = cur[:0]
		case 0:
		default:
			cur = append(cur, c)
		}
	}
	return append(out, string(cur))
}

// maxEntries bounds the directory, to keep an input's run short.
const maxEntries = 1500

func part0(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}
