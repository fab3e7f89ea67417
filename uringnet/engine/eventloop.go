package engine

// The gnet.EventLoop interface, for Conn.EventLoop.

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
)

// Register dials addr and serves the connection on this loop, as gnet's
// EventLoop.Register does: see Engine.Register.
func (l *loop) Register(ctx context.Context, addr net.Addr) (<-chan gnet.RegisteredResult, error) {
	if l.eng.shutDown.Load() {
		return nil, errorx.ErrEngineInShutdown
	}
	if addr == nil {
		return nil, errorx.ErrInvalidNetworkAddress
	}
	return l.enroll(ctx, nil, addr)
}

// Enroll serves an established connection on this loop, as gnet's
// EventLoop.Enroll does: the loop serves a duplicate of its socket and c
// is closed. See Engine.Register.
func (l *loop) Enroll(ctx context.Context, c net.Conn) (<-chan gnet.RegisteredResult, error) {
	if l.eng.shutDown.Load() {
		return nil, errorx.ErrEngineInShutdown
	}
	if c == nil {
		return nil, errorx.ErrInvalidNetConn
	}
	return l.enroll(ctx, c, nil)
}

// Execute runs runnable on the loop. An error it returns is logged;
// ErrEngineShutdown shuts the engine down, as in gnet.
func (l *loop) Execute(ctx context.Context, runnable gnet.Runnable) error {
	if l.eng.shutDown.Load() {
		return errorx.ErrEngineInShutdown
	}
	if runnable == nil {
		return errorx.ErrNilRunnable
	}
	return l.enqueue(func() {
		if err := runnable.Run(ctx); err != nil {
			if errors.Is(err, errorx.ErrEngineShutdown) {
				l.quiesce()
				return
			}
			l.eng.logger.Errorf("uringnet/engine: event loop %d: runnable: %v", l.idx, err)
		}
	})
}

// Schedule is not supported, as in gnet.
func (l *loop) Schedule(context.Context, gnet.Runnable, time.Duration) error {
	return errorx.ErrUnsupportedOp
}

// Close closes c, which must belong to this loop; call it on the loop.
func (l *loop) Close(c gnet.Conn) error {
	if uc, ok := c.(*udpConn); ok && uc.loop == l {
		// A registered udp conn closes as gnet's does; a sender's is
		// never open, and closing it does nothing, as in gnet.
		if uc.registered() {
			return l.closeUDP(uc, nil)
		}
		return nil
	}
	cc, ok := c.(*conn)
	if !ok || cc.loop != l {
		return errorx.ErrUnsupportedOp
	}
	_, err := l.closeConn(cc, nil)
	return err
}
