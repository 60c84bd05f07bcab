package websocket

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// This file tests the client: Dial and a client Conn end to end over
// loopback TCP, against our own Server and against hand-written fake servers
// and proxies that send exactly what a test needs. It also holds the client
// benchmarks.

// wsURL returns the ws:// URL of the root of a server at addr.
func wsURL(addr string) string { return "ws://" + addr + "/" }

// mustDial dials rawURL, failing the test on error. The Conn gets deadlines
// of testTimeout as a safety bound and is closed without a handshake at
// cleanup.
func mustDial(t testing.TB, rawURL string, opts *DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, resp, err := Dial(ctx, rawURL, opts)
	if err != nil {
		t.Fatalf("Dial %s: %v", rawURL, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if resp == nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("Dial %s succeeded with response %v; want 101", rawURL, resp)
	}
	c.SetDeadline(time.Now().Add(testTimeout))
	return c
}

// serveWS serves s on a loopback httptest server, with TLS if secure. Unlike
// startServer it takes any number of connections. At cleanup it closes the
// server and fails the test if a handler does not return in time.
func serveWS(t testing.TB, s *Server, secure bool) *httptest.Server {
	t.Helper()
	// Server.ServeHTTP returns once the Handler has returned.
	var handlers sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		s.ServeHTTP(w, r)
	}))
	// Tests that fail TLS handshakes on purpose need no log of them.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if secure {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		srv.Close()
		done := make(chan struct{})
		go func() { handlers.Wait(); close(done) }()
		waitDone(t, done)
	})
	return srv
}

// testPayload returns n bytes for a message of type typ, different for each
// seed: pseudo-random bytes for binary, and for text valid UTF-8 that mixes
// sequences of one to four bytes, so that frame and read boundaries fall
// inside code points.
func testPayload(typ MessageType, n int, seed uint64) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	binary.LittleEndian.PutUint64(s[8:], uint64(n))
	s[16] = byte(typ)
	r := mrand.NewChaCha8(s)
	b := make([]byte, n)
	if typ == BinaryMessage {
		r.Read(b)
		return b
	}
	pieces := []string{"a", "Z", " ", "é", "€", "𝄞"}
	b = b[:0]
	for len(b) < n {
		p := pieces[r.Uint64()%uint64(len(pieces))]
		if len(p) > n-len(b) {
			p = "a"
		}
		b = append(b, p...)
	}
	return b
}

// checkSame fails the test unless got equals want, naming the first
// differing byte rather than printing megabytes.
func checkSame(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	if len(got) <= 64 && len(want) <= 64 {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Fatalf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
}

// recv waits (bounded by testTimeout) for a value from ch.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// closeErrorOf returns the *CloseError in err's chain, failing the test if
// there is none.
func closeErrorOf(t testing.TB, err error) *CloseError {
	t.Helper()
	var ce *CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("got error %v; want a *CloseError", err)
	}
	return ce
}

// TestClientEchoSizes sends text and binary messages of every length class
// of the frame header (7-bit, 16-bit and 64-bit lengths and their edges)
// through an echo server and checks each byte that comes back.
func TestClientEchoSizes(t *testing.T) {
	const huge = 16 << 20
	o := Options{ReadLimit: huge + 4096}
	addr, done := startServer(t, &Server{Options: o, Handler: echoHandler})
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
	waitDone(t, done)
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

// TestClientNextWriter streams a message from the client in many Writes of
// assorted sizes through a small write buffer; our server must read it
// whole, and a message after it must follow intact.
func TestClientNextWriter(t *testing.T) {
	msgs := make(chan []byte, 2)
	addr, done := startServer(t, &Server{Handler: func(c *Conn) {
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			msgs <- msg
		}
	}})
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
	checkSame(t, "streamed message", recv(t, msgs, "the streamed message"), want)
	checkSame(t, "following message", recv(t, msgs, "the following message"), []byte("after"))
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitDone(t, done)
}

// TestClientNextWriterFrames reads a streamed client message off the wire:
// it must be a text frame without FIN, continuation frames, and a final
// frame, each masked, that together hold the payload.
func TestClientNextWriterFrames(t *testing.T) {
	addr, conns := fakeServer(t)
	res := dialAsync(context.Background(), wsURL(addr), &DialOptions{Options: Options{WriteBufferSize: 256}})
	fc := nextFake(t, conns)
	fc.accept(t)
	c := awaitDial(t, res).mustConn(t)

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
	if err := recv(t, sent, "the writer"); err != nil {
		t.Fatalf("writing the stream: %v", err)
	}
	checkSame(t, "streamed message", got, want)
}

// TestClientNextReader has the server stream a fragmented message with
// NextWriter; the client reads it with NextReader in small pieces.
func TestClientNextReader(t *testing.T) {
	want := testPayload(TextMessage, 50000, 11)
	addr, done := startServer(t, &Server{Options: Options{WriteBufferSize: 256}, Handler: func(c *Conn) {
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
	}})
	c := mustDial(t, wsURL(addr), nil)
	typ, r, err := c.NextReader()
	if err != nil {
		t.Fatalf("NextReader: %v", err)
	}
	if typ != TextMessage {
		t.Errorf("message type %v, want text", typ)
	}
	var got []byte
	piece := make([]byte, 37)
	for {
		n, err := r.Read(piece)
		got = append(got, piece[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the message after %d bytes: %v", len(got), err)
		}
	}
	checkSame(t, "streamed message", got, want)
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitDone(t, done)
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
	addr, done := startServer(t, &Server{Handler: func(c *Conn) {
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
	}})
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
	s := recv(t, result, "the server's count")
	if s.count != writers*perWriter || s.bad != 0 {
		t.Errorf("server got %d messages, %d bad; want %d, none bad", s.count, s.bad, writers*perWriter)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitDone(t, done)
}

// readInBackground runs ReadMessage on c in a goroutine until it fails, so
// that control frames are handled, and returns a channel that receives the
// error that ended it.
func readInBackground(c *Conn) <-chan error {
	ch := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				ch <- err
				return
			}
		}
	}()
	return ch
}

