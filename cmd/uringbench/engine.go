package main

import (
	"context"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/uring-go/uring/uringnet/engine"
)

func init() {
	echoServers = append(echoServers, struct{ name, kind string }{"engine.Run", "echo-engine"})
	extraServers["echo-engine"] = serveEchoEngine
}

// serveEchoEngine runs the very handler the gnet server runs, on the
// io_uring engine of package uringnet/engine.
func serveEchoEngine(addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	a := ln.Addr().String()
	ln.Close()
	eng, err := engine.Start(&gnetEcho{}, "tcp://"+a, gnet.WithNumEventLoop(1), gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithLogger(stderrLogger{}))
	if err != nil {
		return "", nil, err
	}
	return a, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		eng.Stop(ctx)
	}, nil
}
