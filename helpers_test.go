//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file holds the test harness that the test files share: servers on
// loopback TCP; a raw peer that writes hand-built frames, so that tests can
// send what no well-behaved peer would; wire cases in the manner of the
// Autobahn testsuite; Dial helpers and a fake server to dial; payload
// generators; and connections over TCP and in memory.

// testTimeout bounds every blocking step of a test, so a bug shows up as a
// failure rather than a hung test binary.
const testTimeout = 10 * time.Second

// closeBound is the longest a close bounded by a short CloseTimeout may take
// in these tests: well under DefaultCloseTimeout, to show that the
// configured timeout applied, yet loose enough for a loaded machine.
const closeBound = DefaultCloseTimeout - time.Second

// await returns the next value from ch, failing the test if none arrives
// within testTimeout; what names the awaited event in the failure. A closed
// channel, such as the done channel of serveConn, gives its zero value.
func await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// serveWS serves s on a loopback httptest server, with TLS if secure, for
// any number of connections. At cleanup it closes the server and fails the
// test unless every Handler call returns within testTimeout. Cleanups run
// in reverse order, so the client connections that the test opens
// afterwards are closed first, which ends their handlers even when the test
// stopped early: a handler never outlives its test.
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
		await(t, done, "the handlers to return")
	})
	return srv
}

// serveConn serves a Server with opts and handler, as serveWS does, and
// returns its address and a channel that is closed when the first Handler
// call has returned.
func serveConn(t testing.TB, opts Options, handler func(*Conn)) (addr string, done <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{})
	var once sync.Once
	srv := serveWS(t, &Server{Options: opts, Handler: func(c *Conn) {
		defer once.Do(func() { close(ch) })
		handler(c)
	}}, false)
	return srv.Listener.Addr().String(), ch
}

// serveListener runs s.Serve on a loopback listener for the duration of the
// test and returns its address and the channel that receives Serve's
// result.
func serveListener(t *testing.T, s *Server) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() { result <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		s.Shutdown(ctx)
	})
	return ln.Addr().String(), result
}

// echoHandler echoes every message until the connection ends.
func echoHandler(c *Conn) {
	var buf []byte
	for {
		typ, msg, err := c.AppendMessage(buf[:0])
		if err != nil {
			return
		}
		buf = msg
		if c.WriteMessage(typ, msg) != nil {
			return
		}
	}
}

// rawClient is one end of a WebSocket connection driven by hand for tests:
// the client, which masks the frames it sends and wants the peer's unmasked,
// or, with server set (see fakeConn.raw), the server, the other way round.
type rawClient struct {
	t      testing.TB
	conn   net.Conn
	br     *bufio.Reader
	server bool
}

// testKey is the sample key of RFC 6455 section 1.3.
const testKey = "dGhlIHNhbXBsZSBub25jZQ=="

// handshakeRequest returns an opening handshake request for path / with the
// given extra header lines (each ending in \r\n).
func handshakeRequest(addr, extra string) string {
	return "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
}

// dialRaw connects to addr and sends request (with extra bytes appended in
// the same write), returning the client and the server's response.
func dialRaw(t testing.TB, addr, request string) (*rawClient, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	return rawClientFrom(t, conn)
}

// rawClientFrom reads the handshake response on conn and returns a rawClient
// over it.
func rawClientFrom(t testing.TB, conn net.Conn) (*rawClient, *http.Response) {
	t.Helper()
	c := &rawClient{t: t, conn: conn, br: bufio.NewReader(conn)}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading handshake response: %v", err)
	}
	return c, resp
}

// connect performs a valid handshake and fails the test unless it succeeds.
func connect(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, resp := dialRaw(t, addr, handshakeRequest(addr, ""))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("handshake: %s: %s", resp.Status, body)
	}
	return c
}

// hsCheckSwitched fails the test unless resp is a valid 101 response to a
// request with testKey.
func hsCheckSwitched(t testing.TB, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %s (%q), want 101", resp.Status, body)
	}
	want := map[string]string{
		"Upgrade":              "websocket",
		"Connection":           "Upgrade",
		"Sec-WebSocket-Accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
	}
	for name, value := range want {
		if got := resp.Header.Values(name); len(got) != 1 || !strings.EqualFold(got[0], value) {
			t.Errorf("%s header %q, want %q", name, got, value)
		}
	}
}

