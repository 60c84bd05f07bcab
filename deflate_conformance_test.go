//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// This file is the permessage-deflate conformance campaign in the manner of
// the Autobahn testsuite, sections 12 (payloads of every kind and size) and
// 13 (every kind of offer). Each case runs against our Server twice: from a
// raw client that compresses with compress/flate and checks every echo bit
// by bit against the server's window, and from our Dial client, with both
// directions of the wire checked the same way. Then come how strictly Dial
// reads the server's answer, the rules and failures of compressed reads, a
// decompression bomb, tiny fragments, and the memory an idle compressing
// Conn keeps.

// ---- Payloads ----

// abPayload is a kind of data of Autobahn section 12, generated here where
// Autobahn reads a file.
type abPayload struct {
	name string
	op   opcode
	data []byte
}

// abPayloads returns the five kinds of section 12, about 160 KiB each: 12.1
// JSON, 12.2 a bitmap picture, 12.3 human-readable text with some non-ASCII
// letters, 12.4 HTML, 12.5 a PDF-like mix of markup and incompressible
// streams.
var abPayloads = sync.OnceValue(func() []abPayload {
	_, json := chatStream(12, 150)
	return []abPayload{
		{"12.1 JSON", opText, json},
		{"12.2 bitmap", opBinary, bitmapPayload()},
		{"12.3 prose", opText, prosePayload(160 << 10)},
		{"12.4 HTML", opText, htmlPayload(160 << 10)},
		{"12.5 PDF", opBinary, pdfPayload(160 << 10)},
	}
})

// bitmapPayload returns a 512x320 grayscale bitmap: rings and a
// checkerboard, with noise in the low bits.
func bitmapPayload() []byte {
	r := rand.New(rand.NewPCG(122, 1))
	const w, h = 512, 320
	b := append(make([]byte, 0, 54+w*h), "BM6\x80\x02\x00\x00\x00\x00\x006\x04"...)
	b = append(b, make([]byte, 54-len(b))...)
	for y := range h {
		for x := range w {
			dx, dy := x-w/2, y-h/2
			v := byte((dx*dx + dy*dy) >> 7)
			if (x/32+y/32)%2 == 0 {
				v = ^v
			}
			b = append(b, v&^3|byte(r.IntN(4)))
		}
	}
	return b
}

// proseWords is the vocabulary of prosePayload.
var proseWords = strings.Fields(`der die das und ist nicht ich du er sie es wir ihr
	Herz Geist Welt Natur Gott Mensch Liebe Nacht Tag Leben schön groß früh spät
	über für Mädchen Schüler Straße Größe hören möchte würde Ärger Öl grüßen Blüte
	König Studierzimmer Wissenschaft Augenblick verweile doch du bist so`)

// prosePayload returns n bytes or a little more of sentences.
func prosePayload(n int) []byte {
	r := rand.New(rand.NewPCG(123, 1))
	var b []byte
	for len(b) < n {
		for i := range 3 + r.IntN(12) {
			w := proseWords[r.IntN(len(proseWords))]
			if i == 0 {
				_, n := utf8.DecodeRuneInString(w)
				w = strings.ToUpper(w[:n]) + w[n:]
			} else {
				b = append(b, ' ')
			}
			b = append(b, w...)
		}
		b = append(b, ".!?,;"[r.IntN(5)])
		if r.IntN(6) == 0 {
			b = append(b, '\n')
		} else {
			b = append(b, ' ')
		}
	}
	return b
}

// htmlPayload returns n bytes or a little more of an HTML table.
func htmlPayload(n int) []byte {
	r := rand.New(rand.NewPCG(124, 1))
	b := []byte("<!DOCTYPE html>\n<html><head><title>Inventory</title></head><body><table>\n")
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, "<tr class=\"row%d\"><td><a href=\"/item/%d\">%s %s</a></td><td>%d.%02d</td><td>%s</td></tr>\n",
			i%2, r.IntN(1e6), chatWords[r.IntN(len(chatWords))], proseWords[r.IntN(len(proseWords))],
			r.IntN(1000), r.IntN(100), []string{"in stock", "sold out", "on order"}[r.IntN(3)])
	}
	return b
}

// pdfPayload returns n bytes or a little more of PDF-like objects, half of
// them streams of random bytes, which do not compress.
func pdfPayload(n int) []byte {
	r := rand.New(rand.NewPCG(125, 1))
	b := []byte("%PDF-1.4\n")
	for i := 1; len(b) < n; i++ {
		if i%2 == 0 {
			s := randomBytes(uint64(i), 500+r.IntN(4000), "")
			b = fmt.Appendf(b, "%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream\nendobj\n", i, len(s), s)
		} else {
			b = fmt.Appendf(b, "%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>\nendobj\n", i, i+1)
		}
	}
	return b
}

// abSizes are the message sizes of Autobahn sections 12 and 13.
var abSizes = []int{16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072}

// abRunSizes returns abSizes, or under the race detector (and with -short)
// all but the two largest: the detector makes every byte through the
// compressors, the inflaters and checkInflate about ten times as slow, and
// the plain run covers those sizes.
func abRunSizes() []int {
	if raceEnabled() || testing.Short() {
		return abSizes[:len(abSizes)-2]
	}
	return abSizes
}

// abCount is how many messages of a size a case sends. Autobahn sends 1000
// of each, which would take far too long here; a few of each carry every
// size class through context takeover.
func abCount(size int) int { return min(max(16384/size, 1), 4) }

// abMessage returns message number i of size bytes of kind k: a slice of its
// data at an offset that depends on i, with the bytes of runes cut at either
// end of a text message replaced by spaces, so that it stays valid UTF-8.
func abMessage(k abPayload, size, i int) []byte {
	off := (i*7919 + size) % (len(k.data) - size + 1)
	m := bytes.Clone(k.data[off : off+size])
	if k.op != opText {
		return m
	}
	for j := 0; j < len(m) && !utf8.RuneStart(m[j]); j++ {
		m[j] = ' '
	}
	for j := len(m) - 1; j >= 0 && j >= len(m)-utf8.UTFMax; j-- {
		if utf8.RuneStart(m[j]) {
			if !utf8.FullRune(m[j:]) {
				copy(m[j:], "    ")
			}
			break
		}
	}
	return m
}

