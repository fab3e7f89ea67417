package engine

import (
	"context"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/sock"
)

// The opt-in fallback to gnet (Config.FallbackToGnet): where io_uring
// cannot be used at all, the same handler runs on gnet.Run (or
// gnet.Rotate) with the same options, behind the same *Engine.

// unavailableError is the error of a Config without FallbackToGnet when
// io_uring cannot be used at all: the setup error, which names the cause
// and the fix, and the opt-in that would avoid it.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string {
	return e.err.Error() + " (or set engine.Config.FallbackToGnet to run the handler on gnet instead)"
}

func (e *unavailableError) Unwrap() error { return e.err }

// unavailable reports whether err says that io_uring cannot be used in
// this process at all, by the predicate uringnet's FallbackToNet and
// uringfs's FallbackToOS use.
func unavailable(err error) bool { return reactor.Unavailable(err) }

// gnetBoot is the handler given to gnet: OnBoot keeps gnet's working
// Engine, and the Engine's address, before the handler's OnBoot, which
// gets gnet's Engine too.
type gnetBoot struct {
	gnet.EventHandler
	e      *Engine
	booted chan struct{}
}

func (h *gnetBoot) OnBoot(eng gnet.Engine) gnet.Action {
	e := h.e
	e.gnet = &eng
	b := e.bound[0]
	if fd, err := eng.DupListener(b.network, b.address); err == nil {
		if sotype, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err == nil {
			e.addr = sock.LocalAddr(fd, sotype)
		}
		unix.Close(fd)
	}
	action := h.EventHandler.OnBoot(eng)
	close(h.booted)
	return action
}

// startGnet runs handler on gnet, returning once its OnBoot has run or
// gnet has failed to start.
func startGnet(handler gnet.EventHandler, protoAddrs []string, numLoops int, opts ...gnet.Option) (*Engine, error) {
	e := &Engine{
		handler:    handler,
		protoAddrs: protoAddrs,
		numGnet:    numLoops,
		stopCh:     make(chan struct{}),
		done:       make(chan struct{}),
	}
	for _, pa := range protoAddrs {
		network, address, err := parseProtoAddr(pa)
		if err != nil {
			return nil, err
		}
		e.bound = append(e.bound, boundAddr{network: network, address: address})
	}
	h := &gnetBoot{EventHandler: handler, e: e, booted: make(chan struct{})}
	registryMu.Lock()
	for _, pa := range protoAddrs {
		registry[pa] = e
	}
	registryMu.Unlock()
	e.addHandler()
	go func() {
		var err error
		if len(protoAddrs) == 1 {
			err = gnet.Run(h, protoAddrs[0], opts...)
		} else {
			err = gnet.Rotate(h, protoAddrs, opts...)
		}
		e.errMu.Lock()
		e.err = err
		e.errMu.Unlock()
		e.shutDown.Store(true)
		e.unregister()
		e.removeHandler()
		close(e.done)
	}()
	select {
	case <-h.booted:
		return e, nil
	case <-e.done:
		if e.err != nil {
			return nil, e.err
		}
		return e, nil // OnBoot asked for Shutdown
	}
}

// stopGnet is Stop for an engine on gnet.
func (e *Engine) stopGnet(ctx context.Context) error {
	if err := e.gnet.Stop(ctx); err != nil {
		return err
	}
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OnGnet reports whether the engine runs its handler on gnet, because
// io_uring could not be used and Config.FallbackToGnet allowed it.
func (e *Engine) OnGnet() bool { return e.numGnet > 0 }
