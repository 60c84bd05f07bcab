//go:build !js

package websocket

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"sync/atomic"
	"time"
)

// This file holds heartbeats: the keepalive that pings an idle peer and
// fails a silent one (Options.KeepAlive), and PingRTT, a ping that reports
// its round trip. Both send their pings without waiting on the write side,
// through the owed control frames of write.go.

// keepAlive is the state of Options.KeepAlive on a connection.
type keepAlive struct {
	timer             atomic.Pointer[time.Timer] // atomic: the timer's own goroutine reads it
	interval, timeout time.Duration
	heard             atomic.Bool // the peer sent something since the last tick
	pinged            atomic.Bool // a keepalive ping awaits an answer
	failed            atomic.Bool // the keepalive closed the connection
}

// startKeepAlive arms the keepalive of o, if it has one.
func (c *Conn) startKeepAlive(o *Options) {
	if o.KeepAlive <= 0 {
		return
	}
	k := &keepAlive{interval: o.KeepAlive, timeout: o.KeepAliveTimeout}
	if k.timeout <= 0 {
		k.timeout = k.interval
	}
	c.keep = k
	t := time.AfterFunc(time.Duration(math.MaxInt64), c.keepAliveTick)
	k.timer.Store(t)
	t.Reset(k.interval)
}

// heard records that the peer sent something. The caller holds readMu.
func (c *Conn) heard() {
	if c.keep != nil {
		c.keep.heard.Store(true)
	}
}

// keepAliveTick runs when the keepalive timer fires: after a quiet
// interval it pings, and after an unanswered ping it fails the connection.
func (c *Conn) keepAliveTick() {
	k := c.keep
	switch {
	case c.has(stClosed | stClosing):
		return
	case k.heard.Swap(false):
		k.timer.Load().Reset(k.nextTick(k.pinged.Swap(false)))
	case k.pinged.Load():
		k.failed.Store(true)
		c.CloseNow()
	default:
		k.pinged.Store(true)
		k.timer.Load().Reset(k.timeout)
		c.sendPing(nil)
	}
}

// nextTick returns when the tick after one that heard from the peer is
// due. After an answered ping that tick comes KeepAlive after the ping, not
// after the answer, so that a peer that answers but sends nothing else is
// pinged every KeepAlive (the Conn is never quiet for longer, which is what
// proxies' idle timeouts see); otherwise it comes KeepAlive later.
func (k *keepAlive) nextTick(afterPing bool) time.Duration {
	if afterPing {
		return max(k.interval-k.timeout, 0)
	}
	return k.interval
}

// stopKeepAlive stops the keepalive timer, if any.
func (c *Conn) stopKeepAlive() {
	if c.keep != nil {
		c.keep.timer.Load().Stop()
	}
}

// keepAliveErr returns err, or the keepalive's error if the keepalive
// closed the connection.
func (c *Conn) keepAliveErr(err error) error {
	if c.keep != nil && c.keep.failed.Load() {
		return fmt.Errorf("%w (%w)", ErrKeepAliveTimeout, err)
	}
	return err
}

// sendPing sends a ping with payload p without waiting on the write side:
// at once if no writer holds the write lock, otherwise with the writer's
// next frame.
func (c *Conn) sendPing(p []byte) {
	c.ctlMu.Lock()
	o := c.owedLocked()
	o.ping = append(o.ping[:0], p...)
	o.pingDue = true
	c.state.Or(stOwed)
	c.ctlMu.Unlock()
	c.flushNoWait()
}

// rttWaiter is a PingRTT call waiting for the pong of its own ping.
type rttWaiter struct {
	payload [8]byte
	pong    chan error // nil once the pong is in, or why the ping cannot go out
	due     bool       // its ping is yet to be queued (see queueOwed)
}

// answer tells w's call that its pong is in (err nil) or that its ping
// cannot be sent. Only the first answer counts.
func (w *rttWaiter) answer(err error) {
	select {
	case w.pong <- err:
	default:
	}
}

// PingRTT sends a ping and waits for the peer's pong, and returns the round
// trip time. Pongs are received by reads, so another goroutine must be
// reading; ctx bounds the wait. The ping carries 8 random bytes of its own,
// so that its pong is told apart from others (and cannot be answered
// before it is sent): concurrent calls each send their own ping and each
// wait for its own pong.
//
// It returns an error matching ctx.Err(), having sent nothing, if ctx has
// ended already; ErrClosed if the connection is closing, or closes while
// it waits (see Done); and an error wrapping the write's if an earlier
// write failed, which leaves no way to send the ping.
func (c *Conn) PingRTT(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("websocket: ping not sent: %w", err)
	}
	if c.has(stClosed | stClosing) {
		return 0, ErrClosed
	}
	w := rttWaiter{pong: make(chan error, 1), due: true}
	binary.BigEndian.PutUint64(w.payload[:], mrand.Uint64())
	done := c.Done()
	start := time.Now()
	c.ctlMu.Lock()
	o := c.owedLocked()
	o.rtt = append(o.rtt, w)
	c.state.Or(stOwed)
	c.ctlMu.Unlock()
	defer c.dropRTTWaiter(w.pong)
	c.flushNoWait()
	select {
	case err := <-w.pong:
		return rttResult(start, err)
	case <-done:
		select {
		case err := <-w.pong: // it came just before the end
			return rttResult(start, err)
		default:
			return 0, ErrClosed
		}
	case <-ctx.Done():
		return 0, fmt.Errorf("websocket: no pong before the context ended: %w", ctx.Err())
	}
}

// rttResult returns PingRTT's result for an answer that came: the time
// since start, or err.
func rttResult(start time.Time, err error) (time.Duration, error) {
	if err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// dropRTTWaiter forgets the waiter whose channel is pong.
func (c *Conn) dropRTTWaiter(pong chan error) {
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	for i, w := range c.owed.rtt {
		if w.pong == pong {
			c.owed.rtt = append(c.owed.rtt[:i], c.owed.rtt[i+1:]...)
			return
		}
	}
}

// pongArrived wakes the PingRTT call whose ping the pong with payload p
// answers, if any. The caller holds readMu.
func (c *Conn) pongArrived(p []byte) {
	if len(p) != 8 {
		return
	}
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	if c.owed == nil {
		return
	}
	for i, w := range c.owed.rtt {
		if string(w.payload[:]) == string(p) {
			w.answer(nil)
			c.owed.rtt = append(c.owed.rtt[:i], c.owed.rtt[i+1:]...)
			return
		}
	}
}