// windowAfter returns, in new memory, the last n bytes of hist followed by p.
func windowAfter(hist, p []byte, n int) []byte {
	w := append(bytes.Clone(hist), p...)
	return w[max(0, len(w)-n):]
}

// ---- The raw client ----

// pmdClient is a raw client that negotiated permessage-deflate with params p.
// It compresses with compress/flate: at level 6 when it may use the whole
// window, and with Huffman coding only (no back-references) when it has
// promised a smaller one, which compress/flate cannot keep to otherwise.
type pmdClient struct {
	*rawClient
	p       deflateParams
	fw      *flate.Writer
	fbuf    bytes.Buffer
	srvHist []byte // the server's window: its last messages under context takeover
	maxDist int    // the longest distance the server has used
}

// dialPMD connects a raw client to addr offering the given
// Sec-WebSocket-Extensions lines, and returns it and the extensions of the
// response, joined.
func dialPMD(t *testing.T, addr string, offers []string) (*pmdClient, string) {
	t.Helper()
	var extra strings.Builder
	for _, o := range offers {
		extra.WriteString("Sec-WebSocket-Extensions: " + o + "\r\n")
	}
	rc, resp := dialRaw(t, addr, handshakeRequest(addr, extra.String()))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	return &pmdClient{rawClient: rc}, strings.Join(resp.Header["Sec-Websocket-Extensions"], ", ")
}

// compress returns msg compressed as a message's payload, honouring the
// client's window and context takeover.
func (c *pmdClient) compress(msg []byte) []byte {
	c.t.Helper()
	c.fbuf.Reset()
	switch {
	case c.fw == nil:
		level := 6
		if c.p.clientMaxWindowBits < maxWindowBits {
			level = flate.HuffmanOnly
		}
		c.fw, _ = flate.NewWriter(&c.fbuf, level)
	case c.p.clientNoContextTakeover:
		c.fw.Reset(&c.fbuf)
	}
	c.fw.Write(msg)
	c.fw.Flush()
	b := c.fbuf.Bytes()
	if !bytes.HasSuffix(b, []byte{0, 0, 0xff, 0xff}) {
		c.t.Fatal("compress/flate made no sync flush")
	}
	return bytes.Clone(b[:len(b)-4])
}

// sendCompressed sends msg compressed, in one frame or, if frag > 0, in
// frames of frag bytes of compressed payload, with RSV1 on the first.
func (c *pmdClient) sendCompressed(op opcode, msg []byte, frag int) {
	c.t.Helper()
	z := c.compress(msg)
	var b []byte
	for first := true; first || len(z) > 0; first = false {
		n := len(z)
		if frag > 0 {
			n = min(n, frag)
		}
		f := buildFrame(n == len(z), op, z[:n], true, rfcKey)
		if first {
			f[0] |= rsv1Bit
		}
		b, z, op = append(b, f...), z[n:], opContinuation
	}
	c.send(b)
}

// expectEcho reads the server's echo of msg, which must be one compressed
// frame after any pongs, and checks it: checkInflate must decode it to msg with no distance
// beyond the server's window or its history, and compress/flate must
// inflate it to msg too.
func (c *pmdClient) expectEcho(op opcode, msg []byte) {
	c.t.Helper()
	h, p := c.nextPMDFrame()
	for h.opcode == opPong {
		h, p = c.nextPMDFrame()
	}
	if h.opcode != op || !h.fin || h.rsv != rsv1Bit {
		c.t.Fatalf("echo of %d bytes: frame op=%d fin=%v rsv=%#x; want op=%d, final, RSV1", len(msg), h.opcode, h.fin, h.rsv, op)
	}
	bits := c.p.serverMaxWindowBits
	res, err := checkInflate(append(p, 0, 0, 0xff, 0xff), c.srvHist, bits)
	if err != nil || !bytes.Equal(res.data, msg) {
		c.t.Fatalf("echo of %d bytes with %d bytes of history, window %d bits: %v (decodes to %d bytes, equal: %v)",
			len(msg), len(c.srvHist), bits, err, len(res.data), bytes.Equal(res.data, msg))
	}
	got, err := io.ReadAll(flate.NewReaderDict(io.MultiReader(bytes.NewReader(p), strings.NewReader(deflateTail)), c.srvHist))
	if err != nil || !bytes.Equal(got, msg) {
		c.t.Fatalf("echo of %d bytes: compress/flate reads %d bytes, %v", len(msg), len(got), err)
	}
	c.maxDist = max(c.maxDist, res.maxDist)
	if !c.p.serverNoContextTakeover {
		c.srvHist = windowAfter(c.srvHist, msg, 1<<bits)
	}
}

// nextPMDFrame reads the next frame from the server, failing the test
// unless it is a well-formed unmasked frame (RSV1 allowed).
func (c *pmdClient) nextPMDFrame() (header, []byte) {
	c.t.Helper()
	h, p, err := readPMDFrame(c.br)
	if err != nil || h.masked {
		c.t.Fatalf("reading frame %+v: %v", h, err)
	}
	return h, p
}

// readPMDFrame reads a frame, which may have RSV1 set but must break no
// other rule of its own, and returns it with its payload unmasked.
func readPMDFrame(br *bufio.Reader) (header, []byte, error) {
	var b [maxHeaderSize]byte
	n := 2
	if _, err := io.ReadFull(br, b[:n]); err != nil {
		return header{}, nil, err
	}
	for {
		h, hn, err := parseHeader(b[:n])
		if err != nil && (err != errReservedBits || h.rsv != rsv1Bit) {
			return h, nil, err
		}
		if hn > 0 {
			p := make([]byte, h.length)
			if _, err := io.ReadFull(br, p); err != nil {
				return h, nil, err
			}
			if h.masked {
				mask(h.key, 0, p)
			}
			return h, p, nil
		}
		if _, err := io.ReadFull(br, b[n:n+1]); err != nil {
			return h, nil, err
		}
		n++
	}
}

