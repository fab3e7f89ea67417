package uringnet

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// acceptState is what a multishot listener holds and what the kernel
// still holds for it.
type acceptState struct {
	queued  int  // connections in the listener's queue
	armed   bool // the multishot accept is running
	backlog int  // connections in the kernel's accept queue
}

func (l *Listener) state(t *testing.T) acceptState {
	t.Helper()
	l.mu.Lock()
	s := acceptState{queued: len(l.queue), armed: l.armed}
	for _, r := range l.queue {
		if r.err != nil {
			t.Fatalf("queued accept error: %v", r.err)
		}
	}
	l.mu.Unlock()
	// For a listening socket, tcpi_unacked is the accept queue's length
	// (tcp_get_info).
	info, err := unix.GetsockoptTCPInfo(l.fd.sysfd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		t.Fatalf("TCP_INFO: %v", err)
	}
	s.backlog = int(info.Unacked)
	return s
}

// settle waits until every one of n connections is either in the queue
// or in the kernel's backlog, and stays there: a running multishot has
// taken every one from the backlog without filling the queue, or a full
// queue has ended it.
func (l *Listener) settle(t *testing.T, n int) acceptState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := l.state(t)
		if s.queued+s.backlog == n && (!s.armed || s.backlog == 0 && s.queued < maxAcceptQueue) {
			return s
		}
		if s.queued+s.backlog > n {
			t.Fatalf("%d connections dialed, %+v", n, s)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections dialed; after 20s %+v", n, s)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAcceptQueueCap checks that a multishot listener stops taking
// connections from the kernel once maxAcceptQueue wait for Accept, that
// the kernel keeps the rest in its backlog, and that Accept then returns
// every connection exactly once, bytes working both ways.
func TestAcceptQueueCap(t *testing.T) {
	if !multishotAccept() {
		t.Skip("no multishot accept on this kernel")
	}
	for _, mode := range []string{"one-by-one", "burst"} {
		t.Run(mode, func(t *testing.T) {
			testutil.CheckFDs(t)
			ln := withAcceptMode(listenLocal(t, "tcp", ListenConfig{}), acceptMultishot)
			// One Accept arms the multishot; after it none runs until
			// every client has connected.
			first, s0 := pair(t, ln)
			first.Close()
			s0.Close()

			n := 2*maxAcceptQueue + 44
			clients := make([]*Conn, n)
			defer func() {
				for _, c := range clients {
					if c != nil {
						c.Close()
					}
				}
			}()
			dial := func(i int) error {
				c, err := Dial("tcp", ln.Addr().String())
				if err != nil {
					return err
				}
				clients[i] = c.(*Conn)
				var b [4]byte
				binary.BigEndian.PutUint32(b[:], uint32(i))
				_, err = c.Write(b[:])
				return err
			}
			var st acceptState
			if mode == "one-by-one" {
				for i := range n {
					if err := dial(i); err != nil {
						t.Fatalf("dial %d: %v", i, err)
					}
					st = ln.settle(t, i+1)
					if st.queued > maxAcceptQueue {
						t.Fatalf("after %d dials the queue holds %d, over the cap of %d", i+1, st.queued, maxAcceptQueue)
					}
				}
				if st.queued != maxAcceptQueue || st.armed || st.backlog != n-maxAcceptQueue {
					t.Fatalf("after %d dials: %+v, want a full queue, disarmed, the rest in the backlog", n, st)
				}
			} else {
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for i := range n {
					wg.Go(func() {
						if err := dial(i); err != nil {
							errs <- err
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatalf("dial: %v", err)
				}
				st = ln.settle(t, n)
				// The kernel drains its backlog into a multishot accept
				// in one go, and keeps accepting until the cancel lands:
				// the queue may pass the cap by all of those (kept, not
				// lost), but the multishot has ended.
				if st.armed {
					t.Fatalf("after a burst of %d dials: %+v, want the multishot ended", n, st)
				}
			}
			t.Logf("%s: %+v", mode, st)

			seen := make([]bool, n)
			for range n {
				ln.SetDeadline(time.Now().Add(20 * time.Second))
				s, err := ln.AcceptUring()
				if err != nil {
					t.Fatalf("Accept: %v", err)
				}
				s.SetDeadline(time.Now().Add(20 * time.Second))
				var b [4]byte
				if _, err := io.ReadFull(s, b[:]); err != nil {
					s.Close()
					t.Fatalf("read the client's index: %v", err)
				}
				i := binary.BigEndian.Uint32(b[:])
				if int(i) >= n || seen[i] {
					s.Close()
					t.Fatalf("client index %d accepted twice or out of range", i)
				}
				seen[i] = true
				_, err = s.Write(b[:])
				s.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			for i, c := range clients {
				c.SetDeadline(time.Now().Add(20 * time.Second))
				var b [4]byte
				if _, err := io.ReadFull(c, b[:]); err != nil || binary.BigEndian.Uint32(b[:]) != uint32(i) {
					t.Fatalf("client %d: echo %v, %v", i, b, err)
				}
			}
			ln.SetDeadline(time.Now().Add(50 * time.Millisecond))
			if c, err := ln.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
				if c != nil {
					c.Close()
				}
				t.Fatalf("Accept after all %d: %v, %v; want a deadline error", n, c, err)
			}
			if st := ln.state(t); st.queued != 0 || st.backlog != 0 {
				t.Fatalf("after accepting all: %+v", st)
			}
		})
	}
}
