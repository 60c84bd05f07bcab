//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// This file tests the server's opening handshake of RFC 6455 section 4.2 end
// to end, through Upgrade behind net/http and through Serve: requests
// written by hand to a server on loopback TCP, and the responses read back.
// The client's handshake is tested in dial_test.go.

func TestAcceptKey(t *testing.T) {
	tests := []struct{ key, accept string }{
		{"dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}, // RFC 6455 section 1.3
		{"x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="},
		{"H+VLjR1wb4JQ62TmabK87g==", "ccJoRDcGOFzCVrIwpX/qF3BoIN0="},
	}
	for _, tt := range tests {
		if got := AcceptKey(tt.key); got != tt.accept {
			t.Errorf("AcceptKey(%q) = %q, want %q", tt.key, got, tt.accept)
		}
	}
}

// hsRequest returns a handshake request for addr: the request line, then the
// standard handshake headers minus those named in drop, then the extra
// lines (each "Name: value", without line ending).
func hsRequest(addr, requestLine string, drop []string, extra ...string) string {
	var b strings.Builder
	b.WriteString(requestLine + "\r\n")
	std := []string{
		"Host: " + addr,
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: " + testKey,
		"Sec-WebSocket-Version: 13",
	}
	for _, line := range std {
		name, _, _ := strings.Cut(line, ":")
		if !slices.Contains(drop, name) {
			b.WriteString(line + "\r\n")
		}
	}
	for _, line := range extra {
		b.WriteString(line + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// hsGet is the request line of a valid handshake.
const hsGet = "GET / HTTP/1.1"

// hsCase is a handshake request and the answer it must get.
type hsCase struct {
	name        string
	requestLine string   // default hsGet
	drop        []string // standard headers to leave out
	extra       []string // header lines to add
	after       string   // bytes sent right after the request
	status      int
	header      map[string]string // headers the refusal must carry
	bodyHas     string            // text our refusal's body must contain

	// httpRefuses marks requests that net/http's server refuses itself,
	// with a body of its own, before any handler runs; Serve must refuse
	// them with the same status.
	httpRefuses bool
}

// request returns the case's handshake request to addr.
func (tc hsCase) request(addr string) string {
	line := tc.requestLine
	if line == "" {
		line = hsGet
	}
	return hsRequest(addr, line, tc.drop, tc.extra...) + tc.after
}

// hsSmuggled is a masked text frame of 14 bytes, sent as the body of
// requests that must not have one: were it read as the first frame of the
// connection, the echo server would answer it.
var hsSmuggled = string(buildFrame(true, opText, []byte("smuggled"), true, [4]byte{1, 2, 3, 4}))

// hsRequestCases covers every check of RFC 6455 section 4.2.1 that the server
// makes, both ways.
var hsRequestCases = []hsCase{
	{name: "valid", status: 101},
	{name: "POST", requestLine: "POST / HTTP/1.1", extra: []string{"Content-Length: 0"}, status: 405, header: map[string]string{"Allow": "GET"}, bodyHas: "GET"},
	{name: "PUT", requestLine: "PUT / HTTP/1.1", extra: []string{"Content-Length: 0"}, status: 405, header: map[string]string{"Allow": "GET"}, bodyHas: "GET"},
	{name: "HTTP/1.0", requestLine: "GET / HTTP/1.0", status: 400, bodyHas: "HTTP/1.1"},

	{name: "Connection missing", drop: []string{"Connection"}, status: 400, bodyHas: "Connection"},
	{name: "Connection keep-alive", drop: []string{"Connection"}, extra: []string{"Connection: keep-alive"}, status: 400, bodyHas: "Connection"},
	{name: "Connection token prefix", drop: []string{"Connection"}, extra: []string{"Connection: upgraded"}, status: 400, bodyHas: "Connection"},
	{name: "Connection list", drop: []string{"Connection"}, extra: []string{"Connection: keep-alive, Upgrade"}, status: 101},
	{name: "Connection list no space", drop: []string{"Connection"}, extra: []string{"Connection: keep-alive,upgrade"}, status: 101},
	{name: "Connection upper case", drop: []string{"Connection"}, extra: []string{"Connection: UPGRADE"}, status: 101},
	{name: "Connection two lines", drop: []string{"Connection"}, extra: []string{"Connection: keep-alive", "Connection: upgrade"}, status: 101},

	{name: "Upgrade missing", drop: []string{"Upgrade"}, status: 400, bodyHas: "Upgrade"},
	{name: "Upgrade other", drop: []string{"Upgrade"}, extra: []string{"Upgrade: foo/1.0"}, status: 400, bodyHas: "websocket"},
	{name: "Upgrade mixed case", drop: []string{"Upgrade"}, extra: []string{"Upgrade: WebSocket"}, status: 101},
	{name: "Upgrade list", drop: []string{"Upgrade"}, extra: []string{"Upgrade: foo/1.0, websocket"}, status: 101},

	{name: "version missing", drop: []string{"Sec-WebSocket-Version"}, status: 426, header: map[string]string{"Sec-WebSocket-Version": "13"}, bodyHas: "Sec-WebSocket-Version"},
	{name: "version 8", drop: []string{"Sec-WebSocket-Version"}, extra: []string{"Sec-WebSocket-Version: 8"}, status: 426, header: map[string]string{"Sec-WebSocket-Version": "13"}, bodyHas: "Sec-WebSocket-Version"},
	{name: "version 14", drop: []string{"Sec-WebSocket-Version"}, extra: []string{"Sec-WebSocket-Version: 14"}, status: 426, header: map[string]string{"Sec-WebSocket-Version": "13"}, bodyHas: "Sec-WebSocket-Version"},

	{name: "key missing", drop: []string{"Sec-WebSocket-Key"}, status: 400, bodyHas: "Sec-WebSocket-Key"},
	{name: "key empty", drop: []string{"Sec-WebSocket-Key"}, extra: []string{"Sec-WebSocket-Key:"}, status: 400, bodyHas: "Sec-WebSocket-Key"},
	{name: "key not base64", drop: []string{"Sec-WebSocket-Key"}, extra: []string{"Sec-WebSocket-Key: !!!!not*base64*at*all!!!"}, status: 400, bodyHas: "Sec-WebSocket-Key"},
	{name: "key of 15 bytes", drop: []string{"Sec-WebSocket-Key"}, extra: []string{"Sec-WebSocket-Key: MTIzNDU2Nzg5MDEyMzQ1"}, status: 400, bodyHas: "Sec-WebSocket-Key"},
	{name: "key of 17 bytes", drop: []string{"Sec-WebSocket-Key"}, extra: []string{"Sec-WebSocket-Key: MTIzNDU2Nzg5MDEyMzQ1Njc="}, status: 400, bodyHas: "Sec-WebSocket-Key"},
	{name: "key twice", extra: []string{"Sec-WebSocket-Key: " + testKey}, status: 400, bodyHas: "Sec-WebSocket-Key"},

	{name: "HTTP/2.0", requestLine: "GET / HTTP/2.0", status: 505, bodyHas: "HTTP version", httpRefuses: true},
	{name: "HTTP/0.9", requestLine: "GET / HTTP/0.9", status: 505, bodyHas: "HTTP version", httpRefuses: true},

	{name: "control bytes in a value", extra: []string{"X-A: a\x01b\x7f"}, status: 400, bodyHas: "header", httpRefuses: true},
	{name: "DEL in a value", extra: []string{"X-A: a\x7f"}, status: 400, bodyHas: "header", httpRefuses: true},
	{name: "tab and obs-text in a value", extra: []string{"X-A: a\tcaf\xc3\xa9"}, status: 101},
	{name: "Host with a space", drop: []string{"Host"}, extra: []string{"Host: a b"}, status: 400, bodyHas: "Host", httpRefuses: true},
	{name: "Host with a control byte", drop: []string{"Host"}, extra: []string{"Host: a\x01"}, status: 400, bodyHas: "header", httpRefuses: true},
	{name: "Host with a slash", drop: []string{"Host"}, extra: []string{"Host: a/b"}, status: 400, bodyHas: "Host", httpRefuses: true},
	{name: "Host IPv6 with port", drop: []string{"Host"}, extra: []string{"Host: [::1]:80"}, status: 101},

	{name: "Content-Length 0", extra: []string{"Content-Length: 0"}, status: 101},
	{name: "Content-Length 0 twice", extra: []string{"Content-Length: 0", "Content-Length: 0"}, status: 101},
	{name: "Content-Length with a frame", extra: []string{"Content-Length: 14"}, after: hsSmuggled, status: 400, bodyHas: "body"},
	{name: "chunked with a frame", extra: []string{"Transfer-Encoding: chunked"}, after: "e\r\n" + hsSmuggled + "\r\n0\r\n\r\n", status: 400, bodyHas: "body"},
	{name: "Content-Length not a number", extra: []string{"Content-Length: 1x"}, status: 400, bodyHas: "Content-Length", httpRefuses: true},
	{name: "Content-Lengths differ", extra: []string{"Content-Length: 0", "Content-Length: 00"}, status: 400, bodyHas: "Content-Length", httpRefuses: true},
	{name: "Transfer-Encoding gzip", extra: []string{"Transfer-Encoding: gzip"}, status: 501, bodyHas: "Transfer-Encoding", httpRefuses: true},
	{name: "Transfer-Encoding twice", extra: []string{"Transfer-Encoding: chunked", "Transfer-Encoding: chunked"}, status: 501, bodyHas: "Transfer-Encoding", httpRefuses: true},
}

// hsCheckRefusal fails the test unless resp answers tc: its status, headers and
// a plain-text body, which must contain tc.bodyHas if the refusal is ours
// rather than net/http's. It returns the body.
func hsCheckRefusal(t *testing.T, tc hsCase, resp *http.Response, ours bool) string {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	if resp.StatusCode != tc.status {
		t.Fatalf("status %s (%q), want %d", resp.Status, body, tc.status)
	}
	for name, value := range tc.header {
		if got := resp.Header.Get(name); got != value {
			t.Errorf("%s header %q, want %q", name, got, value)
		}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	if ours && (!strings.HasPrefix(string(body), "websocket: ") || !strings.Contains(string(body), tc.bodyHas)) {
		t.Errorf("body %q does not say what was wrong (want %q in it)", body, tc.bodyHas)
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != "" {
		t.Error("refusal carries Sec-WebSocket-Accept")
	}
	return string(body)
}

func TestHandshakeRequests(t *testing.T) {
	hsRunCases(t, serveWS(t, &Server{Handler: echoHandler}, false).Listener.Addr().String(), false)
}

// TestServeHandshakeRequests holds Serve's own parser to the same refusals
// and acceptances as Upgrade behind net/http.
func TestServeHandshakeRequests(t *testing.T) {
	addr, _ := serveListener(t, &Server{Handler: echoHandler})
	hsRunCases(t, addr, true)
}

// hsRunCases sends every request of hsRequestCases to the echo server at
// addr and checks the answers: refusals with their status, headers and
// body, after which the server closes the connection if serve is set (the
// server is Serve's; an http.Server keeps it alive), and acceptances after
// which the connection speaks WebSocket.
func hsRunCases(t *testing.T, addr string, serve bool) {
	for _, tc := range hsRequestCases {
		t.Run(tc.name, func(t *testing.T) {
			c, resp := dialRaw(t, addr, tc.request(addr))
			if tc.status != http.StatusSwitchingProtocols {
				hsCheckRefusal(t, tc, resp, serve || !tc.httpRefuses)
				if serve {
					c.expectEOF()
				}
				return
			}
			hsCheckSwitched(t, resp)
			c.sendFrame(true, opText, []byte("hi"))
			c.expectFrame(opText, "hi")
		})
	}
}

// hsUpgradeServer serves a handler that calls Upgrade with opts and sends the
// result to the test.
func hsUpgradeServer(t *testing.T, opts *Options) (addr string, results <-chan error) {
	t.Helper()
	errc := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, opts)
		switch {
		case err == nil && c == nil:
			err = errors.New("Upgrade returned neither a Conn nor an error")
		case err != nil && c != nil:
			err = errors.New("Upgrade returned a Conn and an error: " + err.Error())
		case c != nil:
			defer c.Close(StatusNormalClosure, "")
		}
		errc <- err
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), errc
}

func TestUpgradeErrors(t *testing.T) {
	addr, results := hsUpgradeServer(t, nil)
	for _, tc := range hsRequestCases {
		t.Run(tc.name, func(t *testing.T) {
			_, resp := dialRaw(t, addr, tc.request(addr))
			if tc.httpRefuses {
				hsCheckRefusal(t, tc, resp, false) // and Upgrade never ran
				return
			}
			err := await(t, results, "the Upgrade handler")
			if tc.status == http.StatusSwitchingProtocols {
				hsCheckSwitched(t, resp)
				if err != nil {
					t.Errorf("Upgrade: %v", err)
				}
				return
			}
			body := hsCheckRefusal(t, tc, resp, true)
			if err == nil {
				t.Fatal("Upgrade returned no error")
			}
			if err.Error() != strings.TrimSpace(body) {
				t.Errorf("Upgrade error %q, but the response said %q", err, body)
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	patterns := []string{"*.example.com", "localhost:*"}
	tests := []struct {
		name     string
		host     string // default: the server's address
		origin   string // "" for no Origin header
		patterns []string
		skip     bool
		status   int
	}{
		{name: "no origin", status: 101},
		{name: "same host", origin: "http://<addr>", status: 101},
		{name: "same host https", origin: "https://<addr>", status: 101},
		{name: "same host other case", host: "Example.COM", origin: "https://example.com", status: 101},
		{name: "different host", origin: "https://evil.example", status: 403},
		{name: "same name other port", host: "example.com:8080", origin: "http://example.com:9090", status: 403},
		{name: "null", origin: "null", status: 403},
		{name: "null with catch-all pattern", origin: "null", patterns: []string{"*"}, status: 403},
		{name: "not a URL", origin: "example.com", patterns: []string{"*"}, status: 403},
		{name: "pattern subdomain", origin: "https://app.example.com", patterns: patterns, status: 101},
		{name: "pattern subdomain other case", origin: "https://App.EXAMPLE.com", patterns: patterns, status: 101},
		{name: "pattern is case-insensitive", origin: "https://app.example.com", patterns: []string{"*.EXAMPLE.COM"}, status: 101},
		{name: "pattern port", origin: "http://localhost:3000", patterns: patterns, status: 101},
		{name: "pattern needs a port", origin: "http://localhost", patterns: patterns, status: 403},
		{name: "pattern apex not matched", origin: "https://example.com", patterns: patterns, status: 403},
		{name: "pattern suffix trick", origin: "https://app.example.com.evil.example", patterns: patterns, status: 403},
		{name: "pattern other host", origin: "https://evil.example", patterns: patterns, status: 403},
		{name: "skip check", origin: "https://evil.example", skip: true, status: 101},
		{name: "skip check null", origin: "null", skip: true, status: 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := &Options{OriginPatterns: tt.patterns, InsecureSkipOriginCheck: tt.skip}
			addr, results := hsUpgradeServer(t, opts)
			host := tt.host
			if host == "" {
				host = addr
			}
			var extra []string
			if tt.origin != "" {
				extra = append(extra, "Origin: "+strings.ReplaceAll(tt.origin, "<addr>", addr))
			}
			_, resp := dialRaw(t, addr, hsRequest(host, hsGet, nil, extra...))
			err := await(t, results, "the Upgrade handler")
			if tt.status == http.StatusSwitchingProtocols {
				hsCheckSwitched(t, resp)
				if err != nil {
					t.Errorf("Upgrade: %v", err)
				}
				return
			}
			hsCheckRefusal(t, hsCase{status: tt.status, bodyHas: "Origin"}, resp, true)
			if err == nil || !strings.Contains(err.Error(), "Origin") {
				t.Errorf("Upgrade error %v, want one about the Origin", err)
			}
		})
	}
}

func TestSubprotocols(t *testing.T) {
	tests := []struct {
		name   string
		server []string
		offer  []string // header lines
		want   string
	}{
		{"server preference", []string{"chat", "superchat"}, []string{"superchat, chat"}, "chat"},
		{"only the second", []string{"chat", "superchat"}, []string{"superchat"}, "superchat"},
		{"none in common", []string{"chat", "superchat"}, []string{"v2.bookings", "other"}, ""},
		{"two header lines", []string{"chat", "superchat"}, []string{"other", "superchat", "chat"}, "chat"},
		{"list without spaces", []string{"superchat"}, []string{"a,superchat,b"}, "superchat"},
		{"case matters", []string{"chat"}, []string{"Chat"}, ""},
		{"no offer", []string{"chat"}, nil, ""},
		{"server has none", nil, []string{"chat"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 1)
			addr, _ := serveConn(t, Options{Subprotocols: tt.server}, func(c *Conn) {
				got <- c.Subprotocol()
				echoHandler(c)
			})
			var extra []string
			for _, o := range tt.offer {
				extra = append(extra, "Sec-WebSocket-Protocol: "+o)
			}
			c, resp := dialRaw(t, addr, hsRequest(addr, hsGet, nil, extra...))
			hsCheckSwitched(t, resp)
			values := resp.Header.Values("Sec-WebSocket-Protocol")
			switch {
			case tt.want == "" && len(values) != 0:
				t.Errorf("response names subprotocol %q, want none", values)
			case tt.want != "" && (len(values) != 1 || values[0] != tt.want):
				t.Errorf("response names subprotocol %q, want %q", values, tt.want)
			}
			if p := await(t, got, "the handler to run"); p != tt.want {
				t.Errorf("Conn.Subprotocol() = %q, want %q", p, tt.want)
			}
			c.sendFrame(true, opText, []byte("x"))
			c.expectFrame(opText, "x")
		})
	}
}

// TestExtensionsDeclined checks that a Server without Options.Compression
// accepts none of the extensions a client asks for, and still talks plain
// frames.
func TestExtensionsDeclined(t *testing.T) {
	addr, _ := serveConn(t, Options{}, echoHandler)
	c, resp := dialRaw(t, addr, hsRequest(addr, hsGet, nil,
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
		"Sec-WebSocket-Extensions: x-webkit-deflate-frame"))
	hsCheckSwitched(t, resp)
	if v := resp.Header.Values("Sec-WebSocket-Extensions"); len(v) != 0 {
		t.Errorf("response accepts extensions %q", v)
	}
	c.sendFrame(true, opText, []byte("plain"))
	c.expectFrame(opText, "plain")
}

// TestResponseHeaders checks that headers set on w.Header() before Upgrade
// are sent with the 101 response, once each.
func TestResponseHeaders(t *testing.T) {
	errc := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "session=abc123; Path=/; HttpOnly")
		w.Header().Add("X-Trace", "one")
		w.Header().Add("X-Trace", "two")
		c, err := Upgrade(w, r, nil)
		if err == nil {
			echoHandler(c)
			c.CloseNow()
		}
		errc <- err
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	c, resp := dialRaw(t, addr, hsRequest(addr, hsGet, nil))
	hsCheckSwitched(t, resp)
	if got := resp.Header.Values("Set-Cookie"); len(got) != 1 || got[0] != "session=abc123; Path=/; HttpOnly" {
		t.Errorf("Set-Cookie %q", got)
	}
	if got := resp.Header.Values("X-Trace"); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("X-Trace %q, want [one two]", got)
	}
	c.sendFrame(true, opBinary, []byte{1, 2, 3})
	c.expectFrame(opBinary, "\x01\x02\x03")
	c.conn.Close()
	if err := await(t, errc, "the Upgrade handler"); err != nil {
		t.Errorf("Upgrade: %v", err)
	}
}

// TestUpgradeCannotHijack calls Upgrade with a ResponseWriter that cannot
// hand over its connection.
func TestUpgradeCannotHijack(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, line := range strings.Split(strings.TrimSpace(hsRequest("example.com", hsGet, []string{"Host"})), "\r\n")[1:] {
		name, value, _ := strings.Cut(line, ": ")
		r.Header.Add(name, value)
	}
	rec := httptest.NewRecorder()
	c, err := Upgrade(rec, r, nil)
	if c != nil || err == nil {
		t.Fatalf("Upgrade = %v, %v; want an error", c, err)
	}
	if !strings.HasPrefix(err.Error(), "websocket: ") || !strings.Contains(err.Error(), "take over") {
		t.Errorf("error %q does not say the connection could not be taken over", err)
	}
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", rec.Code)
	}
	if !strings.Contains(rec.Body.String(), "take over") {
		t.Errorf("body %q does not say what went wrong", rec.Body)
	}
}

// TestEarlyFrames sends frames in the same TCP write as the handshake
// request: the HTTP server reads them into its buffer with the request, and
// the server must lose none of them, whole or fragmented, nor one longer
// than its buffers.
func TestEarlyFrames(t *testing.T) {
	addr, done := serveConn(t, Options{}, echoHandler)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1000) // longer than the server's buffers
	early := cat(
		clientFrame(true, opText, "first"),
		clientFrame(true, opPing, "ping"),
		clientFrame(false, opBinary, "frag"),
		clientFrame(true, opContinuation, "ment"),
		clientFrame(true, opBinary, string(big)),
	)
	c, resp := dialRaw(t, addr, handshakeRequest(addr, "")+string(early))
	hsCheckSwitched(t, resp)
	c.expectFrame(opText, "first")
	c.expectFrame(opPong, "ping")
	c.expectFrame(opBinary, "fragment")
	c.expectFrame(opBinary, string(big))
	c.sendFrame(true, opClose, closePayload(StatusNormalClosure, ""))
	c.expectFrame(opClose, string(closePayload(StatusNormalClosure, "")))
	c.expectEOF()
	await(t, done, "the handler to return")
}

// TestHandlerType checks that Handler serves as an http.Handler.
func TestHandlerType(t *testing.T) {
	var h http.Handler = Handler(echoHandler)
	srv := httptest.NewServer(h)
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	c := connect(t, addr)
	c.sendFrame(true, opText, []byte("via Handler"))
	c.expectFrame(opText, "via Handler")
	c.sendFrame(true, opClose, closePayload(StatusGoingAway, ""))
	c.expectFrame(opClose, string(closePayload(StatusGoingAway, "")))
	c.expectEOF()

	// A plain GET is refused.
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain GET: status %s, want 400", resp.Status)
	}
}

// hsHijackRecorder is a ResponseWriter whose Hijack returns conn, for calling
// Upgrade over a connection the test controls.
type hsHijackRecorder struct {
	*httptest.ResponseRecorder
	conn net.Conn
}

func (h hsHijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.conn, bufio.NewReadWriter(bufio.NewReader(h.conn), bufio.NewWriter(h.conn)), nil
}

// TestHandshakeWriteTimeout checks that Options.HandshakeTimeout bounds the
// writing of the 101 response. Over TCP the response fits the socket buffer
// and is written at once whether or not the client reads, so this uses a
// net.Pipe, whose writes wait for the reader: a client that never reads
// must not hold Upgrade for longer than the timeout. (Reading the request
// is bounded by the http.Server's ReadHeaderTimeout, not by Upgrade.)
func TestHandshakeWriteTimeout(t *testing.T) {
	srv, cli := net.Pipe()
	defer cli.Close()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Key", testKey)
	r.Header.Set("Sec-WebSocket-Version", "13")

	const timeout = 50 * time.Millisecond
	res := make(chan error, 1)
	start := time.Now()
	go func() {
		c, err := Upgrade(hsHijackRecorder{httptest.NewRecorder(), srv}, r, &Options{HandshakeTimeout: timeout})
		if c != nil {
			c.CloseNow()
		}
		res <- err
	}()
	err := await(t, res, "Upgrade to return although nobody reads its response")
	if err == nil || !strings.Contains(err.Error(), "handshake response") {
		t.Errorf("Upgrade error %v, want one about writing the handshake response", err)
	}
	if elapsed := time.Since(start); elapsed < timeout {
		t.Errorf("Upgrade gave up after %v, before the timeout of %v", elapsed, timeout)
	}
	// Upgrade closed the connection.
	cli.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := cli.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("client read %v, want EOF from a closed connection", err)
	}
}

