package uringnet_test

import (
	"context"
	"io"
	"log"
	"net/http"

	"github.com/uring-go/uring/uringnet"
)

// Serving net/http on io_uring takes one changed line: the listener.
func ExampleListen() {
	ln, err := uringnet.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from io_uring\n")
	}))
}

// An echo server with a goroutine per connection, as with package net.
func ExampleListener_Accept() {
	ln, err := uringnet.Listen("tcp", "127.0.0.1:7000")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

func ExampleDial() {
	c, err := uringnet.Dial("tcp", "127.0.0.1:7000")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "ping")
}

// A server that runs on io_uring where it can, and on package net where
// io_uring is unavailable (an old kernel, a container that blocks it).
func ExampleListenConfig_fallbackToNet() {
	lc := uringnet.ListenConfig{FallbackToNet: true}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	if _, onUring := ln.(*uringnet.Listener); !onUring {
		log.Print("io_uring unavailable: serving with package net")
	}
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	}))
}
