//go:build js && wasm

package main

// This file holds the checks of what the browser refuses, of the limits,
// and of closing.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"runtime"
	"strings"
	"time"

	"github.com/wsproject/websocket"
)

// checkRefusedCalls checks that pings, close codes the browser cannot send
// and uncompressed writes on a compressed connection fail with
// ErrNotSupported, that a text message that is not UTF-8 fails too, and
// that none of them harms the connection.
func checkRefusedCalls(ctx context.Context, c *websocket.Conn) (string, error) {
	if err := c.Ping([]byte("hi")); !errors.Is(err, websocket.ErrNotSupported) {
		return "", fmt.Errorf("Ping: %v, want ErrNotSupported", err)
	}
	if _, err := c.PingRTT(ctx); !errors.Is(err, websocket.ErrNotSupported) {
		return "", fmt.Errorf("PingRTT: %v, want ErrNotSupported", err)
	}
	if err := c.Close(websocket.StatusGoingAway, "bye"); !errors.Is(err, websocket.ErrNotSupported) {
		return "", fmt.Errorf("Close(1001): %v, want ErrNotSupported", err)
	}
	if err := c.Close(1004, ""); err == nil || errors.Is(err, websocket.ErrNotSupported) {
		return "", fmt.Errorf("Close(1004), a code never sent: %v, want another error", err)
	}
	if err := c.WriteMessageCompressed(websocket.TextMessage, []byte("secret"), false); !errors.Is(err, websocket.ErrNotSupported) {
		return "", fmt.Errorf("WriteMessageCompressed(false) with compression negotiated: %v, want ErrNotSupported", err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte{'a', 0xff}); err == nil {
		return "", errors.New("a text message that is not UTF-8 was sent")
	}
	if err := echo(ctx, c, websocket.TextMessage, []byte("still open")); err != nil {
		return "", err
	}
	return "", nil
}

// checkRefusedOptions checks that Dial refuses, before it connects, every
// option the browser cannot honour, with ErrNotSupported.
func checkRefusedOptions(ctx context.Context, url string) (string, error) {
	jar, _ := cookiejar.New(nil)
	refused := map[string]*websocket.DialOptions{
		"Header":         {Header: http.Header{"Authorization": {"Bearer x"}}},
		"Jar":            {Jar: jar},
		"TLSConfig":      {TLSConfig: &tls.Config{}},
		"Proxy":          {Proxy: http.ProxyFromEnvironment},
		"NetDialContext": {NetDialContext: (&net.Dialer{}).DialContext},
		"OnPong":         {Options: websocket.Options{OnPong: func(*websocket.Conn, []byte) {}}},
		"KeepAlive":      {Options: websocket.Options{KeepAlive: time.Second}},
	}
	for name, opts := range refused {
		c, err := dial(ctx, url, opts)
		if c != nil || !errors.Is(err, websocket.ErrNotSupported) {
			if c != nil {
				c.CloseNow()
			}
			return "", fmt.Errorf("Dial with %s: %v, want ErrNotSupported", name, err)
		}
	}
	if _, err := dial(ctx, "ftp://example.com/", nil); err == nil || errors.Is(err, websocket.ErrNotSupported) {
		return "", fmt.Errorf("Dial of an ftp URL: %v, want an error of its own", err)
	}
	return fmt.Sprintf("%d options", len(refused)), nil
}

// readLimitCheck returns a check that has the echo send p back as a
// message of type typ, over the read limit, and checks that
// it fails the connection, which the browser then closes.
func readLimitCheck(typ websocket.MessageType, p []byte) func(context.Context, *websocket.Conn) (string, error) {
	return func(ctx context.Context, c *websocket.Conn) (string, error) {
		if err := c.WriteMessage(typ, p); err != nil {
			return "", err
		}
		_, _, err := c.AppendMessageContext(ctx, nil)
		var ce *websocket.CloseError
		if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "longer than the read limit") {
			return "", fmt.Errorf("reading a message over the limit: %v, want the read limit's error", err)
		}
		if err := awaitEnd(ctx, c); err != nil {
			return "", err
		}
		return err.Error(), nil
	}
}

