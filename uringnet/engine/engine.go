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

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	gmath "github.com/panjf2000/gnet/v2/pkg/math"
)

// Engine is a running io_uring engine: the handle that gnet.Engine cannot
// be for this package (see the package documentation). Get one from Start
// or Lookup. Its methods are safe for concurrent use.
type Engine struct {
	handler   gnet.EventHandler
	opts      *gnet.Options
	logger    logging.Logger
	logFlush  func() error
	protoAddr string
	network   string // "tcp", "udp" or "unix", as gnet reports it
	addr      net.Addr
	lns       []*listener
	loops     []*loop
	lb        balancer
	cfg       config
	feat      features // what the loops use: see features.go

	stopOnce sync.Once
	stopCh   chan struct{} // closed when shutdown is requested
	done     chan struct{} // closed when every loop has ended and listeners are closed
	shutDown atomic.Bool
	err      error // the first fatal loop error; read after done
	errMu    sync.Mutex
}

// config holds tunables that are not gnet options: the provided-buffer
// ring's size (also the plain-buffer pool's) and the ring's queue depth,
// which tests shrink; features to do without even where the kernel has
// them, which tests set to force each fallback (without
// featMultishotRecv, UDP loops receive as on kernels without multishot
// recvmsg).
type config struct {
	Config
	bufRingEntries int
	queueDepth     int
	without        features
}

var defaultConfig = config{bufRingEntries: 256, queueDepth: 1024}

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
}

// Run is Run with c's options.
func (c Config) Run(handler gnet.EventHandler, protoAddr string, opts ...gnet.Option) error {
	e, err := c.Start(handler, protoAddr, opts...)
	if err != nil {
		return err
	}
	return e.Wait()
}

// Start is Start with c's options.
func (c Config) Start(handler gnet.EventHandler, protoAddr string, opts ...gnet.Option) (*Engine, error) {
	cfg := defaultConfig
	cfg.Config = c
	return start(handler, protoAddr, cfg, opts...)
}

func start(handler gnet.EventHandler, protoAddr string, cfg config, opts ...gnet.Option) (*Engine, error) {
	if handler == nil {
		return nil, errors.New("engine: nil gnet.EventHandler")
	}
	o := new(gnet.Options)
	for _, opt := range opts {
		if opt != nil {
			opt(o)
		}
	}
	network, address, err := parseProtoAddr(protoAddr)
	if err != nil {
		return nil, err
	}
	if err := checkOptions(o, network); err != nil {
		return nil, err
	}
	e := &Engine{
		handler:   handler,
		opts:      o,
		protoAddr: protoAddr,
		cfg:       cfg,
		stopCh:    make(chan struct{}),
		done:      make(chan struct{}),
	}
	if err := e.setupLogger(); err != nil {
		return nil, err
	}
	feat, err := detectFeatures()
	if err != nil {
		e.cleanupLogger()
		return nil, err
	}
	e.feat = feat &^ cfg.without
	e.logger.Debugf("engine: io_uring features: %v", e.feat)
	numLoops := 1
	if o.Multicore {
		numLoops = runtime.NumCPU()
	}
	if o.NumEventLoop > 0 {
		numLoops = o.NumEventLoop
	}
	if numLoops > maxEventLoops {
		numLoops = maxEventLoops
	}
	if network == "unix" {
		// SO_REUSEPORT does not apply to Unix sockets; gnet drops it too.
		o.ReusePort = false
	}
	if isUDP(network) {
		// gnet forces SO_REUSEPORT on for UDP: each loop receives on its
		// own socket.
		o.ReusePort = true
	}
	ln, err := listen(network, address, o)
	if err != nil {
		e.cleanupLogger()
		return nil, err
	}
	e.lns = append(e.lns, ln)
	e.network = ln.network
	e.addr = ln.addr
	if o.ReusePort {
		// Each loop accepts on its own SO_REUSEPORT socket bound to the
		// same address (the real port, if port 0 was asked for), and the
		// kernel spreads connections over them.
		again := ln.addr.String()
		if isUDP(network) {
			again = udpRebindAddress(address, ln.addr)
		}
		for i := 1; i < numLoops; i++ {
			l2, err := listen(network, again, o)
			if err != nil {
				e.closeListeners()
				e.cleanupLogger()
				return nil, err
			}
			e.lns = append(e.lns, l2)
		}
	}
	switch o.LB {
	case gnet.RoundRobin, gnet.LeastConnections, gnet.SourceAddrHash:
	default:
		e.closeListeners()
		e.cleanupLogger()
		return nil, fmt.Errorf("engine: unknown load-balancing algorithm %d: use gnet.RoundRobin, LeastConnections or SourceAddrHash", o.LB)
	}
	e.lb = balancer{algo: o.LB}

	switch handler.OnBoot(gnet.Engine{}) {
	case gnet.Shutdown:
		e.closeListeners()
		e.cleanupLogger()
		e.shutDown.Store(true)
		e.stopOnce.Do(func() { close(e.stopCh) })
		close(e.done)
		return e, nil
	}

	for i := range numLoops {
		var lln *listener
		switch {
		case o.ReusePort:
			lln = e.lns[i]
		case i == 0:
			lln = ln
		}
		e.loops = append(e.loops, newLoop(e, i, lln))
	}
	e.lb.loops = e.loops
	// Registered before any loop runs: a client served by a loop may
	// call Stop(protoAddr) before this goroutine runs again. A Stop
	// until supervise starts just closes stopCh, which supervise sees.
	registryMu.Lock()
	registry[protoAddr] = e
	registryMu.Unlock()
	// Each loop creates its ring on its own locked thread (SINGLE_ISSUER
	// ties the ring to the creating task) and reports back.
	started := make(chan error, numLoops)
	for _, l := range e.loops {
		go l.run(started)
	}
	var startErr error
	for range numLoops {
		if err := <-started; err != nil && startErr == nil {
			startErr = err
		}
	}
	if startErr != nil {
		for _, l := range e.loops {
			l.stop()
		}
		for _, l := range e.loops {
			<-l.exited
		}
		e.closeListeners()
		e.cleanupLogger()
		e.unregister()
		e.shutDown.Store(true)
		close(e.done) // for a Stop that found it meanwhile
		return nil, startErr
	}
	go e.supervise()
	return e, nil
}

