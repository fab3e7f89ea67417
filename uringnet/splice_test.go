package uringnet

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"github.com/uring-go/uring/uringfs"
)

// sendAndClose writes b to c in pieces, then closes c's writing side.
func sendAndClose(c *Conn, b []byte) chan error {
	done := make(chan error, 1)
	go func() {
		for len(b) > 0 {
			n := min(len(b), 100<<10+7)
			if _, err := c.Write(b[:n]); err != nil {
				done <- err
				return
			}
			b = b[n:]
		}
		done <- c.CloseWrite()
	}()
	return done
}

// TestWriteTo checks that Conn.WriteTo delivers exactly the peer's bytes
// up to EOF, without an error, to each kind of writer: spliced into a
// regular file at its offset (an *os.File, a *uringfs.File, which has
// only Fd), into a pipe that fills up, and copied into a file opened
// O_APPEND and a bytes.Buffer.
func TestWriteTo(t *testing.T) {
	testutil.CheckFDs(t)
	want := make([]byte, 3<<20+5)
	rand.Read(want)
	dir := t.TempDir()
	const header = "header;"

	// Each writer comes with what it holds afterwards.
	type dest struct {
		w   io.Writer
		got func() []byte
	}
	fileDest := func(t *testing.T, flags int) dest {
		path := filepath.Join(dir, t.Name()[len("TestWriteTo/"):])
		f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_RDWR|flags, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		io.WriteString(f, header)
		return dest{f, func() []byte {
			// The offset advanced past what was written.
			if off, err := f.Seek(0, io.SeekCurrent); err != nil || off != int64(len(header)+len(want)) {
				t.Errorf("file offset %d, %v; want %d", off, err, len(header)+len(want))
			}
			b, _ := os.ReadFile(path)
			return b
		}}
	}
	for _, tc := range []struct {
		name    string
		spliced bool
		dest    func(t *testing.T) dest
	}{
		{"os.File", true, func(t *testing.T) dest { return fileDest(t, 0) }},
		{"O_APPEND", false, func(t *testing.T) dest { return fileDest(t, os.O_APPEND) }},
		{"uringfs.File", true, func(t *testing.T) dest {
			f, err := uringfs.Create(filepath.Join(dir, "uringfs"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			io.WriteString(f, header)
			return dest{f, func() []byte {
				b, _ := os.ReadFile(filepath.Join(dir, "uringfs"))
				return b
			}}
		}},
		{"pipe", true, func(t *testing.T) dest {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			got.WriteString(header)
			var wg sync.WaitGroup
			wg.Go(func() {
				// Late, so that the pipe fills and WriteTo waits.
				time.Sleep(50 * time.Millisecond)
				io.Copy(&got, r)
			})
			t.Cleanup(func() { w.Close(); wg.Wait(); r.Close() })
			return dest{w, func() []byte {
				w.Close()
				wg.Wait()
				return got.Bytes()
			}}
		}},
		{"bytes.Buffer", false, func(t *testing.T) dest {
			var b bytes.Buffer
			b.WriteString(header)
			return dest{&b, b.Bytes}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, network := range []string{"tcp", "unix"} {
				ln := listenLocal(t, network, ListenConfig{})
				peer, c := pair(t, ln)
				d := tc.dest(t)
				if _, _, ok := spliceDest(d.w); ok != tc.spliced {
					t.Fatalf("spliceDest(%T) = %v, want %v", d.w, ok, tc.spliced)
				}
				sent := sendAndClose(peer, want)
				n, err := c.WriteTo(d.w)
				if err != nil || n != int64(len(want)) {
					t.Fatalf("%s: WriteTo = %d, %v; want %d, nil", network, n, err, len(want))
				}
				if err := <-sent; err != nil {
					t.Fatal(err)
				}
				if got := d.got(); !bytes.Equal(got, append([]byte(header), want...)) {
					t.Fatalf("%s: the writer holds %d bytes, not the %d sent after the header", network, len(got), len(header)+len(want))
				}
				if tc.name != "os.File" && tc.name != "uringfs.File" {
					break // one network is enough for the copy paths
				}
			}
		})
	}
}

// TestWriteToDeadline checks that the read deadline stops a WriteTo
// waiting for the peer with an error matching os.ErrDeadlineExceeded,
// having written everything it read, and that a second WriteTo gets the
// rest: no byte lost or repeated.
func TestWriteToDeadline(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listenLocal(t, "tcp", ListenConfig{})
	peer, c := pair(t, ln)
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	first := bytes.Repeat([]byte("first "), 50000)
	if _, err := peer.Write(first); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := c.WriteTo(f)
	var oe *net.OpError
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &oe) || oe.Op != "writeto" {
		t.Fatalf("WriteTo past the deadline: %d, %v; want a *net.OpError{Op: writeto} matching os.ErrDeadlineExceeded", n, err)
	}
	if n != int64(len(first)) {
		t.Fatalf("WriteTo wrote %d before the deadline, want %d", n, len(first))
	}
	c.SetReadDeadline(time.Time{})
	second := bytes.Repeat([]byte("second "), 30000)
	sent := sendAndClose(peer, second)
	n, err = c.WriteTo(f)
	if err != nil || n != int64(len(second)) {
		t.Fatalf("WriteTo after clearing the deadline: %d, %v; want %d", n, err, len(second))
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f.Name())
	if !bytes.Equal(got, append(first, second...)) {
		t.Fatalf("file holds %d bytes, want %d", len(got), len(first)+len(second))
	}
}

// TestWriteToClose checks Close racing a WriteTo: both one that waits for
// the peer and one in the middle of a stream return an error matching
// net.ErrClosed, and the count returned is exactly what reached the file.
func TestWriteToClose(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listenLocal(t, "tcp", ListenConfig{})
	dir := t.TempDir()
	for i := range 20 {
		peer, c := pair(t, ln)
		f, err := os.Create(filepath.Join(dir, "out"))
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		if i%2 == 1 {
			// A stream the close lands in the middle of.
			wg.Go(func() {
				chunk := bytes.Repeat([]byte{byte(i)}, 32<<10)
				for {
					select {
					case <-stop:
						return
					default:
					}
					peer.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
					if _, err := peer.Write(chunk); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
						return
					}
				}
			})
		}
		type result struct {
			n   int64
			err error
		}
		done := make(chan result, 1)
		go func() {
			n, err := c.WriteTo(f)
			done <- result{n, err}
		}()
		time.Sleep(time.Duration(i%5) * 5 * time.Millisecond)
		c.Close()
		r := <-done
		close(stop)
		wg.Wait()
		if !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("round %d: WriteTo racing Close: %d, %v; want net.ErrClosed", i, r.n, r.err)
		}
		st, err := f.Stat()
		if err != nil || st.Size() != r.n {
			t.Fatalf("round %d: WriteTo returned %d, the file holds %d (%v)", i, r.n, st.Size(), err)
		}
		f.Close()
		peer.Close()
	}
}

