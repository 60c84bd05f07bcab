//go:build !js

package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// deflateDial dials addr with compression options co and fails the test
// unless permessage-deflate was negotiated.
func deflateDial(t testing.TB, addr string, co *CompressionOptions) *Conn {
	t.Helper()
	c, resp, err := Dial(context.Background(), "ws://"+addr, &DialOptions{Options: Options{Compression: co, ReadLimit: 64 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
		t.Fatalf("extension %q, want permessage-deflate", ext)
	}
	if c.compress == nil {
		t.Fatal("the Conn does not compress")
	}
	return c
}

// TestDeflateEcho runs messages of every size class, as text and binary,
// whole and streamed, through a compressing echo server and client, for
// each combination of context takeover and window size.
func TestDeflateEcho(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 1000, 65535, 65536, 200 << 10, 1 << 20}
	for _, takeover := range []bool{true, false} {
		for _, bits := range []int{8, 9, 12, 15} {
			t.Run(fmt.Sprintf("takeover=%v/bits=%d", takeover, bits), func(t *testing.T) {
				co := &CompressionOptions{NoContextTakeover: !takeover, WindowBits: bits, Threshold: -1}
				addr, _ := serveConn(t, Options{Compression: co, ReadLimit: 64 << 20}, echoHandler)
				c := deflateDial(t, addr, co)
				defer c.Close(StatusNormalClosure, "")
				_, stream := chatStream(1, 1000)
				for i, size := range sizes {
					msg := bytes.Repeat(stream, size/len(stream)+1)[:size]
					typ := MessageType(TextMessage)
					if i%2 == 1 {
						typ = BinaryMessage
					}
					if i%3 == 2 {
						w, _ := c.NextWriter(typ)
						for off := 0; off < len(msg); off += 7000 {
							w.Write(msg[off:min(off+7000, len(msg))])
						}
						if err := w.Close(); err != nil {
							t.Fatal(err)
						}
					} else if err := c.WriteMessage(typ, msg); err != nil {
						t.Fatal(err)
					}
					gotTyp, got, err := c.ReadMessage()
					if err != nil || gotTyp != typ || !bytes.Equal(got, msg) {
						t.Fatalf("size %d: echo %v of %d bytes, %v; want %v of %d", size, gotTyp, len(got), err, typ, len(msg))
					}
				}
				gen := newChatGen(2)
				for i := range 200 {
					msg := gen.next()
					if err := c.WriteMessage(TextMessage, msg); err != nil {
						t.Fatal(err)
					}
					if _, got, err := c.ReadMessage(); err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("chat message %d: %q, %v", i, got, err)
					}
				}
			})
		}
	}
}

// compressed returns p compressed by compress/flate as one message's
// payload, with the final 00 00 ff ff removed (RFC 7692 section 7.2.1).
func compressed(t testing.TB, p []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, 6)
	w.Write(p)
	w.Flush()
	b := buf.Bytes()
	if !bytes.HasSuffix(b, []byte{0, 0, 0xff, 0xff}) {
		t.Fatal("no sync flush")
	}
	return b[:len(b)-4]
}

