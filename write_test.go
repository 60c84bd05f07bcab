//go:build !js

package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// This file tests writing (write.go), on the server's side and the client's:
// the frames that NextWriter, WriteMessage and Ping put on the wire, masking,
// concurrent writers, control frames between the fragments of a message,
// and the coalescing of pongs in a ping flood.

// TestNextWriter checks the frames NextWriter puts on the wire: buffered
// writes go out as fragments whenever the buffer fills, writes larger than
// the buffer go out directly, the first fragment carries the message type,
// the others are continuations, and Close sends the final one.
func TestNextWriter(t *testing.T) {
	data := testPayload(TextMessage, 5000, 0)
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
	if err := await(t, errs, "the handler's errors"); err != nil {
		t.Error(err)
	}
	c.closeHandshake()
	await(t, done, "the handler to return")
}

// TestClientNextWriter streams a message from the client in many Writes of
// assorted sizes through a small write buffer; our server must read it
// whole, and a message after it must follow intact.
func TestClientNextWriter(t *testing.T) {
	msgs := make(chan []byte, 2)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			msgs <- msg
		}
	})
	var cc *countingConn
	opts := &DialOptions{
		Options: Options{WriteBufferSize: 256},
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := new(net.Dialer).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cc = &countingConn{Conn: conn}
			return cc, nil
		},
	}
	c := mustDial(t, wsURL(addr), opts)

	want := testPayload(TextMessage, 20000, 7)
	before := cc.writes.Load()
	w, err := c.NextWriter(TextMessage)
	if err != nil {
		t.Fatalf("NextWriter: %v", err)
	}
	rest := want
	for i := 1; len(rest) > 0; i++ {
		k := min(len(rest), (i*37)%700+1) // 1 to 700 bytes: below and above the buffer size
		n, err := w.Write(rest[:k])
		if n != k || err != nil {
			t.Fatalf("Write of %d bytes: %d, %v", k, n, err)
		}
		rest = rest[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("closing the writer: %v", err)
	}
	if n := cc.writes.Load() - before; n < int64(len(want)/256) {
		t.Errorf("message of %d bytes went out in %d writes; want one per buffer of 256 at least", len(want), n)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after the writer's Close succeeded")
	}
	if err := c.WriteMessage(BinaryMessage, []byte("after")); err != nil {
		t.Fatalf("WriteMessage after the stream: %v", err)
	}
	checkSame(t, "streamed message", await(t, msgs, "the streamed message"), want)
	checkSame(t, "following message", await(t, msgs, "the following message"), []byte("after"))
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	await(t, done, "the handler to return")
}

// countingConn is a net.Conn that counts the Write calls made on it.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

// Write counts the call and passes it on.
func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestClientNextWriterFrames reads a streamed client message off the wire:
// it must be a text frame without FIN, continuation frames, and a final
// frame, each masked, that together hold the payload.
func TestClientNextWriterFrames(t *testing.T) {
	c, fc := dialFake(t, &DialOptions{Options: Options{WriteBufferSize: 256}})

	want := testPayload(TextMessage, 3000, 3)
	sent := make(chan error, 1)
	go func() {
		w, err := c.NextWriter(TextMessage)
		if err != nil {
			sent <- err
			return
		}
		for i := 0; i < len(want); i += 100 {
			if _, err := w.Write(want[i:min(i+100, len(want))]); err != nil {
				sent <- err
				return
			}
		}
		sent <- w.Close()
	}()
	rc := fc.raw(t)
	var got []byte
	for frames := 0; ; frames++ {
		h, p, err := rc.readFrame()
		if err != nil {
			t.Fatalf("reading frame %d: %v", frames, err)
		}
		wantOp := opContinuation
		if frames == 0 {
			wantOp = opText
		}
		if h.opcode != wantOp || !h.masked {
			t.Fatalf("frame %d: opcode %d masked %v; want opcode %d masked", frames, h.opcode, h.masked, wantOp)
		}
		got = append(got, p...)
		if h.fin {
			if frames < len(want)/256 {
				t.Errorf("message of %d bytes came in %d frames; want fragments of at most 256 bytes", len(want), frames+1)
			}
			break
		}
	}
	if err := await(t, sent, "the writer"); err != nil {
		t.Fatalf("writing the stream: %v", err)
	}
	checkSame(t, "streamed message", got, want)
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
		w.Write(testPayload(TextMessage, 100, 0))
		w.Write(testPayload(TextMessage, 200, 0))
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
		w.Write(testPayload(TextMessage, 100, 0))
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
	if err := await(t, errs, "the handler's errors"); err != nil {
		t.Error(err)
	}
	c.closeHandshake()
	await(t, done, "the handler to return")
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
		w.Write(testPayload(BinaryMessage, 100, 0))
		w.Write(testPayload(BinaryMessage, 200, 0)) // sends 256 bytes, buffers 44
		select {
		case <-pongSeen:
		case <-time.After(testTimeout):
		}
		w.Write(testPayload(BinaryMessage, 10, 0))
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
	await(t, done, "the handler to return")
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
	if err := await(t, pinged, "the pings to be sent"); err != nil {
		t.Fatal(err)
	}
	c.closeHandshake()
	await(t, done, "the handler to return")
	select {
	case err := <-werrs:
		t.Errorf("WriteMessage: %v", err)
	default:
	}
}

