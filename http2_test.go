//go:build !js

package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// These tests drive the HTTP/2 (RFC 8441) side of Upgrade, Server and
// Handler through a stand-in for net/http's HTTP/2 response writer and
// request body; benchmarks/interop runs the same against net/http's real
// HTTP/2 server and golang.org/x/net's client.

// h2Fake stands in for net/http's HTTP/2 response writer and request body.
// What the server writes goes to a net.Pipe that the client reads, what the
// client writes arrives through another, and, as with net/http, using the
// writer after the handler has returned panics, and a read deadline that
// passes ends the body for good.
type h2Fake struct {
	body        *h2Body  // the request body: the server's end of the client-to-server pipe
	out         net.Conn // the server's end of the server-to-client pipe
	finished    atomic.Bool
	noDeadlines bool
	writes      chan struct{} // gets a value as each Write begins, while there is room

	mu      sync.Mutex
	header  http.Header
	status  int
	flushes int
}

// use panics if the handler has returned.
func (f *h2Fake) use() {
	if f.finished.Load() {
		panic("websocket test: HTTP/2 response writer used after the handler returned")
	}
}

func (f *h2Fake) Header() http.Header {
	f.use()
	return f.header
}

func (f *h2Fake) WriteHeader(code int) {
	f.use()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status == 0 {
		f.status = code
	}
}

func (f *h2Fake) Write(p []byte) (int, error) {
	f.WriteHeader(http.StatusOK)
	select {
	case f.writes <- struct{}{}:
	default:
	}
	return f.out.Write(p)
}

// FlushError counts the flushes; writes reach the pipe unbuffered.
func (f *h2Fake) FlushError() error {
	f.use()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushes++
	return nil
}

func (f *h2Fake) SetReadDeadline(t time.Time) error {
	f.use()
	if f.noDeadlines {
		return http.ErrNotSupported
	}
	f.body.setDeadline(t)
	return nil
}

// h2Body is the request body of an h2Fake. As net/http's HTTP/2 request
// body does, it ends for good when its read deadline passes: every read,
// the one under way too, then fails with os.ErrDeadlineExceeded.
type h2Body struct {
	net.Conn

	mu    sync.Mutex
	timer *time.Timer
	ended bool
}

// Read reads from the pipe, unless the body has ended.
func (b *h2Body) Read(p []byte) (int, error) {
	n, err := b.Conn.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return 0, fmt.Errorf("%w", os.ErrDeadlineExceeded)
	}
	return n, err
}

// setDeadline sets the read deadline, as net/http's SetReadDeadline does.
func (b *h2Body) setDeadline(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if !t.IsZero() {
		b.timer = time.AfterFunc(time.Until(t), b.end)
	}
}

// end ends the body, and the read under way.
func (b *h2Body) end() {
	b.mu.Lock()
	b.ended = true
	b.mu.Unlock()
	b.Conn.SetReadDeadline(time.Unix(1, 0))
}

func (f *h2Fake) SetWriteDeadline(t time.Time) error {
	f.use()
	if f.noDeadlines {
		return http.ErrNotSupported
	}
	return f.out.SetWriteDeadline(t)
}

// finish is what net/http does when the handler returns: it ends the
// response, and the writer may no longer be used.
func (f *h2Fake) finish() {
	f.finished.Store(true)
	f.out.Close()
}

// result returns the status written and the number of flushes.
func (f *h2Fake) result() (status, flushes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, f.flushes
}

// h2Request returns an extended CONNECT request as net/http's HTTP/2 server
// shows it, for https://example.com/chat, with the header lines of kv (name,
// value pairs; an empty value deletes the line) and body as its stream.
func h2Request(body io.Reader, kv ...string) *http.Request {
	r := httptest.NewRequest(http.MethodConnect, "https://example.com/chat", body)
	r.Host = "example.com" // as net/http's HTTP/2 server sets it from :authority
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Header[":protocol"] = []string{"websocket"}
	r.Header.Set("Sec-WebSocket-Version", "13")
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			r.Header.Del(kv[i])
		} else {
			r.Header.Set(kv[i], kv[i+1])
		}
	}
	return r
}

