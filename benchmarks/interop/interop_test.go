// Package interop checks this library against other WebSocket
// implementations over loopback: their clients against our Server, and our
// Dial against their servers. It lives in the benchmarks module because
// that module already depends on them; the library itself does not.
package interop

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/wsproject/websocket"
)

// sizes are the message sizes each test echoes: every length form and a
// large message.
var sizes = []int{0, 1, 125, 126, 65535, 65536, 1 << 20}

// payload returns n bytes of valid UTF-8 with multi-byte characters.
func payload(n int) []byte {
	b := bytes.Repeat([]byte("aé€😀"), n/10+1)
	for len(b) > n { // cut at a character boundary, then pad with ASCII
		b = b[:len(b)-1]
	}
	for !utf8Prefix(b) {
		b = b[:len(b)-1]
	}
	return append(b, bytes.Repeat([]byte("x"), n-len(b))...)
}

// utf8Prefix reports whether b does not end inside a character.
func utf8Prefix(b []byte) bool {
	for i := len(b) - 1; i >= 0 && i >= len(b)-4; i-- {
		c := b[i]
		if c < 0x80 {
			return true
		}
		if c >= 0xC0 {
			need := 2
			if c >= 0xF0 {
				need = 4
			} else if c >= 0xE0 {
				need = 3
			}
			return len(b)-i == need
		}
	}
	return true
}

// ourEcho serves our echo, with the subprotocol "chat" on offer, and
// reports the error each handler ended with. With serve it listens through
// Server.Serve, which parses the handshake itself; otherwise the Server is
// an http.Handler behind net/http, which calls Upgrade.
func ourEcho(t *testing.T, serve bool) (url string, ended <-chan error) {
	t.Helper()
	return ourEchoWith(t, serve, nil, nil)
}

