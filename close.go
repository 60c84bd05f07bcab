//go:build !js

package websocket

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
	"unicode/utf8"
)

// This file is the closing handshake of RFC 6455 section 7 on a network
// connection: the close frame's payload, Close, CloseNow, failing the
// connection, answering the peer's close, and waiting for the peer. The
// status codes and CloseError are in status.go.

var (
	errCloseOneByte     = errors.New("websocket: close frame payload of 1 byte (a status code needs 2)")
	errCloseCodeInvalid = errors.New("websocket: close frame carries a status code that must not be sent")
	errCloseReasonUTF8  = errors.New("websocket: close frame reason is not valid UTF-8")
)

// parseClosePayload decodes a received close frame payload. It returns the
// status code to report and, if the payload breaks RFC 6455, an error and
// the status code to fail the connection with.
func parseClosePayload(p []byte) (ce CloseError, failCode StatusCode, err error) {
	switch {
	case len(p) == 0:
		return CloseError{Code: StatusNoStatusReceived}, 0, nil
	case len(p) == 1:
		return ce, StatusProtocolError, errCloseOneByte
	}
	ce.Code = StatusCode(binary.BigEndian.Uint16(p))
	if !ce.Code.validOnWire() {
		return ce, StatusProtocolError, errCloseCodeInvalid
	}
	if !utf8.Valid(p[2:]) {
		return ce, StatusInvalidPayload, errCloseReasonUTF8
	}
	ce.Reason = string(p[2:])
	return ce, 0, nil
}

// appendClosePayload appends the payload of a close frame with the given code
// and reason to b. StatusNoStatusReceived gives an empty payload. The caller
// has checked the code and the reason's length.
func appendClosePayload(b []byte, code StatusCode, reason string) []byte {
	if code == StatusNoStatusReceived {
		return b
	}
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	return append(b, reason...)
}

// truncateReason shortens s to at most maxCloseReason bytes without cutting a
// UTF-8 sequence, so that an error message fits a close frame.
func truncateReason(s string) string {
	if len(s) <= maxCloseReason {
		return s
	}
	n := maxCloseReason
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Close performs the closing handshake of RFC 6455 section 7: it sends a
// close frame with code and reason, waits up to the close timeout for the
// peer's close frame, and closes the network connection. The reason must be
// valid UTF-8 of at most 123 bytes, and the code one that may be sent
// (1000-1003, 1007-1014, 3000-4999), or StatusNoStatusReceived with an empty
// reason for an empty close frame.
//
// If no read is under way, Close reads (and discards) what the peer sends
// until its close frame. If one is, on another goroutine, that read meets
// the peer's close frame, returns a *CloseError and closes the connection,
// and Close waits for it; after the timeout Close closes the connection
// itself, which ends the read. So Close must not be called from OnPong,
// which runs inside a read: it would wait the whole timeout. Use CloseNow
// there, or close once the read has returned.
//
// Close returns nil once the peer has answered, an error if it did not in
// time (or dropped the connection), and ErrClosed if a close frame had
// already been sent, in which case whoever sent it closes the connection,
// or if the connection is already closed.
//
// Over TLS the connection is closed without a close_notify alert, which
// could wait on the peer past the close timeout: the closing handshake
// already marks the end of the messages.
func (c *Conn) Close(code StatusCode, reason string) error {
	if err := checkCloseArgs(code, reason); err != nil {
		return err
	}
	deadline := time.Now().Add(c.closeTimeout)
	if err := c.sendClose(code, reason); err != nil {
		if err != ErrClosed {
			c.closeConn()
		}
		return err
	}
	c.setCloseDeadline(deadline, c.conn.SetReadDeadline)
	err := c.awaitAnswer(deadline)
	c.closeConn()
	if c.has(stPeerClosed) {
		return nil
	}
	return err
}

// awaitAnswer waits, until the deadline, for the peer's answer to our close
// frame: it reads it itself when no read is under way, and otherwise waits
// for the read under way to meet it, or to end otherwise and leave the
// reading to it. It returns why no answer came, if none did.
func (c *Conn) awaitAnswer(deadline time.Time) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var wake chan struct{}
	for !c.has(stClosed) {
		if c.readMu.TryLock() {
			defer c.readMu.Unlock()
			return c.readAnswer(deadline)
		}
		if wake == nil {
			// Register, then look again: a read that ended just before
			// could not see us.
			wake = make(chan struct{})
			c.closeWait.Store(&wake)
			continue
		}
		select {
		case <-wake:
			wake = nil
		case <-timer.C:
			return ErrCloseTimeout
		}
	}
	if c.has(stPeerClosed) {
		return nil
	}
	return errCloseUnanswered
}

