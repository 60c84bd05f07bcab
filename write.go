//go:build !js

package websocket

import (
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"time"
)

// This file is the write path, the only code that builds outgoing frames:
// messages and streaming writers, pings, the output queue that lets several
// frames share one write to the network, and the control frames the reader
// owes, which it leaves for whoever holds the write lock so that a read
// never waits on the write side.

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
//
// When permessage-deflate was negotiated, a message of at least
// CompressionOptions.Threshold bytes is compressed. WriteMessage neither
// keeps p nor changes it: the caller may reuse it as soon as it returns.
func (c *Conn) WriteMessage(typ MessageType, p []byte) error {
	return c.writeMessage(typ, p, c.compress != nil && len(p) >= c.compress.threshold)
}

// WriteMessageCompressed is WriteMessage with the choice of compression
// made by the caller, whatever the message's size: compress false sends p
// uncompressed, which is how to keep secrets out of a compression context
// that carries data an attacker chooses, or to skip data that is already
// compressed, such as images. compress true compresses p if
// permessage-deflate was negotiated.
func (c *Conn) WriteMessageCompressed(typ MessageType, p []byte, compress bool) error {
	return c.writeMessage(typ, p, compress && c.compress != nil)
}

// writeMessage sends p as one message, compressed if compress is set.
func (c *Conn) writeMessage(typ MessageType, p []byte, compress bool) error {
	if typ != TextMessage && typ != BinaryMessage {
		return errBadMessageType
	}
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	if !compress {
		return c.writeFrame(true, 0, opcode(typ), p)
	}
	bp, out := c.compress.compressMessage(p)
	err := c.writeFrame(true, rsv1Bit, opcode(typ), out)
	putBuffer(bp)
	return err
}

// Flush sends the frames that WriteMessage queued, if any, and returns once
// they have been handed to the operating system.
func (c *Conn) Flush() error {
	c.writeMu.Lock()
	defer c.unlockWrite(true)
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
	w := &messageWriter{c: c, op: opcode(typ), bufp: b, buf: (*b)[:0]}
	if c.compress != nil {
		w.rsv = rsv1Bit
	}
	return w, nil
}