// TestClientPing sends pings from the client; our server answers each with a
// pong that the client's OnPong hook sees during a read.
func TestClientPing(t *testing.T) {
	addr, done := startServer(t, &Server{Handler: echoHandler})
	pongs := make(chan string, 1)
	c := mustDial(t, wsURL(addr), &DialOptions{Options: Options{OnPong: func(_ *Conn, p []byte) { pongs <- string(p) }}})
	readErr := readInBackground(c)
	for _, payload := range []string{"are you there?", "", strings.Repeat("p", maxControlPayload)} {
		if err := c.Ping([]byte(payload)); err != nil {
			t.Fatalf("Ping(%.20q): %v", payload, err)
		}
		if got := recv(t, pongs, "the pong"); got != payload {
			t.Errorf("OnPong got %.20q, want %.20q", got, payload)
		}
	}
	if err := c.Ping(make([]byte, maxControlPayload+1)); err == nil {
		t.Error("Ping with 126 bytes succeeded")
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	closeErrorOf(t, recv(t, readErr, "the reader to end"))
	waitDone(t, done)
}

// TestClientAnswersPing has the server ping; a reading client answers with a
// pong that carries the same payload.
func TestClientAnswersPing(t *testing.T) {
	pongs := make(chan string, 1)
	srv := &Server{
		Options: Options{OnPong: func(_ *Conn, p []byte) { pongs <- string(p) }},
		Handler: func(c *Conn) {
			if err := c.Ping([]byte("server ping")); err != nil {
				t.Errorf("server Ping: %v", err)
			}
			c.ReadMessage() // sees the pong, then the client's close
		},
	}
	addr, done := startServer(t, srv)
	c := mustDial(t, wsURL(addr), nil)
	readErr := readInBackground(c)
	if got := recv(t, pongs, "the client's pong"); got != "server ping" {
		t.Errorf("server's OnPong got %q, want %q", got, "server ping")
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	recv(t, readErr, "the reader to end")
	waitDone(t, done)
}

// TestClientClose closes from the client with assorted codes and reasons:
// the server's read reports them, the client's Close returns nil, and the
// client cannot write or close again.
func TestClientClose(t *testing.T) {
	cases := []struct {
		code   StatusCode
		reason string
	}{
		{4000, "bye"},
		{StatusNormalClosure, ""},
		{StatusGoingAway, "ünïcödé 🚪"},
		{3000, strings.Repeat("r", maxCloseReason)},
		{StatusNoStatusReceived, ""},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(int(tc.code)), func(t *testing.T) {
			srvErr := make(chan error, 1)
			addr, done := startServer(t, &Server{Handler: func(c *Conn) {
				_, _, err := c.ReadMessage()
				srvErr <- err
				if err := c.WriteMessage(TextMessage, []byte("late")); err != ErrClosed {
					t.Errorf("server write after the close handshake: %v, want ErrClosed", err)
				}
			}})
			c := mustDial(t, wsURL(addr), nil)
			if err := c.Close(tc.code, tc.reason); err != nil {
				t.Fatalf("Close: %v", err)
			}
			ce := closeErrorOf(t, recv(t, srvErr, "the server's read"))
			if ce.Code != tc.code || ce.Reason != tc.reason {
				t.Errorf("server saw close %v %.20q, want %v %.20q", ce.Code, ce.Reason, tc.code, tc.reason)
			}
			if err := c.WriteMessage(TextMessage, []byte("x")); err != ErrClosed {
				t.Errorf("WriteMessage after Close: %v, want ErrClosed", err)
			}
			if err := c.Ping(nil); err != ErrClosed {
				t.Errorf("Ping after Close: %v, want ErrClosed", err)
			}
			if err := c.Close(StatusNormalClosure, ""); err != ErrClosed {
				t.Errorf("second Close: %v, want ErrClosed", err)
			}
			if _, _, err := c.ReadMessage(); err == nil {
				t.Error("ReadMessage after Close succeeded")
			}
			waitDone(t, done)
		})
	}
}

// TestClientCloseBadArguments checks that Close refuses codes that must not
// be sent and reasons that do not fit, without closing the connection.
func TestClientCloseBadArguments(t *testing.T) {
	addr, done := startServer(t, &Server{Handler: echoHandler})
	c := mustDial(t, wsURL(addr), nil)
	for _, tc := range []struct {
		code   StatusCode
		reason string
	}{
		{StatusAbnormalClosure, ""},
		{StatusTLSHandshakeFailure, ""},
		{999, ""},
		{5000, ""},
		{StatusNormalClosure, strings.Repeat("r", maxCloseReason+1)},
		{StatusNormalClosure, "\xff"},
	} {
		if err := c.Close(tc.code, tc.reason); err == nil || err == ErrClosed {
			t.Errorf("Close(%d, %.20q) = %v; want an error saying what is wrong", tc.code, tc.reason, err)
		}
	}
	if err := c.WriteMessage(TextMessage, []byte("still open")); err != nil {
		t.Fatalf("WriteMessage after refused Closes: %v", err)
	}
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "still open" {
		t.Fatalf("echo after refused Closes: %q, %v", msg, err)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitDone(t, done)
}

// TestClientServerCloses closes from the server: the client's read returns
// the server's code and reason, the server's Close gets its answer, and the
// client can neither write nor close afterwards.
func TestClientServerCloses(t *testing.T) {
	srvClose := make(chan error, 1)
	addr, done := startServer(t, &Server{Handler: func(c *Conn) {
		srvClose <- c.Close(StatusGoingAway, "shutdown")
	}})
	c := mustDial(t, wsURL(addr), nil)
	_, _, err := c.ReadMessage()
	ce := closeErrorOf(t, err)
	if ce.Code != StatusGoingAway || ce.Reason != "shutdown" {
		t.Errorf("client saw close %v %q, want 1001 \"shutdown\"", ce.Code, ce.Reason)
	}
	if err := recv(t, srvClose, "the server's Close"); err != nil {
		t.Errorf("server's Close: %v", err)
	}
	if _, _, err2 := c.ReadMessage(); err2 != err {
		t.Errorf("second read: %v; want the same error again", err2)
	}
	if err := c.WriteMessage(BinaryMessage, []byte("x")); err != ErrClosed {
		t.Errorf("WriteMessage after the server's close: %v, want ErrClosed", err)
	}
	if err := c.Close(StatusNormalClosure, ""); err != ErrClosed {
		t.Errorf("Close after the server's close: %v, want ErrClosed", err)
	}
	waitDone(t, done)
}

// TestClientReadLimit has the server send a message at the client's read
// limit, which is read, and one byte over it, which fails the client's read
// and makes the client close with 1009.
func TestClientReadLimit(t *testing.T) {
	const limit = 1000
	srvErr := make(chan error, 1)
	addr, done := startServer(t, &Server{Handler: func(c *Conn) {
		for _, n := range []int{limit, limit + 1} {
			if err := c.WriteMessage(BinaryMessage, make([]byte, n)); err != nil {
				t.Errorf("server write of %d bytes: %v", n, err)
			}
		}
		_, _, err := c.ReadMessage()
		srvErr <- err
	}})
	c := mustDial(t, wsURL(addr), &DialOptions{Options: Options{ReadLimit: limit}})
	if _, msg, err := c.ReadMessage(); err != nil || len(msg) != limit {
		t.Fatalf("message at the limit: %d bytes, %v", len(msg), err)
	}
	_, _, err := c.ReadMessage()
	if err == nil || !strings.Contains(err.Error(), "read limit") {
		t.Fatalf("message over the limit: error %v; want one naming the read limit", err)
	}
	if ce := closeErrorOf(t, recv(t, srvErr, "the server's read")); ce.Code != StatusMessageTooBig {
		t.Errorf("server saw close %v, want 1009", ce.Code)
	}
	if err := c.WriteMessage(TextMessage, []byte("x")); err != ErrClosed {
		t.Errorf("WriteMessage after the failure: %v, want ErrClosed", err)
	}
	waitDone(t, done)
}

// TestClientReadDeadline checks that SetReadDeadline makes a read on a quiet
// connection time out, and that the error sticks.
func TestClientReadDeadline(t *testing.T) {
	addr, done := startServer(t, &Server{Handler: echoHandler})
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
	if _, _, err2 := c.ReadMessage(); err2 != err {
		t.Errorf("read after the timeout: %v; want the same error", err2)
	}
	c.CloseNow()
	waitDone(t, done)
}

// TestClientCloseIsPrompt checks that against our server the client's Close
// completes as soon as the handshake does, well within CloseTimeout, and
// that the server's handler saw the close and returned.
func TestClientCloseIsPrompt(t *testing.T) {
	const closeTimeout = 5 * time.Second
	srvErr := make(chan error, 1)
	addr, done := startServer(t, &Server{Handler: func(c *Conn) {
		_, _, err := c.ReadMessage()
		srvErr <- err
	}})
	c := mustDial(t, wsURL(addr), &DialOptions{Options: Options{CloseTimeout: closeTimeout}})
	start := time.Now()
	if err := c.Close(StatusNormalClosure, "done"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > closeTimeout/5 {
		t.Errorf("Close took %v; CloseTimeout is %v", d, closeTimeout)
	}
	closeErrorOf(t, recv(t, srvErr, "the server's read"))
	waitDone(t, done)
}

// TestClientCloseWaitsForServer checks RFC 6455 section 7.1.1 on the wire:
// after the close frames have crossed, the client leaves the TCP connection
// open until the server closes it, and only then does Close return.
func TestClientCloseWaitsForServer(t *testing.T) {
	addr, conns := fakeServer(t)
	res := dialAsync(context.Background(), wsURL(addr), &DialOptions{Options: Options{CloseTimeout: testTimeout}})
	fc := nextFake(t, conns)
	fc.accept(t)
	c := awaitDial(t, res).mustConn(t)
	closed := make(chan error, 1)
	go func() { closed <- c.Close(4001, "done") }()

	rc := fc.raw(t)
	h, p, err := rc.readFrame()
	if err != nil || h.opcode != opClose || !bytes.Equal(p, closePayload(4001, "done")) {
		t.Fatalf("got frame op=%d payload %q, %v; want close 4001 \"done\"", h.opcode, p, err)
	}
	rc.send(buildFrame(true, opClose, closePayload(4001, ""), false, [4]byte{}))
	// The client must not close its end now: a read on ours stays blocked
	// rather than seeing the end of the stream.
	fc.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if b, err := fc.br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after the close handshake the server read byte %#x, %v; want nothing until it closes", b, err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the server closed the connection", err)
	default:
	}
	fc.conn.Close()
	if err := recv(t, closed, "Close"); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestClientAnswersClose has a fake server close: the client echoes the
// server's status code, then leaves the TCP connection for the server to
// close (RFC 6455 section 7.1.1), and only then does its read return.
func TestClientAnswersClose(t *testing.T) {
	addr, conns := fakeServer(t)
	res := dialAsync(context.Background(), wsURL(addr), &DialOptions{Options: Options{CloseTimeout: testTimeout}})
	fc := nextFake(t, conns)
	fc.accept(t)
	c := awaitDial(t, res).mustConn(t)
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		readErr <- err
	}()
	rc := fc.raw(t)
	rc.send(buildFrame(true, opClose, closePayload(StatusServiceRestart, "restarting"), false, [4]byte{}))
	h, p, err := rc.readFrame()
	if err != nil || h.opcode != opClose || len(p) < 2 || StatusCode(binary.BigEndian.Uint16(p)) != StatusServiceRestart {
		t.Fatalf("got frame op=%d payload %q, %v; want a close frame echoing 1012", h.opcode, p, err)
	}
	fc.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if b, err := fc.br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after the close handshake the server read byte %#x, %v; want nothing until it closes", b, err)
	}
	select {
	case err := <-readErr:
		t.Fatalf("read returned (%v) before the server closed the connection", err)
	default:
	}
	fc.conn.Close()
	ce := closeErrorOf(t, recv(t, readErr, "the client's read"))
	if ce.Code != StatusServiceRestart || ce.Reason != "restarting" {
		t.Errorf("client read returned close %v %q, want 1012 \"restarting\"", ce.Code, ce.Reason)
	}
}

// TestClientMasksFrames reads client frames off the wire: every frame is
// masked, unmasking gives what was sent, and the keys vary between frames.
func TestClientMasksFrames(t *testing.T) {
	const frames = 50
	addr, conns := fakeServer(t)
	res := dialAsync(context.Background(), wsURL(addr), nil)
	fc := nextFake(t, conns)
	fc.accept(t)
	c := awaitDial(t, res).mustConn(t)

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
	rc.send(buildFrame(true, opClose, closePayload(StatusNormalClosure, ""), false, [4]byte{}))
	fc.conn.Close()
	if err := recv(t, sent, "the client's writes"); err != nil {
		t.Errorf("client: %v", err)
	}
}

// TestClientRejectsMaskedFrame has a fake server send a masked frame, which
// a server must never do: the client's read fails and the client closes with
// 1002.
func TestClientRejectsMaskedFrame(t *testing.T) {
	addr, conns := fakeServer(t)
	res := dialAsync(context.Background(), wsURL(addr), nil)
	fc := nextFake(t, conns)
	fc.accept(t)
	c := awaitDial(t, res).mustConn(t)
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		readErr <- err
	}()
	rc := fc.raw(t)
	rc.send(buildFrame(true, opText, []byte("hidden"), true, [4]byte{1, 2, 3, 4}))
	h, p, err := rc.readFrame()
	if err != nil || h.opcode != opClose || len(p) < 2 || StatusCode(binary.BigEndian.Uint16(p)) != StatusProtocolError {
		t.Fatalf("got frame op=%d payload %q, %v; want close 1002", h.opcode, p, err)
	}
	rc.send(buildFrame(true, opClose, closePayload(StatusProtocolError, ""), false, [4]byte{}))
	if err := recv(t, readErr, "the client's read"); err == nil || !strings.Contains(err.Error(), "masked") {
		t.Errorf("client read: %v; want an error about a masked frame", err)
	}
	rc.expectEOF()
}

