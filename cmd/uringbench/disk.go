package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uring-go/uring/region"
	"github.com/uring-go/uring/uringfs"
	"golang.org/x/sys/unix"
)

func init() {
	groupDocs["disk"] = "4 KiB random reads with O_DIRECT (no page cache) from a file written for the run and removed after; ops/s are IOPS, cpu/op the CPU per read (for fio, its own usr+sys); fio is `fio --ioengine=io_uring --direct=1 --rw=randread --bs=4k --iodepth=QD --iodepth_batch_submit=QD --iodepth_batch_complete_max=QD`, one job, the limit"
}

// diskBlock is the size of one read, and the alignment O_DIRECT wants of
// buffers and offsets (the logical block of most devices, or a multiple).
const diskBlock = 4096

var flagDepths = flag.String("depths", "", "disk: the queue depths to compare, comma-separated (default 1,16,64,128; 1,16 with -short)")

// parseDepths reads -depths: queue depths, comma-separated, each a
// positive integer.
func parseDepths(s string) ([]int, error) {
	var ds []int
	for _, f := range strings.Split(s, ",") {
		qd, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || qd <= 0 || qd > 4096 {
			return nil, fmt.Errorf("-depths %q: %q is not a queue depth: want positive integers up to 4096, comma-separated, e.g. 1,16,128", s, f)
		}
		ds = append(ds, qd)
	}
	return ds, nil
}

// diskDepths are the queue depths compared: -depths's, if given (main
// has checked it).
func diskDepths() []int {
	if *flagDepths != "" {
		ds, _ := parseDepths(*flagDepths)
		return ds
	}
	if *flagShort {
		return []int{1, 16}
	}
	return []int{1, 16, 64, 128}
}

func diskCases() []benchCase {
	var cs []benchCase
	for _, qd := range diskDepths() {
		cs = append(cs, benchCase{
			name: fmt.Sprintf("4 KiB O_DIRECT random reads, QD %d", qd),
			impls: []impl{
				{name: "os.File", baseline: true, run: inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) {
					return directReads(func(p string) (readerAt, error) { return os.OpenFile(p, os.O_RDONLY|unix.O_DIRECT, 0) }, qd, d)
				})},
				{name: "uringfs.File", run: inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) {
					return directReads(func(p string) (readerAt, error) { return uringfs.OpenFile(p, os.O_RDONLY|unix.O_DIRECT, 0) }, qd, d)
				})},
				{name: "uringfs batch", run: inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) {
					return directBatches(qd, d)
				})},
				{name: "fio io_uring", run: inProcess(func(d time.Duration) (float64, time.Duration, time.Duration, error) {
					return fioReads(qd, d)
				})},
			},
		})
	}
	return cs
}

// directFile is the disk group's file: made on first use, removed at the
// end of the run.
var directFile struct {
	sync.Mutex
	path string
	size int64
}

// diskFile returns the disk group's file and its size, writing it first
// if need be: 1 GiB (64 MiB with -short) of data, written with O_DIRECT so
// that it does not fill the page cache, and synced, so that the reads
// find it on the device.
func diskFile() (string, int64, error) {
	directFile.Lock()
	defer directFile.Unlock()
	if directFile.path != "" {
		return directFile.path, directFile.size, nil
	}
	size := int64(1 << 30)
	if *flagShort {
		size = 64 << 20
	}
	dir, err := os.MkdirTemp("", "uringbench-disk")
	if err != nil {
		return "", 0, err
	}
	path := filepath.Join(dir, "data")
	if err := writeDirect(path, size); err != nil {
		os.RemoveAll(dir)
		return "", 0, err
	}
	directFile.path, directFile.size = path, size
	atEnd(func() {
		directFile.Lock()
		defer directFile.Unlock()
		os.RemoveAll(dir)
		directFile.path = ""
	})
	return path, size, nil
}