// runPass sends abCount messages of kind k of every size, compressed and
// fragmented as sendCompressed does with frag, and checks each echo.
func (c *pmdClient) runPass(k abPayload, frag int) {
	c.t.Helper()
	for _, size := range abRunSizes() {
		for i := range abCount(size) {
			msg := abMessage(k, size, i)
			c.sendCompressed(k.op, msg, frag)
			c.expectEcho(k.op, msg)
		}
	}
}

// ---- The Dial client, with a tap on the wire ----

// wireTap is a net.Conn that records what goes through it each way.
type wireTap struct {
	net.Conn
	mu      sync.Mutex
	in, out bytes.Buffer
}

// Read reads from the connection and records what it read.
func (w *wireTap) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	w.mu.Lock()
	w.in.Write(p[:n])
	w.mu.Unlock()
	return n, err
}

// Write records p and writes it to the connection. It records first, so
// that the record is complete once the peer has answered.
func (w *wireTap) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.out.Write(p)
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// dialTapped dials the server at addr with opts and a tap on the
// connection, which it returns for inspection once the Conn is closed.
func dialTapped(t *testing.T, addr string, opts Options) (*Conn, *wireTap) {
	t.Helper()
	tap := &wireTap{}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		tap.Conn = nc
		return tap, err
	}
	c, _, err := Dial(context.Background(), "ws://"+addr, &DialOptions{Options: opts, NetDialContext: dial})
	if err != nil {
		t.Fatal(err)
	}
	return c, tap
}

// wireSide says how one side of a connection compresses: the window of its
// compressor and whether it keeps it between messages.
type wireSide struct {
	bits     int
	takeover bool
}

// wireMessages parses the frames of one direction of a tapped connection,
// after the HTTP head, up to a close frame, and returns the payload of each
// data message, inflated if compressed, and the longest distance used. All
// data messages must be compressed. Each compressed frame (the output of
// one call of our compressor, sync flush included) must pass checkInflate
// with the history its side may use: under context takeover the window of
// earlier messages, and in any case the message so far.
func wireMessages(t *testing.T, stream []byte, side wireSide) (msgs [][]byte, maxDist int) {
	t.Helper()
	head := bytes.Index(stream, []byte("\r\n\r\n"))
	if head < 0 {
		t.Fatal("tap: no HTTP head")
	}
	stream = stream[head+4:]
	var window, msg []byte
	for {
		h, n, err := parseHeader(stream)
		if err != nil && err != errReservedBits || n == 0 || int64(len(stream)-n) < h.length {
			t.Fatalf("tap: frame header %+v, %v, with %d bytes left", h, err, len(stream))
		}
		p := bytes.Clone(stream[n : n+int(h.length)])
		stream = stream[n+int(h.length):]
		if h.masked {
			mask(h.key, 0, p)
		}
		switch {
		case h.opcode == opClose:
			return msgs, maxDist
		case h.opcode.isControl():
			continue
		case h.opcode != opContinuation && h.rsv != rsv1Bit:
			t.Fatalf("tap: message %d is not compressed (rsv %#x)", len(msgs), h.rsv)
		case h.opcode == opContinuation && h.rsv != 0:
			t.Fatalf("tap: continuation frame of message %d has rsv %#x", len(msgs), h.rsv)
		case h.opcode != opContinuation:
			msg = nil
		}
		if h.fin {
			p = append(p, 0, 0, 0xff, 0xff)
		}
		hist := msg
		if side.takeover {
			hist = append(bytes.Clone(window), msg...)
		}
		res, err := checkInflate(p, hist[max(0, len(hist)-1<<side.bits):], side.bits)
		if err != nil {
			t.Fatalf("tap: message %d, frame at byte %d of it, window %d bits: %v", len(msgs), len(msg), side.bits, err)
		}
		msg, maxDist = append(msg, res.data...), max(maxDist, res.maxDist)
		if h.fin {
			msgs = append(msgs, msg)
			window = windowAfter(window, msg, 1<<side.bits)
		}
	}
}

// dialPass dials the echo server at addr with compression options co,
// checks the params the client's Conn took, sends abCount messages of kind
// k of every size and reads each echo. With frag > 0 it streams each
// message through NextWriter in writes of frag bytes, which a write buffer
// of frag bytes sends as one compressed fragment each. Then it checks both
// directions of the wire with wireMessages, and returns the longest
// distance the server used.
func dialPass(t *testing.T, addr string, co *CompressionOptions, want deflateParams, k abPayload, frag int) int {
	t.Helper()
	c, tap := dialTapped(t, addr, Options{Compression: co, ReadLimit: 1 << 20, WriteBufferSize: frag})
	z := c.compress
	if z == nil || z.outBits != want.clientMaxWindowBits || z.inBits != want.serverMaxWindowBits ||
		z.outTakeover == want.clientNoContextTakeover || z.inTakeover == want.serverNoContextTakeover {
		c.CloseNow()
		t.Fatalf("the client's Conn has compression %+v; want params %+v", z, want)
	}
	var sent [][]byte
	for _, size := range abRunSizes() {
		for i := range abCount(size) {
			msg := abMessage(k, size, i)
			sent = append(sent, msg)
			if err := dialSend(c, MessageType(k.op), msg, frag); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.ReadMessage()
			if err != nil || typ != MessageType(k.op) || !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes: %v of %d bytes, %v", size, typ, len(got), err)
			}
		}
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	tap.mu.Lock()
	defer tap.mu.Unlock()
	up, _ := wireMessages(t, tap.out.Bytes(), wireSide{want.clientMaxWindowBits, !want.clientNoContextTakeover})
	down, maxDist := wireMessages(t, tap.in.Bytes(), wireSide{want.serverMaxWindowBits, !want.serverNoContextTakeover})
	for i, msg := range sent {
		if i >= len(up) || i >= len(down) || !bytes.Equal(up[i], msg) || !bytes.Equal(down[i], msg) {
			t.Fatalf("on the wire: %d messages up and %d down; message %d differs", len(up), len(down), i)
		}
	}
	return maxDist
}

