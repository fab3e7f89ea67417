package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Paths inside the initramfs that run.sh fills in.
const (
	pkgsFile    = "/vmtest/pkgs"    // one "relpath<TAB>binary" line per package
	argsFile    = "/vmtest/args"    // extra test flags, one per line
	timeoutFile = "/vmtest/timeout" // per-binary time limit in seconds
	verboseFile = "/vmtest/verbose" // if present, print every binary's whole output
	diskFile    = "/vmtest/disk"    // if present, a scratch disk is attached
	srcDir      = "/src"            // package directories, the tests' working directories
)

// defaultTimeout bounds one test binary when /vmtest/timeout is missing.
const defaultTimeout = 300 * time.Second

func logf(format string, args ...any) {
	fmt.Printf("vmtest: "+format+"\n", args...)
}

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "vmtest init: not PID 1; this program only runs as the init of the test VM (tools/vmtest/run.sh)")
		os.Exit(2)
	}
	// PID 1 exiting panics the kernel, which with panic=-1 and qemu's
	// -no-reboot ends the VM without a RESULT line: run.sh then reports
	// that the VM did not finish, which is the right verdict. Still, say
	// why before going.
	defer func() {
		if r := recover(); r != nil {
			logf("init panicked: %v", r)
			powerOff()
		}
	}()
	setup()
	ok := runAll()
	if ok {
		logf("RESULT ok")
	} else {
		logf("RESULT FAIL")
	}
	powerOff()
}

func powerOff() {
	unix.Sync()
	// Only returns on failure; the kernel then panics when init exits.
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	logf("power off: %v", err)
	os.Exit(1)
}

// setup makes the initramfs look enough like a booted system for the
// tests: pseudo file systems, a writable /tmp, loopback networking, name
// resolution for "localhost", and limits high enough for fd-hungry tests.
func setup() {
	mount("proc", "/proc", "proc", "")
	mount("sysfs", "/sys", "sysfs", "")
	mount("devtmpfs", "/dev", "devtmpfs", "")
	mount("devpts", "/dev/pts", "devpts", "ptmxmode=0666")
	mount("tmpfs", "/dev/shm", "tmpfs", "mode=1777")
	tmpDirs()
	// devtmpfs does not create these; some tools and tests expect them.
	for name, target := range map[string]string{
		"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, name); err != nil && !errors.Is(err, os.ErrExist) {
			logf("symlink %s: %v", name, err)
		}
	}
	if err := unix.Sethostname([]byte("vmtest")); err != nil {
		logf("sethostname: %v", err)
	}
	loopbackUp()
	// Tests that open many sockets need far more than the 1024 a bare
	// init starts with. 1<<19 is systemd's default hard limit; staying
	// below the kernel's ceiling (fs.nr_open, 1<<20) lets tests that
	// check behaviour above RLIMIT_NOFILE run.
	nofile := unix.Rlimit{Cur: 1 << 19, Max: 1 << 19}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &nofile); err != nil {
		logf("setrlimit NOFILE: %v", err)
	}
	// Registered buffers are charged to RLIMIT_MEMLOCK for processes
	// without CAP_IPC_LOCK; root has it, but tests may drop it.
	memlock := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &memlock); err != nil {
		logf("setrlimit MEMLOCK: %v", err)
	}
	os.Setenv("HOME", "/tmp")
	os.Setenv("TMPDIR", "/tmp")
	os.Setenv("PATH", "/bin:/usr/bin")
	os.Setenv("URING_SHORT", "1")
	os.Setenv("GOTRACEBACK", "all")
	// Leave GOMAXPROCS to the runtime: it matches the VM's CPUs.

	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		logf("uname: %v", err)
	}
	clock, _ := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	var st unix.Statfs_t
	fs := "?"
	if err := unix.Statfs("/tmp", &st); err == nil {
		switch st.Type {
		case unix.EXT4_SUPER_MAGIC:
			fs = "ext4"
		case unix.TMPFS_MAGIC:
			fs = "tmpfs"
		}
	}
	logf("kernel %s, %d CPUs, clocksource %s, /tmp on %s", unix.ByteSliceToString(u.Release[:]),
		runtime.NumCPU(), strings.TrimSpace(string(clock)), fs)
}

// disk is the ext4 scratch disk run.sh attaches as an NVMe drive (the
// cloud kernel has NVMe and ext4 built in, virtio only as modules).
const disk = "/dev/nvme0n1"

