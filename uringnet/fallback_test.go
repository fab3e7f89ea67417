package uringnet

// Tests of FallbackToNet in a process where io_uring cannot be used: a
// re-executed test binary installs a seccomp filter that fails
// io_uring_setup with EPERM, as a container profile does, and reports
// what each call did; the parent, where io_uring works, checks the
// report.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

const fallbackReportPrefix = "uringnet-fallback-report: "

// callReport is what one call did in the child.
type callReport struct {
	Err        string // empty for success
	OpError    string // the *net.OpError's Op, if err is one
	SetupErrno int    // the *uring.SetupError's errno, if err wraps one
	IsEPERM    bool
	Type       string // %T of the value returned on success
}

func reportCall(v any, err error) callReport {
	if err != nil {
		r := callReport{Err: err.Error(), IsEPERM: errors.Is(err, syscall.EPERM)}
		var oe *net.OpError
		if errors.As(err, &oe) {
			r.OpError = oe.Op
		}
		var se *uring.SetupError
		if errors.As(err, &se) {
			r.SetupErrno = int(se.Errno)
		}
		return r
	}
	return callReport{Type: fmt.Sprintf("%T", v)}
}

type fallbackReport struct {
	Fail string

	// Without FallbackToNet.
	Listen, ListenConfigListen, ListenPacket, Dial, DialerDial, DialUDP callReport

	// With FallbackToNet.
	FallbackListen, FallbackDial, FallbackAccept callReport
	FallbackListenPacket, FallbackDialUDP        callReport
	StreamEcho, PacketEcho                       string
}

// noUringChild makes io_uring unavailable, then reports.
func noUringChild() int {
	var rep fallbackReport
	defer func() {
		b, _ := json.Marshal(rep)
		fmt.Printf("%s%s\n", fallbackReportPrefix, b)
	}()
	if err := testutil.DenySyscall(unix.SYS_IO_URING_SETUP, syscall.EPERM); err != nil {
		rep.Fail = err.Error()
		return 0
	}
	if _, err := reactor.Default(); !reactor.Unavailable(err) {
		rep.Fail = fmt.Sprintf("reactor.Default with io_uring_setup denied: %v", err)
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A peer to dial, from package net.
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		rep.Fail = err.Error()
		return 0
	}
	defer peer.Close()
	udpPeer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		rep.Fail = err.Error()
		return 0
	}
	defer udpPeer.Close()

	rep.Listen = reportCall(Listen("tcp", "127.0.0.1:0"))
	rep.ListenConfigListen = reportCall((&ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0"))
	rep.ListenPacket = reportCall(ListenPacket("udp", "127.0.0.1:0"))
	rep.Dial = reportCall(Dial("tcp", peer.Addr().String()))
	rep.DialerDial = reportCall((&Dialer{}).Dial("tcp", peer.Addr().String()))
	rep.DialUDP = reportCall(Dial("udp", udpPeer.LocalAddr().String()))

	lc := ListenConfig{FallbackToNet: true}
	d := Dialer{FallbackToNet: true, Timeout: time.Minute}
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	rep.FallbackListen = reportCall(ln, err)
	if err != nil {
		return 0
	}
	defer ln.Close()
	accepted := make(chan callReport, 1)
	go func() {
		s, err := ln.Accept()
		accepted <- reportCall(s, err)
		if err == nil {
			defer s.Close()
			io.Copy(s, s)
		}
	}()
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	rep.FallbackDial = reportCall(c, err)
	if err != nil {
		return 0
	}
	rep.FallbackAccept = <-accepted
	c.SetDeadline(time.Now().Add(time.Minute))
	io.WriteString(c, "echo through net\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		line = err.Error()
	}
	rep.StreamEcho = line
	c.Close()

	pc, err := lc.ListenPacket(ctx, "udp", "127.0.0.1:0")
	rep.FallbackListenPacket = reportCall(pc, err)
	if err != nil {
		return 0
	}
	defer pc.Close()
	uc, err := d.Dial("udp", pc.LocalAddr().String())
	rep.FallbackDialUDP = reportCall(uc, err)
	if err != nil {
		return 0
	}
	defer uc.Close()
	pc.SetDeadline(time.Now().Add(time.Minute))
	uc.SetDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 64)
	if _, err := uc.Write([]byte("datagram through net")); err != nil {
		rep.PacketEcho = err.Error()
		return 0
	}
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		rep.PacketEcho = err.Error()
		return 0
	}
	if _, err := pc.WriteTo(buf[:n], from); err != nil {
		rep.PacketEcho = err.Error()
		return 0
	}
	n, err = uc.Read(buf)
	if err != nil {
		rep.PacketEcho = err.Error()
		return 0
	}
	rep.PacketEcho = string(buf[:n])
	return 0
}

