//go:build !js

package websocket

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// This file is the read path: frames in, checked against RFC 6455 section 5
// (masking direction, fragmentation, control frames), turned into message
// bytes that are validated and limited, through a read buffer held only
// while it holds bytes.

// Errors for frame sequences that break RFC 6455, on which reads fail the
// connection with status 1002 (protocol error); errInvalidUTF8, in
// message.go, fails it with 1007 (invalid payload).
var (
	errUnmaskedClient     = errors.New("websocket: client frame not masked")
	errMaskedServer       = errors.New("websocket: server frame masked")
	errStrayContinuation  = errors.New("websocket: continuation frame without a message to continue")
	errInterleavedMessage = errors.New("websocket: new data message in the middle of a fragmented one")
)

// ReadMessage reads the next data message and returns its type and a newly
// allocated copy of its payload. Control frames that arrive meanwhile are
// handled inside the call. It is AppendMessage(nil).
func (c *Conn) ReadMessage() (MessageType, []byte, error) {
	return c.AppendMessage(nil)
}

// AppendMessage reads the next data message and appends its payload to dst,
// returning the message type and the extended slice. It allocates only when
// dst lacks the capacity, so a caller that passes the previous result back
// as dst[:0] reads without allocating once the buffer has grown. (A caller
// that keeps its buffer this way keeps the memory of the largest message it
// read; drop the buffer after a large one to give that memory back.)
//
// Any unread rest of a message begun with NextReader is discarded first.
// On error the message read so far is in the returned slice. After a close
// frame from the peer, it returns a *CloseError.
func (c *Conn) AppendMessage(dst []byte) (MessageType, []byte, error) {
	c.readMu.Lock()
	defer c.unlockRead()
	return c.appendMessageThen(dst, nil)
}

// appendMessageThen is AppendMessage; end, if not nil, gets the read's error
// and returns the one to report, while the read side is still held: what it
// does to the read deadline cannot reach a Close that takes the reading
// over. The wait for input and the answer to the peer's close run from this
// small frame, not from appendMessage's: the goroutine of an idle
// connection, and the close of one, then fit the smallest stack.
func (c *Conn) appendMessageThen(dst []byte, end func(error) error) (MessageType, []byte, error) {
	var typ MessageType
	err := c.awaitInput()
	if err == nil {
		typ, dst, err = c.appendMessage(dst)
	}
	if end != nil {
		err = end(err)
	}
	c.finishRead()
	return typ, dst, err
}

// appendMessage does the work of AppendMessage once input is there. The
// caller holds readMu.
func (c *Conn) appendMessage(dst []byte) (typ MessageType, msg []byte, err error) {
	if err := c.beginMessage(); err != nil {
		return 0, dst, err
	}
	typ = MessageType(c.msgOp)
	for {
		if len(dst) == cap(dst) && !c.messageDone() {
			if c.msgCompressed {
				dst, err = c.appendInflated(dst)
				if err != io.EOF {
					return typ, dst, err
				}
				break
			}
			dst = c.growMessage(dst)
		}
		n, err := c.readMessage(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return typ, dst, err
		}
	}
	if c.rpos == c.rend {
		c.releaseReadBuffer() // hold no buffer while the caller works
	}
	c.setInputPending(c.frameBuffered())
	return typ, dst, nil
}

// appendInflated appends the rest of a compressed message to dst through a
// pooled scratch buffer, so that dst grows by what the message really
// holds: its inflated size is known only at its end, and a guess would stay
// allocated in the caller's buffer. It returns io.EOF at the message's end.
// The caller holds readMu.
func (c *Conn) appendInflated(dst []byte) ([]byte, error) {
	bp := getBuffer(4096)
	defer putBuffer(bp)
	for {
		n, err := c.readMessage(*bp)
		if len(dst)+n > cap(dst) { // double, up to the limit, as growMessage does
			size := max(min(2*cap(dst), int(c.readLimit.Load())+1), len(dst)+n)
			grown := make([]byte, len(dst), size)
			copy(grown, dst)
			dst = grown
		}
		dst = append(dst, (*bp)[:n]...)
		if err != nil {
			return dst, err
		}
	}
}

