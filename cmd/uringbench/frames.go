package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
)

func init() {
	groupDocs["frames"] = "a length-prefixed protocol in the style of gnet's simple_protocol example: frames of a 2 B magic, a 4 B body length and a body of 16-48 B; the client writes a burst of frames on each connection and reads them back, the server (one handler, run by gnet and by engine.Run) decodes each frame and echoes it re-encoded; ops/s are frames, cpu/op the server's CPU per frame"
	extraServers["frames-gnet"] = serveFramesGnet
}

var flagBurst = flag.Int("burst", 16, "internal: frames per write for -load frames")

// framesServers are the servers of the frames group, baseline first.
var framesServers = []struct{ name, kind string }{
	{"gnet", "frames-gnet"},
}

// framesBody is the mean body size of the frames group; bodies run from
// half of it to one and a half times it, so that frames do not all
// line up with the reads.
const framesBody = 32

// framesCases: conns connections, each writing bursts of small frames
// and reading the echoes, from a Go client on the other CPU.
func framesCases() []benchCase {
	conns := 100
	bursts := []int{1, 16}
	if *flagShort {
		bursts = []int{16}
	}
	var cs []benchCase
	for _, burst := range bursts {
		client := goLoad(clientGo, "frames", "-conns", strconv.Itoa(conns), "-size", strconv.Itoa(framesBody), "-burst", strconv.Itoa(burst))
		cs = append(cs, benchCase{
			name:  fmt.Sprintf("frames %d conns, %d per write", conns, burst),
			impls: serverImpls(framesServers, client),
		})
	}
	return cs
}

// The frame format: a magic number and the body's length, both
// big-endian, then the body.
const (
	frameMagic   = 0x5f3a
	frameHeader  = 2 + 4
	frameMaxBody = 1 << 20
)

var (
	errFrameMagic = errors.New("frame: bad magic number")
	errFrameLong  = errors.New("frame: body too long")
)

// appendFrame appends a frame carrying body to b.
func appendFrame(b, body []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, frameMagic)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

// frameLen reads a frame header: the length of the whole frame.
func frameLen(hdr []byte) (int, error) {
	if binary.BigEndian.Uint16(hdr) != frameMagic {
		return 0, errFrameMagic
	}
	n := binary.BigEndian.Uint32(hdr[2:])
	if n > frameMaxBody {
		return 0, errFrameLong
	}
	return frameHeader + int(n), nil
}

// framesHandler is the frames server's gnet handler, the same for gnet
// and engine.Run: each whole frame received is decoded and its body
// re-encoded into a reply, and the replies to one OnTraffic go out in
// one Write. A frame that is not whole stays buffered for the next
// OnTraffic; a malformed one closes the connection.
type framesHandler struct {
	gnet.BuiltinEventEngine
	eng gnet.Engine
}

// framesConn is a connection's reply buffer, kept between OnTraffics.
type framesConn struct{ out []byte }

func (h *framesHandler) OnBoot(e gnet.Engine) gnet.Action { h.eng = e; return gnet.None }

func (h *framesHandler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&framesConn{})
	return nil, gnet.None
}

func (h *framesHandler) OnTraffic(c gnet.Conn) gnet.Action {
	fc := c.Context().(*framesConn)
	out := fc.out[:0]
	for c.InboundBuffered() >= frameHeader {
		hdr, _ := c.Peek(frameHeader)
		n, err := frameLen(hdr)
		if err != nil {
			return gnet.Close
		}
		if c.InboundBuffered() < n {
			break
		}
		frame, err := c.Peek(n)
		if err != nil {
			return gnet.Close
		}
		out = appendFrame(out, frame[frameHeader:])
		c.Discard(n)
	}
	fc.out = out
	if len(out) > 0 {
		c.Write(out)
	}
	return gnet.None
}

func serveFramesGnet(addr string) (string, func(), error) {
	h := &framesHandler{}
	return serveGnet(addr, h, &h.eng)
}

// loadFrames keeps conns connections each writing burst frames at once
// and reading back their echoes, checking every byte, and counts the
// frames. Bodies run from size/2 to size*3/2 bytes, differing between
// the frames of a burst and between connections.
func loadFrames(addr string, conns, size, burst int, count *atomic.Int64) (func(), error) {
	if burst < 1 || size < 2 {
		return nil, fmt.Errorf("frames: burst %d, size %d", burst, size)
	}
	return loadRoundTrips(addr, conns, "frames", func(i int) ([]byte, int64) {
		var msg []byte
		for j := range burst {
			msg = appendFrame(msg, bytes.Repeat([]byte{byte(i + j)}, size/2+(i+7*j)%(size+1)))
		}
		return msg, int64(burst)
	}, count)
}