// ourEchoWith is ourEcho with permessage-deflate set to co (nil: off). If
// compressed is not nil, each handler first sends it whether its Conn
// negotiated compression.
func ourEchoWith(t *testing.T, serve bool, co *websocket.CompressionOptions, compressed chan<- bool) (url string, ended <-chan error) {
	t.Helper()
	ch := make(chan error, 16)
	s := &websocket.Server{
		Options: websocket.Options{ReadLimit: 8 << 20, Subprotocols: []string{"chat"}, Compression: co},
		Handler: func(c *websocket.Conn) {
			if compressed != nil {
				compressed <- c.Compressed()
			}
			var buf []byte
			for {
				typ, msg, err := c.AppendMessage(buf[:0])
				if err != nil {
					ch <- err
					return
				}
				buf = msg
				if err := c.WriteMessage(typ, msg); err != nil {
					ch <- err
					return
				}
			}
		},
	}
	if !serve {
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		return "ws" + strings.TrimPrefix(srv.URL, "http"), ch
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return "ws://" + ln.Addr().String(), ch
}

// ourServers runs f against our echo served both ways (see ourEcho).
func ourServers(t *testing.T, f func(t *testing.T, url string, ended <-chan error)) {
	for _, serve := range []bool{false, true} {
		name := "Upgrade"
		if serve {
			name = "Serve"
		}
		t.Run(name, func(t *testing.T) {
			url, ended := ourEcho(t, serve)
			f(t, url, ended)
		})
	}
}

// expectPeerClose waits for a handler's end and checks it saw the peer's
// close with code.
func expectPeerClose(t *testing.T, ended <-chan error, code websocket.StatusCode) {
	t.Helper()
	select {
	case err := <-ended:
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("handler ended with %v, want the peer's close %d", err, code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not end")
	}
}

func TestGorillaClient(t *testing.T) { ourServers(t, gorillaClient) }

// gorillaClient echoes every size and type, a fragmented message with pings
// inside, and closes with 4000, as a gorilla client.
func gorillaClient(t *testing.T, url string, ended <-chan error) {
	c, _, err := gorilla.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadLimit(8 << 20)
	pongs := make(chan string, 3) // one per ping below
	c.SetPongHandler(func(s string) error { pongs <- s; return nil })
	for _, n := range sizes {
		for _, typ := range []int{gorilla.TextMessage, gorilla.BinaryMessage} {
			p := payload(n)
			if err := c.WriteMessage(typ, p); err != nil {
				t.Fatal(err)
			}
			gotType, got, err := c.ReadMessage()
			if err != nil || gotType != typ || !bytes.Equal(got, p) {
				t.Fatalf("size %d type %d: got type %d, %d bytes, %v", n, typ, gotType, len(got), err)
			}
		}
	}
	// A streamed message arrives as fragments; the echo is whole.
	w, _ := c.NextWriter(gorilla.TextMessage)
	for range 3 {
		w.Write(payload(5000))
		c.WriteControl(gorilla.PingMessage, []byte("mid"), time.Now().Add(time.Second))
	}
	w.Close()
	if _, got, err := c.ReadMessage(); err != nil || len(got) != 15000 {
		t.Fatalf("fragmented echo: %d bytes, %v", len(got), err)
	}
	if got := <-pongs; got != "mid" {
		t.Fatalf("pong %q", got)
	}
	c.WriteMessage(gorilla.CloseMessage, gorilla.FormatCloseMessage(4000, "bye"))
	if _, _, err := c.ReadMessage(); !gorilla.IsCloseError(err, 4000) {
		t.Fatalf("after close: %v, want the echo of close 4000", err)
	}
	expectPeerClose(t, ended, 4000)
}

func TestCoderClient(t *testing.T) { ourServers(t, coderClient) }

// coderClient echoes every size and type and closes with 1001, as a coder
// client.
func coderClient(t *testing.T, url string, ended <-chan error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := coder.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(8 << 20)
	// coder's reads handle control frames, so a reader keeps going while
	// Ping waits for its pong.
	for _, n := range sizes {
		for _, typ := range []coder.MessageType{coder.MessageText, coder.MessageBinary} {
			p := payload(n)
			if err := c.Write(ctx, typ, p); err != nil {
				t.Fatal(err)
			}
			gotType, got, err := c.Read(ctx)
			if err != nil || gotType != typ || !bytes.Equal(got, p) {
				t.Fatalf("size %d type %v: got type %v, %d bytes, %v", n, typ, gotType, len(got), err)
			}
		}
	}
	if err := c.Close(coder.StatusGoingAway, "done"); err != nil {
		t.Fatalf("coder's Close: %v", err)
	}
	expectPeerClose(t, ended, websocket.StatusGoingAway)
}

// theirEcho serves an echo written with a peer library.
func theirEcho(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// gorillaEcho returns an echo handler written with gorilla/websocket that
// upgrades with up. With up.EnableCompression, gorilla answers any
// permessage-deflate offer with no context takeover both ways and
// compresses every message it writes.
func gorillaEcho(up gorilla.Upgrader) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(8 << 20)
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(typ, msg) != nil {
				return
			}
		}
	}
}

// coderEcho returns an echo handler written with coder/websocket that
// accepts with opts (nil for coder's defaults).
func coderEcho(opts *coder.AcceptOptions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(8 << 20)
		ctx := r.Context()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if c.Write(ctx, typ, msg) != nil {
				return
			}
		}
	}
}

// dialAndEcho runs our client against an echo server.
func dialAndEcho(t *testing.T, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Options: websocket.Options{ReadLimit: 8 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sizes {
		for _, typ := range []websocket.MessageType{websocket.TextMessage, websocket.BinaryMessage} {
			p := payload(n)
			if err := c.WriteMessage(typ, p); err != nil {
				t.Fatal(err)
			}
			gotType, got, err := c.ReadMessage()
			if err != nil || gotType != typ || !bytes.Equal(got, p) {
				t.Fatalf("size %d type %v: got type %v, %d bytes, %v", n, typ, gotType, len(got), err)
			}
		}
	}
	w, _ := c.NextWriter(websocket.BinaryMessage)
	for range 4 {
		w.Write(make([]byte, 100_000)) // larger than the write buffer: fragments
	}
	w.Close()
	if _, got, err := c.ReadMessage(); err != nil || len(got) != 400_000 {
		t.Fatalf("fragmented echo: %d bytes, %v", len(got), err)
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestOurClientGorillaServer(t *testing.T) {
	dialAndEcho(t, theirEcho(t, gorillaEcho(gorilla.Upgrader{})))
}

func TestOurClientCoderServer(t *testing.T) {
	dialAndEcho(t, theirEcho(t, coderEcho(nil)))
}
