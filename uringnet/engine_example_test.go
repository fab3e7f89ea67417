package uringnet_test

import (
	"context"
	"log"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/uring-go/uring/uringnet"
)

// byteCounter is a gnet v2 handler that counts the bytes it receives and
// discards them.
type byteCounter struct {
	gnet.BuiltinEventEngine
	n int
}

func (h *byteCounter) OnTraffic(c gnet.Conn) gnet.Action {
	n, _ := c.Discard(-1)
	h.n += n
	return gnet.None
}

// Start returns once the engine listens, with the handle that gnet.Run's
// OnBoot cannot give here: its address (with the real port when port 0
// was asked for), connection count and Stop.
func ExampleStart() {
	e, err := uringnet.Start(&byteCounter{}, "tcp://127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %v, %d connections", e.Addr(), e.CountConnections())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		log.Print(err)
	}
}