// checkBigRefused has the echo send back a binary message of 8 MiB, over
// the read limit (1 MiB), and checks that the read fails with the read
// limit's error and that the Conn did not copy the message into Go memory
// to refuse it: that memory would stay the program's, as wasm memory never
// shrinks.
func checkBigRefused(ctx context.Context, c *websocket.Conn) (string, error) {
	const size = 8 << 20
	if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, size)); err != nil {
		return "", err
	}
	// The echo cannot have come yet: the browser runs its events only
	// when every goroutine waits, and none has since the write.
	before := totalAlloc()
	_, _, err := c.AppendMessageContext(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "longer than the read limit") {
		return "", fmt.Errorf("reading a message over the limit: %v, want the read limit's error", err)
	}
	if grew := totalAlloc() - before; grew >= size/2 {
		return "", fmt.Errorf("refusing a message of %d bytes allocated %d bytes of Go memory", size, grew)
	}
	if err := awaitEnd(ctx, c); err != nil {
		return "", err
	}
	return err.Error(), nil
}

// totalAlloc returns the bytes the program has allocated so far.
func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// checkFellBehind checks that messages left unread fail the connection once
// they reach the read limit (10000 bytes), after the reader has had the
// messages that came before.
func checkFellBehind(ctx context.Context, c *websocket.Conn) (string, error) {
	const n = 30
	for range n {
		if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 1000)); err != nil {
			return "", err
		}
	}
	if err := awaitEnd(ctx, c); err != nil {
		return "", err
	}
	read := 0
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if read == 0 || read >= n || errors.As(err, &ce) {
				return "", fmt.Errorf("%d messages read before %v; want some, then the error of the failure", read, err)
			}
			return fmt.Sprintf("%d messages, then %v", read, err), nil
		}
		if len(msg) != 1000 {
			return "", fmt.Errorf("message %d has %d bytes", read, len(msg))
		}
		read++
	}
}

// awaitEnd waits until the connection has ended after a failure, and
// checks that writes then fail with ErrClosed.
func awaitEnd(ctx context.Context, c *websocket.Conn) error {
	select {
	case <-c.Done():
	case <-ctx.Done():
		return errors.New("the connection did not end after the failure")
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("x")); !errors.Is(err, websocket.ErrClosed) {
		return fmt.Errorf("write after the failure: %v, want ErrClosed", err)
	}
	return nil
}

// checkDialContext checks that Dial returns the error of a context that
// ended.
func checkDialContext(ctx context.Context, url string) (string, error) {
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	c, err := dial(cancelled, url, nil)
	if c != nil || !errors.Is(err, context.Canceled) {
		if c != nil {
			c.CloseNow()
		}
		return "", fmt.Errorf("Dial with a cancelled context: %v, want context.Canceled", err)
	}
	return err.Error(), nil
}

// checkRefusedHandshake offers a subprotocol the echo does not speak: the
// server answers without one, and the browser, which offered one, fails
// the connection.
func checkRefusedHandshake(ctx context.Context, url string) (string, error) {
	opts := &websocket.DialOptions{Options: websocket.Options{Subprotocols: []string{"nope"}}}
	c, err := dial(ctx, url, opts)
	if c != nil || err == nil {
		if c != nil {
			c.CloseNow()
		}
		return "", fmt.Errorf("Dial: %v; want an error", err)
	}
	return err.Error(), nil
}

// checkClose closes with a code and a reason while a read waits: the read
// returns the peer's answer, and the Conn is over.
func checkClose(ctx context.Context, c *websocket.Conn) (string, error) {
	if err := echo(ctx, c, websocket.TextMessage, []byte("before closing")); err != nil {
		return "", err
	}
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		readErr <- err
	}()
	if err := c.Close(4000, "bye"); err != nil {
		return "", fmt.Errorf("Close: %w", err)
	}
	var ce *websocket.CloseError
	select {
	case err := <-readErr:
		if !errors.As(err, &ce) || ce.Code != 4000 {
			return "", fmt.Errorf("read under way: %v, want a *CloseError with code 4000", err)
		}
	case <-ctx.Done():
		return "", errors.New("the read under way did not end")
	}
	select {
	case <-c.Done():
	default:
		return "", errors.New("Done is open after Close returned")
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("x")); !errors.Is(err, websocket.ErrClosed) {
		return "", fmt.Errorf("write after Close: %v, want ErrClosed", err)
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); !errors.Is(err, websocket.ErrClosed) {
		return "", fmt.Errorf("second Close: %v, want ErrClosed", err)
	}
	return ce.Error(), nil
}

