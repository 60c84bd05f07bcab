package websocket

// This file holds the close status codes of RFC 6455 section 7.4, the
// CloseError that reads return, and the rules for the code and reason that
// Close sends: what the Conns of every platform share, the browser's
// (js/wasm) included.

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// StatusCode is a close status code of RFC 6455 section 7.4.
type StatusCode int

// Status codes defined by RFC 6455 section 7.4.1 and the IANA registry.
const (
	StatusNormalClosure   StatusCode = 1000
	StatusGoingAway       StatusCode = 1001
	StatusProtocolError   StatusCode = 1002
	StatusUnsupportedData StatusCode = 1003
	// StatusNoStatusReceived is never sent. A CloseError carries it when the
	// peer's close frame had no payload; Close with it sends an empty close
	// frame.
	StatusNoStatusReceived StatusCode = 1005
	// StatusAbnormalClosure is never sent. It names, for applications that
	// record why connections ended, a connection that ended without a
	// close frame; reads report that as io.ErrUnexpectedEOF.
	StatusAbnormalClosure     StatusCode = 1006
	StatusInvalidPayload      StatusCode = 1007
	StatusPolicyViolation     StatusCode = 1008
	StatusMessageTooBig       StatusCode = 1009
	StatusMandatoryExtension  StatusCode = 1010
	StatusInternalError       StatusCode = 1011
	StatusServiceRestart      StatusCode = 1012
	StatusTryAgainLater       StatusCode = 1013
	StatusBadGateway          StatusCode = 1014
	StatusTLSHandshakeFailure StatusCode = 1015
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:       "normal closure",
	StatusGoingAway:           "going away",
	StatusProtocolError:       "protocol error",
	StatusUnsupportedData:     "unsupported data",
	StatusNoStatusReceived:    "no status received",
	StatusAbnormalClosure:     "abnormal closure",
	StatusInvalidPayload:      "invalid payload",
	StatusPolicyViolation:     "policy violation",
	StatusMessageTooBig:       "message too big",
	StatusMandatoryExtension:  "mandatory extension",
	StatusInternalError:       "internal error",
	StatusServiceRestart:      "service restart",
	StatusTryAgainLater:       "try again later",
	StatusBadGateway:          "bad gateway",
	StatusTLSHandshakeFailure: "TLS handshake failure",
}

// String returns the code and its name, such as "1000 (normal closure)".
func (c StatusCode) String() string {
	s := strconv.Itoa(int(c))
	if name, ok := statusNames[c]; ok {
		s += " (" + name + ")"
	}
	return s
}

// validOnWire reports whether c may appear in a close frame: 1000-1003,
// 1007-1014, and 3000-4999 (registered and private codes).
func (c StatusCode) validOnWire() bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// CloseError is the error that reads return once the peer has sent a close
// frame. Code is the peer's status code, or StatusNoStatusReceived if its
// close frame was empty. Inspect it with errors.As:
//
//	var ce *websocket.CloseError
//	if errors.As(err, &ce) && ce.Code == websocket.StatusNormalClosure { ... }
type CloseError struct {
	Code   StatusCode
	Reason string

	local bool // this side began the closing handshake; Code is the peer's answer
}

// Error returns a description such as
// "websocket: peer closed: 1001 (going away): bye", or, when this side began
// the closing handshake, "websocket: closed by this side, the peer answered
// 1001 (going away)".
func (e *CloseError) Error() string {
	s := "websocket: peer closed: " + e.Code.String()
	if e.local {
		s = "websocket: closed by this side, the peer answered " + e.Code.String()
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// maxCloseReason is the longest reason that fits a control frame after the
// 2-byte code.
const maxCloseReason = maxControlPayload - 2

// checkCloseArgs returns why Close must not send code and reason, if it
// must not: the code must be one that may be sent (1000-1003, 1007-1014,
// 3000-4999), or StatusNoStatusReceived with no reason for an empty close
// frame, and the reason valid UTF-8 of at most maxCloseReason bytes.
func checkCloseArgs(code StatusCode, reason string) error {
	if code != StatusNoStatusReceived && !code.validOnWire() {
		return fmt.Errorf("websocket: close code %d must not be sent; use 1000-1003, 1007-1014 or 3000-4999", int(code))
	}
	if len(reason) > maxCloseReason || !utf8.ValidString(reason) {
		return errors.New("websocket: close reason must be valid UTF-8 of at most 123 bytes")
	}
	if code == StatusNoStatusReceived && reason != "" {
		return errors.New("websocket: a close reason needs a status code; StatusNoStatusReceived sends an empty close frame")
	}
	return nil
}

// ErrCloseTimeout is returned by Close when the peer did not answer the
// close frame within the close timeout; the connection is closed anyway.
var ErrCloseTimeout = errors.New("websocket: peer did not answer the close frame within the close timeout; connection closed")

// errCloseUnanswered is returned by Close when the peer dropped the
// connection without answering the close frame.
var errCloseUnanswered = fmt.Errorf("websocket: peer dropped the connection without answering the close frame: %w", io.ErrUnexpectedEOF)
