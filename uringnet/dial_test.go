package uringnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestNetSignatures checks that the package-level functions and the
// config types can stand in for net's where code holds them as values of
// net's function and interface types.
func TestNetSignatures(t *testing.T) {
	var (
		_ func(string, string) (net.Listener, error)                                   = Listen
		_ func(string, string) (net.Conn, error)                                       = Dial
		_ func(context.Context, string, string) (net.Conn, error)                      = DialContext
		_ func(string, string) (net.PacketConn, error)                                 = ListenPacket
		_ func(*ListenConfig, context.Context, string, string) (net.Listener, error)   = (*ListenConfig).Listen
		_ func(*ListenConfig, context.Context, string, string) (net.PacketConn, error) = (*ListenConfig).ListenPacket
		_ func(*Dialer, string, string) (net.Conn, error)                              = (*Dialer).Dial
		_ func(*Dialer, context.Context, string, string) (net.Conn, error)             = (*Dialer).DialContext
	)
}

// TestDialErrorIsNilInterface checks that a failed Dial or Listen returns
// a nil interface, not a nil *Conn inside one, which would compare
// non-nil.
func TestDialErrorIsNilInterface(t *testing.T) {
	c, err := Dial("tcp", "127.0.0.1:1")
	if err == nil || c != nil {
		t.Fatalf("Dial to a closed port: %v, %v", c, err)
	}
	c, err = Dial("udp", "no-such-host.invalid:1")
	if err == nil || c != nil {
		t.Fatalf("Dial udp to a bad name: %v, %v", c, err)
	}
	ln, err := Listen("tcp", "256.0.0.1:0")
	if err == nil || ln != nil {
		t.Fatalf("Listen on a bad address: %v, %v", ln, err)
	}
	pc, err := ListenPacket("udp", "256.0.0.1:0")
	if err == nil || pc != nil {
		t.Fatalf("ListenPacket on a bad address: %v, %v", pc, err)
	}
	for _, network := range []string{"ip", "udplite", ""} {
		if c, err := Dial(network, "127.0.0.1:1"); err == nil || c != nil {
			t.Fatalf("Dial(%q): %v, %v", network, c, err)
		} else {
			var oe *net.OpError
			var une net.UnknownNetworkError
			if !errors.As(err, &oe) || oe.Op != "dial" || !errors.As(err, &une) {
				t.Fatalf("Dial(%q): %v, want a *net.OpError with net.UnknownNetworkError", network, err)
			}
		}
	}
}

// TestDialDatagram checks that Dial on a datagram network gives a
// connected *PacketConn as a net.Conn, exchanging datagrams with the
// peer only, for UDP (with the Dialer's LocalAddr and Control) and
// unixgram.
func TestDialDatagram(t *testing.T) {
	testutil.CheckFDs(t)
	t.Run("udp", func(t *testing.T) {
		srv := listenPacketLocal(t, "udp4", "127.0.0.1:0")
		done := echoPackets(srv)
		defer func() { srv.Close(); <-done }()

		var controlled []string
		d := Dialer{
			LocalAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)},
			Control: func(network, address string, c syscall.RawConn) error {
				controlled = append(controlled, network+" "+address)
				return nil
			},
		}
		c, err := d.Dial("udp", srv.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pc, ok := c.(*PacketConn)
		if !ok {
			t.Fatalf("Dial udp gave a %T, want *PacketConn", c)
		}
		if want := "udp4 " + srv.LocalAddr().String(); len(controlled) != 1 || controlled[0] != want {
			t.Fatalf("Control calls %q, want [%q]", controlled, want)
		}
		if la, ok := pc.LocalAddr().(*net.UDPAddr); !ok || !la.IP.Equal(net.IPv4(127, 0, 0, 1)) || la.Port == 0 {
			t.Fatalf("LocalAddr %v", pc.LocalAddr())
		}
		if c.RemoteAddr().String() != srv.LocalAddr().String() {
			t.Fatalf("RemoteAddr %v, want %v", c.RemoteAddr(), srv.LocalAddr())
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 64)
		for _, msg := range []string{"one", "two"} {
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			n, err := c.Read(buf)
			if err != nil || string(buf[:n]) != msg {
				t.Fatalf("Read: %q, %v; want %q", buf[:n], err, msg)
			}
		}
	})
	t.Run("unixgram", func(t *testing.T) {
		dir := t.TempDir()
		srv := listenPacketLocal(t, "unixgram", filepath.Join(dir, "srv"))
		c, err := Dial("unixgram", filepath.Join(dir, "srv"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, ok := c.(*PacketConn); !ok {
			t.Fatalf("Dial unixgram gave a %T, want *PacketConn", c)
		}
		if _, err := c.Write([]byte("datagram")); err != nil {
			t.Fatal(err)
		}
		srv.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 64)
		n, from, err := srv.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "datagram" || from != nil {
			t.Fatalf("ReadFrom: %q %v %v", buf[:n], from, err)
		}
	})
}

