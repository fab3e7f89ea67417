package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	gmath "github.com/panjf2000/gnet/v2/pkg/math"
)

// Engine is a running io_uring engine: the handle that gnet.Engine cannot
// be for this package (see the package documentation). A handler gets
// its own from Of, in OnBoot or later; a program gets one from Start,
// Config.StartRotate or Lookup. Its methods are safe for concurrent use.
type Engine struct {
	handler    gnet.EventHandler
	opts       *gnet.Options
	logger     logging.Logger
	logFlush   func() error
	protoAddrs []string // as given to Run or Rotate
	network    string   // "tcp", "udp" or "unix", as gnet reports it
	addr       net.Addr
	lns        []*listener
	bound      []boundAddr  // the addresses asked for, in order, for DupListener
	gnet       *gnet.Engine // with Config.FallbackToGnet taken: gnet's, from OnBoot
	numGnet    int          // with Config.FallbackToGnet taken: gnet's event loops
	loops      []*loop
	lb         balancer
	cfg        config
	feat       features // what the loops use: see features.go
	hasStream  bool     // it serves a tcp or unix address

	stopOnce sync.Once
	stopCh   chan struct{} // closed when shutdown is requested
	done     chan struct{} // closed when every loop has ended and listeners are closed
	tickDone chan struct{} // with WithTicker, closed when the ticker goroutine has returned
	shutDown atomic.Bool
	running  atomic.Bool // OnBoot has returned: Register works, as gnet's does then
	err      error       // the first fatal loop error; read after done
	errMu    sync.Mutex
}

// config holds tunables that are not gnet options: the provided-buffer
// ring's size (also the plain-buffer pool's) and the ring's queue depth,
// which tests shrink; how many of the ring's buffers the kernel is
// handed at first (uring.WithInitialBuffers: more follow as receives use
// them up, so that a loop whose connections are idle writes into, and
// so makes resident, only about that many, where handing it all 256 had
// it write into every one in turn: 1 MiB more resident memory with
// 64 KiB buffers, measured with 1000 idle connections); features to do without even where the kernel has
// them, which tests set to force each fallback (without
// featMultishotRecv, UDP loops receive as on kernels without multishot
// recvmsg).
type config struct {
	Config
	bufRingEntries int
	bufRingInitial int
	queueDepth     int
	without        features
}

var defaultConfig = config{bufRingEntries: 256, bufRingInitial: 16, queueDepth: 1024}

var (
	registryMu sync.Mutex
	registry   = map[string]*Engine{}
)

// Run starts handler on protoAddr ("tcp://127.0.0.1:9000", "tcp6://[::1]:0",
// "udp://:9000", "unix:///tmp/sock"; the scheme is required, as with gnet) with gnet's
// options and blocks until the engine
// shuts down, exactly as gnet.Run does. It returns nil after a shutdown
// requested by a handler's Shutdown action or by Stop, and an error if the
// engine could not start or an event loop failed.
func Run(handler gnet.EventHandler, protoAddr string, opts ...gnet.Option) error {
	e, err := Start(handler, protoAddr, opts...)
	if err != nil {
		return err
	}
	return e.Wait()
}

// Start is Run without the wait: it binds the listener, calls OnBoot,
// starts the event loops and returns the running engine. If OnBoot returns
// gnet.Shutdown, the engine is returned already stopped.
func Start(handler gnet.EventHandler, protoAddr string, opts ...gnet.Option) (*Engine, error) {
	return Config{}.Start(handler, protoAddr, opts...)
}