// growMessage makes room in dst for more of the current message. It grows
// the slice to the size of the current frame's rest when that is the last
// frame, and otherwise doubles it (never beyond the read limit), so that a
// message of n bytes costs at most about 2n bytes of allocations in all
// and a peer cannot make us allocate a length it only announces. The caller
// holds readMu.
func (c *Conn) growMessage(dst []byte) []byte {
	n := int64(max(len(dst), 4096))
	if c.frame.fin && c.remain > 0 && !c.msgCompressed {
		n = min(n, c.remain)
	}
	n = min(n, max(c.readLimit.Load()-int64(len(dst)), 1))
	grown := make([]byte, len(dst), len(dst)+int(n))
	copy(grown, dst)
	return grown
}

// messageDone reports whether the current message has no more bytes to
// read. The caller holds readMu.
func (c *Conn) messageDone() bool {
	if c.msgCompressed {
		return c.compress.inDone
	}
	return c.remain == 0 && c.frame.fin
}

// awaitInput waits, between messages and with nothing buffered, until the
// network has bytes for the next one. It waits in the read method's own
// small frame rather than deep in the frame parser, so that the goroutine of
// an idle connection fits the smallest stack the runtime gives. The caller
// holds readMu.
//
// A timeout here, before any byte of the next message, is not final: the
// connection stays usable (see SetReadDeadline).
func (c *Conn) awaitInput() error {
	if c.readErr != nil || !c.betweenMessages() {
		return nil
	}
	return c.readNetwork()
}

// betweenMessages reports whether the read has consumed every byte it took
// from the network, up to the end of a whole frame outside any data message:
// the end of the last message, or of control frames that followed it. A
// timeout there loses no place in the stream, so it is not final. (A read
// that handled a ping and then waits for the next data frame is such a
// read: the ping is not part of a message.) The caller holds readMu.
func (c *Conn) betweenMessages() bool {
	return c.rpos == c.rend && c.remain == 0 && !c.fragmented
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
	defer c.unlockRead()
	defer c.finishRead()
	if err := c.awaitInput(); err != nil {
		return 0, nil, err
	}
	if err := c.beginMessage(); err != nil {
		return 0, nil, err
	}
	c.setInputPending(false)
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
	defer c.unlockRead()
	defer c.finishRead()
	if c.msgSeq != r.seq {
		return 0, errStaleReader
	}
	if len(p) == 0 {
		return 0, c.readErr
	}
	return c.readMessage(p)
}

// beginMessage discards what is left of the current message and reads up to
// the first frame of the next one. The caller holds readMu.
func (c *Conn) beginMessage() error {
	if c.readErr != nil {
		return c.readErr
	}
	if c.remain > 0 || c.fragmented {
		if err := c.discardMessage(); err != nil {
			return err
		}
	}
	c.msgSeq++
	return c.nextDataFrame()
}

