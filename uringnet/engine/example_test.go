package engine_test

import (
	"context"
	"log"
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
