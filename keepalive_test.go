//go:build !js

package websocket

import (
	"context"
	"errors"
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