// discardMessage reads the rest of the current message and drops it. (Its
// scratch buffer escapes to the heap through the network read, so it lives
// here, off the path of messages read whole.) The caller holds readMu.
func (c *Conn) discardMessage() error {
	var buf [512]byte
	for {
		if _, err := c.readMessage(buf[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// readMessage is the message step of the read path: it reads up to len(p)
// bytes of the current message into p and returns io.EOF, possibly with the
// last bytes, at its end. Text is validated as it arrives, so invalid UTF-8
// fails the connection as soon as it is read. The caller holds readMu.
func (c *Conn) readMessage(p []byte) (int, error) {
	if c.readErr != nil {
		return 0, c.readErr
	}
	var n int
	var err error
	if c.msgCompressed {
		n, err = c.inflate(p)
	} else {
		n, err = c.readFrames(p)
	}
	if c.msgOp == opText {
		if !c.utf8.write(p[:n]) || err == io.EOF && !c.utf8.complete() {
			return n, c.fail(StatusInvalidPayload, errInvalidUTF8)
		}
	}
	return n, err
}

// readFrames reads up to len(p) payload bytes of the current message into p,
// across its frames and the control frames between them, and returns io.EOF
// with the message's last bytes or after them. The caller holds readMu.
func (c *Conn) readFrames(p []byte) (int, error) {
	for c.remain == 0 {
		if c.frame.fin {
			return 0, io.EOF
		}
		if err := c.nextDataFrame(); err != nil {
			return 0, err
		}
	}
	n, err := c.readPayload(p)
	if err == nil && c.remain == 0 && c.frame.fin {
		err = io.EOF
	}
	return n, err
}

// nextDataFrame reads frame headers until one of a data frame, handling the
// control frames before it, and checks it against the message in progress.
// The caller holds readMu.
func (c *Conn) nextDataFrame() error {
	for {
		h, err := c.nextFrame()
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
			c.beginFrames(h)
		}
		if c.msgCompressed {
			// The limit counts inflated bytes (see inflate).
			c.fragmented = !h.fin
			return nil
		}
		// Compare before adding: msgLen <= readLimit, but msgLen plus a
		// 64-bit frame length could overflow and slip past the limit.
		if limit := c.readLimit.Load(); h.length > limit-c.msgLen {
			return c.fail(StatusMessageTooBig, tooBig(limit))
		}
		c.msgLen += h.length
		c.fragmented = !h.fin
		return nil
	}
}

// beginFrames starts a new message with its first frame's header h. The
// caller holds readMu.
func (c *Conn) beginFrames(h header) {
	c.msgOp = h.opcode
	c.msgLen = 0
	c.utf8 = utf8Validator{}
	c.msgCompressed = h.rsv&rsv1Bit != 0
	if c.msgCompressed {
		c.compress.inDone = false
	}
}

// nextFrame reads the next frame header, makes it the current frame, and
// fails the connection if it breaks a rule of RFC 6455 section 5.2 or the
// masking direction of section 5.1. The caller holds readMu.
func (c *Conn) nextFrame() (header, error) {
	h, err := c.readHeader()
	if err == errReservedBits && h.rsv == rsv1Bit {
		err = c.checkRSV1(h)
	}
	switch {
	case err != nil && (err == c.readErr || errors.Is(err, os.ErrDeadlineExceeded)):
		return h, err // the network failed, or timed out where readFailed left it soft
	case err != nil:
		return h, c.fail(StatusProtocolError, err)
	case c.server && !h.masked:
		return h, c.fail(StatusProtocolError, errUnmaskedClient)
	case !c.server && h.masked:
		return h, c.fail(StatusProtocolError, errMaskedServer)
	}
	return h, nil
}

// readHeader reads the next frame header and makes it the current frame. It
// returns a header that breaks a rule with the parser's error, leaving the
// verdict to the caller, and a network error as readFailed records it.
// The caller holds readMu.
func (c *Conn) readHeader() (header, error) {
	for {
		h, n, err := parseHeader(c.rbuf[c.rpos:c.rend])
		if n > 0 {
			c.rpos += n
			c.frame, c.remain = h, h.length
		}
		if n > 0 || err != nil {
			return h, err
		}
		if err := c.fill(c.rend - c.rpos + 1); err != nil {
			return h, err
		}
	}
}

// handleControl reads the payload of control frame h and acts on it: a ping
// is owed a pong, a pong goes to the OnPong hook, a close ends reading and
// is owed an answer (finishRead). The caller holds readMu.
func (c *Conn) handleControl(h header) error {
	p, err := c.controlPayload(h)
	if err != nil {
		return err
	}
	switch h.opcode {
	case opPing:
		if c.onPing != nil {
			c.onPing(c, p)
		}
		c.owePong(p)
	case opPong:
		c.pongArrived(p)
		if c.onPong != nil {
			c.onPong(c, p)
		}
	case opClose:
		ce, code, err := parseClosePayload(p)
		if err != nil {
			return c.fail(code, err)
		}
		ce.local = c.has(stClosing)
		c.readErr = &ce
		c.state.Or(stPeerClosed)
		c.replyDue = true
		return c.readErr
	}
	return nil
}

// finishRead ends every read method: it sends what the read owes the peer,
// a pong or the answer to its close frame, without waiting on the write
// side. Answering the close here rather than deep in the frame parser keeps
// the end of a connection within the smallest goroutine stack. The caller
// holds readMu.
func (c *Conn) finishRead() {
	if c.has(stOwed) {
		c.flushNoWait()
	}
	if c.replyDue {
		c.replyToClose()
	}
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
// p and unmasks them. The caller holds readMu.
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
		if n == 0 && err != nil {
			return 0, c.readFailed(err)
		}
		c.heard()
	default:
		if err := c.fill(1); err != nil {
			return 0, err
		}
		n = copy(p, c.rbuf[c.rpos:c.rend])
		c.rpos += n
	}
	if c.frame.masked {
		mask(c.frame.key, int(c.frame.length-c.remain), p[:n])
	}
	c.remain -= int64(n)
	return n, nil
}

// skipPayload reads and drops the rest of the current frame's payload. The
// caller holds readMu.
func (c *Conn) skipPayload() error {
	for c.remain > 0 {
		if err := c.fill(1); err != nil {
			return err
		}
		n := int(min(c.remain, int64(c.rend-c.rpos)))
		c.rpos += n
		c.remain -= int64(n)
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
// raw socket, it waits holding no buffer, so idle connections cost none.
// The caller holds readMu.
func (c *Conn) readNetwork() error {
	c.flushBeforeWait()
	if c.rpos == c.rend && c.raw != nil {
		c.releaseReadBuffer()
		err := c.raw.Read(c.rawRead)
		switch {
		case err != nil:
			if oe, ok := err.(*net.OpError); ok && oe.Op == "raw-read" {
				oe.Op = "read" // the read the caller asked for, not ours
			}
		case c.rawEOF:
			err = io.EOF
		case c.rawErrno != 0:
			err = os.NewSyscallError("read", c.rawErrno)
		}
		if err != nil {
			return c.readFailed(err)
		}
		c.heard()
		return nil
	}
	if c.rbufp == nil {
		c.takeReadBuffer()
	}
	m, err := c.conn.Read(c.rbuf[c.rend:])
	c.rend += m
	if m == 0 && err != nil {
		return c.readFailed(err)
	}
	c.heard()
	return nil // io.Reader allows (0, nil): the caller loops
}

// readRaw is called by raw.Read when the socket may be readable. It takes a
// buffer, reads into it (advancing rend) and reports true, or gives the
// buffer back and reports false to wait for readability. The caller holds
// readMu and, when it called raw.Read, held no buffer.
func (c *Conn) readRaw(fd uintptr) bool {
	if c.rbufp == nil {
		c.takeReadBuffer()
	}
	n, err := rawRead(fd, c.rbuf[c.rend:])
	switch {
	case err == syscall.EAGAIN:
		c.releaseReadBuffer()
		return false
	case err != nil:
		c.rawErrno, c.rawEOF = err.(syscall.Errno), false
	case n == 0:
		c.rawErrno, c.rawEOF = 0, true
	default:
		c.rend += n
		c.rawErrno, c.rawEOF = 0, false
	}
	return true
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
	soft := c.betweenMessages() // before releaseReadBuffer resets rpos and rend
	c.releaseReadBuffer()
	if soft && errors.Is(err, os.ErrDeadlineExceeded) {
		return err // no byte of a message was consumed: the next read may go on
	}
	err = c.keepAliveErr(err)
	c.readErr = err
	if c.has(stClosing) || !errors.Is(err, os.ErrDeadlineExceeded) {
		// Nothing more will be read: a Close waiting for the peer's
		// answer would wait in vain.
		c.closeConn()
	}
	return err
}

// setInputPending records whether the reader left a whole frame buffered.
func (c *Conn) setInputPending(pending bool) {
	if pending {
		c.state.Or(stInputPending)
	} else if c.has(stInputPending) {
		c.state.And(^uint32(stInputPending))
	}
}
