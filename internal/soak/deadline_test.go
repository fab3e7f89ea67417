package soak

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uringnet"
)

// Deadlines set to now, or a few microseconds ahead, race data arriving
// and buffer space freeing up, on both ends of a stream: a read or write
// stopped by its deadline has moved exactly the n bytes it reports, so
// the reader sees the writer's stream with no byte lost or duplicated.
func TestDeadlineRacesData(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listen(t)
	c, s := pair(t, ln)
	defer c.Close()
	defer s.Close()
	const seed = 99
	const limit = 256 << 20
	end := time.Now().Add(2 * time.Second)

	var wg sync.WaitGroup
	var written int64
	var writeTimeouts int
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(4, 1))
		buf := make([]byte, 256<<10)
		for written < limit && time.Now().Before(end) {
			n := 1 + rng.IntN(len(buf))
			fill(buf[:n], seed, written)
			c.SetWriteDeadline(time.Now().Add(time.Duration(rng.IntN(200)) * time.Microsecond))
			k, err := c.Write(buf[:n])
			written += int64(k)
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("Write: %d, %v; want nil or os.ErrDeadlineExceeded", k, err)
					return
				}
				writeTimeouts++
			}
		}
		c.SetWriteDeadline(time.Time{})
		if err := c.CloseWrite(); err != nil {
			t.Errorf("CloseWrite: %v", err)
		}
	})

	rng := rand.New(rand.NewPCG(4, 2))
	buf := make([]byte, 128<<10)
	var read int64
	var readTimeouts int
	for {
		if rng.IntN(4) == 0 {
			s.SetReadDeadline(time.Now())
		} else {
			s.SetReadDeadline(time.Now().Add(time.Duration(rng.IntN(100)) * time.Microsecond))
		}
		n, err := s.Read(buf[:1+rng.IntN(len(buf))])
		if i := mismatch(buf[:n], seed, read); i >= 0 {
			t.Fatalf("byte %d of the stream is %#x, want %#x: a byte was lost or duplicated around a deadline", read+int64(i), buf[i], patternByte(seed, read+int64(i)))
		}
		read += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read: %v; want data, io.EOF or os.ErrDeadlineExceeded", err)
			}
			readTimeouts++
		}
		if read > limit+256<<10 {
			t.Fatalf("read %d bytes, more than the writer can have sent", read)
		}
	}
	wg.Wait()
	t.Logf("%d bytes; %d reads and %d writes stopped by their deadline", read, readTimeouts, writeTimeouts)
	if read != written {
		t.Fatalf("read %d bytes, the writes reported %d", read, written)
	}
	if readTimeouts == 0 {
		t.Errorf("no read was stopped by its deadline: the race was not exercised")
	}
}

// A dial whose context expires while the connect is in flight returns a
// conn or the context's error, and leaks nothing either way.
func TestDialContextRacesConnect(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listen(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
	rng := rand.New(rand.NewPCG(5, 1))
	var ok, canceled int
	end := time.Now().Add(time.Second)
	for i := 0; i < 2000 && time.Now().Before(end); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(50))*time.Microsecond)
		c, err := uringnet.DialContext(ctx, "tcp", ln.Addr().String())
		cancel()
		switch {
		case err == nil:
			ok++
			c.Close()
		case errors.Is(err, context.DeadlineExceeded):
			canceled++
		default:
			t.Fatalf("DialContext with an expiring context: %v; want a conn or context.DeadlineExceeded", err)
		}
	}
	ln.Close()
	wg.Wait()
	t.Logf("%d dials connected, %d stopped by the context", ok, canceled)
}
