package uring

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/uring-go/uring/internal/kernel/version"
	"github.com/uring-go/uring/internal/testutil"
	"golang.org/x/sys/unix"
)

// kernelAtLeastVersion reports whether the running kernel is at least version v
// ("6.11").
func kernelAtLeastVersion(t *testing.T, v string) bool {
	t.Helper()
	return version.AtLeast(version.Parse(v))
}

// unsupportedOps returns an error naming the first of ops the probe says
// is missing, or nil. A probe that says "unsupported" on a kernel that has
// the operation fails the test instead: that is a probe bug, not a reason
// to skip.
func unsupportedOps[T any](t *testing.T, r *Ring[T], ops ...Op) error {
	t.Helper()
	for _, op := range ops {
		if r.OpSupported(op) {
			continue
		}
		if kernelAtLeastVersion(t, op.Since()) {
			t.Errorf("probe says %s is unsupported, but this kernel is newer than %s, which added it", op, op.Since())
		}
		return &UnsupportedOpError{Op: op}
	}
	return nil
}

// fdCloexec reads the close-on-exec bit from /proc/self/fdinfo, where the
// kernel reports the fd's flags in octal (O_CLOEXEC is 02000000).
func fdCloexec(t *testing.T, fd int) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			if err != nil {
				t.Fatalf("fdinfo flags %q: %v", v, err)
			}
			return flags&unix.O_CLOEXEC != 0
		}
	}
	t.Fatalf("no flags line in fdinfo of fd %d:\n%s", fd, b)
	return false
}

func unixSocketpair(t *testing.T, typ int) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// tcpLoopbackPair returns the two ends of a loopback TCP connection, made with
// plain system calls.
func tcpLoopbackPair(t *testing.T) (client, server int) {
	t.Helper()
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		t.Fatal(err)
	}
	addr, err := unix.Getsockname(ln)
	if err != nil {
		t.Fatal(err)
	}
	client, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(client) })
	if err := unix.Connect(client, addr); err != nil {
		t.Fatal(err)
	}
	server, _, err = unix.Accept4(ln, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(server) })
	return client, server
}

// waitOK waits for one completion and fails the test unless it succeeded.
func waitOK[T any](t *testing.T, r *Ring[T], what string) Completion[T] {
	t.Helper()
	c := wait(t, r)
	if c.Err() != nil {
		t.Fatalf("%s: %v", what, c.Err())
	}
	return c
}

func pipeN(t *testing.T, n int) (r, w []int) {
	t.Helper()
	for range n {
		rfd, wfd := pipe(t)
		r, w = append(r, rfd), append(w, wfd)
	}
	return r, w
}

// Two fds passed with SendMsg over a socketpair arrive through RecvMsg as
// two new, working fds: what is written through them comes out of the
// pipes whose write ends were sent.
func TestSendMsgRecvMsgFds(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 8)
	a, b := unixSocketpair(t, unix.SOCK_STREAM)
	rfds, wfds := pipeN(t, 2)

	if _, err := r.SendMsg(a, [][]byte{[]byte("hel"), []byte("lo")}, wfds, nil, "send"); err != nil {
		t.Fatal(err)
	}
	if c := waitOK(t, r, "sendmsg"); c.Result != 5 {
		t.Fatalf("sendmsg = %d, want 5", c.Result)
	}
	b1, b2 := make([]byte, 2), make([]byte, 10)
	m := NewMsghdr([][]byte{b1, b2}, 2)
	if _, err := r.RecvMsg(b, m, "recv"); err != nil {
		t.Fatal(err)
	}
	c := waitOK(t, r, "recvmsg")
	if c.Result != 5 || string(b1)+string(b2[:3]) != "hello" {
		t.Fatalf("recvmsg = %d %q %q, want 5 \"hello\"", c.Result, b1, b2)
	}
	if m.Flags()&(unix.MSG_CTRUNC|unix.MSG_TRUNC) != 0 {
		t.Errorf("flags = %#x, want no truncation", m.Flags())
	}
	fds, err := m.Fds()
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		defer unix.Close(fd)
	}
	if len(fds) != 2 {
		t.Fatalf("received %d fds, want 2", len(fds))
	}
	if again, _ := m.Fds(); !reflect.DeepEqual(again, fds) {
		t.Errorf("second Fds() = %v, first %v", again, fds)
	}
	if src, err := m.Source(); err != nil || src != nil {
		t.Errorf("Source on a socketpair = %#v, %v; want nil", src, err)
	}
	for i, fd := range fds {
		if fd == wfds[i] {
			t.Fatalf("fd %d came back as the same number", fd)
		}
		if !fdCloexec(t, fd) {
			t.Errorf("received fd %d is not close-on-exec", fd)
		}
		msg := fmt.Sprintf("through %d", i)
		if _, err := r.Write(fd, []byte(msg), 0, "w"); err != nil {
			t.Fatal(err)
		}
		waitOK(t, r, "write through received fd")
		got := make([]byte, 20)
		n, err := unix.Read(rfds[i], got)
		if err != nil || string(got[:n]) != msg {
			t.Errorf("pipe %d read %q, %v; want %q", i, got[:n], err, msg)
		}
	}
}

