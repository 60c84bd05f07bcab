package websocket

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/bits"
	mrand "math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
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
	DefaultBufferSize = 16 << 10

	minBufferSize = 256 // a control frame and its header always fit
)

// ErrClosed is returned by writes once a close frame has been sent or
// received, and by Close when the close handshake has already begun or the
// connection is closed (CloseNow, or a failure).
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
	subprotocol  string
	readLimit    int64
	closeTimeout time.Duration
	rsize, wsize int // sizes of the pooled read and write buffers
	onPong       func(*Conn, []byte)

	// raw, when set, lets a read wait for data without holding a buffer;
	// rawRead is c.readRaw, bound once, and rawErrno and rawEOF its
	// result. See raw_unix.go.
	raw      syscall.RawConn
	rawRead  func(fd uintptr) bool
	rawErrno syscall.Errno

	// Read side: owned by whoever holds readMu.
	readMu     sync.Mutex
	rbufp      *[]byte // the pooled read buffer, nil while none is held
	rbuf       []byte  // *rbufp
	rpos, rend int     // buffered, unread bytes are rbuf[rpos:rend]
	frame      header  // the data frame being read
	remain     int64   // its payload bytes not yet read
	msgLen     int64   // payload bytes of the message announced so far
	readErr    error   // sticky: once set, every read returns it

	// Write side. msgMu is held for a whole data message, writeMu for each
	// frame, so control frames can go out between the fragments of a
	// message but never inside a frame. The fields below are guarded by
	// writeMu.
	msgMu    sync.Mutex
	writeMu  sync.Mutex
	outp     *[]byte     // the pooled output queue: frames not yet written, nil when empty
	writeErr error       // sticky
	wextra   *writeExtra // what some connections' writes need, made on first use

	// inputPending is set by the reader when it returns with a whole frame
	// still buffered, which lets writes queue (see WriteMessage).
	inputPending atomic.Bool
	msgSeq       uint32                        // read side: counts messages, to detect stale readers
	closed       atomic.Bool                   // the network connection has been closed
	peerClosed   atomic.Bool                   // the peer's close frame has arrived intact
	closeWait    atomic.Pointer[chan struct{}] // closed by closeConn, for Close to wait on

	server     bool
	fragmented bool          // read side: a data message has begun and its final frame is yet to come
	msgOp      opcode        // read side: opText or opBinary, the message being read
	closeSent  bool          // guarded by writeMu
	timerArmed bool          // guarded by writeMu
	rawEOF     bool          // read side: readRaw met the end of the stream
	replyDue   bool          // read side: the peer's close frame awaits our answer (finishRead)
	utf8       utf8Validator // read side: state of a text message's validation
}

// newConn makes a Conn over c. buffered holds bytes already read from c that
// belong to the WebSocket stream.
func newConn(c net.Conn, server bool, buffered []byte, o *Options) *Conn {
	conn := &Conn{
		conn:         c,
		server:       server,
		readLimit:    o.ReadLimit,
		closeTimeout: o.CloseTimeout,
		rsize:        bufferSize(o.ReadBufferSize),
		wsize:        bufferSize(o.WriteBufferSize),
		onPong:       o.OnPong,
	}
	if len(buffered) > 0 {
		conn.rsize = max(conn.rsize, bufferSize(len(buffered)))
		conn.takeReadBuffer()
		conn.rend = copy(conn.rbuf, buffered)
	}
	if conn.readLimit <= 0 {
		conn.readLimit = DefaultReadLimit
	}
	if conn.closeTimeout <= 0 {
		conn.closeTimeout = DefaultCloseTimeout
	}
	if !server {
		var seed [32]byte
		rand.Read(seed[:])
		conn.writeExtra().maskRand = mrand.NewChaCha8(seed)
	}
	conn.initRaw()
	return conn
}

