// Command echo is an echo server on uringnet: every byte a client sends
// comes back to it.
//
//	go run ./examples/echo [-addr 127.0.0.1:7000] [-mode conn|engine]
//
// Mode conn (the default) is the classic Go style, a goroutine per
// connection on uringnet.Listen, with I/O on io_uring. Mode engine runs a
// gnet-style event handler on the uringnet engine. SIGINT or SIGTERM
// closes the listener and exits with status 0.
package main

import (
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

	"github.com/uring-go/uring/uringnet"
)

// runEngine serves in engine mode; it is replaced once the engine exists.
var runEngine = func(addr string, stop <-chan os.Signal) error {
	return errors.New("engine mode is not available yet")
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "TCP address to listen on")
	mode := flag.String("mode", "conn", "conn: a goroutine per connection on uringnet.Listen; engine: event handlers on the uringnet engine")
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
