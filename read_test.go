//go:build !js

package websocket

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// This file tests reading (read.go), on the server's side and the client's:
// frames that arrive in pieces, fragmentation, reserved bits and opcodes and
// other frame errors (Autobahn sections 1 to 5 and 10; 6 is in utf8_test.go
// and 7 in close_test.go), control frames met during a read, the read limit,
// NextReader, read deadlines, the read buffer, and a fuzz target for the
// frame reader.

// TestEchoChunkedWrites is Autobahn 1.1.8, 1.2.8, 2.6 and 2.11: frames that
// reach the server in pieces (down to one byte per TCP write, so that the
// header itself is split) are read whole.
func TestEchoChunkedWrites(t *testing.T) {
	big := testPayload(BinaryMessage, 65536, 0)
	bigFrame := clientFrame(true, opBinary, string(big))
	text := testPayload(TextMessage, 200, 0)
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
			slices.Repeat([]wantFrame{{opPong, "payload"}}, 10)},
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
			await(t, done, "the handler to return")
		})
	}
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
		p := testPayload(MessageType(op), rng.IntN(3000), uint64(i))
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
	if err := await(t, sent, "the stream to be sent"); err != nil {
		t.Fatal(err)
	}
	c.closeHandshake()
	await(t, done, "the handler to return")
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
	long := string(testPayload(TextMessage, 65536, 0))
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

// TestClientRejectsMaskedFrame has a fake server send a masked frame, which
// a server must never do: the client's read fails and the client closes with
// 1002.
func TestClientRejectsMaskedFrame(t *testing.T) {
	c, fc := dialFake(t, nil)
	readErr := readInBackground(c)
	rc := fc.raw(t)
	rc.send(buildFrame(true, opText, []byte("hidden"), true, [4]byte{1, 2, 3, 4}))
	rc.expectCloseFrame(StatusProtocolError)
	rc.sendFrame(true, opClose, closePayload(StatusProtocolError, ""))
	if err := await(t, readErr, "the client's read"); err == nil || !strings.Contains(err.Error(), "masked") {
		t.Errorf("client read: %v; want an error about a masked frame", err)
	}
	rc.expectEOF()
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
		{name: "2.10 ten pings", send: bytes.Repeat(clientFrame(true, opPing, "ten"), 10), want: slices.Repeat([]wantFrame{{opPong, "ten"}}, 10)},
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
		if got := await(t, pongs, "OnPong"); got != want {
			t.Errorf("OnPong got %q, want %q", got, want)
		}
	}
	c.closeHandshake()
	await(t, done, "the handler to return")
	if len(pongs) != 0 {
		t.Errorf("OnPong called %d more times", len(pongs))
	}
}

// TestClientAnswersPing has the server ping; a reading client answers with a
// pong that carries the same payload.
func TestClientAnswersPing(t *testing.T) {
	pongs := make(chan string, 1)
	opts := Options{OnPong: func(_ *Conn, p []byte) { pongs <- string(p) }}
	addr, done := serveConn(t, opts, func(c *Conn) {
		if err := c.Ping([]byte("server ping")); err != nil {
			t.Errorf("server Ping: %v", err)
		}
		c.ReadMessage() // sees the pong, then the client's close
	})
	c := mustDial(t, wsURL(addr), nil)
	readErr := readInBackground(c)
	if got := await(t, pongs, "the client's pong"); got != "server ping" {
		t.Errorf("server's OnPong got %q, want %q", got, "server ping")
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	await(t, readErr, "the reader to end")
	await(t, done, "the handler to return")
}

// TestReadDoesNotWaitForBlockedWriter checks that a read answers pings and
// goes on reading while a writer holds the write lock (here the test holds
// it, as a writer blocked on a peer that does not read would): the pongs
// wait for the holder, who sends them as it unlocks; the read does not wait.
func TestReadDoesNotWaitForBlockedWriter(t *testing.T) {
	peer, nc := tcpPair(t)
	c := newConn(nc, true, nil, &Options{}, negotiated{})
	defer c.CloseNow()
	c.writeMu.Lock()
	var frames []byte
	for i := range 3 {
		frames = append(frames, clientFrame(true, opPing, fmt.Sprint(i))...)
	}
	frames = append(frames, clientFrame(true, opText, "after the pings")...)
	if _, err := peer.Write(frames); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		_, msg, err := c.ReadMessage()
		if err != nil {
			got <- err.Error()
		}
		got <- string(msg)
	}()
	if msg := await(t, got, "the read"); msg != "after the pings" {
		t.Fatalf("read %q", msg)
	}
	c.unlockWrite(true)
	peer.SetReadDeadline(time.Now().Add(testTimeout))
	want := string(unmaskedFrame(true, opPong, "0")) + string(unmaskedFrame(true, opPong, "1")) + string(unmaskedFrame(true, opPong, "2"))
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != want {
		t.Fatalf("after the unlock the peer read % x, %v; want % x", buf, err, want)
	}
}

