//go:build !js

package websocket

// This file holds the client's proxies: choosing one with
// DialOptions.Proxy, and opening a tunnel through an HTTP CONNECT proxy
// (http:// or https://) or a SOCKS5 proxy (socks5:// or socks5h://,
// RFC 1928 with the username/password authentication of RFC 1929).

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

// maxConnectResponse bounds the head of an HTTP proxy's answer to CONNECT.
const maxConnectResponse = 16 << 10

// errConnectResponseTooLong reports a CONNECT response head over
// maxConnectResponse bytes.
var errConnectResponseTooLong = errors.New("response head exceeds 16 KiB")

// proxyFor returns the proxy that opts.Proxy chooses for u, or nil for a
// direct connection. The function is asked about the http:// or https://
// form of u, as http.Transport asks it, so http.ProxyFromEnvironment reads
// HTTP_PROXY for ws:// and HTTPS_PROXY for wss://.
func proxyFor(u *url.URL, secure bool, opts *DialOptions) (*url.URL, error) {
	if opts.Proxy == nil {
		return nil, nil
	}
	hu := httpURL(u, secure)
	p, err := opts.Proxy(&http.Request{Method: http.MethodGet, URL: hu, Header: http.Header{}, Host: u.Host})
	if err != nil {
		return nil, fmt.Errorf("websocket: choosing a proxy: %w", err)
	}
	return p, nil
}

// httpURL returns a copy of u with the scheme http, or https if secure:
// the URL that proxy functions and cookie jars expect.
func httpURL(u *url.URL, secure bool) *url.URL {
	hu := *u
	hu.Scheme = "http"
	if secure {
		hu.Scheme = "https"
	}
	return &hu
}

// tunnel is a connection to a proxy on its way to becoming a tunnel to
// target.
type tunnel struct {
	conn   net.Conn
	proxy  *url.URL
	name   string // the proxy's scheme://host:port, for errors
	target string // the host:port to reach
}

// dialProxy opens a tunnel to addr through the proxy at p, chosen by its
// scheme: http (also when empty), https, socks5 or socks5h. An https proxy
// is verified with tlsConfig against its own host name. Every exchange with
// the proxy is bounded by ctx.
func dialProxy(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), p *url.URL, addr string, tlsConfig *tls.Config) (net.Conn, error) {
	scheme := p.Scheme
	if scheme == "" {
		scheme = "http"
	}
	var port string
	switch scheme {
	case "http":
		port = "80"
	case "https":
		port = "443"
	case "socks5", "socks5h":
		port = "1080"
	default:
		return nil, fmt.Errorf("websocket: proxy scheme %q is not supported; use http, https, socks5 or socks5h", p.Scheme)
	}
	if p.Hostname() == "" {
		return nil, fmt.Errorf("websocket: proxy URL %q has no host", p.Redacted())
	}
	if p.Port() != "" {
		port = p.Port()
	}
	proxyAddr := net.JoinHostPort(p.Hostname(), port)
	t := &tunnel{proxy: p, name: scheme + "://" + proxyAddr, target: addr}
	conn, err := dial(ctx, "tcp", proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("websocket: dial proxy %s: %w", t.name, err)
	}
	t.conn = conn
	if scheme == "https" {
		t.conn = tls.Client(conn, proxyTLSConfig(tlsConfig, p.Hostname()))
	}
	err = boundByContext(ctx, t.conn, func() error {
		switch scheme {
		case "socks5":
			return t.socksConnect(ctx, false)
		case "socks5h":
			return t.socksConnect(ctx, true)
		}
		return t.httpConnect()
	})
	if err != nil {
		closeNetConn(t.conn) // a close_notify could outlast ctx
		return nil, err
	}
	return t.conn, nil
}

// proxyTLSConfig returns the TLS configuration for an https proxy named
// host: a copy of cfg (its roots, client certificates and so on) that
// checks the proxy's certificate against host, whatever ServerName cfg sets
// for the WebSocket server, and offers HTTP/1.1 alone with ALPN, since
// CONNECT is spoken in it.
func proxyTLSConfig(cfg *tls.Config, host string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	cfg.ServerName = host
	cfg.NextProtos = []string{"http/1.1"}
	return cfg
}

// boundByContext runs step with conn's deadline set to that of ctx and cut
// short when ctx ends. The deadline stays: Dial sets its own afterwards, and
// notices if ctx ended.
func boundByContext(ctx context.Context, conn net.Conn, step func() error) error {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	return step()
}

// errorf returns an error about the exchange with the proxy, naming it and
// the target.
func (t *tunnel) errorf(format string, args ...any) error {
	return fmt.Errorf("websocket: proxy %s, tunnel to %s: "+format, append([]any{t.name, t.target}, args...)...)
}

