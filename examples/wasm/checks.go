//go:build js && wasm

package main

// This file holds the checks the program runs, each on a connection of its
// own to the echo server.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/wsproject/websocket"
)

// checks are run in this order; the test of examples/echo expects each name.
var checks = []check{
	{name: "subprotocol and compression", conn: checkOpen,
		opts: &websocket.DialOptions{Options: websocket.Options{Subprotocols: []string{"superchat", "chat"}}}},
	{name: "text, binary and JSON echoes", conn: checkEchoes},
	{name: "1 MiB binary and text echoes", conn: checkLarge},
	{name: "streamed writer and reader", conn: checkStreams},
	{name: "burst of messages", conn: checkBurst},
	{name: "deadlines and contexts", conn: checkTimeouts},
	{name: "NetConn", conn: checkNetConn},
	{name: "pings, close codes and uncompressed writes are refused", conn: checkRefusedCalls},
	{name: "dial options the browser cannot honour are refused", url: checkRefusedOptions},
	{name: "read limit: binary", opts: limit1000,
		conn: readLimitCheck(websocket.BinaryMessage, make([]byte, 4000))},
	{name: "read limit: binary, refused before it is copied", conn: checkBigRefused,
		opts: &websocket.DialOptions{Options: websocket.Options{ReadLimit: 1 << 20}}},
	{name: "read limit: text longer than the limit in UTF-16 units", opts: limit1000,
		conn: readLimitCheck(websocket.TextMessage, bytes.Repeat([]byte("\u00e9"), 2000))},
	{name: "read limit: text longer than the limit in UTF-8 only", opts: limit1000,
		conn: readLimitCheck(websocket.TextMessage, bytes.Repeat([]byte("\u00e9"), 600))},
	{name: "unread messages up to the read limit", conn: checkFellBehind,
		opts: &websocket.DialOptions{Options: websocket.Options{ReadLimit: 10000}}},
	{name: "dial cut short by its context", url: checkDialContext},
	{name: "handshake the browser refuses", url: checkRefusedHandshake},
	{name: "close with a code and a reason", conn: checkClose},
	{name: "CloseNow", conn: checkCloseNow},
	{name: "CloseNow drops the messages not read", conn: checkCloseNowDrops},
	{name: "close timeout drops the messages not read", url: checkCloseTimeoutDrops},
	{name: "write after the peer's close frame, before the close event", url: checkWriteAfterPeerClose},
}

// limit1000 sets a read limit of 1000 bytes.
var limit1000 = &websocket.DialOptions{Options: websocket.Options{ReadLimit: 1000}}

// check is a named check, which returns a detail to report, or an error.
// Most run on a connection dialed with opts (nil for the defaults), which
// is closed with status 1000 after them unless they closed it; the others
// dial the URL themselves.
type check struct {
	name string
	opts *websocket.DialOptions
	conn func(ctx context.Context, c *websocket.Conn) (string, error)
	url  func(ctx context.Context, url string) (string, error)
}

// run runs the check against the echo server at url.
func (ch check) run(ctx context.Context, url string) (string, error) {
	if ch.url != nil {
		return ch.url(ctx, url)
	}
	c, err := dial(ctx, url, ch.opts)
	if err != nil {
		return "", err
	}
	defer c.CloseNow()
	detail, err := ch.conn(ctx, c)
	if err == nil {
		if err = c.Close(websocket.StatusNormalClosure, ""); errors.Is(err, websocket.ErrClosed) {
			err = nil // the check closed it
		}
	}
	return detail, err
}

// dial dials url with opts and makes sure the response is nil, as the
// browser shows none.
func dial(ctx context.Context, url string, opts *websocket.DialOptions) (*websocket.Conn, error) {
	c, resp, err := websocket.Dial(ctx, url, opts)
	if resp != nil {
		return nil, errors.New("Dial returned a response; the browser shows none")
	}
	return c, err
}

