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
		return f.copyTo(w, buf)
	}
	start, err := unix.Seek(f.fd, 0, io.SeekCurrent)
	if err != nil {
		return f.copyTo(w, buf)
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

// copyTo reads at the file offset and writes to w until end of file. The
// caller holds a reference and f.pos.
func (f *File) copyTo(w io.Writer, buf []byte) (int64, error) {
	var total int64
	for {
		n, err := f.pread(buf, -1)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
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
	type slot struct {
		o   *reactor.Operation
		off int64
		b   []byte
	}
	var slots [streamDepth]slot
	fd := f.fd
	head, inflight := 0, 0 // slots[head] is the oldest read
	next := off            // offset of the next read to start
	eof := false
	var total int64
	var werr error
	startRead := func(i int) error {
		s := &slots[i]
		s.off = next
		b := s.b
		o, err := f.start(func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.Read(fd, b, s.off, o) })
		if err != nil {
			return err
		}
		s.o = o
		next += int64(len(b))
		inflight++
		return nil
	}
	for i := range slots {
		slots[i].b = buf[i*streamChunk : (i+1)*streamChunk]
	}
	var rerr error
	for i := 0; i < streamDepth; i++ {
		if rerr = startRead(i); rerr != nil {
			break
		}
	}
	// Every started read is waited for, whatever fails, before the
	// buffers go back to the pool.
	for inflight > 0 {
		s := &slots[head]
		n, err := f.wait(s.o)
		s.o = nil
		if err == syscall.ECANCELED {
			// Cancelled unasked (see reactor.Run): read the slot
			// again, through Run, which bounds how often.
			b, soff := s.b, s.off
			n, err = f.run(func(r *reactor.Ring, o *reactor.Operation) (uring.Job, error) { return r.Read(fd, b, soff, o) })
		}
		inflight--
		if err == nil && werr == nil && rerr == nil && !eof {
			if n > 0 {
				m, e := w.Write(s.b[:n])
				total += int64(m)
				werr = e
			}
			if n < len(s.b) {
				eof = true
				next = s.off + int64(n)
			}
		} else if err != nil && rerr == nil && !eof {
			rerr = err
		}
		if !eof && werr == nil && rerr == nil {
			if err := startRead(head); err != nil {
				rerr = err
			}
		}
		head = (head + 1) % streamDepth
	}
	if werr != nil {
		return total, werr
	}
	if rerr != nil {
		return total, f.wrapErr("read", rerr)
	}
	if eof {
		// The short read may not be the end (a file growing meanwhile);
		// finish one read at a time from where it stopped.
		for {
			n, err := f.pread(buf[:streamChunk], next)
			if err != nil {
				return total, f.wrapErr("read", err)
			}
			if n == 0 {
				return total, nil
			}
			m, e := w.Write(buf[:n])
			total += int64(m)
			next += int64(n)
			if e != nil {
				return total, e
			}
		}
	}
	return total, nil
}
