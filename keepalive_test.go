//go:build !js

package websocket

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestKeepAliveFailsSilentPeer checks that the keepalive pings a quiet peer
// and, when no answer comes, closes the connection with an error the
// server's read reports as ErrKeepAliveTimeout.
func TestKeepAliveFailsSilentPeer(t *testing.T) {
	readErr := make(chan error, 1)
	addr, _ := serveConn(t, Options{KeepAlive: 50 * time.Millisecond, KeepAliveTimeout: 50 * time.Millisecond}, func(c *Conn) {
		_, _, err := c.ReadMessage()
		readErr <- err
	})
	c := connect(t, addr) // a raw client never answers pings
	if h, _ := c.nextFrame(); h.opcode != opPing {
		t.Fatalf("first frame %v, want a ping", h.opcode)
	}
	if err := await(t, readErr, "the read to fail"); !errors.Is(err, ErrKeepAliveTimeout) {
		t.Fatalf("read: %v, want ErrKeepAliveTimeout", err)
	}
}

// TestKeepAliveKeepsAnsweringPeer checks that a peer that answers pings (as
// Dial's Conn does, while it reads) keeps its connection, and that the
// server sees the pongs through OnPong.
func TestKeepAliveKeepsAnsweringPeer(t *testing.T) {
	pongs := make(chan struct{}, 10)
	readErr := make(chan error, 1)
	addr, _ := serveConn(t, Options{
		KeepAlive: 20 * time.Millisecond,
		OnPong: func(*Conn, []byte) {
			select {
			case pongs <- struct{}{}:
			default:
			}
		},
	}, func(c *Conn) {
		_, _, err := c.ReadMessage()
		readErr <- err
	})
	c := mustDial(t, wsURL(addr), nil)
	go c.ReadMessage() // answers the pings
	for range 5 {
		await(t, pongs, "a pong to the keepalive ping")
	}
	c.Close(StatusNormalClosure, "")
	var ce *CloseError
	if err := await(t, readErr, "the server's read"); !errors.As(err, &ce) || ce.Code != StatusNormalClosure {
		t.Fatalf("server read: %v, want the client's close", err)
	}
}

// TestKeepAliveNextTick checks when the tick after one that heard from
// the peer comes: KeepAlive after the ping that the peer answered, so that
// a peer that only answers is pinged every KeepAlive (or KeepAliveTimeout,
// if longer), not every KeepAlive plus the wait for its pong, which would
// leave the connection quiet past a proxy's idle timeout of 2×KeepAlive.
func TestKeepAliveNextTick(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		interval, timeout time.Duration
		afterPing         bool
		want              time.Duration
	}{
		{30 * s, 30 * s, true, 0},
		{30 * s, 10 * s, true, 20 * s},
		{30 * s, 60 * s, true, 0},
		{30 * s, 30 * s, false, 30 * s},
		{30 * s, 10 * s, false, 30 * s},
	} {
		k := &keepAlive{interval: tc.interval, timeout: tc.timeout}
		if got := k.nextTick(tc.afterPing); got != tc.want {
			t.Errorf("interval %v, timeout %v, after a ping %v: next tick in %v, want %v",
				tc.interval, tc.timeout, tc.afterPing, got, tc.want)
		}
	}
}

