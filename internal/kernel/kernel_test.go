package kernel

import (
	"errors"
	"syscall"
	"testing"

	"github.com/uring-go/uring/internal/kernel/version"
	"github.com/uring-go/uring/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// checkTest asks tt twice: on a kernel at least tt.Since it must be
// there, and the second answer must be the first, kept.
func checkTest(t *testing.T, tt *Test) {
	t.Helper()
	testutil.CheckFDs(t)
	maj, minor := version.Parse(tt.Since)
	if maj < 5 {
		t.Fatalf("%s: Since %q is not a kernel version", tt.Name, tt.Since)
	}
	have, err := tt.Have()
	if err != nil {
		t.Fatalf("%s: %v", tt.Name, err)
	}
	t.Logf("%s (Linux %s): %v", tt.Name, tt.Since, have)
	if version.AtLeast(maj, minor) && !have {
		t.Errorf("%s: absent on a kernel of at least %s", tt.Name, tt.Since)
	}
	tt.mu.Lock()
	known := tt.known
	tt.mu.Unlock()
	if !known {
		t.Errorf("%s: a conclusive answer was not kept", tt.Name)
	}
	if again, err := tt.Have(); again != have || err != nil {
		t.Errorf("%s: asked again: %v, %v; first %v", tt.Name, again, err, have)
	}
}

func TestMultishotPoll(t *testing.T) { checkTest(t, MultishotPoll) }
func TestMultishotRecv(t *testing.T) { checkTest(t, MultishotRecv) }
func TestBufRing(t *testing.T)       { checkTest(t, BufRing) }
func TestDeferTaskrun(t *testing.T)  { checkTest(t, DeferTaskrun) }
func TestSolMPTCP(t *testing.T)      { checkTest(t, SolMPTCP) }

// TestAllNamed checks that All lists every Test above, each once.
func TestAllNamed(t *testing.T) {
	want := []*Test{MultishotPoll, MultishotRecv, BufRing, DeferTaskrun, SolMPTCP}
	seen := map[*Test]bool{}
	for _, tt := range All {
		if seen[tt] {
			t.Errorf("%s listed twice", tt.Name)
		}
		seen[tt] = true
	}
	for _, tt := range want {
		if !seen[tt] {
			t.Errorf("%s missing from All", tt.Name)
		}
	}
	if len(All) != len(want) {
		t.Errorf("All has %d tests, want %d", len(All), len(want))
	}
}

// TestInconclusiveNotKept runs the buffer-ring and deferred-task-work
// probes with no fd left for their ring (EMFILE): the answer is an error,
// not "absent", it is not kept, and once fds are available again the
// same Test answers for good.
func TestInconclusiveNotKept(t *testing.T) {
	for _, base := range []*Test{BufRing, DeferTaskrun} {
		t.Run(base.Name, func(t *testing.T) {
			testutil.CheckFDs(t)
			tt := &Test{Name: base.Name, Since: base.Since, probe: base.probe}
			func() {
				restore := exhaustFDs(t)
				defer restore()
				have, err := tt.Have()
				if !errors.Is(err, syscall.EMFILE) || have {
					t.Errorf("without fds: %v, %v; want false and EMFILE", have, err)
				}
			}()
			tt.mu.Lock()
			known := tt.known
			tt.mu.Unlock()
			if known {
				t.Fatal("the answer of a probe that could not create its ring was kept")
			}
			want, err := base.Have()
			if err != nil {
				t.Fatal(err)
			}
			if have, err := tt.Have(); have != want || err != nil {
				t.Errorf("with fds again: %v, %v; want %v", have, err, want)
			}
		})
	}
}

// exhaustFDs lowers RLIMIT_NOFILE to the lowest free fd number, so that
// the next fd the process creates fails with EMFILE, and returns what
// restores the limit.
func exhaustFDs(t *testing.T) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	lim := old
	lim.Cur = uint64(fd)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Fatal(err)
		}
	}
}
