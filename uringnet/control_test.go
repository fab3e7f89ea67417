package uringnet

import (
	"context"
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
)

// TestControlNetwork: Control functions are given the network as net
// gives it, with the family spelled out ("tcp4", "udp6"), for listening,
// dialing and datagram sockets.
func TestControlNetwork(t *testing.T) {
	testutil.CheckFDs(t)
	ctx := context.Background()
	record := func(got *string) func(string, string, syscall.RawConn) error {
		return func(network, _ string, _ syscall.RawConn) error { *got = network; return nil }
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		do   func(std bool, ctl func(string, string, syscall.RawConn) error) error
	}{
		{"listen tcp 127.0.0.1", func(std bool, ctl func(string, string, syscall.RawConn) error) error {
			return closeOf(listenWith(ctx, std, ctl, "tcp", "127.0.0.1:0"))
		}},
		{"listen tcp :0", func(std bool, ctl func(string, string, syscall.RawConn) error) error {
			return closeOf(listenWith(ctx, std, ctl, "tcp", ":0"))
		}},
		{"listen tcp6 [::1]", func(std bool, ctl func(string, string, syscall.RawConn) error) error {
			return closeOf(listenWith(ctx, std, ctl, "tcp6", "[::1]:0"))
		}},
		{"listen unix", func(std bool, ctl func(string, string, syscall.RawConn) error) error {
			name := "u-net"
			if !std {
				name = "u-uring"
			}
			return closeOf(listenWith(ctx, std, ctl, "unix", filepath.Join(dir, name)))
		}},
		{"listen udp 127.0.0.1", func(std bool, ctl func(string, string, syscall.RawConn) error) error {
			var c net.PacketConn
			var err error
			if std {
				c, err = (&net.ListenConfig{Control: ctl}).ListenPacket(ctx, "udp", "127.0.0.1:0")
			} else {
				c, err = (&ListenConfig{Control: ctl}).ListenPacket(ctx, "udp", "127.0.0.1:0")
			}
			return closeOf(c, err)
		}},
		{"dial tcp", func(std bool, ctl func(string, string, syscall.RawConn) error) error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			defer ln.Close()
			if std {
				return closeOf((&net.Dialer{Control: ctl}).Dial("tcp", ln.Addr().String()))
			}
			return closeOf((&Dialer{Control: ctl}).Dial("tcp", ln.Addr().String()))
		}},
		{"dial udp [::1]", func(std bool, ctl func(string, string, syscall.RawConn) error) error {
			if std {
				return closeOf((&net.Dialer{Control: ctl}).Dial("udp", "[::1]:9"))
			}
			return closeOf((&Dialer{Control: ctl}).Dial("udp", "[::1]:9"))
		}},
	} {
		var want, got string
		if err := tc.do(true, record(&want)); err != nil {
			t.Fatalf("%s: net: %v", tc.name, err)
		}
		if err := tc.do(false, record(&got)); err != nil {
			t.Fatalf("%s: uringnet: %v", tc.name, err)
		}
		if got != want {
			t.Errorf("%s: Control got network %q, net gives %q", tc.name, got, want)
		}
	}
}

func listenWith(ctx context.Context, std bool, ctl func(string, string, syscall.RawConn) error, network, addr string) (net.Listener, error) {
	if std {
		return (&net.ListenConfig{Control: ctl}).Listen(ctx, network, addr)
	}
	return (&ListenConfig{Control: ctl}).Listen(ctx, network, addr)
}

// closeOf closes c if err is nil and returns err.
func closeOf[C interface{ Close() error }](c C, err error) error {
	if err != nil {
		return err
	}
	return c.Close()
}
