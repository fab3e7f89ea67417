package uringnet

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
)

// TestSetUnlinkOnClose checks Listener.SetUnlinkOnClose against
// net.UnixListener's: whether Close leaves the socket file, for
// listeners made by ListenUnix and adopted by FileListener, with and
// without the call.
func TestSetUnlinkOnClose(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	n := 0
	exists := func(path string) bool {
		_, err := os.Stat(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	}
	for _, adopted := range []bool{false, true} {
		for _, set := range []int{-1, 0, 1} { // not called, false, true
			// The same steps with each package; each leaves the file
			// or not.
			left := make([]bool, 2)
			for i, std := range []bool{false, true} {
				n++
				path := filepath.Join(dir, "s"+itoa(n))
				laddr := &net.UnixAddr{Name: path, Net: "unix"}
				var ln interface {
					Close() error
					SetUnlinkOnClose(bool)
				}
				if std {
					l, err := net.ListenUnix("unix", laddr)
					if err != nil {
						t.Fatal(err)
					}
					ln = l
					if adopted {
						f := fileOf(t, l)
						fl, err := net.FileListener(f)
						if err != nil {
							t.Fatal(err)
						}
						l.SetUnlinkOnClose(false)
						l.Close()
						f.Close()
						ln = fl.(*net.UnixListener)
					}
				} else {
					l, err := ListenUnix("unix", laddr)
					if err != nil {
						t.Fatal(err)
					}
					ln = l
					if adopted {
						f := fileOf(t, l)
						fl, err := FileListener(f)
						if err != nil {
							t.Fatal(err)
						}
						l.SetUnlinkOnClose(false)
						l.Close()
						f.Close()
						ln = fl.(*Listener)
					}
				}
				if !exists(path) {
					t.Fatalf("std %v adopted %v: socket file gone before Close", std, adopted)
				}
				if set >= 0 {
					ln.SetUnlinkOnClose(set == 1)
				}
				ln.Close()
				left[i] = exists(path)
			}
			if left[0] != left[1] {
				t.Errorf("adopted %v, SetUnlinkOnClose %d: file left %v; net's %v", adopted, set, left[0], left[1])
			}
			if want := set == 0 || set == -1 && adopted; left[0] != want {
				t.Errorf("adopted %v, SetUnlinkOnClose %d: file left %v, want %v", adopted, set, left[0], want)
			}
		}
	}
}