// rfcKey is the masking key of the examples of RFC 6455 section 5.7, which
// the test clients use.
var rfcKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// clientFrame returns a masked client frame with a string payload.
func clientFrame(fin bool, op opcode, payload string) []byte {
	return buildFrame(fin, op, []byte(payload), true, rfcKey)
}

// unmaskedFrame returns a frame without a mask: a server's, or a client's
// that a server must reject.
func unmaskedFrame(fin bool, op opcode, payload string) []byte {
	return buildFrame(fin, op, []byte(payload), false, [4]byte{})
}

// buildFrame encodes a frame, masking the payload with key if masked.
func buildFrame(fin bool, op opcode, payload []byte, masked bool, key [4]byte) []byte {
	h := header{fin: fin, opcode: op, length: int64(len(payload)), masked: masked, key: key}
	b := make([]byte, maxHeaderSize+len(payload))
	n := putHeader(b, h)
	n += copy(b[n:], payload)
	if masked {
		mask(key, 0, b[n-len(payload):n])
	}
	return b[:n]
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

// closePayload returns a close frame payload.
func closePayload(code StatusCode, reason string) []byte {
	return appendClosePayload(nil, code, reason)
}

// send writes raw bytes.
func (c *rawClient) send(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// sendFrame writes one frame, masked unless c plays the server.
func (c *rawClient) sendFrame(fin bool, op opcode, payload []byte) {
	c.t.Helper()
	c.send(buildFrame(fin, op, payload, !c.server, rfcKey))
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

// readFrame reads one frame from the peer and unmasks its payload.
func (c *rawClient) readFrame() (header, []byte, error) {
	var b [maxHeaderSize]byte
	if _, err := io.ReadFull(c.br, b[:2]); err != nil {
		return header{}, nil, err
	}
	n := 2
	for {
		h, hn, err := parseHeader(b[:n])
		if err != nil {
			return h, nil, err
		}
		if hn > 0 {
			payload := make([]byte, h.length)
			if _, err := io.ReadFull(c.br, payload); err != nil {
				return h, nil, err
			}
			if h.masked {
				mask(h.key, 0, payload)
			}
			return h, payload, nil
		}
		if _, err := io.ReadFull(c.br, b[n:n+1]); err != nil {
			return h, nil, err
		}
		n++
	}
}

// nextFrame reads one frame from the peer, failing the test if it cannot
// or if the frame breaks the masking rule of the peer's role: a server must
// not mask, a client must.
func (c *rawClient) nextFrame() (header, []byte) {
	c.t.Helper()
	h, p, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("reading frame: %v", err)
	}
	if h.masked != c.server {
		c.t.Fatalf("peer sent a frame (op=%d) with masked=%v", h.opcode, h.masked)
	}
	return h, p
}

// expectFrame reads a frame and fails unless it is a final frame with the
// given opcode and payload, masked as the peer's role asks.
func (c *rawClient) expectFrame(op opcode, payload string) {
	c.t.Helper()
	h, p, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("reading frame: %v", err)
	}
	if h.opcode != op || string(p) != payload || !h.fin || h.masked != c.server {
		c.t.Fatalf("got frame op=%d fin=%v masked=%v payload %.40q; want op=%d payload %.40q", h.opcode, h.fin, h.masked, p, op, payload)
	}
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

// expectCloseFrame reads the next frame and fails the test unless it is a
// close frame whose payload parseClosePayload accepts (a valid code, or
// none, and a UTF-8 reason) and carries code (StatusNoStatusReceived for an
// empty payload); it returns the reason. Any other frame fails the test: a
// peer that closes or fails a connection must send nothing else first. It
// does not answer the close.
func (c *rawClient) expectCloseFrame(code StatusCode) string {
	c.t.Helper()
	h, p := c.nextFrame()
	if h.opcode != opClose {
		c.t.Fatalf("got frame op=%d fin=%v payload %.40q; want a close frame with %v", h.opcode, h.fin, p, code)
	}
	ce, _, err := parseClosePayload(p)
	if err != nil {
		c.t.Fatalf("close frame payload %q: %v", p, err)
	}
	if ce.Code != code {
		c.t.Fatalf("close code %v (reason %q), want %v", ce.Code, ce.Reason, code)
	}
	return ce.Reason
}

// expectCloseFrameReason reads a close frame with code and reason.
func (c *rawClient) expectCloseFrameReason(code StatusCode, reason string) {
	c.t.Helper()
	if got := c.expectCloseFrame(code); got != reason {
		c.t.Fatalf("close reason %q, want %q", got, reason)
	}
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

// expectEOF fails unless the server closes the connection (with no more
// frames).
func (c *rawClient) expectEOF() {
	c.t.Helper()
	b, err := c.br.ReadByte()
	if err == nil {
		c.t.Fatalf("want end of stream, got byte %#x", b)
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		c.t.Fatalf("want end of stream, got %v", err)
	}
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
			await(t, done, "the handler to return")
		})
	}
}

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
	return &rawClient{t: t, conn: fc.conn, br: fc.br, server: true}
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

