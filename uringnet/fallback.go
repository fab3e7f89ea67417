package uringnet

import (
	"net"

	"github.com/uring-go/uring/internal/reactor"
)

// useNet reports whether a call whose config opted in (FallbackToNet)
// goes to package net: only when io_uring cannot be used at all in this
// process (reactor.Unavailable: no io_uring in the kernel, forbidden by
// a sysctl or seccomp, or no memory for a ring), never because one
// operation failed.
func useNet(optIn bool) bool {
	if !optIn {
		return false
	}
	_, err := reactor.Default()
	return err != nil && reactor.Unavailable(err)
}

// netListenConfig is the equivalent of lc in package net.
func (lc *ListenConfig) netListenConfig() *net.ListenConfig {
	nlc := &net.ListenConfig{
		Control:         lc.Control,
		KeepAlive:       lc.KeepAlive,
		KeepAliveConfig: lc.KeepAliveConfig,
	}
	if lc.mptcp != mptcpDefault {
		nlc.SetMultipathTCP(lc.mptcp == mptcpOn)
	}
	return nlc
}

// netDialer is the equivalent of d in package net.
func (d *Dialer) netDialer() *net.Dialer {
	nd := &net.Dialer{
		Timeout:         d.Timeout,
		Deadline:        d.Deadline,
		LocalAddr:       d.LocalAddr,
		KeepAlive:       d.KeepAlive,
		KeepAliveConfig: d.KeepAliveConfig,
		Control:         d.Control,
		ControlContext:  d.ControlContext,
		FallbackDelay:   d.FallbackDelay,
		Resolver:        d.Resolver,
	}
	if d.mptcp != mptcpDefault {
		nd.SetMultipathTCP(d.mptcp == mptcpOn)
	}
	return nd
}