// TestDialEarlyFrames has a fake server send frames in the same TCP write as
// its 101 response; the client must read them as the first messages, and
// answer a ping among them.
func TestDialEarlyFrames(t *testing.T) {
	big := testPayload(BinaryMessage, 10000, 5)
	server := func(fin bool, op opcode, p []byte) []byte { return buildFrame(fin, op, p, false, [4]byte{}) }
	cases := []struct {
		name  string
		early []byte
		want  []string
		pong  bool
	}{
		{"text", server(true, opText, []byte("first")), []string{"first"}, false},
		{"two frames", append(server(false, opText, []byte("fir")), server(true, opContinuation, []byte("st"))...), []string{"first"}, false},
		{"ping and text", append(server(true, opPing, []byte("hi")), server(true, opText, []byte("first"))...), []string{"first"}, true},
		{"beyond the buffer", server(true, opBinary, big), []string{string(big)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns := fakeServer(t)
			res := dialAsync(context.Background(), wsURL(addr), nil)
			fc := nextFake(t, conns)
			fc.write(t, string(fc.response101())+string(tc.early))
			c := awaitDial(t, res).mustConn(t)
			rc := fc.raw(t)
			rc.send(server(true, opText, []byte("later")))
			for _, want := range append(tc.want, "later") {
				_, got, err := c.ReadMessage()
				if err != nil {
					t.Fatalf("ReadMessage: %v", err)
				}
				checkSame(t, "message", got, []byte(want))
			}
			if tc.pong {
				h, p, err := rc.readFrame()
				if err != nil || h.opcode != opPong || string(p) != "hi" {
					t.Errorf("after the early ping got frame op=%d payload %q, %v; want pong \"hi\"", h.opcode, p, err)
				}
			}
		})
	}
}