// Config holds the engine's own options, the ones gnet has no
// counterpart for. Each is off in the zero Config, which behaves as gnet
// does: Run(h, addr, opts...) is Config{}.Run(h, addr, opts...).
type Config struct {
	// FallbackToGnet runs the handler on gnet.Run (gnet.Rotate for
	// several addresses) with the same options when io_uring cannot be
	// used at all in this process: a kernel without it (ENOSYS), a
	// seccomp profile or the kernel.io_uring_disabled sysctl that
	// forbids it (EPERM, EACCES), or an RLIMIT_MEMLOCK too low for a
	// ring (ENOMEM), the condition under which uringnet's FallbackToNet
	// and uringfs's FallbackToOS are taken. It is never taken while
	// io_uring works, and any other failure is returned. The *Engine is
	// the same type (OnGnet reports the fallback) and OnBoot then
	// receives gnet's own working Engine.
	//
	// Without it, the zero value, Run and Start return an error wrapping
	// the *uring.SetupError, whose text says what to change.
	FallbackToGnet bool

	// SendFromReadBuffer lets a Write of 1 KiB or more of a slice that
	// Next or Peek returned, with nothing else queued, be sent straight
	// from the provided buffer the kernel received it into, which is
	// recycled when the send completes, instead of being copied (at
	// most half the ring's buffers are held this way; beyond that the
	// bytes are copied). The rule that comes with it: a handler must
	// not modify bytes it has written, even within the callback, for
	// they may not have been sent yet. gnet copies them at once, as
	// this engine does without the option.
	SendFromReadBuffer bool

	// Backpressure stops reading from a connection while more than
	// WithWriteBufferCap bytes are queued for sending to it, and
	// resumes when the queue has drained to half the cap, so that a
	// peer that sends without reading costs the server at most about
	// twice the cap plus one read buffer (WithReadBufferCap), plus what
	// the handler writes in one callback. Receives are then single
	// operations, armed again after each completion, rather than
	// multishot. gnet instead keeps reading and lets the outbound
	// buffer grow without bound, as this engine does without the option.
	Backpressure bool

	// LingerTimeout bounds how long a closed connection waits for its
	// peer to take what is still queued for it. A connection closes (by
	// the peer's end, a Close action, Conn.Close or CloseWithCallback)
	// only after its whole outbound queue has gone out; one whose peer
	// takes no byte of it for LingerTimeout is closed there, the rest
	// dropped, and counted in LoopStats.LingerDropped and
	// LingerBytesDropped. Any byte the peer takes, into its receive
	// buffer, restarts the wait, so a slow reader is never cut short
	// however long the whole transfer lasts. The zero value means
	// DefaultLingerTimeout; a negative one, no limit: a peer that never
	// reads then holds the descriptor and the queued bytes until the
	// engine stops. The loop checks lingering connections every quarter
	// of the limit, so one is closed between LingerTimeout and
	// 1.5*LingerTimeout after the peer last took a byte.
	//
	// gnet drops at once what the socket does not take at close.
	// SO_LINGER (Conn.SetLinger) is another matter: it governs the bytes
	// already in the kernel's send buffer when the descriptor is closed,
	// which this engine does only once its own queue has gone or been
	// dropped.
	LingerTimeout time.Duration
}

// DefaultLingerTimeout is the LingerTimeout of a Config that leaves it
// zero: long enough that a live peer, however slow, takes a byte within
// it.
const DefaultLingerTimeout = 30 * time.Second

// Run is Run with c's options.
func (c Config) Run(handler gnet.EventHandler, protoAddr string, opts ...gnet.Option) error {
	e, err := c.Start(handler, protoAddr, opts...)
	if err != nil {
		return err
	}
	return e.Wait()
}

// Rotate is Run over several addresses, as gnet.Rotate is: one engine,
// one handler, a listener (or, for udp, a socket per loop) per address,
// tcp, udp and unix ones mixed as needed, which the same event loops
// serve. Stop and Lookup
// find it by any of the addresses; Dup reports gnet's ErrUnsupportedOp,
// as gnet's does with several listeners: use DupListener.
func Rotate(handler gnet.EventHandler, protoAddrs []string, opts ...gnet.Option) error {
	return Config{}.Rotate(handler, protoAddrs, opts...)
}

// Rotate is Rotate with c's options.
func (c Config) Rotate(handler gnet.EventHandler, protoAddrs []string, opts ...gnet.Option) error {
	e, err := c.StartRotate(handler, protoAddrs, opts...)
	if err != nil {
		return err
	}
	return e.Wait()
}

