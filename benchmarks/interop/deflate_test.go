package interop

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/wsproject/websocket"
)

// This file checks permessage-deflate (RFC 7692) with other libraries:
// gorilla's and coder's clients against our Server with compression on,
// and our Dial with compression on against their servers. Every test
// checks that the extension was negotiated, echoes messages of every size
// both ways, compressed by both sides, many in a row so that context
// takeover must carry over from message to message, and a fragmented
// message, checks on the wire that the traffic really was compressed, and
// closes cleanly.

// ourCompressions are the settings of our side in the deflate tests: context
// takeover at the default window, no context takeover at the best level,
// and a 4 KiB window (gws's default) compressing every message, even an
// empty one.
var ourCompressions = []struct {
	name string
	opts websocket.CompressionOptions
}{
	{"takeover", websocket.CompressionOptions{}},
	{"notakeover", websocket.CompressionOptions{NoContextTakeover: true, Level: 9}},
	{"window12", websocket.CompressionOptions{WindowBits: 12, Threshold: -1}},
}

// echoPeer is the far end of a connection to an echo server, seen from the
// client, whichever library the client is.
type echoPeer interface {
	// send writes one message.
	send(typ websocket.MessageType, p []byte) error
	// sendFragmented writes one message in several frames, at least one
	// per part.
	sendFragmented(typ websocket.MessageType, parts [][]byte) error
	// receive reads one whole message.
	receive() (websocket.MessageType, []byte, error)
	// close closes the connection with status 1000 and waits for the
	// server's close frame.
	close() error
}

