package websocket

// This file holds what reads and writes share on every platform, the
// browser's (js/wasm) included: message types and the errors of reads and
// writes.

import (
	"errors"
	"fmt"
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

// ErrClosed is returned by writes once a close frame has been sent or
// received, and by Close when the close handshake has already begun or the
// connection is closed (CloseNow, or a failure).
var ErrClosed = errors.New("websocket: connection is closed or closing")

// ErrNotSupported is matched (with errors.Is) by the errors that Dial and the
// Conn return in the browser (GOOS=js) for what the browser's WebSocket
// cannot do: request headers, pings, close codes the browser refuses, and
// options it cannot honour (see the package documentation). Other
// platforms never return it.
var ErrNotSupported = errors.New("websocket: not supported by the browser's WebSocket")

// ErrKeepAliveTimeout is the error (wrapped) that reads return after the
// keepalive failed the connection because the peer did not answer its ping
// in time.
var ErrKeepAliveTimeout = errors.New("websocket: peer did not answer the keepalive ping in time; connection closed")

// Errors of reads and writes: a text message that is not UTF-8 (reads fail
// the connection with status 1007 on it), and misuses of the API, which
// fail nothing.
var (
	errInvalidUTF8    = errors.New("websocket: text message is not valid UTF-8")
	errStaleReader    = errors.New("websocket: message reader used after the next read began")
	errWriterClosed   = errors.New("websocket: write to a message writer after Close")
	errBadMessageType = errors.New("websocket: message type must be TextMessage or BinaryMessage")
)

// tooBig returns the error of a message longer than the read limit.
func tooBig(limit int64) error {
	return fmt.Errorf("websocket: message longer than the read limit of %d bytes", limit)
}
