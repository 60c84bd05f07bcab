//go:build js && wasm

package websocket

// This file is the read side of the browser's Conn (GOOS=js): the reads
// take messages from the queue that the message events fill (see
// onMessage in conn_js.go).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
)

// ReadMessage reads the next data message and returns its type and a newly
// allocated copy of its payload. It is AppendMessage(nil).
func (c *Conn) ReadMessage() (MessageType, []byte, error) {
	return c.AppendMessage(nil)
}

// AppendMessage reads the next data message and appends its payload to dst,
// returning the message type and the extended slice; it allocates only when
// dst lacks the capacity. After the peer's close, it returns a *CloseError;
// after a connection that ended without a closing handshake,
// io.ErrUnexpectedEOF.
func (c *Conn) AppendMessage(dst []byte) (MessageType, []byte, error) {
	return c.AppendMessageContext(context.Background(), dst)
}

// AppendMessageContext is AppendMessage bounded by ctx as well: if ctx ends
// before a message is there, it returns an error that matches ctx.Err(),
// and the connection stays usable.
func (c *Conn) AppendMessageContext(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	m, err := c.nextMessage(ctx)
	if err != nil {
		return 0, dst, err
	}
	if m.typ == TextMessage {
		return m.typ, append(dst, m.text...), nil
	}
	return m.typ, append(dst, m.data...), nil
}

// NextReader waits for the next data message and returns its type and a
// reader for its payload, which returns io.EOF at the end of the message.
// The reader is valid until the next call of NextReader, ReadMessage or
// AppendMessage. In the browser the message has arrived whole before
// NextReader returns: the reader saves a copy, not memory.
func (c *Conn) NextReader() (MessageType, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	m, err := c.nextMessage(context.Background())
	if err != nil {
		return 0, nil, err
	}
	r := &messageReader{c: c, seq: c.msgSeq.Load(), r: bytes.NewReader(m.data)}
	if m.typ == TextMessage {
		r.r = strings.NewReader(m.text)
	}
	return m.typ, r, nil
}

// messageReader is the reader NextReader returns.
type messageReader struct {
	c   *Conn
	seq uint64 // the Conn's msgSeq for this message
	r   io.Reader
}

// Read reads from the message, unless a later read has begun.
func (r *messageReader) Read(p []byte) (int, error) {
	if r.c.msgSeq.Load() != r.seq {
		return 0, errStaleReader
	}
	return r.r.Read(p)
}

// nextMessage takes the next message from the queue, waiting for one
// until the read deadline passes or ctx ends, and returns the error that
// ended the connection once the queue is empty. The caller holds readMu.
func (c *Conn) nextMessage(ctx context.Context) (inMessage, error) {
	c.msgSeq.Add(1)
	if err := ctx.Err(); err != nil {
		return inMessage{}, fmt.Errorf("websocket: read not started: %w", err)
	}
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue[0] = inMessage{}
			c.queue = c.queue[1:]
			c.queued -= int64(m.size()) + queueCost
			c.mu.Unlock()
			return m, nil
		}
		err := c.readErr
		c.mu.Unlock()
		if err != nil {
			return inMessage{}, err
		}
		select {
		case <-c.arrived:
		case <-c.readDL.wait():
			return inMessage{}, errReadTimeout
		case <-ctx.Done():
			return inMessage{}, fmt.Errorf("websocket: read cut short by its context: %w", ctx.Err())
		}
	}
}
