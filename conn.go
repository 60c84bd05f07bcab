package websocket

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
)

// MessageType is the type of a data message: TextMessage or BinaryMessage.
type MessageType int

// The message types of RFC 6455 section 5.6. Their values are the opcodes.
const (
	// TextMessage is a message of UTF-8 text. Reads fail the connection
	// with status 1007 when a text message is not valid UTF-8.
	TextMessage MessageType = MessageType(opText)
	// BinaryMessage is a message of arbitrary bytes.
	BinaryMessage MessageType = MessageType(opBinary)
)

// String returns "text" or "binary".
func (t MessageType) String() string {
	switch t {
	case TextMessage:
		return "text"
	case BinaryMessage:
		return "binary"
	}
	return fmt.Sprintf("MessageType(%d)", int(t))
}

// Defaults for the fields of Options.
const (
	// DefaultReadLimit is the largest message a Conn accepts unless
	// Options.ReadLimit says otherwise: 16 MiB.
	DefaultReadLimit = 16 << 20
	// DefaultCloseTimeout bounds the close handshake unless
	// Options.CloseTimeout says otherwise.
	DefaultCloseTimeout = 5 * time.Second
	// DefaultBufferSize is the default size of the read and write buffers.
	DefaultBufferSize = 4096

	minBufferSize = 256 // a control frame and its header always fit
)

// ErrClosed is returned by writes once a close frame has been sent or
// received, and by Close when the close handshake has already begun.
var ErrClosed = errors.New("websocket: connection is closed or closing")

// Errors for frame sequences that break RFC 6455; each fails the connection
// with status 1002 (protocol error) or, for UTF-8, 1007.
var (
	errUnmaskedClient     = errors.New("websocket: client frame not masked")
	errMaskedServer       = errors.New("websocket: server frame masked")
	errStrayContinuation  = errors.New("websocket: continuation frame without a message to continue")
	errInterleavedMessage = errors.New("websocket: new data message in the middle of a fragmented one")
	errInvalidUTF8        = errors.New("websocket: text message is not valid UTF-8")
	errStaleReader        = errors.New("websocket: message reader used after the next read began")
	errWriterClosed       = errors.New("websocket: write to a message writer after Close")
	errBadMessageType     = errors.New("websocket: message type must be TextMessage or BinaryMessage")
	errControlPayload     = errors.New("websocket: control frame payload longer than 125 bytes")
)

// Conn is a WebSocket connection, made by Upgrade, a Server or Handler on the
// server side, or by Dial on the client side.
//
// A Conn supports one concurrent reader and any number of concurrent writers;
// see the package documentation.
type Conn struct {
	conn         net.Conn
	server       bool
	subprotocol  string
	readLimit    int64
	closeTimeout time.Duration
	onPong       func([]byte)

	// Read side: owned by whoever holds readMu.
	readMu     sync.Mutex
	rbuf       []byte
	rpos, rend int           // buffered, unread bytes are rbuf[rpos:rend]
	frame      header        // the data frame being read
	remain     int64         // its payload bytes not yet read
	maskPos    int           // masking key position of its next byte
	fragmented bool          // a data message has begun and its final frame is yet to come
	msgOp      opcode        // opText or opBinary: the message being read
	msgLen     int64         // payload bytes of that message announced so far
	msgSeq     uint64        // counts messages, to detect stale readers
	utf8       utf8Validator // state of a text message's validation
	readErr    error         // sticky: once set, every read returns it
	ctrl       [maxControlPayload]byte

	// Write side. msgMu is held for a whole data message, writeMu for each
	// frame that goes on the wire, so control frames can go out between the
	// fragments of a message but never inside a frame.
	msgMu     sync.Mutex
	wbuf      []byte // owned by the holder of msgMu; payload starts at maxHeaderSize
	writeMu   sync.Mutex
	writeErr  error // sticky, guarded by writeMu
	closeSent bool  // guarded by writeMu
	maskRand  *mrand.ChaCha8

	closeOnce sync.Once
}

