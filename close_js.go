//go:build js && wasm

package websocket

// This file closes the browser's Conn (GOOS=js): Close with the browser's
// closing handshake, within the close timeout, and CloseNow.

import (
	"fmt"
	"time"
)

// Close performs the closing handshake: the browser sends a close frame
// with code and reason, and Close waits up to the close timeout
// (Options.CloseTimeout) for the browser's close event, which comes once
// the peer has answered and the connection is closed. Reads under way, and
// later ones, then return a *CloseError with the code of the peer's answer.
//
// The reason must be valid UTF-8 of at most 123 bytes. Browsers send only
// the codes StatusNormalClosure (1000) and 3000-4999, or an empty close
// frame for StatusNoStatusReceived (with no reason); other codes that may
// be sent elsewhere (1001-1003, 1007-1014) fail with an error matching
// ErrNotSupported, and codes that must never be sent with another error.
// Both leave the connection open.
//
// Close returns nil once the peer has answered, an error if the connection
// ended without its answer, ErrCloseTimeout if no close event came in time
// (the Conn is then over, as after CloseNow: messages not yet read are
// dropped, reads return errors that match ErrClosed, and the browser gives
// up on the connection as it decides), and ErrClosed if a close had
// already begun.
func (c *Conn) Close(code StatusCode, reason string) error {
	if err := checkCloseArgs(code, reason); err != nil {
		return err
	}
	if code != StatusNoStatusReceived && code != StatusNormalClosure && code < 3000 {
		return fmt.Errorf("%w: close code %v: browsers send only 1000 and 3000-4999", ErrNotSupported, code)
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closing = true
	c.mu.Unlock()
	err := jsCall(func() {
		if code == StatusNoStatusReceived {
			c.ws.Call("close")
		} else {
			c.ws.Call("close", int(code), reason)
		}
	})
	if err != nil {
		c.end(errClosedNow, true)
		return err
	}
	timer := time.NewTimer(c.closeTimeout)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
		c.end(errClosedNow, true)
		return ErrCloseTimeout
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.clean {
		return errCloseUnanswered
	}
	return nil
}

// CloseNow ends the connection at once: the browser is told to close the
// WebSocket, with an empty close frame if it is open (it cannot drop a
// connection without a closing handshake), and nothing waits for the
// peer's answer. The messages received and not yet read are dropped:
// reads and writes under way, and later ones, return errors that match
// ErrClosed. It returns ErrClosed if the connection was over already.
func (c *Conn) CloseNow() error {
	if !c.end(errClosedNow, true) {
		return ErrClosed
	}
	return nil
}
