// Command echo is an echo server on uringnet: every byte a client sends
// comes back to it.
//
//	go run ./examples/echo [-addr 127.0.0.1:7000] [-mode conn|engine]
//
// Mode conn (the default) is the classic Go style, a goroutine per
// connection on uringnet.Listen, with I/O on io_uring. Mode engine runs a
// gnet-style event handler on the gnet-compatible engine (uringnet/engine). SIGINT or SIGTERM
// closes the listener and exits with status 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/uring-go/uring/uringnet"
	"github.com/uring-go/uring/uringnet/engine"
)

// echoHandler is a gnet v2 event handler, the same one gnet.Run would
// take. The one line that differs from gnet is in OnBoot: gnet hands it
// a gnet.Engine, which it would keep; here it keeps engine.Of(h).
type echoHandler struct {
	gnet.BuiltinEventEngine
	eng    *engine.Engine // with gnet: eng gnet.Engine
	booted chan struct{}
}

func (h *echoHandler) OnBoot(gnet.Engine) gnet.Action {
	h.eng = engine.Of(h) // with gnet: h.eng = eng
	fmt.Printf("echo: listening on %s (engine, %d event loops)\n", h.eng.Addr(), h.eng.NumEventLoop())
	close(h.booted)
	return gnet.None
}

func (*echoHandler) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return gnet.None
}

// runEngine serves with the gnet-compatible engine, engine.Run where a
// gnet program calls gnet.Run, until a signal arrives; the handler's
// engine then stops it, as a gnet handler's would.
func runEngine(addr string, stop <-chan os.Signal) error {
	h := &echoHandler{booted: make(chan struct{})}
	go func() {
		<-h.booted
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.eng.Stop(ctx); err != nil {
			log.Print(err)
		}
	}()
	return engine.Run(h, "tcp://"+addr, gnet.WithMulticore(true))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "TCP address to listen on")
	mode := flag.String("mode", "conn", "conn: a goroutine per connection on uringnet.Listen; engine: event handlers on the gnet-compatible engine (uringnet/engine)")
	flag.Parse()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)

	var err error
	switch *mode {
	case "conn":
		err = runConn(*addr, stop)
	case "engine":
		err = runEngine(*addr, stop)
	default:
		err = fmt.Errorf("unknown -mode %q: use conn or engine", *mode)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// runConn serves with a goroutine per connection until a signal arrives,
// then closes the listener and every connection and waits for them.
func runConn(addr string, stop <-chan os.Signal) error {
	ln, err := uringnet.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("echo: listening on %s\n", ln.Addr())

	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	go func() {
		<-stop
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			// Running out of fds (EMFILE) passes once connections close.
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() {
				log.Print(err)
				continue
			}
			return err
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(c, c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
		}()
	}
	wg.Wait()
	fmt.Println("echo: stopped")
	return nil
}