// fakeConn is a connection accepted by a fakeServer, with the client's
// opening handshake request already read from it.
type fakeConn struct {
	conn net.Conn
	br   *bufio.Reader
	req  *http.Request
}

// write sends s as it is, in one write.
func (fc *fakeConn) write(t testing.TB, s string) {
	t.Helper()
	if _, err := io.WriteString(fc.conn, s); err != nil {
		t.Fatalf("fake server write: %v", err)
	}
}

// response101 returns a valid 101 response to the request, with the given
// extra header lines (without line ends).
func (fc *fakeConn) response101(extra ...string) []byte {
	s := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + AcceptKey(fc.req.Header.Get("Sec-WebSocket-Key")) + "\r\n"
	for _, h := range extra {
		s += h + "\r\n"
	}
	return []byte(s + "\r\n")
}

// accept completes the opening handshake.
func (fc *fakeConn) accept(t testing.TB, extra ...string) {
	t.Helper()
	fc.write(t, string(fc.response101(extra...)))
}

// raw returns a rawClient over the connection, for its frame helpers; on
// this side of the connection it reads client frames and sends raw bytes.
func (fc *fakeConn) raw(t testing.TB) *rawClient {
	return &rawClient{t: t, conn: fc.conn, br: fc.br}
}

// fakeServer listens on 127.0.0.1 and delivers each connection, once the
// request on it has been read, on the returned channel, so that the test
// can answer as it likes. Connections get deadlines of testTimeout as a
// safety bound and are closed at cleanup.
func fakeServer(t testing.TB) (addr string, conns <-chan *fakeConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *fakeConn)
	quit := make(chan struct{})
	var mu sync.Mutex
	var open []net.Conn
	closed := false
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				conn.Close()
			}
			open = append(open, conn)
			mu.Unlock()
			conn.SetDeadline(time.Now().Add(testTimeout))
			br := bufio.NewReader(conn)
			req, err := http.ReadRequest(br)
			if err != nil {
				t.Errorf("fake server reading the request: %v", err)
				conn.Close()
				continue
			}
			select {
			case ch <- &fakeConn{conn: conn, br: br, req: req}:
			case <-quit:
				return
			}
		}
	})
	t.Cleanup(func() {
		close(quit)
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), ch
}

// nextFake returns the next connection of a fakeServer.
func nextFake(t testing.TB, conns <-chan *fakeConn) *fakeConn {
	t.Helper()
	return recv(t, conns, "a connection to the fake server")
}

// dialResult is what Dial returned.
type dialResult struct {
	c    *Conn
	resp *http.Response
	err  error
}

// mustConn fails the test unless the dial succeeded, and returns the Conn.
func (r dialResult) mustConn(t testing.TB) *Conn {
	t.Helper()
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}
	return r.c
}

// dialAsync runs Dial in a goroutine, so that the test can play the server.
func dialAsync(ctx context.Context, rawURL string, opts *DialOptions) <-chan dialResult {
	ch := make(chan dialResult, 1)
	go func() {
		c, resp, err := Dial(ctx, rawURL, opts)
		ch <- dialResult{c, resp, err}
	}()
	return ch
}

// awaitDial waits for the result of dialAsync. A Conn in it is closed
// without a handshake at cleanup and has deadlines of testTimeout.
func awaitDial(t testing.TB, ch <-chan dialResult) dialResult {
	t.Helper()
	r := recv(t, ch, "Dial")
	if r.c != nil {
		t.Cleanup(func() { r.c.CloseNow() })
		r.c.SetDeadline(time.Now().Add(testTimeout))
	}
	return r
}

// TestDialRequest checks the opening handshake request the client sends.
func TestDialRequest(t *testing.T) {
	addr, conns := fakeServer(t)
	opts := &DialOptions{
		Options: Options{Subprotocols: []string{"chat.v2", "chat"}},
		Header: http.Header{
			"Origin":                []string{"https://app.example"},
			"Authorization":         []string{"Bearer t0ken"},
			"X-Multi":               []string{"one", "two"},
			"Sec-Websocket-Version": []string{"8"}, // must not replace Dial's own
		},
	}
	var keys []string
	for i := range 2 {
		res := dialAsync(context.Background(), "ws://"+addr+"/chat/room?id=7", opts)
		fc := nextFake(t, conns)
		fc.accept(t, "Sec-WebSocket-Protocol: chat")
		c := awaitDial(t, res).mustConn(t)
		if c.Subprotocol() != "chat" {
			t.Errorf("Subprotocol() = %q, want %q", c.Subprotocol(), "chat")
		}
		r := fc.req
		h := r.Header
		for _, check := range []struct {
			what      string
			got, want any
		}{
			{"method", r.Method, "GET"},
			{"request URI", r.RequestURI, "/chat/room?id=7"},
			{"protocol", r.Proto, "HTTP/1.1"},
			{"Host", r.Host, addr},
			{"Upgrade", h.Get("Upgrade"), "websocket"},
			{"Connection has upgrade", hasToken(h["Connection"], "upgrade"), true},
			{"Sec-WebSocket-Version", strings.Join(h["Sec-Websocket-Version"], ","), "13"},
			{"Sec-WebSocket-Protocol", strings.Join(h["Sec-Websocket-Protocol"], ","), "chat.v2, chat"},
			{"Sec-WebSocket-Extensions", len(h["Sec-Websocket-Extensions"]), 0},
			{"Origin", h.Get("Origin"), "https://app.example"},
			{"Authorization", h.Get("Authorization"), "Bearer t0ken"},
			{"X-Multi", strings.Join(h["X-Multi"], ","), "one,two"},
		} {
			if check.got != check.want {
				t.Errorf("dial %d: %s is %v, want %v", i, check.what, check.got, check.want)
			}
		}
		key := h["Sec-Websocket-Key"]
		if raw, err := base64.StdEncoding.DecodeString(strings.Join(key, "")); len(key) != 1 || err != nil || len(raw) != 16 {
			t.Errorf("dial %d: Sec-WebSocket-Key %q does not decode to 16 bytes (%v)", i, key, err)
		}
		keys = append(keys, strings.Join(key, ""))
	}
	if keys[0] == keys[1] {
		t.Errorf("two dials sent the same Sec-WebSocket-Key %q", keys[0])
	}
}