// dialSend writes msg as one message, or through NextWriter in writes of
// frag bytes if frag > 0.
func dialSend(c *Conn, typ MessageType, msg []byte, frag int) error {
	if frag == 0 {
		return c.WriteMessage(typ, msg)
	}
	w, err := c.NextWriter(typ)
	if err != nil {
		return err
	}
	for p := msg; len(p) > 0; p = p[min(frag, len(p)):] {
		w.Write(p[:min(frag, len(p))])
	}
	return w.Close()
}

// checkFarMatches fails the test if a side with a 32 KiB window never used a
// distance beyond 512 bytes, which would leave the window checks proving
// nothing.
func checkFarMatches(t *testing.T, bits, maxDist int) {
	t.Helper()
	if bits == maxWindowBits && maxDist <= 1<<9 {
		t.Errorf("the longest distance the server used is %d: the window check is vacuous", maxDist)
	}
}

// ---- Section 12 ----

// TestAutobahn12 is Autobahn section 12: messages of each kind of payload
// and of every size from 16 bytes to 128 KiB, whole and in fragments,
// echoed compressed by our Server, on one connection per kind and
// fragmentation with the default offer. The raw client sends fragments of
// 256 bytes of compressed data and checks every echo against the server's
// window; the Dial client streams in fragments of 4 KiB (each costs our
// compressor a pass over its window, so smaller ones would be slow) and
// its connection is checked on the wire both ways.
func TestAutobahn12(t *testing.T) {
	co := &CompressionOptions{Threshold: -1}
	addr, _ := serveConn(t, Options{Compression: co, ReadLimit: 1 << 20}, echoHandler)
	for _, k := range abPayloads() {
		for _, frag := range []int{0, 256} {
			t.Run(fmt.Sprintf("%s/frag=%d/raw", k.name, frag), func(t *testing.T) {
				c, ext := dialPMD(t, addr, []string{"permessage-deflate; client_max_window_bits"})
				if ext != "permessage-deflate" {
					t.Fatalf("extensions %q", ext)
				}
				c.p = params15
				c.runPass(k, frag)
				c.closeHandshake()
				checkFarMatches(t, 15, c.maxDist)
			})
			t.Run(fmt.Sprintf("%s/frag=%d/dial", k.name, 16*frag), func(t *testing.T) {
				maxDist := dialPass(t, addr, co, params15, k, 16*frag)
				checkFarMatches(t, 15, maxDist)
			})
		}
	}
}

// ---- Section 13 ----