// TestReadLimit checks that a message longer than Options.ReadLimit fails the
// connection with 1009, whether a frame header announces it or the
// fragments add up to it, and that a message of exactly the limit passes.
func TestReadLimit(t *testing.T) {
	const limit = 1000
	p := func(n int) string { return string(testPayload(TextMessage, n, 0)) }
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
	frame := clientFrame(true, opBinary, string(testPayload(BinaryMessage, 1<<20, 0)))
	c.send(frame[:14+10]) // the header and a little payload
	c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	c.expectCloseFrame(StatusMessageTooBig)
	c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	c.send(frame[14+10:])
	c.answerClose()
	await(t, done, "the handler to return")
}

// TestReadLimitLengthOverflow sends a fragment and then a continuation frame
// whose 64-bit length, added to the fragment's, overflows int64: the read
// limit must still apply, rather than the reader accepting the frame and
// reading without bound.
func TestReadLimitLengthOverflow(t *testing.T) {
	const limit = 1024
	stream := buildFrame(false, opBinary, []byte("0123456789"), true, rfcKey)
	var hdr [maxHeaderSize]byte
	n := putHeader(hdr[:], header{fin: true, opcode: opContinuation, length: math.MaxInt64, masked: true, key: rfcKey})
	stream = append(stream, hdr[:n]...)
	stream = append(stream, make([]byte, 3*limit)...)

	c, done := streamConn(stream, &Options{ReadLimit: limit, CloseTimeout: 50 * time.Millisecond})
	defer done()
	_, msg, err := c.ReadMessage()
	if err == nil || !strings.Contains(err.Error(), "read limit") {
		t.Errorf("ReadMessage error %v, want one about the read limit", err)
	}
	if len(msg) > limit {
		t.Errorf("ReadMessage returned %d bytes, more than the read limit of %d", len(msg), limit)
	}
}

// TestClientReadLimit has the server send a message at the client's read
// limit, which is read, and one byte over it, which fails the client's read
// and makes the client close with 1009.
func TestClientReadLimit(t *testing.T) {
	const limit = 1000
	srvErr := make(chan error, 1)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		for _, n := range []int{limit, limit + 1} {
			if err := c.WriteMessage(BinaryMessage, make([]byte, n)); err != nil {
				t.Errorf("server write of %d bytes: %v", n, err)
			}
		}
		_, _, err := c.ReadMessage()
		srvErr <- err
	})
	c := mustDial(t, wsURL(addr), &DialOptions{Options: Options{ReadLimit: limit}})
	if _, msg, err := c.ReadMessage(); err != nil || len(msg) != limit {
		t.Fatalf("message at the limit: %d bytes, %v", len(msg), err)
	}
	_, _, err := c.ReadMessage()
	if err == nil || !strings.Contains(err.Error(), "read limit") {
		t.Fatalf("message over the limit: error %v; want one naming the read limit", err)
	}
	if ce := closeErrorOf(t, await(t, srvErr, "the server's read")); ce.Code != StatusMessageTooBig {
		t.Errorf("server saw close %v, want 1009", ce.Code)
	}
	if err := c.WriteMessage(TextMessage, []byte("x")); err != ErrClosed {
		t.Errorf("WriteMessage after the failure: %v, want ErrClosed", err)
	}
	await(t, done, "the handler to return")
}

