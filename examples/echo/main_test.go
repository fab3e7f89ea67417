package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// freePort finds a loopback port that is free now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestEchoCommand builds the command, runs it in each mode on a free
// port, echoes through it and stops it with each signal.
func TestEchoCommand(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go tool to build the command")
	}
	bin := filepath.Join(t.TempDir(), "echo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, mode := range []string{"conn", "engine"} {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(mode+"/"+sig.String(), func(t *testing.T) {
				addr := freePort(t)
				cmd := exec.Command(bin, "-mode", mode, "-addr", addr)
				out, _ := cmd.StdoutPipe()
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer cmd.Process.Kill()
				r := bufio.NewReader(out)
				line, err := r.ReadString('\n')
				if err != nil || !strings.Contains(line, addr) {
					t.Fatalf("first line %q, %v; want the listening address %s", line, err, addr)
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				for i := 0; i < 20; i++ {
					msg := fmt.Sprintf("message %d %s", i, strings.Repeat("x", i*500))
					if _, err := io.WriteString(c, msg); err != nil {
						t.Fatal(err)
					}
					got := make([]byte, len(msg))
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
						t.Fatalf("echo of message %d: %v", i, err)
					}
				}
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				go io.Copy(io.Discard, r)
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("after %v: %v, want exit status 0", sig, err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("still running 10s after %v", sig)
				}
				// The connection was closed by the server.
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Read(make([]byte, 1)); err == nil {
					t.Fatal("connection still open after the server exited")
				}
			})
		}
	}
}

func TestUnknownMode(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go tool to build the command")
	}
	out, err := exec.Command("go", "run", ".", "-mode", "bogus").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown -mode "bogus"`) {
		t.Fatalf("-mode bogus: %v\n%s", err, out)
	}
}
