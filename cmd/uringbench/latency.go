package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/bits"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

var flagRate = flag.Float64("rate", 0, "internal: requests per second for -load latency; 0 for a closed loop")

func init() {
	groupDocs["latency"] = "64 B echoes on a schedule (open loop), latency measured from each request's scheduled send time, so a server that falls behind shows its queue; the rates are shares of net's closed-loop rate with the same client, measured first"
	clientDocs[clientSched] = "one thread in a child of this program, an epoll loop of raw read(2) and write(2) with a timerfd for the schedule; requests go to the connections in turn"
}

// clientSched is the latency group's load client.
const clientSched = "sched"

// netMax is net's closed-loop rate with the latency client, measured by
// the latency group's first case, from which the open-loop rates follow.
var netMax struct {
	sync.Mutex
	rates []float64
}

func latencyCases() []benchCase {
	const size = 64
	conns := 50
	if *flagShort {
		conns = 8
	}
	netMax.Lock()
	netMax.rates = nil
	netMax.Unlock()
	closed := benchCase{
		name: fmt.Sprintf("closed loop, %d conns (=100%%)", conns),
		impls: []impl{{name: "net", baseline: true, run: func(d time.Duration) (measurement, error) {
			m, err := serverLoad("echo-net", schedClient(conns, size, 0), d)
			if err == nil && m.wall > 0 && m.ops > 0 {
				netMax.Lock()
				netMax.rates = append(netMax.rates, m.ops/m.wall.Seconds())
				netMax.Unlock()
			}
			return m, err
		}}},
	}
	cs := []benchCase{closed}
	for _, pct := range []int{50, 90} {
		bc := benchCase{name: fmt.Sprintf("open loop, %d%% of net's max", pct)}
		for i, srv := range connServers() {
			bc.impls = append(bc.impls, impl{
				name:     srv.name,
				baseline: i == 0,
				run: func(d time.Duration) (measurement, error) {
					netMax.Lock()
					max := median(netMax.rates)
					netMax.Unlock()
					if max == 0 {
						return measurement{}, errors.New("no closed-loop rate for net to take a share of")
					}
					rate := max * float64(pct) / 100
					m, err := serverLoad(srv.kind, schedClient(conns, size, rate), d)
					m.figures = append([]Figure{{Name: "offered", Value: rate, Unit: "/s"}}, m.figures...)
					return m, err
				},
			})
		}
		cs = append(cs, bc)
	}
	return cs
}

// schedClient is the latency group's load client at rate requests per
// second (0: each connection sends its next request when the last one's
// echo is back).
func schedClient(conns, size int, rate float64) loadClient {
	return goLoad(clientSched, "latency", "-conns", strconv.Itoa(conns), "-size", strconv.Itoa(size), "-rate", strconv.FormatFloat(rate, 'f', 0, 64))
}

// latHist is a histogram of latencies in nanoseconds with 64 buckets per
// power of two, so a percentile read from it is within 1.6%.
type latHist struct {
	n      int64
	counts [64 << latSubBits]int64
}

const latSubBits = 6

func latBucket(v uint64) int {
	if v < 1<<latSubBits {
		return int(v)
	}
	e := bits.Len64(v) - latSubBits - 1 // v>>e is in [64, 128)
	return (e+1)<<latSubBits + int(v>>e) - 1<<latSubBits
}

// latValue is the middle of bucket i.
func latValue(i int) uint64 {
	if i < 1<<latSubBits {
		return uint64(i)
	}
	e := i>>latSubBits - 1
	m := uint64(i&(1<<latSubBits-1)) + 1<<latSubBits
	return m<<e + (uint64(1)<<e)/2
}

func (h *latHist) add(ns int64) {
	h.counts[latBucket(uint64(max(ns, 0)))]++
	h.n++
}

// quantile is the latency that a share q of the samples do not exceed.
func (h *latHist) quantile(q float64) uint64 {
	want := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= want && c > 0 {
			return latValue(i)
		}
	}
	return 0
}

// schedConn is one of the latency client's connections.
type schedConn struct {
	fd   int
	id   byte
	out  []byte // written when the socket takes it
	in   []byte // a partial echo
	sent int64  // requests sent
}

