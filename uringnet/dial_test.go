package uringnet

import (
	"context"
	"errors"
	"net"
	"path/filepath"
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
	defer testutil.CheckFDs(t)
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
	defer testutil.CheckFDs(t)
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