// ab13Offers are the cases of TestAutobahn13Raw: the Sec-WebSocket-Extensions
// lines offered, the server's options, and the response and params that
// must result.
var ab13Offers = []struct {
	name   string
	offers []string
	server CompressionOptions
	resp   string
	p      deflateParams
}{
	{"13.1 bare", []string{deflateName}, CompressionOptions{}, deflateName, params15},
	{"13.1 client_max_window_bits", []string{deflateName + "; client_max_window_bits"}, CompressionOptions{}, deflateName, params15},
	{"13.2 server_no_context_takeover", []string{deflateName + "; server_no_context_takeover"}, CompressionOptions{},
		deflateName + "; server_no_context_takeover", deflateParams{true, false, 15, 15}},
	{"13.2 client_no_context_takeover", []string{deflateName + "; client_no_context_takeover"}, CompressionOptions{},
		deflateName + "; client_no_context_takeover", deflateParams{false, true, 15, 15}},
	{"13.2 both", []string{deflateName + "; client_no_context_takeover; server_no_context_takeover"}, CompressionOptions{},
		deflateName + "; server_no_context_takeover; client_no_context_takeover", deflateParams{true, true, 15, 15}},
	{"13.2 server NoContextTakeover", []string{deflateName}, CompressionOptions{NoContextTakeover: true},
		deflateName + "; server_no_context_takeover; client_no_context_takeover", deflateParams{true, true, 15, 15}},
	{"13.3 server_max_window_bits=9", []string{deflateName + "; server_max_window_bits=9"}, CompressionOptions{},
		deflateName + "; server_max_window_bits=9", deflateParams{false, false, 9, 15}},
	{"13.3 server_max_window_bits=8", []string{deflateName + "; server_max_window_bits=8"}, CompressionOptions{},
		deflateName + "; server_max_window_bits=8", deflateParams{false, false, 8, 15}},
	{"13.3 server WindowBits 9", []string{deflateName + "; client_max_window_bits"}, CompressionOptions{WindowBits: 9},
		deflateName + "; server_max_window_bits=9; client_max_window_bits=9", deflateParams{false, false, 9, 9}},
	{"13.3 server_max_window_bits=12, server WindowBits 10", []string{deflateName + "; server_max_window_bits=12"}, CompressionOptions{WindowBits: 10},
		deflateName + "; server_max_window_bits=10", deflateParams{false, false, 10, 15}},
	{"13.4 server_max_window_bits=15", []string{deflateName + "; server_max_window_bits=15"}, CompressionOptions{},
		deflateName + "; server_max_window_bits=15", params15},
	{"13.5 client_max_window_bits=9", []string{deflateName + "; client_max_window_bits=9"}, CompressionOptions{},
		deflateName, deflateParams{false, false, 15, 9}},
	{"13.6 client_max_window_bits=15", []string{deflateName + "; client_max_window_bits=15"}, CompressionOptions{},
		deflateName, params15},
	{"13.5 no takeover, windows 9", []string{deflateName + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9"},
		CompressionOptions{}, deflateName + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9", deflateParams{true, true, 9, 9}},
	{"13.6 no takeover, windows 15", []string{deflateName + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=15"},
		CompressionOptions{}, deflateName + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15", deflateParams{true, true, 15, 15}},
	{"13.7 first offers declined", []string{deflateName + "; server_max_window_bits=7, " + deflateName + "; foo, " + deflateName + "; client_no_context_takeover; server_max_window_bits=10, " + deflateName},
		CompressionOptions{}, deflateName + "; client_no_context_takeover; server_max_window_bits=10", deflateParams{false, true, 10, 15}},
	{"13.7 other extension first, two lines", []string{"x-webkit-deflate-frame, " + deflateName + "; client_max_window_bits=08", deflateName + "; server_no_context_takeover; server_max_window_bits=9", deflateName},
		CompressionOptions{}, deflateName + "; server_no_context_takeover; server_max_window_bits=9", deflateParams{true, false, 9, 15}},
}

// TestAutobahn13Raw is Autobahn section 13 from the raw client: each kind of
// offer, and lists of offers, to a Server with the given options. The
// server must answer exactly as given, and every echo of messages of every
// size (JSON, on one connection per case) must keep to the negotiated
// server window and context takeover, which checkInflate checks.
func TestAutobahn13Raw(t *testing.T) {
	json := abPayloads()[0]
	for _, tt := range ab13Offers {
		t.Run(tt.name, func(t *testing.T) {
			co := tt.server
			co.Threshold = -1
			addr, _ := serveConn(t, Options{Compression: &co, ReadLimit: 1 << 20}, echoHandler)
			c, ext := dialPMD(t, addr, tt.offers)
			if ext != tt.resp {
				t.Fatalf("offers %q: response %q, want %q", tt.offers, ext, tt.resp)
			}
			c.p = tt.p
			c.runPass(json, 0)
			c.closeHandshake()
			checkFarMatches(t, tt.p.serverMaxWindowBits, c.maxDist)
		})
	}
}

// TestAutobahn13Dial is Autobahn section 13 between our Dial client and our
// Server: each combination of the options that shape the offer and the
// answer. Both Conns must take the given params, and the messages of every
// size (JSON, whole and in fragments, one connection each) must keep to
// them on the wire, both ways.
func TestAutobahn13Dial(t *testing.T) {
	tests := []struct {
		name           string
		client, server CompressionOptions
		p              deflateParams
	}{
		{"13.1 defaults", CompressionOptions{}, CompressionOptions{}, params15},
		{"13.2 client NoContextTakeover", CompressionOptions{NoContextTakeover: true}, CompressionOptions{}, deflateParams{true, true, 15, 15}},
		{"13.2 server NoContextTakeover", CompressionOptions{}, CompressionOptions{NoContextTakeover: true}, deflateParams{true, true, 15, 15}},
		{"13.3 server WindowBits 9", CompressionOptions{}, CompressionOptions{WindowBits: 9}, deflateParams{false, false, 9, 9}},
		{"13.4 server WindowBits 15", CompressionOptions{}, CompressionOptions{WindowBits: 15}, params15},
		{"13.5 client WindowBits 9", CompressionOptions{WindowBits: 9}, CompressionOptions{}, deflateParams{false, false, 15, 9}},
		{"13.6 client WindowBits 15", CompressionOptions{WindowBits: 15}, CompressionOptions{}, params15},
		{"13.5 no takeover, windows 9", CompressionOptions{NoContextTakeover: true, WindowBits: 9}, CompressionOptions{WindowBits: 9}, deflateParams{true, true, 9, 9}},
		{"13.6 no takeover, windows 15", CompressionOptions{NoContextTakeover: true, WindowBits: 15}, CompressionOptions{WindowBits: 15}, deflateParams{true, true, 15, 15}},
		{"windows 8 and 12", CompressionOptions{WindowBits: 12}, CompressionOptions{WindowBits: 8}, deflateParams{false, false, 8, 8}},
		{"windows 12 and 8", CompressionOptions{WindowBits: 8}, CompressionOptions{WindowBits: 12}, deflateParams{false, false, 12, 8}},
	}
	json := abPayloads()[0]
	for _, tt := range tests {
		for _, frag := range []int{0, 4096} {
			t.Run(fmt.Sprintf("%s/frag=%d", tt.name, frag), func(t *testing.T) {
				server, client := tt.server, tt.client
				server.Threshold, client.Threshold = -1, -1
				got := make(chan deflateParams, 1)
				addr, _ := serveConn(t, Options{Compression: &server, ReadLimit: 1 << 20}, func(c *Conn) {
					z := c.compress
					got <- deflateParams{!z.outTakeover, !z.inTakeover, z.outBits, z.inBits}
					echoHandler(c)
				})
				maxDist := dialPass(t, addr, &client, tt.p, json, frag)
				if p := await(t, got, "got"); p != tt.p {
					t.Errorf("the server's Conn took params %+v, want %+v", p, tt.p)
				}
				checkFarMatches(t, tt.p.serverMaxWindowBits, maxDist)
			})
		}
	}
}

// ---- How Dial reads the server's answer ----

// fakeDeflateServer accepts one connection on a fresh listener, answers its
// handshake with 101 and the given Sec-WebSocket-Extensions lines, and
// then sends each frame the client sends on the returned channel until the
// connection ends.
func fakeDeflateServer(t *testing.T, extensions []string) (addr string, frames <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan []byte, 16)
	go func() {
		defer close(ch)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n"
		for _, e := range extensions {
			resp += "Sec-WebSocket-Extensions: " + e + "\r\n"
		}
		io.WriteString(nc, resp+"\r\n")
		for {
			_, p, err := readPMDFrame(br)
			if err != nil {
				return
			}
			ch <- p
		}
	}()
	return ln.Addr().String(), ch
}

// TestDialChecksDeflateResponse checks Dial end to end against servers that
// answer the permessage-deflate offer in every wrong way: each must fail the
// handshake with an error saying what is wrong. The answers that RFC 7692
// allows although they differ from the offer must succeed, and the client
// must then still compress as it offered: within its own window, and
// without context takeover if it asked for none, whatever the server lets it
// do. Those are checked on the wire.
func TestDialChecksDeflateResponse(t *testing.T) {
	const pd = deflateName
	def, w10, noCtx := &CompressionOptions{Threshold: -1}, &CompressionOptions{Threshold: -1, WindowBits: 10}, &CompressionOptions{Threshold: -1, NoContextTakeover: true}
	tests := []struct {
		name   string
		client *CompressionOptions
		resp   []string
		err    string   // a part of Dial's error; "" if Dial must succeed
		out    wireSide // how the client must compress if it succeeds
	}{
		{"extension not offered", def, []string{"x-webkit-deflate-frame"}, `extension "x-webkit-deflate-frame" was not offered`, wireSide{}},
		{"deflate and another", def, []string{pd + ", foo"}, `extension "foo" was not offered`, wireSide{}},
		{"deflate twice", def, []string{pd + ", " + pd}, "names permessage-deflate 2 times", wireSide{}},
		{"deflate on two lines", def, []string{pd, pd + "; server_no_context_takeover"}, "2 times", wireSide{}},
		{"unknown parameter", def, []string{pd + "; foo"}, `parameter "foo" is not a permessage-deflate parameter`, wireSide{}},
		{"unknown parameter with value", def, []string{pd + "; mux=1"}, `"mux=1" is not a permessage-deflate parameter`, wireSide{}},
		{"repeated flag", def, []string{pd + "; client_no_context_takeover; client_no_context_takeover"}, `"client_no_context_takeover" is repeated`, wireSide{}},
		{"repeated window", def, []string{pd + "; server_max_window_bits=10; server_max_window_bits=10"}, `"server_max_window_bits=10" is repeated`, wireSide{}},
		{"flag with a value", def, []string{pd + "; server_no_context_takeover=true"}, "must have no value", wireSide{}},
		{"server window 16", def, []string{pd + "; server_max_window_bits=16"}, `"server_max_window_bits=16" needs a value from 8 to 15`, wireSide{}},
		{"server window 7", def, []string{pd + "; server_max_window_bits=7"}, "needs a value from 8 to 15", wireSide{}},
		{"server window 010", def, []string{pd + "; server_max_window_bits=010"}, "without a leading zero", wireSide{}},
		{"server window huge", def, []string{pd + "; server_max_window_bits=99999999999999999999"}, "needs a value from 8 to 15", wireSide{}},
		{"server window without value", def, []string{pd + "; server_max_window_bits"}, "needs a value", wireSide{}},
		{"client window without value", w10, []string{pd + "; client_max_window_bits"}, `"client_max_window_bits" needs a value`, wireSide{}},
		{"client window 16", w10, []string{pd + "; client_max_window_bits=16"}, "needs a value from 8 to 15", wireSide{}},
		{"grammar", def, []string{pd + ";"}, "breaks the grammar", wireSide{}},
		{"grammar in a quoted value", def, []string{pd + `; server_max_window_bits="1 0"`}, "breaks the grammar", wireSide{}},
		{"deflate not offered", nil, []string{pd}, "server chose an extension that was not offered", wireSide{}},

		{"flags unasked", def, []string{pd + "; server_no_context_takeover; client_no_context_takeover"}, "", wireSide{15, false}},
		{"server window unasked, quoted", def, []string{pd + `; server_max_window_bits="10"`}, "", wireSide{15, true}},
		{"client window smaller than offered", w10, []string{pd + "; client_max_window_bits=9"}, "", wireSide{9, true}},
		{"client window larger than offered", w10, []string{pd + "; client_max_window_bits=12"}, "", wireSide{10, true}},
		{"client window answered without the offer's limit", w10, []string{pd}, "", wireSide{10, true}},
		{"no context takeover asked, not answered", noCtx, []string{pd}, "", wireSide{15, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, frames := fakeDeflateServer(t, tt.resp)
			c, _, err := Dial(context.Background(), "ws://"+addr, &DialOptions{Options: Options{Compression: tt.client}})
			if tt.err != "" {
				if err == nil {
					c.CloseNow()
					t.Fatalf("Dial succeeded; want an error containing %q", tt.err)
				}
				if !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "websocket: ") ||
					tt.client != nil && !errors.Is(err, errExtensionResponse) {
					t.Fatalf("Dial: %v; want an errExtensionResponse containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			checkClientCompression(t, c, frames, tt.out)
		})
	}
}

// checkClientCompression sends two messages of about 16 KiB of JSON from
// c, whose frames the server sends on frames, and checks that c compressed
// them as side says.
func checkClientCompression(t *testing.T, c *Conn, frames <-chan []byte, side wireSide) {
	t.Helper()
	msgs, _ := chatStream(13, 30)
	var hist []byte
	for i := range 2 {
		msg := bytes.Join(msgs[i*15:i*15+15], nil)
		if err := c.WriteMessage(TextMessage, msg); err != nil {
			t.Fatal(err)
		}
		p := await(t, frames, "frames")
		res, err := checkInflate(append(p, 0, 0, 0xff, 0xff), hist, side.bits)
		if err != nil || !bytes.Equal(res.data, msg) {
			t.Fatalf("message %d: the client compressed beyond a window of %d bits or takeover %v: %v", i, side.bits, side.takeover, err)
		}
		if side.takeover {
			hist = windowAfter(hist, msg, 1<<side.bits)
		}
	}
}

// ---- The read path: rules and failures ----

// pmdWire returns the frames of a compressed message whose compressed
// payload is cut into the given pieces: RSV1 on the first, and if
// pingEvery > 0 a ping before every pingEvery-th piece after the first.
func pmdWire(op opcode, pingEvery int, pieces ...[]byte) []byte {
	var b []byte
	for i, p := range pieces {
		if i > 0 {
			op = opContinuation
			if pingEvery > 0 && i%pingEvery == 0 {
				b = append(b, clientFrame(true, opPing, "p")...)
			}
		}
		f := clientFrame(i == len(pieces)-1, op, string(p))
		if i == 0 {
			f[0] |= rsv1Bit
		}
		b = append(b, f...)
	}
	return b
}

// TestDeflateFinalBlock checks compressed data that ends with a final
// block (BFINAL), which RFC 7692 allows: the message may go on with empty
// frames, since how a message is cut into frames carries no meaning, but
// not with data.
func TestDeflateFinalBlock(t *testing.T) {
	msg := []byte("Verweile doch, du bist so schön! Verweile doch!")
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, 6)
	w.Write(msg)
	w.Close()
	final := buf.Bytes()
	tests := []struct {
		name  string
		wire  []byte
		close StatusCode
	}{
		{"in one frame", pmdWire(opText, 0, final), 0},
		{"then an empty frame", pmdWire(opText, 0, final, nil), 0},
		{"then empty frames and pings", pmdWire(opText, 1, final[:3], final[3:], nil, nil), 0},
		{"then a byte", pmdWire(opText, 0, final, []byte{0}), StatusInvalidPayload},
		{"then an empty frame and a byte", pmdWire(opText, 0, final, nil, []byte{0}), StatusInvalidPayload},
		{"then a byte in the same frame", pmdWire(opText, 0, append(bytes.Clone(final), 0)), StatusInvalidPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, done := serveConn(t, Options{Compression: &CompressionOptions{Threshold: -1}}, echoHandler)
			c, _ := dialPMD(t, addr, []string{deflateName})
			c.p = params15
			c.send(tt.wire)
			if tt.close != 0 {
				c.expectCloseFrame(tt.close)
				c.answerClose()
			} else {
				c.expectEcho(opText, msg)
				c.closeHandshake()
			}
			await(t, done, "the handler to return")
		})
	}
}

// pipeDeflateConn returns a server Conn with options o that negotiated
// permessage-deflate (with context takeover if takeover is set) over one
// end of a net.Pipe, which, like TLS, is not a plain socket, so that the
// Conn writes what does not go out at once in the background. The other
// end is for the test.
func pipeDeflateConn(t *testing.T, o Options, takeover bool) (*Conn, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close() })
	if o.Compression == nil {
		o.Compression = &CompressionOptions{}
	}
	c := newConn(b, true, nil, &o, negotiated{compress: true, deflate: deflateParams{!takeover, !takeover, 15, 15}})
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadDeadline(time.Now().Add(testTimeout))
	return c, a
}

// readLarge reads a message through NextReader in reads of 16 KiB, more
// than the read limit, and returns the error that ends it (io.EOF at its
// end).
func readLarge(c *Conn) error {
	_, r, err := c.NextReader()
	buf := make([]byte, 16<<10)
	for err == nil {
		_, err = r.Read(buf)
	}
	return err
}

// rsv1OnContinuation returns a compressed message in two frames with RSV1
// set on both, which breaks RFC 7692 section 6.1.
func rsv1OnContinuation(op opcode, first, second []byte) []byte {
	f := pmdWire(op, 0, first, second)
	f[len(f)-len(second)-6] |= rsv1Bit // the masked continuation frame's header is 6 bytes
	return f
}

// TestDeflateFailures checks that a Conn whose peer breaks a rule returns
// the error of the first rule broken, even if the bytes the inflater hands
// back with that error break another, and says the same in the close frame
// it sends, which must reach the peer even when the Conn does not wait for
// the peer's close and writes in the background.
func TestDeflateFailures(t *testing.T) {
	// A fixed Huffman block with the literal 0xff, then four bits of the
	// next code: the inflater hands back the byte it decoded when it meets
	// the broken frame after it.
	partial := []byte{0xfa, 0x0f}
	big := compressed(t, bytes.Repeat([]byte("a"), 8192))
	tests := []struct {
		name string
		wire []byte
		err  error
		code StatusCode
	}{
		{"data that does not inflate, then a frame that does not parse", cat(pmdWire(opBinary, 0, []byte("\xff\xff\xff\xff")), withRSV(clientFrame(true, opText, "x"), 0x20)),
			errBadDeflate, StatusInvalidPayload},
		{"RSV1 on a continuation after bytes that are not UTF-8", rsv1OnContinuation(opText, partial, nil), errRSV1Continuation, StatusProtocolError},
		{"RSV1 on a continuation, the bytes before it over the limit", rsv1OnContinuation(opBinary, big[:len(big)-1], big[len(big)-1:]), errRSV1Continuation, StatusProtocolError},
		{"a close frame with a code not for the wire", clientFrame(true, opClose, "\x03\xed"), nil, StatusProtocolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, peer := pipeDeflateConn(t, Options{ReadLimit: 4096}, false)
			codes := make(chan StatusCode, 1)
			go fuzzPeer(peer, tt.wire, codes)
			err := readLarge(c)
			if tt.err != nil && !errors.Is(err, tt.err) || err == nil {
				t.Fatalf("read: %v; want %v", err, tt.err)
			}
			if code := await(t, codes, "codes"); code != tt.code {
				t.Fatalf("the peer got close code %v; want %v (read: %v)", code, tt.code, err)
			}
		})
	}
}

