package websocket

import (
	"encoding/binary"
	"errors"
	"strconv"
	"unicode/utf8"
)

// This file holds close status codes (RFC 6455 section 7.4) and the close
// frame payload: its validation, encoding and the error a peer's close
// becomes.

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
}

// Error returns a description such as
// "websocket: peer closed: 1001 (going away): bye".
func (e *CloseError) Error() string {
	s := "websocket: peer closed: " + e.Code.String()
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// maxCloseReason is the longest reason that fits a control frame after the
// 2-byte code.
const maxCloseReason = maxControlPayload - 2

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
