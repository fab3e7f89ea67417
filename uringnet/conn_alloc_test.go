package uringnet

import (
	"io"
	"net"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
)

// TestConnAllocs: a write and the read of its bytes on a stream conn
// allocate no more than on net's, compared in the same test.
func TestConnAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	testutil.CheckFDs(t)
	measure := func(c, s net.Conn) float64 {
		msg, got := make([]byte, 64), make([]byte, 64)
		return testing.AllocsPerRun(500, func() {
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(s, got); err != nil {
				t.Fatal(err)
			}
		})
	}
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	nc, ns := netPair(t, nl)
	want := measure(nc, ns)

	c, s := pair(t, listenLocal(t, "tcp", ListenConfig{}))
	if got := measure(c, s); got > want {
		t.Errorf("a 64-byte write and read allocate %v times, net's %v", got, want)
	} else {
		t.Logf("a 64-byte write and read allocate %v times, net's %v", got, want)
	}
}

// TestMsgUnixAllocs: a WriteMsgUnix and the ReadMsgUnix of its bytes on
// a Unix stream conn allocate no more than on net's, compared in the
// same test.
func TestMsgUnixAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	testutil.CheckFDs(t)
	measure := func(w, r msgConn) float64 {
		msg, got, oob := make([]byte, 64), make([]byte, 64), make([]byte, 64)
		return testing.AllocsPerRun(500, func() {
			if _, _, err := w.WriteMsgUnix(msg, nil, nil); err != nil {
				t.Fatal(err)
			}
			if n, _, _, _, err := r.ReadMsgUnix(got, oob); err != nil || n != len(msg) {
				t.Fatalf("ReadMsgUnix: %d bytes, %v", n, err)
			}
		})
	}
	w, r := smallBufferPair(t, true)
	want := measure(w, r)
	w, r = unixStreamPair(t)
	if got := measure(w, r); got > want {
		t.Errorf("a 64-byte WriteMsgUnix and ReadMsgUnix allocate %v times, net's %v", got, want)
	} else {
		t.Logf("a 64-byte WriteMsgUnix and ReadMsgUnix allocate %v times, net's %v", got, want)
	}
}