// StartRotate is Rotate without the wait, as Start is Run without it.
func (c Config) StartRotate(handler gnet.EventHandler, protoAddrs []string, opts ...gnet.Option) (*Engine, error) {
	cfg := defaultConfig
	cfg.Config = c
	return startAddrs(handler, protoAddrs, cfg, opts...)
}

// Start is Start with c's options.
func (c Config) Start(handler gnet.EventHandler, protoAddr string, opts ...gnet.Option) (*Engine, error) {
	cfg := defaultConfig
	cfg.Config = c
	return start(handler, protoAddr, cfg, opts...)
}

func start(handler gnet.EventHandler, protoAddr string, cfg config, opts ...gnet.Option) (*Engine, error) {
	return startAddrs(handler, []string{protoAddr}, cfg, opts...)
}

// startAddrs starts an engine serving every address of protoAddrs.
func startAddrs(handler gnet.EventHandler, protoAddrs []string, cfg config, opts ...gnet.Option) (*Engine, error) {
	if handler == nil {
		return nil, errors.New("uringnet/engine: the gnet.EventHandler is nil; pass the handler gnet.Run would take")
	}
	if len(protoAddrs) == 0 {
		return nil, errorx.ErrInvalidNetworkAddress
	}
	o := new(gnet.Options)
	for _, opt := range opts {
		if opt != nil {
			opt(o)
		}
	}
	addrs, err := parseAddrs(protoAddrs)
	if err != nil {
		return nil, err
	}
	if err := checkOptions(o, addrs[0].network); err != nil {
		return nil, err
	}
	hasUDP, hasUnix, hasStream := addrKinds(addrs)
	e := &Engine{
		handler:    handler,
		opts:       o,
		protoAddrs: protoAddrs,
		cfg:        cfg,
		hasStream:  hasStream,
		stopCh:     make(chan struct{}),
		done:       make(chan struct{}),
	}
	if err := e.setupLogger(); err != nil {
		return nil, err
	}
	numLoops := eventLoops(o)
	feat, err := detectFeatures()
	if err != nil {
		return e.cannotStart(err, numLoops, opts)
	}
	e.feat = feat &^ cfg.without
	e.logger.Debugf("uringnet/engine: io_uring features: %v", e.feat)
	setReusePort(o, hasUDP, hasUnix)
	if err := checkLB(o.LB); err != nil {
		e.cleanupLogger()
		return nil, err
	}
	e.lb = balancer{algo: o.LB}
	perLoop, err := e.openListeners(addrs, numLoops)
	if err != nil {
		e.cleanupLogger()
		return nil, err
	}
	e.network = e.lns[0].network
	e.addr = e.lns[0].addr
	for i := range numLoops {
		e.loops = append(e.loops, newLoop(e, i, perLoop[i]))
	}
	e.lb.loops = e.loops

	// From OnBoot on, Of(handler) finds the engine (OnBoot's gnet.Engine
	// cannot be it); a Register from OnBoot reports ErrEmptyEngine, as
	// gnet's does, until OnBoot returns.
	e.addHandler()
	switch handler.OnBoot(gnet.Engine{}) {
	case gnet.Shutdown:
		e.shutDownAtBoot()
		return e, nil
	}

	// OnBoot has returned: Register works from now on (a connection
	// registered before the loops run waits in a loop's task queue).
	e.running.Store(true)
	if err := e.startLoops(); err != nil {
		e.abortStart(err)
		return e.cannotStart(err, numLoops, opts)
	}
	// What gnet logs when it launches, at the same level.
	e.logger.Infof("uringnet/engine: launching %d io_uring event loops, listening on: %s", numLoops, strings.Join(protoAddrs, " | "))
	if o.Ticker {
		e.tickDone = make(chan struct{})
		go e.tick()
	}
	go e.supervise()
	return e, nil
}

// netAddr is one of an engine's addresses, parsed.
type netAddr struct{ network, address string }

// parseAddrs parses protoAddrs.
func parseAddrs(protoAddrs []string) ([]netAddr, error) {
	addrs := make([]netAddr, 0, len(protoAddrs))
	for _, pa := range protoAddrs {
		network, address, err := parseProtoAddr(pa)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, netAddr{network, address})
	}
	return addrs, nil
}