// writerMessage returns message n of concurrent writer w: a "w n " prefix
// and a filler of a length and content that depend on both, sometimes
// longer than the write buffer.
func writerMessage(w, n int) []byte {
	b := fmt.Appendf(nil, "%d %d ", w, n)
	size := (w*131 + n*977) % 9000
	for i := range size {
		b = append(b, byte('a'+(w+n+i)%26))
	}
	return b
}

// TestClientConcurrentWriters has many goroutines call WriteMessage on one
// client Conn; the server checks that every message arrives whole and that
// each writer's messages keep their order.
func TestClientConcurrentWriters(t *testing.T) {
	const writers, perWriter = 8, 150
	type summary struct{ count, bad int }
	result := make(chan summary, 1)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		var s summary
		last := make(map[int]int)
		for s.count < writers*perWriter {
			_, msg, err := c.ReadMessage()
			if err != nil {
				t.Errorf("server read after %d messages: %v", s.count, err)
				break
			}
			s.count++
			fields := strings.SplitN(string(msg), " ", 3)
			w, err1 := strconv.Atoi(fields[0])
			n, err2 := strconv.Atoi(fields[min(1, len(fields)-1)])
			switch {
			case len(fields) < 3 || err1 != nil || err2 != nil:
				s.bad++
				t.Errorf("message %d has no writer prefix: %.40q", s.count, msg)
			case !bytes.Equal(msg, writerMessage(w, n)):
				s.bad++
				t.Errorf("message %d of writer %d is corrupt (%d bytes)", n, w, len(msg))
			case n != last[w]:
				s.bad++
				t.Errorf("writer %d: got message %d, want %d", w, n, last[w])
			}
			last[w] = n + 1
		}
		result <- s
		c.ReadMessage() // until the client closes
	})
	c := mustDial(t, wsURL(addr), nil)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for n := range perWriter {
				if err := c.WriteMessage(BinaryMessage, writerMessage(w, n)); err != nil {
					t.Errorf("writer %d message %d: %v", w, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	s := await(t, result, "the server's count")
	if s.count != writers*perWriter || s.bad != 0 {
		t.Errorf("server got %d messages, %d bad; want %d, none bad", s.count, s.bad, writers*perWriter)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	await(t, done, "the handler to return")
}

// TestClientMasksFrames reads client frames off the wire: every frame is
// masked, unmasking gives what was sent, and the keys vary between frames.
func TestClientMasksFrames(t *testing.T) {
	const frames = 50
	c, fc := dialFake(t, nil)

	// Data frames of assorted sizes (some above the write buffer, which
	// take another path), pings, and finally a close frame.
	want := make([][]byte, frames)
	for i := range frames - 1 {
		if i%7 == 3 {
			want[i] = []byte("ping " + strconv.Itoa(i))
		} else {
			want[i] = testPayload(BinaryMessage, i*i*3, uint64(i))
		}
	}
	want[frames-1] = closePayload(StatusNormalClosure, "")
	sent := make(chan error, 1)
	go func() {
		for i, p := range want[:frames-1] {
			var err error
			if i%7 == 3 {
				err = c.Ping(p)
			} else {
				err = c.WriteMessage(BinaryMessage, p)
			}
			if err != nil {
				sent <- fmt.Errorf("frame %d: %w", i, err)
				return
			}
		}
		sent <- c.Close(StatusNormalClosure, "")
	}()

	rc := fc.raw(t)
	keys := make(map[[4]byte]int)
	for i := range frames {
		h, p, err := rc.readFrame()
		if err != nil {
			t.Fatalf("reading frame %d: %v", i, err)
		}
		if !h.masked {
			t.Fatalf("frame %d (opcode %d) is not masked", i, h.opcode)
		}
		keys[h.key]++
		checkSame(t, fmt.Sprintf("unmasked frame %d", i), p, want[i])
	}
	if len(keys) == 1 {
		t.Errorf("all %d frames used the masking key %x", frames, keys)
	}
	// Answer the close and end the connection so that Close returns.
	rc.sendFrame(true, opClose, closePayload(StatusNormalClosure, ""))
	fc.conn.Close()
	if err := await(t, sent, "the client's writes"); err != nil {
		t.Errorf("client: %v", err)
	}
}

// TestClientPing sends pings from the client; our server answers each with a
// pong that the client's OnPong hook sees during a read.
func TestClientPing(t *testing.T) {
	addr, done := serveConn(t, Options{}, echoHandler)
	pongs := make(chan string, 1)
	c := mustDial(t, wsURL(addr), &DialOptions{Options: Options{OnPong: func(_ *Conn, p []byte) { pongs <- string(p) }}})
	readErr := readInBackground(c)
	for _, payload := range []string{"are you there?", "", strings.Repeat("p", maxControlPayload)} {
		if err := c.Ping([]byte(payload)); err != nil {
			t.Fatalf("Ping(%.20q): %v", payload, err)
		}
		if got := await(t, pongs, "the pong"); got != payload {
			t.Errorf("OnPong got %.20q, want %.20q", got, payload)
		}
	}
	if err := c.Ping(make([]byte, maxControlPayload+1)); err == nil {
		t.Error("Ping with 126 bytes succeeded")
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	closeErrorOf(t, await(t, readErr, "the reader to end"))
	await(t, done, "the handler to return")
}

// TestPingFloodCoalesced checks that a flood of pings sent faster than the
// server answers is answered with few pongs, the last of them for the last
// ping, and that a message after the flood is still echoed.
func TestPingFloodCoalesced(t *testing.T) {
	addr, done := serveConn(t, Options{}, echoHandler)
	c := connect(t, addr)
	const pings = 20000
	var flood strings.Builder
	for i := range pings {
		flood.Write(clientFrame(true, opPing, fmt.Sprint(i)))
	}
	flood.Write(clientFrame(true, opText, "end"))
	go c.conn.Write([]byte(flood.String()))
	pongs, last := 0, -1
	for {
		h, p := c.nextFrame()
		if h.opcode == opText {
			break
		}
		if h.opcode != opPong {
			t.Fatalf("frame %v", h.opcode)
		}
		var n int
		fmt.Sscan(string(p), &n)
		if n <= last {
			t.Fatalf("pong %d after pong %d", n, last)
		}
		pongs, last = pongs+1, n
	}
	if last != pings-1 {
		t.Fatalf("last pong answers ping %d, want %d", last, pings-1)
	}
	if pongs > pings/4 {
		t.Errorf("%d pongs for %d pings: not coalesced", pongs, pings)
	}
	t.Logf("%d pongs for %d pings", pongs, pings)
	c.closeHandshake()
	await(t, done, "the handler to return")
}

// BenchmarkPingFlood measures the server's cost of a ping in a flood.
func BenchmarkPingFlood(b *testing.B) {
	addr, _ := serveConn(b, Options{}, echoHandler)
	c := connect(b, addr)
	const batch = 1000
	var flood []byte
	for range batch {
		flood = append(flood, clientFrame(true, opPing, "")...)
	}
	flood = append(flood, clientFrame(true, opText, "x")...)
	b.ResetTimer()
	for range b.N / batch {
		go c.conn.Write(flood)
		for {
			if h, _ := c.nextFrame(); h.opcode == opText {
				break
			}
		}
	}
}