// More fds than the Msghdr has room for: MSG_CTRUNC, the ones that fit,
// and the kernel closes the rest (CheckFDs sees any leak).
func TestRecvMsgCtrunc(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 8)
	a, b := unixSocketpair(t, unix.SOCK_STREAM)
	_, wfds := pipeN(t, 3)
	r.SendMsg(a, [][]byte{[]byte("x")}, wfds, nil, "send")
	waitOK(t, r, "sendmsg")
	m := NewMsghdr([][]byte{make([]byte, 4)}, 1)
	r.RecvMsg(b, m, "recv")
	if c := waitOK(t, r, "recvmsg"); c.Result != 1 {
		t.Fatalf("recvmsg = %d", c.Result)
	}
	if m.Flags()&unix.MSG_CTRUNC == 0 {
		t.Errorf("flags = %#x, want MSG_CTRUNC", m.Flags())
	}
	fds, err := m.Fds()
	if err != nil {
		t.Fatal(err)
	}
	if len(fds) != 1 {
		t.Errorf("received %d fds with room for 1", len(fds))
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// SendMsg with a destination on an unconnected UDP socket; RecvMsg
// reports the source, and MSG_TRUNC when a datagram does not fit.
func TestSendMsgToRecvMsgSource(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 8)
	udp := func() (int, unix.Sockaddr) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		sa, _ := unix.Getsockname(fd)
		return fd, sa
	}
	a, aAddr := udp()
	b, bAddr := udp()
	r.SendMsg(a, [][]byte{[]byte("data"), []byte("gram")}, nil, bAddr, "send")
	if c := waitOK(t, r, "sendmsg"); c.Result != 8 {
		t.Fatalf("sendmsg = %d", c.Result)
	}
	buf := make([]byte, 16)
	m := NewMsghdr([][]byte{buf}, 0)
	r.RecvMsg(b, m, "recv")
	if c := waitOK(t, r, "recvmsg"); c.Result != 8 || string(buf[:8]) != "datagram" {
		t.Fatalf("recvmsg = %d %q", c.Result, buf)
	}
	src, err := m.Source()
	if err != nil || !sockaddrEqual(src, aAddr) {
		t.Errorf("Source = %#v, %v; want %#v", src, err, aAddr)
	}
	if fds, err := m.Fds(); fds != nil || err != nil {
		t.Errorf("Fds without room = %v, %v", fds, err)
	}

	r.SendMsg(a, [][]byte{[]byte("0123456789")}, nil, bAddr, "send")
	waitOK(t, r, "sendmsg")
	small := NewMsghdr([][]byte{make([]byte, 4)}, 0)
	r.RecvMsg(b, small, "recv")
	if c := waitOK(t, r, "recvmsg"); c.Result != 4 || small.Flags()&unix.MSG_TRUNC == 0 {
		t.Errorf("recvmsg of 10 bytes into 4 = %d, flags %#x; want 4 with MSG_TRUNC", c.Result, small.Flags())
	}

	// With MSG_DONTWAIT an empty socket answers EAGAIN at once instead of
	// the receive waiting inside io_uring; the next datagram is then
	// received whole.
	dw := NewMsghdr([][]byte{make([]byte, 16)}, 0)
	r.RecvMsgFlags(b, dw, unix.MSG_DONTWAIT, "recv")
	if c := wait(t, r); !errors.Is(c.Err(), syscall.EAGAIN) {
		t.Fatalf("recvmsg MSG_DONTWAIT on an empty socket = %+v, want EAGAIN", c)
	}
	r.SendMsgFlags(a, [][]byte{[]byte("later")}, nil, bAddr, unix.MSG_DONTWAIT, "send")
	waitOK(t, r, "sendmsg")
	r.RecvMsgFlags(b, dw, unix.MSG_DONTWAIT, "recv")
	if c := waitOK(t, r, "recvmsg"); c.Result != 5 {
		t.Fatalf("recvmsg MSG_DONTWAIT with a datagram queued = %d", c.Result)
	}

	// Bad arguments are refused before anything is queued.
	if _, err := r.SendMsg(a, make([][]byte, IovMax+1), nil, nil, "x"); err == nil {
		t.Error("SendMsg with too many buffers accepted")
	}
	if _, err := r.SendMsg(a, nil, nil, &unix.SockaddrUnix{Name: strings.Repeat("x", 200)}, "x"); err == nil {
		t.Error("SendMsg to an over-long Unix path accepted")
	}
	if _, err := r.RecvMsg(a, nil, "x"); err == nil {
		t.Error("RecvMsg with a nil Msghdr accepted")
	}
	if n := r.ActiveOps(); n != 0 {
		t.Errorf("refused operations left %d active", n)
	}
}