// addrKinds reports whether addrs has a udp address, a unix one and a
// stream (tcp or unix) one.
func addrKinds(addrs []netAddr) (hasUDP, hasUnix, hasStream bool) {
	for _, a := range addrs {
		hasUDP = hasUDP || isUDP(a.network)
		hasUnix = hasUnix || a.network == "unix"
		hasStream = hasStream || !isUDP(a.network)
	}
	return hasUDP, hasUnix, hasStream
}

// eventLoops is the number of event loops o asks for, as gnet counts
// them: one, one per CPU with Multicore, or NumEventLoop, up to gnet's
// limit.
func eventLoops(o *gnet.Options) int {
	numLoops := 1
	if o.Multicore {
		numLoops = runtime.NumCPU()
	}
	if o.NumEventLoop > 0 {
		numLoops = o.NumEventLoop
	}
	return min(numLoops, maxEventLoops)
}

// setReusePort sets o.ReusePort as gnet does for an engine with these
// kinds of address.
func setReusePort(o *gnet.Options, hasUDP, hasUnix bool) {
	if hasUDP {
		// gnet forces SO_REUSEPORT on for UDP: each loop receives on its
		// own socket (listenUDP sets it whatever the option says), and on
		// the engine's tcp ones too.
		o.ReusePort = true
	}
	if hasUnix {
		// SO_REUSEPORT does not apply to Unix sockets; gnet drops it, for
		// every stream address, when one is a Unix one. (gnet, with a udp
		// address too, then binds each loop's unix socket again at the
		// same path, and only the last loop's accepts; here loop 0
		// accepts on the stream addresses and hands connections out.)
		o.ReusePort = false
	}
}

// checkLB refuses a load-balancing algorithm gnet does not have.
func checkLB(lb gnet.LoadBalancing) error {
	switch lb {
	case gnet.RoundRobin, gnet.LeastConnections, gnet.SourceAddrHash:
		return nil
	}
	return fmt.Errorf("uringnet/engine: unknown load-balancing algorithm %d: use gnet.RoundRobin, LeastConnections or SourceAddrHash", lb)
}

// openListeners opens the listeners of every address of addrs and
// returns, for each of numLoops loops, what it accepts (or receives) on:
// with SO_REUSEPORT a socket of its own for every address, each bound to
// the same address (the real port, if port 0 was asked for), so that the
// kernel spreads connections over them; else loop 0 accepts on every
// address and the load balancer hands connections out. If one cannot be
// opened, those opened are closed.
func (e *Engine) openListeners(addrs []netAddr, numLoops int) ([][]*listener, error) {
	perLoop := make([][]*listener, numLoops)
	for _, a := range addrs {
		if err := e.listenOn(a, perLoop); err != nil {
			e.closeListeners()
			return nil, err
		}
	}
	return perLoop, nil
}

// listenOn opens a's listener for loop 0 and, with SO_REUSEPORT or for
// udp, one more bound to the same address for each other loop of
// perLoop, recording them in e and perLoop.
func (e *Engine) listenOn(a netAddr, perLoop [][]*listener) error {
	o := e.opts
	ln, err := listen(a.network, a.address, o)
	if err != nil {
		return err
	}
	e.lns = append(e.lns, ln)
	e.bound = append(e.bound, boundAddr{network: a.network, address: a.address, ln: ln})
	perLoop[0] = append(perLoop[0], ln)
	if !o.ReusePort && !isUDP(a.network) {
		return nil
	}
	again := ln.addr.String()
	if isUDP(a.network) {
		again = udpRebindAddress(a.address, ln.addr)
	}
	for i := 1; i < len(perLoop); i++ {
		l2, err := listen(a.network, again, o)
		if err != nil {
			return err
		}
		e.lns = append(e.lns, l2)
		perLoop[i] = append(perLoop[i], l2)
	}
	return nil
}