// h2Peer is the client's side of an h2Fake: the pipe ends it reads the
// response from and writes the request body to.
type h2Peer struct{ in, out net.Conn }

// newH2Fake returns a fake and its client's side, closed when the test ends.
func newH2Fake(t testing.TB) (*h2Fake, h2Peer) {
	bodySrv, bodyCli := net.Pipe()
	outSrv, outCli := net.Pipe()
	t.Cleanup(func() {
		bodySrv.Close()
		bodyCli.Close()
		outSrv.Close()
		outCli.Close()
	})
	f := &h2Fake{body: &h2Body{Conn: bodySrv}, out: outSrv, header: http.Header{}, writes: make(chan struct{}, 1)}
	return f, h2Peer{in: outCli, out: bodyCli}
}

// client returns a client Conn over the peer's side, with neg as settled.
func (p h2Peer) client(neg negotiated) *Conn {
	return newConn(halfPipe{in: p.in, out: p.out}, false, nil, &Options{}, neg)
}

// h2Upgrade upgrades an extended CONNECT made with kv over a fake, and
// returns the server's and the client's Conn. The fake's handler returns
// once the server's Conn is closed, as Upgrade asks.
func h2Upgrade(t testing.TB, opts *Options, kv ...string) (srv, cli *Conn, f *h2Fake) {
	t.Helper()
	f, peer := newH2Fake(t)
	srv, err := Upgrade(f, h2Request(f.body, kv...), opts)
	if err != nil {
		t.Fatalf("Upgrade: %v", err)
	}
	go func() {
		<-srv.Done()
		f.finish()
	}()
	return srv, peer.client(negotiated{subprotocol: srv.Subprotocol()}), f
}