// TestMessageGrowthCost checks that reading a message that arrives in many
// fragments allocates about twice its size at most, not the five times of
// append's 1.25x growth, and never more than the read limit at once.
func TestMessageGrowthCost(t *testing.T) {
	const size, fragment = 4 << 20, 64 << 10
	peer, nc := tcpPair(t)
	c := newConn(nc, true, nil, &Options{ReadLimit: size}, negotiated{})
	defer c.CloseNow()
	var frames []byte
	for off := 0; off < size; off += fragment {
		op := opContinuation
		if off == 0 {
			op = opBinary
		}
		frames = append(frames, buildFrame(off+fragment == size, op, make([]byte, fragment), true, [4]byte{1, 2, 3, 4})...)
	}
	go peer.Write(frames)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, msg, err := c.ReadMessage()
	runtime.ReadMemStats(&after)
	if err != nil || len(msg) != size {
		t.Fatalf("read %d bytes, %v", len(msg), err)
	}
	if cap(msg) > size {
		t.Errorf("the message's buffer holds %d bytes, more than the read limit %d", cap(msg), size)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 2*size+size/4 {
		t.Errorf("reading a %d-byte message allocated %d bytes, want at most about twice its size", size, got)
	}
}

// readResult is what a handler reports about one read.
type readResult struct {
	typ  MessageType
	data string
	err  error
}

// readPieces reads r to its end in reads of at most size bytes and returns
// what it read, with nil at io.EOF or the error that stopped it.
func readPieces(r io.Reader, size int) ([]byte, error) {
	var got []byte
	buf := make([]byte, size)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
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
			got, err := readPieces(r, 3)
			if err != nil {
				results <- readResult{typ, string(got), err}
				return
			}
			// io.EOF again at the end.
			_, err = r.Read(make([]byte, 3))
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
		if got := await(t, results, "the handler's result"); got != want {
			t.Errorf("NextReader read %v %q, then %v; want %v %q, then %v", got.typ, got.data, got.err, want.typ, want.data, want.err)
		}
	}
	c.closeHandshake()
	await(t, done, "the handler to return")
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
	res := await(t, results, "the handler's result")
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
	await(t, done, "the handler to return")
}

// TestClientNextReader has the server stream a fragmented message with
// NextWriter; the client reads it with NextReader in small pieces.
func TestClientNextReader(t *testing.T) {
	want := testPayload(TextMessage, 50000, 11)
	addr, done := serveConn(t, Options{WriteBufferSize: 256}, func(c *Conn) {
		w, err := c.NextWriter(TextMessage)
		if err != nil {
			t.Errorf("server NextWriter: %v", err)
			return
		}
		for i := 0; i < len(want); i += 99 {
			if _, err := w.Write(want[i:min(i+99, len(want))]); err != nil {
				t.Errorf("server Write: %v", err)
				return
			}
		}
		if err := w.Close(); err != nil {
			t.Errorf("server closing the writer: %v", err)
		}
		c.ReadMessage() // until the client closes
	})
	c := mustDial(t, wsURL(addr), nil)
	typ, r, err := c.NextReader()
	if err != nil {
		t.Fatalf("NextReader: %v", err)
	}
	if typ != TextMessage {
		t.Errorf("message type %v, want text", typ)
	}
	got, err := readPieces(r, 37)
	if err != nil {
		t.Fatalf("reading the message after %d bytes: %v", len(got), err)
	}
	checkSame(t, "streamed message", got, want)
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	await(t, done, "the handler to return")
}

// TestReadDeadline checks that a read blocked past the read deadline returns
// a timeout error; that a timeout between messages leaves the connection
// usable (the next read returns the next message); and that a timeout inside
// a frame is final: later reads return the same error even once the
// deadline is lifted.
func TestReadDeadline(t *testing.T) {
	for _, partial := range []bool{false, true} {
		t.Run(fmt.Sprintf("partial frame %v", partial), func(t *testing.T) {
			type result struct {
				err1, err2 error
				msg        string
			}
			results := make(chan result, 1)
			arrived := make(chan struct{})
			timedOut := make(chan struct{})
			addr, done := serveConn(t, Options{}, func(c *Conn) {
				if partial {
					select {
					case <-arrived:
					case <-time.After(testTimeout):
					}
				}
				c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				_, _, err1 := c.ReadMessage()
				close(timedOut)
				c.SetReadDeadline(time.Time{})
				_, msg, err2 := c.ReadMessage()
				results <- result{err1, err2, string(msg)}
			})
			c := connect(t, addr)
			if partial {
				c.send(clientFrame(true, opText, "incomplete")[:9])
			}
			close(arrived)
			await(t, timedOut, "the first read to time out")
			if !partial {
				c.sendFrame(true, opText, []byte("after the timeout"))
			}
			r := await(t, results, "the handler's result")
			var ne net.Error
			if !errors.As(r.err1, &ne) || !ne.Timeout() || !errors.Is(r.err1, os.ErrDeadlineExceeded) {
				t.Errorf("read past the deadline: %v, want a timeout", r.err1)
			}
			if partial && r.err2 != r.err1 {
				t.Errorf("later read: %v, want the same error %v", r.err2, r.err1)
			}
			if !partial && (r.err2 != nil || r.msg != "after the timeout") {
				t.Errorf("read after a timeout between messages: %q, %v; want the next message", r.msg, r.err2)
			}
			// The handler has returned: the server closes.
			c.expectCloseFrame(StatusNormalClosure)
			c.expectEOF()
			await(t, done, "the handler to return")
		})
	}
}