// shutDownAtBoot ends an engine whose OnBoot returned gnet.Shutdown,
// before any loop has run.
func (e *Engine) shutDownAtBoot() {
	for _, l := range e.loops {
		l.abandon()
	}
	e.closeListeners()
	e.cleanupLogger()
	e.shutDown.Store(true)
	e.removeHandler()
	e.stopOnce.Do(func() { close(e.stopCh) })
	close(e.done)
}

// startLoops registers e under its addresses and starts its loops,
// returning the first error a loop reports while it starts.
func (e *Engine) startLoops() error {
	// Registered before any loop runs: a client served by a loop may
	// call Stop(protoAddr) before this goroutine runs again. A Stop
	// until supervise starts just closes stopCh, which supervise sees.
	registryMu.Lock()
	for _, pa := range e.protoAddrs {
		registry[pa] = e
	}
	registryMu.Unlock()
	// Each loop creates its ring on its own locked thread (SINGLE_ISSUER
	// ties the ring to the creating task) and reports back.
	started := make(chan error, len(e.loops))
	for _, l := range e.loops {
		go l.run(started)
	}
	var startErr error
	for range e.loops {
		if err := <-started; err != nil && startErr == nil {
			startErr = err
		}
	}
	return startErr
}

// abortStart undoes startLoops after a loop failed to start: it stops
// the loops that did and waits for them all, and releases what e holds.
func (e *Engine) abortStart(startErr error) {
	e.logger.Errorf("uringnet/engine: the engine is stopping with an error: %v", startErr)
	for _, l := range e.loops {
		l.stop()
	}
	for _, l := range e.loops {
		<-l.exited
	}
	e.closeListeners()
	e.cleanupLogger()
	e.unregister()
	e.removeHandler()
	e.shutDown.Store(true)
	close(e.done) // for a Stop that found it meanwhile
}

// tick calls OnTick on a goroutine of its own, as gnet does, so that a
// handler may block in it (dial its own server and wait for the reply,
// say) without holding up any event loop: at once, then again after
// each delay it returns, until the shutdown begins. A Shutdown action
// shuts the engine down; the delay returned with it still applies.
func (e *Engine) tick() {
	defer close(e.tickDone)
	var timer *time.Timer
	for {
		delay, action := e.handler.OnTick()
		if action == gnet.Shutdown {
			e.logger.Debugf("uringnet/engine: OnTick asked for shutdown")
			e.shutdown()
		}
		if timer == nil {
			timer = time.NewTimer(delay)
			defer timer.Stop()
		} else {
			timer.Reset(delay)
		}
		select {
		case <-e.stopCh:
			e.logger.Debugf("uringnet/engine: the ticker stops: the engine is shutting down")
			return
		case <-timer.C:
		}
	}
}

// cannotStart returns the error that kept e from starting, or, if it
// says io_uring cannot be used at all and e's Config allows it, an
// engine running the handler on gnet instead.
func (e *Engine) cannotStart(err error, numLoops int, opts []gnet.Option) (*Engine, error) {
	if !unavailable(err) {
		e.cleanupLogger()
		return nil, err
	}
	if !e.cfg.FallbackToGnet {
		e.logger.Errorf("uringnet/engine: %v", err)
		e.cleanupLogger()
		return nil, &unavailableError{err}
	}
	e.logger.Warnf("uringnet/engine: io_uring cannot be used (%v); running the handler on gnet, as Config.FallbackToGnet allows", err)
	e.cleanupLogger()
	return startGnet(e.handler, e.protoAddrs, numLoops, opts...)
}

// maxEventLoops is gnet's limit on event loops (gfd.EventLoopIndexMax).
const maxEventLoops = 1 << 16

