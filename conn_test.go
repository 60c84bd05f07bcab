//go:build !js

package websocket

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"
)

// This file tests a Conn end to end, in both roles, over loopback TCP: echo
// round trips of every size, traffic both ways at once, allocations, and the
// round-trip benchmarks. The rules of reading, writing and closing are
// tested in read_test.go, write_test.go and close_test.go.

// TestSmokeEcho echoes a message, a fragmented one with a ping inside, and
// closes.
func TestSmokeEcho(t *testing.T) {
	addr, done := serveConn(t, Options{}, echoHandler)
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
	await(t, done, "the handler to return")
}

// TestSmokeBadUTF8 fails a text message cut inside a code point above
// U+10FFFF with 1007 before its final fragment.
func TestSmokeBadUTF8(t *testing.T) {
	addr, done := serveConn(t, Options{}, echoHandler)
	c := connect(t, addr)
	c.sendFrame(false, opText, []byte("ok\xf4\x90"))
	c.expectCloseFrame(StatusInvalidPayload)
	c.answerClose()
	await(t, done, "the handler to return")
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
				p := testPayload(MessageType(op), n, 0)
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
				await(t, done, "the handler to return")
			})
		}
	}
}

// TestClientEchoSizes sends text and binary messages of every length class
// of the frame header (7-bit, 16-bit and 64-bit lengths and their edges)
// through an echo server and checks each byte that comes back.
func TestClientEchoSizes(t *testing.T) {
	const huge = 16 << 20
	o := Options{ReadLimit: huge + 4096}
	addr, done := serveConn(t, o, echoHandler)
	c := mustDial(t, wsURL(addr), &DialOptions{Options: o})

	type tcase struct {
		typ MessageType
		n   int
	}
	var cases []tcase
	for _, n := range []int{0, 1, 125, 126, 127, 128, 65535, 65536, 64<<10 + 1, 1 << 20} {
		cases = append(cases, tcase{TextMessage, n}, tcase{BinaryMessage, n})
	}
	cases = append(cases, tcase{BinaryMessage, huge})
	var buf []byte
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%v/%d", tc.typ, tc.n), func(t *testing.T) {
			want := testPayload(tc.typ, tc.n, uint64(i))
			if err := c.WriteMessage(tc.typ, want); err != nil {
				t.Fatalf("WriteMessage: %v", err)
			}
			typ, got, err := c.AppendMessage(buf[:0])
			if err != nil {
				t.Fatalf("AppendMessage: %v", err)
			}
			buf = got
			if typ != tc.typ {
				t.Errorf("echo has type %v, want %v", typ, tc.typ)
			}
			checkSame(t, "echo", got, want)
		})
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	await(t, done, "the handler to return")
}

// TestEchoLarge echoes messages of a few MiB, each in one frame.
func TestEchoLarge(t *testing.T) {
	for _, op := range []opcode{opText, opBinary} {
		t.Run(MessageType(op).String(), func(t *testing.T) {
			addr, done := serveConn(t, Options{}, echoHandler)
			c := connect(t, addr)
			p := testPayload(MessageType(op), 4<<20+3, 0)
			c.sendFrame(true, op, p)
			h, got := c.nextFrame()
			if h.opcode != op || !h.fin || !bytes.Equal(got, p) {
				t.Fatalf("echo: op=%d fin=%v, %d bytes (equal: %v); want op=%d, %d bytes",
					h.opcode, h.fin, len(got), bytes.Equal(got, p), op, len(p))
			}
			c.closeHandshake()
			await(t, done, "the handler to return")
		})
	}
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
	allocs := allocsPerStep(t, func() error {
		if _, err := c.conn.Write(frame); err != nil {
			return err
		}
		_, err := io.ReadFull(c.br, resp)
		return err
	})
	if string(resp[2:]) != msg {
		t.Fatalf("echo %q, want %q", resp[2:], msg)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per echoed message, want 0", allocs)
	}
	c.closeHandshake()
	await(t, done, "the handler to return")
}

// TestClientRoundTripAllocs checks that in the steady state a client round
// trip of a small message (WriteMessage, then AppendMessage into a reused
// buffer), including the echo server's side, allocates nothing.
func TestClientRoundTripAllocs(t *testing.T) {
	addr, done := serveConn(t, Options{}, echoHandler)
	c := mustDial(t, wsURL(addr), nil)
	msg := []byte("sixteen bytes!!!")
	buf := make([]byte, 0, 64)
	allocs := allocsPerStep(t, func() (err error) {
		if err = c.WriteMessage(BinaryMessage, msg); err == nil {
			_, buf, err = c.AppendMessage(buf[:0])
		}
		return err
	})
	if !bytes.Equal(buf, msg) {
		t.Fatalf("echo %q, want %q", buf, msg)
	}
	if allocs != 0 {
		t.Errorf("a round trip makes %v allocations, want 0", allocs)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	await(t, done, "the handler to return")
}

// BenchmarkEcho measures a full echo round trip over loopback TCP: a masked
// binary message from the hand-built client, AppendMessage and WriteMessage
// on the server, and the echo read back.
func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			addr, done := serveConn(b, Options{}, echoHandler)
			c := connect(b, addr)
			c.conn.SetDeadline(time.Time{})
			frame := clientFrame(true, opBinary, string(testPayload(BinaryMessage, size, 0)))
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
			await(b, done, "the handler to return")
		})
	}
}

// BenchmarkClientEcho measures a client round trip through our echo server
// over loopback: WriteMessage, then AppendMessage into a reused buffer.
func BenchmarkClientEcho(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			addr, done := serveConn(b, Options{}, echoHandler)
			c := mustDial(b, wsURL(addr), nil)
			c.SetDeadline(time.Time{})
			msg := testPayload(BinaryMessage, size, 1)
			buf := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WriteMessage(BinaryMessage, msg); err != nil {
					b.Fatal(err)
				}
				var err error
				if _, buf, err = c.AppendMessage(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
			if !bytes.Equal(buf, msg) {
				b.Fatal("echo differs")
			}
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				b.Errorf("Close: %v", err)
			}
			await(b, done, "the handler to return")
		})
	}
}