// messageWriter streams one message; see NextWriter. The payload of the next
// fragment collects in buf, a pooled buffer.
type messageWriter struct {
	c      *Conn
	op     opcode // opcode of the next frame: the message type, then continuation
	rsv    byte   // RSV bits of the next frame: RSV1 on the first of a compressed message
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

// flush sends payload as the next fragment, compressed if the message is
// (the rsv of its first frame says so).
func (w *messageWriter) flush(fin bool, payload []byte) error {
	if z := w.c.compress; z != nil {
		bp := getBuffer(deflateBound(len(payload)))
		out := z.compressChunk((*bp)[:0], payload)
		if fin {
			out = out[:len(out)-4] // RFC 7692 section 7.2.1
		}
		w.err = w.c.writeFrame(fin, w.rsv, w.op, out)
		putBuffer(bp)
	} else {
		w.err = w.c.writeFrame(fin, 0, w.op, payload)
	}
	w.op, w.rsv = opContinuation, 0
	w.buf = w.buf[:0]
	return w.err
}

// Ping sends a ping frame with the given payload, at most 125 bytes. The
// peer's pong goes to Options.OnPong during a read.
func (c *Conn) Ping(payload []byte) error {
	if len(payload) > maxControlPayload {
		return errControlTooLong
	}
	return c.writeFrame(true, 0, opPing, payload)
}

// writeFrame sends one frame with payload p. The frame is appended to the
// output queue, which is then written to the network unless the frame may
// wait (see WriteMessage); control frames never wait. A frame too large for
// the queue is written directly, after the queue. Control frames the reader
// owes go out first. The caller holds msgMu for a data frame, so that data
// frames of different messages never interleave.
func (c *Conn) writeFrame(fin bool, rsv byte, op opcode, p []byte) error {
	c.writeMu.Lock()
	defer c.unlockWrite(true)
	c.queueOwed()
	if err := c.writeAllowed(); err != nil {
		return err // unlockWrite sends what queueOwed queued
	}
	h := c.newHeader(fin, op, len(p))
	h.rsv = rsv
	size := headerSize(h.length, h.masked) + len(p)
	if c.outp != nil && len(*c.outp)+size > c.wsize {
		if err := c.flushLocked(); err != nil {
			return err
		}
	}
	if size > c.wsize {
		return c.writeDirect(h, p)
	}
	c.appendFrame(h, p)
	if op.isControl() || !c.has(stInputPending) {
		return c.flushLocked()
	}
	c.flushSoon(flushDelay)
	return nil
}

// appendFrame appends a frame to the output queue, taking a queue buffer
// from the pool if none is held. Data frames fit, since writeFrame flushes
// first; a control frame the reader owes may not, and then the queue moves
// to a larger buffer, so that the reader never waits for room. The caller
// holds writeMu.
func (c *Conn) appendFrame(h header, p []byte) {
	size := headerSize(h.length, h.masked) + len(p)
	if c.outp == nil {
		c.outp = getBuffer(c.wsize)
		*c.outp = (*c.outp)[:0]
	}
	if q := *c.outp; len(q)+size > cap(q) {
		bigger := getBuffer(len(q) + size)
		*bigger = append((*bigger)[:0], q...)
		putBuffer(c.outp)
		c.outp = bigger
	}
	start := len(*c.outp)
	out := (*c.outp)[:start+size]
	*c.outp = out
	n := start + putHeader(out[start:], h)
	copy(out[n:], p)
	if h.masked {
		mask(h.key, 0, out[n:])
	}
}

// flushLocked writes the output queue to the network, waiting as long as
// the write deadline allows, and releases its buffer. The caller holds
// writeMu and may wait.
func (c *Conn) flushLocked() error {
	if c.outp == nil {
		return nil
	}
	_, err := c.conn.Write(*c.outp)
	c.releaseQueue()
	return c.setWriteErr(err)
}

// flushNoWaitLocked writes what the socket takes of the output queue at
// once, without waiting, and leaves the rest to the background flush (the
// flush timer's goroutine, which may wait). The caller holds writeMu and
// must not wait.
func (c *Conn) flushNoWaitLocked() {
	if c.outp == nil || c.writeErr != nil {
		return
	}
	q := *c.outp
	n, err := c.writeNoWait(q)
	switch {
	case n == len(q):
		c.releaseQueue()
	case err == nil || err == errWouldBlock:
		*c.outp = q[:copy(q, q[n:])]
		if c.closeSent {
			// A close frame is bounded by the close timeout.
			c.setCloseWriteDeadline()
		}
		c.flushSoon(0)
	default:
		c.releaseQueue()
		c.setWriteErr(err)
	}
}

// errWouldBlock reports a write that could not be done without waiting.
var errWouldBlock = errors.New("websocket: write would block")

// writeNoWait writes what the socket takes of b at once, whatever the
// write deadline: it never waits, and what it sends is the Conn's own
// business (raw.Control, unlike raw.Write, does not look at the deadline;
// writeMu keeps other writes out). Without a raw socket it writes nothing
// and returns errWouldBlock. The caller holds writeMu.
func (c *Conn) writeNoWait(b []byte) (int, error) {
	if c.raw == nil {
		return 0, errWouldBlock
	}
	w := c.writeExtra()
	if w.rawWrite == nil {
		w.rawWrite = c.writeRaw
	}
	w.rawBuf = b
	err := c.raw.Control(w.rawWrite)
	w.rawBuf = nil
	if err != nil {
		return 0, err
	}
	return w.rawN, w.rawErr
}

// writeRaw is called by raw.Control with the socket: it makes one write of
// wextra.rawBuf, which never waits for writability.
func (c *Conn) writeRaw(fd uintptr) {
	w := c.wextra
	w.rawN, w.rawErr = rawWrite(fd, w.rawBuf)
}

// releaseQueue gives the output queue back to the pool and disarms its
// flush timer. The caller holds writeMu.
func (c *Conn) releaseQueue() {
	if c.timerArmed {
		c.wextra.flushTimer.Stop()
		c.timerArmed = false
	}
	putBuffer(c.outp)
	c.outp = nil
}

// flushSoon arms the flush timer to send the queue after d, or sooner if it
// is already armed for sooner. The caller holds writeMu.
func (c *Conn) flushSoon(d time.Duration) {
	w := c.writeExtra()
	switch {
	case w.flushTimer == nil:
		w.flushTimer = time.AfterFunc(d, c.timerFlush)
	case !c.timerArmed || d == 0:
		w.flushTimer.Reset(d)
	default:
		return
	}
	c.timerArmed = true
}

// timerFlush sends the queued frames: those that waited flushDelay for
// company, and those a reader left because the socket was full.
func (c *Conn) timerFlush() {
	c.writeMu.Lock()
	c.timerArmed = false
	if c.writeErr == nil && c.outp != nil {
		extended := c.extendWriteDeadline()
		c.flushLocked()
		if extended {
			c.restoreWriteDeadline()
		}
	}
	c.unlockWrite(true)
}

// flushBeforeWait is called by the reader before it waits for the network:
// writes may no longer queue, and what is queued goes out now, without
// waiting (see flushNoWait).
func (c *Conn) flushBeforeWait() {
	c.setInputPending(false)
	c.flushNoWait()
}

// flushNoWait is how the reader, which must never wait on the write side,
// sends: if no writer holds writeMu, it queues the control frames it owes
// and writes the queue without waiting; otherwise the writer sends them as
// it unlocks.
func (c *Conn) flushNoWait() {
	if c.writeMu.TryLock() {
		c.queueOwed()
		c.flushNoWaitLocked()
		c.unlockWrite(false)
	}
}

// unlockWrite releases writeMu, first sending the control frames owed
// meanwhile and any queue that no timer will send (waiting only if wait is
// set, which the reader never sets), and
// closing the network connection if it is to be closed once the queue is
// written. Whoever records an owed frame or stCloseWhenFlushed and then
// fails to take writeMu relies on the holder to see it here, so the state is
// looked at again after the unlock. The caller holds writeMu.
func (c *Conn) unlockWrite(wait bool) {
	for {
		c.queueOwed()
		if c.outp != nil && !c.timerArmed {
			// Nothing else will send these frames: control frames
			// just queued, or a queue its writer gave up on.
			if c.writeErr != nil {
				c.releaseQueue()
			} else if wait {
				c.flushLocked()
			} else {
				c.flushNoWaitLocked()
			}
		}
		if c.has(stCloseWhenFlushed) && (c.outp == nil || c.writeErr != nil) {
			c.closeConn()
		}
		queued := c.outp != nil // the flush timer will come back for it
		c.writeMu.Unlock()
		s := c.state.Load()
		if s&stOwed == 0 && (s&stCloseWhenFlushed == 0 || queued || s&stClosed != 0) {
			return
		}
		if !c.writeMu.TryLock() {
			return
		}
	}
}

// closeWhenFlushed closes the network connection as soon as the output
// queue, which holds our close frame, has been written; a server ends the
// closing handshake this way (RFC 6455 section 7.1.1).
func (c *Conn) closeWhenFlushed() {
	c.state.Or(stCloseWhenFlushed)
	if c.writeMu.TryLock() {
		c.unlockWrite(false)
	}
}

// owedControl holds the control frames the reader owes the peer until the
// holder of writeMu queues them: pongs, and a close frame. It is made on
// first use, so connections that never see a ping cost nothing.
type owedControl struct {
	pongs       []byte // the payloads of pings owed a pong, each after its length byte
	ping        []byte // the payload of a ping to send (keepalive, PingRTT), if pingDue
	pingDue     bool
	rtt         []rttWaiter // PingRTT calls waiting for their pong, each with its own ping
	closeDue    bool
	closeCode   StatusCode
	closeReason string
}

// maxOwedPongs bounds the pong payloads owed at once. A peer that pings
// faster than it reads our answers gets only the latest answered, as RFC
// 6455 section 5.5.3 allows, so that a ping flood costs neither memory nor
// a write per ping.
const maxOwedPongs = 1 << 10

// owedLocked returns c.owed, making it on first use. The caller holds ctlMu.
func (c *Conn) owedLocked() *owedControl {
	if c.owed == nil {
		c.owed = new(owedControl)
	}
	return c.owed
}

// owePong records that a ping with payload p is owed a pong. Pongs go out,
// in one write with whatever else is to be sent, when the read ends or
// waits for the network, or with the next frame a writer sends. The caller
// holds readMu.
func (c *Conn) owePong(p []byte) {
	if c.has(stClosing) {
		return
	}
	c.ctlMu.Lock()
	o := c.owedLocked()
	if len(o.pongs)+1+len(p) > maxOwedPongs {
		o.pongs = o.pongs[:0]
	}
	o.pongs = append(append(o.pongs, byte(len(p))), p...)
	c.state.Or(stOwed)
	c.ctlMu.Unlock()
}

// oweClose records a close frame for the holder of writeMu to send, and
// makes the close timeout the write deadline, so that a writer blocked on a
// peer that stopped reading gives the lock up in time.
func (c *Conn) oweClose(code StatusCode, reason string) {
	c.ctlMu.Lock()
	o := c.owedLocked()
	o.closeDue, o.closeCode, o.closeReason = true, code, reason
	c.state.Or(stOwed)
	c.ctlMu.Unlock()
	c.setCloseWriteDeadline()
	if c.writeMu.TryLock() { // the holder may have let go meanwhile
		c.unlockWrite(false)
	}
}

// queueOwed moves the owed control frames into the output queue. It does
// not wait for anything, so ctlMu may be held throughout. The caller holds
// writeMu.
func (c *Conn) queueOwed() {
	if !c.has(stOwed) {
		return
	}
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	o := c.owed
	c.state.And(^uint32(stOwed))
	for p := o.pongs; len(p) > 0; p = p[1+p[0]:] {
		if c.writeErr == nil && !c.closeSent {
			c.appendFrame(c.newHeader(true, opPong, int(p[0])), p[1:1+p[0]])
		}
	}
	o.pongs = o.pongs[:0]
	if o.pingDue && c.writeErr == nil && !c.closeSent {
		c.appendFrame(c.newHeader(true, opPing, len(o.ping)), o.ping)
	}
	o.pingDue = false
	for i := range o.rtt {
		if w := &o.rtt[i]; w.due {
			switch {
			case c.writeErr != nil:
				w.answer(pingNotSent(c.writeErr))
			case c.closeSent:
				w.answer(ErrClosed)
			default:
				c.appendFrame(c.newHeader(true, opPing, len(w.payload)), w.payload[:])
			}
			w.due = false
		}
	}
	if o.closeDue {
		c.queueClose(o.closeCode, o.closeReason)
		o.closeDue, o.closeReason = false, ""
	}
}

// queueClose puts our close frame in the output queue, unless one has been
// sent or a failed write forbids more frames. The caller holds writeMu.
func (c *Conn) queueClose(code StatusCode, reason string) {
	if c.writeErr != nil || c.closeSent {
		return
	}
	var buf [maxControlPayload]byte
	p := appendClosePayload(buf[:0], code, reason)
	c.appendFrame(c.newHeader(true, opClose, len(p)), p)
	c.closeSent = true
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

	// writeNoWait's call of writeRaw, bound once, with its argument and
	// results.
	rawWrite func(fd uintptr)
	rawBuf   []byte
	rawN     int
	rawErr   error
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
	if c.has(stClosing) {
		return ErrClosed
	}
	return nil
}

// setWriteErr records a failed write: part of a frame may be on the wire, so
// no further frame can follow. The caller holds writeMu.
func (c *Conn) setWriteErr(err error) error {
	if err != nil && c.writeErr == nil {
		c.writeErr = err
		c.failRTTWaiters(err)
	}
	return err
}

// failRTTWaiters answers every PingRTT call with err: a failed write may
// have lost its ping with the queue. The caller holds writeMu, not ctlMu.
func (c *Conn) failRTTWaiters(err error) {
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	if c.owed == nil {
		return
	}
	for i := range c.owed.rtt {
		c.owed.rtt[i].answer(pingNotSent(err))
	}
}

// pingNotSent is PingRTT's error when a failed write, err, leaves its ping
// unsent: it was queued behind the failure, or came after it.
func pingNotSent(err error) error {
	return fmt.Errorf("websocket: ping not sent: a write failed: %w", err)
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
