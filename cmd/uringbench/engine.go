package main

import (
	"context"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/uring-go/uring/uringnet/engine"
)

func init() {
	echoServers = append(echoServers, struct{ name, kind string }{"engine.Run", "echo-engine"})
	extraServers["echo-engine"] = serveEchoEngine
	framesServers = append(framesServers, struct{ name, kind string }{"engine.Run", "frames-engine"})
	extraServers["frames-engine"] = func(addr string) (string, func(), error) { return serveEngine(addr, &framesHandler{}) }
}

// serveEchoEngine runs the very handler the gnet server runs, on the
// io_uring engine of package uringnet/engine.
func serveEchoEngine(addr string) (string, func(), error) {
	return serveEngine(addr, &gnetEcho{})
}

// serveEngine runs h on the engine with one event loop, as serveGnet
// runs it on gnet.
func serveEngine(addr string, h gnet.EventHandler) (string, func(), error) {
	a, err := freePort(addr)
	if err != nil {
		return "", nil, err
	}
	eng, err := engine.Start(h, "tcp://"+a, gnet.WithNumEventLoop(1), gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithLogger(stderrLogger{}))
	if err != nil {
		return "", nil, err
	}
	return a, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		eng.Stop(ctx)
	}, nil
}
