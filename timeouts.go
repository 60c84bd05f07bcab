//go:build !js

package websocket

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// This file holds deadlines and the context-bounded reads and writes built
// on them: which timeouts are final, and which leave the connection usable.

// SetDeadline sets the read and write deadlines; see SetReadDeadline and
// SetWriteDeadline.
func (c *Conn) SetDeadline(t time.Time) error {
	c.readDL.Store(unixNano(t))
	c.writeDL.Store(unixNano(t))
	return c.setUnlessClosing(t, c.conn.SetDeadline)
}

// SetReadDeadline sets the deadline for reads, including the handling of
// control frames that happens inside them. A zero t means no deadline.
//
// A read that times out while it waits for the next message, before any
// of its bytes arrived (control frames it handled meanwhile, such as a ping
// it answered, do not count), returns an error that matches
// os.ErrDeadlineExceeded and leaves the connection as it was: set a new
// deadline and read again (a read loop can thus wake up periodically). A
// read that times out in the middle of a message has lost its place in the
// stream: every later read returns the same error, and the Conn should be
// closed.
//
// Once the closing handshake has begun on this side (Close, or the answer
// to the peer's close frame), the close timeout bounds the reads that
// remain, and a deadline set then has no effect: a read loop that sets a
// deadline before each read cannot stretch, or lift, Close's wait.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.readDL.Store(unixNano(t))
	return c.setUnlessClosing(t, c.conn.SetReadDeadline)
}

// SetWriteDeadline sets the deadline for writes of messages and pings. A
// write that times out may have sent part of a frame, so every later write
// returns the same error, and the Conn should be closed. A zero t means no
// deadline.
//
// The deadline does not bound what the Conn sends on its own: pongs and the
// answer to the peer's close, sent by reads, and queued frames sent in the
// background get at least the close timeout, so that a short deadline set
// around each write (gorilla's usual pattern) does not make them fail later.
// Once the closing handshake has begun, the close timeout bounds what is
// left to write, as for reads.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.writeDL.Store(unixNano(t))
	return c.setUnlessClosing(t, c.conn.SetWriteDeadline)
}

// unixNano returns t in Unix nanoseconds, or 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// extendWriteDeadline makes sure a write the Conn does on its own has at
// least the close timeout, whatever short deadline the application set, and
// returns whether it changed the deadline, for restoreWriteDeadline. The
// caller holds writeMu.
func (c *Conn) extendWriteDeadline() bool {
	dl := c.writeDL.Load()
	floor := time.Now().Add(c.closeTimeout)
	if dl == 0 || dl >= floor.UnixNano() || c.closeSent {
		return false
	}
	c.conn.SetWriteDeadline(floor)
	return true
}

// restoreWriteDeadline puts back the application's latest write deadline,
// unless the Conn is closing (see setUnlessClosing).
func (c *Conn) restoreWriteDeadline() {
	c.setUnlessClosing(fromUnixNano(c.writeDL.Load()), c.conn.SetWriteDeadline)
}

// restoreReadDeadline puts back the application's latest read deadline.
func (c *Conn) restoreReadDeadline() {
	c.setUnlessClosing(fromUnixNano(c.readDL.Load()), c.conn.SetReadDeadline)
}

// fromUnixNano returns the deadline that unixNano gave ns for.
func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// longAgo is a deadline in the past, to cut a blocked read or write short.
var longAgo = time.Unix(1, 0)

// AppendMessageContext is AppendMessage bounded by ctx as well as by the
// read deadline. If ctx ends while the read waits for the next message,
// before any of its bytes arrived, it returns an error that matches
// ctx.Err() and the connection stays usable; if it ends in the middle of a
// message, the read fails as a read deadline would, for good. When ctx
// ends, the read deadline is cut short for the rest of the call, and the
// one SetReadDeadline set is back in force once it returns. A ctx that can
// end costs a few allocations per call.
func (c *Conn) AppendMessageContext(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	if ctx.Done() == nil {
		return c.AppendMessage(dst)
	}
	if err := ctx.Err(); err != nil {
		return 0, dst, fmt.Errorf("websocket: read not started: %w", err)
	}
	// The cut is armed only once this read holds the read side, so that it
	// cannot reach a read it does not own (Close reading the peer's answer).
	c.readMu.Lock()
	defer c.unlockRead()
	cut := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.SetReadDeadline(longAgo)
		close(cut)
	})
	return c.appendMessageThen(dst, func(err error) error {
		if stop() {
			return err
		}
		// The cut may still be under way: it must not outlast the call,
		// nor reach a Close that takes the reading over.
		<-cut
		c.restoreReadDeadline()
		return contextError("read", ctx, err)
	})
}

// WriteMessageContext is WriteMessage bounded by ctx, and sent before it
// returns (it flushes the output queue): a bounded write in one call, bounded
// by the write deadline too. If ctx ends before the frame is written whole,
// the write fails for good, as a write deadline would, and the error
// matches ctx.Err(). When ctx ends, the write deadline is cut short for the
// rest of the call (for every write under way on the Conn, since they share
// it), and the one SetWriteDeadline set is back in force once it returns,
// for later writes and the frames queued ones leave to the background.
// Once the Conn is closing, the close timeout bounds the write instead. A
// ctx that can end costs a few allocations per call.
func (c *Conn) WriteMessageContext(ctx context.Context, typ MessageType, p []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("websocket: write not started: %w", err)
	}
	stop, cut := func() bool { return true }, chan struct{}(nil)
	if ctx.Done() != nil {
		cut = make(chan struct{})
		stop = context.AfterFunc(ctx, func() {
			c.setUnlessClosing(longAgo, c.conn.SetWriteDeadline)
			close(cut)
		})
	}
	err := c.WriteMessage(typ, p)
	if err == nil {
		err = c.Flush()
	}
	if !stop() {
		<-cut // the cut may still be under way: it must not outlast the call
		c.restoreWriteDeadline()
		err = contextError("write", ctx, err)
	}
	return err
}

// setUnlessClosing sets a deadline to t with set (the network
// connection's SetDeadline, SetReadDeadline or SetWriteDeadline), for the
// application and for the cuts and restores of context calls, unless our
// close frame is owed or sent: from then on the close timeout that Close
// and setCloseWriteDeadline set bounds what is left, and neither may
// shorten or undo it. Both take ctlMu, so one cannot land between the
// other's check and its setting.
func (c *Conn) setUnlessClosing(t time.Time, set func(time.Time) error) error {
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	if c.state.Load()&(stClosing|stClosed) == stClosing {
		return nil
	}
	return set(t) // once closed, the network connection's error
}

// setCloseWriteDeadline makes the close timeout, from now, the write
// deadline, which bounds the writing of our close frame and of what is
// queued before it. The caller has set stClosing.
func (c *Conn) setCloseWriteDeadline() {
	c.setCloseDeadline(time.Now().Add(c.closeTimeout), c.conn.SetWriteDeadline)
}

// setCloseDeadline sets a deadline of the closing handshake to t with set,
// under ctlMu (see setUnlessClosing). The caller has set stClosing.
func (c *Conn) setCloseDeadline(t time.Time, set func(time.Time) error) {
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	set(t)
}

// contextError returns err for an operation that ctx cut short, marked so
// that errors.Is matches ctx.Err().
func contextError(op string, ctx context.Context, err error) error {
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return fmt.Errorf("websocket: %s cut short by its context (%w): %w", op, context.Cause(ctx), err)
}
