package uringnet_test

import (
	"log"

	"github.com/uring-go/uring/uringnet"
)

// A UDP echo server: every datagram goes back to its sender.
func ExampleListenPacket() {
	c, err := uringnet.ListenPacket("udp", "127.0.0.1:9999")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		n, addr, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		if _, err := c.WriteTo(buf[:n], addr); err != nil {
			log.Print(err)
		}
	}
}
