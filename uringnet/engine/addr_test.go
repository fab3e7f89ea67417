package engine

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/uring-go/uring/internal/testutil"
)

// addrRecorder sends each connection's (or datagram's) local and remote
// address as the handler sees them.
type addrRecorder struct {
	gnet.BuiltinEventEngine
	addrs chan [2]net.Addr
}

func (h *addrRecorder) record(c gnet.Conn) {
	select {
	case h.addrs <- [2]net.Addr{c.LocalAddr(), c.RemoteAddr()}:
	default:
	}
}

func (h *addrRecorder) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	h.record(c)
	return nil, gnet.None
}

func (h *addrRecorder) OnTraffic(c gnet.Conn) gnet.Action {
	h.record(c)
	c.Discard(-1)
	return gnet.None
}

// TestConnAddrsMatchGnet serves the same kinds of address on gnet and on
// this engine and has a net client connect (or send) to each: the
// engine's handler's LocalAddr and RemoteAddr must be the client's peer's
// and own address as net names them, which is what gnet's handler gets
// wherever gnet agrees with net (a disagreement is logged).
func TestConnAddrsMatchGnet(t *testing.T) {
	dir := t.TempDir()
	pid := os.Getpid()
	type tc struct {
		name, proto, host string // host "" for unix
		path              string // a unix socket's, with %d for the runner
		local             string // the client's unix name, with %d
	}
	cases := []tc{
		{name: "tcp4", proto: "tcp", host: "127.0.0.1"},
		{name: "tcp6", proto: "tcp6", host: "::1"},
		{name: "tcp6 zone", proto: "tcp6", host: "zone"},
		{name: "unix, unnamed peer", proto: "unix", path: filepath.Join(dir, "s%d")},
		// Not an abstract listener: gnet's URL parsing takes its @ for
		// user information, and so does the engine's.
		{name: "unix, abstract peer", proto: "unix", path: filepath.Join(dir, "a%d"), local: fmt.Sprintf("@engine-peer-%d-%%d", pid)},
		{name: "unix, named peer", proto: "unix", path: filepath.Join(dir, "n%d"), local: filepath.Join(dir, "peer%d")},
		{name: "udp4", proto: "udp4", host: "127.0.0.1"},
		{name: "udp6", proto: "udp6", host: "::1"},
		{name: "udp6 zone", proto: "udp6", host: "zone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.host == "zone" {
				ip, zone := testutil.LinkLocal(t)
				c.host = ip.String() + "%" + zone
			}
			var got [2][2]net.Addr  // per runner: the handler's local, remote
			var want [2][2]net.Addr // per runner: the client's peer, own
			for i, r := range runners[:2] {
				testutil.CheckFDs(t)
				h := &addrRecorder{addrs: make(chan [2]net.Addr, 1)}
				network, addr := c.proto, ""
				var laddr net.Addr
				if c.proto == "unix" {
					addr = fmt.Sprintf(c.path, i)
					if c.local != "" {
						laddr = &net.UnixAddr{Name: fmt.Sprintf(c.local, i), Net: "unix"}
					}
				} else {
					port := freePort(t)
					if c.proto[:3] == "udp" {
						port = freeUDPPort(t, c.proto, c.host)
					}
					addr = net.JoinHostPort(c.host, strconv.Itoa(port))
					network = c.proto[:3]
				}
				protoAddr := c.proto + "://" + addr
				errc := make(chan error, 1)
				go func() { errc <- r.run(h, protoAddr, gnet.WithLogger(quietLogger{})) }()
				var cl net.Conn
				var err error
				for deadline := time.Now().Add(5 * time.Second); ; {
					if laddr != nil {
						os.Remove(laddr.String()) // bound by a failed attempt
					}
					d := net.Dialer{LocalAddr: laddr, Timeout: time.Second}
					if cl, err = d.Dial(network, addr); err == nil && network == "udp" {
						_, err = cl.Write([]byte("x"))
					}
					if err == nil {
						select {
						case got[i] = <-h.addrs:
						case <-time.After(100 * time.Millisecond):
							// A datagram sent before the engine
							// listened is lost: send another.
							err = fmt.Errorf("no OnOpen or OnTraffic")
						}
					}
					if err == nil || time.Now().After(deadline) {
						break
					}
					if cl != nil {
						cl.Close()
						cl = nil
					}
					time.Sleep(10 * time.Millisecond)
				}
				if err == nil {
					want[i] = [2]net.Addr{cl.RemoteAddr(), cl.LocalAddr()}
					cl.Close()
				}
				run := &running{protoAddr: protoAddr, errc: errc, r: r}
				run.shutdown(t)
				if err != nil {
					t.Fatalf("%s: %v", r.name, err)
				}
			}
			// The runners listened on different ports or paths: each
			// handler is compared with its own client.
			for j, what := range []string{"LocalAddr", "RemoteAddr"} {
				if !testutil.SameAddr(got[0][j], want[0][j]) {
					t.Logf("%s: gnet's handler has %s, net's client %s", what, testutil.FmtAddr(got[0][j]), testutil.FmtAddr(want[0][j]))
				}
				if !testutil.SameAddr(got[1][j], want[1][j]) {
					t.Errorf("%s: the engine's handler has %s, net's client %s (gnet agrees with it: %v)",
						what, testutil.FmtAddr(got[1][j]), testutil.FmtAddr(want[1][j]), testutil.SameAddr(got[0][j], want[0][j]))
				}
			}
		})
	}
}
