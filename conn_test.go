package websocket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// This file is a conformance campaign for Conn in the spirit of the Autobahn
// testsuite (sections 1 to 5 and 10; 6 is in utf8_test.go and 7 in
// close_test.go). Every test talks to a real server over loopback TCP with
// frames built by hand, so it can send what no well-behaved client would.

// serveConn starts a server running handler with opts, like startServer,
// and also registers a cleanup that waits (bounded) for the handler to
// return. Cleanups run in reverse order, so the client connections that the
// test opens afterwards are closed first, which ends the handler even when
// the test stopped early; a handler then never outlives its test.
func serveConn(t testing.TB, opts Options, handler func(*Conn)) (addr string, done <-chan struct{}) {
	t.Helper()
	addr, done = startServer(t, &Server{Options: opts, Handler: handler})
	t.Cleanup(func() {
		select {
		case <-done:
		case <-time.After(testTimeout):
		}
	})
	return addr, done
}

// awaitValue returns the next value from ch, failing the test if none arrives
// within testTimeout.
func awaitValue[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for the server side")
		panic("unreachable")
	}
}

// clientKey is the masking key that rawClient uses (the one of the examples
// in RFC 6455 section 5.7).
var clientKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// clientFrame returns a masked client frame with a string payload.
func clientFrame(fin bool, op opcode, payload string) []byte {
	return buildFrame(fin, op, []byte(payload), true, clientKey)
}

// unmaskedFrame returns a client frame without a mask, which a server must
// reject.
func unmaskedFrame(fin bool, op opcode, payload string) []byte {
	return buildFrame(fin, op, []byte(payload), false, [4]byte{})
}

// withRSV returns a copy of frame b with the given RSV bits (a mask of 0x70)
// set in its first byte.
func withRSV(b []byte, rsv byte) []byte {
	b = bytes.Clone(b)
	b[0] |= rsv
	return b
}

// cat concatenates frames into one byte stream.
func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// patternPayload returns n bytes of deterministic content: printable ASCII if
// text is set, otherwise bytes of every value.
func patternPayload(n int, text bool) []byte {
	p := make([]byte, n)
	for i := range p {
		if text {
			p[i] = 'a' + byte(i%26)
		} else {
			p[i] = byte(i*7 + i>>8)
		}
	}
	return p
}

// nextFrame reads one frame from the server, failing the test if it cannot
// or if the frame is masked (a server must not mask).
func (c *rawClient) nextFrame() (header, []byte) {
	c.t.Helper()
	h, p, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("reading frame: %v", err)
	}
	if h.masked {
		c.t.Fatalf("server sent a masked frame (op=%d)", h.opcode)
	}
	return h, p
}

// expectCloseFrame reads the next frame and fails the test unless it is a
// close frame carrying code (StatusNoStatusReceived for an empty payload)
// and a valid UTF-8 reason, which it returns. Any other frame fails the
// test: a server that closes or fails a connection must send nothing else
// first. It does not answer the close.
func (c *rawClient) expectCloseFrame(code StatusCode) string {
	c.t.Helper()
	h, p := c.nextFrame()
	if h.opcode != opClose {
		c.t.Fatalf("got frame op=%d fin=%v payload %.40q; want a close frame with %v", h.opcode, h.fin, p, code)
	}
	if len(p) == 1 {
		c.t.Fatalf("close frame payload of 1 byte %q", p)
	}
	got, reason := StatusNoStatusReceived, ""
	if len(p) >= 2 {
		got, reason = StatusCode(binary.BigEndian.Uint16(p)), string(p[2:])
	}
	if got != code {
		c.t.Fatalf("close code %v (reason %q), want %v", got, reason, code)
	}
	if !utf8.ValidString(reason) {
		c.t.Fatalf("close reason %q is not valid UTF-8", reason)
	}
	return reason
}

// answerClose sends the client's close frame in reply to the server's and
// expects the server to close the TCP connection then.
func (c *rawClient) answerClose() {
	c.t.Helper()
	c.sendFrame(true, opClose, closePayload(StatusNormalClosure, ""))
	c.expectEOF()
}

// closeHandshake performs a clean close begun by the client: it sends close
// 1000 and expects it echoed, with nothing before it, and then the end of
// the stream.
func (c *rawClient) closeHandshake() {
	c.t.Helper()
	c.sendFrame(true, opClose, closePayload(StatusNormalClosure, "done"))
	c.expectCloseFrame(StatusNormalClosure)
	c.expectEOF()
}

// expectEOFWithin expects the server to close the TCP connection within d,
// which must be well below the close timeout: the server must not wait for
// a frame the client will never send.
func (c *rawClient) expectEOFWithin(d time.Duration) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	c.expectEOF()
	c.conn.SetReadDeadline(time.Now().Add(testTimeout))
}

// sendChunked writes b in pieces of at most size bytes, one write call
// each, with Nagle's algorithm off, so that frames reach the server in
// pieces rather than whole.
func (c *rawClient) sendChunked(b []byte, size int) {
	c.t.Helper()
	if err := c.conn.(*net.TCPConn).SetNoDelay(true); err != nil {
		c.t.Fatal(err)
	}
	for len(b) > 0 {
		n := min(size, len(b))
		c.send(b[:n])
		b = b[n:]
	}
}

// wireCase is one conformance case in the manner of the Autobahn testsuite:
// the bytes a client sends, the frames the server must answer with, and how
// the server must end the connection.
type wireCase struct {
	name string
	send []byte      // sent in one write; complete frames only
	want []wantFrame // frames the server must send first, in order
	// close is the code of the close frame the server must send after
	// want; 0 means the connection must stay open, and the test then
	// closes it cleanly.
	close StatusCode
	// final says the client sent its close frame (or an unparsable
	// frame) last: the server must close TCP promptly without waiting
	// for another close frame. Otherwise the client answers the server's
	// close and then expects the end of the stream.
	final bool
}