func TestShutdown(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 4)
	a, b := unixSocketpair(t, unix.SOCK_STREAM)
	if _, err := r.Shutdown(a, unix.SHUT_WR, "shutdown"); err != nil {
		t.Fatal(err)
	}
	if c := waitOK(t, r, "shutdown"); c.Result != 0 {
		t.Fatalf("shutdown = %d, want 0", c.Result)
	}
	r.Recv(b, make([]byte, 8), 0, "recv")
	if c := waitOK(t, r, "recv"); c.Result != 0 {
		t.Fatalf("peer recv after SHUT_WR = %d, want 0 (EOF)", c.Result)
	}
	// The other direction still works.
	if _, err := unix.Write(b, []byte("up")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	r.Recv(a, buf, 0, "recv")
	if c := waitOK(t, r, "recv"); c.Result != 2 {
		t.Fatalf("recv on the shut-down side = %d", c.Result)
	}
}

// Socket makes a working socket, close-on-exec exactly when asked; the
// ring's close closes it.
func TestSocket(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 4)
	if err := unsupportedOps(t, r, OpSocket); err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct {
		typ     int
		cloexec bool
	}{
		{unix.SOCK_DGRAM | unix.SOCK_CLOEXEC, true},
		{unix.SOCK_DGRAM, false},
	} {
		if _, err := r.Socket(unix.AF_UNIX, tc.typ, 0, "socket"); err != nil {
			t.Fatal(err)
		}
		fd := int(waitOK(t, r, "socket").Result)
		if got := fdCloexec(t, fd); got != tc.cloexec {
			t.Errorf("socket(type %#x): close-on-exec = %v, want %v", tc.typ, got, tc.cloexec)
		}
		if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_DGRAM {
			t.Errorf("SO_TYPE = %d, %v", typ, err)
		}
		// Working: it can be bound and can send to itself.
		self := &unix.SockaddrUnix{Name: fmt.Sprintf("@uring-socket-test-%d-%d", os.Getpid(), fd)}
		if err := unix.Bind(fd, self); err != nil {
			t.Fatal(err)
		}
		if err := unix.Sendto(fd, []byte("ping"), 0, self); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8)
		if n, _, err := unix.Recvfrom(fd, buf, 0); err != nil || string(buf[:n]) != "ping" {
			t.Errorf("recvfrom = %q, %v", buf[:n], err)
		}
		r.CloseFd(fd, "close")
		if c := waitOK(t, r, "close"); c.Result != 0 {
			t.Errorf("close = %d", c.Result)
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
			t.Errorf("fd %d after the ring closed it: %v, want EBADF", fd, err)
		}
	}
}

