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

// echoHandler is a gnet v2 event handler, the same one gnet.Run would take.
type echoHandler struct{ gnet.BuiltinEventEngine }

func (*echoHandler) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return gnet.None
}

// runEngine serves with the gnet-compatible engine until a signal
// arrives, then stops it.
func runEngine(addr string, stop <-chan os.Signal) error {
	eng, err := engine.Start(&echoHandler{}, "tcp://"+addr, gnet.WithMulticore(true))
	if err != nil {
		return err
	}
	fmt.Printf("echo: listening on %s (engine, %d event loops)\n", eng.Addr(), eng.NumEventLoop())
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return eng.Stop(ctx)
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