// loadLatency is the latency group's client: conns connections to addr,
// each request size bytes carrying its scheduled send time, sent at rate
// requests per second in turn over the connections (0: a closed loop,
// each connection sending again when its echo is back). Latency is
// measured from the scheduled time, so time a request waits in the
// client because the server has not taken the previous ones counts too.
// It runs on one thread, in an epoll loop of raw reads and writes woken by
// a timerfd at the next send time (Go's timers on one P sleep a
// millisecond when asked for less), and reads the child protocol from
// stdin in the same loop: "sample" is answered with the echoes so far and
// the percentiles of the latencies since the previous sample.
func loadLatency(addr string, conns, size int, rate float64) error {
	fail := func(err error) error {
		fmt.Println("error:", err)
		return err
	}
	if size < 9 {
		return fail(fmt.Errorf("size %d: a request carries an 8-byte time", size))
	}
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return fail(err)
	}
	sa := &unix.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(ep)
	cs := make([]*schedConn, 0, conns)
	defer func() {
		for _, c := range cs {
			unix.Close(c.fd)
		}
	}()
	for i := range conns {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fail(err)
		}
		cs = append(cs, &schedConn{fd: fd, id: byte(i + 1)})
		if err := unix.Connect(fd, sa); err != nil {
			return fail(fmt.Errorf("connect %s: %v", addr, err))
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := unix.SetNonblock(fd, true); err != nil {
			return fail(err)
		}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}); err != nil {
			return fail(err)
		}
	}
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(tfd)
	const timerTag, stdinTag = -1, -2
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, tfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: timerTag}); err != nil {
		return fail(err)
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, 0, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: stdinTag}); err != nil {
		return fail(err)
	}

	// now is CLOCK_MONOTONIC in nanoseconds, the timerfd's clock, read
	// through Go's clock (the vDSO) rather than a system call.
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	base, t0 := ts.Nano(), time.Now()
	now := func() int64 { return base + int64(time.Since(t0)) }

	var (
		hist    latHist
		echoes  int64
		pending []*schedConn // connections with unwritten requests
	)
	flush := func(c *schedConn) error {
		for len(c.out) > 0 {
			n, err := unix.Write(c.fd, c.out)
			if err == unix.EAGAIN {
				return nil
			}
			if err != nil {
				return fmt.Errorf("write: %v", err)
			}
			c.out = c.out[n:]
		}
		c.out = c.out[:0:cap(c.out)]
		return nil
	}
	send := func(c *schedConn, at int64) error {
		wasEmpty := len(c.out) == 0
		c.out = binary.LittleEndian.AppendUint64(c.out, uint64(at))
		for range size - 8 {
			c.out = append(c.out, c.id)
		}
		c.sent++
		if !wasEmpty {
			return nil
		}
		if err := flush(c); err != nil {
			return err
		}
		if len(c.out) > 0 {
			pending = append(pending, c)
		}
		return nil
	}
	fmt.Println("ready")

	closedLoop := rate <= 0
	start := now() + int64(time.Millisecond)
	next, k := start, int64(0)
	if closedLoop {
		for _, c := range cs {
			if err := send(c, now()); err != nil {
				return err
			}
		}
	}
	evs := make([]unix.EpollEvent, 64)
	scratch := make([]byte, 64<<10)
	var stdin []byte
	for {
		if !closedLoop {
			for t := now(); next <= t; {
				if err := send(cs[k%int64(len(cs))], next); err != nil {
					return err
				}
				k++
				next = start + int64(float64(k)*1e9/rate)
			}
			spec := unix.ItimerSpec{Value: unix.NsecToTimespec(next)}
			if err := unix.TimerfdSettime(tfd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
				return err
			}
		}
		for i := 0; i < len(pending); {
			c := pending[i]
			if err := flush(c); err != nil {
				return err
			}
			if len(c.out) == 0 {
				pending[i] = pending[len(pending)-1]
				pending = pending[:len(pending)-1]
				continue
			}
			i++
		}
		n, err := unix.EpollWait(ep, evs, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for _, ev := range evs[:n] {
			switch ev.Fd {
			case timerTag:
				var b [8]byte
				unix.Read(tfd, b[:])
			case stdinTag:
				m, err := unix.Read(0, scratch)
				if m <= 0 || err != nil {
					return nil // stdin closed: done
				}
				stdin = append(stdin, scratch[:m]...)
				for {
					line, rest, ok := bytes.Cut(stdin, []byte("\n"))
					if !ok {
						break
					}
					stdin = rest
					if string(line) == "sample" {
						s := strconv.FormatInt(echoes, 10)
						if hist.n > 0 {
							s += fmt.Sprintf(" p50=%d p99=%d p99.9=%d", hist.quantile(0.5), hist.quantile(0.99), hist.quantile(0.999))
						}
						hist = latHist{}
						os.Stdout.WriteString(s + "\n")
					}
				}
			default:
				c := cs[ev.Fd]
				for {
					m, err := unix.Read(c.fd, scratch)
					if err == unix.EAGAIN {
						break
					}
					if err != nil {
						return fmt.Errorf("read: %v", err)
					}
					if m == 0 {
						return errors.New("the server closed a connection")
					}
					t := now()
					for b := scratch[:m]; len(b) > 0; {
						take := min(size-len(c.in), len(b))
						c.in = append(c.in, b[:take]...)
						b = b[take:]
						if len(c.in) < size {
							break
						}
						at := int64(binary.LittleEndian.Uint64(c.in))
						for _, x := range c.in[8:] {
							if x != c.id {
								return fmt.Errorf("connection %d: corrupted echo", c.id)
							}
						}
						c.in = c.in[:0]
						hist.add(t - at)
						echoes++
						if closedLoop {
							if err := send(c, t); err != nil {
								return err
							}
						}
					}
				}
			}
		}
	}
}
