package uringnet

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// checkDup checks that f is a close-on-exec duplicate of sysfd: another
// fd on the same socket, named as net names its files.
func checkDup(t *testing.T, f *os.File, sysfd int, wantName string) {
	t.Helper()
	if int(f.Fd()) == sysfd {
		t.Fatalf("File's fd is the socket's own (%d)", sysfd)
	}
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("File's fd flags %#x, %v; want FD_CLOEXEC", flags, err)
	}
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Fstat(sysfd, &b) != nil || a.Ino != b.Ino || a.Dev != b.Dev {
		t.Errorf("File's fd is not the same socket (inode %d, want %d)", a.Ino, b.Ino)
	}
	if f.Name() != wantName {
		t.Errorf("File name %q, want %q", f.Name(), wantName)
	}
}

// TestListenerFile checks Listener.File as net's: the copy is the same
// listening socket, usable on its own, and independent of the listener
// for closing either.
func TestListenerFile(t *testing.T) {
	testutil.CheckFDs(t)
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			ln := listenLocal(t, network, ListenConfig{})
			f, err := ln.File()
			if err != nil {
				t.Fatal(err)
			}
			checkDup(t, f, ln.fd.sysfd, network+":"+ln.Addr().String()+"->")
			// net's names its file the same way.
			if network == "tcp" {
				nl, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				nf, err := nl.(*net.TCPListener).File()
				if err != nil {
					t.Fatal(err)
				}
				if want := "tcp:" + nl.Addr().String() + "->"; nf.Name() != want {
					t.Errorf("net's File name %q, ours follows %q", nf.Name(), want)
				}
				nf.Close()
				nl.Close()
			}

			// A connection accepted through the copy, before Accept has
			// run on ln (which would take it from the kernel first).
			fl, err := net.FileListener(f)
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.Dial(network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			s, err := fl.Accept()
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "via the copy")
			buf := make([]byte, 32)
			s.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := s.Read(buf); err != nil || string(buf[:n]) != "via the copy" {
				t.Fatalf("read through the copy's connection: %q %v", buf[:n], err)
			}
			s.Close()
			c.Close()

			// Closing the copies leaves the listener working.
			fl.Close()
			f.Close()
			cl, sv := pair(t, ln)
			io.WriteString(cl, "still listening")
			sv.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := sv.Read(buf); err != nil || string(buf[:n]) != "still listening" {
				t.Fatalf("read after closing the copy: %q %v", buf[:n], err)
			}

			// Closing the listener leaves a copy open, still listening
			// (on TCP; a Unix listener's Close removes the path).
			f2, err := ln.File()
			if err != nil {
				t.Fatal(err)
			}
			defer f2.Close()
			addr := ln.Addr().String()
			ln.Close()
			if _, err := ln.File(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("File after Close: %v, want net.ErrClosed", err)
			} else if oe, ok := err.(*net.OpError); !ok || oe.Op != "file" {
				t.Fatalf("File after Close: %v, want a *net.OpError{Op: file}", err)
			}
			if network == "tcp" {
				fl2, err := net.FileListener(f2)
				if err != nil {
					t.Fatal(err)
				}
				defer fl2.Close()
				c, err := net.Dial(network, addr)
				if err != nil {
					t.Fatalf("dial the copy after the listener closed: %v", err)
				}
				defer c.Close()
				s, err := fl2.Accept()
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
			} else if _, err := os.Stat(addr); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket file after Close: %v, want it removed", err)
			}
		})
	}
}

// TestConnFile checks Conn.File and PacketConn.File as net's: bytes
// written through the copy reach the peer, closing the conn leaves the
// copy working, and the peer sees EOF only once both are closed.
func TestConnFile(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listenLocal(t, "tcp", ListenConfig{})
	c, s := pair(t, ln)
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkDup(t, f, c.fd.sysfd, "tcp:"+c.LocalAddr().String()+"->"+c.RemoteAddr().String())
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	for _, msg := range []string{"through the conn", "through the copy"} {
		w := io.Writer(c)
		if msg == "through the copy" {
			w = f
		}
		if _, err := io.WriteString(w, msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf[:len(msg)]); err != nil || string(buf[:len(msg)]) != msg {
			t.Fatalf("read %q: %q %v", msg, buf[:len(msg)], err)
		}
	}
	c.Close()
	if _, err := io.WriteString(f, "after Close"); err != nil {
		t.Fatalf("write through the copy after the conn closed: %v", err)
	}
	if _, err := io.ReadFull(s, buf[:11]); err != nil || string(buf[:11]) != "after Close" {
		t.Fatalf("read: %q %v", buf[:11], err)
	}
	f.Close()
	if n, err := s.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read once both closed: %d %v, want EOF", n, err)
	}
	if _, err := c.File(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("File after Close: %v", err)
	}

	pc := listenPacketLocal(t, "udp4", "127.0.0.1:0")
	pf, err := pc.File()
	if err != nil {
		t.Fatal(err)
	}
	checkDup(t, pf, pc.fd.sysfd, "udp4:"+pc.LocalAddr().String()+"->")
	pf.Close()
}
