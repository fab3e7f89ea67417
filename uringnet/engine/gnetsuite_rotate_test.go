package engine

// Our answer to gnet's poll-multi-addrs cases of TestServer, which run one
// engine on several addresses with gnet.Rotate.

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"golang.org/x/sys/unix"
)

// listenerDuper is gnet's Engine.DupListener.
type listenerDuper interface {
	DupListener(network, addr string) (int, error)
}

// TestGnetRotate: one engine serves tcp, udp and unix addresses at once;
// every one echoes; with several listeners Dup is ErrUnsupportedOp while
// DupListener dups the one named and rejects a malformed address.
func TestGnetRotate(t *testing.T) {
	rotators := []struct {
		name   string
		rotate func(gnet.EventHandler, []string, ...gnet.Option) error
	}{{"gnet", gnet.Rotate}, {"uring", Rotate}}
	for _, rot := range rotators {
		for _, multicore := range []bool{false, true} {
			t.Run(rot.name+"/multicore="+strconv.FormatBool(multicore), func(t *testing.T) {
				var addrs, dials []string
				for _, network := range []string{"tcp", "tcp", "udp", "udp", "unix", "unix"} {
					p, a := suiteAddr(t, network)
					addrs, dials = append(addrs, p), append(dials, a)
				}
				h := &serverHandler{t: t}
				b := &booted{EventHandler: h, boot: make(chan gnet.Engine, 1)}
				errc := make(chan error, 1)
				go func() {
					errc <- rot.rotate(b, addrs, gnet.WithMulticore(multicore), gnet.WithTicker(true),
						gnet.WithLoadBalancing(gnet.LeastConnections), gnet.WithLogger(quietLogger{}))
				}()
				var eng suiteEngine
				select {
				case ge := <-b.boot:
					eng = ge
				case err := <-errc:
					t.Fatalf("Rotate: %v", err)
				}
				if rot.name != "gnet" {
					eventually(t, "Lookup finds the engine", func() bool {
						e, ok := Lookup(addrs[0])
						if ok {
							eng = e
						}
						return ok
					})
				}
				if _, err := eng.Dup(); !errors.Is(err, errorx.ErrUnsupportedOp) {
					t.Errorf("Dup with several listeners = %v, want ErrUnsupportedOp", err)
				}
				if d, ok := eng.(listenerDuper); !ok {
					t.Errorf("%T has no DupListener", eng)
				} else {
					if fd, err := d.DupListener("tcp", dials[1]); err != nil || fd <= 2 {
						t.Errorf("DupListener = %d, %v", fd, err)
					} else {
						unix.Close(fd)
					}
					if fd, err := d.DupListener("tcp", "abc"); fd != -1 || !errors.Is(err, errorx.ErrInvalidNetworkAddress) {
						t.Errorf("DupListener(tcp, abc) = %d, %v; want -1, ErrInvalidNetworkAddress", fd, err)
					}
				}
				if rot.name == "gnet" {
					// gnet, with a udp address among them, binds each
					// loop's unix socket again at the same path after
					// OnBoot (removing the file first): wait until the
					// paths accept.
					for i, p := range addrs {
						if network, _, _ := parseProtoAddr(p); network == "unix" {
							eventually(t, "gnet's unix listener accepts", func() bool {
								c, err := net.Dial("unix", dials[i])
								if err == nil {
									c.Close()
								}
								return err == nil
							})
						}
					}
				}
				var wg sync.WaitGroup
				for i, p := range addrs {
					network, _, _ := parseProtoAddr(p)
					l := &launched{r: runner{name: rot.name}, network: network, addr: dials[i]}
					wg.Go(func() { echoRounds(t, l, 3, 1024) })
				}
				wg.Wait()
				h.stop.Store(true)
				select {
				case err := <-errc:
					if err != nil {
						t.Errorf("Rotate: %v", err)
					}
				case <-time.After(20 * time.Second):
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					eng.Stop(ctx)
					t.Fatal("Rotate did not return")
				}
			})
		}
	}
}
