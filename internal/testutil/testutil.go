// Package testutil holds helpers shared by the tests of every package:
// leak checks for goroutines and file descriptors.
package testutil

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Main runs the tests of a package and fails the run if any goroutine
// started by them is still running afterwards. Use it as the body of a
// package's TestMain:
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
func Main(m *testing.M, opts ...goleak.Option) {
	startPoller()
	goleak.VerifyTestMain(m, append(opts, ignoreInit...)...)
}

// startPoller makes the runtime open its netpoller (an epoll fd and an
// eventfd, for good) before any test records an fd baseline, so that the
// first test to use it is not charged with them.
func startPoller() {
	r, w, err := os.Pipe()
	if err != nil {
		return
	}
	r.SetReadDeadline(time.Now())
	r.Close()
	w.Close()
}

// ignoreInit lists goroutines that live as long as the process by design,
// not leaks of any test: the reapers of the process-wide executor
// (reactor.Default), and gnet v2's package-level ants goroutine pool,
// created in its init.
var ignoreInit = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/uring-go/uring/internal/reactor.(*shard).reapForever"),
	goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
	goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
}

// OpenFDs returns the number of file descriptors the process has open.
func OpenFDs(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatalf("counting open fds: %v", err)
	}
	// ReadDir holds one fd of its own while it reads; it is closed again
	// by the time it returns, but it is listed.
	return len(ents) - 1
}

// CheckFDs records the process's open fd count and registers a cleanup that
// fails the test if the count has not returned to it when the test ends.
// The process-wide executor (reactor.Default) keeps its ring and eventfd
// fds open for good: a package whose code uses it should create it in
// TestMain, before any test records a baseline.
// Closing is sometimes completed by the kernel asynchronously (an io_uring
// ring's fd, for example), so the cleanup gives it a moment.
func CheckFDs(tb testing.TB) {
	tb.Helper()
	before := OpenFDs(tb)
	tb.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for {
			after := OpenFDs(tb)
			if after <= before {
				return
			}
			if time.Now().After(deadline) {
				tb.Errorf("fd leak: %d open before the test, %d after\n%s", before, after, listFDs())
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func listFDs() string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err.Error()
	}
	s := ""
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		s += fmt.Sprintf("  fd %s -> %s\n", e.Name(), target)
	}
	return s
}

// HangBound is how long a call that must return is given before a test
// reports it hung. It bounds a hang, it times nothing: a call that
// returns does so long before it.
const HangBound = time.Minute

// Returns runs fn and reports its error, or fails t if fn has not
// returned within HangBound.
func Returns(t testing.TB, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(HangBound):
		t.Fatalf("%s did not return within %v", what, HangBound)
		return nil
	}
}