// deflateClient connects a raw client that negotiated permessage-deflate
// (without context takeover, so that each frame stands alone) to a
// compressing echo server with the given read limit.
func deflateClient(t *testing.T, limit int64) *rawClient {
	addr, _ := serveConn(t, Options{Compression: &CompressionOptions{}, ReadLimit: limit}, echoHandler)
	c, resp := dialRaw(t, addr, handshakeRequest(addr, "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n"))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Extensions") == "" {
		t.Fatalf("handshake: %s, extensions %q", resp.Status, resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	return c
}

// TestDeflateReadRules checks the reading rules of RFC 7692 on the wire:
// RSV1 marks the first frame only, compressed text is validated after
// inflating, the read limit counts inflated bytes, and data that does not
// inflate fails the connection.
func TestDeflateReadRules(t *testing.T) {
	hello := compressed(t, []byte("Hello, compressed world"))
	bomb := compressed(t, make([]byte, 8<<20))
	badUTF8 := compressed(t, []byte("ok \xff not ok"))
	tests := []struct {
		name  string
		send  []byte
		echo  []string // the echoed payloads, inflated
		close StatusCode
	}{
		{"compressed text", withRSV(clientFrame(true, opText, string(hello)), rsv1Bit), []string{"Hello, compressed world"}, 0},
		{"fragmented", cat(withRSV(clientFrame(false, opText, string(hello[:3])), rsv1Bit), clientFrame(false, opContinuation, string(hello[3:9])),
			clientFrame(true, opPing, "p"), clientFrame(true, opContinuation, string(hello[9:]))), []string{"Hello, compressed world"}, 0},
		{"uncompressed after compressed", cat(withRSV(clientFrame(true, opText, string(hello)), rsv1Bit), clientFrame(true, opText, "plain")), []string{"Hello, compressed world", "plain"}, 0},
		{"RSV1 on a continuation", cat(clientFrame(false, opText, "a"), withRSV(clientFrame(true, opContinuation, "b"), rsv1Bit)), nil, StatusProtocolError},
		{"RSV1 on a ping", withRSV(clientFrame(true, opPing, ""), rsv1Bit), nil, StatusProtocolError},
		{"RSV2", withRSV(clientFrame(true, opText, "a"), 0x20), nil, StatusProtocolError},
		{"invalid UTF-8 inside", withRSV(clientFrame(true, opText, string(badUTF8)), rsv1Bit), nil, StatusInvalidPayload},
		{"not deflate", withRSV(clientFrame(true, opBinary, "\xff\xff\xff\xff"), rsv1Bit), nil, StatusInvalidPayload},
		{"data after a final block", withRSV(clientFrame(true, opBinary, "\x03\x00junk"), rsv1Bit), nil, StatusInvalidPayload},
		{"bomb over the limit", withRSV(clientFrame(true, opBinary, string(bomb)), rsv1Bit), nil, StatusMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := deflateClient(t, 1<<20)
			c.send(tt.send)
			for _, want := range tt.echo {
				h, p := c.nextFrame()
				for h.opcode.isControl() {
					h, p = c.nextFrame()
				}
				if h.rsv == rsv1Bit {
					r := flate.NewReader(io.MultiReader(bytes.NewReader(p), strings.NewReader(deflateTail)))
					p, _ = io.ReadAll(r)
				}
				if string(p) != want {
					t.Fatalf("echo %q, want %q", p, want)
				}
			}
			if tt.close == 0 {
				c.closeHandshake()
				return
			}
			c.expectCloseFrame(tt.close)
		})
	}
}

// TestDeflateNotNegotiated checks that RSV1 fails the connection with 1002
// when permessage-deflate was not negotiated, even if the server could.
func TestDeflateNotNegotiated(t *testing.T) {
	addr, _ := serveConn(t, Options{Compression: &CompressionOptions{}}, echoHandler)
	c := connect(t, addr)
	c.send(withRSV(clientFrame(true, opText, string(compressed(t, []byte("x")))), rsv1Bit))
	c.expectCloseFrame(StatusProtocolError)
}

// TestDeflateEchoNoAllocs checks that a compressed round trip, with context
// takeover, allocates nothing in steady state on either side.
func TestDeflateEchoNoAllocs(t *testing.T) {
	co := &CompressionOptions{Threshold: -1}
	addr, _ := serveConn(t, Options{Compression: co}, echoHandler)
	c := deflateDial(t, addr, co)
	defer c.Close(StatusNormalClosure, "")
	msg := newChatGen(3).next()
	var buf []byte
	allocs := allocsPerStep(t, func() (err error) {
		if err = c.WriteMessage(TextMessage, msg); err == nil {
			_, buf, err = c.AppendMessage(buf[:0])
		}
		return err
	})
	if allocs != 0 && !raceEnabled() { // the race detector makes sync.Pool drop items
		t.Errorf("%v allocations per compressed round trip, want 0", allocs)
	}
}

// TestAppendWindow checks that a window keeps exactly the last 2^bits bytes
// of what went through it, grows with it, never beyond 2^bits, and is not
// reallocated once full.
func TestAppendWindow(t *testing.T) {
	const bits = 10
	all := testPayload(BinaryMessage, 8000, 1)
	var w []byte
	sent := 0
	for _, n := range []int{1, 7, 100, 300, 600, 1023, 1024, 1025, 2000, 3} {
		full := cap(w) == 1<<bits
		var base *byte
		if full {
			base = &w[:1][0]
		}
		w = appendWindow(w, all[sent:sent+n], bits)
		sent += n
		want := all[max(0, sent-1<<bits):sent]
		if !bytes.Equal(w, want) {
			t.Fatalf("after %d bytes: window of %d bytes differs from the last %d bytes", sent, len(w), len(want))
		}
		if cap(w) > min(2*sent, 1<<bits) {
			t.Fatalf("after %d bytes: capacity %d; want at most twice what went through, and at most the window's %d", sent, cap(w), 1<<bits)
		}
		if full && &w[:1][0] != base {
			t.Fatalf("after %d bytes: a full window was reallocated", sent)
		}
	}
}
