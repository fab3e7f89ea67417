package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestMain makes the process-wide executor, whose rings live as long as
// the process, before any test counts fds.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		// A child blocks io_uring before anything uses it.
		testutil.Main(m)
		return
	}
	if _, err := reactor.Default(); err != nil {
		fmt.Fprintln(os.Stderr, "io_uring unavailable:", err)
		os.Exit(1)
	}
	testutil.Main(m)
}

// build compiles the command once per test binary into dir.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cat")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestCat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := build(t)
	dir := t.TempDir()
	big := make([]byte, 5<<20+123)
	for i := range big {
		big[i] = byte(i*131 + i>>12)
	}
	files := map[string][]byte{
		"empty": nil,
		"small": []byte("hello\n"),
		"big":   big,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0644); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "adir"), 0755)
	p := func(name string) string { return filepath.Join(dir, name) }

	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		stdout []byte
		stderr string
		status int
	}{
		{"one", []string{p("small")}, "", files["small"], "", 0},
		{"several", []string{p("small"), p("empty"), p("big"), p("small")},
			"", bytes.Join([][]byte{files["small"], files["big"], files["small"]}, nil), "", 0},
		{"stdin", []string{p("small"), "-", p("small")}, "from stdin\n",
			[]byte("hello\nfrom stdin\nhello\n"), "", 0},
		{"no args", nil, "only stdin", []byte("only stdin"), "", 0},
		{"missing", []string{p("small"), p("nope"), p("small")}, "",
			[]byte("hello\nhello\n"), "cat: " + p("nope") + ": No such file or directory\n", 1},
		{"directory", []string{p("adir"), p("small")}, "",
			[]byte("hello\n"), "cat: " + p("adir") + ": Is a directory\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Stdin = strings.NewReader(tc.stdin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			status := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(stdout.Bytes(), tc.stdout) {
				t.Errorf("stdout: %d bytes, want %d (equal prefix: %v)", stdout.Len(), len(tc.stdout),
					bytes.HasPrefix(tc.stdout, stdout.Bytes()))
			}
			if stderr.String() != tc.stderr {
				t.Errorf("stderr = %q, want %q", stderr.String(), tc.stderr)
			}
			if status != tc.status {
				t.Errorf("exit status %d, want %d", status, tc.status)
			}
			// The same as coreutils cat, where it is installed.
			if sys, err := exec.LookPath("cat"); err == nil && tc.name != "no args" {
				ref := exec.Command(sys, tc.args...)
				ref.Args[0] = "cat" // its messages start with argv[0]
				ref.Stdin = strings.NewReader(tc.stdin)
				var rout, rerr bytes.Buffer
				ref.Stdout, ref.Stderr = &rout, &rerr
				ref.Run()
				if !bytes.Equal(rout.Bytes(), stdout.Bytes()) {
					t.Errorf("stdout differs from %s's", sys)
				}
				if rerr.String() != stderr.String() {
					t.Errorf("stderr %q, %s gives %q", stderr.String(), sys, rerr.String())
				}
			}
		})
	}
}

// TestCatToFile writes to a regular file and through a pipe, where
// stdout is not a terminal.
func TestCatToPipe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := build(t)
	p := filepath.Join(t.TempDir(), "f")
	data := bytes.Repeat([]byte("0123456789"), 300000)
	os.WriteFile(p, data, 0644)
	cmd := exec.Command(bin, p, p)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(out)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), append(append([]byte{}, data...), data...)) {
		t.Fatalf("got %d bytes, want %d", got.Len(), 2*len(data))
	}
}

// Writing into a pipe, cat first grows it to 1 MiB, so that each splice
// moves up to that much; what comes out is still the file, byte for byte.
func TestCatGrowsPipe(t *testing.T) {
	testutil.CheckFDs(t)
	p := filepath.Join(t.TempDir(), "f")
	data := make([]byte, 3<<20+5)
	for i := range data {
		data[i] = byte(i*7 + i>>10)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	var stderr bytes.Buffer
	status := runTo(t, []string{p}, w, &stderr)
	size, err := unix.FcntlInt(w.Fd(), unix.F_GETPIPE_SZ, 0)
	w.Close()
	out := <-got
	if status != 0 || stderr.Len() != 0 {
		t.Fatalf("status %d, stderr %q", status, stderr.String())
	}
	if !bytes.Equal(out, data) {
		t.Fatalf("got %d bytes, want the file's %d", len(out), len(data))
	}
	if err != nil || size < 1<<20 {
		t.Fatalf("pipe size after cat: %d, %v; want 1 MiB", size, err)
	}
}

// runTo runs cat in this process with stdout w, collecting stderr.
func runTo(t *testing.T, names []string, w *os.File, stderr *bytes.Buffer) int {
	t.Helper()
	er, ew, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		stderr.ReadFrom(er)
		er.Close()
		close(done)
	}()
	status := run(names, w, ew)
	ew.Close()
	<-done
	return status
}

// childEnv names the test a re-executed test binary runs as a child.
const childEnv = "CAT_TEST_CHILD"

// TestCatExplainsUnavailable runs cat where a seccomp filter denies
// io_uring_setup, in a child: the message names the cause and what to
// change, not just "Operation not permitted", which reads as a problem
// with the file's permissions.
func TestCatExplainsUnavailable(t *testing.T) {
	const prefix = "cat-child-stderr: "
	if os.Getenv(childEnv) == t.Name() {
		if err := testutil.DenySyscall(unix.SYS_IO_URING_SETUP, unix.EPERM); err != nil {
			b, _ := json.Marshal("filter: " + err.Error())
			fmt.Printf("%s%s\n", prefix, b)
			os.Exit(0)
		}
		name := filepath.Join(t.TempDir(), "f")
		os.WriteFile(name, []byte("x"), 0644)
		var stderr bytes.Buffer
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		status := runTo(t, []string{name}, devnull, &stderr)
		b, _ := json.Marshal(fmt.Sprintf("status %d: %s", status, stderr.String()))
		fmt.Printf("%s%s\n", prefix, b)
		os.Exit(0)
	}
	if !testutil.SeccompSupported() {
		t.Skip("the seccomp test filter is written for amd64 only")
	}
	out := testutil.RunChild(t, childEnv+"="+t.Name(), 2*time.Minute, "-test.run="+testutil.RunPattern(t.Name()), "-test.count=1")
	var msg string
	testutil.ChildReport(t, out, prefix, &msg)
	if !strings.HasPrefix(msg, "status 1: cat: ") {
		t.Fatalf("child: %s", msg)
	}
	for _, w := range []string{"seccomp", "io_uring_setup", "FallbackToOS"} {
		if !strings.Contains(msg, w) {
			t.Errorf("cat's message %q does not mention %s", msg, w)
		}
	}
}