// newConn makes a Conn over c. buffered holds bytes already read from c that
// belong to the WebSocket stream.
func newConn(c net.Conn, server bool, buffered []byte, o *Options) *Conn {
	rsize := max(o.ReadBufferSize, len(buffered), minBufferSize)
	if o.ReadBufferSize == 0 {
		rsize = max(DefaultBufferSize, len(buffered))
	}
	wsize := max(o.WriteBufferSize, minBufferSize)
	if o.WriteBufferSize == 0 {
		wsize = DefaultBufferSize
	}
	conn := &Conn{
		conn:         c,
		server:       server,
		readLimit:    o.ReadLimit,
		closeTimeout: o.CloseTimeout,
		onPong:       o.OnPong,
		rbuf:         make([]byte, rsize),
		wbuf:         make([]byte, maxHeaderSize+wsize),
	}
	conn.rend = copy(conn.rbuf, buffered)
	if conn.readLimit <= 0 {
		conn.readLimit = DefaultReadLimit
	}
	if conn.closeTimeout <= 0 {
		conn.closeTimeout = DefaultCloseTimeout
	}
	if !server {
		var seed [32]byte
		rand.Read(seed[:])
		conn.maskRand = mrand.NewChaCha8(seed)
	}
	return conn
}

// Subprotocol returns the subprotocol chosen in the opening handshake, or ""
// if none was.
func (c *Conn) Subprotocol() string { return c.subprotocol }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// SetDeadline sets the read and write deadlines; see SetReadDeadline and
// SetWriteDeadline.
func (c *Conn) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// SetReadDeadline sets the deadline for reads, including the handling of
// control frames that happens inside them. A read that times out leaves the
// connection unreadable: every later read returns the same error, and the
// Conn should be closed. A zero t means no deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for writes, including pongs sent in
// answer to pings. A write that times out may have sent part of a frame, so
// every later write returns the same error, and the Conn should be closed.
// A zero t means no deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// ReadMessage reads the next data message and returns its type and a newly
// allocated copy of its payload. Control frames that arrive meanwhile are
// handled inside the call. It is AppendMessage(nil).
func (c *Conn) ReadMessage() (MessageType, []byte, error) {
	return c.AppendMessage(nil)
}

// AppendMessage reads the next data message and appends its payload to dst,
// returning the message type and the extended slice. It allocates only when
// dst lacks the capacity, so a caller that passes the previous result back
// as dst[:0] reads without allocating once the buffer has grown.
//
// Any unread rest of a message begun with NextReader is discarded first.
// On error the message read so far is in the returned slice. After a close
// frame from the peer, it returns a *CloseError.
func (c *Conn) AppendMessage(dst []byte) (MessageType, []byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.beginMessage(); err != nil {
		return 0, dst, err
	}
	typ := MessageType(c.msgOp)
	for {
		for c.remain > 0 {
			if len(dst) == cap(dst) {
				// Grow by what the frame still holds, but no more than
				// doubling, so a peer cannot make us allocate the
				// announced length before sending it.
				dst = slices.Grow(dst, int(min(c.remain, int64(max(len(dst), 4096)))))
			}
			n, err := c.readPayload(dst[len(dst):cap(dst)])
			dst = dst[:len(dst)+n]
			if err != nil {
				return typ, dst, err
			}
		}
		if c.frame.fin {
			return typ, dst, nil
		}
		if err := c.nextDataFrame(); err != nil {
			return typ, dst, err
		}
	}
}

// NextReader waits for the next data message and returns its type and a
// reader for its payload, so a large message can be processed without
// holding it whole. The reader returns io.EOF at the end of the message. It
// is valid until the next call of NextReader, ReadMessage or AppendMessage,
// which discards what it has not read.
func (c *Conn) NextReader() (MessageType, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.beginMessage(); err != nil {
		return 0, nil, err
	}
	return MessageType(c.msgOp), &messageReader{c: c, seq: c.msgSeq}, nil
}

