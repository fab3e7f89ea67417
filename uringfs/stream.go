package uringfs

import (
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/uring-go/uring/internal/reactor"
	"github.com/uring-go/uring/internal/splice"
	"github.com/uring-go/uring/uring"
	"golang.org/x/sys/unix"
)

// Streaming parameters of WriteTo: streamDepth reads of streamChunk bytes
// are kept in flight ahead of the writer.
const (
	streamChunk = 256 << 10
	streamDepth = 8
)

var streamBufs = sync.Pool{New: func() any { b := make([]byte, streamChunk*streamDepth); return &b }}

// WriteTo writes the file from its offset to the end to w and advances
// the offset, as io.Copy would. For a regular file it does better than
// io.Copy: when w is an *os.File that accepts splice(2) (a pipe, a
// character device such as /dev/null, a socket), the bytes are spliced
// from the page cache without being copied through user memory; otherwise
// reads are pipelined, several in flight on io_uring while w consumes
// earlier ones, and written in order. Other files are copied a read at a
// time.
//
// Errors writing to w are returned as w returned them; those from the
// splice path, which makes no Write call, are a *fs.PathError with Op
// "write" and w's name, as os.File.Write would return.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if err := f.acquire("read"); err != nil {
		return 0, err
	}
	defer f.mu.decref()
	f.pos.Lock()
	defer f.pos.Unlock()
	bp := streamBufs.Get().(*[]byte)
	defer streamBufs.Put(bp)
	buf := *bp

	if splice.Mode(f.fd) != unix.S_IFREG || f.exec == nil {
		return f.copyTo(w, buf, -1)
	}
	start, err := unix.Seek(f.fd, 0, io.SeekCurrent)
	if err != nil {
		return f.copyTo(w, buf, -1)
	}
	var n int64
	if of, ok := w.(*os.File); ok {
		var handled bool
		n, handled, err = f.spliceTo(of, start, buf)
		if !handled {
			var m int64
			m, err = f.pipelineTo(w, buf, start+n)
			n += m
		}
	} else {
		n, err = f.pipelineTo(w, buf, start)
	}
	if _, serr := unix.Seek(f.fd, start+n, io.SeekStart); serr != nil && err == nil {
		err = f.wrapErr("seek", serr)
	}
	return n, err
}

// copyTo reads from off (-1: at the file offset) and writes to w until
// end of file, a read at a time. The caller holds a reference and f.pos.
func (f *File) copyTo(w io.Writer, buf []byte, off int64) (int64, error) {
	var total int64
	for {
		n, err := f.pread(buf, off)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
			if off >= 0 {
				off += int64(n)
			}
		}
		if err != nil {
			return total, f.wrapErr("read", err)
		}
		if n == 0 {
			return total, nil
		}
	}
}

// pipelineTo streams a regular file from off to w with streamDepth
// positioned reads in flight. After a short read (end of file, or a file
// that shrank), the reads queued past it are collected and dropped, and
// the rest continues one read at a time, so no bytes are skipped.
func (f *File) pipelineTo(w io.Writer, buf []byte, off int64) (int64, error) {
	q := readAhead{f: f, next: off}
	for i := range q.slots {
		q.slots[i].b = buf[i*streamChunk : (i+1)*streamChunk]
	}
	var err error // the first read or write error
	for i := 0; i < streamDepth && err == nil; i++ {
		err = q.start(i)
	}
	var total int64
	eof := false
	// Every started read is waited for, whatever fails, before the
	// buffers go back to the pool.
	for q.inflight > 0 {
		s, n, rerr := q.collect()
		switch {
		case err != nil || eof:
			continue // dropped
		case rerr != nil:
			err = f.wrapErr("read", rerr)
			continue
		case n > 0:
			m, werr := w.Write(s.b[:n])
			total += int64(m)
			if err = werr; err != nil {
				continue
			}
		}
		if n < len(s.b) {
			eof, q.next = true, s.off+int64(n)
		} else {
			err = q.start(q.prev())
		}
	}
	if err != nil || !eof {
		return total, err
	}
	// The short read may not be the end (a file growing meanwhile);
	// finish one read at a time from where it stopped.
	m, err := f.copyTo(w, buf[:streamChunk], q.next)
	return total + m, err
}

// readAhead is pipelineTo's ring of reads in flight: slots[head] is the
// oldest, next the offset of the next read to start.
type readAhead struct {
	f        *File
	slots    [streamDepth]readSlot
	head     int
	inflight int
	next     int64
}

type readSlot struct {
	o   *reactor.Operation
	off int64
	b   []byte
}

// start starts slot i's read at next; an error is wrapped as a read's.
func (q *readAhead) start(i int) error {
	s, fd := &q.slots[i], q.f.fd
	s.off = q.next
	b, off := s.b, s.off
	o, err := q.f.start(func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.Read(fd, b, off, o) })
	if err != nil {
		return q.f.wrapErr("read", err)
	}
	s.o = o
	q.next += int64(len(b))
	q.inflight++
	return nil
}

// collect waits for the oldest read and moves head past it.
func (q *readAhead) collect() (*readSlot, int, error) {
	s, fd := &q.slots[q.head], q.f.fd
	n, err := q.f.wait(s.o)
	s.o = nil
	if err == syscall.ECANCELED {
		// Cancelled unasked (see reactor.Run): read the slot again,
		// through Run, which bounds how often.
		b, off := s.b, s.off
		n, err = q.f.run(func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.Read(fd, b, off, o) })
	}
	q.inflight--
	q.head = (q.head + 1) % streamDepth
	return s, n, err
}

// prev is the slot collect returned last.
func (q *readAhead) prev() int { return (q.head + streamDepth - 1) % streamDepth }
