//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"testing"
)

// deflateOn returns the negotiated parameters of permessage-deflate with
// full windows, with or without server context takeover.
func deflateOn(takeover bool) negotiated {
	return negotiated{compress: true, deflate: deflateParams{
		serverNoContextTakeover: !takeover, clientNoContextTakeover: true,
		serverMaxWindowBits: 15, clientMaxWindowBits: 15,
	}}
}

// preparedPair returns a Conn over loopback TCP, on the server side if
// server is set, with what neg says negotiated, and a raw peer that reads
// its frames.
func preparedPair(t testing.TB, server bool, neg negotiated) (*Conn, *rawClient) {
	t.Helper()
	a, b := tcpPair(t)
	c := newConn(a, server, nil, &Options{Compression: &CompressionOptions{}}, neg)
	return c, &rawClient{t: t, conn: b, br: bufio.NewReader(b), server: !server}
}

// inflateAlone returns the payload of a compressed message, on its own.
func inflateAlone(t testing.TB, p []byte) []byte {
	t.Helper()
	b, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte(deflateTail)))))
	if err != nil {
		t.Fatalf("inflating: %v", err)
	}
	return b
}

// readRSVFrame reads one unmasked frame from peer, RSV bits allowed.
func readRSVFrame(t testing.TB, peer *rawClient) (header, []byte) {
	t.Helper()
	b, err := peer.br.Peek(2)
	if err != nil {
		t.Fatal(err)
	}
	n := map[byte]int{126: 4, 127: 10}[b[1]&0x7f]
	b, _ = peer.br.Peek(max(n, 2))
	h, n, err := parseHeader(b)
	if n == 0 || (err != nil && err != errReservedBits) {
		t.Fatalf("bad header %x: %v", b, err)
	}
	peer.br.Discard(n)
	p := make([]byte, h.length)
	if _, err := io.ReadFull(peer.br, p); err != nil {
		t.Fatal(err)
	}
	return h, p
}

// TestPreparedMessage sends one PreparedMessage twice, then the same
// payload with WriteMessage, from server and client Conns, with and without
// compression, to a peer made with this package, which must read all three
// intact: a prepared message that skipped the compressor's history under
// context takeover would make the third one unreadable.
func TestPreparedMessage(t *testing.T) {
	chat := newChatGen(5).next()
	big := testPayload(BinaryMessage, 100<<10, 7) // larger than the output queue
	compressions := []struct {
		name string
		co   *CompressionOptions
	}{
		{"plain", nil},
		{"deflate no takeover", &CompressionOptions{NoContextTakeover: true}},
		{"deflate takeover", &CompressionOptions{}},
	}
	for _, comp := range compressions {
		for _, fromServer := range []bool{true, false} {
			for _, msg := range []struct {
				typ MessageType
				p   []byte
			}{{TextMessage, []byte("short")}, {TextMessage, chat}, {BinaryMessage, big}} {
				name := fmt.Sprintf("%s/client/%d", comp.name, len(msg.p))
				if fromServer {
					name = fmt.Sprintf("%s/server/%d", comp.name, len(msg.p))
				}
				t.Run(name, func(t *testing.T) {
					preparedRoundTrip(t, comp.co, fromServer, msg.typ, msg.p)
				})
			}
		}
	}
}

