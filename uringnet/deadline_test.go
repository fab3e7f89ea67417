package uringnet

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
)

// TestRepeatedDeadlines sets the same deadline again, as net/http does
// with a cleared one several times per request: a repeated past deadline
// still stops reads, a repeated future one still fires, and clearing a
// clear deadline leaves reads working.
func TestRepeatedDeadlines(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listenLocal(t, "tcp", ListenConfig{})
	read := func(s *Conn) error {
		_, err := s.Read(make([]byte, 1))
		return err
	}
	tests := []struct {
		name string
		run  func(t *testing.T, c, s *Conn)
	}{
		{"past twice", func(t *testing.T, c, s *Conn) {
			for i := range 2 {
				s.SetReadDeadline(time.Unix(1, 0))
				if err := read(s); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("Read after past deadline #%d: %v, want os.ErrDeadlineExceeded", i+1, err)
				}
			}
		}},
		{"past wakes pending, then cleared twice", func(t *testing.T, c, s *Conn) {
			errc := make(chan error, 1)
			go func() { errc <- read(s) }()
			time.Sleep(20 * time.Millisecond)
			s.SetReadDeadline(time.Unix(1, 0))
			if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("pending Read woken by a past deadline: %v, want os.ErrDeadlineExceeded", err)
			}
			s.SetReadDeadline(time.Time{})
			s.SetReadDeadline(time.Time{})
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := read(s); err != nil {
				t.Fatalf("Read after the deadline was cleared: %v", err)
			}
		}},
		{"same future deadline twice fires", func(t *testing.T, c, s *Conn) {
			d := time.Now().Add(30 * time.Millisecond)
			s.SetReadDeadline(d)
			errc := make(chan error, 1)
			go func() { errc <- read(s) }()
			time.Sleep(5 * time.Millisecond)
			s.SetReadDeadline(d)
			select {
			case err := <-errc:
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("Read past a deadline set twice: %v, want os.ErrDeadlineExceeded", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a deadline set twice never fired")
			}
		}},
		{"cleared while none set", func(t *testing.T, c, s *Conn) {
			s.SetReadDeadline(time.Time{})
			s.SetWriteDeadline(time.Time{})
			s.SetDeadline(time.Time{})
			if _, err := c.Write([]byte("y")); err != nil {
				t.Fatal(err)
			}
			if err := read(s); err != nil {
				t.Fatalf("Read: %v", err)
			}
			if _, err := s.Write([]byte("z")); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := pair(t, ln)
			defer c.Close()
			defer s.Close()
			tt.run(t, c, s)
		})
	}
}

// BenchmarkSetReadDeadline measures setting read deadlines on an idle
// connection, next to net's: "clear" clears a deadline that is already
// clear; "request" is what net/http's server does per keep-alive request
// (clear, clear, a past deadline to stop its background read, clear,
// clear).
func BenchmarkSetReadDeadline(b *testing.B) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer nl.Close()
	_, ns := netPair(b, nl)
	uc, us := pair(b, listenLocal(b, "tcp", ListenConfig{}))
	defer uc.Close()
	defer us.Close()

	past := time.Unix(1, 0)
	patterns := []struct {
		name string
		ts   []time.Time
	}{
		{"clear", []time.Time{{}}},
		{"request", []time.Time{{}, {}, past, {}, {}}},
	}
	for _, p := range patterns {
		for _, c := range []struct {
			name string
			conn net.Conn
		}{{"net", ns}, {"uring", us}} {
			b.Run(p.name+"/"+c.name, func(b *testing.B) {
				for b.Loop() {
					for _, t := range p.ts {
						if err := c.conn.SetReadDeadline(t); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