func writeDirect(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_DIRECT, 0o600)
	if err != nil {
		return fmt.Errorf("O_DIRECT file: %w (tmpfs and some overlays do not take O_DIRECT: set TMPDIR to a directory on a disk)", err)
	}
	defer f.Close()
	buf, err := region.Mmap(1 << 20)
	if err != nil {
		return err
	}
	defer region.Munmap(buf)
	rng := rand.New(rand.NewPCG(3, 4))
	for off := int64(0); off < size; off += int64(len(buf)) {
		for i := 0; i < len(buf); i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.Write(buf); err != nil {
			return fmt.Errorf("writing the O_DIRECT file: %v", err)
		}
	}
	return f.Sync()
}

// directReads reads 4 KiB blocks at random from the disk file, opened
// with open (which adds O_DIRECT), from qd goroutines, each with its own
// page-aligned buffer outside the Go heap.
func directReads(open func(string) (readerAt, error), qd int, d time.Duration) (float64, time.Duration, time.Duration, error) {
	path, size, err := diskFile()
	if err != nil {
		return 0, 0, 0, err
	}
	f, err := open(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	mem, err := region.Mmap(qd * diskBlock)
	if err != nil {
		return 0, 0, 0, err
	}
	defer region.Munmap(mem)
	return readsOn(f, size, qd, diskBlock, func(g int) []byte { return mem[g*diskBlock : (g+1)*diskBlock] }, d)
}

// directBatches reads 4 KiB blocks at random from the disk file with
// ReadBatch from one goroutine, qd reads in flight. A batch holds several
// times qd reads, so that the queue stays full but while the last qd
// drain.
func directBatches(qd int, d time.Duration) (float64, time.Duration, time.Duration, error) {
	path, size, err := diskFile()
	if err != nil {
		return 0, 0, 0, err
	}
	f, err := uringfs.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	reqs := make([]uringfs.Request, max(8*qd, 64))
	mem, err := region.Mmap(len(reqs) * diskBlock)
	if err != nil {
		return 0, 0, 0, err
	}
	defer region.Munmap(mem)
	for i := range reqs {
		reqs[i].Buf = mem[i*diskBlock : (i+1)*diskBlock]
	}
	return batchesOn(f, size, reqs, qd, diskBlock, d)
}

// fioReads runs fio's io_uring engine on the disk file at depth qd for
// d, and takes the reads, the run time and the CPU time (its usr and sys
// shares of the run time) from its JSON report. fio submits and reaps up
// to qd at a time: by default it enters the kernel once per read, which
// on a virtual disk (a doorbell per submit) measured half the IOPS at
// depth 128 and would be no limit.
func fioReads(qd int, d time.Duration) (float64, time.Duration, time.Duration, error) {
	bin, err := exec.LookPath("fio")
	if err != nil {
		return 0, 0, 0, errors.New("fio not installed (apt-get install fio)")
	}
	path, size, err := diskFile()
	if err != nil {
		return 0, 0, 0, err
	}
	out, err := exec.Command(bin, "--name=randread", "--filename="+path, "--readonly",
		"--size="+strconv.FormatInt(size, 10), "--rw=randread", "--bs=4k", "--direct=1",
		"--ioengine=io_uring", "--iodepth="+strconv.Itoa(qd),
		"--iodepth_batch_submit="+strconv.Itoa(qd), "--iodepth_batch_complete_max="+strconv.Itoa(qd),
		"--norandommap", "--randrepeat=0",
		fmt.Sprintf("--runtime=%dms", max(d.Milliseconds(), 1)), "--time_based",
		"--output-format=json").Output()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("fio: %v", err)
	}
	var rep struct {
		Jobs []struct {
			Runtime float64 `json:"job_runtime"` // ms
			Usr     float64 `json:"usr_cpu"`     // % of the run time
			Sys     float64 `json:"sys_cpu"`
			Read    struct {
				IOs float64 `json:"total_ios"`
			} `json:"read"`
			Error int `json:"error"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return 0, 0, 0, fmt.Errorf("fio's report: %v", err)
	}
	if len(rep.Jobs) != 1 || rep.Jobs[0].Error != 0 || rep.Jobs[0].Runtime <= 0 {
		return 0, 0, 0, fmt.Errorf("fio's report: %.200s", out)
	}
	j := rep.Jobs[0]
	wall := time.Duration(j.Runtime * float64(time.Millisecond))
	cpu := time.Duration((j.Usr + j.Sys) / 100 * float64(wall))
	return j.Read.IOs, cpu, wall, nil
}