// wantFrame is a frame a wireCase expects from the server: final, unmasked,
// with this opcode and payload.
type wantFrame struct {
	op      opcode
	payload string
}

// echoOf returns the frame an echo server answers a message with.
func echoOf(op opcode, payload string) wantFrame { return wantFrame{op, payload} }

// runWireCases runs each case as a subtest on a connection of its own to an
// echo server with opts.
func runWireCases(t *testing.T, opts Options, cases []wireCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, done := serveConn(t, opts, echoHandler)
			c := connect(t, addr)
			c.send(tc.send)
			for _, w := range tc.want {
				c.expectFrame(w.op, w.payload)
			}
			switch {
			case tc.close == 0:
				c.closeHandshake()
			case tc.final:
				c.expectCloseFrame(tc.close)
				c.expectEOFWithin(DefaultCloseTimeout / 2) // no wait for the close timeout
			default:
				c.expectCloseFrame(tc.close)
				c.answerClose()
			}
			waitDone(t, done)
		})
	}
}

// TestSmokeEcho echoes a message, a fragmented one with a ping inside, and
// closes.
func TestSmokeEcho(t *testing.T) {
	addr, done := startServer(t, &Server{Handler: echoHandler})
	c := connect(t, addr)
	c.sendFrame(true, opText, []byte("hello"))
	c.expectFrame(opText, "hello")
	c.sendFrame(false, opBinary, []byte("ab"))
	c.sendFrame(true, opPing, []byte("p"))
	c.expectFrame(opPong, "p")
	c.sendFrame(true, opContinuation, []byte("cd"))
	c.expectFrame(opBinary, "abcd")
	c.sendFrame(true, opClose, closePayload(StatusGoingAway, "bye"))
	c.expectFrame(opClose, string(closePayload(StatusGoingAway, "")))
	c.expectEOF()
	waitDone(t, done)
}

// TestSmokeBadUTF8 fails a text message cut inside a code point above
// U+10FFFF with 1007 before its final fragment.
func TestSmokeBadUTF8(t *testing.T) {
	addr, done := startServer(t, &Server{Handler: echoHandler})
	c := connect(t, addr)
	c.sendFrame(false, opText, []byte("ok\xf4\x90"))
	c.expectClose(StatusInvalidPayload)
	waitDone(t, done)
}

// TestEchoSizes is Autobahn 1.1 and 1.2: text and binary messages whose
// lengths straddle the 7-bit, 16-bit and 64-bit length forms are echoed, in
// frames that use the shortest length form.
func TestEchoSizes(t *testing.T) {
	for _, op := range []opcode{opText, opBinary} {
		for _, n := range []int{0, 125, 126, 127, 128, 65535, 65536} {
			t.Run(fmt.Sprintf("%v/%d", MessageType(op), n), func(t *testing.T) {
				addr, done := serveConn(t, Options{}, echoHandler)
				c := connect(t, addr)
				p := patternPayload(n, op == opText)
				c.sendFrame(true, op, p)
				b, err := c.br.Peek(2)
				if err != nil {
					t.Fatal(err)
				}
				wantLen := byte(n)
				switch {
				case n > 0xFFFF:
					wantLen = 127
				case n > 125:
					wantLen = 126
				}
				if got := b[1] & 0x7F; got != wantLen {
					t.Errorf("length field %d, want %d (the shortest form)", got, wantLen)
				}
				c.expectFrame(op, string(p))
				c.closeHandshake()
				waitDone(t, done)
			})
		}
	}
}

// TestEchoLarge echoes messages of a few MiB, each in one frame.
func TestEchoLarge(t *testing.T) {
	for _, op := range []opcode{opText, opBinary} {
		t.Run(MessageType(op).String(), func(t *testing.T) {
			addr, done := serveConn(t, Options{}, echoHandler)
			c := connect(t, addr)
			p := patternPayload(4<<20+3, op == opText)
			c.sendFrame(true, op, p)
			h, got := c.nextFrame()
			if h.opcode != op || !h.fin || !bytes.Equal(got, p) {
				t.Fatalf("echo: op=%d fin=%v, %d bytes (equal: %v); want op=%d, %d bytes",
					h.opcode, h.fin, len(got), bytes.Equal(got, p), op, len(p))
			}
			c.closeHandshake()
			waitDone(t, done)
		})
	}
}

// TestEchoChunkedWrites is Autobahn 1.1.8, 1.2.8, 2.6 and 2.11: frames that
// reach the server in pieces (down to one byte per TCP write, so that the
// header itself is split) are read whole.
func TestEchoChunkedWrites(t *testing.T) {
	big := patternPayload(65536, false)
	bigFrame := clientFrame(true, opBinary, string(big))
	text := patternPayload(200, true)
	ping := bytes.Repeat([]byte{0xFE}, 125)
	cases := []struct {
		name  string
		send  []byte // written in pieces of chunk bytes
		chunk int
		rest  []byte // then written in one piece
		want  []wantFrame
	}{
		{"text 200 B in 1-byte writes", clientFrame(true, opText, string(text)), 1, nil,
			[]wantFrame{echoOf(opText, string(text))}},
		{"binary 65536 B in 997-byte writes", bigFrame, 997, nil,
			[]wantFrame{echoOf(opBinary, string(big))}},
		{"binary 65536 B, header in 1-byte writes", bigFrame[:14], 1, bigFrame[14:],
			[]wantFrame{echoOf(opBinary, string(big))}},
		{"ping 125 B in 1-byte writes", clientFrame(true, opPing, string(ping)), 1, nil,
			[]wantFrame{{opPong, string(ping)}}},
		{"10 pings in 1-byte writes", bytes.Repeat(clientFrame(true, opPing, "payload"), 10), 1, nil,
			slicesRepeat(wantFrame{opPong, "payload"}, 10)},
		{"fragments and a ping in 3-byte writes", cat(
			clientFrame(false, opText, "frag1 "), clientFrame(true, opPing, "in between"),
			clientFrame(false, opContinuation, ""), clientFrame(true, opContinuation, "frag3")), 3, nil,
			[]wantFrame{{opPong, "in between"}, echoOf(opText, "frag1 frag3")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, done := serveConn(t, Options{}, echoHandler)
			c := connect(t, addr)
			c.sendChunked(tc.send, tc.chunk)
			if tc.rest != nil {
				c.send(tc.rest)
			}
			for _, w := range tc.want {
				c.expectFrame(w.op, w.payload)
			}
			c.closeHandshake()
			waitDone(t, done)
		})
	}
}