// TestDialHostHeader checks that a Host in DialOptions.Header replaces the
// URL's host in the request, and that a URL without a path asks for "/".
func TestDialHostHeader(t *testing.T) {
	addr, conns := fakeServer(t)
	res := dialAsync(context.Background(), "ws://"+addr, &DialOptions{Header: http.Header{"Host": {"virtual.example"}}})
	fc := nextFake(t, conns)
	fc.accept(t)
	awaitDial(t, res).mustConn(t)
	if fc.req.Host != "virtual.example" || fc.req.RequestURI != "/" || len(fc.req.Header["Host"]) != 0 {
		t.Errorf("request for %q with Host %q (and Host header lines %q); want / with virtual.example",
			fc.req.RequestURI, fc.req.Host, fc.req.Header["Host"])
	}
}

// TestDialRefusesBadOptions checks that values of DialOptions that would
// inject header lines, or make the request malformed, fail Dial before it
// connects, and that valid ones of the same kinds make a request that
// parses as meant.
func TestDialRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		url    string // default ws://example.com/
		header http.Header
		subs   []string
		want   string // in the error; "" for valid options
	}{
		{name: "Host with CRLF", header: http.Header{"Host": {"a\r\nX-Evil: 1"}}, want: "Host"},
		{name: "Host with a space", header: http.Header{"Host": {"a b"}}, want: "Host"},
		{name: "Host with NUL", header: http.Header{"Host": {"a\x00"}}, want: "Host"},
		{name: "Host with a slash", header: http.Header{"Host": {"a/b"}}, want: "Host"},
		{name: "Host with port", header: http.Header{"Host": {"virtual.example:8080"}}},
		{name: "Host IPv6", header: http.Header{"Host": {"[::1]:80"}}},
		{name: "subprotocol with CRLF", subs: []string{"chat\r\nX-Evil: 1"}, want: "subprotocol"},
		{name: "subprotocol with a space", subs: []string{"chat v2"}, want: "subprotocol"},
		{name: "subprotocol with a comma", subs: []string{"a,b"}, want: "subprotocol"},
		{name: "subprotocol empty", subs: []string{""}, want: "subprotocol"},
		{name: "subprotocol twice", subs: []string{"chat", "v2", "chat"}, want: "subprotocol"},
		{name: "subprotocols", subs: []string{"chat", "v2.chat", "x-y_z"}},
		{name: "value with CRLF", header: http.Header{"X-A": {"ok", "v\r\nX-Evil: 1"}}, want: "X-A"},
		{name: "value with LF", header: http.Header{"X-A": {"v\nX-Evil: 1"}}, want: "X-A"},
		{name: "value with NUL", header: http.Header{"X-A": {"v\x00"}}, want: "X-A"},
		{name: "value with DEL", header: http.Header{"X-A": {"v\x7f"}}, want: "X-A"},
		{name: "value with tab and obs-text", header: http.Header{"X-A": {"a\tcaf\xc3\xa9"}}},
		{name: "name with CRLF", header: http.Header{"X-A\r\nX-Evil": {"1"}}, want: "name"},
		{name: "name with a colon", header: http.Header{"X-A: b\r\nX": {"1"}}, want: "name"},
		{name: "non-canonical handshake headers", header: http.Header{"host": {"a\r\nX-Evil: 1"}, "sec-websocket-key": {testKey}}},
		{name: "space in the query", url: "ws://example.com/?a b", want: "space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The dial hands Dial one end of a pipe and reads the
			// request from the other.
			sent := make(chan *http.Request, 1)
			opts := &DialOptions{
				Options: Options{Subprotocols: tc.subs},
				Header:  tc.header,
				NetDialContext: func(context.Context, string, string) (net.Conn, error) {
					server, client := net.Pipe()
					go func() {
						defer server.Close()
						r, err := http.ReadRequest(bufio.NewReader(server))
						if err != nil {
							t.Errorf("the request does not parse: %v", err)
						}
						sent <- r
					}()
					return client, nil
				},
			}
			u := cmp.Or(tc.url, "ws://example.com/")
			_, _, err := Dial(context.Background(), u, opts)
			if tc.want != "" {
				if len(sent) > 0 {
					t.Error("Dial connected before refusing the options")
				}
				if err == nil || !strings.HasPrefix(err.Error(), "websocket: ") || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Dial: %v; want an error mentioning %q", err, tc.want)
				}
				return
			}
			r := recv(t, sent, "the request")
			if r == nil {
				return
			}
			wantHost := cmp.Or(tc.header.Get("Host"), "example.com")
			if r.Host != wantHost || len(r.Header["X-Evil"]) != 0 || len(r.Header["Sec-Websocket-Key"]) != 1 ||
				r.Header.Get("Sec-Websocket-Key") == testKey || r.Header.Get("Sec-Websocket-Protocol") != strings.Join(tc.subs, ", ") ||
				!slices.Equal(r.Header["X-A"], tc.header["X-A"]) {
				t.Errorf("request for Host %q with header %q", r.Host, r.Header)
			}
		})
	}
}