// ---- The read path under pressure ----

// zeroBomb returns the compressed payload of a message of n MiB of zeros,
// about 1 KiB per MiB: the compression of a first MiB, then that of a MiB
// that follows zeros, repeated, since it decodes the same after any zeros.
func zeroBomb(t *testing.T, n int) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	w.Write(zeros)
	w.Flush()
	first := bytes.Clone(buf.Bytes())
	buf.Reset()
	w.Write(zeros)
	w.Flush()
	next := buf.Bytes()
	for _, part := range []struct{ z, dict []byte }{{first, nil}, {next, zeros[:32<<10]}} {
		got, err := io.ReadAll(flate.NewReaderDict(io.MultiReader(bytes.NewReader(part.z[:len(part.z)-4]), strings.NewReader(deflateTail)), part.dict))
		if err != nil || !bytes.Equal(got, zeros) {
			t.Fatalf("a part of the bomb inflates to %d bytes, %v", len(got), err)
		}
	}
	bomb := append(first, bytes.Repeat(next, n-1)...)
	return bomb[:len(bomb)-4]
}

// TestDeflateBomb sends 64 MiB of zeros compressed to 64 KiB, in one frame,
// to a Server with a read limit of 1 MiB, which must fail the connection
// with 1009 having allocated a few times the limit, nowhere near what the
// message inflates to: AppendMessage doubles its buffer up to the limit
// (2 MiB in all) and then copies it into one a byte longer to see the
// overrun (1 MiB more), plus an inflater. A handler that streams the
// message with NextReader allocates little more than the inflater.
func TestDeflateBomb(t *testing.T) {
	const limit = 1 << 20
	bomb := zeroBomb(t, 64)
	wire := pmdWire(opBinary, 0, bomb)
	stream := func(c *Conn) {
		if _, r, err := c.NextReader(); err == nil {
			io.Copy(io.Discard, r)
		}
	}
	for _, tt := range []struct {
		name    string
		handler func(*Conn)
		bound   uint64
	}{
		{"AppendMessage", echoHandler, 3*limit + 512<<10},
		{"NextReader", stream, 512 << 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, done := serveConn(t, Options{Compression: &CompressionOptions{}, ReadLimit: limit}, tt.handler)
			c, _ := dialPMD(t, addr, []string{deflateName})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			c.send(wire)
			c.expectCloseFrame(StatusMessageTooBig)
			c.answerClose()
			await(t, done, "the handler to return")
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes of compressed data for 64 MiB, read limit %d: %d bytes allocated", len(bomb), limit, alloc)
			if alloc > tt.bound {
				t.Errorf("%d bytes allocated while failing the bomb; want at most %d", alloc, tt.bound)
			}
		})
	}
}