// slicesRepeat returns a slice holding n copies of v.
func slicesRepeat[T any](v T, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// TestEchoRandomSplitStream sends a long stream of mixed frames (messages of
// many sizes, fragmented ones, pings between fragments) cut at random
// points, so that headers and payloads straddle reads everywhere; every
// reply must come back in order.
func TestEchoRandomSplitStream(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var stream []byte
	var want []wantFrame
	for i := range 60 {
		op := []opcode{opText, opBinary}[i%2]
		p := patternPayload(rng.IntN(3000), op == opText)
		switch i % 3 {
		case 0:
			stream = append(stream, clientFrame(true, op, string(p))...)
		case 1:
			cut := rng.IntN(len(p) + 1)
			ping := fmt.Sprintf("ping %d", i)
			stream = append(stream, cat(clientFrame(false, op, string(p[:cut])),
				clientFrame(true, opPing, ping), clientFrame(true, opContinuation, string(p[cut:])))...)
			want = append(want, wantFrame{opPong, ping})
		case 2:
			stream = append(stream, clientFrame(true, opPing, "")...)
			want = append(want, wantFrame{opPong, ""})
			stream = append(stream, clientFrame(true, op, string(p))...)
		}
		want = append(want, echoOf(op, string(p)))
	}

	addr, done := serveConn(t, Options{}, echoHandler)
	c := connect(t, addr)
	c.conn.(*net.TCPConn).SetNoDelay(true)
	sent := make(chan error, 1)
	go func() {
		// Write from a goroutine: the echoes are read meanwhile.
		s := stream
		for len(s) > 0 {
			n := min(1+rng.IntN(700), len(s))
			if _, err := c.conn.Write(s[:n]); err != nil {
				sent <- err
				return
			}
			s = s[n:]
		}
		sent <- nil
	}()
	for _, w := range want {
		c.expectFrame(w.op, w.payload)
	}
	if err := awaitValue(t, sent); err != nil {
		t.Fatal(err)
	}
	c.closeHandshake()
	waitDone(t, done)
}

// TestPing is Autobahn section 2: pings are answered with a pong carrying
// the same payload, up to 125 bytes; pongs nobody asked for are ignored.
func TestPing(t *testing.T) {
	bin := "\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
	max125 := string(bytes.Repeat([]byte{0xFE}, 125))
	runWireCases(t, Options{}, []wireCase{
		{name: "2.1 empty", send: clientFrame(true, opPing, ""), want: []wantFrame{{opPong, ""}}},
		{name: "2.2 text payload", send: clientFrame(true, opPing, "Hello, world!"), want: []wantFrame{{opPong, "Hello, world!"}}},
		{name: "2.3 binary payload", send: clientFrame(true, opPing, bin), want: []wantFrame{{opPong, bin}}},
		{name: "2.4 125 bytes", send: clientFrame(true, opPing, max125), want: []wantFrame{{opPong, max125}}},
		{name: "2.5 126 bytes", send: clientFrame(true, opPing, max125+"x"), close: StatusProtocolError},
		{name: "2.7 unsolicited empty pong", send: cat(clientFrame(true, opPong, ""), clientFrame(true, opText, "after")),
			want: []wantFrame{echoOf(opText, "after")}},
		{name: "2.8 unsolicited pong", send: cat(clientFrame(true, opPong, "unsolicited"), clientFrame(true, opText, "after")),
			want: []wantFrame{echoOf(opText, "after")}},
		{name: "2.9 pong then ping", send: cat(clientFrame(true, opPong, "unsolicited"), clientFrame(true, opPing, "solicited")),
			want: []wantFrame{{opPong, "solicited"}}},
		{name: "2.10 ten pings", send: bytes.Repeat(clientFrame(true, opPing, "ten"), 10), want: slicesRepeat(wantFrame{opPong, "ten"}, 10)},
		{name: "5.1 fragmented ping", send: cat(clientFrame(false, opPing, "frag1"), clientFrame(true, opContinuation, "frag2")),
			close: StatusProtocolError},
		{name: "5.2 fragmented pong", send: cat(clientFrame(false, opPong, "frag1"), clientFrame(true, opContinuation, "frag2")),
			close: StatusProtocolError},
		{name: "pong of 126 bytes", send: clientFrame(true, opPong, max125+"x"), close: StatusProtocolError},
		{name: "unmasked ping", send: unmaskedFrame(true, opPing, "no mask"), close: StatusProtocolError},
	})
}

// TestOnPong checks that an unsolicited pong reaches the OnPong hook with its
// payload, and draws no answer.
func TestOnPong(t *testing.T) {
	pongs := make(chan string, 4)
	opts := Options{OnPong: func(_ *Conn, p []byte) { pongs <- string(p) }}
	addr, done := serveConn(t, opts, echoHandler)
	c := connect(t, addr)
	c.send(cat(clientFrame(true, opPong, "first"), clientFrame(false, opText, "a"),
		clientFrame(true, opPong, "between fragments"), clientFrame(true, opContinuation, "b")))
	c.expectFrame(opText, "ab")
	for _, want := range []string{"first", "between fragments"} {
		if got := awaitValue(t, pongs); got != want {
			t.Errorf("OnPong got %q, want %q", got, want)
		}
	}
	c.closeHandshake()
	waitDone(t, done)
	if len(pongs) != 0 {
		t.Errorf("OnPong called %d more times", len(pongs))
	}
}

// TestFragmentation is Autobahn section 5, 6.1 and 10.1: fragmented messages,
// with empty fragments and control frames between fragments, are echoed
// whole; fragments out of order fail the connection with 1002.
func TestFragmentation(t *testing.T) {
	var hundred [][]byte
	for i := range 100 {
		op := opContinuation
		if i == 0 {
			op = opBinary
		}
		hundred = append(hundred, clientFrame(i == 99, op, string(rune('0'+i%10))))
	}
	digits := string(bytes.Repeat([]byte("0123456789"), 10))
	// Autobahn 10.1.1: 65536 bytes of text in fragments of 1300 bytes.
	long := string(patternPayload(65536, true))
	var autoFragmented [][]byte
	for i := 0; i < len(long); i += 1300 {
		op := opContinuation
		if i == 0 {
			op = opText
		}
		autoFragmented = append(autoFragmented, clientFrame(i+1300 >= len(long), op, long[i:min(i+1300, len(long))]))
	}
	runWireCases(t, Options{}, []wireCase{
		{name: "5.3 text in 2 fragments", send: cat(clientFrame(false, opText, "fragment1"), clientFrame(true, opContinuation, "fragment2")),
			want: []wantFrame{echoOf(opText, "fragment1fragment2")}},
		{name: "5.4 binary in 3 fragments", send: cat(clientFrame(false, opBinary, "a"), clientFrame(false, opContinuation, "b"), clientFrame(true, opContinuation, "c")),
			want: []wantFrame{echoOf(opBinary, "abc")}},
		{name: "binary in 100 fragments", send: cat(hundred...), want: []wantFrame{echoOf(opBinary, digits)}},
		{name: "5.6 ping between text fragments", send: cat(clientFrame(false, opText, "fragment1"), clientFrame(true, opPing, "ping"), clientFrame(true, opContinuation, "fragment2")),
			want: []wantFrame{{opPong, "ping"}, echoOf(opText, "fragment1fragment2")}},
		{name: "pong and pings between binary fragments", send: cat(clientFrame(false, opBinary, "1"), clientFrame(true, opPong, "p"),
			clientFrame(false, opContinuation, "2"), clientFrame(true, opPing, "x"), clientFrame(true, opPing, "y"), clientFrame(true, opContinuation, "3")),
			want: []wantFrame{{opPong, "x"}, {opPong, "y"}, echoOf(opBinary, "123")}},
		{name: "5.19 fragments and pings, then a second message", send: cat(clientFrame(false, opText, "f1"), clientFrame(false, opContinuation, "f2"),
			clientFrame(true, opPing, "p1"), clientFrame(false, opContinuation, "f3"), clientFrame(true, opPing, "p2"),
			clientFrame(true, opContinuation, "f4"), clientFrame(true, opBinary, "next")),
			want: []wantFrame{{opPong, "p1"}, {opPong, "p2"}, echoOf(opText, "f1f2f3f4"), echoOf(opBinary, "next")}},
		{name: "10.1.1 65536 bytes in 1300-byte fragments", send: cat(autoFragmented...), want: []wantFrame{echoOf(opText, long)}},
		{name: "6.1.1 empty text", send: clientFrame(true, opText, ""), want: []wantFrame{echoOf(opText, "")}},
		{name: "6.1.2 three empty text fragments", send: cat(clientFrame(false, opText, ""), clientFrame(false, opContinuation, ""), clientFrame(true, opContinuation, "")),
			want: []wantFrame{echoOf(opText, "")}},
		{name: "6.1.3 empty first and last fragments", send: cat(clientFrame(false, opText, ""), clientFrame(false, opContinuation, "middle"), clientFrame(true, opContinuation, "")),
			want: []wantFrame{echoOf(opText, "middle")}},
		{name: "empty binary fragments", send: cat(clientFrame(false, opBinary, ""), clientFrame(true, opContinuation, "")),
			want: []wantFrame{echoOf(opBinary, "")}},
		{name: "5.9 continuation without a message", send: cat(clientFrame(true, opContinuation, "fragment"), clientFrame(true, opText, "text")),
			close: StatusProtocolError},
		{name: "5.10 unfinished continuation without a message", send: cat(clientFrame(false, opContinuation, "fragment"), clientFrame(true, opText, "text")),
			close: StatusProtocolError},
		{name: "5.15 continuation after a finished message", send: cat(clientFrame(false, opText, "f1"), clientFrame(true, opContinuation, "f2"),
			clientFrame(false, opContinuation, "f3"), clientFrame(true, opContinuation, "f4")),
			want: []wantFrame{echoOf(opText, "f1f2")}, close: StatusProtocolError},
		{name: "5.16 continuation, text, continuation", send: cat(clientFrame(false, opContinuation, "f1"), clientFrame(false, opText, "f2"), clientFrame(true, opContinuation, "f3")),
			close: StatusProtocolError},
		{name: "5.18 text inside a text message", send: cat(clientFrame(false, opText, "f1"), clientFrame(true, opText, "f2")),
			close: StatusProtocolError},
		{name: "binary inside a text message", send: cat(clientFrame(false, opText, "f1"), clientFrame(false, opBinary, "f2"), clientFrame(true, opContinuation, "f3")),
			close: StatusProtocolError},
		{name: "text inside a binary message after a ping", send: cat(clientFrame(false, opBinary, "f1"), clientFrame(true, opPing, "p"), clientFrame(true, opText, "f2")),
			want: []wantFrame{{opPong, "p"}}, close: StatusProtocolError},
	})
}

// TestReservedBits is Autobahn section 3: a frame with an RSV bit set, when
// no extension was negotiated, fails the connection with 1002, and nothing
// after it (not even a pong) is answered.
func TestReservedBits(t *testing.T) {
	const rsv1, rsv2, rsv3 = 0x40, 0x20, 0x10
	hello := clientFrame(true, opText, "Hello, world!")
	runWireCases(t, Options{}, []wireCase{
		{name: "3.1 RSV1 on text", send: withRSV(hello, rsv1), close: StatusProtocolError},
		{name: "3.2 RSV2 after a valid message", send: cat(hello, withRSV(hello, rsv2), clientFrame(true, opPing, "")),
			want: []wantFrame{echoOf(opText, "Hello, world!")}, close: StatusProtocolError},
		{name: "3.3 RSV1+RSV2", send: cat(hello, withRSV(hello, rsv1|rsv2), clientFrame(true, opPing, "")),
			want: []wantFrame{echoOf(opText, "Hello, world!")}, close: StatusProtocolError},
		{name: "3.4 RSV3", send: withRSV(hello, rsv3), close: StatusProtocolError},
		{name: "3.5 RSV1+RSV3 on binary", send: withRSV(clientFrame(true, opBinary, "\x00\xff"), rsv1|rsv3), close: StatusProtocolError},
		{name: "3.6 RSV2+RSV3 on ping", send: withRSV(clientFrame(true, opPing, "ping"), rsv2|rsv3), close: StatusProtocolError},
		{name: "RSV1 on a continuation", send: cat(clientFrame(false, opText, "a"), withRSV(clientFrame(true, opContinuation, "b"), rsv1)), close: StatusProtocolError},
		{name: "3.7 all RSV bits on close", send: withRSV(clientFrame(true, opClose, string(closePayload(StatusNormalClosure, ""))), rsv1|rsv2|rsv3),
			close: StatusProtocolError, final: true},
	})
}

// TestReservedOpcodes is Autobahn section 4: frames with the reserved
// opcodes 3-7 and 0xB-0xF fail the connection with 1002.
func TestReservedOpcodes(t *testing.T) {
	var cases []wireCase
	for _, op := range []opcode{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		cases = append(cases,
			wireCase{name: fmt.Sprintf("opcode %#x", byte(op)), send: clientFrame(true, op, ""), close: StatusProtocolError},
			wireCase{name: fmt.Sprintf("opcode %#x with payload after a message", byte(op)),
				send:  cat(clientFrame(true, opText, "valid"), clientFrame(true, op, "reserved"), clientFrame(true, opPing, "")),
				want:  []wantFrame{echoOf(opText, "valid")},
				close: StatusProtocolError})
	}
	runWireCases(t, Options{}, cases)
}

// TestFrameErrors covers the other frame-level rules: client frames must be
// masked, and a 64-bit length must not have its top bit set.
func TestFrameErrors(t *testing.T) {
	huge := []byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
	runWireCases(t, Options{}, []wireCase{
		{name: "unmasked text", send: unmaskedFrame(true, opText, "no mask"), close: StatusProtocolError},
		{name: "unmasked continuation", send: cat(clientFrame(false, opBinary, "masked"), unmaskedFrame(true, opContinuation, "not")),
			close: StatusProtocolError},
		{name: "unmasked after a message", send: cat(clientFrame(true, opText, "ok"), unmaskedFrame(true, opText, "no mask")),
			want: []wantFrame{echoOf(opText, "ok")}, close: StatusProtocolError},
		{name: "64-bit length with the top bit set", send: huge, close: StatusProtocolError, final: true},
	})
}

// TestReadLimit checks that a message longer than Options.ReadLimit fails the
// connection with 1009, whether a frame header announces it or the
// fragments add up to it, and that a message of exactly the limit passes.
func TestReadLimit(t *testing.T) {
	const limit = 1000
	p := func(n int) string { return string(patternPayload(n, true)) }
	runWireCases(t, Options{ReadLimit: limit}, []wireCase{
		{name: "at the limit", send: clientFrame(true, opText, p(limit)), want: []wantFrame{echoOf(opText, p(limit))}},
		{name: "fragments at the limit", send: cat(clientFrame(false, opBinary, p(500)), clientFrame(true, opContinuation, p(500))),
			want: []wantFrame{echoOf(opBinary, p(500)+p(500))}},
		{name: "one frame over", send: clientFrame(true, opText, p(limit+1)), close: StatusMessageTooBig},
		{name: "fragments over", send: cat(clientFrame(false, opBinary, p(600)), clientFrame(true, opContinuation, p(600))), close: StatusMessageTooBig},
		{name: "many fragments over", send: cat(clientFrame(false, opText, p(400)), clientFrame(false, opContinuation, p(400)),
			clientFrame(true, opPing, ""), clientFrame(false, opContinuation, p(201)), clientFrame(true, opContinuation, "")),
			want: []wantFrame{{opPong, ""}}, close: StatusMessageTooBig},
		{name: "limit is per message", send: cat(clientFrame(true, opText, p(limit)), clientFrame(true, opText, p(limit))),
			want: []wantFrame{echoOf(opText, p(limit)), echoOf(opText, p(limit))}},
	})
}

// TestReadLimitFailsOnHeader checks that the server fails an oversized
// message as soon as the header announces it, without waiting for the
// payload.
func TestReadLimitFailsOnHeader(t *testing.T) {
	addr, done := serveConn(t, Options{ReadLimit: 1000}, echoHandler)
	c := connect(t, addr)
	frame := clientFrame(true, opBinary, string(patternPayload(1<<20, false)))
	c.send(frame[:14+10]) // the header and a little payload
	c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	c.expectCloseFrame(StatusMessageTooBig)
	c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	c.send(frame[14+10:])
	c.answerClose()
	waitDone(t, done)
}

// TestFirstFrameInHandshakeWrite sends the client's first frames in the same
// TCP write as the handshake request; the server must not lose them.
func TestFirstFrameInHandshakeWrite(t *testing.T) {
	addr, done := serveConn(t, Options{}, echoHandler)
	frames := cat(clientFrame(true, opText, "first"), clientFrame(true, opPing, "p"),
		clientFrame(false, opBinary, "sec"), clientFrame(true, opContinuation, "ond"))
	c, resp := dialRaw(t, addr, handshakeRequest(addr, "")+string(frames))
	if resp.StatusCode != 101 {
		t.Fatalf("handshake: %s", resp.Status)
	}
	c.expectFrame(opText, "first")
	c.expectFrame(opPong, "p")
	c.expectFrame(opBinary, "second")
	c.closeHandshake()
	waitDone(t, done)
}

// readResult is what a handler reports about one read.
type readResult struct {
	typ  MessageType
	data string
	err  error
}

// TestNextReader reads a fragmented message with control frames inside it
// through NextReader in small pieces, then an empty message.
func TestNextReader(t *testing.T) {
	results := make(chan readResult, 4)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		for range 2 {
			typ, r, err := c.NextReader()
			if err != nil {
				results <- readResult{err: err}
				return
			}
			var got []byte
			buf := make([]byte, 3)
			for {
				n, err := r.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					results <- readResult{typ, string(got), err}
					return
				}
			}
			// io.EOF again at the end.
			_, err = r.Read(buf)
			results <- readResult{typ, string(got), err}
		}
		c.ReadMessage() // until the client's close
	})
	c := connect(t, addr)
	c.send(cat(clientFrame(false, opText, "Hello, "), clientFrame(true, opPing, "p1"), clientFrame(false, opContinuation, ""),
		clientFrame(false, opContinuation, "frag"), clientFrame(true, opPong, "unsolicited"), clientFrame(true, opContinuation, "mented world"),
		clientFrame(true, opBinary, "")))
	c.expectFrame(opPong, "p1")
	for _, want := range []readResult{{TextMessage, "Hello, fragmented world", io.EOF}, {BinaryMessage, "", io.EOF}} {
		if got := awaitValue(t, results); got != want {
			t.Errorf("NextReader read %v %q, then %v; want %v %q, then %v", got.typ, got.data, got.err, want.typ, want.data, want.err)
		}
	}
	c.closeHandshake()
	waitDone(t, done)
}

