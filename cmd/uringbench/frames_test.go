package main

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

func TestFramesGroup(t *testing.T) { smokeLoadGroup(t, "frames", 2) }

// Each frames server echoes frames whole whatever pieces they arrive
// in (a byte at a time, several in one write, one cut anywhere), and
// closes a connection that sends a bad magic number.
func TestFramesServer(t *testing.T) {
	for _, kind := range []string{"frames-gnet", "frames-engine"} {
		t.Run(kind, func(t *testing.T) {
			srv, addr, err := child("-serve", kind, "-addr", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer srv.stop()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))

			var frames []byte
			for i, n := range []int{0, 1, 5, 6, 7, 100, 3000} {
				frames = appendFrame(frames, bytes.Repeat([]byte{byte(i + 1)}, n))
			}
			echo := func(what string, pieces ...[]byte) {
				t.Helper()
				for _, p := range pieces {
					if _, err := c.Write(p); err != nil {
						t.Fatalf("%s: write: %v", what, err)
					}
					// Let each piece arrive on its own.
					time.Sleep(time.Millisecond)
				}
				got := make([]byte, len(frames))
				if _, err := io.ReadFull(c, got); err != nil {
					t.Fatalf("%s: read: %v", what, err)
				}
				if !bytes.Equal(got, frames) {
					t.Fatalf("%s: the echo differs from the frames sent", what)
				}
			}
			echo("all at once", frames)
			var bytewise [][]byte
			for i := range frames[:64] {
				bytewise = append(bytewise, frames[i:i+1])
			}
			echo("a byte at a time", append(bytewise, frames[64:])...)
			for _, cut := range []int{3, frameHeader, frameHeader + 1, len(frames) - 1} {
				echo("cut", frames[:cut], frames[cut:])
			}

			if _, err := c.Write([]byte{0, 0, 0, 0, 0, 1, 'x'}); err != nil {
				t.Fatal(err)
			}
			if n, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatalf("a frame with a bad magic number: read %d bytes, not the end", n)
			}
		})
	}
}
