package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"
)

// The test binary doubles as a helper process, chosen by environment:
// a client holding many connections (Test10kConns) or a bare echo server
// (the benchmarks, which measure its CPU time and RSS from outside).
const (
	envClient  = "ENGINE_TEST_CLIENT"   // address to dial
	envClientN = "ENGINE_TEST_CLIENT_N" // connections to open
	envServer  = "ENGINE_TEST_SERVER"   // "gnet", or "uring" and a mode's suffix
	envAddr    = "ENGINE_TEST_ADDR"     // protoAddr for the server
)

func init() {
	if os.Getenv(envClient) != "" {
		os.Exit(clientMain())
	}
	if os.Getenv(envServer) != "" {
		os.Exit(serverMain())
	}
}

// raiseNofile raises the soft fd limit to at least n, within the hard one.
func raiseNofile(n int) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= uint64(n) {
		return nil
	}
	if lim.Max < uint64(n) {
		return fmt.Errorf("needs RLIMIT_NOFILE of %d per process; the hard limit is %d", n, lim.Max)
	}
	lim.Cur = uint64(n)
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
}

// clientMain opens N connections with one echo each, says "ready", waits
// for "go", does 100 more echoes on random idle ones, says "done", and
// exits when stdin closes.
func clientMain() int {
	addr := os.Getenv(envClient)
	n, _ := strconv.Atoi(os.Getenv(envClientN))
	fail := func(err error) int { fmt.Println("error:", err); return 1 }
	if err := raiseNofile(n + 100); err != nil {
		return fail(err)
	}
	conns := make([]net.Conn, 0, n)
	msg, got := []byte("12345678"), make([]byte, 8)
	echo := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("echo %q", got)
		}
		return nil
	}
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return fail(err)
		}
		conns = append(conns, c)
		if err := echo(c); err != nil {
			return fail(err)
		}
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() {
		return 0
	}
	for range 100 {
		if err := echo(conns[rand.IntN(n)]); err != nil {
			return fail(err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	fmt.Println("done")
	for in.Scan() {
	}
	return 0
}

// quietLogger drops gnet's informational lines from test output.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "warn: "+f+"\n", a...)
}
func (quietLogger) Errorf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "error: "+f+"\n", a...)
}
func (quietLogger) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "fatal: "+f+"\n", a...)
	os.Exit(1)
}

var _ logging.Logger = quietLogger{}

// serverMain runs the echo handler on one event loop until stdin closes.
func serverMain() int {
	if err := raiseNofile(12000); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	addr := os.Getenv(envAddr)
	run, stop := gnet.Run, gnet.Stop
	for _, m := range modes {
		if os.Getenv(envServer) == "uring"+m.suffix() {
			run, stop = m.run, Stop
		}
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop(context.Background(), addr)
	}()
	h := &readyEcho{}
	if err := run(h, addr, gnet.WithNumEventLoop(1), gnet.WithLogger(quietLogger{})); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	return 0
}

type readyEcho struct{ echoHandler }

func (h *readyEcho) OnBoot(gnet.Engine) gnet.Action {
	fmt.Println("ready")
	return gnet.None
}

// child is a helper process.
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	lines chan string
}

func startChild(t testing.TB, env map[string]string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(out), lines: make(chan string, 16)}
	go func() {
		for c.out.Scan() {
			c.lines <- c.out.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		c.in.Close()
		if c.cmd.ProcessState == nil {
			done := make(chan struct{})
			go func() { c.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				c.cmd.Process.Kill()
				<-done
			}
		}
	})
	return c
}

func (c *child) line(t testing.TB) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "exited"
		}
		return strings.TrimSpace(l)
	case <-time.After(120 * time.Second):
		t.Fatal("child process silent")
		return ""
	}
}

func (c *child) send(t testing.TB, s string) {
	t.Helper()
	if _, err := io.WriteString(c.in, s+"\n"); err != nil {
		t.Fatal(err)
	}
}

func (c *child) wait(t testing.TB) {
	t.Helper()
	c.in.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("child: %v", err)
	}
	for range c.lines {
	}
}
