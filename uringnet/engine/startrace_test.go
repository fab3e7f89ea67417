package engine

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/uring-go/uring/internal/testutil"
)

// TestAcceptWhileLoopsStart connects while the engine is starting: the
// listening socket exists before the loops do, so loop 0 can accept, and
// hand a connection to another loop, before that loop has finished
// setting up. Every such connection must be served, with no data race.
//
// Loop 0 enqueues such a connection to a loop whose init may not have
// created its eventfd yet: the eventfd is published under the loop's mu,
// and a task queued before it existed is signalled once it does (seen
// before as a -race failure of TestLoadBalancing).
func TestAcceptWhileLoopsStart(t *testing.T) {
	testutil.CheckFDs(t)
	for range 8 {
		addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
		const clients = 16
		served := make(chan error, clients)
		ctx, cancel := context.WithCancel(context.Background())
		for range clients {
			go func() {
				// Dial until the listener exists, then check the echo.
				for ctx.Err() == nil {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						continue
					}
					c.SetDeadline(time.Now().Add(10 * time.Second))
					_, err = c.Write([]byte("x"))
					if err == nil {
						_, err = c.Read(make([]byte, 1))
					}
					c.Close()
					served <- err
					return
				}
				served <- ctx.Err()
			}()
		}
		e, err := start(newEcho(), "tcp://"+addr, defaultConfig, gnet.WithLogger(quietLogger{}),
			gnet.WithNumEventLoop(8), gnet.WithLoadBalancing(gnet.RoundRobin))
		if err != nil {
			cancel()
			for range clients {
				<-served
			}
			t.Fatal(err)
		}
		for range clients {
			if err := <-served; err != nil {
				t.Errorf("a connection made while the engine started: %v", err)
			}
		}
		cancel()
		stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := e.Stop(stopCtx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		stopCancel()
	}
}
