package uringnet

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/sock"
	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// keepAliveOpts reads SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL and
// TCP_KEEPCNT from a connection.
type keepAliveOpts struct{ On, Idle, Interval, Count int }

func readKeepAlive(t *testing.T, c syscall.Conn) keepAliveOpts {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var o keepAliveOpts
	var errs []error
	get := func(fd, level, opt int, v *int) {
		n, err := unix.GetsockoptInt(fd, level, opt)
		*v = n
		if err != nil {
			errs = append(errs, err)
		}
	}
	err = rc.Control(func(fd uintptr) {
		get(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE, &o.On)
		get(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, &o.Idle)
		get(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, &o.Interval)
		get(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPCNT, &o.Count)
	})
	if err != nil || len(errs) > 0 {
		t.Fatalf("getsockopt: %v %v", err, errs)
	}
	return o
}

// kernelKeepAlive is what a fresh socket has: probes off, Linux's
// defaults for the rest (net.ipv4.tcp_keepalive_*).
func kernelKeepAlive(t *testing.T) keepAliveOpts {
	read := func(name string) int {
		n := sock.SysctlInt("/proc/sys/net/ipv4/" + name)
		if n <= 0 {
			t.Skipf("cannot read %s", name)
		}
		return n
	}
	return keepAliveOpts{0, read("tcp_keepalive_time"), read("tcp_keepalive_intvl"), read("tcp_keepalive_probes")}
}

// TestKeepAliveConfig checks Dialer.KeepAliveConfig,
// ListenConfig.KeepAliveConfig and Conn.SetKeepAliveConfig against what
// package net sets for the same settings, read back with getsockopt, and
// against the values net documents.
func TestKeepAliveConfig(t *testing.T) {
	testutil.CheckFDs(t)
	k := kernelKeepAlive(t)
	cases := []struct {
		name      string
		keepAlive time.Duration
		cfg       KeepAliveConfig
		want      keepAliveOpts
	}{
		{"defaults", 0, KeepAliveConfig{}, keepAliveOpts{1, 15, 15, 9}},
		{"KeepAlive", 30 * time.Second, KeepAliveConfig{}, keepAliveOpts{1, 30, 15, 9}},
		{"KeepAlive rounded up", 1500 * time.Millisecond, KeepAliveConfig{}, keepAliveOpts{1, 2, 15, 9}},
		{"KeepAlive off", -1, KeepAliveConfig{}, k},
		{"config", -1, KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 3 * time.Second, Count: 4}, keepAliveOpts{1, 5, 3, 4}},
		{"config zeros", 40 * time.Second, KeepAliveConfig{Enable: true}, keepAliveOpts{1, 15, 15, 9}},
		{"config unchanged", 0, KeepAliveConfig{Enable: true, Idle: -1, Interval: 2500 * time.Millisecond, Count: -1}, keepAliveOpts{1, k.Idle, 3, k.Count}},
		{"config not enabled, KeepAlive off", -1, KeepAliveConfig{Idle: 5 * time.Second}, k},
		{"config not enabled, KeepAlive on", 20 * time.Second, KeepAliveConfig{Idle: 5 * time.Second, Count: 2}, keepAliveOpts{1, 20, 15, 9}},
	}
	nln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nln.Close()
	go func() {
		for {
			c, err := nln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Dialed: uringnet's and net's Dialer with the same fields.
			uc, err := (&Dialer{KeepAlive: tc.keepAlive, KeepAliveConfig: tc.cfg}).Dial("tcp", nln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer uc.Close()
			nc, err := (&net.Dialer{KeepAlive: tc.keepAlive, KeepAliveConfig: tc.cfg}).Dial("tcp", nln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			got, fromNet := readKeepAlive(t, uc.(*Conn)), readKeepAlive(t, nc.(*net.TCPConn))
			if got != tc.want || got != fromNet {
				t.Errorf("dialed: %+v; net's %+v; want %+v", got, fromNet, tc.want)
			}

			// Accepted: uringnet's ListenConfig.
			ln := listenLocal(t, "tcp", ListenConfig{KeepAlive: tc.keepAlive, KeepAliveConfig: tc.cfg})
			_, s := pair(t, ln)
			if got := readKeepAlive(t, s); got != tc.want {
				t.Errorf("accepted: %+v, want %+v", got, tc.want)
			}
			// net's ListenConfig, for the same comparison.
			nl, err := (&net.ListenConfig{KeepAlive: tc.keepAlive, KeepAliveConfig: tc.cfg}).Listen(t.Context(), "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer nl.Close()
			_, ns := netPair(t, nl)
			if fromNet := readKeepAlive(t, ns.(*net.TCPConn)); fromNet != tc.want {
				t.Errorf("net's accepted: %+v, want %+v", fromNet, tc.want)
			}
		})
	}

	t.Run("SetKeepAliveConfig", func(t *testing.T) {
		ln := listenLocal(t, "tcp", ListenConfig{})
		c, _ := pair(t, ln)
		nc, err := net.Dial("tcp", nln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		for _, cfg := range []KeepAliveConfig{
			{Enable: false, Idle: 7 * time.Second, Interval: 8 * time.Second, Count: 3},
			{Enable: true, Idle: -1, Interval: -1, Count: -1},
			{Enable: true},
			{Enable: true, Idle: 100 * time.Millisecond, Interval: time.Nanosecond, Count: 127},
		} {
			if err := c.SetKeepAliveConfig(cfg); err != nil {
				t.Fatalf("SetKeepAliveConfig(%+v): %v", cfg, err)
			}
			if err := nc.(*net.TCPConn).SetKeepAliveConfig(cfg); err != nil {
				t.Fatalf("net's SetKeepAliveConfig(%+v): %v", cfg, err)
			}
			if got, want := readKeepAlive(t, c), readKeepAlive(t, nc.(*net.TCPConn)); got != want {
				t.Errorf("SetKeepAliveConfig(%+v): %+v, net's %+v", cfg, got, want)
			}
		}
		// SetKeepAlivePeriod sets the idle time only, as net's does.
		for _, d := range []time.Duration{42 * time.Second, 0, -1} {
			c.SetKeepAlivePeriod(d)
			nc.(*net.TCPConn).SetKeepAlivePeriod(d)
			if got, want := readKeepAlive(t, c), readKeepAlive(t, nc.(*net.TCPConn)); got != want {
				t.Errorf("SetKeepAlivePeriod(%v): %+v, net's %+v", d, got, want)
			}
		}
		// Out of the kernel's range: a *net.OpError, as net's.
		err = c.SetKeepAliveConfig(KeepAliveConfig{Enable: true, Count: 1000})
		if oe, ok := err.(*net.OpError); !ok || oe.Op != "set" {
			t.Errorf("SetKeepAliveConfig with Count 1000: %v, want a *net.OpError", err)
		}
	})
}