// bind, listen, connect and accept, all through the ring, for IPv4, IPv6
// and Unix sockets; the peer address from Accept is the client's.
func TestBindListenConnectAccept(t *testing.T) {
	testutil.CheckFDs(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name       string
		domain     int
		listenAddr unix.Sockaddr
		clientAddr unix.Sockaddr // bound before connecting, if not nil
		wantPeer   unix.Sockaddr // if clientAddr is nil
	}{
		{name: "tcp4", domain: unix.AF_INET, listenAddr: &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}},
		{name: "tcp6", domain: unix.AF_INET6, listenAddr: &unix.SockaddrInet6{Addr: [16]byte{15: 1}}},
		{
			name: "unix abstract", domain: unix.AF_UNIX,
			listenAddr: &unix.SockaddrUnix{Name: fmt.Sprintf("@uring-test-ln-%d", os.Getpid())},
			clientAddr: &unix.SockaddrUnix{Name: fmt.Sprintf("@uring-test-cl-%d", os.Getpid())},
		},
		{
			name: "unix path", domain: unix.AF_UNIX,
			listenAddr: &unix.SockaddrUnix{Name: filepath.Join(dir, "ln.sock")},
			wantPeer:   &unix.SockaddrUnix{}, // an unnamed client
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing[string](t, 8)
			socket := func() int {
				t.Helper()
				if err := unsupportedOps(t, r, OpSocket); err != nil {
					fd, err := unix.Socket(tc.domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { unix.Close(fd) })
					return fd
				}
				r.Socket(tc.domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0, "socket")
				c := wait(t, r)
				if c.Err() == syscall.EAFNOSUPPORT {
					t.Skipf("no %s sockets here: %v", tc.name, c.Err())
				}
				if c.Err() != nil {
					t.Fatalf("socket: %v", c.Err())
				}
				fd := int(c.Result)
				t.Cleanup(func() { unix.Close(fd) })
				return fd
			}
			ln := socket()
			viaRing := false
			t.Run("bind+listen via ring", func(t *testing.T) {
				if err := unsupportedOps(t, r, OpBind, OpListen); err != nil {
					t.Skipf("%v; falling back to bind(2) and listen(2)", err)
				}
				r.Bind(ln, tc.listenAddr, "bind")
				c := wait(t, r)
				if c.Err() == syscall.EADDRNOTAVAIL && tc.domain == unix.AF_INET6 {
					t.Skipf("no IPv6 loopback: %v", c.Err())
				}
				if c.Result != 0 {
					t.Fatalf("bind = %d (%v)", c.Result, c.Err())
				}
				r.Listen(ln, 8, "listen")
				if c := waitOK(t, r, "listen"); c.Result != 0 {
					t.Fatalf("listen = %d", c.Result)
				}
				viaRing = true
			})
			if t.Failed() {
				return
			}
			if !viaRing {
				if err := unix.Bind(ln, tc.listenAddr); err != nil {
					if err == syscall.EADDRNOTAVAIL {
						t.Skipf("no IPv6 loopback: %v", err)
					}
					t.Fatal(err)
				}
				if err := unix.Listen(ln, 8); err != nil {
					t.Fatal(err)
				}
			}
			addr, err := unix.Getsockname(ln)
			if err != nil {
				t.Fatal(err)
			}
			if tc.domain == unix.AF_UNIX {
				addr = tc.listenAddr // x/sys decodes abstract names by NUL, not length
			}
			cl := socket()
			if tc.clientAddr != nil {
				if err := unix.Bind(cl, tc.clientAddr); err != nil {
					t.Fatal(err)
				}
			}

			var peer Sockaddr
			if _, err := r.Accept(ln, &peer, 0, "accept"); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Connect(cl, addr, "connect"); err != nil {
				t.Fatal(err)
			}
			got := map[string]Completion[string]{}
			for range 2 {
				c := wait(t, r)
				got[c.Data] = c
			}
			if c := got["connect"]; c.Result != 0 {
				t.Fatalf("connect = %d (%v)", c.Result, c.Err())
			}
			c := got["accept"]
			if c.Err() != nil {
				t.Fatalf("accept: %v", c.Err())
			}
			conn := int(c.Result)
			defer unix.Close(conn)
			if !fdCloexec(t, conn) {
				t.Error("accepted fd is not close-on-exec")
			}
			want := tc.wantPeer
			if tc.clientAddr != nil {
				want = tc.clientAddr
			} else if want == nil {
				want, _ = unix.Getsockname(cl)
			}
			gotPeer, err := peer.Sockaddr()
			if err != nil || !sockaddrEqual(gotPeer, want) {
				t.Errorf("peer = %#v, %v; want the client's address %#v", gotPeer, err, want)
			}

			// The connection carries data both ways.
			r.Send(cl, []byte("ping"), 0, "send")
			waitOK(t, r, "send")
			buf := make([]byte, 8)
			r.Recv(conn, buf, 0, "recv")
			if c := waitOK(t, r, "recv"); string(buf[:c.Result]) != "ping" {
				t.Errorf("recv = %q", buf[:c.Result])
			}
		})
	}
}