// readFailed returns the error for a failed read of the proxy's answer
// what, saying so if the proxy closed the connection instead.
func (t *tunnel) readFailed(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return t.errorf("the proxy closed the connection before the end of %s: %w", what, err)
	}
	return t.errorf("reading %s: %w", what, err)
}

// refused returns the ProxyError for a refusal with the given code.
func (t *tunnel) refused(code int, reason string) error {
	return &ProxyError{Proxy: t.name, Target: t.target, Code: code, Reason: reason}
}

// httpConnect asks an HTTP proxy for a tunnel with CONNECT (RFC 9110
// section 9.3.6), sending Basic credentials from the proxy URL's user
// information, and reads the answer up to the end of its head only, so no
// byte of the tunnel is lost. The head may be at most maxConnectResponse
// bytes long.
func (t *tunnel) httpConnect() error {
	if tc, ok := t.conn.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			return t.errorf("TLS handshake with the proxy: %w", err)
		}
	}
	req := "CONNECT " + t.target + " HTTP/1.1\r\nHost: " + t.target + "\r\n"
	if user := t.proxy.User; user != nil {
		pass, _ := user.Password()
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user.Username()+":"+pass)) + "\r\n"
	}
	if _, err := io.WriteString(t.conn, req+"\r\n"); err != nil {
		return t.errorf("sending CONNECT: %w", err)
	}
	head := &headReader{r: t.conn, n: maxConnectResponse, err: errConnectResponseTooLong}
	resp, err := http.ReadResponse(bufio.NewReaderSize(oneByteReader{head}, 16), &http.Request{Method: http.MethodConnect})
	if err != nil {
		if head.n <= 0 {
			// The parser may have seen a line cut short by the limit
			// before the limit's error.
			err = errConnectResponseTooLong
		}
		return t.readFailed("the CONNECT response", err)
	}
	if resp.StatusCode/100 != 2 {
		return t.refused(resp.StatusCode, resp.Status)
	}
	return nil
}

// oneByteReader reads at most one byte per call, so that a bufio.Reader
// over it never reads past what it is asked to parse: the bytes after the
// proxy's answer belong to the tunnel.
type oneByteReader struct{ r io.Reader }

// Read reads at most one byte into p.
func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

// SOCKS5 protocol numbers (RFC 1928, RFC 1929).
const (
	socksVersion      = 0x05
	socksAuthVersion  = 0x01 // of the username/password subnegotiation
	socksNoAuth       = 0x00
	socksUserPass     = 0x02
	socksNoAcceptable = 0xff
	socksCmdConnect   = 0x01
	socksIPv4         = 0x01
	socksDomain       = 0x03
	socksIPv6         = 0x04
)

// socksReplies names the failure reply codes of RFC 1928 section 6.
var socksReplies = [...]string{
	1: "general SOCKS server failure",
	2: "connection not allowed by ruleset",
	3: "network unreachable",
	4: "host unreachable",
	5: "connection refused",
	6: "TTL expired",
	7: "command not supported",
	8: "address type not supported",
}

// socksReplyReason says in words what SOCKS5 reply code rep means.
func socksReplyReason(rep byte) string {
	reason := "unassigned reply code"
	if int(rep) < len(socksReplies) && socksReplies[rep] != "" {
		reason = socksReplies[rep]
	}
	return fmt.Sprintf("%s (SOCKS5 reply %#02x)", reason, rep)
}

// socksConnect asks a SOCKS5 proxy for a tunnel: method negotiation,
// authentication if the proxy wants it, then a CONNECT request for the
// target, by name if remoteDNS (socks5h) and otherwise by an address
// resolved here (socks5). It reads exactly the proxy's replies.
func (t *tunnel) socksConnect(ctx context.Context, remoteDNS bool) error {
	dst, err := socksAddress(ctx, t.target, remoteDNS)
	if err != nil {
		return t.errorf("%w", err)
	}
	if err := t.socksAuthenticate(); err != nil {
		return err
	}
	req := append([]byte{socksVersion, socksCmdConnect, 0}, dst...)
	if _, err := t.conn.Write(req); err != nil {
		return t.errorf("sending the SOCKS5 request: %w", err)
	}
	rep, err := readSOCKSReply(t.conn)
	if err != nil {
		return t.readFailed("the SOCKS5 reply", err)
	}
	if rep != 0 {
		return t.refused(int(rep), socksReplyReason(rep))
	}
	return nil
}