// TestListenConfigListenPacket checks that ListenConfig.ListenPacket runs
// Control before the bind (here: SO_REUSEPORT, which lets a second
// socket bind the same port) and honours a cancelled context.
func TestListenConfigListenPacket(t *testing.T) {
	testutil.CheckFDs(t)
	lc := ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	a, err := lc.ListenPacket(t.Context(), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, ok := a.(*PacketConn); !ok {
		t.Fatalf("ListenPacket gave a %T, want *PacketConn", a)
	}
	b, err := lc.ListenPacket(t.Context(), "udp4", a.LocalAddr().String())
	if err != nil {
		t.Fatalf("second bind with SO_REUSEPORT: %v", err)
	}
	b.Close()
	if _, err := (&ListenConfig{}).ListenPacket(t.Context(), "udp4", a.LocalAddr().String()); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second bind without SO_REUSEPORT: %v, want EADDRINUSE", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if c, err := lc.ListenPacket(ctx, "udp4", "127.0.0.1:0"); !errors.Is(err, context.Canceled) || c != nil {
		t.Fatalf("ListenPacket with a cancelled context: %v, %v", c, err)
	}
}

// TestPartialDeadline checks the share of a serial dial's time one
// address gets, against the values net's rule gives.
func TestPartialDeadline(t *testing.T) {
	now := time.Unix(1e9, 0)
	for _, tc := range []struct {
		left      time.Duration // until the deadline; 0: no deadline
		remaining int
		want      time.Duration // the share; -1: out of time
	}{
		{0, 3, 0},
		{6 * time.Second, 1, 6 * time.Second},
		{6 * time.Second, 2, 3 * time.Second},
		{6 * time.Second, 3, 2 * time.Second},
		// Below the minimum the first addresses get the minimum...
		{6 * time.Second, 4, 2 * time.Second},
		{3 * time.Second, 2, 2 * time.Second},
		// ...or all that is left.
		{time.Second, 2, time.Second},
		{time.Nanosecond, 5, time.Nanosecond},
		{-time.Second, 1, -1},
	} {
		deadline := time.Time{}
		if tc.left != 0 {
			deadline = now.Add(tc.left)
		}
		got, err := partialDeadline(now, deadline, tc.remaining)
		switch {
		case tc.want == -1:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("partialDeadline(%v left, %d addresses): %v, %v; want out of time", tc.left, tc.remaining, got, err)
			}
		case tc.want == 0:
			if err != nil || !got.IsZero() {
				t.Errorf("partialDeadline(no deadline, %d addresses): %v, %v; want no deadline", tc.remaining, got, err)
			}
		case err != nil || got.Sub(now) != tc.want:
			t.Errorf("partialDeadline(%v left, %d addresses): %v, %v; want a share of %v", tc.left, tc.remaining, got.Sub(now), err, tc.want)
		}
	}
}

