//go:build js && wasm

package websocket

// This file is the write side of the browser's Conn (GOOS=js): each message
// goes to the WebSocket's send whole, once the browser's buffer of unsent
// bytes has drained below the write buffer size.

import (
	"context"
	"fmt"
	"io"
	"syscall/js"
	"time"
	"unicode/utf8"
)

// Bounds of the pause between two looks at the WebSocket's bufferedAmount,
// for which the browser has no event.
const (
	minDrainPoll = time.Millisecond
	maxDrainPoll = 16 * time.Millisecond
)

// WriteMessage sends p as one message of type typ. It waits while the
// browser holds more than the write buffer size (Options.WriteBufferSize,
// default DefaultBufferSize) of unsent bytes, looking again every few
// milliseconds, and returns once it has handed the message to the browser,
// which copies it. A text message must be valid UTF-8: the browser would
// replace what is not, so WriteMessage refuses it. Concurrent calls are
// safe; each message goes out whole.
func (c *Conn) WriteMessage(typ MessageType, p []byte) error {
	return c.send(context.Background(), typ, p)
}

// WriteMessageCompressed is WriteMessage: the browser decides on its own
// whether to compress. So compress false, which asks for p to go
// uncompressed, fails with an error matching ErrNotSupported when the
// browser negotiated permessage-deflate (Compressed): the message may carry
// secrets that must not share a compression context with other data.
func (c *Conn) WriteMessageCompressed(typ MessageType, p []byte, compress bool) error {
	if !compress && c.compressed {
		return fmt.Errorf("%w: sending a message uncompressed: the browser compresses as it decides", ErrNotSupported)
	}
	return c.send(context.Background(), typ, p)
}

// WriteMessageContext is WriteMessage bounded by ctx as well. If ctx ends
// before the message is handed to the browser, it returns an error that
// matches ctx.Err(); nothing has been sent, and the connection stays usable.
func (c *Conn) WriteMessageContext(ctx context.Context, typ MessageType, p []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("websocket: write not started: %w", err)
	}
	return c.send(ctx, typ, p)
}

// send sends p as one message of type typ, once the browser's buffer has
// room for it, unless the write deadline passes or ctx ends first.
func (c *Conn) send(ctx context.Context, typ MessageType, p []byte) error {
	switch {
	case typ != TextMessage && typ != BinaryMessage:
		return errBadMessageType
	case typ == TextMessage && !utf8.Valid(p):
		return errInvalidUTF8
	}
	if err := c.awaitRoom(ctx); err != nil {
		return err
	}
	// A binary message goes to the browser straight from p: converting p
	// to a string first would copy it into Go memory for nothing.
	var data any
	if typ == BinaryMessage {
		bytes := js.Global().Get("Uint8Array").New(len(p))
		js.CopyBytesToJS(bytes, p)
		data = bytes
	} else {
		data = string(p)
	}
	return jsCall(func() { c.ws.Call("send", data) })
}

// awaitRoom waits until the browser holds at most highWater unsent bytes,
// looking at bufferedAmount every few milliseconds, unless the write
// deadline passes (or has passed) or ctx ends first. It returns an error
// matching ErrClosed once a close has begun (see writeClosed). The caller
// sends at once when it returns nil: the WebSocket's state changes only
// between the browser's tasks, so it is still open then.
func (c *Conn) awaitRoom(ctx context.Context) error {
	var timer *time.Timer
	pause := minDrainPoll
	for {
		if err := c.writeClosed(); err != nil {
			return err
		}
		select {
		case <-c.writeDL.wait():
			return errWriteTimeout
		default:
		}
		if c.ws.Get("bufferedAmount").Int() <= c.highWater {
			return nil
		}
		if timer == nil {
			timer = time.NewTimer(pause)
			defer timer.Stop()
		} else {
			timer.Reset(pause)
		}
		select {
		case <-timer.C:
		case <-c.writeDL.wait():
			return errWriteTimeout
		case <-ctx.Done():
			return fmt.Errorf("websocket: write cut short by its context: %w", ctx.Err())
		case <-c.done:
			return ErrClosed
		}
		pause = min(2*pause, maxDrainPoll)
	}
}

// Flush returns at once: in the browser a write hands its message to the
// WebSocket itself, and no frame waits in the Conn. It returns an error
// matching ErrClosed once a close has begun, as writes do.
func (c *Conn) Flush() error {
	return c.writeClosed()
}

// readyOpen is the readyState of a WebSocket that is open (OPEN).
const readyOpen = 1

// errNotOpen is what writes return once the browser's WebSocket is no
// longer open, before its close event has told the Conn: the browser has
// received the peer's close frame, or lost the connection.
var errNotOpen = fmt.Errorf("%w: the browser's WebSocket is closing (the peer's close frame or the connection's loss has come)", ErrClosed)

// writeClosed returns the error of writes once a close has begun: ErrClosed
// after this side's close or a failure, and errNotOpen once the browser's
// WebSocket is no longer open, though its close event may not have come
// yet: its send would then drop the message without a word.
func (c *Conn) writeClosed() error {
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	switch {
	case closing:
		return ErrClosed
	case c.ws.Get("readyState").Int() != readyOpen:
		return errNotOpen
	}
	return nil
}

// NextWriter begins a message of type typ and returns a writer for its
// payload. The browser sends a message only whole, so the writer collects
// the payload in memory, and its Close sends it as WriteMessage does.
// Writes to it after Close fail.
func (c *Conn) NextWriter(typ MessageType) (io.WriteCloser, error) {
	if typ != TextMessage && typ != BinaryMessage {
		return nil, errBadMessageType
	}
	if err := c.Flush(); err != nil {
		return nil, err
	}
	return &messageWriter{c: c, typ: typ}, nil
}

// messageWriter is the writer NextWriter returns.
type messageWriter struct {
	c      *Conn
	typ    MessageType
	buf    []byte
	closed bool
}

// Write appends p to the message.
func (w *messageWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errWriterClosed
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Close sends the message.
func (w *messageWriter) Close() error {
	if w.closed {
		return errWriterClosed
	}
	w.closed = true
	err := w.c.WriteMessage(w.typ, w.buf)
	w.buf = nil
	return err
}

// Ping fails with an error matching ErrNotSupported: the browser's
// WebSocket cannot send pings (it answers the peer's pings itself).
func (c *Conn) Ping(payload []byte) error {
	return fmt.Errorf("%w: pings: the browser cannot send them", ErrNotSupported)
}

// PingRTT fails with an error matching ErrNotSupported, as Ping does.
func (c *Conn) PingRTT(ctx context.Context) (time.Duration, error) {
	return 0, c.Ping(nil)
}