// A bad address is refused before anything is queued.
func TestConnectBadAddress(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 4)
	if _, err := r.Connect(0, &unix.SockaddrLinklayer{}, "x"); err == nil {
		t.Error("Connect with an unsupported address type accepted")
	}
	if _, err := r.Connect(0, nil, "x"); err == nil {
		t.Error("Connect with a nil address accepted")
	}
	if r.ActiveOps() != 0 || r.SQEReady() != 0 {
		t.Errorf("refused operations left %d active, %d queued", r.ActiveOps(), r.SQEReady())
	}
}

func TestSendRecv(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 4)
	cl, srv := tcpLoopbackPair(t)
	buf := make([]byte, 64)
	// The receive is queued first and waits for the data.
	r.Recv(srv, buf, 0, "recv")
	r.Submit()
	r.Send(cl, []byte("round trip"), 0, "send")
	got := map[string]int32{}
	for range 2 {
		c := wait(t, r)
		if c.Err() != nil {
			t.Fatalf("%s: %v", c.Data, c.Err())
		}
		got[c.Data] = c.Result
	}
	if got["send"] != 10 || got["recv"] != 10 || string(buf[:10]) != "round trip" {
		t.Fatalf("send/recv = %v, %q", got, buf[:got["recv"]])
	}
	// And back, with MSG_WAITALL gathering two sends into one receive.
	r.Recv(cl, buf[:6], unix.MSG_WAITALL, "recv")
	r.Submit()
	r.Send(srv, []byte("abc"), 0, "send1")
	r.Send(srv, []byte("def"), 0, "send2")
	for range 3 {
		c := wait(t, r)
		if c.Data == "recv" && (c.Result != 6 || string(buf[:6]) != "abcdef") {
			t.Errorf("recv with MSG_WAITALL = %d %q", c.Result, buf[:6])
		}
	}
}

