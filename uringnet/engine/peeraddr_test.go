package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/testutil"
)

// envNoGetpeername makes the test binary TestOpenMakesNoGetpeername's
// child.
const envNoGetpeername = "ENGINE_TEST_NO_GETPEERNAME"

func init() {
	if os.Getenv(envNoGetpeername) != "" {
		os.Exit(noGetpeernameChild())
	}
}

// TestOpenMakesNoGetpeername checks that the engine takes a connection's
// peer address from its accept, as gnet's accept4 gives it, and calls no
// getpeername(2): in a child process whose seccomp filter fails every
// getpeername with EPERM, OnOpen must still see the peer's address and
// the listener's, in every mode, over TCP (IPv4, IPv6, and with
// SO_REUSEPORT on two loops) and Unix. Before, a multishot accept, which
// reports no address, was followed by a getpeername per connection, and
// a failed one left RemoteAddr an empty TCPAddr.
func TestOpenMakesNoGetpeername(t *testing.T) {
	if !testutil.SeccompSupported() {
		t.Skip("the seccomp test filter is written for amd64 only")
	}
	out := testutil.RunChild(t, envNoGetpeername+"=1", 2*time.Minute, "-test.run=^$")
	var report []string
	testutil.ChildReport(t, out, "report: ", &report)
	for _, problem := range report {
		t.Error(problem)
	}
}

// openAddrs records the addresses each OnOpen sees.
type openAddrs struct {
	gnet.BuiltinEventEngine
	opened chan [2]net.Addr // remote, local
}

func (h *openAddrs) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	h.opened <- [2]net.Addr{c.RemoteAddr(), c.LocalAddr()}
	return nil, gnet.None
}

// noGetpeernameChild is TestOpenMakesNoGetpeername's child: it denies
// getpeername, opens connections to an engine in each mode and prints
// the addresses OnOpen got wrong as a JSON list.
func noGetpeernameChild() int {
	report := []string{}
	problem := func(format string, args ...any) { report = append(report, fmt.Sprintf(format, args...)) }
	if err := testutil.DenySyscall(unix.SYS_GETPEERNAME, syscall.EPERM); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := unix.Getpeername(0); err != syscall.EPERM {
		problem("getpeername under the filter: %v, want EPERM", err)
	}
	dir, err := os.MkdirTemp("", "engine-getpeername")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cases := []struct {
		name, protoAddr string
		opts            []gnet.Option
	}{
		{"tcp", "tcp://127.0.0.1:0", nil},
		{"tcp6", "tcp6://[::1]:0", nil},
		{"tcp reuseport", "tcp://127.0.0.1:0", []gnet.Option{gnet.WithNumEventLoop(2), gnet.WithReusePort(true)}},
		{"unix", "unix://" + filepath.Join(dir, "s"), nil},
	}
	for _, m := range modes {
		for _, tc := range cases {
			name := "uring" + m.suffix() + " " + tc.name
			h := &openAddrs{opened: make(chan [2]net.Addr, 16)}
			opts := append([]gnet.Option{gnet.WithLogger(quietLogger{})}, tc.opts...)
			e, err := start(h, tc.protoAddr, m.cfg(defaultConfig), opts...)
			if err != nil {
				if tc.name == "tcp6" {
					continue // no IPv6 loopback here
				}
				problem("%s: start: %v", name, err)
				continue
			}
			// Enough connections that, with two loops, each is
			// likely to accept some.
			for range 8 {
				fd, want, err := testutil.RawDial(e.addr)
				if err != nil {
					problem("%s: dial: %v", name, err)
					break
				}
				select {
				case got := <-h.opened:
					if !testutil.SameAddr(got[0], want) {
						problem("%s: OnOpen's RemoteAddr %s, want %s", name, testutil.FmtAddr(got[0]), testutil.FmtAddr(want))
					}
					if !testutil.SameAddr(got[1], e.addr) {
						problem("%s: OnOpen's LocalAddr %s, want %s", name, testutil.FmtAddr(got[1]), testutil.FmtAddr(e.addr))
					}
				case <-time.After(10 * time.Second):
					problem("%s: no OnOpen", name)
				}
				unix.Close(fd)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := e.Stop(ctx); err != nil {
				problem("%s: Stop: %v", name, err)
			}
			cancel()
		}
	}
	js, _ := json.Marshal(report)
	fmt.Printf("report: %s\n", js)
	return 0
}
