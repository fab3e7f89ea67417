package uringnet

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"

	"golang.org/x/sys/unix"
)

// msgConn is what *net.UnixConn and a Unix stream *Conn have in common,
// so that one scenario runs on both.
type msgConn interface {
	net.Conn
	WriteMsgUnix(b, oob []byte, addr *net.UnixAddr) (n, oobn int, err error)
	ReadMsgUnix(b, oob []byte) (n, oobn, flags int, addr *net.UnixAddr, err error)
}

// streamPattern is the byte at offset i of the streams the blocked-send
// tests write, so that a byte lost, duplicated or reordered shows.
func streamPattern(from, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((from + i) % 251)
	}
	return b
}

// smallBufferPair returns both ends of a Unix stream connection, from
// net or from uringnet, with a small send buffer on the writer and a
// small receive buffer on the reader, so that a few kilobytes fill them.
func smallBufferPair(t *testing.T, std bool) (w, r msgConn) {
	t.Helper()
	if std {
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "net"), Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, s := netPair(t, ln)
		w, r = c.(*net.UnixConn), s.(*net.UnixConn)
	} else {
		w, r = unixStreamPair(t)
	}
	if err := w.(interface{ SetWriteBuffer(int) error }).SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	if err := r.(interface{ SetReadBuffer(int) error }).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	return w, r
}

// fillStream writes the pattern into w until its send buffer is full
// and a write times out, and returns how many bytes went in.
func fillStream(t *testing.T, w msgConn) int {
	t.Helper()
	w.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := w.Write(streamPattern(0, 1<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("filling the send buffer: %d bytes, %v; want a timeout", n, err)
	}
	w.SetWriteDeadline(time.Time{})
	if n == 0 {
		t.Fatal("nothing fits in the send buffer")
	}
	return n
}

// drainStream reads r with ReadMsgUnix until nothing arrives for idle,
// or to the end of the stream, and returns the bytes and how many
// descriptors came with them (closed here).
func drainStream(t *testing.T, r msgConn, idle time.Duration) (data []byte, fds int) {
	t.Helper()
	b, oob := make([]byte, 64<<10), make([]byte, unix.CmsgSpace(4*4))
	for {
		r.SetReadDeadline(time.Now().Add(idle))
		n, oobn, flags, _, err := r.ReadMsgUnix(b, oob)
		if err != nil {
			// net's may report -1 with its error.
			n, oobn = 0, 0
		}
		data = append(data, b[:n]...)
		if oobn > 0 {
			msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
			if perr != nil {
				t.Fatal(perr)
			}
			for i := range msgs {
				got, perr := unix.ParseUnixRights(&msgs[i])
				if perr != nil {
					t.Fatal(perr)
				}
				for _, fd := range got {
					unix.Close(fd)
				}
				fds += len(got)
			}
		}
		if flags&unix.MSG_CTRUNC != 0 {
			t.Fatalf("control data truncated (flags %#x)", flags)
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || n == 0 {
				return data, fds
			}
			t.Fatalf("ReadMsgUnix: %v", err)
		}
	}
}

// blockedMsgScenario runs the blocked-send scenario the test names on a
// fresh pair from net (std) or uringnet, checks what the reader gets,
// and returns WriteMsgUnix's n.
func blockedMsgScenario(t *testing.T, std bool, stop string) int {
	w, r := smallBufferPair(t, std)
	fds := devNulls(t, 1)
	rights := syscall.UnixRights(fds...)
	const size = 64 << 10 // larger than any room the writer's buffer has
	filled := 0
	if stop != "none" {
		filled = fillStream(t, w)
	}
	msg := streamPattern(filled, size)
	type result struct {
		n, oobn int
		err     error
	}
	done := make(chan result, 1)
	go func() {
		n, oobn, err := w.WriteMsgUnix(msg, rights, nil)
		done <- result{n, oobn, err}
	}()
	var res result
	switch stop {
	case "none":
		// With a fresh buffer the send takes what fits without
		// waiting: part of msg, as one sendmsg(2) does.
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("WriteMsgUnix into an empty send buffer did not return")
		}
	case "read":
		select {
		case res := <-done:
			t.Fatalf("WriteMsgUnix into a full send buffer returned %d, %v without waiting", res.n, res.err)
		case <-time.After(50 * time.Millisecond):
		}
	case "deadline":
		time.Sleep(20 * time.Millisecond)
		w.SetWriteDeadline(time.Unix(1, 0))
		res = <-done
		var oe *net.OpError
		if !errors.Is(res.err, os.ErrDeadlineExceeded) || !errors.As(res.err, &oe) || res.n != 0 {
			t.Fatalf("waiting WriteMsgUnix after a past deadline: %d, %v", res.n, res.err)
		}
		w.SetWriteDeadline(time.Time{})
	case "close":
		time.Sleep(20 * time.Millisecond)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not wake a waiting WriteMsgUnix")
		}
		var oe *net.OpError
		if !errors.Is(res.err, net.ErrClosed) || !errors.As(res.err, &oe) || res.n != 0 {
			t.Fatalf("waiting WriteMsgUnix after Close: %d, %v", res.n, res.err)
		}
	}
	got, gotFds := drainStream(t, r, 300*time.Millisecond)
	if stop == "read" {
		// The writer sends once the reader has made room.
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("WriteMsgUnix still waits after the reader drained the stream")
		}
		more, moreFds := drainStream(t, r, 100*time.Millisecond)
		got, gotFds = append(got, more...), gotFds+moreFds
	}
	if stop == "none" || stop == "read" {
		if res.err != nil || res.n <= 0 || res.n > size || res.oobn != len(rights) {
			t.Fatalf("WriteMsgUnix = %d, %d, %v; want part of %d bytes and %d of oob", res.n, res.oobn, res.err, size, len(rights))
		}
	}
	want := streamPattern(0, filled+res.n)
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("the reader got %d bytes, want %d (%d filled + %d sent): they differ from byte %d",
			len(got), len(want), filled, res.n, i)
	}
	wantFds := 0
	if res.n > 0 {
		wantFds = 1
	}
	if gotFds != wantFds {
		t.Fatalf("the reader got %d descriptors, want %d", gotFds, wantFds)
	}
	return res.n
}

// TestWriteMsgUnixBlocked sends a message with a descriptor into a Unix
// stream whose send buffer has less room than the message, or none, and
// checks that every byte arrives once and in order and the descriptor
// once, as with net: a sendmsg(2) sends the part that fits, so n may be
// less than len(b), with the descriptor in that part. With an empty
// buffer the part is the same as net's. A send waiting for room sends
// once the reader reads; a deadline or Close stops it with nothing sent.
// Each case runs on net's UnixConn too, as the reference.
func TestWriteMsgUnixBlocked(t *testing.T) {
	testutil.CheckFDs(t)
	for _, stop := range []string{"none", "read", "deadline", "close"} {
		t.Run(stop, func(t *testing.T) {
			stdN := blockedMsgScenario(t, true, stop)
			n := blockedMsgScenario(t, false, stop)
			// How much a send that waited finds room for depends on
			// how far the reader has got when the writer wakes, for
			// net and uringnet alike; into an empty buffer it does not.
			if stop == "none" && n != stdN {
				t.Errorf("WriteMsgUnix into an empty send buffer sent %d bytes; net's sent %d", n, stdN)
			}
			t.Logf("n = %d, net's %d", n, stdN)
		})
	}
}