// TestDeflateTinyFragments sends a compressed message of about 20 KiB of
// compressed data in frames of one byte each, with a ping every 1000
// frames, and expects it echoed whole.
func TestDeflateTinyFragments(t *testing.T) {
	addr, done := serveConn(t, Options{Compression: &CompressionOptions{}}, echoHandler)
	c, _ := dialPMD(t, addr, []string{deflateName})
	c.p = params15
	msg := randomBytes(14, 36<<10, "abcdefghijklmnop ")
	z := c.compress(msg)
	pieces := make([][]byte, len(z))
	for i := range z {
		pieces[i] = z[i : i+1]
	}
	wire := pmdWire(opText, 1000, pieces...)
	t.Logf("%d bytes of text compressed to %d, sent in %d bytes of frames", len(msg), len(z), len(wire))
	c.send(wire)
	c.expectEcho(opText, msg)
	c.closeHandshake()
	await(t, done, "the handler to return")
}

// ---- Idle memory ----

// idleHeap makes n pairs of Conns over loopback TCP, a client and a server
// that negotiated permessage-deflate as co gives (nil: not at all), has
// each pair exchange msg both ways, and returns by how much HeapInuse grew
// while they stay open, after garbage collection. It closes them before
// returning.
func idleHeap(t *testing.T, co *CompressionOptions, n int, msg []byte) int64 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	opts := Options{Compression: co}
	var neg negotiated
	if co != nil {
		neg.deflate, _, neg.compress = negotiateDeflate([]string{deflateOffer(co.config())}, co.config())
	}
	conns := make([]*Conn, 0, 2*n)
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		a, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b, err := ln.Accept()
		if err != nil {
			a.Close()
			t.Fatal(err)
		}
		client, server := newConn(a, false, nil, &opts, neg), newConn(b, true, nil, &opts, neg)
		conns = append(conns, client, server)
		for _, pair := range [][2]*Conn{{client, server}, {server, client}} {
			if err := pair[0].WriteMessage(TextMessage, msg); err != nil {
				t.Fatal(err)
			}
			if _, got, err := pair[1].ReadMessage(); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("exchange: %d bytes, %v", len(got), err)
			}
		}
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return int64(after.HeapInuse) - int64(before.HeapInuse)
}