// tmpDirs puts /tmp and /var/tmp on the ext4 scratch disk, as on the
// hosts the tests normally run on: files there support O_DIRECT and take
// the kernel's real block-device paths, which tmpfs does not. Without the
// disk both fall back to tmpfs.
func tmpDirs() {
	// The NVMe controller is probed asynchronously after boot.
	_, err := os.Stat(diskFile)
	for i := 0; err == nil && i < 100; i++ {
		if _, err := os.Stat(disk); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(disk); err != nil {
		logf("no scratch disk (%v): /tmp and /var/tmp are tmpfs", err)
		mount("tmpfs", "/tmp", "tmpfs", "mode=1777")
		mount("tmpfs", "/var/tmp", "tmpfs", "mode=1777")
		return
	}
	if err := os.MkdirAll("/disk", 0o755); err != nil {
		logf("mkdir /disk: %v", err)
	}
	if err := unix.Mount(disk, "/disk", "ext4", 0, ""); err != nil {
		logf("mount %s: %v: /tmp and /var/tmp are tmpfs", disk, err)
		mount("tmpfs", "/tmp", "tmpfs", "mode=1777")
		mount("tmpfs", "/var/tmp", "tmpfs", "mode=1777")
		return
	}
	for dir, src := range map[string]string{"/tmp": "/disk/tmp", "/var/tmp": "/disk/var-tmp"} {
		if err := os.MkdirAll(src, 0o755); err != nil {
			logf("mkdir %s: %v", src, err)
			continue
		}
		// MkdirAll obeys the umask; the sticky, world-writable mode of a
		// temporary directory needs an explicit chmod.
		if err := os.Chmod(src, 0o777|os.ModeSticky); err != nil {
			logf("chmod %s: %v", src, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			logf("mkdir %s: %v", dir, err)
			continue
		}
		if err := unix.Mount(src, dir, "", unix.MS_BIND, ""); err != nil {
			logf("bind %s on %s: %v", src, dir, err)
		}
	}
}

func mount(src, dst, fstype, data string) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		logf("mkdir %s: %v", dst, err)
		return
	}
	if err := unix.Mount(src, dst, fstype, unix.MS_NOSUID, data); err != nil {
		logf("mount %s on %s: %v", fstype, dst, err)
	}
}

// loopbackUp sets IFF_UP on lo. The kernel then gives it 127.0.0.1 and,
// with IPv6 built in, ::1.
func loopbackUp() {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		logf("loopback: socket: %v", err)
		return
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		logf("loopback: %v", err)
		return
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		logf("loopback: SIOCGIFFLAGS: %v", err)
		return
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		logf("loopback: SIOCSIFFLAGS: %v", err)
	}
}

// pkg is one test binary to run.
type pkg struct {
	rel string // package directory relative to the module root
	bin string // path of the test binary
}

func readPkgs() ([]pkg, error) {
	f, err := os.Open(pkgsFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pkgs []pkg
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rel, bin, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		pkgs = append(pkgs, pkg{rel: rel, bin: bin})
	}
	return pkgs, sc.Err()
}

func readArgs() []string {
	data, err := os.ReadFile(argsFile)
	if err != nil {
		return nil
	}
	var args []string
	for _, a := range strings.Split(string(data), "\n") {
		if a != "" {
			args = append(args, a)
		}
	}
	return args
}

func readTimeout() time.Duration {
	data, err := os.ReadFile(timeoutFile)
	if err != nil {
		return defaultTimeout
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n <= 0 {
		logf("bad %s %q: using %v", timeoutFile, data, defaultTimeout)
		return defaultTimeout
	}
	return time.Duration(n) * time.Second
}

// runAll runs every package's binary and reports whether all passed or
// skipped.
func runAll() bool {
	pkgs, err := readPkgs()
	if err != nil || len(pkgs) == 0 {
		logf("no test binaries (%s): %v", pkgsFile, err)
		return false
	}
	extra := readArgs()
	timeout := readTimeout()
	_, err = os.Stat(verboseFile)
	verbose := err == nil
	kmsg := openKmsg()
	start := time.Now()
	var results []result
	for _, p := range pkgs {
		logf("=== %s", p.rel)
		r := run(p, extra, timeout)
		if verbose {
			for _, l := range strings.Split(strings.TrimRight(r.raw, "\n"), "\n") {
				fmt.Println("  > " + l)
			}
		}
		report(r)
		if kmsg != nil {
			kmsg.drain()
		}
		results = append(results, r)
	}
	failed := 0
	logf("summary: %d packages in %v", len(results), time.Since(start).Round(time.Second))
	for _, r := range results {
		logf("  %s  %-24s %s", r.status, r.pkg.rel, r.counts())
		if r.status == statusFail {
			failed++
		}
	}
	logf("%d of %d packages failed", failed, len(results))
	return failed == 0
}

// kmsgReader reports kernel messages of warning level or worse logged
// since it was opened: a WARN or BUG splat while a package runs is a
// finding even if the package's tests pass.
type kmsgReader struct{ f *os.File }

func openKmsg() *kmsgReader {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		logf("kernel log: %v", err)
		return nil
	}
	// Skip the boot messages: only what the tests provoke is of interest.
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		logf("kernel log: seek: %v", err)
	}
	return &kmsgReader{f: os.NewFile(uintptr(fd), "/dev/kmsg")}
}

func (k *kmsgReader) drain() {
	buf := make([]byte, 8192)
	for {
		// Each read returns one record: "prio,seq,usec,flags;text\n"
		// followed by optional " KEY=value" continuation lines.
		n, err := unix.Read(int(k.f.Fd()), buf)
		if err == unix.EPIPE {
			continue // records were overwritten before we read them
		}
		if err != nil || n <= 0 {
			return
		}
		rec := string(buf[:n])
		head, text, ok := strings.Cut(rec, ";")
		if !ok {
			continue
		}
		prio, _, _ := strings.Cut(head, ",")
		p, err := strconv.Atoi(prio)
		if err != nil || p&7 > 4 { // KERN_WARNING is 4
			continue
		}
		text, _, _ = strings.Cut(text, "\n")
		// A slow hrtimer interrupt is what software emulation does, not
		// something the tests provoked.
		if strings.HasPrefix(text, "hrtimer: interrupt took") {
			continue
		}
		logf("  kernel: %s", text)
	}
}

// srcPath is the working directory of a package's tests, as go test
// would use: its source directory.
func srcPath(rel string) string {
	return filepath.Join(srcDir, rel)
}