func TestAcceptMultishot(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 8)
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	if err := unix.Listen(ln, 8); err != nil {
		t.Fatal(err)
	}
	addr, _ := unix.Getsockname(ln)
	job, err := r.AcceptMultishot(ln, 0, "accept")
	if err != nil {
		t.Fatal(err)
	}
	r.Submit()
	var clients []unix.Sockaddr
	for range 3 {
		cl, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(cl)
		if err := unix.Connect(cl, addr); err != nil {
			t.Fatal(err)
		}
		sa, _ := unix.Getsockname(cl)
		clients = append(clients, sa)
	}
	var peers []unix.Sockaddr
	for i := range 3 {
		c := waitOK(t, r, "multishot accept")
		if c.Data != "accept" || !c.More() || c.Job != job {
			t.Fatalf("completion %d = %+v, want one of the armed accept with More", i, c)
		}
		fd := int(c.Result)
		defer unix.Close(fd)
		if !fdCloexec(t, fd) {
			t.Errorf("accepted fd %d is not close-on-exec", fd)
		}
		p, _ := unix.Getpeername(fd)
		peers = append(peers, p)
	}
	for i := range peers {
		if !sockaddrEqual(peers[i], clients[i]) {
			t.Errorf("accepted peer %d = %#v, client %#v", i, peers[i], clients[i])
		}
	}
	if r.ActiveOps() != 1 {
		t.Fatalf("ActiveOps = %d while the multishot accept is armed, want 1", r.ActiveOps())
	}
	r.Cancel(job, "cancel")
	for range 2 {
		c := wait(t, r)
		switch c.Data {
		case "accept":
			if c.More() || !errors.Is(c.Err(), syscall.ECANCELED) {
				t.Errorf("final accept completion = %+v, want ECANCELED without More", c)
			}
		case "cancel":
			if c.Result != 0 {
				t.Errorf("cancel = %v", c.Err())
			}
		}
	}
	if r.ActiveOps() != 0 {
		t.Errorf("ActiveOps = %d after the multishot ended", r.ActiveOps())
	}
}

// SendZC posts the result with More, then the notification that releases
// the buffer.
func TestSendZC(t *testing.T) {
	testutil.CheckFDs(t)
	r := newRing[string](t, 4)
	if err := unsupportedOps(t, r, OpSendZC); err != nil {
		t.Skip(err)
	}
	cl, srv := tcpLoopbackPair(t)
	data := bytes.Repeat([]byte("zerocopy"), 512)
	if _, err := r.SendZC(cl, data, 0, "zc"); err != nil {
		t.Fatal(err)
	}
	c := waitOK(t, r, "send_zc")
	if int(c.Result) != len(data) || !c.More() || c.Flags&CQENotif != 0 {
		t.Fatalf("send_zc result = %+v, want %d bytes with More", c, len(data))
	}
	if r.ActiveOps() != 1 {
		t.Errorf("ActiveOps = %d between result and notification, want 1 (the buffer is still the kernel's)", r.ActiveOps())
	}
	c = wait(t, r)
	if c.Data != "zc" || c.Flags&CQENotif == 0 || c.More() {
		t.Fatalf("send_zc notification = %+v, want Notif without More", c)
	}
	if r.ActiveOps() != 0 {
		t.Errorf("ActiveOps = %d after the notification", r.ActiveOps())
	}
	got := make([]byte, 0, len(data))
	buf := make([]byte, 8192)
	for len(got) < len(data) {
		n, err := unix.Read(srv, buf)
		if err != nil || n == 0 {
			t.Fatalf("read: %d %v", n, err)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, data) {
		t.Error("received data differs from sent")
	}

	// A socket without zero copy fails, and still sends the notification
	// that ends the operation.
	u, _ := unixSocketpair(t, unix.SOCK_STREAM)
	r.SendZC(u, []byte("x"), 0, "unix")
	if c := wait(t, r); !errors.Is(c.Err(), syscall.EOPNOTSUPP) || !c.More() {
		t.Errorf("send_zc on a Unix socket = %+v, want EOPNOTSUPP with More", c)
	}
	if c := wait(t, r); c.Flags&CQENotif == 0 || c.More() {
		t.Errorf("send_zc notification after failure = %+v", c)
	}
	if s := r.Stats(); r.ActiveOps() != 0 || s.Stray != 0 {
		t.Errorf("after the failed send_zc: %d active, %d stray", r.ActiveOps(), s.Stray)
	}
}

func ExampleRing_Accept() {
	r, err := New[string](8)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	ln, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(ln)
	unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 8080})
	unix.Listen(ln, 128)

	var peer Sockaddr
	r.Accept(ln, &peer, 0, "accept")
	c, err := r.Wait()
	if err != nil || c.Err() != nil {
		fmt.Println(err, c.Err())
		return
	}
	conn := int(c.Result)
	defer unix.Close(conn)
	sa, _ := peer.Sockaddr()
	if sa4, ok := sa.(*unix.SockaddrInet4); ok {
		fmt.Printf("connection from %v:%d\n", sa4.Addr, sa4.Port)
	}
}