// bufferSize returns the buffer size to use for a configured size: the
// default for 0, at least minBufferSize, rounded up to a power of two.
func bufferSize(n int) int {
	if n <= 0 {
		n = DefaultBufferSize
	}
	return 1 << bits.Len(uint(max(n, minBufferSize)-1))
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
	err := c.awaitInput()
	var typ MessageType
	if err == nil {
		typ, dst, err = c.appendMessage(dst)
	}
	c.finishRead()
	c.readMu.Unlock()
	return typ, dst, err
}

// appendMessage does the work of AppendMessage. The caller holds readMu.
func (c *Conn) appendMessage(dst []byte) (MessageType, []byte, error) {
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
			if c.rpos == c.rend {
				c.releaseReadBuffer() // hold no buffer while the caller works
			}
			c.inputPending.Store(c.frameBuffered())
			return typ, dst, nil
		}
		if err := c.nextDataFrame(); err != nil {
			return typ, dst, err
		}
	}
}

// awaitInput waits, between messages and with nothing buffered, until the
// network has bytes for the next one. It waits in the read method's own
// small frame rather than deep in the frame parser, so that the goroutine of
// an idle connection fits the smallest stack the runtime gives. The caller
// holds readMu.
func (c *Conn) awaitInput() error {
	if c.readErr != nil || c.rpos < c.rend || c.remain > 0 || c.fragmented {
		return nil
	}
	return c.readNetwork()
}

// frameBuffered reports whether the read buffer holds a whole frame, so that
// the next read will not wait for the network. The caller holds readMu.
func (c *Conn) frameBuffered() bool {
	b := c.rbuf[c.rpos:c.rend]
	h, n, _ := parseHeader(b)
	return n > 0 && int64(len(b)-n) >= h.length
}

// NextReader waits for the next data message and returns its type and a
// reader for its payload, so a large message can be processed without
// holding it whole. The reader returns io.EOF at the end of the message. It
// is valid until the next call of NextReader, ReadMessage or AppendMessage,
// which discards what it has not read.
func (c *Conn) NextReader() (MessageType, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.awaitInput(); err != nil {
		return 0, nil, err
	}
	if err := c.beginMessage(); err != nil {
		c.finishRead()
		return 0, nil, err
	}
	c.inputPending.Store(false)
	return MessageType(c.msgOp), &messageReader{c: c, seq: c.msgSeq}, nil
}

// messageReader reads one message's payload; see NextReader.
type messageReader struct {
	c   *Conn
	seq uint32
}

// Read reads payload bytes of the message, crossing frame boundaries.
func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.msgSeq != r.seq {
		return 0, errStaleReader
	}
	n, err := c.readMessage(p)
	c.finishRead()
	return n, err
}