// TestNextReaderStale checks that the next read discards the unread rest of a
// message begun with NextReader, and that the old reader then fails.
func TestNextReaderStale(t *testing.T) {
	type staleResult struct {
		first  string     // what r1 read
		next   readResult // the read after it
		stale  error      // r1.Read afterwards
		third  string
		stale2 error // r2.Read after NextReader
		fourth readResult
	}
	results := make(chan staleResult, 1)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		var res staleResult
		defer func() { results <- res }()
		_, r1, err := c.NextReader()
		if err != nil {
			res.next.err = err
			return
		}
		buf := make([]byte, 2)
		n, _ := io.ReadFull(r1, buf)
		res.first = string(buf[:n])
		typ, msg, err := c.ReadMessage()
		res.next = readResult{typ, string(msg), err}
		if err != nil {
			return
		}
		_, res.stale = r1.Read(buf)
		_, r2, err := c.NextReader()
		if err != nil {
			res.stale2 = err
			return
		}
		n, _ = r2.Read(buf[:1])
		res.third = string(buf[:n])
		_, r3, err := c.NextReader()
		if err != nil {
			res.fourth.err = err
			return
		}
		_, res.stale2 = r2.Read(buf)
		all, err := io.ReadAll(r3)
		res.fourth = readResult{TextMessage, string(all), err}
	})
	c := connect(t, addr)
	c.send(cat(clientFrame(false, opText, "abcdef"), clientFrame(true, opContinuation, "ghi"),
		clientFrame(true, opBinary, "second"),
		clientFrame(false, opText, "third"), clientFrame(true, opPing, "p"), clientFrame(true, opContinuation, " message"),
		clientFrame(true, opText, "fourth")))
	res := awaitValue(t, results)
	c.expectFrame(opPong, "p")
	if res.first != "ab" {
		t.Errorf("first reader read %q, want \"ab\"", res.first)
	}
	if res.next != (readResult{BinaryMessage, "second", nil}) {
		t.Errorf("ReadMessage after a partly read message: %v %q %v; want binary \"second\"", res.next.typ, res.next.data, res.next.err)
	}
	if res.stale == nil || res.stale == io.EOF {
		t.Errorf("stale reader after ReadMessage: err %v, want an error", res.stale)
	}
	if res.third != "t" {
		t.Errorf("third message began %q, want \"t\"", res.third)
	}
	if res.stale2 == nil || res.stale2 == io.EOF {
		t.Errorf("stale reader after NextReader: err %v, want an error", res.stale2)
	}
	if res.fourth != (readResult{TextMessage, "fourth", nil}) {
		t.Errorf("fourth message: %q %v, want \"fourth\"", res.fourth.data, res.fourth.err)
	}
	c.closeHandshake()
	waitDone(t, done)
}

