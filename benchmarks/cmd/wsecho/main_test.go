package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsproject/websocket"
)

// TestCompressionFromEnv checks how WSBENCH_DEFLATE and WSBENCH_WINDOW_BITS
// are read.
func TestCompressionFromEnv(t *testing.T) {
	for _, tc := range []struct {
		mode, bits string
		want       *websocket.CompressionOptions
		bad        bool
	}{
		{"", "", nil, false},
		{"", "15", nil, false}, // no compression: the window does not matter
		{"takeover", "", &websocket.CompressionOptions{WindowBits: 12}, false},
		{"takeover", "15", &websocket.CompressionOptions{WindowBits: 15}, false},
		{"notakeover", "", &websocket.CompressionOptions{NoContextTakeover: true}, false},
		{"notakeover", "9", &websocket.CompressionOptions{NoContextTakeover: true, WindowBits: 9}, false},
		{"takeover", "7", nil, true},
		{"takeover", "16", nil, true},
		{"takeover", "x", nil, true},
		{"on", "", nil, true},
	} {
		got, err := compressionFromEnv(tc.mode, tc.bits)
		if (err != nil) != tc.bad || (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("compressionFromEnv(%q, %q) = %+v, %v; want %+v, error %v", tc.mode, tc.bits, got, err, tc.want, tc.bad)
		}
	}
}

// serveEcho runs wsecho's server with compression co on a loopback port,
// both ways it can run, and returns the addresses: Serve behind
// routeBroadcast, and net/http behind broadcastMux.
func serveEcho(t *testing.T, co *websocket.CompressionOptions) (serveAddr, httpAddr string) {
	t.Helper()
	srv := &websocket.Server{
		Options: websocket.Options{ReadLimit: 64 << 20, InsecureSkipOriginCheck: true, Compression: co},
		Handler: echo,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(routeBroadcast(ln, srv))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	hs := httptest.NewServer(broadcastMux(srv))
	t.Cleanup(hs.Close)
	return ln.Addr().String(), hs.Listener.Addr().String()
}

// handshake sends an opening handshake to addr whose request line is
// written in parts, with the extra header lines (each ending in "\r\n"),
// and returns the response.
func handshake(t *testing.T, addr string, parts []string, extra string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, p := range parts {
		if _, err := io.WriteString(c, p); err != nil {
			t.Fatal(err)
		}
	}
	io.WriteString(c, "Host: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+extra+"\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s, request line in parts %q: %v", addr, parts, err)
	}
	resp.Body.Close()
	return resp
}

// TestEchoDeflate checks that the echo compresses as WSBENCH_DEFLATE asks,
// with the offers of the shared load generator, and echoes messages.
func TestEchoDeflate(t *testing.T) {
	for _, tc := range []struct {
		mode, bits, answer string
		opts               websocket.CompressionOptions
	}{
		{"takeover", "", "permessage-deflate; client_no_context_takeover; server_max_window_bits=12",
			websocket.CompressionOptions{}},
		{"takeover", "15", "permessage-deflate; client_no_context_takeover",
			websocket.CompressionOptions{}},
		{"notakeover", "", "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			websocket.CompressionOptions{NoContextTakeover: true}},
	} {
		t.Run(tc.mode+tc.bits, func(t *testing.T) {
			co, err := compressionFromEnv(tc.mode, tc.bits)
			if err != nil {
				t.Fatal(err)
			}
			serveAddr, httpAddr := serveEcho(t, co)
			for _, addr := range []string{serveAddr, httpAddr} {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				offer := "permessage-deflate; client_no_context_takeover"
				if tc.opts.NoContextTakeover {
					offer += "; server_no_context_takeover"
				}
				resp := handshake(t, addr, []string{"GET / HTTP/1.1\r\n"}, "Sec-WebSocket-Extensions: "+offer+"\r\n")
				if got := resp.Header.Get("Sec-WebSocket-Extensions"); resp.StatusCode != http.StatusSwitchingProtocols || got != tc.answer {
					t.Fatalf("%s: offer %q: %s, answer %q; want 101 and %q", addr, offer, resp.Status, got, tc.answer)
				}
				c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", &websocket.DialOptions{
					Options: websocket.Options{Compression: &tc.opts},
				})
				if err != nil || !c.Compressed() {
					t.Fatalf("%s: Dial with compression: %v", addr, err)
				}
				msg := []byte(strings.Repeat(`{"user":"ana","text":"hello"}`, 100))
				for range 3 {
					if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
						t.Fatal(err)
					}
					if typ, got, err := c.ReadMessage(); err != nil || typ != websocket.TextMessage || string(got) != string(msg) {
						t.Fatalf("%s: echo %v of %d bytes, %v", addr, typ, len(got), err)
					}
				}
				c.Close(websocket.StatusNormalClosure, "")
			}
		})
	}
}