// supervise carries out gnet's shutdown sequence once it is requested:
// OnShutdown first, then every loop closes its connections (each one's
// OnClose) and ends, then the listeners are closed.
func (e *Engine) supervise() {
	<-e.stopCh
	e.logger.Debugf("uringnet/engine: shutting down the engine on %s", strings.Join(e.protoAddrs, " | "))
	e.handler.OnShutdown(gnet.Engine{})
	for _, l := range e.loops {
		l.stop()
	}
	for _, l := range e.loops {
		<-l.exited
	}
	if e.tickDone != nil {
		// gnet too waits for a running OnTick before it completes the
		// shutdown.
		<-e.tickDone
	}
	e.closeListeners()
	e.logger.Debugf("uringnet/engine: the engine on %s has shut down", strings.Join(e.protoAddrs, " | "))
	e.cleanupLogger()
	e.shutDown.Store(true)
	e.unregister()
	e.removeHandler()
	close(e.done)
}

func (e *Engine) unregister() {
	registryMu.Lock()
	for _, pa := range e.protoAddrs {
		if registry[pa] == e {
			delete(registry, pa)
		}
	}
	registryMu.Unlock()
}

// shutdown requests the engine's shutdown; it returns at once.
func (e *Engine) shutdown() {
	e.stopOnce.Do(func() { close(e.stopCh) })
}

func (e *Engine) fail(err error) {
	e.errMu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.errMu.Unlock()
	e.logger.Errorf("uringnet/engine: the engine is shutting down after an error: %v", err)
	e.shutdown()
}

// Wait blocks until the engine has shut down and returns the first error
// that stopped an event loop, or nil.
func (e *Engine) Wait() error {
	<-e.done
	e.errMu.Lock()
	defer e.errMu.Unlock()
	return e.err
}

// Done returns a channel closed when the engine has shut down.
func (e *Engine) Done() <-chan struct{} { return e.done }