// messageReader reads one message's payload; see NextReader.
type messageReader struct {
	c   *Conn
	seq uint64
}

// Read reads payload bytes of the message, crossing frame boundaries.
func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.msgSeq != r.seq {
		return 0, errStaleReader
	}
	if c.readErr != nil {
		return 0, c.readErr
	}
	for c.remain == 0 {
		if c.frame.fin {
			return 0, io.EOF
		}
		if err := c.nextDataFrame(); err != nil {
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	return c.readPayload(p)
}

// beginMessage discards what is left of the current message and reads up to
// the first frame of the next one. The caller holds readMu.
func (c *Conn) beginMessage() error {
	if c.readErr != nil {
		return c.readErr
	}
	if c.remain > 0 || c.fragmented {
		if _, err := io.Copy(io.Discard, &messageReader{c: c, seq: c.msgSeq}); err != nil {
			return err
		}
	}
	c.msgSeq++
	return c.nextDataFrame()
}

// nextDataFrame reads frame headers until one of a data frame, handling the
// control frames before it, and checks it against the message in progress.
// The caller holds readMu.
func (c *Conn) nextDataFrame() error {
	for {
		h, err := c.readHeader()
		if err != nil {
			return err
		}
		if h.opcode.isControl() {
			if err := c.handleControl(h); err != nil {
				return err
			}
			continue
		}
		switch {
		case h.opcode == opContinuation && !c.fragmented:
			return c.fail(StatusProtocolError, errStrayContinuation)
		case h.opcode != opContinuation && c.fragmented:
			return c.fail(StatusProtocolError, errInterleavedMessage)
		case h.opcode != opContinuation:
			c.msgOp = h.opcode
			c.msgLen = 0
			c.utf8 = utf8Validator{}
		}
		c.msgLen += h.length
		if c.msgLen > c.readLimit {
			return c.fail(StatusMessageTooBig, fmt.Errorf("websocket: message longer than the read limit of %d bytes", c.readLimit))
		}
		c.fragmented = !h.fin
		if h.fin && h.length == 0 {
			return c.checkTextEnd()
		}
		return nil
	}
}

// readHeader reads and checks the next frame header, making it the current
// frame. The caller holds readMu.
func (c *Conn) readHeader() (header, error) {
	for {
		h, n, err := parseHeader(c.rbuf[c.rpos:c.rend])
		if n > 0 {
			c.rpos += n
			c.frame, c.remain, c.maskPos = h, h.length, 0
		}
		switch {
		case err != nil:
			return h, c.fail(StatusProtocolError, err)
		case n == 0:
			if err := c.fill(c.rend - c.rpos + 1); err != nil {
				return h, err
			}
			continue
		case c.server && !h.masked:
			return h, c.fail(StatusProtocolError, errUnmaskedClient)
		case !c.server && h.masked:
			return h, c.fail(StatusProtocolError, errMaskedServer)
		}
		return h, nil
	}
}

// handleControl reads the payload of control frame h and acts on it: a ping
// is answered with a pong, a pong goes to the OnPong hook, a close is
// answered and ends reading. The caller holds readMu.
func (c *Conn) handleControl(h header) error {
	if err := c.fill(int(h.length)); err != nil {
		return err
	}
	p := c.ctrl[:copy(c.ctrl[:], c.rbuf[c.rpos:c.rpos+int(h.length)])]
	c.rpos += len(p)
	c.remain = 0
	if h.masked {
		mask(h.key, 0, p)
	}
	switch h.opcode {
	case opPing:
		if err := c.writeControl(opPong, p); err != nil && err != ErrClosed {
			return c.setReadErr(err)
		}
	case opPong:
		if c.onPong != nil {
			c.onPong(p)
		}
	case opClose:
		ce, code, err := parseClosePayload(p)
		if err != nil {
			return c.fail(code, err)
		}
		c.readErr = &ce
		// Echo the status code, unless we began the handshake ourselves.
		c.writeClose(ce.Code, "")
		if !c.server {
			c.conn.SetReadDeadline(time.Now().Add(c.closeTimeout))
			c.awaitServerEOF()
		}
		c.closeConn()
		return c.readErr
	}
	return nil
}

// readPayload reads up to len(p) bytes of the current frame's payload into
// p, unmasks them and, in a text message, validates them before returning,
// so invalid UTF-8 fails the connection as soon as it arrives. The caller
// holds readMu.
func (c *Conn) readPayload(p []byte) (int, error) {
	if int64(len(p)) > c.remain {
		p = p[:c.remain]
	}
	var n int
	switch {
	case c.rend > c.rpos:
		n = copy(p, c.rbuf[c.rpos:c.rend])
		c.rpos += n
	case len(p) >= len(c.rbuf):
		// Large reads go straight into p rather than through rbuf.
		var err error
		n, err = c.conn.Read(p)
		if n == 0 {
			return 0, c.readFailed(err)
		}
	default:
		if err := c.fill(1); err != nil {
			return 0, err
		}
		n = copy(p, c.rbuf[c.rpos:c.rend])
		c.rpos += n
	}
	p = p[:n]
	if c.frame.masked {
		c.maskPos = mask(c.frame.key, c.maskPos, p)
	}
	c.remain -= int64(n)
	if c.msgOp == opText && !c.utf8.write(p) {
		return n, c.fail(StatusInvalidPayload, errInvalidUTF8)
	}
	if c.remain == 0 && c.frame.fin {
		return n, c.checkTextEnd()
	}
	return n, nil
}

// checkTextEnd fails the connection if a text message that just ended was
// cut inside a code point.
func (c *Conn) checkTextEnd() error {
	if c.msgOp == opText && !c.utf8.complete() {
		return c.fail(StatusInvalidPayload, errInvalidUTF8)
	}
	return nil
}

// fill reads from the connection until at least n bytes are buffered;
// n must not exceed len(rbuf). The caller holds readMu.
func (c *Conn) fill(n int) error {
	if c.rend-c.rpos >= n {
		return nil
	}
	if len(c.rbuf)-c.rpos < n {
		c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
		c.rpos = 0
	}
	for c.rend-c.rpos < n {
		m, err := c.conn.Read(c.rbuf[c.rend:])
		c.rend += m
		if err != nil && c.rend-c.rpos < n {
			return c.readFailed(err)
		}
	}
	return nil
}

// readFailed records an error from the network connection as the sticky read
// error. The end of the stream before a close frame is io.ErrUnexpectedEOF.
func (c *Conn) readFailed(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return c.setReadErr(err)
}

func (c *Conn) setReadErr(err error) error {
	c.readErr = err
	return err
}

// fail fails the connection as RFC 6455 section 7.1.7 describes: it sends a
// close frame with code and err's text as the reason, waits (bounded) for the
// peer's close frame so that our close frame is not lost to a TCP reset, and
// closes the connection. It returns err, which every later read returns too.
// The caller holds readMu.
func (c *Conn) fail(code StatusCode, err error) error {
	c.readErr = err
	c.conn.SetWriteDeadline(time.Now().Add(c.closeTimeout))
	if c.writeClose(code, truncateReason(err.Error())) == nil {
		c.awaitPeerClose()
	}
	c.closeConn()
	return err
}

// awaitPeerClose reads and discards frames until the peer's close frame
// arrives, a frame cannot be parsed, or the close timeout passes. The caller
// holds readMu and has sent a close frame.
func (c *Conn) awaitPeerClose() {
	c.conn.SetReadDeadline(time.Now().Add(c.closeTimeout))
	for {
		for c.remain > 0 {
			if c.rend == c.rpos {
				if err := c.fill(1); err != nil {
					return
				}
			}
			n := int(min(c.remain, int64(c.rend-c.rpos)))
			c.rpos += n
			c.remain -= int64(n)
		}
		if c.rend-c.rpos < 2 && c.fill(2) != nil {
			return
		}
		h, n, err := parseHeader(c.rbuf[c.rpos:c.rend])
		switch {
		case err != nil:
			return
		case n == 0:
			if c.fill(c.rend-c.rpos+1) != nil {
				return
			}
			continue
		case h.opcode == opClose:
			return
		}
		c.rpos += n
		c.remain = h.length
	}
}

// awaitServerEOF waits, within the read deadline, for the server to close
// the TCP connection, which RFC 6455 section 7.1.1 asks the client to let it
// do first. The caller holds readMu and has exchanged close frames.
func (c *Conn) awaitServerEOF() {
	for {
		if _, err := c.conn.Read(c.rbuf); err != nil {
			return
		}
	}
}

// WriteMessage sends p as one message of type typ, in a single frame. It
// returns once the whole frame has been handed to the operating system, or
// with the first error. Concurrent calls are safe; each message goes out
// whole, after any message begun with NextWriter is closed.
func (c *Conn) WriteMessage(typ MessageType, p []byte) error {
	if typ != TextMessage && typ != BinaryMessage {
		return errBadMessageType
	}
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	return c.writeData(true, opcode(typ), p)
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
	return &messageWriter{c: c, op: opcode(typ)}, nil
}

// messageWriter streams one message; see NextWriter. Its payload collects
// in c.wbuf[maxHeaderSize:maxHeaderSize+n].
type messageWriter struct {
	c      *Conn
	op     opcode // opcode of the next frame: the message type, then continuation
	n      int
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
	c := w.c
	written := 0
	for len(p) > 0 {
		if w.n == 0 && len(p) >= len(c.wbuf)-maxHeaderSize {
			// Too big to buffer: send it as a fragment of its own.
			w.err = c.writeData(false, w.op, p)
			w.op = opContinuation
			return written + len(p), w.err
		}
		k := copy(c.wbuf[maxHeaderSize+w.n:], p)
		w.n += k
		written += k
		p = p[k:]
		if maxHeaderSize+w.n == len(c.wbuf) {
			if err := w.flush(false); err != nil {
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
	if w.err != nil {
		return w.err
	}
	return w.flush(true)
}

func (w *messageWriter) flush(fin bool) error {
	w.err = w.c.sendBuffered(fin, w.op, w.n)
	w.op = opContinuation
	w.n = 0
	return w.err
}

// writeData sends p as one data frame. The caller holds msgMu.
func (c *Conn) writeData(fin bool, op opcode, p []byte) error {
	if len(p) <= len(c.wbuf)-maxHeaderSize {
		return c.sendBuffered(fin, op, copy(c.wbuf[maxHeaderSize:], p))
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.writeAllowed(); err != nil {
		return err
	}
	h := c.newHeader(fin, op, len(p))
	if c.server {
		// No masking: send the caller's bytes as they are, after the header.
		var hdr [maxHeaderSize]byte
		bufs := net.Buffers{hdr[:putHeader(hdr[:], h)], p}
		_, err := bufs.WriteTo(c.conn)
		return c.setWriteErr(err)
	}
	// Mask a piece at a time through wbuf, which this frame owns.
	pos := 0
	start := maxHeaderSize - headerSize(h.length, true)
	putHeader(c.wbuf[start:], h)
	for len(p) > 0 {
		k := copy(c.wbuf[maxHeaderSize:], p)
		p = p[k:]
		pos = mask(h.key, pos, c.wbuf[maxHeaderSize:maxHeaderSize+k])
		if _, err := c.conn.Write(c.wbuf[start : maxHeaderSize+k]); err != nil {
			return c.setWriteErr(err)
		}
		start = maxHeaderSize
	}
	return nil
}

// sendBuffered sends the n payload bytes at c.wbuf[maxHeaderSize:] as one
// frame, writing its header into the space before them. The caller holds
// msgMu.
func (c *Conn) sendBuffered(fin bool, op opcode, n int) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.writeAllowed(); err != nil {
		return err
	}
	h := c.newHeader(fin, op, n)
	start := maxHeaderSize - headerSize(h.length, h.masked)
	putHeader(c.wbuf[start:], h)
	if h.masked {
		mask(h.key, 0, c.wbuf[maxHeaderSize:maxHeaderSize+n])
	}
	_, err := c.conn.Write(c.wbuf[start : maxHeaderSize+n])
	return c.setWriteErr(err)
}

// writeControl sends a control frame. Its payload is at most 125 bytes.
func (c *Conn) writeControl(op opcode, p []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.writeAllowed(); err != nil {
		return err
	}
	return c.writeControlLocked(op, p)
}

// writeControlLocked sends a control frame from a buffer of its own, so it
// can go out while a data message is half-buffered. The caller holds
// writeMu.
func (c *Conn) writeControlLocked(op opcode, p []byte) error {
	var buf [maxHeaderSize + maxControlPayload]byte
	h := c.newHeader(true, op, len(p))
	n := putHeader(buf[:], h)
	n += copy(buf[n:], p)
	if h.masked {
		mask(h.key, 0, buf[n-len(p):n])
	}
	_, err := c.conn.Write(buf[:n])
	return c.setWriteErr(err)
}

// writeClose sends a close frame unless one has been sent. The caller must
// not hold writeMu.
func (c *Conn) writeClose(code StatusCode, reason string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.writeAllowed(); err != nil {
		return err
	}
	c.closeSent = true
	var buf [maxControlPayload]byte
	return c.writeControlLocked(opClose, appendClosePayload(buf[:0], code, reason))
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
		u := c.maskRand.Uint64()
		h.key = [4]byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)}
	}
	return h
}

// Ping sends a ping frame with the given payload, at most 125 bytes. The
// peer's pong goes to Options.OnPong during a read.
func (c *Conn) Ping(payload []byte) error {
	if len(payload) > maxControlPayload {
		return errControlPayload
	}
	return c.writeControl(opPing, payload)
}

// Close performs the closing handshake of RFC 6455 section 7: it sends a
// close frame with code and reason, waits up to the close timeout for the
// peer's close frame, and closes the network connection. A concurrent read
// returns within the timeout too. The reason must be valid UTF-8 of at most
// 123 bytes, and the code one that may be sent (1000-1003, 1007-1014,
// 3000-4999), or StatusNoStatusReceived for an empty close frame.
//
// Close returns ErrClosed if a close frame has already been sent, and an
// error if the peer did not answer in time; the connection is closed either
// way.
func (c *Conn) Close(code StatusCode, reason string) error {
	if code != StatusNoStatusReceived && !code.validOnWire() {
		return fmt.Errorf("websocket: close code %d must not be sent; use 1000-1003, 1007-1014 or 3000-4999", int(code))
	}
	if len(reason) > maxCloseReason || !utf8.ValidString(reason) {
		return errors.New("websocket: close reason must be valid UTF-8 of at most 123 bytes")
	}
	deadline := time.Now().Add(c.closeTimeout)
	c.conn.SetWriteDeadline(deadline)
	if err := c.writeClose(code, reason); err != nil {
		if err != ErrClosed {
			c.closeConn()
		}
		return err
	}
	// Bound a concurrent reader, then wait for the peer's close ourselves
	// if no read has seen it yet.
	c.conn.SetReadDeadline(deadline)
	c.readMu.Lock()
	var err error
	if c.readErr == nil {
		c.awaitPeerClose()
		if !c.server {
			c.awaitServerEOF()
		}
		if time.Now().After(deadline) {
			err = errors.New("websocket: peer did not answer the close frame in time; connection closed")
		}
		c.readErr = ErrClosed
	}
	c.readMu.Unlock()
	c.closeConn()
	return err
}

// CloseNow closes the network connection at once, without a close
// handshake. Use it when the peer is gone or misbehaving; prefer Close.
func (c *Conn) CloseNow() error {
	return c.closeConn()
}

// closeConn closes the network connection once.
func (c *Conn) closeConn() error {
	err := ErrClosed
	c.closeOnce.Do(func() { err = c.conn.Close() })
	return err
}
