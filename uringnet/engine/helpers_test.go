package engine

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"go.uber.org/goleak"

	"github.com/uring-go/uring/internal/testutil"
)

// gnet's EventLoop.Register dials on gnet's package-level ants pool,
// whose idle workers wait to be purged well after a test ends, and the
// file logger of gnet's logging package (WithLogPath) keeps its
// lumberjack file, and the goroutine that rotates it, for good: they are
// gnet's, in gnet as here, not leaks of the test.
func TestMain(m *testing.M) {
	testutil.Main(m,
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*goWorker).run.func1"),
		goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"),
	)
}

// runner is an engine under test: gnet's own or this package's.
type runner struct {
	name string
	run  func(gnet.EventHandler, string, ...gnet.Option) error
	stop func(context.Context, string) error
}

// runners are gnet, the reference, and this package's engine in each
// mode: with every feature the kernel has, and with each fallback forced.
var runners = func() []runner {
	rs := []runner{{"gnet", gnet.Run, gnet.Stop}}
	for _, m := range modes {
		rs = append(rs, runner{"uring" + m.suffix(), m.run, Stop})
	}
	return rs
}()

// mode is a set of features the engine does without even where the
// kernel has them, so that tests exercise each fallback on any kernel.
type mode struct {
	name    string
	without features
}

// modes: every feature; each fallback forced alone; all of them at once
// (which also replaces multishot poll with single polls).
var modes = []mode{
	{"", 0},
	{"single-recv", features(featMultishotRecv)},
	{"plain-buffers", features(featBufRing)},
	{"plain-ring", features(featDeferTaskrun)},
	{"fallbacks", features(allFeatures)},
}

func (m mode) suffix() string {
	if m.name == "" {
		return ""
	}
	return "/" + m.name
}

// cfg returns c doing without m's features.
func (m mode) cfg(c config) config {
	c.without |= m.without
	return c
}

// run is Run in mode m.
func (m mode) run(h gnet.EventHandler, protoAddr string, opts ...gnet.Option) error {
	e, err := start(h, protoAddr, m.cfg(defaultConfig), opts...)
	if err != nil {
		return err
	}
	return e.Wait()
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// server is a running engine and the address to dial it.
type server struct {
	running
	network string
	addr    string
}

// running is an engine a test started: its address, the channel Run's
// result arrives on (nil once collected), and the runner.
type running struct {
	protoAddr string
	errc      chan error
	r         runner
}

// serve runs h on r over network ("tcp" or "unix") and returns once the
// listener accepts connections. Cleanup stops it and checks that Run
// returned.
func serve(t testing.TB, r runner, network string, h gnet.EventHandler, opts ...gnet.Option) *server {
	t.Helper()
	s := &server{running: running{errc: make(chan error, 1), r: r}, network: network}
	switch network {
	case "unix":
		s.addr = filepath.Join(t.TempDir(), "s")
		s.protoAddr = "unix://" + s.addr
	case "tcp6":
		s.addr = "[::1]:" + strconv.Itoa(freePort(t))
		s.protoAddr = "tcp6://" + s.addr
		s.network = "tcp6"
	default:
		s.addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
		s.protoAddr = "tcp://" + s.addr
	}
	opts = append([]gnet.Option{gnet.WithLogger(quietLogger{})}, opts...)
	go func() { s.errc <- r.run(h, s.protoAddr, opts...) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout(s.netw(), s.addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-s.errc:
			t.Fatalf("%s: Run returned before serving: %v", r.name, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: server on %s not ready: %v", r.name, s.protoAddr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(func() { s.shutdown(t) })
	return s
}

func (s *server) netw() string {
	if s.network == "unix" {
		return "unix"
	}
	return "tcp"
}

// shutdown stops the engine if it still runs and waits for Run to
// return. Stop by address finds gnet's engine only once gnet has
// registered it, a moment after OnBoot, and gnet.Stop may also report
// ErrEngineInShutdown for an engine it has just shut down (it checks
// whether the engine is shut down right after asking it to): either way
// it is asked again until Run returns.
func (s *running) shutdown(t testing.TB) {
	t.Helper()
	if s.errc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		err := s.r.stop(ctx, s.protoAddr)
		if err == nil || !errors.Is(err, errorx.ErrEngineInShutdown) {
			if err != nil {
				t.Errorf("%s: Stop: %v", s.r.name, err)
			}
			break
		}
		select {
		case err := <-s.errc:
			s.errc = nil
			if err != nil {
				t.Errorf("%s: Run: %v", s.r.name, err)
			}
			return
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			t.Errorf("%s: Stop: %v", s.r.name, err)
			s.wait(t)
			return
		}
	}
	s.wait(t)
}

// wait waits for Run to return and checks it returned nil.
func (s *running) wait(t testing.TB) {
	t.Helper()
	if s.errc == nil {
		return
	}
	select {
	case err := <-s.errc:
		if err != nil {
			t.Errorf("%s: Run: %v", s.r.name, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Run did not return", s.r.name)
	}
	s.errc = nil
}

func (s *server) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(s.netw(), s.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: dial: %v", s.r.name, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// openCloseCounts is a handler base that counts OnOpen and OnClose calls.
type openCloseCounts struct {
	gnet.BuiltinEventEngine
	opened, closed atomic.Int64
}

func (h *openCloseCounts) OnOpen(gnet.Conn) ([]byte, gnet.Action) {
	h.opened.Add(1)
	return nil, gnet.None
}

func (h *openCloseCounts) OnClose(gnet.Conn, error) gnet.Action {
	h.closed.Add(1)
	return gnet.None
}

// waitBoot waits for a server started in the background to boot (OnBoot
// closes booted) and fails the test if its run returns first, with the
// error it returned, rather than waiting for good on a server that never
// started (a port taken between freePort and the listen, say).
func waitBoot(t testing.TB, booted <-chan struct{}, errc <-chan error) {
	t.Helper()
	select {
	case <-booted:
	case err := <-errc:
		t.Fatalf("the server returned before it booted: %v", err)
	}
}
