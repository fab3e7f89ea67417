package uringfs

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
)

// nobodyUID is the unprivileged user TestOSAPIAsNobody runs as.
const nobodyUID = 65534

// TestOSAPIAsNobody runs the os-surface comparisons again in a child
// process as an unprivileged user, where the trees' read-only and
// inaccessible parts give EACCES and EPERM, which root never sees: the
// permission errors must be os's too. Run as root, it starts the child;
// run as anyone else, the comparisons already ran so.
func TestOSAPIAsNobody(t *testing.T) {
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"PathFuncsMatchOS", TestPathFuncsMatchOS},
		{"TempMatchesOS", TestTempMatchesOS},
		{"FileAttrsMatchOS", TestFileAttrsMatchOS},
	}
	if !inChild(t) {
		if os.Getuid() != 0 {
			t.Skip("not root: the comparisons ran unprivileged already")
		}
		// The child must be able to run the binary: a copy where
		// anyone can.
		dir := t.TempDir()
		for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		bin := filepath.Join(dir, "uringfs.test")
		copyFile(t, os.Args[0], bin)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-test.run="+testutil.RunPattern(t.Name()), "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID, Gid: nobodyUID}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child as uid %d: %v\n%s", nobodyUID, err, out)
		}
		for _, tt := range tests {
			if w := t.Name() + "/" + tt.name; !strings.Contains(string(out), "--- PASS: "+w+" ") {
				t.Errorf("child did not pass %s:\n%s", w, out)
			}
		}
		return
	}
	if os.Getuid() != nobodyUID {
		t.Fatalf("child runs as uid %d, want %d", os.Getuid(), nobodyUID)
	}
	if _, err := reactor.Default(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.fn)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