// Stop shuts the engine down as gnet's Engine.Stop does: it returns
// gnet's ErrEngineInShutdown if the engine is already shut down, else
// requests the shutdown and waits for it, or for ctx to end.
func (e *Engine) Stop(ctx context.Context) error {
	if e.shutDown.Load() {
		return errorx.ErrEngineInShutdown
	}
	if e.gnet != nil {
		return e.stopGnet(ctx)
	}
	e.shutdown()
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CountConnections returns the number of open connections, or -1 once the
// engine has shut down, as gnet's Engine.CountConnections does.
func (e *Engine) CountConnections() int {
	if e.shutDown.Load() {
		return -1
	}
	if e.gnet != nil {
		return e.gnet.CountConnections()
	}
	n := 0
	for _, l := range e.loops {
		n += int(l.count.Load())
	}
	return n
}

// counters sums the loops' debug counters.
func (e *Engine) counters() (enobufs, pauses uint64) {
	for _, l := range e.loops {
		enobufs += l.enobufs.Load()
		pauses += l.pauses.Load()
	}
	return
}

// NumEventLoop returns the number of event loops the engine runs.
func (e *Engine) NumEventLoop() int { return len(e.loops) + e.numGnet }

// Addr returns the address the listener is bound to, with the real port
// when port 0 was asked for.
func (e *Engine) Addr() net.Addr { return e.addr }

// Dup returns a duplicate of the listening socket's file descriptor, as
// gnet's Engine.Dup does; the caller must close it. With WithReusePort
// there is one listener per loop, and Dup returns the first. An engine
// on several addresses (Rotate) has no one listener: Dup returns gnet's
// ErrUnsupportedOp; use DupListener.
func (e *Engine) Dup() (int, error) {
	if err := e.Validate(); err != nil {
		return -1, err
	}
	if e.gnet != nil {
		return e.gnet.Dup()
	}
	if len(e.bound) > 1 {
		return -1, errorx.ErrUnsupportedOp
	}
	return dupFd(e.bound[0].ln.fd)
}

// Lookup returns the engine started on protoAddr and still running.
func Lookup(protoAddr string) (*Engine, bool) {
	registryMu.Lock()
	defer registryMu.Unlock()
	e, ok := registry[protoAddr]
	return e, ok
}

// Stop shuts down the engine started on protoAddr, as gnet.Stop does: it
// returns gnet's ErrEngineInShutdown if no running engine has that
// address, else waits for the shutdown or for ctx to end.
func Stop(ctx context.Context, protoAddr string) error {
	registryMu.Lock()
	e, ok := registry[protoAddr]
	registryMu.Unlock()
	if !ok {
		return errorx.ErrEngineInShutdown
	}
	return e.Stop(ctx)
}

func (e *Engine) closeListeners() {
	for _, ln := range e.lns {
		ln.close()
	}
}

func (e *Engine) setupLogger() error {
	switch {
	case e.opts.Logger != nil:
		e.logger = e.opts.Logger
	case e.opts.LogPath != "":
		lg, flush, err := logging.CreateLoggerAsLocalFile(e.opts.LogPath, e.opts.LogLevel)
		if err != nil {
			return fmt.Errorf("uringnet/engine: creating the log file %s: %w", e.opts.LogPath, err)
		}
		e.logger, e.logFlush = lg, flush
	default:
		e.logger = logging.GetDefaultLogger()
	}
	return nil
}

func (e *Engine) cleanupLogger() {
	if e.logFlush != nil {
		_ = e.logFlush()
		e.logFlush = nil
	}
}

// checkOptions rejects options this engine cannot honor on network and
// normalises the buffer caps the way gnet does.
func checkOptions(o *gnet.Options, network string) error {
	// WithEdgeTriggeredIO and WithEdgeTriggeredIOChunk choose how gnet
	// drains epoll readiness; a completion ring reports finished I/O
	// rather than readiness, so they are hints without meaning here and
	// are accepted, as gnet itself accepts and ignores them on udp.
	// WithMulticastInterfaceIndex matters only when a udp address is a
	// multicast group; elsewhere gnet ignores it, and so does this engine.
	o.EdgeTriggeredIO, o.EdgeTriggeredIOChunk = false, 0
	if o.LockOSThread && o.NumEventLoop > 10000 {
		return errorx.ErrTooManyEventLoopThreads
	}
	if o.NumEventLoop < 0 {
		return fmt.Errorf("uringnet/engine: WithNumEventLoop(%d): the number of event loops cannot be negative; pass 0 for gnet's default (one loop, or one per CPU with WithMulticore)", o.NumEventLoop)
	}
	o.ReadBufferCap = normCap(o.ReadBufferCap)
	o.WriteBufferCap = normCap(o.WriteBufferCap)
	if o.ReadBufferCap > 1<<30 {
		return fmt.Errorf("uringnet/engine: WithReadBufferCap(%d) is too large for a provided buffer: pass at most 1 GiB", o.ReadBufferCap)
	}
	if o.SocketRecvBuffer < 0 || o.SocketSendBuffer < 0 {
		return fmt.Errorf("uringnet/engine: WithSocketRecvBuffer(%d)/WithSocketSendBuffer(%d): a socket buffer size cannot be negative; pass 0 for the kernel's default", o.SocketRecvBuffer, o.SocketSendBuffer)
	}
	return nil
}

// normCap rounds a buffer cap as gnet's createListeners does.
func normCap(n int) int {
	switch {
	case n <= 0:
		return gnet.MaxStreamBufferCap
	case n <= 1024:
		return 1024
	default:
		return gmath.CeilToPowerOfTwo(n)
	}
}

func isUDP(network string) bool { return strings.HasPrefix(network, "udp") }

// parseProtoAddr splits "tcp://host:port", "udp://host:port" or
// "unix:///path" as gnet does, returning gnet's errors for malformed
// addresses.
func parseProtoAddr(protoAddr string) (network, address string, err error) {
	u, err := url.Parse(strings.ReplaceAll(protoAddr, "%", "%25"))
	if err != nil {
		return "", "", err
	}
	switch u.Scheme {
	case "":
		return "", "", errorx.ErrInvalidNetworkAddress
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
		if u.Host == "" || u.Path != "" {
			return "", "", errorx.ErrInvalidNetworkAddress
		}
		return u.Scheme, u.Host, nil
	case "unix":
		p := path.Join(u.Host, u.Path)
		if p == "" {
			return "", "", errorx.ErrInvalidNetworkAddress
		}
		return "unix", p, nil
	default:
		return "", "", errorx.ErrUnsupportedProtocol
	}
}
