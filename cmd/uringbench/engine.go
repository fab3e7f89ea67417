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
	echoOnlyServers = append(echoOnlyServers, struct{ name, kind string }{"engine, SendFromReadBuffer", "echo-engine-sfrb"})
	extraServers["echo-engine-sfrb"] = func(addr string) (string, func(), error) {
		return serveEngineConfig(engine.Config{SendFromReadBuffer: true}, addr, &gnetEcho{})
	}
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
	return serveEngineConfig(engine.Config{}, addr, h)
}

// serveEngineConfig is serveEngine with the engine's own options.
func serveEngineConfig(cfg engine.Config, addr string, h gnet.EventHandler) (string, func(), error) {
	a, err := freePort(addr)
	if err != nil {
		return "", nil, err
	}
	eng, err := cfg.Start(h, "tcp://"+a, gnet.WithNumEventLoop(1), gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithLogger(stderrLogger{}))
	if err != nil {
		return "", nil, err
	}
	return a, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		eng.Stop(ctx)
	}, nil
}