// maxEventLoops is gnet's limit on event loops (gfd.EventLoopIndexMax).
const maxEventLoops = 1 << 16

// supervise carries out gnet's shutdown sequence once it is requested:
// OnShutdown first, then every loop closes its connections (each one's
// OnClose) and ends, then the listeners are closed.
func (e *Engine) supervise() {
	<-e.stopCh
	e.handler.OnShutdown(gnet.Engine{})
	for _, l := range e.loops {
		l.stop()
	}
	for _, l := range e.loops {
		<-l.exited
	}
	e.closeListeners()
	e.cleanupLogger()
	e.shutDown.Store(true)
	e.unregister()
	close(e.done)
}

func (e *Engine) unregister() {
	registryMu.Lock()
	if registry[e.protoAddr] == e {
		delete(registry, e.protoAddr)
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
	e.logger.Errorf("engine: event loop failed: %v", err)
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
func (e *Engine) NumEventLoop() int { return len(e.loops) }

// Addr returns the address the listener is bound to, with the real port
// when port 0 was asked for.
func (e *Engine) Addr() net.Addr { return e.addr }

// Dup returns a duplicate of the listening socket's file descriptor, as
// gnet's Engine.Dup does; the caller must close it. With WithReusePort
// there is one listener per loop, and Dup returns the first.
func (e *Engine) Dup() (int, error) {
	if e.shutDown.Load() {
		return -1, errorx.ErrEngineInShutdown
	}
	return dupFd(e.lns[0].fd)
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
			return fmt.Errorf("engine: creating the log file %s: %w", e.opts.LogPath, err)
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
	if isUDP(network) {
		// gnet turns edge-triggered I/O off for UDP, so for UDP the
		// options mean nothing there either.
		o.EdgeTriggeredIO, o.EdgeTriggeredIOChunk = false, 0
	}
	if o.EdgeTriggeredIO || o.EdgeTriggeredIOChunk > 0 {
		return errors.New("engine: WithEdgeTriggeredIO/WithEdgeTriggeredIOChunk select an epoll mode; io_uring completions have no edge- or level-triggered mode, so remove the option")
	}
	if o.MulticastInterfaceIndex != 0 && !isUDP(network) {
		return fmt.Errorf("engine: WithMulticastInterfaceIndex applies to udp multicast addresses, not %s ones; remove the option", network)
	}
	if o.LockOSThread && o.NumEventLoop > 10000 {
		return errorx.ErrTooManyEventLoopThreads
	}
	if o.NumEventLoop < 0 {
		return fmt.Errorf("engine: WithNumEventLoop(%d): the number of event loops cannot be negative", o.NumEventLoop)
	}
	o.ReadBufferCap = normCap(o.ReadBufferCap)
	o.WriteBufferCap = normCap(o.WriteBufferCap)
	if o.ReadBufferCap > 1<<30 {
		return fmt.Errorf("engine: WithReadBufferCap(%d) is too large: at most 1 GiB", o.ReadBufferCap)
	}
	if o.SocketRecvBuffer < 0 || o.SocketSendBuffer < 0 {
		return errors.New("engine: socket buffer sizes cannot be negative")
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
