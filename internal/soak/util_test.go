package soak

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uring-go/uring/uringnet"
)

// fill writes into b the bytes of stream seed at offsets off, off+1, ...:
// every byte is a function of where it belongs, so a byte lost, duplicated
// or misplaced anywhere shows up as a mismatch.
func fill(b []byte, seed uint64, off int64) {
	for i := range b {
		b[i] = patternByte(seed, off+int64(i))
	}
}

func patternByte(seed uint64, off int64) byte {
	x := (seed ^ uint64(off)*0x9E3779B97F4A7C15) * 0xBF58476D1CE4E5B9
	return byte(x>>56) ^ byte(off)
}

// mismatch returns the index of the first byte of b that is not stream
// seed's byte at that offset, or -1.
func mismatch(b []byte, seed uint64, off int64) int {
	for i := range b {
		if b[i] != patternByte(seed, off+int64(i)) {
			return i
		}
	}
	return -1
}

// rssBytes returns the process's resident set size from
// /proc/self/status.
func rssBytes() (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}

func listen(t testing.TB) *uringnet.Listener {
	t.Helper()
	ln, err := uringnet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*uringnet.Listener)
}

// pair returns both ends of a fresh loopback connection: the dialled one
// and the accepted one, both uringnet conns.
func pair(t testing.TB, ln *uringnet.Listener) (*uringnet.Conn, *uringnet.Conn) {
	t.Helper()
	type res struct {
		c   *uringnet.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.AcceptUring()
		ch <- res{c, err}
	}()
	c, err := uringnet.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	r := <-ch
	if r.err != nil {
		c.Close()
		t.Fatalf("Accept: %v", r.err)
	}
	return c.(*uringnet.Conn), r.c
}

// waitGroupOrFail waits for wg, failing the test with the message format
// and args if that takes longer than limit (a goroutine stuck in a call
// that should have returned).
func waitGroupOrFail(t *testing.T, wg *sync.WaitGroup, limit time.Duration, format string, args ...any) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf(format, args...)
	}
}
