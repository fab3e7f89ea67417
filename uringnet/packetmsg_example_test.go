package uringnet_test

import (
	"log"

	"github.com/uring-go/uring/uringnet"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// A UDP server on the wildcard address that answers each request from
// the address it was sent to, learnt from IP_PKTINFO: the raw control
// messages of ReadMsgUDP, decoded by golang.org/x/net/ipv4, and sent
// back with WriteMsgUDP.
func ExamplePacketConn_ReadMsgUDP() {
	l, err := uringnet.ListenPacket("udp4", "0.0.0.0:9999")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	c := any(l).(*uringnet.PacketConn)
	rc, err := c.SyscallConn()
	if err != nil {
		log.Fatal(err)
	}
	rc.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
	})
	if err != nil {
		log.Fatal(err)
	}
	buf, oob := make([]byte, 1500), make([]byte, 128)
	for {
		n, oobn, _, from, err := c.ReadMsgUDP(buf, oob)
		if err != nil {
			return
		}
		var cm ipv4.ControlMessage
		if err := cm.Parse(oob[:oobn]); err != nil {
			log.Print(err)
			continue
		}
		reply := (&ipv4.ControlMessage{Src: cm.Dst}).Marshal()
		if _, _, err := c.WriteMsgUDP(buf[:n], reply, from); err != nil {
			log.Print(err)
		}
	}
}