// FuzzClientRequest feeds arbitrary Host, subprotocol and header values to
// the request Dial builds: whatever it accepts must parse back as one
// request carrying exactly those values, and no other header lines.
func FuzzClientRequest(f *testing.F) {
	f.Add("example.com:80", "chat", "X-A", "v")
	f.Add("a\r\nX-Evil: 1", "c\r\nX-Evil: 1", "X\r\nY", "v\r\nX-Evil: 1")
	f.Add("", "a,b", "sec-websocket-key", " v\t")
	f.Fuzz(func(t *testing.T, host, sub, name, value string) {
		u := &url.URL{Scheme: "ws", Host: "example.com", Path: "/p", RawQuery: "q"}
		opts := &DialOptions{Options: Options{Subprotocols: []string{sub}}, Header: http.Header{name: {value}}}
		opts.Header.Add("Host", host)
		req, key, err := clientRequest(u, false, opts)
		if err != nil {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(req)))
		if err != nil {
			t.Fatalf("request %q does not parse: %v", req, err)
		}
		want := http.Header{
			"Upgrade":                {"websocket"},
			"Connection":             {"Upgrade"},
			"Sec-Websocket-Key":      {key},
			"Sec-Websocket-Version":  {"13"},
			"Sec-Websocket-Protocol": {sub},
		}
		if cname := http.CanonicalHeaderKey(name); want[cname] == nil && cname != "Host" {
			want[cname] = []string{strings.Trim(value, " \t")}
		}
		if r.RequestURI != "/p?q" || r.Host != cmp.Or(opts.Header.Get("Host"), "example.com") || !maps.EqualFunc(r.Header, want, slices.Equal) {
			t.Fatalf("request %q parses as %s for Host %q with header %q", req, r.RequestURI, r.Host, r.Header)
		}
	})
}

// TestDialRejectsResponse answers the handshake with assorted responses
// from a fake server. Dial must refuse each bad one with an error that says
// what was wrong, return the response, and close the connection; it must
// accept the good ones.
func TestDialRejectsResponse(t *testing.T) {
	const (
		upgrade = "Upgrade: websocket"
		connUpg = "Connection: Upgrade"
	)
	accept := func(key string) string { return "Sec-WebSocket-Accept: " + AcceptKey(key) }
	longBody := strings.Repeat("0123456789", 500)
	cases := []struct {
		name     string
		response func(key string) string // the whole response
		wantErr  []string                // substrings of the error; none means success
		wantCode int
		wantSub  string
	}{
		{
			name:     "forbidden",
			response: func(string) string { return "HTTP/1.1 403 Forbidden\r\nContent-Length: 19\r\n\r\norigin not allowed\n" },
			wantErr:  []string{"403 Forbidden", "origin not allowed"},
			wantCode: 403,
		},
		{
			name: "plain HTTP",
			response: func(string) string {
				return "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\n<p>hi!</p>\n"
			},
			wantErr:  []string{"200 OK", "<p>hi!</p>"},
			wantCode: 200,
		},
		{
			name: "long body",
			response: func(string) string {
				return "HTTP/1.1 500 Internal Server Error\r\nContent-Length: " + strconv.Itoa(len(longBody)) + "\r\n\r\n" + longBody
			},
			wantErr:  []string{"500", "0123456789"},
			wantCode: 500,
		},
		{
			name:     "body until close",
			response: func(string) string { return "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\ntry later" },
			wantErr:  []string{"503", "try later"},
			wantCode: 503,
		},
		{
			name: "no Upgrade",
			response: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\n" + connUpg + "\r\n" + accept(key) + "\r\n\r\n"
			},
			wantErr:  []string{"Upgrade"},
			wantCode: 101,
		},
		{
			name: "Upgrade to another protocol",
			response: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n" + connUpg + "\r\n" + accept(key) + "\r\n\r\n"
			},
			wantErr:  []string{"Upgrade"},
			wantCode: 101,
		},
		{
			name: "no Connection",
			response: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\n" + upgrade + "\r\n" + accept(key) + "\r\n\r\n"
			},
			wantErr:  []string{"Connection"},
			wantCode: 101,
		},
		{
			name: "Connection without upgrade",
			response: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\n" + upgrade + "\r\nConnection: keep-alive\r\n" + accept(key) + "\r\n\r\n"
			},
			wantErr:  []string{"Connection"},
			wantCode: 101,
		},
		{
			name: "no Sec-WebSocket-Accept",
			response: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\n" + upgrade + "\r\n" + connUpg + "\r\n\r\n"
			},
			wantErr:  []string{"Sec-WebSocket-Accept"},
			wantCode: 101,
		},
		{
			name: "wrong Sec-WebSocket-Accept",
			response: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\n" + upgrade + "\r\n" + connUpg + "\r\n" + accept(testKey) + "\r\n\r\n"
			},
			wantErr:  []string{"Sec-WebSocket-Accept"},
			wantCode: 101,
		},
		{
			name: "Sec-WebSocket-Accept of the key itself",
			response: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\n" + upgrade + "\r\n" + connUpg + "\r\nSec-WebSocket-Accept: " + key + "\r\n\r\n"
			},
			wantErr:  []string{"Sec-WebSocket-Accept"},
			wantCode: 101,
		},
		{
			name: "two Sec-WebSocket-Accept",
			response: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\n" + upgrade + "\r\n" + connUpg + "\r\n" + accept(key) + "\r\n" + accept(key) + "\r\n\r\n"
			},
			wantErr:  []string{"Sec-WebSocket-Accept"},
			wantCode: 101,
		},
		{
			name: "subprotocol not offered",
			response: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\n" + upgrade + "\r\n" + connUpg + "\r\n" + accept(key) + "\r\nSec-WebSocket-Protocol: c\r\n\r\n"
			},
			wantErr:  []string{"subprotocol", `"c"`},
			wantCode: 101,
		},
		{
			name: "two subprotocols",
			response: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\n" + upgrade + "\r\n" + connUpg + "\r\n" + accept(key) + "\r\nSec-WebSocket-Protocol: a, b\r\n\r\n"
			},
			wantErr:  []string{"subprotocol"},
			wantCode: 101,
		},
		{
			name: "extension not offered",
			response: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\n" + upgrade + "\r\n" + connUpg + "\r\n" + accept(key) + "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
			},
			wantErr:  []string{"extension"},
			wantCode: 101,
		},
		{
			name: "tokens in other cases and lists",
			response: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\nsec-websocket-accept: " + AcceptKey(key) + "\r\n\r\n"
			},
			wantCode: 101,
		},
		{
			name: "offered subprotocol",
			response: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\n" + upgrade + "\r\n" + connUpg + "\r\n" + accept(key) + "\r\nSec-WebSocket-Protocol: b\r\n\r\n"
			},
			wantCode: 101,
			wantSub:  "b",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns := fakeServer(t)
			res := dialAsync(context.Background(), wsURL(addr), &DialOptions{Options: Options{Subprotocols: []string{"a", "b"}}})
			fc := nextFake(t, conns)
			fc.write(t, tc.response(fc.req.Header.Get("Sec-WebSocket-Key")))
			if strings.Contains(tc.name, "until close") {
				fc.conn.(*net.TCPConn).CloseWrite()
			}
			r := awaitDial(t, res)
			if r.resp == nil || r.resp.StatusCode != tc.wantCode {
				t.Fatalf("Dial returned response %v, want status %d", r.resp, tc.wantCode)
			}
			if tc.wantErr == nil {
				c := r.mustConn(t)
				if c.Subprotocol() != tc.wantSub {
					t.Errorf("Subprotocol() = %q, want %q", c.Subprotocol(), tc.wantSub)
				}
				return
			}
			if r.err == nil {
				t.Fatal("Dial succeeded")
			}
			if r.c != nil {
				t.Error("Dial returned a Conn with its error")
			}
			msg := r.err.Error()
			for _, want := range tc.wantErr {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			if !strings.HasPrefix(msg, "websocket: ") || len(msg) > 1500 {
				t.Errorf("error of %d bytes %.80q...; want a bounded one starting \"websocket: \"", len(msg), msg)
			}
			fc.conn.SetReadDeadline(time.Now().Add(testTimeout))
			fc.raw(t).expectEOF()
		})
	}
}