// readMessageFrames reads the frames of one data message from the server
// and returns them, failing the test on a control frame or a frame that
// breaks the fragmentation rules.
func (c *rawClient) readMessageFrames() (frames []header, payload []byte) {
	c.t.Helper()
	for {
		h, p := c.nextFrame()
		switch {
		case h.opcode.isControl():
			c.t.Fatalf("control frame op=%d inside a message", h.opcode)
		case len(frames) == 0 && h.opcode == opContinuation:
			c.t.Fatalf("message begins with a continuation frame")
		case len(frames) > 0 && h.opcode != opContinuation:
			c.t.Fatalf("fragment %d has op=%d, want continuation", len(frames), h.opcode)
		}
		frames = append(frames, h)
		payload = append(payload, p...)
		if h.fin {
			return frames, payload
		}
	}
}

// TestNextWriter checks the frames NextWriter puts on the wire: buffered
// writes go out as fragments whenever the buffer fills, writes larger than
// the buffer go out directly, the first fragment carries the message type,
// the others are continuations, and Close sends the final one.
func TestNextWriter(t *testing.T) {
	data := patternPayload(5000, true)
	errs := make(chan error, 8)
	addr, done := serveConn(t, Options{WriteBufferSize: 256}, func(c *Conn) {
		w, err := c.NextWriter(TextMessage)
		if err != nil {
			errs <- err
			return
		}
		for _, piece := range [][]byte{data[:100], data[100:4500], data[4500:4990], data[4990:]} {
			if n, err := w.Write(piece); n != len(piece) || err != nil {
				errs <- fmt.Errorf("Write: %d, %v; want %d, nil", n, err, len(piece))
			}
		}
		if err := w.Close(); err != nil {
			errs <- fmt.Errorf("Close: %v", err)
		}
		if _, err := w.Write([]byte("late")); err == nil {
			errs <- errors.New("Write after Close succeeded")
		}
		if err := w.Close(); err == nil {
			errs <- errors.New("second Close succeeded")
		}
		// A short message is a single frame; an empty one too.
		w, _ = c.NextWriter(BinaryMessage)
		w.Write([]byte("short"))
		w.Close()
		w, _ = c.NextWriter(TextMessage)
		w.Close()
		if err := c.WriteMessage(BinaryMessage, []byte("after")); err != nil {
			errs <- fmt.Errorf("WriteMessage after the writer: %v", err)
		}
		errs <- nil
		c.ReadMessage() // until the client's close
	})
	c := connect(t, addr)
	frames, payload := c.readMessageFrames()
	if frames[0].opcode != opText {
		t.Errorf("first fragment op=%d, want text", frames[0].opcode)
	}
	if len(frames) < 3 {
		t.Errorf("message in %d frames; a 5000-byte message through a 256-byte buffer needs several", len(frames))
	}
	// 100 bytes are buffered; the next write fills the buffer (a 256-byte
	// fragment) and its rest, too big to buffer, goes out as it is; so
	// does the third; the last 10 bytes go out with Close.
	var lengths []int64
	for _, h := range frames {
		lengths = append(lengths, h.length)
	}
	if want := []int64{256, 4244, 490, 10}; !slices.Equal(lengths, want) {
		t.Errorf("fragment lengths %v, want %v", lengths, want)
	}
	if !bytes.Equal(payload, data) {
		t.Errorf("reassembled payload differs (%d bytes, want %d)", len(payload), len(data))
	}
	c.expectFrame(opBinary, "short")
	c.expectFrame(opText, "")
	c.expectFrame(opBinary, "after")
	if err := awaitValue(t, errs); err != nil {
		t.Error(err)
	}
	c.closeHandshake()
	waitDone(t, done)
}

