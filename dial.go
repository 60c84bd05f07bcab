//go:build !js

package websocket

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// This file is the client's side of the opening handshake (RFC 6455 section
// 4.1), including HTTP proxies and TLS.

// Dial opens a WebSocket connection to a ws:// or wss:// URL (http:// and
// https:// are taken as the same). opts may be nil. ctx bounds the dial and
// the opening handshake only; cancelling it later does not affect the Conn.
//
// The response is returned whenever the server answered, so that a refused
// handshake can be inspected; its body has been read into the error (at
// most 1 KiB) and closed. A response whose status line and headers exceed
// 16 KiB fails the dial, as does a proxy's answer to CONNECT that does.
// Redirects are not followed: a 3xx answer fails with a *RedirectError.
//
// Values in opts that cannot be sent as they are fail the dial before it
// connects: a Host in Header that is not host[:port], other Header names
// that are not tokens or values with control bytes (CR, LF, NUL...), and
// Subprotocols that are not distinct tokens.
//
// In the browser (GOOS=js), Dial opens the browser's own WebSocket instead,
// and refuses the options the browser cannot honour with ErrNotSupported:
// see the package documentation, In the browser.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	u, secure, opts, err := dialTarget(rawURL, opts)
	if err != nil {
		return nil, nil, err
	}
	addr := hostPort(u, secure)
	req, key, err := clientRequest(u, secure, opts)
	if err != nil {
		return nil, nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, opts.handshakeTimeout())
	defer cancel()

	netConn, err := dialThroughProxy(ctx, u, addr, secure, opts)
	if err != nil {
		return nil, nil, withContextErr(ctx, err)
	}
	// Cut any blocking step short when ctx ends; the deadline of ctx bounds
	// them anyway.
	if d, ok := ctx.Deadline(); ok {
		netConn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { netConn.SetDeadline(time.Unix(1, 0)) })
	c, resp, err := clientHandshake(ctx, netConn, u, secure, req, key, opts)
	if !stop() && err == nil {
		err = errDialContextDone
	}
	if err != nil {
		closeNetConn(netConn) // a close_notify could outlast ctx
		return nil, resp, withContextErr(ctx, err)
	}
	netConn.SetDeadline(time.Time{})
	return c, resp, nil
}