// TestDialResponseHeadTooLarge has a fake server, and a fake proxy, stream a
// response head without end: one endless header line, or header lines
// without end. Dial must fail once the head passes its bound of 16 KiB,
// promptly and without buffering what the server sent.
func TestDialResponseHeadTooLarge(t *testing.T) {
	const sent = 8 << 20 // streamed at most, far past the bound
	for _, tc := range []struct {
		name     string
		viaProxy bool
		head     string // the start of the response
		filler   string // repeated after it
		want     string // the error ends with this
	}{
		{"endless line", false, "HTTP/1.1 101 Switching Protocols\r\nX-Long: ", "a",
			"websocket: handshake response header larger than 16384 bytes"},
		{"endless lines", false, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n", "X-Pad: a\r\n",
			"websocket: handshake response header larger than 16384 bytes"},
		{"proxy endless line", true, "HTTP/1.1 200 Connection established\r\nX-Long: ", "a",
			"reading the CONNECT response: response head exceeds 16 KiB"},
		{"proxy endless lines", true, "HTTP/1.1 200 Connection established\r\n", "X-Pad: a\r\n",
			"reading the CONNECT response: response head exceeds 16 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns := fakeServer(t)
			// A bound on the dial in case the head is not bounded.
			target, opts := wsURL(addr), &DialOptions{Options: Options{HandshakeTimeout: 3 * time.Second}}
			if tc.viaProxy {
				opts.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr})
				target = "ws://127.0.0.1:9/" // never dialed
			}
			chunk := []byte(strings.Repeat(tc.filler, 32<<10/len(tc.filler)))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			res := dialAsync(context.Background(), target, opts)
			fc := nextFake(t, conns)
			streamed := make(chan struct{})
			go func() {
				defer close(streamed)
				fc.conn.Write([]byte(tc.head))
				for n := 0; n < sent; n += len(chunk) {
					if _, err := fc.conn.Write(chunk); err != nil {
						return // the client gave up
					}
				}
				fc.conn.(*net.TCPConn).CloseWrite()
			}()
			r := awaitDial(t, res)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			fc.conn.Close()
			<-streamed
			if r.err == nil || !strings.HasSuffix(r.err.Error(), tc.want) || !strings.HasPrefix(r.err.Error(), "websocket: ") {
				t.Errorf("Dial: %v; want an error ending %q", r.err, tc.want)
			}
			if r.c != nil || r.resp != nil {
				t.Errorf("Dial returned a Conn or response with its error")
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 2<<20 {
				t.Errorf("Dial allocated %d KiB reading the head", grew>>10)
			}
			if elapsed > 2*time.Second {
				t.Errorf("Dial took %v to give up", elapsed)
			}
		})
	}
}

// TestDialRefusedByOurServer dials our server with an Origin it does not
// allow: Dial fails with the status and the server's explanation.
func TestDialRefusedByOurServer(t *testing.T) {
	srv := serveWS(t, &Server{Handler: echoHandler}, false)
	_, resp, err := Dial(context.Background(), wsURL(srv.Listener.Addr().String()),
		&DialOptions{Header: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "Origin not allowed") {
		t.Errorf("Dial with a foreign Origin: %v; want a 403 error with the server's reason", err)
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("response %v, want 403", resp)
	}
}

// TestDialSubprotocol negotiates subprotocols with our server, which picks
// the first of its own list that the client offers.
func TestDialSubprotocol(t *testing.T) {
	srv := serveWS(t, &Server{Options: Options{Subprotocols: []string{"v3", "v2", "v1"}}, Handler: echoHandler}, false)
	for _, tc := range []struct {
		offer []string
		want  string
	}{
		{nil, ""},
		{[]string{"v1"}, "v1"},
		{[]string{"v1", "v2"}, "v2"},
		{[]string{"v9"}, ""},
	} {
		c := mustDial(t, wsURL(srv.Listener.Addr().String()), &DialOptions{Options: Options{Subprotocols: tc.offer}})
		if got := c.Subprotocol(); got != tc.want {
			t.Errorf("offering %q: Subprotocol() = %q, want %q", tc.offer, got, tc.want)
		}
		if err := c.Close(StatusNormalClosure, ""); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// TestDialBadURL checks that URLs Dial cannot use fail before any network
// traffic, with an error saying why.
func TestDialBadURL(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"ftp://127.0.0.1/", "scheme"},
		{"localhost:80", "scheme"},
		{"ws://user:secret@127.0.0.1/", "user information"},
		{"ws://127.0.0.1/%zz", "URL"},
	} {
		dialed := false
		opts := &DialOptions{NetDialContext: func(context.Context, string, string) (net.Conn, error) {
			dialed = true
			return nil, errors.New("no network in this test")
		}}
		_, _, err := Dial(context.Background(), tc.url, opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || dialed {
			t.Errorf("Dial(%q): %v (dialed: %v); want an error mentioning %q before dialing", tc.url, err, dialed, tc.want)
		}
	}
}

// TestDialSchemes checks that http:// and https:// work as ws:// and wss://.
func TestDialSchemes(t *testing.T) {
	plain := serveWS(t, &Server{Handler: echoHandler}, false)
	secure := serveWS(t, &Server{Handler: echoHandler}, true)
	tlsConfig := secure.Client().Transport.(*http.Transport).TLSClientConfig
	for _, u := range []string{plain.URL, secure.URL} {
		c := mustDial(t, u, &DialOptions{TLSConfig: tlsConfig})
		checkEcho(t, c, "over "+u)
	}
}

// checkEcho sends msg to an echo server on c, checks the echo and closes c.
func checkEcho(t testing.TB, c *Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(TextMessage, []byte(msg)); err != nil {
		t.Fatalf("WriteMessage: %v", err)
	}
	if typ, got, err := c.ReadMessage(); err != nil || typ != TextMessage || string(got) != msg {
		t.Fatalf("echo: %v %q, %v; want text %q", typ, got, err, msg)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestDialCancelledContext checks that an already cancelled context fails
// Dial at once, without a connection.
func TestDialCancelledContext(t *testing.T) {
	addr, conns := fakeServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	c, resp, err := Dial(ctx, wsURL(addr), nil)
	if err == nil || c != nil || resp != nil {
		t.Fatalf("Dial with a cancelled context: %v, %v, %v; want only an error", c, resp, err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %q is not context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Dial took %v with a cancelled context", d)
	}
	select {
	case <-conns:
		t.Error("Dial with a cancelled context sent a request")
	default:
	}
}

// TestDialHandshakeTimeout dials a server that accepts the connection and
// reads the request but never answers: Dial must give up when the context's
// deadline, or HandshakeTimeout, passes, say so, and close the connection.
func TestDialHandshakeTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for _, tc := range []struct {
		name     string
		ctx      func() (context.Context, context.CancelFunc)
		opts     *DialOptions
		viaProxy bool // the fake server plays a proxy that never answers CONNECT
	}{
		{"context deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), timeout)
		}, nil, false},
		{"HandshakeTimeout", func() (context.Context, context.CancelFunc) {
			return context.Background(), func() {}
		}, &DialOptions{Options: Options{HandshakeTimeout: timeout}}, false},
		{"earlier of the two", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), timeout)
		}, &DialOptions{Options: Options{HandshakeTimeout: time.Hour}}, false},
		{"silent proxy", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), timeout)
		}, &DialOptions{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, conns := fakeServer(t)
			target := wsURL(addr)
			if tc.viaProxy {
				tc.opts.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr})
				target = "ws://127.0.0.1:9/" // never dialed: the proxy does not answer
			}
			start := time.Now() // before the context's deadline is set
			ctx, cancel := tc.ctx()
			defer cancel()
			res := dialAsync(ctx, target, tc.opts)
			fc := nextFake(t, conns) // and never answer
			if tc.viaProxy && fc.req.Method != http.MethodConnect {
				t.Errorf("proxy got a %s request, want CONNECT", fc.req.Method)
			}
			r := awaitDial(t, res)
			d := time.Since(start)
			if r.err == nil {
				t.Fatal("Dial succeeded without a response")
			}
			if !errors.Is(r.err, context.DeadlineExceeded) || !strings.Contains(r.err.Error(), "timed out") {
				t.Errorf("error %q; want one that says the dial timed out, matching context.DeadlineExceeded", r.err)
			}
			if d < timeout || d > timeout+2*time.Second {
				t.Errorf("Dial gave up after %v; the timeout was %v", d, timeout)
			}
			fc.raw(t).expectEOF()
		})
	}
}

