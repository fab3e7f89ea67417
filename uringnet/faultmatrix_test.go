package uringnet

// The fault matrix (see uringfs's for the same over files):
// io_uring_setup, io_uring_enter and io_uring_register each denied by a
// seccomp filter with EPERM, EACCES and ENOSYS, installed before the
// first use or after the rings are running. In a child for each cell,
// every entry point, with and without FallbackToNet, must return within
// a bound with no error, or a *net.OpError around a *uring.SetupError
// naming the denied call, seccomp and what to allow; with the opt-in,
// what needs no ring from before the filter works through package net;
// Close of a Listener, Conn and PacketConn made before the filter, with
// an Accept, Read or ReadFrom blocked on it, returns and wakes them with
// an error. No goroutine or fd may be left behind.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

const faultReportPrefix = "uringnet-fault-report: "

type faultReport struct {
	Fail     string
	Problems []string
	Checked  int
}

var faultCalls = map[string]uint32{
	"io_uring_setup":    unix.SYS_IO_URING_SETUP,
	"io_uring_enter":    unix.SYS_IO_URING_ENTER,
	"io_uring_register": unix.SYS_IO_URING_REGISTER,
}

func TestFaultMatrix(t *testing.T) {
	if !testutil.SeccompSupported() {
		t.Skip("the seccomp test filter is written for amd64 only")
	}
	for _, call := range []string{"io_uring_setup", "io_uring_enter", "io_uring_register"} {
		for _, when := range []string{"before", "after"} {
			for _, errno := range []syscall.Errno{syscall.EPERM, syscall.EACCES, syscall.ENOSYS} {
				t.Run(call+"/"+when+"/"+unix.ErrnoName(errno), func(t *testing.T) {
					t.Parallel()
					out := testutil.RunChild(t, childEnv+"=fault-matrix", 5*time.Minute, "-test.run=^$",
						"-fault.call="+call, "-fault.when="+when, "-fault.errno="+strconv.Itoa(int(errno)))
					var rep faultReport
					testutil.ChildReport(t, out, faultReportPrefix, &rep)
					if rep.Fail != "" {
						t.Fatalf("child: %s", rep.Fail)
					}
					for _, p := range rep.Problems {
						t.Error(p)
					}
					t.Logf("%d calls checked", rep.Checked)
				})
			}
		}
	}
}

