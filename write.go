package websocket

import (
	"io"
	mrand "math/rand/v2"
	"net"
	"time"
)

// This file is the write side of a Conn: frames out, the queue that lets
// several frames share one write to the network, and streaming writers.

// flushDelay bounds how long a queued frame waits for the frames that would
// share its write to the network.
const flushDelay = time.Millisecond

// WriteMessage sends p as one message of type typ, in a single frame.
// Concurrent calls are safe; each message goes out whole, after any message
// begun with NextWriter is closed. The payload of a TextMessage must be
// valid UTF-8; it is not checked again here (an echo would pay for it
// twice), and a peer fails the connection with status 1007 if it is not.
//
// WriteMessage normally returns once the frame has been handed to the
// operating system. When the peer has already sent the next frame and it
// sits unread in the Conn's buffer (a peer sending faster than the
// application answers), the frame is queued instead, so that the answers to
// a burst of messages share one write to the network. Queued frames go out
// before the reader next waits for input, when the queue fills, on Flush,
// Close or any control frame, and at most a millisecond later in any case;
// an error in sending them is returned by a later write or Flush.
func (c *Conn) WriteMessage(typ MessageType, p []byte) error {
	if typ != TextMessage && typ != BinaryMessage {
		return errBadMessageType
	}
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	return c.writeFrame(true, opcode(typ), p)
}

// Flush sends the frames that WriteMessage queued, if any, and returns once
// they have been handed to the operating system.
func (c *Conn) Flush() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeErr != nil {
		return c.writeErr
	}
	return c.flushLocked()
}

// NextWriter begins a message of type typ and returns a writer for its
// payload. What is written is buffered and sent as fragments when the buffer
// fills; Close sends the final fragment. Until Close, other data messages
// wait (control frames do not), so the caller must close the writer, and
// must not call WriteMessage or NextWriter on this Conn before doing so.
func (c *Conn) NextWriter(typ MessageType) (io.WriteCloser, error) {
	if typ != TextMessage && typ != BinaryMessage {
		return nil, errBadMessageType
	}
	c.msgMu.Lock()
	b := getBuffer(c.wsize)
	return &messageWriter{c: c, op: opcode(typ), bufp: b, buf: (*b)[:0]}, nil
}

// messageWriter streams one message; see NextWriter. The payload of the next
// fragment collects in buf, a pooled buffer.
type messageWriter struct {
	c      *Conn
	op     opcode // opcode of the next frame: the message type, then continuation
	bufp   *[]byte
	buf    []byte
	closed bool
	err    error
}