// TestClientReadDeadline checks that SetReadDeadline makes a read on a quiet
// connection time out, and that the connection stays usable: a timeout
// between messages is not final.
func TestClientReadDeadline(t *testing.T) {
	addr, done := serveConn(t, Options{}, echoHandler)
	c := mustDial(t, wsURL(addr), nil)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, _, err := c.ReadMessage()
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v; want a timeout", err)
	}
	if d := time.Since(start); d > testTimeout/2 {
		t.Errorf("read returned after %v; the deadline was 50ms", d)
	}
	c.SetReadDeadline(time.Time{})
	if err := c.WriteMessage(TextMessage, []byte("still there")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "still there" {
		t.Errorf("read after the timeout: %q, %v; want the echo", msg, err)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close after a timeout: %v", err)
	}
	await(t, done, "the handler to return")
}

// TestReadBufferReleased checks the promise that a connection holds its read
// buffer only while the buffer holds bytes: not after a read that emptied
// it, and not after the connection has ended.
func TestReadBufferReleased(t *testing.T) {
	held := make(chan [2]bool, 1)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		var h [2]bool
		c.ReadMessage()
		c.readMu.Lock()
		h[0] = c.rbufp != nil
		c.readMu.Unlock()
		c.WriteMessage(TextMessage, []byte("checked"))
		c.ReadMessage() // the peer's close
		c.readMu.Lock()
		h[1] = c.rbufp != nil
		c.readMu.Unlock()
		held <- h
	})
	c := connect(t, addr)
	c.sendFrame(true, opText, []byte("hello"))
	c.expectFrame(opText, "checked") // nothing else is sent before the check
	c.closeHandshake()
	h := await(t, held, "the handler's check")
	if h[0] {
		t.Error("the read buffer is held after a read that emptied it")
	}
	if h[1] {
		t.Error("the read buffer is held after the connection ended")
	}
	await(t, done, "the handler to return")
}

// fuzzReadLimit and fuzzCloseTimeout configure the Conn of FuzzReadFrames.
const (
	fuzzReadLimit    = 1 << 16
	fuzzCloseTimeout = 50 * time.Millisecond
)

// fuzzSeeds returns client streams for FuzzReadFrames: valid frames of every
// kind and a collection of broken ones.
func fuzzSeeds() [][]byte {
	k, fr := rfcKey, clientFrame
	rawHeader := func(h header) []byte {
		var b [maxHeaderSize]byte
		return b[:putHeader(b[:], h)]
	}
	closeFr := func(code StatusCode, reason string) []byte {
		return fr(true, opClose, string(closePayload(code, reason)))
	}
	seeds := [][]byte{
		{},
		fr(true, opText, "Hello"),
		fr(true, opBinary, "\x00\x01\x02"),
		cat(fr(false, opText, "Hel"), fr(true, opContinuation, "lo")),
		cat(fr(false, opText, "H"), fr(true, opPing, "p"), fr(false, opContinuation, "el"), fr(true, opPong, ""), fr(true, opContinuation, "lo")),
		cat(fr(true, opPing, "Hello"), fr(true, opText, "x"), closeFr(StatusNormalClosure, "bye")),
		cat(fr(true, opText, ""), fr(true, opBinary, ""), closeFr(StatusNoStatusReceived, "")),
		buildFrame(true, opBinary, bytes.Repeat([]byte{0xAB}, 256), true, k),
		buildFrame(true, opBinary, bytes.Repeat([]byte{0xCD}, 70000), true, k), // over the read limit
		cat(fr(false, opBinary, "0123456789"), rawHeader(header{fin: true, opcode: opContinuation, length: math.MaxInt64, masked: true, key: k}), make([]byte, fuzzReadLimit+10)),
		// Invalid.
		{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},                            // unmasked
		{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4},                   // 64-bit length top bit
		{0x82, 0xff, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7}, // huge, short of data
		fr(true, opcode(3), "x"),
		fr(true, opcode(0xB), "x"),
		cat(rawHeader(header{fin: true, rsv: 0x40, opcode: opText, length: 1, masked: true, key: k}), []byte{0}),
		fr(true, opContinuation, "stray"),
		cat(fr(false, opText, "a"), fr(true, opText, "b")),
		fr(false, opPing, "frag"),
		cat(rawHeader(header{fin: true, opcode: opPing, length: 126, masked: true, key: k}), make([]byte, 126)),
		fr(true, opText, "bad \xff utf8"),
		cat(fr(false, opText, "split \xe2\x82"), fr(true, opContinuation, "\xac ok")),
		cat(fr(false, opText, "cut \xe2\x82"), fr(true, opContinuation, "")),
		fr(true, opText, "\xed\xa0\x80"), // surrogate
		closeFr(StatusCode(1005), ""),
		closeFr(StatusCode(999), ""),
		closeFr(StatusCode(2000), ""),
		closeFr(StatusNormalClosure, "bad \xff"),
		fr(true, opClose, "\x03"),
		cat(fr(true, opText, "a"), []byte{0x81}),
	}
	return seeds
}