// TestWriteToUnspliceable checks that a regular file whose file system
// cannot take a splice (procfs's comm, which has no splice_write) still
// gets every byte: those already in the pipe through its Write, the rest
// copied.
func TestWriteToUnspliceable(t *testing.T) {
	testutil.CheckFDs(t)
	f, err := os.OpenFile("/proc/self/comm", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no /proc/self/comm: %v", err)
	}
	defer f.Close()
	old, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile("/proc/self/comm", bytes.TrimSpace(old), 0)
	if _, _, ok := spliceDest(f); !ok {
		t.Fatal("spliceDest refuses /proc/self/comm, a regular file")
	}
	ln := listenLocal(t, "tcp", ListenConfig{})
	peer, c := pair(t, ln)
	const name = "uringnet-wt"
	sent := sendAndClose(peer, []byte(name))
	n, err := c.WriteTo(f)
	if err != nil || n != int64(len(name)) {
		t.Fatalf("WriteTo = %d, %v; want %d, nil", n, err, len(name))
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("/proc/self/comm")
	if err != nil || string(bytes.TrimSpace(got)) != name {
		t.Fatalf("comm is %q (%v), want %q", got, err, name)
	}
}

// BenchmarkWriteToFile receives 4 MiB per op from a net client into a
// file: uringnet's WriteTo (splice through io_uring), the same conn
// copied through a buffer, and net's TCPConn with io.Copy (what code
// writes) and with os.File.ReadFrom (which splices). cpu-ns/op is the
// whole process's CPU time (client included, the same for each).
func BenchmarkWriteToFile(b *testing.B) {
	const size = 4 << 20
	payload := make([]byte, size)
	rand.Read(payload)
	for _, impl := range []string{"uring-splice", "uring-copy", "net-io.Copy", "net-ReadFrom"} {
		b.Run(impl, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "out"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var ln net.Listener
			if impl[:5] == "uring" {
				ln = listenLocal(b, "tcp", ListenConfig{})
			} else {
				ln, err = net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				defer ln.Close()
			}
			b.SetBytes(size)
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.ResetTimer()
			for b.Loop() {
				sent := make(chan error, 1)
				go func() {
					c, err := net.Dial("tcp", ln.Addr().String())
					if err != nil {
						sent <- err
						return
					}
					defer c.Close()
					if _, err := c.Write(payload); err != nil {
						sent <- err
						return
					}
					sent <- c.(*net.TCPConn).CloseWrite()
				}()
				c, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				f.Seek(0, io.SeekStart)
				var n int64
				switch impl {
				case "uring-splice":
					n, err = c.(*Conn).WriteTo(f)
				case "uring-copy":
					n, err = io.Copy(f, readerOnly{c})
				case "net-io.Copy":
					n, err = io.Copy(f, c)
				case "net-ReadFrom":
					n, err = f.ReadFrom(c)
				}
				c.Close()
				if err != nil || n != size {
					b.Fatalf("%d, %v", n, err)
				}
				if err := <-sent; err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime) - syscall.TimevalToNsec(ru0.Utime) + syscall.TimevalToNsec(ru1.Stime) - syscall.TimevalToNsec(ru0.Stime))
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// TestReadFromFileClose checks Close racing a ReadFrom of a file whose
// peer reads nothing: ReadFrom returns an error matching net.ErrClosed,
// the peer gets exactly the n bytes it counts, and the file's offset
// stands just past them, so that the bytes still in the splice pipe are
// read again by whoever goes on with the file: none lost.
func TestReadFromFileClose(t *testing.T) {
	testutil.CheckFDs(t)
	data := testutil.Pattern(32 << 20)
	f := testutil.TempFile(t, os.O_RDONLY, data)
	ln := listenLocal(t, "tcp", ListenConfig{})
	peer, c := pair(t, ln)
	var n int64
	done := make(chan error, 1)
	go func() {
		var err error
		n, err = c.ReadFrom(f)
		done <- err
	}()
	// Let the socket's buffers fill, so that ReadFrom waits for the
	// peer with bytes in its pipe.
	time.Sleep(100 * time.Millisecond)
	c.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadFrom racing Close: %d, %v; want net.ErrClosed", n, err)
	}
	got, err := io.ReadAll(peer)
	if err != nil || !bytes.Equal(got, data[:n]) {
		t.Fatalf("peer got %d bytes (%v), ReadFrom counted %d", len(got), err, n)
	}
	if off, err := f.Seek(0, io.SeekCurrent); err != nil || off != n {
		t.Fatalf("file offset %d (%v) after ReadFrom returned %d", off, err, n)
	}
}