// TestServerTimeoutsDoNotApply checks that the deadlines an http.Server sets
// for its ReadTimeout and WriteTimeout do not carry over to the upgraded
// connection: an echo still works after they have passed.
func TestServerTimeoutsDoNotApply(t *testing.T) {
	const timeout = 100 * time.Millisecond
	ts := httptest.NewUnstartedServer(&Server{Handler: echoHandler})
	ts.Config.ReadTimeout = timeout
	ts.Config.WriteTimeout = timeout
	ts.Start()
	defer ts.Close()
	addr := ts.Listener.Addr().String()

	// The server set its deadlines when it began reading the request, so
	// they have passed once this much time has since the request was sent.
	passed := time.Now().Add(timeout + 50*time.Millisecond)
	c := connect(t, addr)
	c.sendFrame(true, opText, []byte("before"))
	c.expectFrame(opText, "before")

	time.Sleep(time.Until(passed)) // the thing under test: let the timeouts pass

	c.sendFrame(true, opText, []byte("after"))
	c.expectFrame(opText, "after")
	c.sendFrame(true, opClose, closePayload(StatusNormalClosure, ""))
	c.expectFrame(opClose, string(closePayload(StatusNormalClosure, "")))
	c.expectEOF()
}

// TestUpgradeClearsDeadlines checks that Upgrade clears deadlines left on
// the connection by whatever hijacked it. (The http.Server clears its own
// when it hands over a connection, which TestServerTimeoutsDoNotApply
// checks end to end; a Hijacker of some middleware need not.)
func TestUpgradeClearsDeadlines(t *testing.T) {
	srv, cli := net.Pipe()
	defer cli.Close()
	cli.SetDeadline(time.Now().Add(testTimeout))
	srv.SetDeadline(time.Now().Add(-time.Second)) // long expired
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Key", testKey)
	r.Header.Set("Sec-WebSocket-Version", "13")

	res := make(chan error, 1)
	go func() {
		c, err := Upgrade(hsHijackRecorder{httptest.NewRecorder(), srv}, r, nil)
		if err != nil {
			res <- err
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.ReadMessage()
		if err == nil {
			err = c.WriteMessage(typ, msg)
		}
		res <- err
	}()
	c, resp := rawClientFrom(t, cli)
	hsCheckSwitched(t, resp)
	c.sendFrame(true, opText, []byte("still open"))
	c.expectFrame(opText, "still open")
	if err := await(t, res, "the Upgrade handler"); err != nil {
		t.Errorf("server side: %v", err)
	}
}

func BenchmarkUpgrade(b *testing.B) {
	addr := serveWS(b, &Server{Handler: echoHandler}, false).Listener.Addr().String()
	req := []byte(handshakeRequest(addr, ""))
	want := []byte("HTTP/1.1 101 ")
	buf := make([]byte, 1024)
	b.ReportAllocs()
	for b.Loop() {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		// Read up to the end of the response headers.
		n := 0
		for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
			m, err := conn.Read(buf[n:])
			if err != nil {
				b.Fatalf("reading the response: %v (%q)", err, buf[:n])
			}
			n += m
		}
		if !bytes.HasPrefix(buf[:n], want) {
			b.Fatalf("response %q", buf[:n])
		}
		// Reset rather than close, so that no connection lingers in
		// TIME_WAIT and the benchmark does not run out of ports.
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}
}