// TestDialSplitsTime dials names whose addresses include some that
// never answer a SYN, with a Dialer Timeout, a Dialer Deadline or a
// context deadline, serially and racing the families, and checks that
// each address of a family gets its share of the time as with net: the
// dial reaches the address after a black hole instead of spending all
// its time on it. net.Dialer dials the same names side by side; both
// must make the same connects no earlier than the shares allow, and end
// alike: the same address reached, or the same error.
func TestDialSplitsTime(t *testing.T) {
	if !inBlackholeNetns(t) {
		return
	}
	testutil.CheckFDs(t)
	names := map[string][]netip.Addr{
		"serial.test.":   {nsBlackhole4, nsLocal4},
		"three.test.":    {nsBlackhole4, nsBlackhole4b, nsLocal4},
		"eyeballs.test.": {nsBlackhole6, nsLocal6, nsBlackhole4},
		"dead.test.":     {nsBlackhole4, nsBlackhole4b},
		"dead46.test.":   {nsBlackhole6, nsBlackhole4},
		"refused.test.":  {nsRefused4, nsBlackhole4},
	}
	res := testResolver(t, func(name string) []netip.Addr { return names[name] })
	ln4 := listenLocalAddr(t, "tcp4", netip.AddrPortFrom(nsLocal4, 0))
	port := ln4.Addr().(*net.TCPAddr).Port
	ln6 := listenLocalAddr(t, "tcp6", netip.AddrPortFrom(nsLocal6, uint16(port)))
	acceptAndClose(ln4)
	acceptAndClose(ln6)
	// The dialers see the resolver's sorted order: the test relies on it
	// being the answers' order, IPv6 first.
	for name, answers := range names {
		want := slices.Concat(
			slices.DeleteFunc(slices.Clone(answers), netip.Addr.Is4),
			slices.DeleteFunc(slices.Clone(answers), netip.Addr.Is6))
		addrs, err := resolveDialWith(t.Context(), res, "tcp", net.JoinHostPort(name, strconv.Itoa(port)))
		var got []netip.Addr
		for _, a := range addrs {
			got = append(got, a.(*net.TCPAddr).AddrPort().Addr().Unmap())
		}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("%s resolves to %v, %v; want %v", name, got, err, want)
		}
	}

	type attempt struct {
		addr netip.Addr
		at   time.Duration // no earlier than this after the dial starts
	}
	const s = time.Second
	for _, tc := range []struct {
		name, host    string
		by            string // what limits the dial: "Timeout", "Deadline" or "ctx"
		limit         time.Duration
		cancelAt      time.Duration // if not zero, the context is cancelled then
		fallbackDelay time.Duration
		attempts      []attempt
		reach         netip.Addr // the address connected to; invalid: none
		errs          []string   // else the error's text, one of these
	}{
		// Two addresses, 3x the minimum share: half each.
		{name: "Timeout", host: "serial.test.", by: "Timeout", limit: 6 * s,
			attempts: []attempt{{nsBlackhole4, 0}, {nsLocal4, 3 * s}}, reach: nsLocal4},
		{name: "Deadline", host: "serial.test.", by: "Deadline", limit: 6 * s,
			attempts: []attempt{{nsBlackhole4, 0}, {nsLocal4, 3 * s}}, reach: nsLocal4},
		{name: "ctx", host: "serial.test.", by: "ctx", limit: 6 * s,
			attempts: []attempt{{nsBlackhole4, 0}, {nsLocal4, 3 * s}}, reach: nsLocal4},
		// Three addresses: a third each.
		{name: "three", host: "three.test.", by: "Timeout", limit: 6 * s,
			attempts: []attempt{{nsBlackhole4, 0}, {nsBlackhole4b, 2 * s}, {nsLocal4, 4 * s}}, reach: nsLocal4},
		// Half would be below the minimum: the first gets the minimum,
		// the last what is left.
		{name: "minimum", host: "serial.test.", by: "Timeout", limit: 3 * s,
			attempts: []attempt{{nsBlackhole4, 0}, {nsLocal4, 2 * s}}, reach: nsLocal4},
		// Less than the minimum: the first gets it all. The error names
		// it or, if the context was seen to be done before the next
		// address (always so here, not always in net, where the
		// connect's own deadline may fire first), the address there was
		// no time for.
		{name: "short", host: "serial.test.", by: "ctx", limit: s,
			attempts: []attempt{{nsBlackhole4, 0}},
			errs: []string{
				"dial tcp " + net.JoinHostPort(nsBlackhole4.String(), strconv.Itoa(port)) + ": i/o timeout",
				"dial tcp " + net.JoinHostPort(nsLocal4.String(), strconv.Itoa(port)) + ": i/o timeout",
			}},
		{name: "cancel", host: "serial.test.", by: "ctx", limit: 6 * s, cancelAt: s / 2,
			attempts: []attempt{{nsBlackhole4, 0}},
			errs:     []string{"dial tcp " + net.JoinHostPort(nsLocal4.String(), strconv.Itoa(port)) + ": operation was canceled"}},
		// Racing the families: the IPv6 racer splits its time between
		// its two addresses; the IPv4 one starts after FallbackDelay.
		{name: "eyeballs/Timeout", host: "eyeballs.test.", by: "Timeout", limit: 6 * s,
			attempts: []attempt{{nsBlackhole6, 0}, {nsBlackhole4, 300 * time.Millisecond}, {nsLocal6, 3 * s}}, reach: nsLocal6},
		{name: "eyeballs/Deadline", host: "eyeballs.test.", by: "Deadline", limit: 6 * s,
			attempts: []attempt{{nsBlackhole6, 0}, {nsBlackhole4, 300 * time.Millisecond}, {nsLocal6, 3 * s}}, reach: nsLocal6},
		{name: "eyeballs/ctx", host: "eyeballs.test.", by: "ctx", limit: 6 * s,
			attempts: []attempt{{nsBlackhole6, 0}, {nsBlackhole4, 300 * time.Millisecond}, {nsLocal6, 3 * s}}, reach: nsLocal6},
		// No race: the three addresses in turn, a third each.
		{name: "eyeballs/serial", host: "eyeballs.test.", by: "Timeout", limit: 6 * s, fallbackDelay: -1,
			attempts: []attempt{{nsBlackhole6, 0}, {nsLocal6, 2 * s}}, reach: nsLocal6},
		// Every address fails: the error is the first's.
		{name: "dead", host: "dead.test.", by: "Timeout", limit: 6 * s,
			attempts: []attempt{{nsBlackhole4, 0}, {nsBlackhole4b, 3 * s}},
			errs:     []string{"dial tcp " + net.JoinHostPort(nsBlackhole4.String(), strconv.Itoa(port)) + ": i/o timeout"}},
		{name: "refused", host: "refused.test.", by: "Timeout", limit: 2 * s,
			attempts: []attempt{{nsRefused4, 0}, {nsBlackhole4, 0}},
			errs:     []string{"dial tcp " + net.JoinHostPort(nsRefused4.String(), strconv.Itoa(port)) + ": connect: connection refused"}},
		// Both families fail: the error is the primary family's.
		{name: "eyeballs/dead", host: "dead46.test.", by: "ctx", limit: 3 * s,
			attempts: []attempt{{nsBlackhole6, 0}, {nsBlackhole4, 300 * time.Millisecond}},
			errs:     []string{"dial tcp " + net.JoinHostPort(nsBlackhole6.String(), strconv.Itoa(port)) + ": i/o timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			address := net.JoinHostPort(tc.host, strconv.Itoa(port))
			type outcome struct {
				attempts []attempt
				took     time.Duration
				conn     net.Conn
				err      error
			}
			dial := func(useNet bool) (o outcome) {
				var mu sync.Mutex
				start := time.Now()
				control := func(network, address string, _ syscall.RawConn) error {
					mu.Lock()
					defer mu.Unlock()
					o.attempts = append(o.attempts, attempt{netip.MustParseAddrPort(address).Addr(), time.Since(start)})
					return nil
				}
				ctx := context.Background()
				var timeout time.Duration
				var deadline time.Time
				switch tc.by {
				case "Timeout":
					timeout = tc.limit
				case "Deadline":
					deadline = start.Add(tc.limit)
				case "ctx":
					var cancel context.CancelFunc
					ctx, cancel = context.WithDeadline(ctx, start.Add(tc.limit))
					defer cancel()
				}
				if tc.cancelAt != 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithCancel(ctx)
					defer cancel()
					defer time.AfterFunc(tc.cancelAt, cancel).Stop()
				}
				if useNet {
					d := net.Dialer{Timeout: timeout, Deadline: deadline, FallbackDelay: tc.fallbackDelay, Resolver: res, Control: control}
					o.conn, o.err = d.DialContext(ctx, "tcp", address)
				} else {
					d := Dialer{Timeout: timeout, Deadline: deadline, FallbackDelay: tc.fallbackDelay, Resolver: res, Control: control}
					o.conn, o.err = d.DialContext(ctx, "tcp", address)
				}
				o.took = time.Since(start)
				mu.Lock()
				defer mu.Unlock()
				return o
			}
			var ours, nets outcome
			var wg sync.WaitGroup
			wg.Go(func() { ours = dial(false) })
			wg.Go(func() { nets = dial(true) })
			wg.Wait()
			for _, o := range []outcome{ours, nets} {
				if o.conn != nil {
					defer o.conn.Close()
				}
			}
			endsBy := tc.limit
			if tc.cancelAt != 0 {
				endsBy = tc.cancelAt
			}
			for _, side := range []struct {
				name string
				o    outcome
			}{{"uringnet", ours}, {"net", nets}} {
				o := side.o
				var got []netip.Addr
				for _, a := range o.attempts {
					got = append(got, a.addr)
				}
				var want []netip.Addr
				for _, a := range tc.attempts {
					want = append(want, a.addr)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s connected to %v, want %v", side.name, got, want)
					continue
				}
				// A share ends no earlier than its deadline, and, on a
				// machine as busy as it may be, not much later.
				const slack = 1500 * time.Millisecond
				for i, a := range o.attempts {
					if at := tc.attempts[i].at; a.at < at || a.at > at+slack {
						t.Errorf("%s connected to %v after %v, want %v (+%v at most)", side.name, a.addr, a.at, at, slack)
					}
				}
				if tc.reach.IsValid() {
					if o.err != nil {
						t.Errorf("%s: %v after %v; want a connection to %v", side.name, o.err, o.took, tc.reach)
					} else if ra := o.conn.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(); ra != tc.reach {
						t.Errorf("%s reached %v, want %v", side.name, ra, tc.reach)
					}
					continue
				}
				var oe *net.OpError
				switch {
				case o.err == nil:
					t.Errorf("%s reached %v; want %q", side.name, o.conn.RemoteAddr(), tc.errs)
				case !slices.Contains(tc.errs, o.err.Error()) || !errors.As(o.err, &oe):
					t.Errorf("%s: %v (%T); want one of %q in a *net.OpError", side.name, o.err, o.err, tc.errs)
				case o.took < endsBy:
					t.Errorf("%s failed after %v, before the dial's end at %v", side.name, o.took, endsBy)
				}
			}
			if ours.err == nil || nets.err == nil {
				return
			}
			// The same error in every way a caller may look at it.
			var ourOp, netOp *net.OpError
			errors.As(ours.err, &ourOp)
			errors.As(nets.err, &netOp)
			if ourOp == nil || netOp == nil {
				return
			}
			if ourOp.Op != netOp.Op || ourOp.Net != netOp.Net || (ourOp.Source == nil) != (netOp.Source == nil) ||
				(len(tc.errs) == 1 && fmt.Sprint(ourOp.Addr) != fmt.Sprint(netOp.Addr)) || ourOp.Timeout() != netOp.Timeout() {
				t.Errorf("uringnet's error %#v, net's %#v", ourOp, netOp)
			}
			for _, target := range []error{context.Canceled, syscall.ECONNREFUSED} {
				if errors.Is(ours.err, target) != errors.Is(nets.err, target) {
					t.Errorf("errors.Is(%v): uringnet's %v, net's %v", target, errors.Is(ours.err, target), errors.Is(nets.err, target))
				}
			}
			// net's timeout is context.DeadlineExceeded or, when the
			// connect's poller deadline wins the race with the
			// context's, os.ErrDeadlineExceeded: ours matches both.
			isTimeout := func(err error) (some, all bool) {
				a, b := errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded)
				return a || b, a && b
			}
			ourAny, ourAll := isTimeout(ours.err)
			netAny, _ := isTimeout(nets.err)
			if ourAny != netAny || ourAny != ourAll {
				t.Errorf("a timeout: uringnet's error matches context.DeadlineExceeded %v, os.ErrDeadlineExceeded %v; net's %v, %v",
					errors.Is(ours.err, context.DeadlineExceeded), errors.Is(ours.err, os.ErrDeadlineExceeded),
					errors.Is(nets.err, context.DeadlineExceeded), errors.Is(nets.err, os.ErrDeadlineExceeded))
			}
		})
	}
}

