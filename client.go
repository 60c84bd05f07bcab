package websocket

// This file holds what the client's Dial shares on every platform, the
// browser's (js/wasm) included: DialOptions, the checks of the URL and the
// subprotocols, and the errors a dial returns.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// DialOptions configures Dial. The zero value is ready to use. In the
// browser (GOOS=js) Dial refuses the fields it cannot honour; see Dial there
// and the package documentation.
type DialOptions struct {
	// Options applies to the client's connection as to a server's:
	// Subprotocols are offered in the given order, HandshakeTimeout bounds
	// the whole dial when ctx has no earlier deadline, and ReadLimit,
	// CloseTimeout, buffer sizes and OnPong work as documented there. The
	// origin fields are ignored; set an Origin header in Header instead.
	Options

	// Header holds extra request headers, such as Origin, Authorization or
	// Cookie. The headers of the handshake itself are set by Dial, except
	// that a Host value, which must be host[:port], replaces the URL's
	// host in the request.
	Header http.Header

	// Jar, if not nil, keeps cookies as http.Client.Jar does: it is asked
	// about the URL with the scheme http for ws and https for wss (so that
	// Secure cookies go to wss:// only), its cookies join any Cookie header
	// in Header in a single Cookie line, and the Set-Cookie lines of the
	// server's response, whether 101 or a refusal, go to Jar.SetCookies.
	Jar http.CookieJar

	// TLSConfig configures wss:// connections. If nil, the default
	// configuration is used; if its ServerName is empty, the URL's host
	// is used.
	TLSConfig *tls.Config

	// Proxy returns the proxy to tunnel through for a request, as
	// http.Transport.Proxy does; nil, or a nil URL, means a direct
	// connection. It is asked about the URL with the scheme http for ws
	// and https for wss, so http.ProxyFromEnvironment follows HTTP_PROXY
	// for ws://, HTTPS_PROXY for wss:// and NO_PROXY (it ignores
	// ALL_PROXY, and never proxies localhost or loopback addresses).
	//
	// The proxy URL's scheme chooses the protocol:
	//   - http (or none): HTTP CONNECT, with Basic credentials from the
	//     URL's user information sent in the clear. Default port 80.
	//   - https: the same inside TLS to the proxy, verified with TLSConfig
	//     (its roots and client certificates) against the proxy's host
	//     name; TLSConfig.ServerName applies to the server only. Default
	//     port 443. (net/http also uses its TLSClientConfig for the proxy.)
	//   - socks5: SOCKS5 (RFC 1928), with username and password (RFC 1929)
	//     from the user information if the proxy asks for them; the server's
	//     host name is resolved here, with net.DefaultResolver, and the proxy
	//     gets an IP address. Default port 1080. Unlike net/http, which
	//     treats socks5 as socks5h, this leaks DNS lookups past the proxy.
	//   - socks5h: the same, but the proxy gets the host name to resolve.
	// The context of Dial bounds each exchange with the proxy, a CONNECT
	// response head may be 16 KiB long at most, and a refusal by the proxy
	// is a *ProxyError.
	Proxy func(*http.Request) (*url.URL, error)

	// NetDialContext makes the TCP connection. Default: a net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// errDialContextDone reports a handshake cut short by the context.
var errDialContextDone = errors.New("websocket: dial cancelled or timed out by its context")

// dialTarget parses the URL given to Dial: ws:// or wss://, or http:// and
// https:// taken as the same, without user information. secure reports wss
// or https. It returns opts, or empty DialOptions if opts is nil.
func dialTarget(rawURL string, opts *DialOptions) (u *url.URL, secure bool, _ *DialOptions, err error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err = url.Parse(rawURL)
	if err != nil {
		return nil, false, nil, fmt.Errorf("websocket: bad URL: %w", err)
	}
	switch u.Scheme {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, false, nil, fmt.Errorf("websocket: URL scheme %q is not ws or wss", u.Scheme)
	}
	if u.User != nil {
		return nil, false, nil, errors.New("websocket: user information in the URL is not supported; send credentials in an Authorization header (DialOptions.Header), or, in the browser, a cookie or the URL's query")
	}
	return u, secure, opts, nil
}

// checkSubprotocols returns an error unless the subprotocols to offer are
// distinct tokens, as RFC 6455 section 4.1 requires.
func checkSubprotocols(list []string) error {
	for i, p := range list {
		if !isToken([]byte(p)) || slices.Contains(list[:i], p) {
			return fmt.Errorf("websocket: subprotocol %q is not a token or is listed twice (RFC 6455 section 4.1)", p)
		}
	}
	return nil
}

// isToken reports whether b is a non-empty HTTP token (RFC 9110 section
// 5.6.2), the syntax of methods, header names and subprotocols.
func isToken(b []byte) bool {
	for _, c := range b {
		if !isTchar(c) {
			return false
		}
	}
	return len(b) > 0
}

// withContextErr returns err, marked as errDialContextDone and wrapping
// ctx's error if ctx has ended: a read cut short by the context fails only
// with an i/o timeout, which would not say why. A deadline counts as passed
// from its instant, even if ctx's timer has not fired yet.
func withContextErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(d) {
		cerr = context.DeadlineExceeded
	}
	switch {
	case cerr == nil:
		return err
	case err == errDialContextDone:
		return fmt.Errorf("%w (%w)", errDialContextDone, cerr)
	}
	return fmt.Errorf("%w (%w): %w", errDialContextDone, cerr, err)
}

// RedirectError is the error Dial returns when the server answers the
// handshake with a redirection (a 3xx status). Dial does not follow
// redirects, which RFC 6455 section 4.1 allows but does not require: a
// caller that trusts the new location can dial it, minding whether the
// credentials in DialOptions.Header should go there, and whether it leaves
// wss for ws.
type RedirectError struct {
	// StatusCode is the response's status, 300 to 399.
	StatusCode int
	// Location is the response's Location resolved against the URL dialed
	// (so "/new" on ws://host/old gives ws://host/new); empty if there is
	// none or it is not a URL reference.
	Location string
}

// Error says where the server pointed, and that Dial did not go there.
func (e *RedirectError) Error() string {
	where := "without a Location"
	if e.Location != "" {
		where = "to " + e.Location
	}
	return fmt.Sprintf("websocket: server redirected the handshake (%d %s) %s; Dial does not follow redirects",
		e.StatusCode, http.StatusText(e.StatusCode), where)
}

// ProxyError is the error Dial returns when a proxy answered but would not
// open the tunnel to the server: an HTTP proxy's CONNECT response with a
// status other than 2xx, or a SOCKS5 proxy's failure reply or refusal of
// every offered authentication. Network errors on the way to the proxy and
// answers that break the protocol are other errors.
type ProxyError struct {
	// Proxy is the proxy's scheme, host and port, without credentials.
	Proxy string
	// Target is the host and port the tunnel was asked to reach.
	Target string
	// Code is the HTTP status of the CONNECT response, or the SOCKS5 reply
	// code of RFC 1928 section 6 (1 to 255). It is 0 when a SOCKS5 proxy
	// accepted none of the offered authentication methods or refused the
	// username and password.
	Code int
	// Reason says in words what the proxy answered.
	Reason string
}

// Error returns "websocket: proxy P refused the tunnel to T: reason".
func (e *ProxyError) Error() string {
	return "websocket: proxy " + e.Proxy + " refused the tunnel to " + e.Target + ": " + e.Reason
}
