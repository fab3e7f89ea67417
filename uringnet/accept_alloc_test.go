package uringnet

import (
	"net"
	"runtime"
	"testing"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// acceptAllocs is the allocations (count, bytes) of accepting one TCP
// connection from ln and closing it, the client being a raw socket
// (connect(2) and close(2) allocate nothing).
func acceptAllocs(t *testing.T, ln net.Listener) (allocs, bytes float64) {
	sa := &unix.SockaddrInet4{Port: ln.Addr().(*net.TCPAddr).Port, Addr: [4]byte{127, 0, 0, 1}}
	run := func() {
		cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(cfd)
		if err := unix.Connect(cfd, sa); err != nil {
			t.Fatal(err)
		}
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	run() // warm up (a multishot listener's first Accept arms it)
	return allocsPerRun(200, run)
}

// allocsPerRun is testing.AllocsPerRun reporting bytes too: the average
// allocations and bytes allocated per call of f, after a warm-up call.
func allocsPerRun(runs int, f func()) (allocs, bytes float64) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&m1)
	return float64(m1.Mallocs-m0.Mallocs) / float64(runs), float64(m1.TotalAlloc-m0.TotalAlloc) / float64(runs)
}

// The allocations of accepting a connection and closing it, measured:
// 22 and 1344 bytes before getsockname and getpeername stopped going
// through package unix (which allocates and asks for SO_PROTOCOL), 18
// and 1056 after; 13 and 912 once the conn and its fd were made in one
// 512-byte allocation, the multishot queue kept its array, the file's
// name and the deadline mirrors stopped being made per conn; 12 and 800
// once accept4 in the netpoller replaced the multishot accept; 12 and
// 608 once the conn and its fd fit in 320 bytes (TestIdleConnHeap).
const (
	maxAcceptAllocs = 12
	maxAcceptBytes  = 608
)

// TestAcceptAllocs pins the allocations of accepting a TCP connection and
// closing it, so that connection churn stays cheap; net's figures,
// measured in the same test, are logged beside ours. Ours are more:
// besides net's (the conn, its fd and both addresses), the *os.File that
// registers the fd with the netpoller (file, its inner file, RawConn),
// the close channel and the reads' and writes' prepared closures (two
// each).
func TestAcceptAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	testutil.CheckFDs(t)
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	wantN, wantB := acceptAllocs(t, nl)
	gotN, gotB := acceptAllocs(t, listenLocal(t, "tcp", ListenConfig{}))
	t.Logf("accept+close: %v allocations, %v bytes; net's %v, %v", gotN, gotB, wantN, wantB)
	if gotN > maxAcceptAllocs || gotB > maxAcceptBytes {
		t.Errorf("accept+close allocates %v times, %v bytes, more than %v and %v (net's: %v, %v)", gotN, gotB, maxAcceptAllocs, maxAcceptBytes, wantN, wantB)
	}
}