// socksAuthenticate offers no authentication, and username/password if the
// proxy URL has user information, and authenticates as the proxy chooses.
func (t *tunnel) socksAuthenticate() error {
	user := t.proxy.User
	offer := []byte{socksVersion, 1, socksNoAuth}
	if user != nil {
		offer = []byte{socksVersion, 2, socksNoAuth, socksUserPass}
	}
	if _, err := t.conn.Write(offer); err != nil {
		return t.errorf("sending the SOCKS5 greeting: %w", err)
	}
	var b [2]byte
	if _, err := io.ReadFull(t.conn, b[:]); err != nil {
		return t.readFailed("the SOCKS5 method choice", err)
	}
	if b[0] != socksVersion {
		return t.errorf("the proxy answered with version %d, not SOCKS5", b[0])
	}
	switch {
	case b[1] == socksNoAuth:
		return nil
	case b[1] == socksUserPass && user != nil:
		return t.socksUserPass(user)
	case b[1] == socksNoAcceptable && user == nil:
		return t.refused(0, "it requires authentication; put a username and password in the proxy URL")
	case b[1] == socksNoAcceptable:
		return t.refused(0, "it accepts neither no authentication nor username/password")
	}
	return t.errorf("the proxy chose authentication method %#02x, which was not offered", b[1])
}

// socksUserPass authenticates with the username and password of RFC 1929.
func (t *tunnel) socksUserPass(user *url.Userinfo) error {
	name := user.Username()
	pass, _ := user.Password()
	if len(name) == 0 || len(name) > 255 || len(pass) > 255 {
		return t.errorf("a SOCKS5 username must have 1 to 255 bytes and a password at most 255")
	}
	msg := append([]byte{socksAuthVersion, byte(len(name))}, name...)
	msg = append(append(msg, byte(len(pass))), pass...)
	if _, err := t.conn.Write(msg); err != nil {
		return t.errorf("sending the SOCKS5 credentials: %w", err)
	}
	var b [2]byte
	if _, err := io.ReadFull(t.conn, b[:]); err != nil {
		return t.readFailed("the SOCKS5 authentication status", err)
	}
	if b[0] != socksAuthVersion {
		return t.errorf("the proxy answered the credentials with version %d, not 1", b[0])
	}
	if b[1] != 0 {
		return t.refused(0, fmt.Sprintf("username and password refused (status %#02x)", b[1]))
	}
	return nil
}

// socksAddress returns the address type, address and port of host:port
// target as a SOCKS5 request carries them: an IP literal as such, a name as
// a domain if remoteDNS and otherwise as the first address that
// net.DefaultResolver returns for it.
func socksAddress(ctx context.Context, target string, remoteDNS bool) ([]byte, error) {
	host, portText, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port %q", portText)
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err == nil:
	case remoteDNS:
		if len(host) > 255 {
			return nil, fmt.Errorf("host name of %d bytes is too long for SOCKS5 (255 at most)", len(host))
		}
		b := append([]byte{socksDomain, byte(len(host))}, host...)
		return append(b, byte(port>>8), byte(port)), nil
	default:
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolving the host for the socks5 proxy (socks5h would leave it to the proxy): %w", err)
		}
		ip = ips[0]
	}
	if ip.Zone() != "" {
		return nil, fmt.Errorf("IPv6 zone of %s cannot be sent to a SOCKS5 proxy", host)
	}
	ip = ip.Unmap()
	b := []byte{socksIPv6}
	if ip.Is4() {
		b[0] = socksIPv4
	}
	b = append(b, ip.AsSlice()...)
	return append(b, byte(port>>8), byte(port)), nil
}

// readSOCKSReply reads a SOCKS5 reply to CONNECT from r (RFC 1928 section
// 6) and returns its reply code. A failure reply (code not 0) is read only
// up to its code, since the proxy closes the connection after it; a
// success is read whole, bound address and all, and nothing more.
func readSOCKSReply(r io.Reader) (byte, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:2]); err != nil {
		return 0, err
	}
	if b[0] != socksVersion {
		return 0, fmt.Errorf("reply has version %d, not SOCKS5", b[0])
	}
	if b[1] != 0 {
		return b[1], nil
	}
	// b[2] is reserved; its value does not matter.
	if _, err := io.ReadFull(r, b[2:]); err != nil {
		return 0, err
	}
	var n int // bytes of address and port still to read
	switch b[3] {
	case socksIPv4:
		n = 4 + 2
	case socksIPv6:
		n = 16 + 2
	case socksDomain:
		if _, err := io.ReadFull(r, b[:1]); err != nil {
			return 0, err
		}
		n = int(b[0]) + 2
	default:
		return 0, fmt.Errorf("reply has unknown address type %#02x", b[3])
	}
	var rest [255 + 2]byte
	if _, err := io.ReadFull(r, rest[:n]); err != nil {
		return 0, err
	}
	return 0, nil
}