// TestConcurrentWriters has many goroutines call WriteMessage at once, with
// messages of every header size, while the peer sends pings that the
// server's reader answers. Every frame on the wire must parse, each message
// must arrive whole in one frame and in its writer's order, and every pong
// must come back.
func TestConcurrentWriters(t *testing.T) {
	const writers, perWriter, pings = 8, 24, 50
	sizes := []int{5, 300, 5000, 70000}
	message := func(g, i int) []byte {
		p := bytes.Repeat([]byte{'A' + byte(g)}, sizes[(g+i)%len(sizes)])
		p[1], p[2] = byte(i>>8), byte(i)
		return p
	}
	werrs := make(chan error, writers)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				for i := range perWriter {
					if err := c.WriteMessage(BinaryMessage, message(g, i)); err != nil {
						werrs <- err
						return
					}
				}
			})
		}
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				break
			}
		}
		wg.Wait()
	})
	c := connect(t, addr)
	pinged := make(chan error, 1)
	go func() {
		for i := range pings {
			if _, err := c.conn.Write(clientFrame(true, opPing, fmt.Sprintf("ping %d", i))); err != nil {
				pinged <- err
				return
			}
		}
		pinged <- nil
	}()
	next := make([]int, writers)
	messages, pongs := 0, 0
	for messages < writers*perWriter || pongs < pings {
		h, p := c.nextFrame()
		switch h.opcode {
		case opPong:
			if want := fmt.Sprintf("ping %d", pongs); string(p) != want {
				t.Fatalf("pong %q, want %q", p, want)
			}
			pongs++
		case opBinary:
			if !h.fin || len(p) < 3 {
				t.Fatalf("data frame fin=%v of %d bytes", h.fin, len(p))
			}
			g := int(p[0] - 'A')
			if g < 0 || g >= writers {
				t.Fatalf("message from unknown writer %q", p[0])
			}
			i := int(p[1])<<8 | int(p[2])
			want := message(g, next[g])
			if i != next[g] || !bytes.Equal(p, want) {
				t.Fatalf("writer %d: got message %d of %d bytes, want message %d of %d bytes (interleaved?)", g, i, len(p), next[g], len(want))
			}
			next[g]++
			messages++
		default:
			t.Fatalf("unexpected frame op=%d", h.opcode)
		}
	}
	if err := awaitValue(t, pinged); err != nil {
		t.Fatal(err)
	}
	c.closeHandshake()
	waitDone(t, done)
	select {
	case err := <-werrs:
		t.Errorf("WriteMessage: %v", err)
	default:
	}
}