// TestDeflateIdleMemory measures what an idle Conn keeps for compression
// after one compressed message each way: with context takeover, its two
// windows, each holding what went through it up to 2^WindowBits bytes
// (here the one message, shorter than either window; a window that grew
// in several appends may have up to twice that capacity), and without,
// nothing, so that its memory is that of an uncompressed Conn. The figures
// are per Conn, beyond an uncompressed Conn.
func TestDeflateIdleMemory(t *testing.T) {
	const n = 200
	msgs, _ := chatStream(15, 2)
	msg := bytes.Join(msgs, nil)
	idleHeap(t, &CompressionOptions{}, 20, msg) // fill the pools
	plain := idleHeap(t, nil, n, msg)
	t.Logf("an uncompressed Conn: %d bytes", plain/(2*n))
	for _, tt := range []struct {
		name string
		co   CompressionOptions
		bits int // the window size, 0 without context takeover
	}{
		{"NoContextTakeover", CompressionOptions{NoContextTakeover: true}, 0},
		{"WindowBits 12", CompressionOptions{WindowBits: 12}, 12},
		{"WindowBits 15", CompressionOptions{WindowBits: 15}, 15},
	} {
		window := int64(0)
		if tt.bits != 0 {
			window = min(int64(len(msg)), 1<<tt.bits)
		}
		perConn := (idleHeap(t, &tt.co, n, msg) - plain) / (2 * n)
		t.Logf("%s: %d bytes more per Conn (windows: %d)", tt.name, perConn, 2*window)
		if perConn < 2*window-1024 || perConn > 4*window+4096 {
			t.Errorf("%s: an idle Conn keeps %d bytes for compression; want its two windows of %d bytes (up to twice that grown) and at most 4 KiB more", tt.name, perConn, window)
		}
	}
}
