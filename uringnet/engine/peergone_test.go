package engine

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/sock"
	"github.com/uring-go/uring/internal/testutil"
)

// holdingOpens reports every OnOpen's RemoteAddr and holds the loop in
// the OnOpen of the connection from hold until release closes.
type holdingOpens struct {
	gnet.BuiltinEventEngine
	mu      sync.Mutex
	hold    string
	opened  chan string
	release chan struct{}
}

func (h *holdingOpens) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	remote := c.RemoteAddr().String()
	h.opened <- remote
	h.mu.Lock()
	hold := h.hold
	h.mu.Unlock()
	if remote == hold {
		<-h.release
	}
	return nil, gnet.None
}

// TestOpenPeerResetInBacklog checks that a connection whose peer reset
// it while it waited in the listener's backlog still opens with the
// peer's address, as gnet's, whose accept4 names the peer even then.
// Before, the engine asked getpeername, which fails with ENOTCONN for
// such a socket, and OnOpen saw an empty TCPAddr.
func TestOpenPeerResetInBacklog(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			testutil.CheckFDs(t)
			h := &holdingOpens{opened: make(chan string, 16), release: make(chan struct{})}
			s := serve(t, r, "tcp", h)
			defer func() {
				select {
				case <-h.release:
				default:
					close(h.release)
				}
			}()
			// Connection 1 holds the loop in its OnOpen, so connection
			// 2 waits in the backlog. It is bound first, so that the
			// hold is set before it can open.
			fd1, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd1)
			if err := unix.Bind(fd1, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				t.Fatal(err)
			}
			a1 := sock.LocalAddr(fd1, unix.SOCK_STREAM)
			h.mu.Lock()
			h.hold = a1.String()
			h.mu.Unlock()
			to := mustTCPAddr(t, s.addr)
			if err := unix.Connect(fd1, &unix.SockaddrInet4{Addr: [4]byte(to.IP.To4()), Port: to.Port}); err != nil {
				t.Fatal(err)
			}
			waitOpen(t, h, a1.String())

			fd2, a2, err := testutil.RawDial(mustTCPAddr(t, s.addr))
			if err != nil {
				t.Fatal(err)
			}
			// Reset: SO_LINGER with a zero timeout makes close send RST.
			if err := unix.SetsockoptLinger(fd2, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
				t.Fatal(err)
			}
			unix.Close(fd2)
			close(h.release)
			waitOpen(t, h, a2.String())
		})
	}
}

// waitOpen waits for an OnOpen whose RemoteAddr is want, skipping others.
func waitOpen(t *testing.T, h *holdingOpens, want string) {
	t.Helper()
	var seen []string
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-h.opened:
			if got == want {
				return
			}
			seen = append(seen, got)
		case <-deadline:
			t.Fatalf("no OnOpen with RemoteAddr %s; saw %q", want, seen)
		}
	}
}

func mustTCPAddr(t *testing.T, addr string) *net.TCPAddr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
