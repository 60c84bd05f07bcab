package main

// This file holds the tap: a net.Conn wrapper on the client side that
// follows the frames the server sends and counts the data messages that
// arrive before the server's close frame, independently of the library's
// reader.

import (
	"context"
	"net"
	"sync/atomic"
)

// tapConn passes everything through to the wrapped connection and parses
// the bytes read: first the HTTP response up to its blank line, then
// server frames. Read is called by one goroutine at a time (the Conn reads
// under its read lock), so the parser needs no lock; the results are
// atomic for the other goroutines. Wrapping hides the *net.TCPConn, so the
// library reads tapped connections through Read rather than its raw path.
type tapConn struct {
	net.Conn

	inFrames bool
	crlf     int // how much of "\r\n\r\n" has been matched
	hdr      [14]byte
	hn, need int   // header bytes held, and needed
	skip     int64 // payload bytes of the current frame still to come
	closed   bool  // a close frame has been seen

	msgs   atomic.Int64 // data messages (final frames) before the close frame
	sawEnd atomic.Bool
	bad    atomic.Bool // a frame the tap could not accept: masked, or reserved bits
}

// dialTapped returns a NetDialContext for DialOptions that wraps the
// connection in a tap and records the tap in st.
func dialTapped(st *connState) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		st.tap = &tapConn{Conn: c}
		return st.tap, nil
	}
}

// Read reads from the connection and follows what it read.
func (t *tapConn) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	t.follow(p[:n])
	return n, err
}

// messages returns the data messages seen before the close frame.
func (t *tapConn) messages() int64 { return t.msgs.Load() }

// closeSeen reports whether the server's close frame has been seen.
func (t *tapConn) closeSeen() bool { return t.sawEnd.Load() }

// follow advances the parser over b.
func (t *tapConn) follow(b []byte) {
	for len(b) > 0 && !t.closed {
		switch {
		case !t.inFrames:
			t.crlf = matchCRLF(t.crlf, b[0])
			t.inFrames = t.crlf == 4
			b = b[1:]
		case t.skip > 0:
			k := min(t.skip, int64(len(b)))
			t.skip -= k
			b = b[k:]
		default:
			t.hdr[t.hn] = b[0]
			t.hn++
			b = b[1:]
			t.header()
		}
	}
}

// matchCRLF advances a match of "\r\n\r\n" that has state bytes matched by
// the byte c.
func matchCRLF(state int, c byte) int {
	want := "\r\n\r\n"[state]
	switch {
	case c == want:
		return state + 1
	case c == '\r':
		return 1
	}
	return 0
}

// header finishes a frame header once all its bytes are held.
func (t *tapConn) header() {
	if t.hn == 2 {
		t.need = 2
		switch t.hdr[1] & 0x7f {
		case 126:
			t.need += 2
		case 127:
			t.need += 8
		}
		if t.hdr[1]&0x80 != 0 {
			t.need += 4 // a masking key, which a server must not send
			t.bad.Store(true)
		}
		if t.hdr[0]&0x70 != 0 {
			t.bad.Store(true) // no extension is negotiated
		}
	}
	if t.hn < 2 || t.hn < t.need {
		return
	}
	var length int64
	ext := 0 // bytes of extended length
	switch n := int64(t.hdr[1] & 0x7f); n {
	case 126:
		ext = 2
	case 127:
		ext = 8
	default:
		length = n
	}
	for _, c := range t.hdr[2 : 2+ext] {
		length = length<<8 | int64(c)
	}
	fin, op := t.hdr[0]&0x80 != 0, t.hdr[0]&0x0f
	switch {
	case op <= 2 && fin:
		t.msgs.Add(1)
	case op == 8:
		t.closed = true
		t.sawEnd.Store(true)
	}
	t.skip, t.hn = length, 0
}