// checkCloseNow ends a connection with CloseNow while a read waits.
func checkCloseNow(ctx context.Context, c *websocket.Conn) (string, error) {
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		readErr <- err
	}()
	if err := c.CloseNow(); err != nil {
		return "", fmt.Errorf("CloseNow: %w", err)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, websocket.ErrClosed) {
			return "", fmt.Errorf("read under way: %v, want ErrClosed", err)
		}
	case <-ctx.Done():
		return "", errors.New("the read under way did not end")
	}
	if err := c.CloseNow(); !errors.Is(err, websocket.ErrClosed) {
		return "", fmt.Errorf("second CloseNow: %v, want ErrClosed", err)
	}
	return "", nil
}

// queueWait is how long a check waits for an echo to come into the read
// queue, which it cannot see, before it reads. An echo that has not come
// by then does not fail the check: it only tests less.
const queueWait = 300 * time.Millisecond

// checkCloseNowDrops leaves an echo unread, calls CloseNow, and checks that
// the next read returns ErrClosed instead of the message.
func checkCloseNowDrops(ctx context.Context, c *websocket.Conn) (string, error) {
	if err := echo(ctx, c, websocket.TextMessage, []byte("read")); err != nil {
		return "", err
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("left unread")); err != nil {
		return "", err
	}
	time.Sleep(queueWait)
	if err := c.CloseNow(); err != nil {
		return "", fmt.Errorf("CloseNow: %w", err)
	}
	return readClosed(c, "CloseNow")
}

// checkCloseTimeoutDrops dials the test server's peer that sends a message
// and answers no close frame, leaves the message unread, lets Close time
// out, and checks that the next read returns ErrClosed instead of the
// message.
func checkCloseTimeoutDrops(ctx context.Context, url string) (string, error) {
	opts := &websocket.DialOptions{Options: websocket.Options{CloseTimeout: 200 * time.Millisecond}}
	c, err := dial(ctx, url+"unanswered", opts)
	if err != nil {
		return "", err
	}
	defer c.CloseNow()
	time.Sleep(queueWait)
	if err := c.Close(websocket.StatusNormalClosure, ""); !errors.Is(err, websocket.ErrCloseTimeout) {
		return "", fmt.Errorf("Close with a peer that does not answer: %v, want ErrCloseTimeout", err)
	}
	return readClosed(c, "the close timeout")
}

// readClosed checks that a read after the end of c, which what, returns
// an error that matches ErrClosed.
func readClosed(c *websocket.Conn, what string) (string, error) {
	typ, msg, err := c.ReadMessage()
	if !errors.Is(err, websocket.ErrClosed) {
		return "", fmt.Errorf("read after %s: a %v message %q, %v; want ErrClosed", what, typ, msg, err)
	}
	return err.Error(), nil
}

// checkWriteAfterPeerClose dials the test server's peer that sends a close
// frame and then holds the connection open: the browser answers the close
// frame, but its close event waits for the connection's end. A write in
// between must fail with ErrClosed, as the browser would drop the message.
func checkWriteAfterPeerClose(ctx context.Context, url string) (string, error) {
	c, err := dial(ctx, url+"closing", nil)
	if err != nil {
		return "", err
	}
	defer c.CloseNow()
	time.Sleep(queueWait) // for the close frame to come
	select {
	case <-c.Done():
		return "", errors.New("the close event came while the peer held the connection open")
	default:
	}
	err = c.WriteMessage(websocket.TextMessage, []byte("dropped"))
	if !errors.Is(err, websocket.ErrClosed) {
		return "", fmt.Errorf("write after the peer's close frame: %v, want ErrClosed", err)
	}
	return err.Error(), nil
}