// preparedRoundTrip is one case of TestPreparedMessage.
func preparedRoundTrip(t *testing.T, co *CompressionOptions, fromServer bool, typ MessageType, p []byte) {
	pm, err := NewPreparedMessage(typ, p)
	if err != nil {
		t.Fatal(err)
	}
	send := func(c *Conn) error {
		for _, write := range []func() error{
			func() error { return c.WritePreparedMessage(pm) },
			func() error { return c.WritePreparedMessage(pm) },
			func() error { return c.WriteMessage(typ, p) },
		} {
			if err := write(); err != nil {
				return err
			}
		}
		return nil
	}
	receive := func(c *Conn) error {
		for i := range 3 {
			gotTyp, got, err := c.ReadMessage()
			if err != nil {
				return err
			}
			if gotTyp != typ {
				t.Errorf("message %d: type %v, want %v", i, gotTyp, typ)
			}
			checkSame(t, "message", got, p)
		}
		return nil
	}
	opts := Options{Compression: co}
	errs := make(chan error, 1)
	addr, _ := serveConn(t, opts, func(c *Conn) {
		if fromServer {
			errs <- send(c)
		} else {
			errs <- receive(c)
		}
	})
	c, _, err := Dial(context.Background(), wsURL(addr), &DialOptions{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(StatusNormalClosure, "")
	if (c.compress != nil) != (co != nil) {
		t.Fatalf("compression negotiated: %v, want %v", c.compress != nil, co != nil)
	}
	if fromServer {
		err = receive(c)
	} else {
		err = send(c)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := await(t, errs, "the server"); err != nil {
		t.Fatal(err)
	}
}

// TestPreparedMessageShared checks what is encoded once: every server Conn
// gets the same frame bytes, compressed ones among Conns without context
// takeover too (one variant made for all), and the message is copied from
// the caller's slice.
func TestPreparedMessageShared(t *testing.T) {
	payload := bytes.Repeat([]byte("shared payload "), 20)
	p := bytes.Clone(payload)
	pm, err := NewPreparedMessage(TextMessage, p)
	if err != nil {
		t.Fatal(err)
	}
	clear(p) // the caller reuses its slice
	for _, takeover := range []bool{false, true} {
		var frames [][]byte
		for range 2 {
			c, peer := preparedPair(t, true, deflateOn(takeover))
			if err := c.WritePreparedMessage(pm); err != nil {
				t.Fatal(err)
			}
			h, got := readRSVFrame(t, peer)
			if h.rsv != rsv1Bit || h.opcode != opText || !h.fin {
				t.Fatalf("takeover %v: frame rsv=%#x op=%d fin=%v, want a compressed final text frame", takeover, h.rsv, h.opcode, h.fin)
			}
			checkSame(t, "inflated payload", inflateAlone(t, got), payload)
			frames = append(frames, got)
		}
		if !takeover && !bytes.Equal(frames[0], frames[1]) {
			t.Errorf("the two Conns got different compressed payloads")
		}
	}
	if list := pm.deflated.Load(); list == nil || len(*list) != 1 {
		t.Errorf("compressed variants made: %v, want 1 (shared by the Conns without takeover only)", list)
	}
	c, peer := preparedPair(t, true, negotiated{})
	c.WritePreparedMessage(pm)
	peer.expectFrame(opText, string(payload))
}

// TestPreparedMessageClientMasks checks that a client Conn masks each copy
// of a PreparedMessage with a key of its own.
func TestPreparedMessageClientMasks(t *testing.T) {
	pm, _ := NewPreparedMessage(BinaryMessage, []byte("masked per write"))
	c, peer := preparedPair(t, false, negotiated{})
	var keys [][4]byte
	for range 2 {
		if err := c.WritePreparedMessage(pm); err != nil {
			t.Fatal(err)
		}
		h, got := peer.nextFrame() // fails unless masked
		checkSame(t, "payload", got, []byte("masked per write"))
		keys = append(keys, h.key)
	}
	if keys[0] == keys[1] {
		t.Errorf("two writes used the same masking key %x", keys[0])
	}
}

// TestNewPreparedMessageType checks that only data message types are
// accepted.
func TestNewPreparedMessageType(t *testing.T) {
	for _, typ := range []MessageType{0, MessageType(opClose), MessageType(opPing)} {
		if _, err := NewPreparedMessage(typ, nil); err != errBadMessageType {
			t.Errorf("type %v: error %v, want %v", typ, err, errBadMessageType)
		}
	}
}

// TestWritePreparedMessageNoAllocs checks that writing a PreparedMessage
// allocates nothing in the steady state, for every kind of Conn.
func TestWritePreparedMessageNoAllocs(t *testing.T) {
	payload := bytes.Repeat([]byte("broadcast "), 20)
	tests := []struct {
		name   string
		server bool
		neg    negotiated
	}{
		{"server", true, negotiated{}},
		{"client", false, negotiated{}},
		{"server deflate", true, deflateOn(false)},
		{"client deflate", false, deflateOn(false)},
		{"server deflate takeover", true, deflateOn(true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pm, _ := NewPreparedMessage(BinaryMessage, payload)
			c, peer := preparedPair(t, tt.server, tt.neg)
			go io.Copy(io.Discard, peer.conn)
			allocs := allocsPerStep(t, func() error { return c.WritePreparedMessage(pm) })
			if allocs != 0 && !raceEnabled() { // the race detector makes sync.Pool drop items
				t.Errorf("%v allocations per WritePreparedMessage, want 0", allocs)
			}
		})
	}
}

// BenchmarkWritePreparedMessage writes a 128-byte PreparedMessage to one
// server Conn, whose peer discards it; compare BenchmarkWriteMessage128.
func BenchmarkWritePreparedMessage(b *testing.B) {
	pm, _ := NewPreparedMessage(BinaryMessage, make([]byte, 128))
	c, peer := preparedPair(b, true, negotiated{})
	go io.Copy(io.Discard, peer.conn)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.WritePreparedMessage(pm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteMessage128 is BenchmarkWritePreparedMessage with
// WriteMessage.
func BenchmarkWriteMessage128(b *testing.B) {
	p := make([]byte, 128)
	c, peer := preparedPair(b, true, negotiated{})
	go io.Copy(io.Discard, peer.conn)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.WriteMessage(BinaryMessage, p); err != nil {
			b.Fatal(err)
		}
	}
}
