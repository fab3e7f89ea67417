package uringnet

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/uring-go/uring/internal/testutil"

	"golang.org/x/sys/unix"
)

// TestWriteMsgUnixMalformedRights sends an SCM_RIGHTS message whose
// length leaves a partial descriptor after a whole one. The kernel sends
// the whole descriptor and ignores the rest (scm_fp_copy divides the data
// length by sizeof(int)), so net's WriteMsgUnix succeeds and the peer gets
// one descriptor; uringnet must do the same.
// (Parsing the oob with x/sys's ParseUnixRights, as an earlier version
// did, panics on such data: it sizes its result by len/4 but loops to len.)
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
	c, s := netPair(t, nl)
	nc, ns := c.(*net.UnixConn), s.(*net.UnixConn)
	if _, _, err := nc.WriteMsgUnix([]byte("x"), oob, nil); err != nil {
		t.Fatalf("net: WriteMsgUnix with a partial descriptor: %v", err)
	}
	if fds := recvFds(t, ns); fds != 1 {
		t.Fatalf("net: the peer got %d descriptors, want 1", fds)
	}

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