// TestUpgradeHTTP2Handshake checks the answers to extended CONNECT requests:
// the checks of RFC 8441 section 5 and the origin policy with their
// statuses, and the 200 response, flushed, with what was negotiated.
func TestUpgradeHTTP2Handshake(t *testing.T) {
	opts := &Options{Subprotocols: []string{"chat"}, Compression: &CompressionOptions{}}
	cases := []struct {
		name    string
		method  string
		kv      []string
		opts    *Options
		noDL    bool
		status  int
		header  [2]string // a header line the response must have
		bodyHas string
	}{
		{name: "plain", status: 200},
		{name: "subprotocol and compression", kv: []string{"Sec-WebSocket-Protocol", "other, chat", "Sec-WebSocket-Extensions", "permessage-deflate"},
			opts: opts, status: 200, header: [2]string{"Sec-WebSocket-Protocol", "chat"}},
		{name: "compression", kv: []string{"Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"},
			opts: opts, status: 200, header: [2]string{"Sec-WebSocket-Extensions", "permessage-deflate"}},
		{name: "a key is ignored", kv: []string{"Sec-WebSocket-Key", "not a key"}, status: 200},
		{name: "own origin", kv: []string{"Origin", "https://example.com"}, status: 200},
		{name: "GET", method: http.MethodGet, status: 405, header: [2]string{"Allow", "CONNECT"}, bodyHas: "extended CONNECT"},
		{name: "no :protocol", kv: []string{":protocol", ""}, status: 400, bodyHas: ":protocol"},
		{name: "other :protocol", kv: []string{":protocol", "webtransport"}, status: 400, bodyHas: ":protocol"},
		{name: "no version", kv: []string{"Sec-WebSocket-Version", ""}, status: 426, header: [2]string{"Sec-WebSocket-Version", "13"}},
		{name: "version 8", kv: []string{"Sec-WebSocket-Version", "8"}, status: 426, header: [2]string{"Sec-WebSocket-Version", "13"}},
		{name: "foreign origin", kv: []string{"Origin", "https://evil.example"}, status: 403, bodyHas: "Origin"},
		{name: "allowed foreign origin", kv: []string{"Origin", "https://app.example"}, opts: &Options{OriginPatterns: []string{"*.example"}}, status: 200},
		{name: "writer without deadlines", noDL: true, status: 500, bodyHas: "deadlines"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := newH2Fake(t)
			f.noDeadlines = tc.noDL
			f.header.Set("X-Custom", "kept")
			f.header.Set("Sec-WebSocket-Accept", "dropped")
			r := h2Request(f.body, tc.kv...)
			if tc.method != "" {
				r.Method = tc.method
			}
			rec := httptest.NewRecorder()
			var w http.ResponseWriter = f
			if tc.status != 200 {
				w = rec // refusals are written whole; no stream is used
			}
			c, err := Upgrade(w, r, tc.opts)
			if tc.status != 200 {
				var he *handshakeError
				if !errors.As(err, &he) || c != nil {
					t.Fatalf("Upgrade = %v, %v; want a refusal", c, err)
				}
				if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.bodyHas) {
					t.Errorf("answer %d %q, want %d with %q", rec.Code, rec.Body, tc.status, tc.bodyHas)
				}
				if tc.header[0] != "" && rec.Header().Get(tc.header[0]) != tc.header[1] {
					t.Errorf("%s = %q, want %q", tc.header[0], rec.Header().Get(tc.header[0]), tc.header[1])
				}
				return
			}
			if err != nil {
				t.Fatalf("Upgrade: %v", err)
			}
			defer c.CloseNow()
			status, flushes := f.result()
			if status != 200 || flushes != 1 {
				t.Errorf("status %d after %d flushes, want 200 flushed once", status, flushes)
			}
			h := f.header
			if h.Get("X-Custom") != "kept" || h.Get("Sec-WebSocket-Accept") != "" || h.Get("Upgrade") != "" || h.Get("Connection") != "" {
				t.Errorf("response header %v: want X-Custom kept, and no Sec-WebSocket-Accept, Upgrade, Connection", h)
			}
			if tc.header[0] != "" && !strings.HasPrefix(h.Get(tc.header[0]), tc.header[1]) {
				t.Errorf("%s = %q, want %q", tc.header[0], h.Get(tc.header[0]), tc.header[1])
			}
		})
	}
}

// TestIsWebSocketUpgradeHTTP2 checks that an extended CONNECT for websocket
// counts as a WebSocket upgrade, and other HTTP/2 requests do not.
func TestIsWebSocketUpgradeHTTP2(t *testing.T) {
	for _, tc := range []struct {
		r    *http.Request
		want bool
	}{
		{h2Request(nil), true},
		{h2Request(nil, ":protocol", "WebSocket"), true},
		{h2Request(nil, ":protocol", ""), false},
		{h2Request(nil, ":protocol", "connect-udp"), false},
	} {
		if got := IsWebSocketUpgrade(tc.r); got != tc.want {
			t.Errorf("IsWebSocketUpgrade(%s :protocol %q) = %v, want %v", tc.r.Method, tc.r.Header[":protocol"], got, tc.want)
		}
	}
	r := h2Request(nil)
	r.Method = http.MethodGet
	if IsWebSocketUpgrade(r) {
		t.Error("an HTTP/2 GET counts as a WebSocket upgrade")
	}
}

