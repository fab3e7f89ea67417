package uringnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/uring-go/uring/internal/testutil"

	"golang.org/x/sys/unix"
)

// FuzzOOBFds checks the parsing of the oob buffer WriteMsgUnix sends:
// whatever oobFds accepts is a sequence of SCM_RIGHTS messages, and the
// descriptors it returns are exactly theirs, in order; anything else
// (a truncated header, a length past the buffer, another message type) is
// an error, never a panic or a read past the end. It also checks that
// fdsRoom, which sizes the descriptor room ReadMsgUnix asks for, is the
// most that an oob buffer of that size holds.
func FuzzOOBFds(f *testing.F) {
	f.Add(unix.UnixRights(3))
	f.Add(unix.UnixRights(0, 1, 2, 1<<20))
	f.Add(append(unix.UnixRights(7), unix.UnixRights(8, 9)...))
	f.Add(unix.UnixRights(5)[:10])
	f.Add(unix.UnixCredentials(&unix.Ucred{Pid: 1}))
	f.Add([]byte{})
	f.Add(make([]byte, unix.CmsgSpace(0)))
	f.Fuzz(func(t *testing.T, oob []byte) {
		if malformedRights(oob) {
			// Known bug, see TestWriteMsgUnixMalformedRights: oobFds
			// panics on SCM_RIGHTS data that is not a whole number of
			// descriptors. A return, not t.Skip, which slows the
			// fuzzer a hundredfold. Remove once fixed.
			return
		}
		if k := fdsRoom(len(oob)); unix.CmsgSpace(k*4) > len(oob) && k > 0 || unix.CmsgSpace((k+1)*4) <= len(oob) {
			t.Fatalf("fdsRoom(%d) = %d: CmsgSpace(%d fds) = %d, CmsgSpace(%d fds) = %d", len(oob), k, k, unix.CmsgSpace(k*4), k+1, unix.CmsgSpace((k+1)*4))
		}
		fds, err := oobFds(oob)
		if err != nil {
			if fds != nil {
				t.Fatalf("oobFds = %v with error %v", fds, err)
			}
			return
		}
		// An independent walk over the messages, as cmsg(3) lays them out.
		var want []int
		hdr := unix.CmsgLen(0)
		for rest := oob; len(rest) > 0; {
			if len(rest) < hdr {
				// Too short for a header: ignored, as the kernel's
				// CMSG_NXTHDR and net's sendmsg ignore it.
				break
			}
			n := int(binary.NativeEndian.Uint64(rest))
			level := int32(binary.NativeEndian.Uint32(rest[8:]))
			typ := int32(binary.NativeEndian.Uint32(rest[12:]))
			if n < hdr || n > len(rest) || level != unix.SOL_SOCKET || typ != unix.SCM_RIGHTS {
				t.Fatalf("oobFds accepted % x: message of length %d, level %d, type %d", oob, n, level, typ)
			}
			// Whole descriptors only: the kernel's scm_fp_copy ignores
			// a partial one at the end.
			for p := hdr; p+4 <= n; p += 4 {
				want = append(want, int(int32(binary.NativeEndian.Uint32(rest[p:]))))
			}
			rest = rest[min(len(rest), unix.CmsgSpace(n-hdr)):]
		}
		if !slices.Equal(fds, want) {
			t.Fatalf("oobFds(% x) = %v, want %v", oob, fds, want)
		}
		if len(fds) > 0 {
			again, err := oobFds(unix.UnixRights(fds...))
			if err != nil || !slices.Equal(again, fds) {
				t.Fatalf("oobFds(UnixRights(%v)) = %v, %v", fds, again, err)
			}
		}
	})
}

func TestOOBFdsRejectsOtherMessages(t *testing.T) {
	if _, err := oobFds(unix.UnixCredentials(&unix.Ucred{Pid: 1})); !errors.Is(err, errUnsupportedOOB) {
		t.Fatalf("oobFds(SCM_CREDENTIALS) = %v, want errUnsupportedOOB", err)
	}
}

// malformedRights reports whether oob holds, among well-formed messages,
// an SCM_RIGHTS one whose data is not a multiple of 4 bytes.
func malformedRights(oob []byte) bool {
	hdr := unix.CmsgLen(0)
	for len(oob) >= hdr {
		n := int(binary.NativeEndian.Uint64(oob))
		if n < hdr || n > len(oob) {
			return false
		}
		level := int32(binary.NativeEndian.Uint32(oob[8:]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:]))
		if level == unix.SOL_SOCKET && typ == unix.SCM_RIGHTS && (n-hdr)%4 != 0 {
			return true
		}
		oob = oob[min(len(oob), unix.CmsgSpace(n-hdr)):]
	}
	return false
}

// TestWriteMsgUnixMalformedRights sends an SCM_RIGHTS message whose
// length leaves a partial descriptor after a whole one. The kernel sends
// the whole descriptor and ignores the rest (scm_fp_copy divides the data
// length by sizeof(int)), so net's WriteMsgUnix succeeds and the peer gets
// one descriptor; uringnet must do the same.
//
// BUG: oobFds passes the message to unix.ParseUnixRights (x/sys v0.50.0),
// which sizes its result by len(data)/4 but loops while i < len(data), so
// a data length that is not a multiple of 4 indexes past the result and
// panics: Conn.WriteMsgUnix and PacketConn.WriteMsgUnix crash the program
// on such an oob instead of sending it as net does. oobFds should take the
// whole descriptors itself (or trim the data to a multiple of 4) rather
// than call ParseUnixRights on it.
func TestWriteMsgUnixMalformedRights(t *testing.T) {
	testutil.CheckFDs(t)
	oob := unix.UnixRights(int(os.Stdin.Fd()))
	// cmsg_len of the header plus 5 bytes of data: one descriptor and
	// one byte of another, inside the 24 bytes of the buffer.
	binary.NativeEndian.PutUint64(oob, uint64(unix.CmsgLen(5)))

	// The reference: package net leaves it to the kernel.
	nl, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "net"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	nc, err := net.DialUnix("unix", nil, nl.Addr().(*net.UnixAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ns, err := nl.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if _, _, err := nc.WriteMsgUnix([]byte("x"), oob, nil); err != nil {
		t.Fatalf("net: WriteMsgUnix with a partial descriptor: %v", err)
	}
	if fds := recvFds(t, ns); fds != 1 {
		t.Fatalf("net: the peer got %d descriptors, want 1", fds)
	}

	t.Skip("BUG: oobFds panics in unix.ParseUnixRights on SCM_RIGHTS data that is not a multiple of 4 bytes; see the comment above")

	client, server := pair(t, listenLocal(t, "unix", ListenConfig{}))
	err = func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		_, _, err = client.WriteMsgUnix([]byte("x"), oob, nil)
		return err
	}()
	if err != nil {
		t.Fatalf("WriteMsgUnix with a partial descriptor: %v, want what net does: success", err)
	}
	if fds := recvFds(t, server); fds != 1 {
		t.Fatalf("the peer got %d descriptors, want 1", fds)
	}
}

// recvFds reads one message with descriptors from c, closes them and
// returns how many came.
func recvFds(t *testing.T, c interface {
	ReadMsgUnix(b, oob []byte) (n, oobn, flags int, addr *net.UnixAddr, err error)
}) int {
	t.Helper()
	b, oob := make([]byte, 16), make([]byte, unix.CmsgSpace(4*4))
	_, oobn, _, _, err := c.ReadMsgUnix(b, oob)
	if err != nil {
		t.Fatalf("ReadMsgUnix: %v", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
		n += len(fds)
	}
	return n
}
