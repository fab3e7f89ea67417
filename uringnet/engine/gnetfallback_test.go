package engine

// Tests of Config.FallbackToGnet in a process where io_uring cannot be
// used: a re-executed test binary installs a seccomp filter that fails
// io_uring_setup with EPERM, as a container profile does, and reports
// what each call did; the parent, where io_uring works, checks the
// report.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uring"
)

const (
	envNoUring         = "ENGINE_TEST_NO_URING"
	gnetFallbackPrefix = "engine-fallback-report: "
)

func init() {
	if os.Getenv(envNoUring) != "" {
		os.Exit(noUringChild())
	}
}

type gnetFallbackReport struct {
	Fail string

	// Without FallbackToGnet.
	RunErr        string
	RunSetupErrno int
	RunIsEPERM    bool

	// With FallbackToGnet.
	StartErr         string
	OnGnet           bool
	OfInOnBoot       bool // Of(h) in OnBoot was the engine Start returned
	BootEngineWorks  bool // OnBoot's gnet.Engine validated
	Addr             string
	Echo             string
	Count            int
	StopErr, WaitErr string
	CountAfter       int
	UDPAddr          string // a UDP engine's Addr on gnet: type and text
}

// bootProbe is an echo handler that checks its engine in OnBoot.
type bootProbe struct {
	echoHandler
	of        *Engine
	bootValid bool
	traffic   chan struct{}
}

// OnTraffic echoes, then tells the test, which so orders its later calls
// after gnet's start for the race detector: gnet's Engine methods read
// the loops its start writes without synchronisation.
func (h *bootProbe) OnTraffic(c gnet.Conn) gnet.Action {
	a := h.echoHandler.OnTraffic(c)
	select {
	case h.traffic <- struct{}{}:
	default:
	}
	return a
}

func (h *bootProbe) OnBoot(eng gnet.Engine) gnet.Action {
	h.of = Of(h)
	h.bootValid = eng.Validate() == nil
	return gnet.None
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func noUringChild() int {
	var rep gnetFallbackReport
	defer func() {
		b, _ := json.Marshal(rep)
		fmt.Printf("%s%s\n", gnetFallbackPrefix, b)
	}()
	if err := testutil.DenySyscall(unix.SYS_IO_URING_SETUP, syscall.EPERM); err != nil {
		rep.Fail = err.Error()
		return 0
	}
	err := Run(newEcho(), "tcp://127.0.0.1:0", gnet.WithLogger(quietLogger{}))
	rep.RunErr = errText(err)
	var se *uring.SetupError
	if errors.As(err, &se) {
		rep.RunSetupErrno = int(se.Errno)
	}
	rep.RunIsEPERM = errors.Is(err, syscall.EPERM)

	h := &bootProbe{echoHandler: *newEcho(), traffic: make(chan struct{}, 1)}
	e, err := Config{FallbackToGnet: true}.Start(h, "tcp://127.0.0.1:0", gnet.WithLogger(quietLogger{}))
	rep.StartErr = errText(err)
	if err != nil {
		return 0
	}
	rep.OnGnet = e.OnGnet()
	rep.OfInOnBoot = h.of == e
	rep.BootEngineWorks = h.bootValid
	rep.Addr = fmt.Sprint(e.Addr())
	c, err := net.DialTimeout("tcp", rep.Addr, 10*time.Second)
	if err != nil {
		rep.Fail = err.Error()
		return 0
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	c.Write([]byte("echo through gnet"))
	b := make([]byte, 64)
	n, _ := c.Read(b)
	rep.Echo = string(b[:n])
	<-h.traffic
	rep.Count = e.CountConnections()
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep.StopErr = errText(e.Stop(ctx))
	rep.WaitErr = errText(e.Wait())
	rep.CountAfter = e.CountConnections()

	ue, err := Config{FallbackToGnet: true}.Start(newEcho(), "udp://127.0.0.1:0", gnet.WithLogger(quietLogger{}))
	if err != nil {
		rep.UDPAddr = err.Error()
		return 0
	}
	rep.UDPAddr = fmt.Sprintf("%T %v", ue.Addr(), ue.Addr())
	ue.Stop(ctx)
	ue.Wait()
	return 0
}

// TestFallbackToGnet: where io_uring_setup is denied, Run fails with an
// error naming the cause, the fix and the opt-in; with FallbackToGnet the
// same handler serves on gnet behind the same *Engine.
func TestFallbackToGnet(t *testing.T) {
	if !testutil.SeccompSupported() {
		t.Skipf("the seccomp test filter is written for amd64 only, not %s", runtime.GOARCH)
	}
	out := testutil.RunChild(t, envNoUring+"=1", 5*time.Minute, "-test.run=^$")
	var rep gnetFallbackReport
	testutil.ChildReport(t, out, gnetFallbackPrefix, &rep)
	if rep.Fail != "" {
		t.Fatalf("child: %s", rep.Fail)
	}
	t.Logf("Run without FallbackToGnet: %s", rep.RunErr)
	if rep.RunSetupErrno != int(syscall.EPERM) || !rep.RunIsEPERM {
		t.Errorf("Run without FallbackToGnet: %+v, want an error wrapping a *uring.SetupError with EPERM", rep)
	}
	for _, want := range []string{"uringnet/engine", "io_uring_disabled", "seccomp", "FallbackToGnet"} {
		if !strings.Contains(rep.RunErr, want) {
			t.Errorf("error %q does not mention %s", rep.RunErr, want)
		}
	}
	if rep.StartErr != "" || !rep.OnGnet {
		t.Fatalf("Start with FallbackToGnet: err %q, OnGnet %v", rep.StartErr, rep.OnGnet)
	}
	if !rep.OfInOnBoot || !rep.BootEngineWorks {
		t.Errorf("in OnBoot: Of found the engine %v; gnet.Engine valid %v", rep.OfInOnBoot, rep.BootEngineWorks)
	}
	if rep.Echo != "echo through gnet" || rep.Count != 1 {
		t.Errorf("echo %q with %d connections counted on %s", rep.Echo, rep.Count, rep.Addr)
	}
	if rep.StopErr != "" || rep.WaitErr != "" || rep.CountAfter != -1 {
		t.Errorf("Stop %q, Wait %q, CountConnections after %d", rep.StopErr, rep.WaitErr, rep.CountAfter)
	}
	// Addr is the bound address, as on io_uring: a UDP one for UDP.
	if !strings.HasPrefix(rep.UDPAddr, "*net.UDPAddr 127.0.0.1:") || strings.HasSuffix(rep.UDPAddr, ":0") {
		t.Errorf("a UDP engine on gnet: Addr %s, want the bound *net.UDPAddr", rep.UDPAddr)
	}
}

// TestFallbackToGnetUnused: where io_uring works the fallback is never
// taken.
func TestFallbackToGnetUnused(t *testing.T) {
	testutil.CheckFDs(t)
	e, err := Config{FallbackToGnet: true}.Start(newEcho(), "tcp://127.0.0.1:0", gnet.WithLogger(quietLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	if e.OnGnet() || e.NumEventLoop() != len(e.loops) || len(e.loops) == 0 {
		t.Errorf("OnGnet %v with %d io_uring loops", e.OnGnet(), len(e.loops))
	}
	if err := e.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
