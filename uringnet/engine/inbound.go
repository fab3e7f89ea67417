package engine

import "io"

// inbound is gnet.Reader over the bytes delivered to the current
// callback, shared by stream and datagram conns: buf is the unread part.
// Slices it returns are valid only inside the callback.
type inbound struct {
	buf []byte
}

// Read copies unread inbound bytes into p. As in gnet, it returns
// io.ErrShortBuffer when there is nothing to read.
func (c *inbound) Read(p []byte) (int, error) {
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	if n == 0 && len(p) > 0 {
		return 0, io.ErrShortBuffer
	}
	return n, nil
}

// WriteTo writes the unread inbound bytes to w.
func (c *inbound) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(c.buf)
	c.buf = c.buf[n:]
	return int64(n), err
}

// Next returns the next n bytes (all, if n <= 0) and consumes them. The
// slice is valid only inside the current callback.
func (c *inbound) Next(n int) ([]byte, error) {
	if n > len(c.buf) {
		return nil, io.ErrShortBuffer
	}
	if n <= 0 {
		n = len(c.buf)
	}
	b := c.buf[:n:n]
	c.buf = c.buf[n:]
	return b, nil
}

// Peek returns the next n bytes (all, if n <= 0) without consuming them.
// The slice is valid only inside the current callback.
func (c *inbound) Peek(n int) ([]byte, error) {
	if n > len(c.buf) {
		return nil, io.ErrShortBuffer
	}
	if n <= 0 {
		n = len(c.buf)
	}
	return c.buf[:n:n], nil
}

// Discard consumes n bytes (all, if n <= 0 or more than are buffered).
func (c *inbound) Discard(n int) (int, error) {
	if n <= 0 || n >= len(c.buf) {
		n = len(c.buf)
	}
	c.buf = c.buf[n:]
	return n, nil
}

// InboundBuffered returns the number of unread inbound bytes.
func (c *inbound) InboundBuffered() int { return len(c.buf) }