// FuzzReadFrames feeds arbitrary bytes to a server-side Conn as the client's
// stream and reads messages until an error. It must not panic, hang or
// return more than the read limit.
func FuzzReadFrames(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	for _, ex := range rfcExamples() {
		f.Add(ex.wire)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		start := time.Now()
		c, done := streamConn(stream, &Options{ReadLimit: fuzzReadLimit, CloseTimeout: fuzzCloseTimeout})
		defer done()
		// Each message takes at least two bytes of the stream, so
		// more reads than that means the reader is stuck in a loop.
		for range len(stream)/2 + 2 {
			typ, msg, err := c.ReadMessage()
			if time.Since(start) > testTimeout/2 {
				t.Fatalf("reading the stream took %v: %v", time.Since(start), err)
			}
			if len(msg) > fuzzReadLimit {
				t.Fatalf("ReadMessage returned %d bytes, over the read limit", len(msg))
			}
			if err != nil {
				// The stream ends with EOF; anything else but a
				// WebSocket error (a timeout, say) is a failure.
				if !strings.HasPrefix(err.Error(), "websocket: ") && err != io.ErrUnexpectedEOF {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if typ != TextMessage && typ != BinaryMessage {
				t.Fatalf("ReadMessage returned message type %v", typ)
			}
		}
		t.Fatalf("ReadMessage returned more messages than the stream can hold")
	})
}

// TestFuzzSeedsBehave checks the verdicts on a few FuzzReadFrames seeds, so
// the harness itself is known to work: valid streams give their messages,
// broken ones an error of the expected kind.
func TestFuzzSeedsBehave(t *testing.T) {
	k, fr := rfcKey, clientFrame
	tests := []struct {
		name   string
		stream []byte
		msgs   []string
		errHas string
	}{
		{"hello then EOF", fr(true, opText, "Hello"), []string{"Hello"}, "unexpected EOF"},
		{"fragmented with ping", bytes.Join([][]byte{fr(false, opText, "Hel"), fr(true, opPing, "x"), fr(true, opContinuation, "lo"), buildFrame(true, opClose, closePayload(StatusNormalClosure, ""), true, k)}, nil), []string{"Hello"}, "peer closed: 1000"},
		{"unmasked", []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, nil, errUnmaskedClient.Error()},
		{"reserved opcode", fr(true, opcode(3), "x"), nil, errReservedOpcode.Error()},
		{"bad utf8", fr(true, opText, "\xff"), nil, errInvalidUTF8.Error()},
		{"too big", buildFrame(true, opBinary, make([]byte, fuzzReadLimit+1), true, k), nil, "read limit"},
		{"bad close code", buildFrame(true, opClose, closePayload(999, ""), true, k), nil, errCloseCodeInvalid.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, done := streamConn(tt.stream, &Options{ReadLimit: fuzzReadLimit, CloseTimeout: fuzzCloseTimeout})
			defer done()
			var got []string
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					if !strings.Contains(err.Error(), tt.errHas) {
						t.Errorf("error %q, want one containing %q", err, tt.errHas)
					}
					break
				}
				got = append(got, string(msg))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.msgs) {
				t.Errorf("messages %q, want %q", got, tt.msgs)
			}
		})
	}
}
