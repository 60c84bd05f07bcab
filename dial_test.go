//go:build !js

package websocket

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file tests Dial and the client's opening handshake: the request it
// sends, the responses it refuses, frames that come with the response, URLs,
// TLS, timeouts and cancellation, against our own Server and hand-written
// fake servers. A client Conn's reading, writing and closing are tested
// beside the server's, in read_test.go, write_test.go and close_test.go.

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
			r := await(t, sent, "the request")
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
			addr, done := serveConn(t, Options{}, echoHandler)
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
			await(t, done, "the handler to return")
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

// TestDialEarlyFrames has a fake server send frames in the same TCP write as
// its 101 response; the client must read them as the first messages, and
// answer a ping among them.
func TestDialEarlyFrames(t *testing.T) {
	big := testPayload(BinaryMessage, 10000, 5)
	cases := []struct {
		name  string
		early []byte
		want  []string
		pong  bool
	}{
		{"text", unmaskedFrame(true, opText, "first"), []string{"first"}, false},
		{"two frames", cat(unmaskedFrame(false, opText, "fir"), unmaskedFrame(true, opContinuation, "st")), []string{"first"}, false},
		{"ping and text", cat(unmaskedFrame(true, opPing, "hi"), unmaskedFrame(true, opText, "first")), []string{"first"}, true},
		{"beyond the buffer", unmaskedFrame(true, opBinary, string(big)), []string{string(big)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns := fakeServer(t)
			res := dialAsync(context.Background(), wsURL(addr), nil)
			fc := nextFake(t, conns)
			fc.write(t, string(fc.response101())+string(tc.early))
			c := awaitDial(t, res).mustConn(t)
			rc := fc.raw(t)
			rc.sendFrame(true, opText, []byte("later"))
			for _, want := range append(tc.want, "later") {
				_, got, err := c.ReadMessage()
				if err != nil {
					t.Fatalf("ReadMessage: %v", err)
				}
				checkSame(t, "message", got, []byte(want))
			}
			if tc.pong {
				rc.expectFrame(opPong, "hi")
			}
		})
	}
}