// readMessage reads payload bytes of the current message, crossing frame
// boundaries, and returns io.EOF at its end. The caller holds readMu.
func (c *Conn) readMessage(p []byte) (int, error) {
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
		// Discard through readMessage: a messageReader would lock readMu,
		// which we hold, again.
		var buf [512]byte
		for {
			_, err := c.readMessage(buf[:])
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
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
		// Compare before adding: msgLen <= readLimit, but msgLen plus a
		// 64-bit frame length could overflow and slip past the limit.
		if h.length > c.readLimit-c.msgLen {
			return c.fail(StatusMessageTooBig, fmt.Errorf("websocket: message longer than the read limit of %d bytes", c.readLimit))
		}
		c.msgLen += h.length
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
			c.frame, c.remain = h, h.length
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
	p, err := c.controlPayload(h)
	if err != nil {
		return err
	}
	switch h.opcode {
	case opPing:
		if err := c.writeFrame(true, opPong, p); err != nil && err != ErrClosed {
			return c.setReadErr(err)
		}
	case opPong:
		if c.onPong != nil {
			c.onPong(c, p)
		}
	case opClose:
		ce, code, err := parseClosePayload(p)
		if err != nil {
			return c.fail(code, err)
		}
		c.readErr = &ce
		c.peerClosed.Store(true)
		c.replyDue = true // see finishRead
		return c.readErr
	}
	return nil
}

// finishRead ends every read method. When the read met the peer's close
// frame, the answer goes out here, before the method returns, rather than
// deep in the frame parser: a server's answer is then one write that does
// not wait (writeCloseNow), and ending a connection does not outgrow the
// smallest goroutine stack, whose growth would cost more than the rest of
// the close. The caller holds readMu.
func (c *Conn) finishRead() {
	if c.replyDue {
		c.replyToClose()
	}
}

// replyToClose echoes the status code of the peer's close frame (unless we
// began the handshake ourselves, see writeClose), waits as a client must
// for the server to close TCP, and closes the connection. The caller holds
// readMu.
func (c *Conn) replyToClose() {
	c.replyDue = false
	c.writeClose(c.readErr.(*CloseError).Code, "")
	if !c.server {
		c.conn.SetReadDeadline(time.Now().Add(c.closeTimeout))
		c.awaitServerEOF()
	}
	c.releaseReadBuffer()
	c.closeConn()
}

// controlPayload reads the payload of control frame h, whose header has just
// been read, and unmasks it in place. The slice is valid until the next
// read from the buffer. The caller holds readMu.
func (c *Conn) controlPayload(h header) ([]byte, error) {
	if err := c.fill(int(h.length)); err != nil {
		return nil, err
	}
	p := c.rbuf[c.rpos : c.rpos+int(h.length)]
	c.rpos += len(p)
	c.remain = 0
	if h.masked {
		mask(h.key, 0, p)
	}
	return p, nil
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
	case len(p) >= c.rsize:
		// Large reads go straight into p rather than through a buffer.
		c.flushBeforeWait()
		c.releaseReadBuffer()
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
		mask(c.frame.key, int(c.frame.length-c.remain), p)
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
	if c.rbufp != nil && len(c.rbuf)-c.rpos < n {
		c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
		c.rpos = 0
	}
	for c.rend-c.rpos < n {
		if err := c.readNetwork(); err != nil {
			return err
		}
	}
	return nil
}

// readNetwork reads what the network has into the read buffer, waiting for
// at least one byte. Queued writes go out first. With nothing buffered and a
// raw connection, it waits holding no buffer, so idle connections cost none.
// The caller holds readMu.
func (c *Conn) readNetwork() error {
	c.flushBeforeWait()
	if c.rpos == c.rend && c.raw != nil {
		c.releaseReadBuffer()
		err := c.raw.Read(c.rawRead)
		switch {
		case err != nil:
		case c.rawEOF:
			err = io.EOF
		case c.rawErrno != 0:
			err = os.NewSyscallError("read", c.rawErrno)
		}
		if err != nil {
			return c.readFailed(err)
		}
		return nil
	}
	if c.rbufp == nil {
		c.takeReadBuffer()
	}
	m, err := c.conn.Read(c.rbuf[c.rend:])
	c.rend += m
	if m == 0 {
		return c.readFailed(err)
	}
	return nil
}

// takeReadBuffer takes a read buffer from the pool. The caller holds readMu
// and holds no buffer.
func (c *Conn) takeReadBuffer() {
	c.rbufp = getBuffer(c.rsize)
	c.rbuf = *c.rbufp
	c.rpos, c.rend = 0, 0
}

// releaseReadBuffer gives the read buffer back to the pool. The caller holds
// readMu, and the buffer holds no unread bytes, or reading is over.
func (c *Conn) releaseReadBuffer() {
	if c.rbufp != nil {
		putBuffer(c.rbufp)
		c.rbufp, c.rbuf = nil, nil
		c.rpos, c.rend = 0, 0
	}
}

// readFailed records an error from the network connection as the sticky read
// error. The end of the stream before a close frame is io.ErrUnexpectedEOF.
func (c *Conn) readFailed(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	c.releaseReadBuffer()
	return c.setReadErr(err)
}

func (c *Conn) setReadErr(err error) error {
	c.readErr = err
	return err
}

// fail fails the connection as RFC 6455 section 7.1.7 describes: it sends a
// close frame with code and err's text as the reason, waits (bounded) for the
// peer's close frame so that our close frame is not lost to a TCP reset, and
// closes the connection. If the frame that broke the rules was the peer's
// close frame, no other will follow, so it does not wait. It returns err,
// which every later read returns too. The caller holds readMu.
func (c *Conn) fail(code StatusCode, err error) error {
	c.readErr = err
	if c.writeClose(code, truncateReason(err.Error())) == nil && c.frame.opcode != opClose {
		c.awaitPeerClose()
		c.readErr = err
	}
	c.releaseReadBuffer()
	c.closeConn()
	return err
}

// awaitPeerClose reads and discards frames until the peer's close frame
// arrives, a frame cannot be parsed, or the close timeout passes. It returns
// the peer's close, or nil if none arrived intact. It leaves readErr for the
// caller to set. The caller holds readMu and has sent a close frame.
func (c *Conn) awaitPeerClose() *CloseError {
	c.conn.SetReadDeadline(time.Now().Add(c.closeTimeout))
	for {
		for c.remain > 0 {
			if c.fill(1) != nil {
				return nil
			}
			n := int(min(c.remain, int64(c.rend-c.rpos)))
			c.rpos += n
			c.remain -= int64(n)
		}
		if c.fill(2) != nil {
			return nil
		}
		h, n, err := parseHeader(c.rbuf[c.rpos:c.rend])
		switch {
		case err != nil:
			return nil
		case n == 0:
			if c.fill(c.rend-c.rpos+1) != nil {
				return nil
			}
			continue
		}
		c.rpos += n
		c.remain = h.length
		if h.opcode == opClose {
			p, err := c.controlPayload(h)
			if err != nil {
				return nil
			}
			if ce, _, err := parseClosePayload(p); err == nil {
				return &ce
			}
			return nil
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
func (c *Conn) Close(code StatusCode, reason string) error {
	if code != StatusNoStatusReceived && !code.validOnWire() {
		return fmt.Errorf("websocket: close code %d must not be sent; use 1000-1003, 1007-1014 or 3000-4999", int(code))
	}
	if len(reason) > maxCloseReason || !utf8.ValidString(reason) {
		return errors.New("websocket: close reason must be valid UTF-8 of at most 123 bytes")
	}
	if code == StatusNoStatusReceived && reason != "" {
		return errors.New("websocket: a close reason needs a status code; StatusNoStatusReceived sends an empty close frame")
	}
	deadline := time.Now().Add(c.closeTimeout)
	if err := c.writeClose(code, reason); err != nil {
		if err != ErrClosed {
			c.closeConn()
		}
		return err
	}
	c.conn.SetReadDeadline(deadline)
	if c.readMu.TryLock() {
		if c.readErr == nil {
			ce := c.awaitPeerClose()
			if !c.server {
				c.awaitServerEOF()
			}
			c.readErr = ErrClosed
			if ce != nil {
				c.readErr = ce
				c.peerClosed.Store(true)
			}
		}
		c.releaseReadBuffer()
		c.readMu.Unlock()
	} else {
		c.awaitClosed(deadline)
	}
	c.closeConn()
	if !c.peerClosed.Load() {
		return errors.New("websocket: peer did not answer the close frame in time, or dropped the connection; connection closed")
	}
	return nil
}

// awaitClosed waits until the network connection is closed or the deadline
// passes.
func (c *Conn) awaitClosed(deadline time.Time) {
	ch := make(chan struct{})
	if !c.closeWait.CompareAndSwap(nil, &ch) {
		ch = *c.closeWait.Load()
	}
	// closeConn sets closed before it looks for a channel to close, so
	// either it sees ours or we see closed.
	if c.closed.Load() {
		return
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// CloseNow closes the network connection at once, without a close
// handshake. Use it when the peer is gone or misbehaving; prefer Close.
//
// Frames that WriteMessage queued are sent first if no write is under way.
func (c *Conn) CloseNow() error {
	c.flushBeforeWait()
	return c.closeConn()
}

// closeConn closes the network connection once, and wakes Close calls that
// wait for it.
func (c *Conn) closeConn() error {
	if c.closed.Swap(true) {
		return ErrClosed
	}
	err := c.conn.Close()
	if ch := c.closeWait.Load(); ch != nil {
		close(*ch)
	}
	return err
}
