package uringnet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestPeerResetMidStream(t *testing.T) {
	testutil.CheckFDs(t)
	ln := listenLocal(t, "tcp", ListenConfig{})
	c, s := pair(t, ln)
	if _, err := c.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := s.Read(buf); errc <- err }()
	// SO_LINGER 0: close sends a RST instead of a FIN.
	if err := c.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	err := <-errc
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after the peer reset: %v (%T), want a *net.OpError{Op: read} matching ECONNRESET", err, err)
	}
	// Writing to the reset connection fails too, with EPIPE or
	// ECONNRESET, and no SIGPIPE.
	if _, err := s.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Write after the peer reset: %v", err)
	}
}

func TestHalfClose(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			testutil.CheckFDs(t)
			ln := listenLocal(t, network, ListenConfig{})
			c, s := pair(t, ln)
			go func() {
				// The server reads the request to EOF, then answers.
				b, _ := io.ReadAll(s)
				s.Write(append([]byte("got "), b...))
				s.CloseWrite()
			}()
			c.Write([]byte("request"))
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte("more")); err == nil {
				t.Fatal("Write after CloseWrite succeeded")
			}
			b, err := io.ReadAll(c)
			if err != nil || string(b) != "got request" {
				t.Fatalf("read after CloseWrite: %q, %v", b, err)
			}
		})
	}
}

// TestClientsVanish has clients connect and go away at once, some with a
// reset, while the server accepts and reads: it keeps serving, and every
// fd is closed afterwards.
func TestClientsVanish(t *testing.T) {
	for _, mode := range acceptModes {
		t.Run(mode.String(), func(t *testing.T) {
			testutil.CheckFDs(t)
			ln := withAcceptMode(listenLocal(t, "tcp", ListenConfig{}), mode)
			const n = 200
			var wg sync.WaitGroup
			served := make(chan error, n)
			go func() {
				for i := 0; i < n; i++ {
					c, err := ln.Accept()
					if err != nil {
						served <- err
						return
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer c.Close()
						_, err := io.Copy(io.Discard, c)
						if err != nil && !errors.Is(err, syscall.ECONNRESET) {
							served <- err
							return
						}
						served <- nil
					}()
				}
			}()
			for i := 0; i < n; i++ {
				c, err := Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				if i%2 == 0 {
					c.(*Conn).SetLinger(0)
				} else {
					c.Write([]byte("hello"))
				}
				c.Close()
			}
			for i := 0; i < n; i++ {
				if err := <-served; err != nil {
					t.Fatalf("server: %v", err)
				}
			}
			wg.Wait()
			// The listener still works.
			c, s := pair(t, ln)
			c.Write([]byte("ok"))
			b := make([]byte, 2)
			if _, err := io.ReadFull(s, b); err != nil || string(b) != "ok" {
				t.Fatalf("after the vanishing clients: %q, %v", b, err)
			}
		})
	}
}