// faultMatrixChild runs one cell; its parameters come as flags after
// the test binary's own (os.Args).
func faultMatrixChild() int {
	var rep faultReport
	defer func() {
		b, _ := json.Marshal(rep)
		fmt.Printf("%s%s\n", faultReportPrefix, b)
	}()
	var call, when string
	var errno syscall.Errno
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, "-fault.call="); ok {
			call = v
		} else if v, ok := strings.CutPrefix(a, "-fault.when="); ok {
			when = v
		} else if v, ok := strings.CutPrefix(a, "-fault.errno="); ok {
			n, _ := strconv.Atoi(v)
			errno = syscall.Errno(n)
		}
	}
	nr, ok := faultCalls[call]
	if !ok || errno == 0 {
		rep.Fail = fmt.Sprintf("bad parameters %q", os.Args)
		return 0
	}
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }

	// A peer from package net, to dial and to send to.
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		rep.Fail = err.Error()
		return 0
	}
	go func() {
		for {
			c, err := peer.Accept()
			if err != nil {
				return
			}
			// A plain loop: io.Copy between net conns splices
			// through pipes that net caches, which the fd count
			// would see.
			go func() {
				defer c.Close()
				b := make([]byte, 64)
				for {
					n, err := c.Read(b)
					if err != nil {
						return
					}
					if _, err := c.Write(b[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	udpPeer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		rep.Fail = err.Error()
		return 0
	}

	type blocked struct {
		what  string
		close func() error
		done  chan error
	}
	var pre []blocked
	if when == "after" {
		if _, err := reactor.Default(); err != nil {
			rep.Fail = err.Error()
			return 0
		}
		// Rings running, with operations of every kind blocked.
		ln, err := Listen("tcp", "127.0.0.1:0")
		if err != nil {
			rep.Fail = err.Error()
			return 0
		}
		c, err := Dial("tcp", ln.Addr().String())
		if err != nil {
			rep.Fail = err.Error()
			return 0
		}
		s, err := ln.Accept()
		if err != nil {
			rep.Fail = err.Error()
			return 0
		}
		defer s.Close() // after the checks: c's Read must block, not see EOF
		pc, err := ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			rep.Fail = err.Error()
			return 0
		}
		for _, b := range []blocked{
			{"Listener.Accept", ln.Close, make(chan error, 1)},
			{"Conn.Read", c.Close, make(chan error, 1)},
			{"PacketConn.ReadFrom", pc.Close, make(chan error, 1)},
		} {
			pre = append(pre, b)
		}
		go func() { _, err := ln.Accept(); pre[0].done <- err }()
		go func() { _, err := c.Read(make([]byte, 1)); pre[1].done <- err }()
		go func() { _, _, err := pc.ReadFrom(make([]byte, 1)); pre[2].done <- err }()
	}
	fdsBefore := openFDs()
	leakBaseline := goleak.IgnoreCurrent()
	if err := testutil.DenySyscall(nr, errno); err != nil {
		rep.Fail = err.Error()
		return 0
	}

	// bounded runs fn, or reports a hang.
	bounded := func(what string, fn func() error) (error, bool) {
		rep.Checked++
		done := make(chan error, 1)
		go func() { done <- fn() }()
		select {
		case err := <-done:
			return err, true
		case <-time.After(time.Minute):
			problem("%s hung", what)
			return nil, false
		}
	}
	clear := func(what, op string, err error) {
		var se *uring.SetupError
		var oe *net.OpError
		switch {
		case !errors.As(err, &oe) || op != "" && oe.Op != op:
			problem("%s: %v (%T), want a *net.OpError{Op: %q}", what, err, err, op)
		case !errors.As(err, &se) || se.Errno != errno || (se.Syscall != call && !(se.Syscall == "" && call == "io_uring_setup")):
			problem("%s: %v, want a *uring.SetupError from %s with %s", what, err, call, unix.ErrnoName(errno))
		case !strings.Contains(err.Error(), "seccomp") || !strings.Contains(err.Error(), "allow io_uring_setup, io_uring_enter and io_uring_register"):
			problem("%s: %q does not name seccomp and what to allow", what, err)
		}
	}
	check := func(what, op string, mustWork bool, fn func() error) {
		err, ok := bounded(what, fn)
		switch {
		case !ok || err == nil:
		case mustWork:
			problem("%s: %v, want it to work through package net", what, err)
		default:
			clear(what, op, err)
		}
	}

	for _, b := range pre {
		if err, ok := bounded(b.what+": Close", b.close); ok && err != nil {
			problem("%s: Close: %v", b.what, err)
		}
		select {
		case err := <-b.done:
			if !errors.Is(err, net.ErrClosed) {
				var se *uring.SetupError
				if !errors.As(err, &se) {
					problem("%s blocked during Close: %v, want net.ErrClosed or the setup error", b.what, err)
				}
			}
		case <-time.After(time.Minute):
			problem("%s blocked during Close did not return", b.what)
		}
	}

	ctx := context.Background()
	for _, fb := range []bool{false, true} {
		name := func(s string) string { return fmt.Sprintf("FallbackToNet=%v: %s", fb, s) }
		lc := ListenConfig{FallbackToNet: fb}
		d := Dialer{FallbackToNet: fb, Timeout: time.Minute}
		// Without the opt-in, the package functions are the zero
		// config's.
		if !fb {
			check(name("Listen"), "listen", false, func() error {
				ln, err := Listen("tcp", "127.0.0.1:0")
				if err == nil {
					ln.Close()
				}
				return err
			})
			check(name("Dial"), "dial", false, func() error {
				c, err := Dial("tcp", peer.Addr().String())
				if err == nil {
					c.Close()
				}
				return err
			})
			check(name("ListenPacket"), "listen", false, func() error {
				pc, err := ListenPacket("udp", "127.0.0.1:0")
				if err == nil {
					pc.Close()
				}
				return err
			})
		}
		// A listener, an accepted and a dialled conn, and a packet
		// conn, each used.
		check(name("Listen+Accept+Read+Write"), "", fb, func() error {
			ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			defer ln.Close()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return fmt.Errorf("net.Dial: %v", err)
			}
			defer c.Close()
			s, err := ln.Accept()
			if err != nil {
				return err
			}
			defer s.Close()
			if _, err := c.Write([]byte("ping")); err != nil {
				return err
			}
			b := make([]byte, 4)
			if _, err := io.ReadFull(s, b); err != nil {
				return err
			}
			_, err = s.Write(b)
			return err
		})
		check(name("Dial+Write+Read"), "", fb, func() error {
			c, err := d.Dial("tcp", peer.Addr().String())
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.Write([]byte("echo")); err != nil {
				return err
			}
			_, err = io.ReadFull(c, make([]byte, 4))
			return err
		})
		check(name("ListenPacket+WriteTo"), "", fb, func() error {
			pc, err := lc.ListenPacket(ctx, "udp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			defer pc.Close()
			_, err = pc.WriteTo([]byte("dgram"), udpPeer.LocalAddr())
			return err
		})
	}
	peer.Close()
	udpPeer.Close()
	// Leaks: every fd and goroutine made since the baseline is gone.
	if err := goleak.Find(leakBaseline, goleak.IgnoreAnyFunction("github.com/uring-go/uring/internal/reactor.(*shard).reapForever")); err != nil {
		problem("goroutines left: %v", err)
	}
	for i := 0; openFDs() > fdsBefore; i++ {
		if i == 200 {
			var list []string
			ents, _ := os.ReadDir("/proc/self/fd")
			for _, e := range ents {
				target, _ := os.Readlink("/proc/self/fd/" + e.Name())
				list = append(list, e.Name()+" -> "+target)
			}
			problem("fd leak: %d open before, %d after: %s", fdsBefore, openFDs(), strings.Join(list, ", "))
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0
}

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents) - 1
}