// listenLocalAddr listens on ap and closes the listener when the test
// ends.
func listenLocalAddr(tb testing.TB, network string, ap netip.AddrPort) *Listener {
	tb.Helper()
	ln, err := Listen(network, ap.String())
	if err != nil {
		tb.Fatalf("Listen(%q, %v): %v", network, ap, err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln.(*Listener)
}

// An address that fails before any is chosen (here, no port) gives a
// *net.OpError naming no source, as net's does, even with a LocalAddr.
func TestDialBadAddressNamesNoSource(t *testing.T) {
	laddr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	_, ourErr := (&Dialer{LocalAddr: laddr}).Dial("tcp", "127.0.0.1")
	_, netErr := (&net.Dialer{LocalAddr: laddr}).Dial("tcp", "127.0.0.1")
	var ours, nets *net.OpError
	if !errors.As(ourErr, &ours) || !errors.As(netErr, &nets) {
		t.Fatalf("errors %v (%T) and net's %v (%T); want *net.OpError", ourErr, ourErr, netErr, netErr)
	}
	if ours.Source != nil || nets.Source != nil || ours.Addr != nil || ours.Error() != nets.Error() {
		t.Fatalf("uringnet's error %#v (%v), net's %#v (%v)", ours, ours, nets, nets)
	}
}