// TestNextWriterHoldsOtherMessages checks that a WriteMessage called while a
// NextWriter message is open waits until it is closed, while control frames
// may go out between its fragments.
func TestNextWriterHoldsOtherMessages(t *testing.T) {
	seen := make(chan struct{})
	errs := make(chan error, 4)
	addr, done := serveConn(t, Options{WriteBufferSize: 256}, func(c *Conn) {
		w, err := c.NextWriter(TextMessage)
		if err != nil {
			errs <- err
			return
		}
		// 256 bytes go out as the first fragment, 44 stay buffered.
		w.Write(patternPayload(100, true))
		w.Write(patternPayload(200, true))
		started := make(chan struct{})
		written := make(chan error, 1)
		go func() {
			close(started)
			written <- c.WriteMessage(BinaryMessage, []byte("other"))
		}()
		<-started
		c.Ping([]byte("sync"))
		// The client has now read the first fragment and the ping: a
		// round trip in which WriteMessage could have gone out.
		select {
		case <-seen:
		case <-time.After(testTimeout):
		}
		select {
		case err := <-written:
			errs <- fmt.Errorf("WriteMessage returned (%v) while a NextWriter message was open", err)
		default:
		}
		w.Write(patternPayload(100, true))
		if err := w.Close(); err != nil {
			errs <- err
		}
		if err := <-written; err != nil {
			errs <- err
		}
		errs <- nil
		c.ReadMessage() // until the client's close
	})
	c := connect(t, addr)
	h, p := c.nextFrame()
	if h.opcode != opText || h.fin || len(p) != 256 {
		t.Fatalf("first frame op=%d fin=%v of %d bytes; want the first 256-byte fragment of a text message", h.opcode, h.fin, len(p))
	}
	c.expectFrame(opPing, "sync")
	close(seen)
	h, p = c.nextFrame()
	if h.opcode != opContinuation || !h.fin || len(p) != 144 {
		t.Fatalf("second frame op=%d fin=%v of %d bytes; want the final 144-byte continuation", h.opcode, h.fin, len(p))
	}
	c.expectFrame(opBinary, "other")
	if err := awaitValue(t, errs); err != nil {
		t.Error(err)
	}
	c.closeHandshake()
	waitDone(t, done)
}

