package engine

import (
	"bytes"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"github.com/uring-go/uring/internal/testutil"
)

// sideBySide is gnet and this engine with every feature: for behaviour
// that does not depend on how a loop receives.
var sideBySide = runners[:2]

// TestEpollOnlyOptions: every option gnet accepts on a stream address is
// accepted, the epoll-only ones as hints without effect: the engine
// serves as gnet does.
func TestEpollOnlyOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  gnet.Option
	}{
		{"edge-triggered", gnet.WithEdgeTriggeredIO(true)},
		{"edge-triggered-chunk", gnet.WithEdgeTriggeredIOChunk(1 << 16)},
		{"multicast-index", gnet.WithMulticastInterfaceIndex(1)},
	} {
		for _, network := range []string{"tcp", "unix"} {
			for _, r := range sideBySide {
				t.Run(tc.name+"/"+network+"/"+r.name, func(t *testing.T) {
					testutil.CheckFDs(t)
					s := serve(t, r, network, newEcho(), tc.opt)
					c := s.dial(t)
					msg := bytes.Repeat([]byte("et"), 50000)
					if got := exchange(t, c, msg); !bytes.Equal(got, msg) {
						t.Fatal("echo differs")
					}
					c.Close()
					s.shutdown(t)
				})
			}
		}
	}
}