// hostPort returns the URL's host with the default port added if missing.
func hostPort(u *url.URL, secure bool) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if secure {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// dialThroughProxy makes the TCP connection to addr, through a tunnel if
// opts.Proxy names a proxy, and wraps it in TLS when secure.
func dialThroughProxy(ctx context.Context, u *url.URL, addr string, secure bool, opts *DialOptions) (net.Conn, error) {
	dial := opts.NetDialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	proxyURL, err := proxyFor(u, secure, opts)
	if err != nil {
		return nil, err
	}
	var conn net.Conn
	if proxyURL != nil {
		if conn, err = dialProxy(ctx, dial, proxyURL, addr, opts.TLSConfig); err != nil {
			return nil, err
		}
	} else if conn, err = dial(ctx, "tcp", addr); err != nil {
		return nil, fmt.Errorf("websocket: %w", err) // it names the address
	}
	if !secure {
		return conn, nil
	}
	cfg := opts.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = u.Hostname()
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket: TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// maxResponseHead bounds the head (status line and header lines) of a
// response that Dial reads: the server's answer to the opening handshake
// and a proxy's answer to CONNECT.
const maxResponseHead = 16 << 10

var (
	errResponseHeadTooLarge = fmt.Errorf("websocket: handshake response header larger than %d bytes", maxResponseHead)
)

// headReader passes reads on to r until n bytes have been read, and then
// fails them with err: it bounds what http.ReadResponse buffers of a
// response head.
type headReader struct {
	r   io.Reader
	n   int
	err error
}

// Read reads from h.r at most the bytes left of the bound.
func (h *headReader) Read(p []byte) (int, error) {
	if h.n <= 0 {
		return 0, h.err
	}
	if len(p) > h.n {
		p = p[:h.n]
	}
	n, err := h.r.Read(p)
	h.n -= n
	return n, err
}

// clientRequest returns the opening handshake request for u, with a fresh
// Sec-WebSocket-Key, and that key. It refuses values of opts that would not
// make a well-formed request, so that none can add header lines.
func clientRequest(u *url.URL, secure bool, opts *DialOptions) (req, key string, err error) {
	target := u.RequestURI()
	if !isRequestTarget([]byte(target)) {
		return "", "", fmt.Errorf("websocket: the URL's path and query %q contain a space", target)
	}
	host := u.Host // url.Parse has checked it
	if h := opts.Header.Get("Host"); h != "" {
		if !validHost(h) {
			return "", "", fmt.Errorf("websocket: Host %q in DialOptions.Header is not host[:port]", h)
		}
		host = h
	}
	if err := checkSubprotocols(opts.Subprotocols); err != nil {
		return "", "", err
	}
	extra := make(http.Header, len(opts.Header))
	for name, values := range opts.Header {
		if handshakeHeaders[http.CanonicalHeaderKey(name)] {
			continue
		}
		if !isToken([]byte(name)) {
			return "", "", fmt.Errorf("websocket: request header name %q is not a token", name)
		}
		for _, v := range values {
			if !validHeaderValue([]byte(v)) {
				return "", "", fmt.Errorf("websocket: value %q of request header %s contains control bytes", v, name)
			}
		}
		extra[name] = values
	}

	var raw [16]byte
	rand.Read(raw[:])
	key = base64.StdEncoding.EncodeToString(raw[:])
	var b strings.Builder
	b.WriteString("GET " + target + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n")
	if len(opts.Subprotocols) > 0 {
		b.WriteString("Sec-WebSocket-Protocol: " + strings.Join(opts.Subprotocols, ", ") + "\r\n")
	}
	if opts.Compression != nil {
		b.WriteString("Sec-WebSocket-Extensions: " + deflateOffer(opts.Compression.config()) + "\r\n")
	}
	extra = withJarCookies(extra, opts.Jar, httpURL(u, secure))
	extra.Write(&b)
	b.WriteString("\r\n")
	return b.String(), key, nil
}

// clientHandshake sends the opening handshake request req, made by
// clientRequest with key, over conn and checks the response strictly (RFC
// 6455 section 4.1).
func clientHandshake(ctx context.Context, conn net.Conn, u *url.URL, secure bool, req, key string, opts *DialOptions) (*Conn, *http.Response, error) {
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, nil, fmt.Errorf("websocket: sending the handshake request: %w", err)
	}

	// The bound counts every byte br reads, frames after the head
	// included; a head within it is read whole before it is reached.
	head := &headReader{r: conn, n: maxResponseHead, err: errResponseHeadTooLarge}
	br := bufio.NewReaderSize(head, bufferSize(opts.ReadBufferSize))
	resp, err := http.ReadResponse(br, (&http.Request{Method: http.MethodGet, URL: u}).WithContext(ctx))
	switch {
	case errors.Is(err, errResponseHeadTooLarge):
		return nil, nil, errResponseHeadTooLarge
	case err != nil:
		return nil, nil, fmt.Errorf("websocket: reading the handshake response: %w", err)
	}
	head.n = math.MaxInt // checkResponse reads at most 1 KiB of a refusal's body
	if cookies := resp.Cookies(); opts.Jar != nil && len(cookies) > 0 {
		opts.Jar.SetCookies(httpURL(u, secure), cookies)
	}
	neg, err := checkResponse(resp, key, &opts.Options)
	if err != nil {
		return nil, resp, err
	}
	buffered, _ := br.Peek(br.Buffered())
	c := newConn(conn, false, buffered, &opts.Options, neg)
	return c, resp, nil
}

// checkResponse checks the server's answer to the opening handshake against
// what opts offered, and returns what was negotiated.
func checkResponse(resp *http.Response, key string, opts *Options) (neg negotiated, err error) {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		if resp.StatusCode/100 == 3 {
			return neg, newRedirectError(resp)
		}
		return neg, fmt.Errorf("websocket: server answered %s instead of 101 Switching Protocols: %q", resp.Status, body)
	}
	h := resp.Header
	switch {
	case !hasToken(h["Upgrade"], "websocket"):
		return neg, errors.New("websocket: handshake response lacks Upgrade: websocket")
	case !hasToken(h["Connection"], "upgrade"):
		return neg, errors.New("websocket: handshake response lacks Connection: upgrade")
	case len(h["Sec-Websocket-Accept"]) != 1 || h.Get("Sec-Websocket-Accept") != AcceptKey(key):
		return neg, errors.New("websocket: handshake response has a wrong Sec-WebSocket-Accept; the server does not speak RFC 6455")
	case len(h["Sec-Websocket-Extensions"]) > 0 && opts.Compression == nil:
		return neg, errors.New("websocket: server chose an extension that was not offered")
	case opts.Compression != nil:
		if neg.deflate, neg.compress, err = acceptDeflateResponse(h["Sec-Websocket-Extensions"], opts.Compression.config()); err != nil {
			return neg, err
		}
	}
	if p := h["Sec-Websocket-Protocol"]; len(p) > 0 {
		if len(p) > 1 || !slices.Contains(opts.Subprotocols, p[0]) {
			return neg, fmt.Errorf("websocket: server chose subprotocol %q, which was not offered", strings.Join(p, ", "))
		}
	}
	neg.subprotocol = h.Get("Sec-Websocket-Protocol")
	return neg, nil
}

// newRedirectError returns the RedirectError for a 3xx response.
func newRedirectError(resp *http.Response) *RedirectError {
	e := &RedirectError{StatusCode: resp.StatusCode}
	if loc, err := resp.Location(); err == nil {
		e.Location = loc.String()
	}
	return e
}

// withJarCookies returns h with the cookies jar has for u added to its
// Cookie header, all in one line as RFC 6265 section 5.4 requires. h may be
// nil, and is changed in place otherwise.
func withJarCookies(h http.Header, jar http.CookieJar, u *url.URL) http.Header {
	if jar == nil {
		return h
	}
	cookies := jar.Cookies(u)
	if len(cookies) == 0 {
		return h
	}
	parts := h["Cookie"]
	for _, c := range cookies {
		if s := (&http.Cookie{Name: c.Name, Value: c.Value, Quoted: c.Quoted}).String(); s != "" {
			parts = append(parts, s)
		}
	}
	if h == nil {
		h = http.Header{}
	}
	h["Cookie"] = []string{strings.Join(parts, "; ")}
	return h
}
