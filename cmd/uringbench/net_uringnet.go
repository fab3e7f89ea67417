package main

import "github.com/uring-go/uring/uringnet"

func init() {
	echoServers = append(echoServers, struct{ name, kind string }{"uringnet conn", "echo-uringnet"})
	httpServers = append(httpServers, struct{ name, kind string }{"uringnet", "http-uringnet"})
	extraServers["echo-uringnet"] = func(addr string) (string, func(), error) {
		ln, err := uringnet.Listen("tcp", addr)
		if err != nil {
			return "", nil, err
		}
		go acceptEcho(ln)
		return ln.Addr().String(), func() { ln.Close() }, nil
	}
	extraServers["http-uringnet"] = func(addr string) (string, func(), error) {
		ln, err := uringnet.Listen("tcp", addr)
		if err != nil {
			return "", nil, err
		}
		return serveHTTP(ln)
	}
}
