package uringnet

import (
	"context"

	"github.com/panjf2000/gnet/v2"
	"github.com/uring-go/uring/internal/engine"
)

// Engine is a running gnet-compatible engine: the handle that gnet.Engine
// would be, for engines started by Run or Start. Its methods are safe for
// concurrent use: Stop(ctx), Wait, Done, CountConnections, NumEventLoop,
// Addr and Dup.
type Engine = engine.Engine

// Run runs a gnet v2 event handler on io_uring event loops, unchanged: a
// program that calls gnet.Run(h, "tcp://127.0.0.1:9000", opts...) can call
// uringnet.Run with the same handler, address and options. It blocks until
// the engine shuts down (a Shutdown action from the handler, or Stop) and
// returns nil then. Addresses are tcp, tcp4, tcp6, udp, udp4, udp6 and
// unix, as with gnet; an option the engine cannot honor is an error,
// never ignored. On udp addresses each datagram is one OnTraffic, with
// the sender as c.RemoteAddr() and c.Write replying to it; OnOpen and
// OnClose do not run, as in gnet. OnBoot receives gnet's
// zero Engine, whose methods do not work; use Start or Lookup for a handle
// that does. See package internal/engine's documentation for the few
// places where behaviour differs from gnet.
func Run(handler gnet.EventHandler, protoAddr string, opts ...gnet.Option) error {
	return engine.Run(handler, protoAddr, opts...)
}

// Start is Run without the wait: it returns once the engine is listening,
// with its handle.
func Start(handler gnet.EventHandler, protoAddr string, opts ...gnet.Option) (*Engine, error) {
	return engine.Start(handler, protoAddr, opts...)
}

// Stop gracefully stops the engine serving protoAddr, as gnet.Stop does.
func Stop(ctx context.Context, protoAddr string) error {
	return engine.Stop(ctx, protoAddr)
}

// Lookup returns the running engine serving protoAddr.
func Lookup(protoAddr string) (*Engine, bool) {
	return engine.Lookup(protoAddr)
}