// echo sends p as a message of type typ and checks that the echo is equal.
func echo(ctx context.Context, c *websocket.Conn, typ websocket.MessageType, p []byte) error {
	if err := c.WriteMessageContext(ctx, typ, p); err != nil {
		return fmt.Errorf("writing a %v message of %d bytes: %w", typ, len(p), err)
	}
	gotType, got, err := c.AppendMessageContext(ctx, nil)
	switch {
	case err != nil:
		return fmt.Errorf("reading the echo of a %v message of %d bytes: %w", typ, len(p), err)
	case gotType != typ || !bytes.Equal(got, p):
		return fmt.Errorf("sent a %v message of %d bytes, the echo is a %v message of %d bytes, equal %v",
			typ, len(p), gotType, len(got), bytes.Equal(got, p))
	}
	return nil
}

// checkOpen checks what the Conn reports of the handshake, in which it
// offered two subprotocols, of which the server prefers "chat".
func checkOpen(ctx context.Context, c *websocket.Conn) (string, error) {
	switch {
	case c.Subprotocol() != "chat":
		return "", fmt.Errorf("Subprotocol() = %q, want chat", c.Subprotocol())
	case !c.Compressed():
		return "", errors.New("Compressed() = false; Chromium offers permessage-deflate and the echo accepts it")
	case !strings.HasPrefix(c.RemoteAddr().String(), "ws://"):
		return "", fmt.Errorf("RemoteAddr() = %q, want the URL", c.RemoteAddr())
	}
	return fmt.Sprintf("subprotocol %q, compressed, remote address %s", c.Subprotocol(), c.RemoteAddr()), nil
}

// checkEchoes sends a text, a binary and a JSON message.
func checkEchoes(ctx context.Context, c *websocket.Conn) (string, error) {
	if err := echo(ctx, c, websocket.TextMessage, []byte("hello, w\u00f6rld \u2013 \u2713 \U0001F600")); err != nil {
		return "", err
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(255 - i)
	}
	if err := echo(ctx, c, websocket.BinaryMessage, all); err != nil {
		return "", err
	}
	type point struct {
		X, Y int
		Name string
	}
	sent := point{3, -4, "p\u00f6int"}
	var got point
	if err := c.WriteJSON(sent); err != nil {
		return "", err
	}
	if err := c.ReadJSON(&got); err != nil || got != sent {
		return "", fmt.Errorf("ReadJSON: %+v, %v; sent %+v", got, err, sent)
	}
	return "", nil
}

// checkLarge sends 1 MiB of random bytes, which must not be copied into Go
// memory on the way, and 1 MiB of text.
func checkLarge(ctx context.Context, c *websocket.Conn) (string, error) {
	big := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	// The browser takes a copy of the message; the Conn should make none
	// in Go memory, which never shrinks.
	before := totalAlloc()
	if err := c.WriteMessageContext(ctx, websocket.BinaryMessage, big); err != nil {
		return "", err
	}
	if grew := totalAlloc() - before; grew >= uint64(len(big)/2) {
		return "", fmt.Errorf("writing a binary message of %d bytes allocated %d bytes of Go memory", len(big), grew)
	}
	if _, got, err := c.AppendMessageContext(ctx, nil); err != nil || !bytes.Equal(got, big) {
		return "", fmt.Errorf("the echo of %d random bytes: %d bytes, equal %v, %v", len(big), len(got), bytes.Equal(got, big), err)
	}
	text := strings.Repeat("0123456789 \u00c4\u00d6\u00dc \u20ac \U0001F600\n", (1<<20)/28)
	if err := echo(ctx, c, websocket.TextMessage, []byte(text)); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d and %d bytes", len(big), len(text)), nil
}