// TestDialCancelDuringHandshake cancels the context while the client waits
// for the response: Dial returns promptly with context.Canceled.
func TestDialCancelDuringHandshake(t *testing.T) {
	addr, conns := fakeServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := dialAsync(ctx, wsURL(addr), nil)
	fc := nextFake(t, conns)
	start := time.Now()
	cancel()
	r := awaitDial(t, res)
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("Dial cancelled during the handshake: %v; want context.Canceled", r.err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Dial returned %v after the cancellation", d)
	}
	fc.raw(t).expectEOF()
}

// TestDialContextEndsAfterDial checks that the end of Dial's context, by
// cancellation or deadline, does not touch the Conn it returned.
func TestDialContextEndsAfterDial(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"cancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, done := startServer(t, &Server{Handler: echoHandler})
			ctx, cancel := tc.ctx()
			c, _, err := Dial(ctx, wsURL(addr), nil)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.CloseNow()
			if tc.name == "cancel" {
				cancel()
			}
			<-ctx.Done()
			defer cancel()
			// No deadline of our own, which would hide one Dial left
			// behind; a watchdog bounds the echo instead.
			watchdog := time.AfterFunc(testTimeout, func() { c.CloseNow() })
			defer watchdog.Stop()
			checkEcho(t, c, "still here")
			waitDone(t, done)
		})
	}
}

// TestDialTLS dials our server over TLS: with the test CA, a ServerName that
// defaults to the URL's host (an IP or a name) or is set, and fails against
// the wrong name or without the CA.
func TestDialTLS(t *testing.T) {
	srv := serveWS(t, &Server{Handler: echoHandler}, true)
	addr := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	caConfig := srv.Client().Transport.(*http.Transport).TLSClientConfig
	withName := caConfig.Clone()
	withName.ServerName = "example.com"

	cases := []struct {
		name    string
		url     string
		config  *tls.Config
		wantErr string
	}{
		{"IP host", "wss://" + addr + "/", caConfig, ""},
		{"name host", "wss://example.com:" + port + "/", caConfig, ""},
		{"explicit ServerName", "wss://" + addr + "/", withName, ""},
		{"wrong name", "wss://wrong.test:" + port + "/", caConfig, "TLS handshake"},
		{"unknown CA", "wss://" + addr + "/", nil, "TLS handshake"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var dialed string
			opts := &DialOptions{
				TLSConfig: tc.config,
				// Every name resolves to the test server on 127.0.0.1.
				NetDialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
					dialed = a
					return new(net.Dialer).DialContext(ctx, network, addr)
				},
			}
			u, _ := url.Parse(tc.url)
			c, _, err := Dial(context.Background(), tc.url, opts)
			if dialed != u.Host {
				t.Errorf("dialed %q, want %q", dialed, u.Host)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Dial: %v; want an error mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.CloseNow()
			c.SetDeadline(time.Now().Add(testTimeout))
			if _, ok := c.conn.(*tls.Conn); !ok {
				t.Errorf("connection is a %T, want a *tls.Conn", c.conn)
			}
			checkEcho(t, c, "secret")
		})
	}
	if caConfig.ServerName != "" {
		t.Errorf("Dial changed the caller's TLSConfig.ServerName to %q", caConfig.ServerName)
	}
}

// TestClientRoundTripAllocs checks that in the steady state a client round
// trip of a small message (WriteMessage, then AppendMessage into a reused
// buffer), including the echo server's side, allocates nothing.
func TestClientRoundTripAllocs(t *testing.T) {
	addr, done := startServer(t, &Server{Handler: echoHandler})
	c := mustDial(t, wsURL(addr), nil)
	msg := []byte("sixteen bytes!!!")
	buf := make([]byte, 0, 64)
	var err error
	roundTrip := func() {
		if err != nil {
			return
		}
		if err = c.WriteMessage(BinaryMessage, msg); err == nil {
			_, buf, err = c.AppendMessage(buf[:0])
		}
	}
	for range 10 {
		roundTrip()
	}
	allocs := testing.AllocsPerRun(200, roundTrip)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if !bytes.Equal(buf, msg) {
		t.Fatalf("echo %q, want %q", buf, msg)
	}
	if allocs != 0 {
		t.Errorf("a round trip makes %v allocations, want 0", allocs)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitDone(t, done)
}

// BenchmarkClientEcho measures a client round trip through our echo server
// over loopback: WriteMessage, then AppendMessage into a reused buffer.
func BenchmarkClientEcho(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			addr, done := startServer(b, &Server{Handler: echoHandler})
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
			waitDone(b, done)
		})
	}
}