// dialFake dials a fakeServer with opts and completes the opening
// handshake; it returns the client's Conn, as awaitDial leaves it, and the
// server's end of the connection.
func dialFake(t testing.TB, opts *DialOptions) (*Conn, *fakeConn) {
	t.Helper()
	addr, conns := fakeServer(t)
	res := dialAsync(context.Background(), wsURL(addr), opts)
	fc := nextFake(t, conns)
	fc.accept(t)
	return awaitDial(t, res).mustConn(t), fc
}

// nextFake returns the next connection of a fakeServer.
func nextFake(t testing.TB, conns <-chan *fakeConn) *fakeConn {
	t.Helper()
	return await(t, conns, "a connection to the fake server")
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
	r := await(t, ch, "Dial")
	if r.c != nil {
		t.Cleanup(func() { r.c.CloseNow() })
		r.c.SetDeadline(time.Now().Add(testTimeout))
	}
	return r
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

// tcpPair returns the two ends of a loopback TCP connection, closed when the
// test ends.
func tcpPair(t testing.TB) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// serverPair returns a server-side Conn with opts over loopback TCP, as if
// the opening handshake had just completed, and a raw client at the other
// end, whose reads and writes are bounded by testTimeout. Both are closed
// when the test ends.
func serverPair(t testing.TB, opts Options) (*Conn, *rawClient) {
	t.Helper()
	peer, nc := tcpPair(t)
	peer.SetDeadline(time.Now().Add(testTimeout))
	c := newConn(nc, true, nil, &opts, negotiated{})
	t.Cleanup(func() { c.CloseNow() })
	return c, &rawClient{t: t, conn: peer, br: bufio.NewReader(peer)}
}

// fillSocket writes to nc, whose peer does not read, until the socket's
// buffers are full, and returns how many bytes it wrote: in large writes,
// then byte by byte, since the kernel reports a socket writable only once a
// good part of its buffer is free.
func fillSocket(t testing.TB, nc net.Conn) int {
	t.Helper()
	filled := 0
	for _, size := range []int{64 << 10, 1} {
		chunk := make([]byte, size)
		nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		for {
			n, err := nc.Write(chunk)
			filled += n
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
	}
	nc.SetWriteDeadline(time.Time{})
	return filled
}

// halfPipe is an in-memory connection made of two net.Pipes, one for each
// direction, so that the peer can end its stream (like a TCP half-close)
// while still reading what the Conn writes. A single net.Pipe cannot do
// that: closing it to signal the end of the stream would also fail the
// Conn's pongs and close frames. Loopback TCP can, but at fuzzing speed it
// runs out of ports to connections left in TIME_WAIT.
type halfPipe struct {
	in, out net.Conn // the Conn reads from in and writes to out
}

// Read reads what the peer wrote.
func (p halfPipe) Read(b []byte) (int, error) { return p.in.Read(b) }

// Write writes to the peer.
func (p halfPipe) Write(b []byte) (int, error) { return p.out.Write(b) }

// LocalAddr returns the local address of the reading pipe.
func (p halfPipe) LocalAddr() net.Addr { return p.in.LocalAddr() }

// RemoteAddr returns the remote address of the reading pipe.
func (p halfPipe) RemoteAddr() net.Addr { return p.in.RemoteAddr() }

// Close closes both directions.
func (p halfPipe) Close() error {
	p.out.Close()
	return p.in.Close()
}

// SetDeadline sets the deadline of both directions.
func (p halfPipe) SetDeadline(t time.Time) error {
	p.out.SetDeadline(t)
	return p.in.SetDeadline(t)
}

// SetReadDeadline sets the deadline of reads.
func (p halfPipe) SetReadDeadline(t time.Time) error { return p.in.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of writes.
func (p halfPipe) SetWriteDeadline(t time.Time) error { return p.out.SetWriteDeadline(t) }

// streamConn returns a server-side Conn whose peer writes stream and then
// ends it, so that the Conn's reads end with EOF once they have taken every
// byte, and discards everything the Conn writes. Every read and write of
// the Conn is bounded by a deadline. The returned function closes the Conn's
// side and waits for the peer's goroutines.
func streamConn(stream []byte, opts *Options) (*Conn, func()) {
	inSrv, inCli := net.Pipe()
	outSrv, outCli := net.Pipe()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		inCli.Write(stream) // returns once the Conn has read it all, or closed
		inCli.Close()
	}()
	go func() {
		defer wg.Done()
		io.Copy(io.Discard, outCli)
		outCli.Close()
	}()
	srv := halfPipe{in: inSrv, out: outSrv}
	srv.SetDeadline(time.Now().Add(testTimeout))
	return newConn(srv, true, nil, opts, negotiated{}), func() {
		srv.Close()
		wg.Wait()
	}
}

// allocsPerStep runs step 50 times to warm up (buffers and compression
// windows reach their steady size), then returns the average
// number of allocations of one run over 200 runs. Once step has returned an
// error it is not run again, and the test fails with that error.
func allocsPerStep(t *testing.T, step func() error) float64 {
	t.Helper()
	var err error
	run := func() {
		if err == nil {
			err = step()
		}
	}
	for range 50 {
		run()
	}
	allocs := testing.AllocsPerRun(200, run)
	if err != nil {
		t.Fatal(err)
	}
	return allocs
}

// deadlineConn is a net.Conn that keeps the deadlines set on it: every
// read deadline in order, and the last write deadline. After each write it
// calls afterWrite, if set, and reports on writes, if set, the write
// deadline the write had.
type deadlineConn struct {
	net.Conn
	afterWrite func()
	writes     chan time.Time

	mu      sync.Mutex
	readDLs []time.Time
	writDL  time.Time
}

// deadlines returns the deadlines last set.
func (d *deadlineConn) deadlines() (read, write time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := len(d.readDLs); n > 0 {
		read = d.readDLs[n-1]
	}
	return read, d.writDL
}

// readDeadlines returns the read deadlines set so far, in order.
func (d *deadlineConn) readDeadlines() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.readDLs)
}

// SetReadDeadline keeps t and sets it.
func (d *deadlineConn) SetReadDeadline(t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.readDLs = append(d.readDLs, t)
	return d.Conn.SetReadDeadline(t)
}

// SetWriteDeadline keeps t and sets it.
func (d *deadlineConn) SetWriteDeadline(t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.writDL = t
	return d.Conn.SetWriteDeadline(t)
}

// SetDeadline keeps t as both deadlines and sets it.
func (d *deadlineConn) SetDeadline(t time.Time) error {
	d.SetReadDeadline(t)
	return d.SetWriteDeadline(t)
}

// Write writes p and reports the write deadline it had.
func (d *deadlineConn) Write(p []byte) (int, error) {
	_, dl := d.deadlines()
	n, err := d.Conn.Write(p)
	if d.afterWrite != nil {
		d.afterWrite()
	}
	if d.writes != nil {
		d.writes <- dl
	}
	return n, err
}