// TestHTTP2Echo runs a connection over the stream: messages of every length
// form, a message larger than the write buffer, a fragmented message, a
// ping, and the close handshake begun by the client, after which the server
// never touches the response writer again.
func TestHTTP2Echo(t *testing.T) {
	srv, cli, f := h2Upgrade(t, &Options{WriteBufferSize: 512})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		echoHandler(srv)
	}()
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 200 << 10} {
		msg := testPayload(BinaryMessage, n, uint64(n))
		if err := cli.WriteMessage(BinaryMessage, msg); err != nil {
			t.Fatalf("WriteMessage(%d bytes): %v", n, err)
		}
		typ, got, err := cli.ReadMessage()
		if err != nil || typ != BinaryMessage {
			t.Fatalf("echo of %d bytes: %v, %v", n, typ, err)
		}
		checkSame(t, "echo", got, msg)
	}
	w, err := cli.NextWriter(TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"frag", "men", "ted"} {
		io.WriteString(w, part)
		cli.Flush()
	}
	w.Close()
	if _, got, err := cli.ReadMessage(); err != nil || string(got) != "fragmented" {
		t.Fatalf("fragmented echo: %q, %v", got, err)
	}
	pong := make(chan string, 1)
	cli.onPong = func(_ *Conn, p []byte) { pong <- string(p) }
	if err := cli.Ping([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	cliRead := readInBackground(cli)
	if p := await(t, pong, "the pong"); p != "hi" {
		t.Errorf("pong %q, want \"hi\"", p)
	}
	if err := cli.Close(StatusNormalClosure, "bye"); err != nil {
		t.Errorf("client Close: %v", err)
	}
	await(t, cliRead, "the client's read to end")
	await(t, ended, "the server's handler to end")
	await(t, srv.Done(), "the server's Done")
	h2CheckFinished(t, srv, f)
}

// h2CheckFinished checks that the closed server Conn srv, whose handler
// has returned, fails every call without using the writer of f.
func h2CheckFinished(t *testing.T, srv *Conn, f *h2Fake) {
	t.Helper()
	f.finish()
	if err := srv.WriteMessage(TextMessage, []byte("late")); err == nil {
		t.Error("WriteMessage after close succeeded")
	}
	if err := srv.SetDeadline(time.Now().Add(time.Second)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetDeadline after close: %v, want net.ErrClosed", err)
	}
	if _, _, err := srv.ReadMessage(); err == nil {
		t.Error("ReadMessage after close succeeded")
	}
	if err := srv.Close(StatusNormalClosure, ""); err == nil {
		t.Error("Close after close succeeded")
	}
	srv.CloseNow()
}

// TestHTTP2ServerClose checks the close handshake begun by the server: its
// close frame reaches the client, whose answer ends the stream.
func TestHTTP2ServerClose(t *testing.T) {
	srv, cli, f := h2Upgrade(t, nil)
	cliRead := readInBackground(cli)
	if err := srv.Close(StatusGoingAway, "later"); err != nil {
		t.Errorf("server Close: %v", err)
	}
	ce := closeErrorOf(t, await(t, cliRead, "the client's read to end"))
	if ce.Code != StatusGoingAway || ce.Reason != "later" {
		t.Errorf("client got %v, want 1001 \"later\"", ce)
	}
	await(t, srv.Done(), "the server's Done")
	h2CheckFinished(t, srv, f)
}

// TestHTTP2CloseNowAbortsWrite checks that closing a Conn whose write waits
// for a client that does not read resets the stream at once, ends the
// write, and closes Done only after the write has returned.
func TestHTTP2CloseNowAbortsWrite(t *testing.T) {
	srv, _, f := h2Upgrade(t, nil)
	wrote := make(chan error, 1)
	go func() { wrote <- srv.WriteMessage(BinaryMessage, make([]byte, 1<<20)) }()
	// The write waits in the pipe, for a client that does not read.
	await(t, f.writes, "the write to reach the stream")
	srv.CloseNow()
	select {
	case <-srv.Done():
	default:
		t.Fatal("Done is not closed when CloseNow returns")
	}
	if err := await(t, wrote, "the write to end"); err == nil {
		t.Error("the write of a closed stream succeeded")
	}
	h2CheckFinished(t, srv, f)
}

// TestHTTP2CloseNowEndsRead checks that closing the Conn ends a read under
// way on the request body.
func TestHTTP2CloseNowEndsRead(t *testing.T) {
	srv, _, _ := h2Upgrade(t, nil)
	read := readInBackground(srv)
	srv.CloseNow()
	if err := await(t, read, "the read to end"); err == nil {
		t.Error("read of a closed stream succeeded")
	}
}

// TestHTTP2Deadlines checks that deadlines reach the stream, and that a
// write that times out says so.
func TestHTTP2Deadlines(t *testing.T) {
	srv, _, _ := h2Upgrade(t, nil)
	defer srv.CloseNow()
	srv.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, _, err := srv.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	srv.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
	if err := srv.WriteMessage(BinaryMessage, make([]byte, 100<<10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("write past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
}

// TestHTTP2ReadTimeoutIsSoft checks that over HTTP/2, as over TCP, a read
// that times out waiting for the next message leaves the Conn usable,
// whether the read deadline passed or a context cut it short: net/http's
// read deadline (the fake's too) would end the request body for good.
func TestHTTP2ReadTimeoutIsSoft(t *testing.T) {
	srv, cli, _ := h2Upgrade(t, nil)
	defer srv.CloseNow()
	defer cli.CloseNow()
	srv.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := srv.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	srv.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := srv.AppendMessageContext(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read past its context: %v, want context.DeadlineExceeded", err)
	}
	srv.SetReadDeadline(time.Now().Add(testTimeout))
	sent := make(chan error, 1)
	go func() { sent <- cli.WriteMessage(TextMessage, []byte("after")) }()
	if _, msg, err := srv.ReadMessage(); err != nil || string(msg) != "after" {
		t.Fatalf("read after the timeouts: %q, %v; want \"after\"", msg, err)
	}
	if err := await(t, sent, "the client's write"); err != nil {
		t.Fatal(err)
	}
}

// TestHTTP2Addrs checks the addresses of a Conn over HTTP/2: those of the
// HTTP/2 connection.
func TestHTTP2Addrs(t *testing.T) {
	f, _ := newH2Fake(t)
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443}
	r := h2Request(f.body)
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, local))
	c, err := Upgrade(f, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.LocalAddr() != local || c.RemoteAddr().String() != r.RemoteAddr || c.RemoteAddr().Network() != "tcp" {
		t.Errorf("addresses %v and %v, want %v and %s", c.LocalAddr(), c.RemoteAddr(), local, r.RemoteAddr)
	}
}

// TestServerHTTP2 checks that Server.ServeHTTP and Handler.ServeHTTP run
// the handler within the request over HTTP/2, return only once the stream
// is closed, and that Shutdown reaches such connections with 1001.
func TestServerHTTP2(t *testing.T) {
	started := make(chan *Conn, 1)
	s := &Server{Handler: func(c *Conn) {
		started <- c
		echoHandler(c)
	}}
	for _, h := range []http.Handler{s, Handler(echoHandler)} {
		f, peer := newH2Fake(t)
		served := make(chan struct{})
		go func() {
			defer close(served)
			h.ServeHTTP(f, h2Request(f.body))
			f.finish()
		}()
		cli := peer.client(negotiated{})
		checkEcho(t, cli, "over HTTP/2")
		await(t, served, "ServeHTTP to return")
	}

	f, peer := newH2Fake(t)
	served := make(chan struct{})
	go func() {
		defer close(served)
		s.ServeHTTP(f, h2Request(f.body))
		f.finish()
	}()
	cli := peer.client(negotiated{})
	<-started // of the first connection
	await(t, started, "the Handler")
	cliRead := readInBackground(cli)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if ce := closeErrorOf(t, await(t, cliRead, "the client's read to end")); ce.Code != StatusGoingAway {
		t.Errorf("client got %v, want 1001", ce)
	}
	await(t, served, "ServeHTTP to return")
}

// TestConnDone checks Done on a plain connection: open until the network
// connection is closed, and closed when first asked for afterwards.
func TestConnDone(t *testing.T) {
	a, b := tcpPair(t)
	c := newConn(a, true, nil, &Options{}, negotiated{})
	done := c.Done()
	select {
	case <-done:
		t.Fatal("Done is closed on an open connection")
	default:
	}
	b.Close()
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("read of a dropped connection succeeded")
	}
	c.CloseNow()
	await(t, done, "Done")
	c2 := newConn(b, true, nil, &Options{}, negotiated{})
	c2.CloseNow()
	await(t, c2.Done(), "Done asked for after the close")
}

// TestEnableExtendedConnect checks EnableExtendedConnect on this Go release,
// and that it sets a configuration field where there is one.
func TestEnableExtendedConnect(t *testing.T) {
	err := EnableExtendedConnect(&http.Server{})
	if xconnectGODEBUG && err != nil || !xconnectGODEBUG && !errors.Is(err, ErrExtendedConnectDisabled) {
		t.Errorf("EnableExtendedConnect with GODEBUG http2xconnect=1 %v: %v", xconnectGODEBUG, err)
	}
	type config struct {
		Other                 int
		EnableConnectProtocol bool
	}
	var p *config
	if !setBoolField(&p, "EnableConnectProtocol") || p == nil || !p.EnableConnectProtocol {
		t.Errorf("setBoolField on a config with the field: %+v", p)
	}
	if setBoolField(&p, "Missing") || setBoolField(&p, "Other") {
		t.Error("setBoolField set a missing or non-bool field")
	}
}

// BenchmarkHTTP2Adapter measures a server's echo of a small message over
// the HTTP/2 stream adapter, with the fake's pipes standing in for net/http.
func BenchmarkHTTP2Adapter(b *testing.B) {
	srv, cli, _ := h2Upgrade(b, nil)
	go echoHandler(srv)
	defer cli.CloseNow()
	msg := bytes.Repeat([]byte("x"), 32)
	b.ReportAllocs()
	for b.Loop() {
		cli.WriteMessage(BinaryMessage, msg)
		cli.ReadMessage()
	}
}

// TestHTTP2Compressed runs permessage-deflate over an HTTP/2 stream: the
// negotiation answers in the 200 response, and compressed messages, with
// context takeover, echo over the stream as over TCP.
func TestHTTP2Compressed(t *testing.T) {
	co := &CompressionOptions{Threshold: -1, WindowBits: 12}
	f, peer := newH2Fake(t)
	srv, err := Upgrade(f, h2Request(f.body, "Sec-WebSocket-Extensions", deflateOffer(co.config())), &Options{Compression: co})
	if err != nil {
		t.Fatalf("Upgrade: %v", err)
	}
	go func() {
		<-srv.Done()
		f.finish()
	}()
	f.mu.Lock()
	answer := f.header["Sec-Websocket-Extensions"]
	f.mu.Unlock()
	p, ok, err := acceptDeflateResponse(answer, co.config())
	if !ok || err != nil || !srv.Compressed() {
		t.Fatalf("answer %q: %v, %v; server compresses: %v", answer, ok, err, srv.Compressed())
	}
	cli := newConn(halfPipe{in: peer.in, out: peer.out}, false, nil, &Options{Compression: co}, negotiated{deflate: p, compress: true})
	go echoHandler(srv)
	gen := newChatGen(4)
	for range 50 {
		msg := gen.next()
		if err := cli.WriteMessage(TextMessage, msg); err != nil {
			t.Fatal(err)
		}
		if _, got, err := cli.ReadMessage(); err != nil || string(got) != string(msg) {
			t.Fatalf("compressed echo: %v", err)
		}
	}
	cliRead := readInBackground(cli)
	cli.Close(StatusNormalClosure, "")
	await(t, cliRead, "the client's read to end")
	await(t, srv.Done(), "the server's Done")
}