// TestAcceptEMFILE runs out of fds while connections wait: Accept returns
// a temporary *net.OpError, and works again once fds are freed. It
// changes the process's RLIMIT_NOFILE, so it does not run in parallel.
func TestAcceptEMFILE(t *testing.T) {
	for _, mode := range acceptModes {
		t.Run(mode.String(), func(t *testing.T) {
			testutil.CheckFDs(t)
			ln := withAcceptMode(listenLocal(t, "tcp", ListenConfig{}), mode)
			// The connections complete in the kernel's backlog.
			var clients []*Conn
			for i := 0; i < 3; i++ {
				c, err := Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				clients = append(clients, c.(*Conn))
			}
			defer func() {
				for _, c := range clients {
					c.Close()
				}
			}()
			var old unix.Rlimit
			if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
				t.Fatal(err)
			}
			// Fill every fd number below the lowered limit.
			lim := old
			lim.Cur = uint64(testutil.OpenFDs(t) + 16)
			if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
				t.Fatal(err)
			}
			var fillers []int
			release := func() {
				for _, fd := range fillers {
					unix.Close(fd)
				}
				fillers = nil
			}
			defer func() {
				release()
				unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
			}()
			for {
				fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					if err != unix.EMFILE {
						t.Fatal(err)
					}
					break
				}
				fillers = append(fillers, fd)
			}
			_, err := ln.Accept()
			var oe *net.OpError
			if !errors.As(err, &oe) || oe.Op != "accept" || !oe.Temporary() || !errors.Is(err, syscall.EMFILE) {
				t.Fatalf("Accept out of fds: %v, want a temporary *net.OpError matching EMFILE", err)
			}
			release()
			unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
			for i := range clients {
				s, err := ln.Accept()
				if err != nil {
					t.Fatalf("Accept %d after fds were freed: %v", i, err)
				}
				clients[i].Write([]byte{byte(i)})
				b := make([]byte, 1)
				if _, err := io.ReadFull(s, b); err != nil || b[0] != byte(i) {
					t.Fatalf("conn %d: %v %v", i, b, err)
				}
				s.Close()
			}
		})
	}
}

// childEnv selects what the test binary does when run as a child.
const childEnv = "URINGNET_TEST_CHILD"

// runChild is the body of a child process, started by a test with
// childEnv set; it returns the exit code.
func runChild(mode string) int {
	switch mode {
	case "dial-many":
		return dialManyChild()
	case "echo-server":
		return echoServerChild()
	case "no-uring":
		return noUringChild()
	case "fault-matrix":
		return faultMatrixChild()
	case "no-getpeername":
		return noGetpeernameChild()
	}
	fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
	return 2
}

// dialManyChild opens N connections to ADDR, sends each its number and
// checks the echo, reports "ok" on stdout, and holds the connections
// until stdin closes.
func dialManyChild() int {
	n, _ := strconv.Atoi(os.Getenv("N"))
	addr := os.Getenv("ADDR")
	raiseNofile()
	conns := make([]*Conn, 0, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errc := make(chan error, n)
	sem := make(chan struct{}, 256)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := Dial("tcp", addr)
			if err != nil {
				errc <- err
				return
			}
			mu.Lock()
			conns = append(conns, c.(*Conn))
			mu.Unlock()
			msg := []byte(fmt.Sprintf("%08d", i))
			if _, err := c.Write(msg); err != nil {
				errc <- err
				return
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
				errc <- fmt.Errorf("conn %d: echo %q, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ok", len(conns))
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return 0
}

func raiseNofile() uint64 {
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	return lim.Max
}

// Test10kConns holds 10,000 connections open at once, each echoing its
// own message. The clients run in a child process, so each side needs
// only its own 10,000 fds.
func Test10kConns(t *testing.T) {
	const n = 10000
	var old unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &old)
	if old.Max < n+1000 {
		t.Skipf("RLIMIT_NOFILE hard limit is %d; 10,000 connections need at least %d", old.Max, n+1000)
	}
	raiseNofile()
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	testutil.CheckFDs(t)
	ln := listenLocal(t, "tcp", ListenConfig{})
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=dial-many", "N="+strconv.Itoa(n), "ADDR="+ln.Addr().String())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
		io.Copy(io.Discard, stdout)
	}()
	select {
	case s := <-line:
		if s != fmt.Sprintf("ok %d\n", n) {
			t.Errorf("child: %q", s)
		}
	case <-time.After(120 * time.Second):
		t.Error("10,000 connections not established within 120s")
		cmd.Process.Kill()
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("child: %v", err)
	}
	ln.Close()
}

// echoServerChild serves echo on ADDR until SIGTERM, for benchmarks that
// measure the server's CPU time apart from the clients'. SERVER selects
// "uring" or "net".
func echoServerChild() int {
	return runEchoServerChild(os.Getenv("SERVER"), os.Getenv("ADDR"))
}
