package engine_test

import (
	"context"
	"expvar"
	"fmt"
	"io"
	"log"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/uring-go/uring/uringnet/engine"
)

type echo struct{ gnet.BuiltinEventEngine }

func (*echo) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return gnet.None
}

// A gnet handler runs unchanged: only the Run call differs from gnet's.
func ExampleRun() {
	err := engine.Run(&echo{}, "tcp://127.0.0.1:9000", gnet.WithMulticore(true), gnet.WithTicker(false))
	if err != nil {
		log.Fatal(err)
	}
}

// Start returns the engine handle that gnet.Engine cannot be here.
func ExampleStart() {
	e, err := engine.Start(&echo{}, "tcp://127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %v with %d loops", e.Addr(), e.NumEventLoop())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		log.Print(err)
	}
}

// server keeps its engine, as a gnet handler keeps OnBoot's gnet.Engine.
type server struct {
	gnet.BuiltinEventEngine
	eng *engine.Engine // with gnet: eng gnet.Engine
}

// OnBoot keeps the engine: the one line that differs from gnet's
// s.eng = eng.
func (s *server) OnBoot(gnet.Engine) gnet.Action {
	s.eng = engine.Of(s)
	return gnet.None
}

// OnTraffic answers with the number of open connections, through the
// engine kept in OnBoot.
func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	c.Discard(-1)
	fmt.Fprintf(c, "%d connection(s)\n", s.eng.CountConnections())
	return gnet.None
}

// A handler reaches its engine from OnBoot on with Of. FallbackToGnet
// lets the example run where io_uring is not allowed too.
func ExampleOf() {
	s := &server{}
	e, err := engine.Config{FallbackToGnet: true}.Start(s, "tcp://127.0.0.1:0", gnet.WithLogger(silent{}))
	if err != nil {
		log.Fatal(err)
	}
	defer e.Stop(context.Background())
	c, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("how many?"))
	b := make([]byte, 64)
	n, _ := io.ReadAtLeast(c, b, len("1 connection(s)\n"))
	fmt.Print(string(b[:n]))
	// Output: 1 connection(s)
}

// Rotate serves several addresses with one engine, as gnet.Rotate does.
func ExampleRotate() {
	err := engine.Rotate(&echo{}, []string{"tcp://127.0.0.1:9000", "unix:///tmp/echo.sock"}, gnet.WithMulticore(true))
	if err != nil {
		log.Fatal(err)
	}
}

// Register dials a connection and serves it on the engine's loops:
// OnOpen and OnTraffic run for it as for an accepted one.
func ExampleEngine_Register() {
	s := &server{}
	e, err := engine.Start(s, "tcp://127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer e.Stop(context.Background())
	peer, err := net.ResolveTCPAddr("tcp", "127.0.0.1:7000")
	if err != nil {
		log.Fatal(err)
	}
	ch, err := e.Register(gnet.NewNetAddrContext(context.Background(), peer))
	if err != nil {
		log.Fatal(err)
	}
	res := <-ch
	if res.Err != nil {
		log.Fatal(res.Err)
	}
	res.Conn.AsyncWrite([]byte("hello\n"), nil)
}

// Publish each event loop's counters with expvar: a program that serves
// net/http's default mux then shows them, read afresh on each request,
// under "uring_engine" at /debug/vars.
func ExampleEngine_Stats() {
	e, err := engine.Start(&echo{}, "tcp://127.0.0.1:0", gnet.WithMulticore(true))
	if err != nil {
		log.Fatal(err)
	}
	defer e.Stop(context.Background())
	expvar.Publish("uring_engine", expvar.Func(func() any {
		return e.Stats()
	}))
}

// silent is a gnet logger that drops everything.
type silent struct{}

func (silent) Debugf(string, ...any) {}
func (silent) Infof(string, ...any)  {}
func (silent) Warnf(string, ...any)  {}
func (silent) Errorf(string, ...any) {}
func (silent) Fatalf(string, ...any) {}