// TestFallbackToNet checks, in a process where io_uring_setup fails with
// EPERM, that calls without FallbackToNet fail with a *net.OpError that
// wraps the *uring.SetupError and names the option, and that calls with
// it run on package net's own types, bytes making the round trip.
func TestFallbackToNet(t *testing.T) {
	if !testutil.SeccompSupported() {
		t.Skipf("the seccomp test filter is written for amd64 only, not %s", runtime.GOARCH)
	}
	out := testutil.RunChild(t, childEnv+"=no-uring", 5*time.Minute, "-test.run=^$")
	var rep fallbackReport
	testutil.ChildReport(t, out, fallbackReportPrefix, &rep)
	if rep.Fail != "" {
		t.Fatalf("child could not make io_uring unavailable: %s", rep.Fail)
	}
	t.Logf("Listen without FallbackToNet: %s", rep.Listen.Err)

	for _, c := range []struct {
		name, op string
		r        callReport
	}{
		{"Listen", "listen", rep.Listen},
		{"ListenConfig.Listen", "listen", rep.ListenConfigListen},
		{"ListenPacket", "listen", rep.ListenPacket},
		{"Dial", "dial", rep.Dial},
		{"Dialer.Dial", "dial", rep.DialerDial},
		{"Dial udp", "dial", rep.DialUDP},
	} {
		r := c.r
		if r.Err == "" {
			t.Errorf("%s without FallbackToNet succeeded with a %s", c.name, r.Type)
			continue
		}
		if r.OpError != c.op || r.SetupErrno != int(syscall.EPERM) || !r.IsEPERM {
			t.Errorf("%s: %+v, want a *net.OpError{Op: %q} wrapping a *uring.SetupError with EPERM", c.name, r, c.op)
		}
		for _, want := range []string{"io_uring_disabled", "seccomp", "FallbackToNet"} {
			if !strings.Contains(r.Err, want) {
				t.Errorf("%s: error %q does not mention %s", c.name, r.Err, want)
			}
		}
	}

	for _, c := range []struct {
		name string
		r    callReport
		want string
	}{
		{"ListenConfig.Listen", rep.FallbackListen, "*net.TCPListener"},
		{"Dialer.Dial", rep.FallbackDial, "*net.TCPConn"},
		{"Accept", rep.FallbackAccept, "*net.TCPConn"},
		{"ListenConfig.ListenPacket", rep.FallbackListenPacket, "*net.UDPConn"},
		{"Dialer.Dial udp", rep.FallbackDialUDP, "*net.UDPConn"},
	} {
		if c.r.Err != "" || c.r.Type != c.want {
			t.Errorf("%s with FallbackToNet: %+v, want a %s", c.name, c.r, c.want)
		}
	}
	if rep.StreamEcho != "echo through net\n" {
		t.Errorf("stream echo through the fallback: %q", rep.StreamEcho)
	}
	if rep.PacketEcho != "datagram through net" {
		t.Errorf("datagram echo through the fallback: %q", rep.PacketEcho)
	}
}

// TestFallbackToNetUnused checks that FallbackToNet changes nothing where
// io_uring works: the listener and connections are this package's.
func TestFallbackToNetUnused(t *testing.T) {
	testutil.CheckFDs(t)
	ln, err := (&ListenConfig{FallbackToNet: true}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, ok := ln.(*Listener); !ok {
		t.Fatalf("Listen gave a %T, want *Listener", ln)
	}
	c, err := (&Dialer{FallbackToNet: true}).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*Conn); !ok {
		t.Fatalf("Dial gave a %T, want *Conn", c)
	}
	pc, err := (&ListenConfig{FallbackToNet: true}).ListenPacket(t.Context(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, ok := pc.(*PacketConn); !ok {
		t.Fatalf("ListenPacket gave a %T, want *PacketConn", pc)
	}
}
