package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// clockTick is USER_HZ, the unit of /proc/PID/stat times; it is 100 on
// every Linux architecture Go supports.
const clockTick = 100

// procCPU returns the user+system CPU time a process has used and, with
// children, that of the children it has waited for.
func procCPU(pid int, children bool) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	n := int64(0)
	last := 12 // utime, stime
	if children {
		last = 14 // cutime, cstime
	}
	for _, x := range f[11 : last+1] {
		v, _ := strconv.ParseInt(x, 10, 64)
		n += v
	}
	return time.Duration(n) * time.Second / clockTick, nil
}

// selfCPU returns this process's CPU time, at finer grain than /proc.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpus are the CPUs for the server and the load client: different ones
// when the machine has two or more.
func cpus() (server, client int, separate bool) {
	n := runtime.NumCPU()
	if n >= 2 {
		return 0, 1, true
	}
	return 0, 0, false
}

// pin restricts a process (and its future threads) to one CPU.
func pin(pid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	// Threads already running keep their own mask; pin every one.
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return unix.SchedSetaffinity(pid, &set)
	}
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		unix.SchedSetaffinity(tid, &set)
	}
	return nil
}

// proc is a child process of this program in one of its roles. It speaks
// a line protocol on stdin and stdout.
type proc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// child starts this program in a child role and returns it with the first
// line it printed (a server's address, "ready", or an error).
func child(args ...string) (*proc, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	return startProc(self, args...)
}

// startProc starts a program that speaks the child protocol: this one in a
// child role, a C reference server or the C load client.
func startProc(path string, args ...string) (*proc, string, error) {
	cmd := exec.Command(path, args...)
	if _, _, separate := cpus(); separate && len(args) > 0 && (args[0] == "-serve" || args[0] == "-load") {
		// A server or a load client is pinned to one CPU right after
		// it starts; give it the GOMAXPROCS a Go program started on one
		// CPU would pick, so that two Ps do not time-slice one CPU.
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	p := &proc{cmd: cmd, in: in, out: bufio.NewReader(out)}
	line, err := p.line()
	if err != nil {
		p.stop()
		return nil, "", fmt.Errorf("%s did not start: %v", strings.Join(args, " "), err)
	}
	return p, line, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) line() (string, error) {
	l, err := p.out.ReadString('\n')
	return strings.TrimSpace(l), err
}

// ask sends a request line and returns the reply line.
func (p *proc) ask(req string) (string, error) {
	if _, err := fmt.Fprintln(p.in, req); err != nil {
		return "", err
	}
	return p.line()
}

// stop closes the child's stdin, which ends it, and kills it if it does
// not exit promptly.
func (p *proc) stop() {
	p.in.Close()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// wantFiles is the open-file limit the idle group needs in its server
// and client: its 10,000 connections and some to spare.
const wantFiles = 1 << 15

// raiseFileLimit raises the soft open-file limit to the hard one, and the
// hard one to wantFiles where it is lower and this process may (root).
// Children inherit the limits.
func raiseFileLimit() {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
		return
	}
	if lim.Max < wantFiles {
		up := unix.Rlimit{Cur: wantFiles, Max: wantFiles}
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &up) == nil {
			return
		}
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}
}

// fileLimit is the soft open-file limit.
func fileLimit() uint64 {
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

// procRSS returns a process's resident set size, from VmRSS in
// /proc/PID/status.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// liveHeap collects garbage, returns what memory it can to the system
// (so that RSS, too, counts what is live) and returns the bytes of live
// heap objects: what a server answers to "mem".
func liveHeap() uint64 {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// machineOverride, when set, is the machine an earlier run was made on.
var machineOverride string

func machine() string {
	if machineOverride != "" {
		return machineOverride
	}
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(l[strings.IndexByte(l, ':')+1:])
				break
			}
		}
	}
	var u unix.Utsname
	unix.Uname(&u)
	return fmt.Sprintf("%s, %d CPUs, Linux %s, %s", model, runtime.NumCPU(), unix.ByteSliceToString(u.Release[:]), runtime.Version())
}