// readAnswer reads and discards what the peer sends until its close frame,
// until Close's deadline, and returns why none came, if none did. The
// deadline stays the one Close set before it waited: a read under way that
// handed the handshake over to Close has used part of the close timeout,
// and a fresh one would let Close wait up to twice as long. The caller holds
// readMu.
func (c *Conn) readAnswer(deadline time.Time) error {
	defer c.releaseReadBuffer()
	if c.readErr != nil {
		if c.has(stPeerClosed) {
			return nil
		}
		return fmt.Errorf("websocket: close frame sent, but the peer's answer cannot be read after an earlier read error: %w", c.readErr)
	}
	ce, err := c.awaitPeerClose(deadline)
	if !c.server && ce != nil {
		c.awaitServerEOF()
	}
	if ce != nil {
		ce.local = true
		c.readErr = ce
		c.state.Or(stPeerClosed)
		return nil
	}
	c.readErr = ErrClosed
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ErrCloseTimeout
	}
	return errCloseUnanswered
}

// sendClose begins our side of the closing handshake: it sends a close
// frame after the frames queued before it, without waiting on the write
// side. If no writer holds the write lock, the frame is queued and written
// at once, and what the socket does not take goes out in the background
// within the close timeout; otherwise the writer sends it as it unlocks
// (oweClose). It returns ErrClosed if a close frame has been sent or owed
// already, or the connection is closed, and the write's error if it failed.
func (c *Conn) sendClose(code StatusCode, reason string) error {
	if c.state.Or(stClosing)&(stClosing|stClosed) != 0 {
		return ErrClosed
	}
	if !c.writeMu.TryLock() {
		c.oweClose(code, reason)
		return nil
	}
	c.queueOwed()
	c.queueClose(code, reason)
	c.flushNoWaitLocked()
	err := c.writeErr
	c.unlockWrite(false)
	return err
}

// fail fails the connection as RFC 6455 section 7.1.7 describes: it sends a
// close frame with code and err's text as the reason, waits (bounded) for the
// peer's close frame so that our close frame is not lost to a TCP reset, and
// closes the connection. If the frame that broke the rules was the peer's
// close frame, no other will follow, so it does not wait. It returns err,
// which every later read returns too. If the connection has failed already
// (a read can go on checking bytes it got before the failure, as the
// inflater hands back what it decoded before it meets the broken frame),
// the first failure stands: fail changes nothing and returns its error,
// which matches the close frame sent. The caller holds readMu.
func (c *Conn) fail(code StatusCode, err error) error {
	if c.readErr != nil {
		return c.readErr
	}
	c.readErr = err
	if c.sendClose(code, truncateReason(err.Error())) == nil && c.frame.opcode != opClose {
		c.awaitPeerClose(time.Now().Add(c.closeTimeout))
		c.readErr = err
	}
	c.releaseReadBuffer()
	c.closeAfterFlush()
	return err
}

// closeAfterFlush closes the connection once the output queue, which holds
// our close frame, is written, within the close timeout. Closing at once
// would lose the frame on a connection that is not a plain socket (TLS, for
// one), where the flush timer writes it, whenever fail does not wait for the
// peer's close. If a writer or the flush timer holds writeMu, the holder
// writes the frame and closes the connection as it unlocks; the write
// deadline bounds its wait too. The caller holds readMu.
func (c *Conn) closeAfterFlush() {
	c.setCloseWriteDeadline()
	if !c.writeMu.TryLock() {
		c.closeWhenFlushed()
		return
	}
	if c.writeErr == nil {
		c.flushLocked()
	}
	c.writeMu.Unlock()
	c.closeConn()
}