// Write buffers p, sending full buffers as fragments.
func (w *messageWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errWriterClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		if len(w.buf) == 0 && len(p) >= cap(w.buf) {
			// Too big to buffer: send it as a fragment of its own.
			if err := w.flush(false, p); err != nil {
				return written, err
			}
			return written + len(p), nil
		}
		k := min(len(p), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		written += k
		p = p[k:]
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(false, w.buf); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// Close sends the final fragment and lets other data messages go.
func (w *messageWriter) Close() error {
	if w.closed {
		return errWriterClosed
	}
	w.closed = true
	defer w.c.msgMu.Unlock()
	if w.err == nil {
		w.flush(true, w.buf)
	}
	putBuffer(w.bufp)
	w.bufp, w.buf = nil, nil
	return w.err
}

// flush sends payload as the next fragment.
func (w *messageWriter) flush(fin bool, payload []byte) error {
	w.err = w.c.writeFrame(fin, w.op, payload)
	w.op = opContinuation
	w.buf = w.buf[:0]
	return w.err
}

// Ping sends a ping frame with the given payload, at most 125 bytes. The
// peer's pong goes to Options.OnPong during a read.
func (c *Conn) Ping(payload []byte) error {
	if len(payload) > maxControlPayload {
		return errControlPayload
	}
	return c.writeFrame(true, opPing, payload)
}

// writeClose sends a close frame unless one has been sent or the network
// connection is closed (it returns ErrClosed then, as a Handler's Close
// after the peer's close does). A server first tries one write that does
// not wait (writeCloseNow). Otherwise the close timeout bounds the frame,
// and any write it waits behind, for a peer that has stopped reading; the
// deadline is set before the frame lock is taken so that a writer blocked
// on such a peer gives the lock up.
func (c *Conn) writeClose(code StatusCode, reason string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if done, err := c.writeCloseNow(code, reason); done {
		return err
	}
	c.conn.SetWriteDeadline(time.Now().Add(c.closeTimeout))
	var buf [maxControlPayload]byte
	return c.writeFrame(true, opClose, appendClosePayload(buf[:0], code, reason))
}

// writeFrame sends one frame with payload p. The frame is appended to the
// output queue, which is then written to the network unless the frame may
// wait (see WriteMessage); control frames never wait. A frame too large for
// the queue is written directly, after the queue. The caller holds msgMu
// for a data frame, so that data frames of different messages never
// interleave.
func (c *Conn) writeFrame(fin bool, op opcode, p []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.writeAllowed(); err != nil {
		return err
	}
	if op == opClose {
		c.closeSent = true
	}
	h := c.newHeader(fin, op, len(p))
	size := headerSize(h.length, h.masked) + len(p)
	if c.outp != nil && len(*c.outp)+size > c.wsize {
		if err := c.flushLocked(); err != nil {
			return err
		}
	}
	if size > c.wsize {
		return c.writeDirect(h, p)
	}
	if c.outp == nil {
		c.outp = getBuffer(c.wsize)
		*c.outp = (*c.outp)[:0]
	}
	start := len(*c.outp)
	out := (*c.outp)[:start+size]
	*c.outp = out
	n := start + putHeader(out[start:], h)
	copy(out[n:], p)
	if h.masked {
		mask(h.key, 0, out[n:])
	}
	if op.isControl() || !c.inputPending.Load() {
		return c.flushLocked()
	}
	if w := c.writeExtra(); w.flushTimer == nil {
		w.flushTimer = time.AfterFunc(flushDelay, c.timerFlush)
		c.timerArmed = true
	} else if !c.timerArmed {
		w.flushTimer.Reset(flushDelay)
		c.timerArmed = true
	}
	return nil
}

// flushLocked writes the output queue to the network and releases its
// buffer. The caller holds writeMu.
func (c *Conn) flushLocked() error {
	if c.outp == nil {
		return nil
	}
	_, err := c.conn.Write(*c.outp)
	c.releaseQueue()
	return c.setWriteErr(err)
}

// releaseQueue gives the output queue, which has been written, back to the
// pool and disarms its flush timer. The caller holds writeMu.
func (c *Conn) releaseQueue() {
	if c.timerArmed {
		c.wextra.flushTimer.Stop()
		c.timerArmed = false
	}
	putBuffer(c.outp)
	c.outp = nil
}

// timerFlush sends frames that have waited flushDelay.
func (c *Conn) timerFlush() {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.timerArmed = false
	if c.writeErr == nil {
		c.flushLocked()
	}
}

// flushBeforeWait is called by the reader before it waits for the network:
// writes may no longer queue, and what is queued goes out now, unless a
// writer holds writeMu, in which case that writer (or the timer) sends it.
func (c *Conn) flushBeforeWait() {
	c.inputPending.Store(false)
	if c.writeMu.TryLock() {
		if c.writeErr == nil {
			c.flushLocked()
		}
		c.writeMu.Unlock()
	}
}

// writeDirect writes a frame too large for the output queue, which is
// empty. Unmasked payloads go out from the caller's memory in one vectored
// write; masked ones are masked a piece at a time in a pooled buffer, never
// in the caller's memory. The caller holds writeMu.
func (c *Conn) writeDirect(h header, p []byte) error {
	d := &c.writeExtra().direct
	hn := putHeader(d.hdr[:], h)
	if !h.masked {
		d.vec = [2][]byte{d.hdr[:hn], p}
		d.bufs = d.vec[:]
		_, err := d.bufs.WriteTo(c.conn)
		d.vec = [2][]byte{} // do not keep the caller's memory reachable
		return c.setWriteErr(err)
	}
	bp := getBuffer(c.wsize)
	defer putBuffer(bp)
	buf := *bp
	n, pos := copy(buf, d.hdr[:hn]), 0
	for len(p) > 0 {
		k := copy(buf[n:], p)
		pos = mask(h.key, pos, buf[n:n+k])
		if _, err := c.conn.Write(buf[:n+k]); err != nil {
			return c.setWriteErr(err)
		}
		p, n = p[k:], 0
	}
	return nil
}

// writeExtra holds what only some connections' writes need: the timer of
// queued frames, the masking key generator of a client, and the scratch of
// frames written directly. It lives apart so that the many connections
// that need none of it stay small. It is guarded by writeMu.
type writeExtra struct {
	flushTimer *time.Timer // sends queued frames after flushDelay
	maskRand   *mrand.ChaCha8
	direct     directWrite
}

// writeExtra returns c's writeExtra, making it on first use. The caller
// holds writeMu, or has the Conn to itself.
func (c *Conn) writeExtra() *writeExtra {
	if c.wextra == nil {
		c.wextra = new(writeExtra)
	}
	return c.wextra
}

// directWrite is the scratch of writeDirect. It is in the heap so that the
// vectored write does not allocate: a local vector would escape through the
// interface call. WriteTo consumes bufs, so it is set anew from vec for each
// frame.
type directWrite struct {
	hdr  [maxHeaderSize]byte
	vec  [2][]byte
	bufs net.Buffers
}

// writeAllowed returns the error that stops a frame from being sent, if any.
// The caller holds writeMu.
func (c *Conn) writeAllowed() error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closeSent {
		return ErrClosed
	}
	return nil
}

// setWriteErr records a failed write: part of a frame may be on the wire, so
// no further frame can follow. The caller holds writeMu.
func (c *Conn) setWriteErr(err error) error {
	if err != nil {
		c.writeErr = err
	}
	return err
}

// newHeader returns the header of a frame we send; client frames get a fresh
// masking key. The caller holds writeMu.
func (c *Conn) newHeader(fin bool, op opcode, length int) header {
	h := header{fin: fin, opcode: op, length: int64(length), masked: !c.server}
	if h.masked {
		u := c.wextra.maskRand.Uint64()
		h.key = [4]byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)}
	}
	return h
}
