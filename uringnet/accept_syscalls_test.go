package uringnet

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestAcceptMakesNoGetpeername checks that accepting a connection takes
// the peer's address from accept4 and calls no getpeername(2), as net's
// accept does: in a child process whose seccomp filter fails every
// getpeername with EPERM, each accepted conn must still name its peer,
// over TCP (IPv4 and IPv6) and Unix. Before, a multishot accept, which
// reports no address, was followed by a getpeername per connection.
func TestAcceptMakesNoGetpeername(t *testing.T) {
	if !testutil.SeccompSupported() {
		t.Skip("the seccomp test filter is written for amd64 only")
	}
	out := testutil.RunChild(t, childEnv+"=no-getpeername", time.Minute, "-test.run=^$")
	var report []string
	testutil.ChildReport(t, out, "report: ", &report)
	for _, problem := range report {
		t.Error(problem)
	}
}

// noGetpeernameChild is TestAcceptMakesNoGetpeername's child: it denies
// getpeername, accepts a connection on each network and prints the
// RemoteAddrs that differ from the client's LocalAddr as a JSON list.
func noGetpeernameChild() int {
	report := []string{}
	problem := func(format string, args ...any) { report = append(report, fmt.Sprintf(format, args...)) }
	if err := testutil.DenySyscall(unix.SYS_GETPEERNAME, syscall.EPERM); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "uringnet-getpeername")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, a := range []struct{ network, addr string }{
		{"tcp", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
		{"unix", filepath.Join(dir, "s")},
	} {
		ln, err := Listen(a.network, a.addr)
		if err != nil {
			if a.network == "tcp6" {
				continue // no IPv6 loopback here
			}
			problem("Listen(%q): %v", a.network, err)
			continue
		}
		if _, err := unix.Getpeername(ln.(*Listener).fd.sysfd); err != syscall.EPERM {
			problem("getpeername under the filter: %v, want EPERM", err)
		}
		// A raw client: net's dial asks getpeername whether its
		// connect has completed, and would wait for good.
		c, want, err := testutil.RawDial(ln.Addr())
		if err != nil {
			problem("dial %s: %v", a.network, err)
			ln.Close()
			continue
		}
		s, err := ln.Accept()
		if err != nil {
			problem("Accept(%q): %v", a.network, err)
		} else {
			if !testutil.SameAddr(s.RemoteAddr(), want) {
				problem("%s: accepted conn's RemoteAddr %s, want %s", a.network, testutil.FmtAddr(s.RemoteAddr()), testutil.FmtAddr(want))
			}
			s.Close()
		}
		unix.Close(c)
		ln.Close()
	}
	js, _ := json.Marshal(report)
	fmt.Printf("report: %s\n", js)
	return 0
}

// TestAcceptUnnamedAfterNamed checks that a Unix conn accepted from an
// unnamed client after one from a client bound to a path is named "@",
// as net names it: accept4 writes only the address family for an unnamed
// peer, so an address buffer kept from the previous accept must not
// lend it the earlier client's path.
func TestAcceptUnnamedAfterNamed(t *testing.T) {
	testutil.CheckFDs(t)
	for _, mode := range acceptModes {
		t.Run(mode.String(), func(t *testing.T) {
			ln := withAcceptMode(listenLocal(t, "unix", ListenConfig{}), mode)
			named := filepath.Join(t.TempDir(), "client")
			d := net.Dialer{LocalAddr: &net.UnixAddr{Name: named, Net: "unix"}}
			for i, want := range []string{named, "@"} {
				var c net.Conn
				var err error
				if i == 0 {
					c, err = d.Dial("unix", ln.Addr().String())
				} else {
					c, err = net.Dial("unix", ln.Addr().String())
				}
				if err != nil {
					t.Fatal(err)
				}
				s, err := ln.Accept()
				if err != nil {
					c.Close()
					t.Fatal(err)
				}
				got := s.RemoteAddr().String()
				s.Close()
				c.Close()
				if got != want {
					t.Errorf("conn %d: RemoteAddr %q, want %q", i, got, want)
				}
			}
		})
	}
}