// checkStreams sends a message in pieces with NextWriter, reads it with
// NextReader, and checks that a reader fails once the next read began.
func checkStreams(ctx context.Context, c *websocket.Conn) (string, error) {
	w, err := c.NextWriter(websocket.BinaryMessage)
	if err != nil {
		return "", err
	}
	var want []byte
	for i := range 3 {
		piece := bytes.Repeat([]byte{byte('a' + i)}, 1000*(i+1))
		want = append(want, piece...)
		if _, err := w.Write(piece); err != nil {
			return "", err
		}
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("second")); err != nil {
		return "", err
	}
	typ, r, err := c.NextReader()
	if err != nil {
		return "", err
	}
	got, err := io.ReadAll(r)
	if err != nil || typ != websocket.BinaryMessage || !bytes.Equal(got, want) {
		return "", fmt.Errorf("NextReader: a %v message of %d bytes (%v), want the %d bytes written in pieces", typ, len(got), err, len(want))
	}
	typ, r2, err := c.NextReader()
	if err != nil || typ != websocket.TextMessage {
		return "", fmt.Errorf("second NextReader: %v, %v", typ, err)
	}
	if _, err := r.Read(make([]byte, 1)); err == nil || err == io.EOF {
		return "", fmt.Errorf("the first reader, read after the second began, returned %v; want an error", err)
	}
	if got, err := io.ReadAll(r2); err != nil || string(got) != "second" {
		return "", fmt.Errorf("the second reader: %q, %v", got, err)
	}
	return "", nil
}

// checkBurst writes many messages before reading any of their echoes, so
// that writes wait for the browser's buffer to drain and echoes wait in the
// read queue.
func checkBurst(ctx context.Context, c *websocket.Conn) (string, error) {
	const n = 300
	msgs := make([][]byte, n)
	for i := range msgs {
		size := 100 + i*37%3000
		if i%50 == 25 {
			size = 200 << 10
		}
		msgs[i] = bytes.Repeat([]byte{byte(i)}, size)
		if err := c.WriteMessageContext(ctx, websocket.BinaryMessage, msgs[i]); err != nil {
			return "", fmt.Errorf("writing message %d: %w", i, err)
		}
	}
	for i, want := range msgs {
		_, got, err := c.AppendMessageContext(ctx, nil)
		if err != nil || !bytes.Equal(got, want) {
			return "", fmt.Errorf("echo %d: %d bytes, %v; want %d bytes", i, len(got), err, len(want))
		}
	}
	return fmt.Sprintf("%d messages", n), nil
}

// checkTimeouts checks that deadlines and contexts cut reads and writes
// short with errors that match os.ErrDeadlineExceeded and the context's
// error, and leave the connection usable.
func checkTimeouts(ctx context.Context, c *websocket.Conn) (string, error) {
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := c.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
		return "", fmt.Errorf("read past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	c.SetReadDeadline(time.Time{})
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte("late")); !errors.Is(err, os.ErrDeadlineExceeded) {
		return "", fmt.Errorf("write past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	c.SetWriteDeadline(time.Time{})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := c.AppendMessageContext(cancelled, nil); !errors.Is(err, context.Canceled) {
		return "", fmt.Errorf("read with a cancelled context: %v", err)
	}
	if err := c.WriteMessageContext(cancelled, websocket.TextMessage, []byte("x")); !errors.Is(err, context.Canceled) {
		return "", fmt.Errorf("write with a cancelled context: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.AppendMessageContext(short, nil); !errors.Is(err, context.DeadlineExceeded) {
		return "", fmt.Errorf("read with a context that ends: %v", err)
	}
	if err := echo(ctx, c, websocket.TextMessage, []byte("still usable")); err != nil {
		return "", err
	}
	return "", nil
}

// checkNetConn sends bytes through the net.Conn of NetConn.
func checkNetConn(ctx context.Context, c *websocket.Conn) (string, error) {
	nc := websocket.NetConn(c, websocket.BinaryMessage)
	nc.SetDeadline(time.Now().Add(checkTimeout))
	want := []byte("a byte stream over messages")
	if _, err := nc.Write(want); err != nil {
		return "", err
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(nc, got); err != nil || !bytes.Equal(got, want) {
		return "", fmt.Errorf("read %q, %v; want %q", got, err, want)
	}
	return "", nc.Close()
}