// replyToClose answers the peer's close frame by echoing its status code
// (unless we began the handshake ourselves) without waiting on the write
// side. A server then closes the network connection as soon as the answer
// is written; a client first waits, as RFC 6455 section 7.1.1 asks, for the
// server to close it. The caller holds readMu.
func (c *Conn) replyToClose() {
	c.replyDue = false
	c.releaseReadBuffer()
	c.sendClose(c.readErr.(*CloseError).Code, "")
	if c.server {
		c.closeWhenFlushed()
		return
	}
	c.setCloseDeadline(time.Now().Add(c.closeTimeout), c.conn.SetReadDeadline)
	c.awaitServerEOF()
	c.closeConn()
}

// awaitPeerClose reads and discards frames until the peer's close frame
// arrives, a frame cannot be parsed, or the deadline passes. It returns the
// peer's close, or nil and the error that ended the wait. It leaves readErr
// for the caller to set. The caller holds readMu and has sent a close frame.
func (c *Conn) awaitPeerClose(deadline time.Time) (*CloseError, error) {
	c.setCloseDeadline(deadline, c.conn.SetReadDeadline)
	for {
		if err := c.skipPayload(); err != nil {
			return nil, err
		}
		h, err := c.readHeader()
		if err != nil {
			return nil, err
		}
		if h.opcode == opClose {
			p, err := c.controlPayload(h)
			if err != nil {
				return nil, err
			}
			ce, _, err := parseClosePayload(p)
			if err != nil {
				return nil, err
			}
			return &ce, nil
		}
	}
}

// awaitServerEOF waits, within the read deadline, for the server to close
// the TCP connection, which RFC 6455 section 7.1.1 asks the client to let it
// do first. The caller holds readMu and has exchanged close frames.
func (c *Conn) awaitServerEOF() {
	var buf [256]byte
	for {
		if _, err := c.conn.Read(buf[:]); err != nil {
			return
		}
	}
}

// unlockRead ends every read method: it releases readMu and, if a Close
// waits for this read to end, wakes it to read the peer's answer itself.
func (c *Conn) unlockRead() {
	c.readMu.Unlock()
	if c.has(stClosing) {
		c.wakeCloser()
	}
}

// wakeCloser wakes the Close that waits in awaitAnswer, if any.
func (c *Conn) wakeCloser() {
	if ch := c.closeWait.Swap(nil); ch != nil {
		close(*ch)
	}
}

// CloseNow closes the network connection at once, without a close
// handshake. Use it when the peer is gone or misbehaving; prefer Close. It
// never waits: frames that WriteMessage queued are sent only if no write
// is under way and the socket takes them at once, and over TLS no
// close_notify alert is sent (see closeNetConn).
func (c *Conn) CloseNow() error {
	if c.writeMu.TryLock() {
		if c.outp != nil {
			if c.writeErr == nil {
				c.writeNoWait(*c.outp)
			}
			c.releaseQueue()
		}
		c.writeMu.Unlock()
	}
	return c.closeConn()
}

// closeNetConn closes nc without writing to it, so without waiting on the
// peer. The Close of a *tls.Conn first sends a close_notify alert, a write
// that waits up to five seconds (crypto/tls sets that write deadline itself,
// over any the caller set) when the peer has stopped reading and the socket
// is full: it would make CloseNow wait on the very peer it gives up on, hold
// a Close past its close timeout, and stall the reader that ends a server's
// closing handshake. So the connection under the TLS layer is closed
// instead (under both layers of a wss connection through an https proxy),
// and no close_notify is sent: the WebSocket closing handshake, not TLS's,
// marks the end of the messages, and a TLS peer that reads on meets the end
// of the TCP stream between records (Go's crypto/tls returns io.EOF).
func closeNetConn(nc net.Conn) error {
	for {
		tc, ok := nc.(*tls.Conn)
		if !ok {
			return nc.Close()
		}
		nc = tc.NetConn()
	}
}

// closeConn closes the network connection once, and wakes Close calls and
// Done's channel that wait for it.
func (c *Conn) closeConn() error {
	if c.state.Or(stClosed)&stClosed != 0 {
		return ErrClosed
	}
	err := closeNetConn(c.conn)
	c.stopKeepAlive()
	if ch := c.done.Swap(closedDone); ch != nil {
		close(*ch)
	}
	c.wakeCloser()
	if c.app != nil && c.app.server != nil {
		c.app.server.untrack(c)
	}
	return err
}
