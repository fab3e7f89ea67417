package uringnet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

// TestListenerErrorsMatchNet compares the errors of a listener's Accept
// and Close with net's, field by field: net reports them with the
// listening address as Addr and no Source.
func TestListenerErrorsMatchNet(t *testing.T) {
	testutil.CheckFDs(t)
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := func(who string) string {
				if network == "unix" {
					return filepath.Join(t.TempDir(), who+".sock")
				}
				return "127.0.0.1:0"
			}
			nl, err := net.Listen(network, addr("net"))
			if err != nil {
				t.Fatal(err)
			}
			ul, err := Listen(network, addr("ours"))
			if err != nil {
				nl.Close()
				t.Fatal(err)
			}
			steps := []struct {
				name string
				do   func(l net.Listener) error
			}{
				{"Accept past deadline", func(l net.Listener) error {
					l.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(-time.Second))
					_, err := l.Accept()
					return err
				}},
				{"Close", func(l net.Listener) error { return l.Close() }},
				{"Accept after Close", func(l net.Listener) error { _, err := l.Accept(); return err }},
				{"Close again", func(l net.Listener) error { return l.Close() }},
			}
			for _, s := range steps {
				nerr, uerr := s.do(nl), s.do(ul)
				if (nerr == nil) != (uerr == nil) {
					t.Fatalf("%s: ours %v, net's %v", s.name, uerr, nerr)
				}
				if nerr == nil {
					continue
				}
				var no, uo *net.OpError
				if !errors.As(nerr, &no) || !errors.As(uerr, &uo) {
					t.Fatalf("%s: ours %T %v, net's %T %v; want both *net.OpError", s.name, uerr, uerr, nerr, nerr)
				}
				if uo.Op != no.Op || uo.Net != no.Net {
					t.Errorf("%s: ours Op %q Net %q, net's Op %q Net %q", s.name, uo.Op, uo.Net, no.Op, no.Net)
				}
				if (uo.Source == nil) != (no.Source == nil) || (uo.Addr == nil) != (no.Addr == nil) {
					t.Errorf("%s: ours Source %v Addr %v, net's Source %v Addr %v", s.name, uo.Source, uo.Addr, no.Source, no.Addr)
				}
				if uo.Addr != nil && no.Addr != nil && fmt.Sprintf("%T", uo.Addr) != fmt.Sprintf("%T", no.Addr) {
					t.Errorf("%s: ours Addr %T, net's %T", s.name, uo.Addr, no.Addr)
				}
				for _, target := range []error{net.ErrClosed, os.ErrDeadlineExceeded} {
					if errors.Is(uerr, target) != errors.Is(nerr, target) {
						t.Errorf("%s: errors.Is(%v): ours %v (%v), net's %v (%v)", s.name, target, errors.Is(uerr, target), uerr, errors.Is(nerr, target), nerr)
					}
				}
				// The message names the same things in the same order.
				shape := func(err error, l net.Listener) string {
					return strings.ReplaceAll(err.Error(), l.Addr().String(), "ADDR")
				}
				if a, b := shape(uerr, ul), shape(nerr, nl); a != b {
					t.Errorf("%s: ours %q, net's %q", s.name, a, b)
				}
			}
		})
	}
}