// TestPongBetweenFragments checks that the server's reader answers a ping
// while another goroutine is in the middle of a fragmented message: the
// pong goes out between its fragments.
func TestPongBetweenFragments(t *testing.T) {
	pongSeen := make(chan struct{})
	readErr := make(chan error, 1)
	addr, done := serveConn(t, Options{WriteBufferSize: 256}, func(c *Conn) {
		go func() {
			_, _, err := c.ReadMessage()
			readErr <- err
		}()
		w, _ := c.NextWriter(BinaryMessage)
		w.Write(patternPayload(100, false))
		w.Write(patternPayload(200, false)) // sends 256 bytes, buffers 44
		select {
		case <-pongSeen:
		case <-time.After(testTimeout):
		}
		w.Write(patternPayload(10, false))
		w.Close()
		<-readErr
	})
	c := connect(t, addr)
	h, _ := c.nextFrame()
	if h.opcode != opBinary || h.fin {
		t.Fatalf("first frame op=%d fin=%v, want a first fragment", h.opcode, h.fin)
	}
	c.sendFrame(true, opPing, []byte("between"))
	c.expectFrame(opPong, "between")
	close(pongSeen)
	h, p := c.nextFrame()
	if h.opcode != opContinuation || !h.fin || len(p) != 300-256+10 {
		t.Fatalf("frame op=%d fin=%v of %d bytes, want the final fragment", h.opcode, h.fin, len(p))
	}
	c.closeHandshake()
	waitDone(t, done)
}

// TestAppendMessageNoAllocs checks that, in steady state, echoing a small
// message with AppendMessage into a reused buffer and WriteMessage costs no
// allocation on the server (nor on the hand-built client).
func TestAppendMessageNoAllocs(t *testing.T) {
	addr, done := serveConn(t, Options{}, echoHandler)
	c := connect(t, addr)
	const msg = "steady state echo"
	frame := clientFrame(true, opText, msg)
	resp := make([]byte, 2+len(msg))
	var err error
	roundTrip := func() {
		if err != nil {
			return
		}
		if _, err = c.conn.Write(frame); err == nil {
			_, err = io.ReadFull(c.br, resp)
		}
	}
	for range 10 {
		roundTrip() // warm up
	}
	allocs := testing.AllocsPerRun(200, roundTrip)
	if err != nil {
		t.Fatal(err)
	}
	if string(resp[2:]) != msg {
		t.Fatalf("echo %q, want %q", resp[2:], msg)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per echoed message, want 0", allocs)
	}
	c.closeHandshake()
	waitDone(t, done)
}

// TestReadDeadline checks that a read blocked past the read deadline returns
// a timeout error, and that later reads return the same error even once the
// deadline is lifted, whether the deadline struck between frames or inside
// one.
func TestReadDeadline(t *testing.T) {
	for _, partial := range []bool{false, true} {
		t.Run(fmt.Sprintf("partial frame %v", partial), func(t *testing.T) {
			results := make(chan [2]error, 1)
			arrived := make(chan struct{})
			addr, done := serveConn(t, Options{}, func(c *Conn) {
				if partial {
					select {
					case <-arrived:
					case <-time.After(testTimeout):
					}
				}
				c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				_, _, err1 := c.ReadMessage()
				c.SetReadDeadline(time.Time{})
				_, _, err2 := c.ReadMessage()
				results <- [2]error{err1, err2}
			})
			c := connect(t, addr)
			if partial {
				c.send(clientFrame(true, opText, "incomplete")[:9])
			}
			close(arrived)
			errs := awaitValue(t, results)
			var ne net.Error
			if !errors.As(errs[0], &ne) || !ne.Timeout() || !errors.Is(errs[0], os.ErrDeadlineExceeded) {
				t.Errorf("read past the deadline: %v, want a timeout", errs[0])
			}
			if errs[1] != errs[0] {
				t.Errorf("later read: %v, want the same error %v", errs[1], errs[0])
			}
			// The handler has returned: the server closes.
			c.expectCloseFrame(StatusNormalClosure)
			c.expectEOF()
			waitDone(t, done)
		})
	}
}

// BenchmarkEcho measures a full echo round trip over loopback TCP: a masked
// binary message from the hand-built client, AppendMessage and WriteMessage
// on the server, and the echo read back.
func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			addr, done := startServer(b, &Server{Handler: echoHandler})
			c := connect(b, addr)
			c.conn.SetDeadline(time.Time{})
			frame := clientFrame(true, opBinary, string(patternPayload(size, false)))
			resp := make([]byte, headerSize(int64(size), false)+size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.conn.Write(frame); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c.br, resp); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			c.conn.SetDeadline(time.Now().Add(testTimeout))
			c.closeHandshake()
			waitDone(b, done)
		})
	}
}