// jsonMessage returns message i of a chat-like stream: about 1 KiB of
// JSON whose keys, users and phrases repeat from message to message, which
// context takeover compresses far better than each message alone.
func jsonMessage(i int) []byte {
	users := []string{"ana", "bjørn", "chloé", "dmitrij", "émile", "fatima", "gō"}
	words := []string{"hello", "the deploy is green", "lunch?", "see the dashboard", "ship it", "👍", "who broke main", "привет", "مرحبا", "looks good to me"}
	r := rand.New(rand.NewPCG(uint64(i), 7))
	var b strings.Builder
	fmt.Fprintf(&b, `{"type":"message","id":%d,"channel":"general","ts":"2025-01-%02dT12:%02d:%02d.%03dZ",`,
		i, 1+i%28, i%60, (i*7)%60, i%1000)
	u := users[r.IntN(len(users))]
	fmt.Fprintf(&b, `"user":{"name":%q,"avatar":"https://cdn.example.com/avatars/%s/128.png","status":"online"},`, u, u)
	b.WriteString(`"blocks":[`)
	for j := range 12 {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"kind":"text","text":%q,"style":{"bold":%v}}`, words[r.IntN(len(words))], r.IntN(2) == 0)
	}
	fmt.Fprintf(&b, `],"reactions":[{"emoji":"🎉","count":%d}],"read_by":[`, r.IntN(20))
	for j := range 6 {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `%q`, users[r.IntN(len(users))])
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// noise returns n pseudo-random bytes, which do not compress: the
// compressor must fall back to stored blocks.
func noise(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// scriptMessage is one of the single messages of deflateScript.
type scriptMessage struct {
	typ   websocket.MessageType
	p     []byte
	noisy bool // made by noise: it does not compress
}

// deflateMessages are the single messages the deflate script echoes: tiny,
// around the default threshold, 1 KiB of JSON, 100 KiB and just over 1 MiB,
// as text that compresses and as binary, both compressible and not.
func deflateMessages() []scriptMessage {
	var ms []scriptMessage
	for _, n := range []int{0, 1, 5, 127, 128, 129} {
		ms = append(ms, scriptMessage{websocket.TextMessage, payload(n), false},
			scriptMessage{websocket.BinaryMessage, noise(n, uint64(n)), true})
	}
	ms = append(ms, scriptMessage{websocket.TextMessage, jsonMessage(0), false},
		scriptMessage{websocket.BinaryMessage, jsonMessage(1), false})
	for _, n := range []int{100 << 10, 1<<20 + 7} {
		ms = append(ms,
			scriptMessage{websocket.TextMessage, payload(n), false},
			scriptMessage{websocket.BinaryMessage, noise(n, uint64(n)), true},
			scriptMessage{websocket.BinaryMessage, bytes.Repeat(jsonMessage(n), n/500+1)[:n], false})
	}
	return ms
}

// expectEcho sends p and checks that the echo has the same type and bytes.
func expectEcho(t *testing.T, e echoPeer, typ websocket.MessageType, p []byte, what string) {
	t.Helper()
	if err := e.send(typ, p); err != nil {
		t.Fatalf("%s: sending %v of %d bytes: %v", what, typ, len(p), err)
	}
	gotType, got, err := e.receive()
	if err != nil || gotType != typ || !bytes.Equal(got, p) {
		t.Fatalf("%s: sent %v of %d bytes, got %v of %d bytes (equal %v), %v",
			what, typ, len(p), gotType, len(got), bytes.Equal(got, p), err)
	}
}

// deflateScript runs the deflate exchange over e: every single message,
// then 400 JSON messages in a row with a 40 KiB message, larger than any
// window, every 100th, then a text message in fragments whose boundaries
// cut characters in two, then more JSON, which must still decompress
// with the context the fragmented message left, and a close.
func deflateScript(t *testing.T, e echoPeer) {
	t.Helper()
	for _, m := range deflateMessages() {
		expectEcho(t, e, m.typ, m.p, "single message")
	}
	for i := range 400 {
		expectEcho(t, e, websocket.TextMessage, jsonMessage(i), fmt.Sprintf("JSON message %d in a row", i))
		if i%100 == 99 {
			expectEcho(t, e, websocket.BinaryMessage, noise(40<<10, uint64(i)), "40 KiB between the JSON")
		}
	}
	whole := append(append(jsonMessage(1000), payload(70_000)...), jsonMessage(1001)...)
	parts := [][]byte{whole[:1], whole[1:700], whole[700:20_003], whole[20_003:]}
	if err := e.sendFragmented(websocket.TextMessage, parts); err != nil {
		t.Fatalf("sending the fragmented message: %v", err)
	}
	if typ, got, err := e.receive(); err != nil || typ != websocket.TextMessage || !bytes.Equal(got, whole) {
		t.Fatalf("fragmented echo: %v of %d bytes, want text of %d bytes; %v", typ, len(got), len(whole), err)
	}
	for i := range 20 {
		expectEcho(t, e, websocket.TextMessage, jsonMessage(2000+i), "JSON after the fragmented message")
	}
	if err := e.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// countingConn counts the bytes a client reads and writes on the wire.
type countingConn struct {
	net.Conn
	read, written *atomic.Int64
}

// Read reads from the connection and counts the bytes.
func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// Write writes to the connection and counts the bytes.
func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// wire counts a client's traffic, to check that both sides compressed.
type wire struct{ read, written atomic.Int64 }

// dial dials like net.Dialer and counts the connection's bytes in w.
func (w *wire) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return countingConn{c, &w.read, &w.written}, nil
}

// scriptBytes is what deflateScript sends each way, uncompressed: about
// 4.1 MB in all, of which about 1.3 MB is noise, which does not compress.
func scriptBytes() (all, noisy int64) {
	for _, m := range deflateMessages() {
		all += int64(len(m.p))
		if m.noisy {
			noisy += int64(len(m.p))
		}
	}
	for i := range 400 {
		all += int64(len(jsonMessage(i)))
	}
	noisy += 4 * 40 << 10
	all += 4*40<<10 + 70_000 + int64(len(jsonMessage(1000))+len(jsonMessage(1001)))
	for i := range 20 {
		all += int64(len(jsonMessage(2000 + i)))
	}
	return all, noisy
}

// checkCompressedWire fails the test unless each direction of w carried at
// most the noise plus 30% of the rest of the script's bytes (see
// checkWireBytes). Peers whose threshold leaves messages of about 1 KiB
// uncompressed are not checked in that direction: clientAll and serverAll
// say whether the client's and the server's messages are to be checked.
func checkCompressedWire(t *testing.T, w *wire, clientAll, serverAll bool) {
	t.Helper()
	all, noisy := scriptBytes()
	checkWireBytes(t, all, noisy, w.written.Load(), w.read.Load(), clientAll, serverAll)
}

// checkWireBytes fails the test unless the client wrote (if checkWritten)
// and read (if checkRead) at most the noise plus 30% of the rest of the
// all bytes its script sent. That rest is repetitive text and JSON: with
// 15-bit and 12-bit windows the peers here send it in 3 to 8% of its size;
// with windows of 8 or 10 bits, shorter than the JSON messages that repeat,
// in up to 20%; uncompressed, it would be all there.
func checkWireBytes(t *testing.T, all, noisy, written, read int64, checkWritten, checkRead bool) {
	t.Helper()
	limit := noisy + (all-noisy)*30/100
	t.Logf("script: %d bytes each way, %d of them noise; on the wire the client wrote %d and read %d (limit %d)",
		all, noisy, written, read, limit)
	if checkRead && read > limit {
		t.Errorf("the server's messages were not compressed: the client read %d bytes, over the limit of %d", read, limit)
	}
	if checkWritten && written > limit {
		t.Errorf("the client's messages were not compressed: it wrote %d bytes, over the limit of %d", written, limit)
	}
}

// Ways to serve our echo (see ourEcho): bothWays through Upgrade and
// through Serve, serveOnly through Serve alone, for the variants whose
// requests differ only in what Upgrade and Serve parse alike.
var (
	bothWays  = []bool{false, true}
	serveOnly = []bool{true}
)

// ourDeflateServers runs f against our echo with each of ourCompressions,
// served each of the ways (see ourEcho). compressed yields, for each
// connection, whether the server's Conn says permessage-deflate was
// negotiated.
func ourDeflateServers(t *testing.T, ways []bool, f func(t *testing.T, co websocket.CompressionOptions, url string, ended <-chan error, compressed <-chan bool)) {
	for _, cfg := range ourCompressions {
		for _, serve := range ways {
			name := cfg.name + "/Upgrade"
			if serve {
				name = cfg.name + "/Serve"
			}
			t.Run(name, func(t *testing.T) {
				co := cfg.opts
				compressed := make(chan bool, 4)
				url, ended := ourEchoWith(t, serve, &co, compressed)
				f(t, cfg.opts, url, ended, compressed)
			})
		}
	}
}

// expectServerCompressed checks that the server's Conn of the latest
// connection negotiated permessage-deflate.
func expectServerCompressed(t *testing.T, compressed <-chan bool) {
	t.Helper()
	select {
	case ok := <-compressed:
		if !ok {
			t.Fatal("the server's Conn says permessage-deflate was not negotiated")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server's handler did not start")
	}
}

// gorillaPeer is a gorilla client.
type gorillaPeer struct{ c *gorilla.Conn }

// send writes p as one message.
func (g gorillaPeer) send(typ websocket.MessageType, p []byte) error {
	return g.c.WriteMessage(int(typ), p)
}

// sendFragmented writes the parts through one NextWriter, with a ping
// between parts, so control frames come between the compressed fragments.
func (g gorillaPeer) sendFragmented(typ websocket.MessageType, parts [][]byte) error {
	w, err := g.c.NextWriter(int(typ))
	if err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
		if err := g.c.WriteControl(gorilla.PingMessage, []byte("mid"), time.Now().Add(5*time.Second)); err != nil {
			return err
		}
	}
	return w.Close()
}

// receive reads one message.
func (g gorillaPeer) receive() (websocket.MessageType, []byte, error) {
	typ, p, err := g.c.ReadMessage()
	return websocket.MessageType(typ), p, err
}

// close sends close 1000 and waits for its echo.
func (g gorillaPeer) close() error {
	if err := g.c.WriteMessage(gorilla.CloseMessage, gorilla.FormatCloseMessage(1000, "bye")); err != nil {
		return err
	}
	if _, _, err := g.c.ReadMessage(); !gorilla.IsCloseError(err, 1000) {
		return fmt.Errorf("after close: %v, want the echo of close 1000", err)
	}
	return g.c.Close()
}

// TestDeflateGorillaClient runs gorilla's client with EnableCompression
// against our echo with compression on: gorilla offers and insists on no
// context takeover both ways, which our server must grant whatever its own
// settings.
func TestDeflateGorillaClient(t *testing.T) {
	ourDeflateServers(t, bothWays, func(t *testing.T, co websocket.CompressionOptions, url string, ended <-chan error, compressed <-chan bool) {
		w := &wire{}
		d := gorilla.Dialer{EnableCompression: true, NetDialContext: w.dial, HandshakeTimeout: 10 * time.Second}
		c, resp, err := d.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		want := "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
		if co.WindowBits == 12 {
			want += "; server_max_window_bits=12"
		}
		if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != want {
			t.Fatalf("Sec-WebSocket-Extensions = %q, want %q", got, want)
		}
		expectServerCompressed(t, compressed)
		c.SetReadLimit(8 << 20)
		c.SetCompressionLevel(9) // gorilla's client compresses every message it writes
		deflateScript(t, gorillaPeer{c})
		checkCompressedWire(t, w, true, true)
		expectPeerClose(t, ended, 1000)
	})
}

// coderPeer is a coder client or connection.
type coderPeer struct {
	ctx context.Context
	c   *coder.Conn
}

// send writes b as one message.
func (p coderPeer) send(typ websocket.MessageType, b []byte) error {
	return p.c.Write(p.ctx, coder.MessageType(typ), b)
}

// sendFragmented writes each part with its own Write on a coder Writer,
// which sends a frame per Write.
func (p coderPeer) sendFragmented(typ websocket.MessageType, parts [][]byte) error {
	w, err := p.c.Writer(p.ctx, coder.MessageType(typ))
	if err != nil {
		return err
	}
	for _, b := range parts {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return w.Close()
}

// receive reads one message.
func (p coderPeer) receive() (websocket.MessageType, []byte, error) {
	typ, b, err := p.c.Read(p.ctx)
	return websocket.MessageType(typ), b, err
}

// close runs coder's close handshake with 1000.
func (p coderPeer) close() error { return p.c.Close(coder.StatusNormalClosure, "bye") }

// TestDeflateCoderClient runs coder's client in both its compression modes
// against our echo with compression on. With CompressionContextTakeover
// coder offers plain "permessage-deflate" and keeps its context; our
// server keeps its own unless its settings say otherwise.
func TestDeflateCoderClient(t *testing.T) {
	modes := []struct {
		name string
		mode coder.CompressionMode
	}{
		{"CompressionContextTakeover", coder.CompressionContextTakeover},
		{"CompressionNoContextTakeover", coder.CompressionNoContextTakeover},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ourDeflateServers(t, bothWays, func(t *testing.T, co websocket.CompressionOptions, url string, ended <-chan error, compressed <-chan bool) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				w := &wire{}
				client := &http.Client{Transport: &http.Transport{DialContext: w.dial}}
				c, resp, err := coder.Dial(ctx, url, &coder.DialOptions{
					HTTPClient: client, CompressionMode: m.mode, CompressionThreshold: 1,
				})
				if err != nil {
					t.Fatal(err)
				}
				defer c.CloseNow()
				want := "permessage-deflate"
				if m.mode == coder.CompressionNoContextTakeover || co.NoContextTakeover {
					want += "; server_no_context_takeover; client_no_context_takeover"
				}
				if co.WindowBits == 12 {
					want += "; server_max_window_bits=12"
				}
				if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != want {
					t.Fatalf("Sec-WebSocket-Extensions = %q, want %q", got, want)
				}
				expectServerCompressed(t, compressed)
				c.SetReadLimit(8 << 20)
				deflateScript(t, coderPeer{ctx, c})
				checkCompressedWire(t, w, true, true)
				expectPeerClose(t, ended, 1000)
			})
		})
	}
}

// ourPeer is our client.
type ourPeer struct{ c *websocket.Conn }

// send writes p as one message.
func (o ourPeer) send(typ websocket.MessageType, p []byte) error { return o.c.WriteMessage(typ, p) }

// sendFragmented writes the parts through one NextWriter, which sends a
// fragment each time its 16 KiB buffer fills, with a ping between parts.
func (o ourPeer) sendFragmented(typ websocket.MessageType, parts [][]byte) error {
	w, err := o.c.NextWriter(typ)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
		if err := o.c.Ping([]byte("mid")); err != nil {
			return err
		}
	}
	return w.Close()
}

// receive reads one message.
func (o ourPeer) receive() (websocket.MessageType, []byte, error) { return o.c.ReadMessage() }

// close runs our close handshake with 1000.
func (o ourPeer) close() error { return o.c.Close(websocket.StatusNormalClosure, "bye") }

// dialDeflate runs deflateScript with our client, with each of
// ourCompressions, against the echo server at url. wantExt gives the
// Sec-WebSocket-Extensions answer the server must make to our offer;
// serverAll says whether the server compresses messages of 1 KiB.
func dialDeflate(t *testing.T, url string, serverAll bool, wantExt func(co websocket.CompressionOptions) string) {
	for _, cfg := range ourCompressions {
		t.Run(cfg.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			w := &wire{}
			co := cfg.opts
			c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
				Options:        websocket.Options{ReadLimit: 8 << 20, Compression: &co},
				NetDialContext: w.dial,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if got, want := resp.Header.Get("Sec-WebSocket-Extensions"), wantExt(cfg.opts); got != want {
				t.Fatalf("Sec-WebSocket-Extensions = %q, want %q", got, want)
			}
			if !c.Compressed() {
				t.Fatal("Compressed() = false after the server accepted permessage-deflate")
			}
			deflateScript(t, ourPeer{c})
			checkCompressedWire(t, w, true, serverAll)
		})
	}
}

func TestDeflateOurClientGorillaServer(t *testing.T) {
	url := theirEcho(t, gorillaEcho(gorilla.Upgrader{EnableCompression: true}))
	dialDeflate(t, url, true, func(websocket.CompressionOptions) string {
		return "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	})
}

func TestDeflateOurClientCoderServer(t *testing.T) {
	t.Run("CompressionContextTakeover", func(t *testing.T) {
		url := theirEcho(t, coderEcho(&coder.AcceptOptions{CompressionMode: coder.CompressionContextTakeover, CompressionThreshold: 1}))
		dialDeflate(t, url, true, func(co websocket.CompressionOptions) string {
			if co.NoContextTakeover {
				return "permessage-deflate; client_no_context_takeover; server_no_context_takeover"
			}
			return "permessage-deflate"
		})
	})
	t.Run("CompressionNoContextTakeover", func(t *testing.T) {
		url := theirEcho(t, coderEcho(&coder.AcceptOptions{CompressionMode: coder.CompressionNoContextTakeover, CompressionThreshold: 1}))
		dialDeflate(t, url, true, func(websocket.CompressionOptions) string {
			return "permessage-deflate; client_no_context_takeover; server_no_context_takeover"
		})
	})
}