// TestPingRTT checks that PingRTT returns once the pong of its own ping
// arrives, and that OnPing sees the peer's pings.
func TestPingRTT(t *testing.T) {
	pinged := make(chan string, 1)
	addr, _ := serveConn(t, Options{OnPing: func(_ *Conn, p []byte) { pinged <- string(p) }}, echoHandler)
	c := mustDial(t, wsURL(addr), nil)
	defer c.CloseNow()
	go c.ReadMessage()
	rtt, err := c.PingRTT(context.Background())
	if err != nil || rtt <= 0 {
		t.Fatalf("PingRTT: %v, %v", rtt, err)
	}
	if p := await(t, pinged, "OnPing"); len(p) != 8 {
		t.Errorf("OnPing payload %q, want PingRTT's 8 bytes", p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.PingRTT(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("PingRTT with a cancelled context: %v", err)
	}
}

// rttWaiting returns how many PingRTT calls wait on c.
func rttWaiting(c *Conn) int {
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	if c.owed == nil {
		return 0
	}
	return len(c.owed.rtt)
}

// TestPingRTTConcurrent checks that concurrent PingRTT calls each send a
// ping of their own and each return on its pong, even when their pings wait
// together for a writer to let go of the write lock.
func TestPingRTTConcurrent(t *testing.T) {
	const callers = 5
	c, peer := serverPair(t, Options{})
	go c.ReadMessage()
	pings := make(chan string, callers)
	go func() { // the peer answers every ping, and reports its payload
		for {
			h, p, err := peer.readFrame()
			if err != nil {
				return
			}
			if h.opcode == opPing {
				pings <- string(p)
				peer.conn.Write(clientFrame(true, opPong, string(p)))
			}
		}
	}()
	c.writeMu.Lock() // a writer holds the lock: the pings wait for it
	errs := make(chan error, callers)
	for range callers {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			_, err := c.PingRTT(ctx)
			errs <- err
		}()
	}
	for rttWaiting(c) < callers {
		runtime.Gosched() // until every call waits
	}
	c.unlockWrite(false) // as the writer does, sending what is owed
	seen := make(map[string]bool)
	for range callers {
		if err := await(t, errs, "PingRTT"); err != nil {
			t.Errorf("PingRTT: %v", err)
		}
		seen[await(t, pings, "a ping")] = true
	}
	if len(seen) != callers {
		t.Errorf("the peer got %d distinct pings for %d calls", len(seen), callers)
	}
}

// TestPingRTTEnds checks that PingRTT sends nothing when its context has
// already ended, and that a call waiting for a pong returns ErrClosed when
// the connection closes.
func TestPingRTTEnds(t *testing.T) {
	c, peer := serverPair(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.PingRTT(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("PingRTT with an ended context: %v, want context.Canceled", err)
	}
	if err := c.WriteMessage(TextMessage, []byte("next")); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	peer.expectFrame(opText, "next") // and no ping before it

	result := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_, err := c.PingRTT(ctx) // nobody reads: no pong will come
		result <- err
	}()
	for rttWaiting(c) == 0 {
		runtime.Gosched() // until the call waits
	}
	c.CloseNow()
	if err := await(t, result, "PingRTT"); err != ErrClosed {
		t.Errorf("PingRTT on a connection that closed: %v, want ErrClosed", err)
	}
}

// TestPingRTTAfterWriteError checks that PingRTT returns the earlier write
// failure, which leaves no way to send its ping, instead of waiting for a
// pong that cannot come until its context ends or the Conn closes.
func TestPingRTTAfterWriteError(t *testing.T) {
	c, _ := serverPair(t, Options{})
	c.SetWriteDeadline(longAgo)
	if err := c.WriteMessage(TextMessage, []byte("x")); err == nil {
		t.Fatal("a write past its deadline succeeded")
	}
	c.SetWriteDeadline(time.Time{})
	res := make(chan error, 1)
	go func() {
		_, err := c.PingRTT(context.Background())
		res <- err
	}()
	if err := await(t, res, "PingRTT"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("PingRTT after a failed write: %v, want the write's error", err)
	}
}

// failingWriteConn is a net.Conn whose writes fail once fail is set; it is
// no plain socket, so queued frames go out through the flush timer.
type failingWriteConn struct {
	net.Conn
	fail atomic.Bool
}

// Write fails once fail is set, and writes p otherwise.
func (f *failingWriteConn) Write(p []byte) (int, error) {
	if f.fail.Load() {
		return 0, errors.New("write refused by the test")
	}
	return f.Conn.Write(p)
}

// TestPingRTTQueuedPingLost checks that PingRTT returns when the write that
// was to carry its queued ping fails, instead of waiting for a pong that
// cannot come.
func TestPingRTTQueuedPingLost(t *testing.T) {
	peer, nc := tcpPair(t)
	go io.Copy(io.Discard, peer)
	fc := &failingWriteConn{Conn: nc}
	c := newConn(fc, true, nil, &Options{}, negotiated{})
	defer c.CloseNow()
	fc.fail.Store(true)
	res := make(chan error, 1)
	go func() {
		_, err := c.PingRTT(context.Background())
		res <- err
	}()
	if err := await(t, res, "PingRTT"); err == nil || errors.Is(err, ErrClosed) {
		t.Errorf("PingRTT whose ping was lost with a failed write: %v, want the write's error", err)
	}
}
