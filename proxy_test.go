//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// This file tests what Dial does beyond RFC 6455 as net/http's client does:
// proxies (HTTP CONNECT over TCP or TLS, SOCKS5 against fake proxies written
// here, on 127.0.0.1 only), cookie jars and redirects.

// loopbackServer accepts connections on 127.0.0.1 and runs a handler on
// each in a goroutine of its own. At cleanup it closes the listener and
// every connection, including those given to track, and waits for the
// handlers.
type loopbackServer struct {
	addr string

	mu     sync.Mutex
	open   []net.Conn
	closed bool
}

// startLoopback starts a loopbackServer, in TLS with config if not nil.
// Each connection gets a deadline of testTimeout as a safety bound.
func startLoopback(t testing.TB, config *tls.Config, handle func(s *loopbackServer, conn net.Conn)) *loopbackServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &loopbackServer{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.track(conn)
			conn.SetDeadline(time.Now().Add(testTimeout))
			if config != nil {
				conn = tls.Server(conn, config)
			}
			wg.Go(func() {
				defer conn.Close()
				handle(s, conn)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		s.closed = true
		for _, c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	return s
}

// track records conn for closing at cleanup, or closes it if that has
// begun.
func (s *loopbackServer) track(conn net.Conn) {
	s.mu.Lock()
	if s.closed {
		conn.Close()
	}
	s.open = append(s.open, conn)
	s.mu.Unlock()
}

// dialUp connects a proxy to port on 127.0.0.1, whatever host it was asked
// for, and tracks the connection.
func (s *loopbackServer) dialUp(port string) (net.Conn, error) {
	up, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), testTimeout)
	if err != nil {
		return nil, err
	}
	s.track(up)
	up.SetDeadline(time.Now().Add(testTimeout))
	return up, nil
}

// pipe copies between a proxy's client, read through r (which may hold
// bytes already buffered), and up, both ways, passing on each half-close,
// until both directions are done.
func pipe(client net.Conn, r io.Reader, up net.Conn) {
	type closeWriter interface{ CloseWrite() error }
	upDone := make(chan struct{})
	go func() {
		io.Copy(up, r)
		up.(closeWriter).CloseWrite()
		close(upDone)
	}()
	io.Copy(client, up)
	client.(closeWriter).CloseWrite()
	<-upDone
}

// testTLS returns a server configuration with httptest's certificate (valid
// for 127.0.0.1, ::1 and example.com) and a client configuration that
// trusts it, as for the servers of serveWS.
func testTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	client = srv.Client().Transport.(*http.Transport).TLSClientConfig
	server = srv.TLS
	srv.Close()
	return server, client
}

// testProxy is an HTTP CONNECT proxy on 127.0.0.1 for tests, over TLS if
// started so. It tunnels only to 127.0.0.1 and, if auth is set, requires
// that Proxy-Authorization.
type testProxy struct {
	url  *url.URL
	auth string // the Proxy-Authorization value required, or ""

	mu      sync.Mutex
	targets []string // the addresses tunnelled to
}

// startProxy starts a testProxy; user and pass, if set, are required. With
// a TLS configuration it is an https proxy. It stops at cleanup, closing
// its connections.
func startProxy(t testing.TB, user, pass string, config *tls.Config) *testProxy {
	t.Helper()
	p := &testProxy{}
	if user != "" {
		p.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	s := startLoopback(t, config, func(s *loopbackServer, conn net.Conn) { p.serve(t, s, conn) })
	p.url = &url.URL{Scheme: "http", Host: s.addr}
	if config != nil {
		p.url.Scheme = "https"
	}
	return p
}

// serve handles one client connection: a CONNECT request, then the tunnel.
// Over TLS, the client must have chosen HTTP/1.1 with ALPN.
func (p *testProxy) serve(t testing.TB, s *loopbackServer, conn net.Conn) {
	if tc, ok := conn.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			t.Errorf("proxy's TLS handshake: %v", err)
			return
		}
		if proto := tc.ConnectionState().NegotiatedProtocol; proto != "http/1.1" {
			t.Errorf("client chose ALPN protocol %q with the proxy, want http/1.1", proto)
			return
		}
	}
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		t.Errorf("proxy reading the request: %v", err)
		return
	}
	refuse := func(status string) {
		io.WriteString(conn, "HTTP/1.1 "+status+"\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
	}
	host, port, _ := net.SplitHostPort(req.Host)
	switch {
	case req.Method != http.MethodConnect:
		refuse("405 Method Not Allowed")
		return
	case p.auth != "" && req.Header.Get("Proxy-Authorization") != p.auth:
		refuse("407 Proxy Authentication Required")
		return
	case host != "127.0.0.1":
		refuse("403 Forbidden")
		return
	}
	up, err := s.dialUp(port)
	if err != nil {
		refuse("502 Bad Gateway")
		return
	}
	p.mu.Lock()
	p.targets = append(p.targets, req.Host)
	p.mu.Unlock()
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	pipe(conn, br, up)
}

// tunnelled returns the addresses the proxy has tunnelled to.
func (p *testProxy) tunnelled() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.targets)
}

// socksRequest is what a socksProxy was asked to connect to: the address
// type of RFC 1928 (1 IPv4, 3 domain, 4 IPv6), the host as text, the port.
type socksRequest struct {
	atyp byte
	host string
	port uint16
}

// socksProxy is a SOCKS5 proxy on 127.0.0.1 for tests. It checks what the
// client sends strictly, requires user and pass if user is set, answers
// every request with reply (0 for success), and connects every host to
// 127.0.0.1 at the port asked for.
type socksProxy struct {
	addr       string
	user, pass string
	reply      byte

	mu       sync.Mutex
	requests []socksRequest
}

// startSOCKS starts a socksProxy that requires user and pass if user is
// not empty, and answers requests with reply.
func startSOCKS(t testing.TB, user, pass string, reply byte) *socksProxy {
	t.Helper()
	p := &socksProxy{user: user, pass: pass, reply: reply}
	p.addr = startLoopback(t, nil, func(s *loopbackServer, conn net.Conn) { p.serve(t, s, conn) }).addr
	return p
}

// url returns the proxy's URL with the scheme and user information given.
func (p *socksProxy) url(scheme string, user *url.Userinfo) *url.URL {
	return &url.URL{Scheme: scheme, Host: p.addr, User: user}
}

// asked returns the requests the proxy has received.
func (p *socksProxy) asked() []socksRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// socksWire reads a SOCKS client's messages. After a failed read it
// reads only zeros and keeps the first error, so that a client that gives
// up early ends the exchange quietly.
type socksWire struct {
	conn net.Conn
	err  error
}

// read reads n bytes.
func (w *socksWire) read(n int) []byte {
	b := make([]byte, n)
	if w.err == nil {
		_, w.err = io.ReadFull(w.conn, b)
	}
	return b
}

// serve handles one client connection: greeting, authentication, request,
// then the tunnel.
func (p *socksProxy) serve(t testing.TB, s *loopbackServer, conn net.Conn) {
	w := &socksWire{conn: conn}
	greeting := w.read(2)
	methods := w.read(int(greeting[1]))
	if w.err != nil {
		return
	}
	if greeting[0] != socksVersion {
		t.Errorf("SOCKS proxy got greeting %x, want version 5", greeting)
		return
	}
	choice := byte(socksNoAcceptable)
	switch {
	case p.user == "" && bytes.IndexByte(methods, socksNoAuth) >= 0:
		choice = socksNoAuth
	case p.user != "" && bytes.IndexByte(methods, socksUserPass) >= 0:
		choice = socksUserPass
	}
	conn.Write([]byte{socksVersion, choice})
	if choice == socksNoAcceptable || choice == socksUserPass && !p.authenticate(t, w) {
		return
	}
	req, ok := p.readRequest(t, w)
	if !ok {
		return
	}
	if p.reply != 0 {
		conn.Write([]byte{socksVersion, p.reply, 0, socksIPv4, 0, 0, 0, 0, 0, 0})
		return
	}
	up, err := s.dialUp(strconv.Itoa(int(req.port)))
	if err != nil {
		conn.Write([]byte{socksVersion, 5, 0, socksIPv4, 0, 0, 0, 0, 0, 0})
		return
	}
	bound := up.LocalAddr().(*net.TCPAddr)
	conn.Write(binary.BigEndian.AppendUint16(append([]byte{socksVersion, 0, 0, socksIPv4}, bound.IP.To4()...), uint16(bound.Port)))
	pipe(conn, conn, up)
}

// authenticate reads the client's username and password (RFC 1929) and
// answers whether they are right.
func (p *socksProxy) authenticate(t testing.TB, w *socksWire) bool {
	head := w.read(2)
	user := string(w.read(int(head[1])))
	pass := string(w.read(int(w.read(1)[0])))
	if w.err != nil {
		return false
	}
	if head[0] != socksAuthVersion {
		t.Errorf("SOCKS proxy got credentials starting %x, want version 1", head)
		return false
	}
	ok := user == p.user && pass == p.pass
	status := byte(1)
	if ok {
		status = 0
	}
	w.conn.Write([]byte{socksAuthVersion, status})
	return ok
}

// readRequest reads a CONNECT request and records it.
func (p *socksProxy) readRequest(t testing.TB, w *socksWire) (socksRequest, bool) {
	head := w.read(4)
	if w.err != nil {
		return socksRequest{}, false
	}
	if head[0] != socksVersion || head[1] != socksCmdConnect || head[2] != 0 {
		t.Errorf("SOCKS proxy got request head %x, want 05 01 00", head)
		return socksRequest{}, false
	}
	req := socksRequest{atyp: head[3]}
	switch head[3] {
	case socksIPv4:
		req.host = net.IP(w.read(4)).String()
	case socksIPv6:
		req.host = net.IP(w.read(16)).String()
	case socksDomain:
		req.host = string(w.read(int(w.read(1)[0])))
	default:
		t.Errorf("SOCKS proxy got address type %d", head[3])
		return req, false
	}
	req.port = binary.BigEndian.Uint16(w.read(2))
	if w.err != nil {
		return req, false
	}
	p.mu.Lock()
	p.requests = append(p.requests, req)
	p.mu.Unlock()
	return req, true
}

// proxyErrorOf returns the *ProxyError in err's chain, failing the test if
// there is none.
func proxyErrorOf(t testing.TB, err error) *ProxyError {
	t.Helper()
	var pe *ProxyError
	if !errors.As(err, &pe) {
		t.Fatalf("got error %v; want a *ProxyError", err)
	}
	return pe
}

// proxyCase is a dial through a testProxy: the proxy's TLS configuration
// (nil for http://), the credentials it requires if user is set, those in
// the proxy URL, the server dialed, the client's TLS configuration, and the
// code of the *ProxyError wanted, or 0 for success.
type proxyCase struct {
	name       string
	proxyTLS   *tls.Config
	user, pass string
	urlUser    *url.Userinfo
	target     *httptest.Server
	config     *tls.Config
	wantCode   int
}

// run dials tc.target through a new testProxy and checks the outcome:
// what the Proxy function was asked, then the refusal or the echo through
// the tunnel.
func (tc proxyCase) run(t *testing.T) {
	p := startProxy(t, tc.user, tc.pass, tc.proxyTLS)
	proxyURL := *p.url
	proxyURL.User = tc.urlUser
	var asked *url.URL
	opts := &DialOptions{
		TLSConfig: tc.config,
		Proxy: func(r *http.Request) (*url.URL, error) {
			asked = r.URL
			return &proxyURL, nil
		},
	}
	addr := tc.target.Listener.Addr().String()
	scheme := "ws"
	if tc.target.TLS != nil {
		scheme = "wss"
	}
	c, _, err := Dial(context.Background(), scheme+"://"+addr+"/", opts)
	if want := strings.Replace(scheme, "ws", "http", 1) + "://" + addr + "/"; asked == nil || asked.String() != want {
		t.Errorf("Proxy was asked about %v; want %s", asked, want)
	}
	if tc.wantCode != 0 {
		pe := proxyErrorOf(t, err)
		if pe.Code != tc.wantCode || pe.Proxy != p.url.String() || pe.Target != addr || !strings.Contains(err.Error(), strconv.Itoa(tc.wantCode)) {
			t.Errorf("Dial: %v (%+v); want a refusal %d by %s for %s", err, pe, tc.wantCode, p.url, addr)
		}
		if strings.Contains(err.Error(), "pw") {
			t.Errorf("error %q shows the password", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.CloseNow()
	c.SetDeadline(time.Now().Add(testTimeout))
	checkEcho(t, c, "through the tunnel")
	if got := p.tunnelled(); len(got) != 1 || got[0] != addr {
		t.Errorf("proxy tunnelled to %q, want [%s]", got, addr)
	}
}

// TestDialProxy dials ws:// and wss:// servers through CONNECT proxies over
// TCP (http://) and TLS (https://), with and without credentials, and
// checks that refusals fail Dial with a *ProxyError holding the status.
func TestDialProxy(t *testing.T) {
	plain := serveWS(t, &Server{Handler: echoHandler}, false)
	secure := serveWS(t, &Server{Handler: echoHandler}, true)
	serverTLS, tlsConfig := testTLS(t)
	// A ServerName for the WebSocket server must not be used to check
	// the proxy's certificate, which is for 127.0.0.1 here.
	named := tlsConfig.Clone()
	named.ServerName = "example.com"
	// Nor may its ALPN protocols be offered to the proxy, which would pick
	// h2 here.
	h2 := tlsConfig.Clone()
	h2.NextProtos = []string{"h2"}
	hp := serverTLS.Clone()
	hp.NextProtos = []string{"h2", "http/1.1"}

	for _, tc := range []proxyCase{
		{"ws", nil, "", "", nil, plain, tlsConfig, 0},
		{"wss", nil, "", "", nil, secure, tlsConfig, 0},
		{"ws with credentials", nil, "alice", "s3cret:!", url.UserPassword("alice", "s3cret:!"), plain, tlsConfig, 0},
		{"wss with credentials", nil, "alice", "pw", url.UserPassword("alice", "pw"), secure, tlsConfig, 0},
		{"no credentials", nil, "alice", "pw", nil, plain, tlsConfig, 407},
		{"wrong password", nil, "alice", "pw", url.UserPassword("alice", "nope"), plain, tlsConfig, 407},
		{"https proxy, ws", hp, "", "", nil, plain, tlsConfig, 0},
		{"https proxy, wss", hp, "", "", nil, secure, tlsConfig, 0},
		{"https proxy, ServerName for the server", hp, "", "", nil, secure, named, 0},
		{"https proxy, h2 offered to the server", hp, "", "", nil, plain, h2, 0},
		{"https proxy with credentials", hp, "bob", "pw", url.UserPassword("bob", "pw"), plain, tlsConfig, 0},
		{"https proxy, wrong password", hp, "bob", "pw", url.UserPassword("bob", "x"), plain, tlsConfig, 407},
	} {
		t.Run(tc.name, tc.run)
	}
}

// TestDialHTTPSProxyUnverified checks that an https proxy whose certificate
// TLSConfig does not trust, or that does not speak TLS, fails Dial with an
// error naming the proxy and TLS.
func TestDialHTTPSProxyUnverified(t *testing.T) {
	serverTLS, _ := testTLS(t)
	listen := func(_ *loopbackServer, conn net.Conn) { io.Copy(io.Discard, conn) }
	refuse := func(_ *loopbackServer, conn net.Conn) {
		io.WriteString(conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		io.Copy(io.Discard, conn)
	}
	for _, tc := range []struct {
		name  string
		proxy string
	}{
		{"unknown CA", startLoopback(t, serverTLS, listen).addr},
		{"no TLS", startLoopback(t, nil, refuse).addr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			opts := &DialOptions{Proxy: http.ProxyURL(&url.URL{Scheme: "https", Host: tc.proxy})}
			_, _, err := Dial(ctx, "ws://127.0.0.1:9/", opts)
			if err == nil || !strings.Contains(err.Error(), "TLS handshake with the proxy") || !strings.Contains(err.Error(), tc.proxy) {
				t.Errorf("Dial: %v; want a TLS error naming proxy %s", err, tc.proxy)
			}
		})
	}
}

// TestDialProxyUnsupported checks that a proxy URL Dial cannot use fails
// before any connection with an error saying why, and that an error from
// the Proxy function is passed on.
func TestDialProxyUnsupported(t *testing.T) {
	boom := errors.New("no proxy for you")
	for _, tc := range []struct {
		proxy   func(*http.Request) (*url.URL, error)
		want    string
		wantErr error
	}{
		{http.ProxyURL(&url.URL{Scheme: "socks4", Host: "127.0.0.1:1"}), `"socks4"`, nil},
		{http.ProxyURL(&url.URL{Scheme: "ftp", Host: "127.0.0.1:1"}), `"ftp"`, nil},
		{http.ProxyURL(&url.URL{Scheme: "http", Path: "/x"}), "no host", nil},
		{func(*http.Request) (*url.URL, error) { return nil, boom }, "proxy", boom},
	} {
		dialed := false
		opts := &DialOptions{Proxy: tc.proxy, NetDialContext: func(context.Context, string, string) (net.Conn, error) {
			dialed = true
			return nil, errors.New("no network in this test")
		}}
		_, _, err := Dial(context.Background(), "ws://127.0.0.1:1/", opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || dialed {
			t.Errorf("Dial: %v (dialed: %v); want an error mentioning %q before dialing", err, dialed, tc.want)
		}
	}
}

// TestDialProxyDefaultPort checks the port dialed for a proxy URL without
// one: 80 for http (and no scheme), 443 for https, 1080 for SOCKS.
func TestDialProxyDefaultPort(t *testing.T) {
	for scheme, want := range map[string]string{"": "80", "http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"} {
		var dialed string
		opts := &DialOptions{
			Proxy: http.ProxyURL(&url.URL{Scheme: scheme, Host: "proxy.test"}),
			NetDialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
				dialed = addr
				return nil, errors.New("no network in this test")
			},
		}
		Dial(context.Background(), "ws://127.0.0.1:1/", opts)
		if dialed != "proxy.test:"+want {
			t.Errorf("proxy scheme %q: dialed %q, want proxy.test:%s", scheme, dialed, want)
		}
	}
}

// TestDialSOCKS5 dials through a SOCKS5 proxy with and without credentials,
// and checks the address form the proxy gets: socks5 resolves a name here
// and sends an IP address, socks5h sends the name; IP literals go as such.
func TestDialSOCKS5(t *testing.T) {
	plain := serveWS(t, &Server{Handler: echoHandler}, false)
	secure := serveWS(t, &Server{Handler: echoHandler}, true)
	_, tlsConfig := testTLS(t)
	// socks5 sends the first address the resolver gives for a name.
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	localhost := socksRequest{atyp: socksIPv4, host: ips[0].Unmap().String()}
	if !ips[0].Unmap().Is4() {
		localhost.atyp = socksIPv6
	}
	cases := []struct {
		name       string
		scheme     string
		host       string // of the URL dialed; the proxy connects every host to 127.0.0.1
		secure     bool
		user, pass string // the proxy requires these if set
		urlUser    *url.Userinfo
		want       socksRequest // without the port
	}{
		{"socks5h IPv4", "socks5h", "127.0.0.1", false, "", "", nil, socksRequest{atyp: socksIPv4, host: "127.0.0.1"}},
		{"socks5 IPv4", "socks5", "127.0.0.1", false, "", "", nil, socksRequest{atyp: socksIPv4, host: "127.0.0.1"}},
		{"socks5 name resolved here", "socks5", "localhost", false, "", "", nil, localhost},
		{"socks5h name sent", "socks5h", "localhost", false, "", "", nil, socksRequest{atyp: socksDomain, host: "localhost"}},
		{"socks5h IPv6", "socks5h", "[::1]", false, "", "", nil, socksRequest{atyp: socksIPv6, host: "::1"}},
		{"socks5 IPv6", "socks5", "[::1]", false, "", "", nil, socksRequest{atyp: socksIPv6, host: "::1"}},
		{"socks5h wss by name", "socks5h", "example.com", true, "", "", nil, socksRequest{atyp: socksDomain, host: "example.com"}},
		{"credentials", "socks5h", "127.0.0.1", false, "alice", "s3cret:!", url.UserPassword("alice", "s3cret:!"), socksRequest{atyp: socksIPv4, host: "127.0.0.1"}},
		{"credentials, wss", "socks5", "127.0.0.1", true, "alice", "pw", url.UserPassword("alice", "pw"), socksRequest{atyp: socksIPv4, host: "127.0.0.1"}},
		{"empty password", "socks5h", "127.0.0.1", false, "carol", "", url.User("carol"), socksRequest{atyp: socksIPv4, host: "127.0.0.1"}},
		{"credentials not asked for", "socks5h", "127.0.0.1", false, "", "", url.UserPassword("dave", "pw"), socksRequest{atyp: socksIPv4, host: "127.0.0.1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startSOCKS(t, tc.user, tc.pass, 0)
			target, scheme := plain, "ws"
			if tc.secure {
				target, scheme = secure, "wss"
			}
			_, port, _ := net.SplitHostPort(target.Listener.Addr().String())
			opts := &DialOptions{TLSConfig: tlsConfig, Proxy: http.ProxyURL(p.url(tc.scheme, tc.urlUser))}
			c := mustDial(t, scheme+"://"+net.JoinHostPort(strings.Trim(tc.host, "[]"), port)+"/", opts)
			checkEcho(t, c, "through SOCKS")
			want := tc.want
			want.port = uint16(target.Listener.Addr().(*net.TCPAddr).Port)
			if got := p.asked(); len(got) != 1 || got[0] != want {
				t.Errorf("proxy was asked for %+v, want [%+v]", got, want)
			}
		})
	}
}

// TestDialSOCKS5Refused checks each way a SOCKS5 proxy can refuse: every
// reply code of RFC 1928 (and unassigned ones) and refused or missing
// credentials give a *ProxyError with the code and its meaning; bad
// credentials are caught before they are sent.
func TestDialSOCKS5Refused(t *testing.T) {
	type refusal struct {
		name       string
		user, pass string // the proxy requires these if set
		urlUser    *url.Userinfo
		reply      byte // the proxy's answer to the request
		wantCode   int
		wantReason string
	}
	cases := []refusal{
		{"no credentials", "alice", "pw", nil, 0, 0, "requires authentication"},
		{"wrong password", "alice", "pw", url.UserPassword("alice", "nope"), 0, 0, "username and password refused"},
		{"wrong user", "alice", "pw", url.UserPassword("bob", "pw"), 0, 0, "username and password refused"},
	}
	for rep := 1; rep <= 9; rep++ {
		reason := "unassigned reply code"
		if rep < len(socksReplies) {
			reason = socksReplies[rep]
		}
		cases = append(cases, refusal{fmt.Sprintf("reply %d", rep), "", "", nil, byte(rep), rep, reason})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startSOCKS(t, tc.user, tc.pass, tc.reply)
			opts := &DialOptions{Proxy: http.ProxyURL(p.url("socks5h", tc.urlUser))}
			_, _, err := Dial(context.Background(), "ws://127.0.0.1:9/", opts)
			pe := proxyErrorOf(t, err)
			if pe.Code != tc.wantCode || !strings.Contains(pe.Reason, tc.wantReason) || pe.Proxy != "socks5h://"+p.addr || pe.Target != "127.0.0.1:9" {
				t.Errorf("Dial: %+v; want code %d, a reason with %q", pe, tc.wantCode, tc.wantReason)
			}
			if !strings.HasPrefix(err.Error(), "websocket: proxy socks5h://") {
				t.Errorf("error %q does not start with the proxy", err)
			}
		})
	}
	t.Run("username too long", func(t *testing.T) {
		p := startSOCKS(t, "u", "p", 0)
		opts := &DialOptions{Proxy: http.ProxyURL(p.url("socks5", url.UserPassword(strings.Repeat("u", 256), "p")))}
		_, _, err := Dial(context.Background(), "ws://127.0.0.1:9/", opts)
		if err == nil || !strings.Contains(err.Error(), "255") {
			t.Errorf("Dial: %v; want an error about the length of the username", err)
		}
	})
}

// scriptedProxy starts a fake proxy that runs script on each connection.
func scriptedProxy(t testing.TB, script func(s *loopbackServer, conn net.Conn)) string {
	t.Helper()
	return startLoopback(t, nil, script).addr
}

// readExactly reads n bytes of what the client sent, so that closing the
// connection afterwards sends a FIN rather than a reset.
func readExactly(conn net.Conn, n int) {
	io.ReadFull(conn, make([]byte, n))
}

// TestDialProxyClosesEarly has fake proxies close the connection at each
// step of the exchange: Dial fails at once with an error that says so, and
// is not a *ProxyError.
func TestDialProxyClosesEarly(t *testing.T) {
	const socksRequestLen = 10 // for 127.0.0.1
	cases := []struct {
		name   string
		scheme string
		script func(s *loopbackServer, conn net.Conn)
	}{
		{"http, before answering", "http", func(_ *loopbackServer, conn net.Conn) {
			http.ReadRequest(bufio.NewReader(conn))
		}},
		{"http, inside the head", "http", func(_ *loopbackServer, conn net.Conn) {
			http.ReadRequest(bufio.NewReader(conn))
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nVia: 1.1 pro")
		}},
		{"socks, before the method choice", "socks5", func(_ *loopbackServer, conn net.Conn) {
			readExactly(conn, 3)
		}},
		{"socks, inside the method choice", "socks5", func(_ *loopbackServer, conn net.Conn) {
			readExactly(conn, 3)
			conn.Write([]byte{socksVersion})
		}},
		{"socks, before the reply", "socks5", func(_ *loopbackServer, conn net.Conn) {
			readExactly(conn, 3)
			conn.Write([]byte{socksVersion, socksNoAuth})
			readExactly(conn, socksRequestLen)
		}},
		{"socks, inside the reply", "socks5", func(_ *loopbackServer, conn net.Conn) {
			readExactly(conn, 3)
			conn.Write([]byte{socksVersion, socksNoAuth})
			readExactly(conn, socksRequestLen)
			conn.Write([]byte{socksVersion, 0, 0, socksIPv4, 127, 0})
		}},
		{"socks, before the authentication status", "socks5", func(_ *loopbackServer, conn net.Conn) {
			readExactly(conn, 4)
			conn.Write([]byte{socksVersion, socksUserPass})
			readExactly(conn, 1+1+1+1+1)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := scriptedProxy(t, tc.script)
			opts := &DialOptions{Proxy: http.ProxyURL(&url.URL{Scheme: tc.scheme, Host: addr, User: url.UserPassword("u", "p")})}
			if !strings.Contains(tc.name, "authentication") {
				opts.Proxy = http.ProxyURL(&url.URL{Scheme: tc.scheme, Host: addr})
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			_, _, err := Dial(ctx, "ws://127.0.0.1:9/", opts)
			var pe *ProxyError
			if err == nil || !strings.Contains(err.Error(), "proxy closed the connection") || errors.As(err, &pe) || !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				t.Errorf("Dial: %v; want an error saying that the proxy closed the connection", err)
			}
		})
	}
}

// countingDialer returns a NetDialContext that counts in n the bytes read
// from the connections it makes.
func countingDialer(n *atomic.Int64) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := new(net.Dialer).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &readCountingConn{Conn: conn, n: n}, nil
	}
}

// readCountingConn is a net.Conn that counts the bytes read from it.
type readCountingConn struct {
	net.Conn
	n *atomic.Int64
}

// Read counts what it passes on.
func (c *readCountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// paddedConnect returns a proxy script that answers CONNECT with a head of
// n bytes, then tunnels.
func paddedConnect(n int) func(*loopbackServer, net.Conn) {
	return func(s *loopbackServer, conn net.Conn) {
		br := bufio.NewReader(conn)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		const start, end = "HTTP/1.1 200 OK\r\nX-Pad: ", "\r\n\r\n"
		io.WriteString(conn, start+strings.Repeat("p", n-len(start)-len(end))+end)
		_, port, _ := net.SplitHostPort(req.Host)
		if up, err := s.dialUp(port); err == nil {
			pipe(conn, br, up)
		}
	}
}

// endlessConnect returns a proxy script that answers CONNECT with start,
// then repeat over and over until the client leaves.
func endlessConnect(start, repeat string) func(*loopbackServer, net.Conn) {
	return func(_ *loopbackServer, conn net.Conn) {
		http.ReadRequest(bufio.NewReader(conn))
		chunk := []byte(strings.Repeat(repeat, 4096/len(repeat)))
		io.WriteString(conn, start)
		for {
			if _, err := conn.Write(chunk); err != nil {
				return
			}
		}
	}
}

// TestDialProxyLongAnswer checks the bound on a CONNECT response head: one
// of exactly maxConnectResponse bytes opens the tunnel, one byte more fails,
// and proxies that answer without end fail as soon as the client has read
// that much, no more.
func TestDialProxyLongAnswer(t *testing.T) {
	srv := serveWS(t, &Server{Handler: echoHandler}, false)
	cases := []struct {
		name   string
		script func(*loopbackServer, net.Conn)
		ok     bool
	}{
		{"head at the limit", paddedConnect(maxConnectResponse), true},
		{"head a byte over", paddedConnect(maxConnectResponse + 1), false},
		{"endless status line", endlessConnect("HTTP/1.1 200 ", "a"), false},
		{"endless header line", endlessConnect("HTTP/1.1 200 OK\r\nX: ", "a"), false},
		{"endless header lines", endlessConnect("HTTP/1.1 200 OK\r\n", "X: a\r\n"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := scriptedProxy(t, tc.script)
			var read atomic.Int64
			opts := &DialOptions{
				Proxy:          http.ProxyURL(&url.URL{Scheme: "http", Host: addr}),
				NetDialContext: countingDialer(&read),
			}
			if tc.ok {
				checkEcho(t, mustDial(t, wsURL(srv.Listener.Addr().String()), opts), "after a long head")
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			_, _, err := Dial(ctx, "ws://127.0.0.1:9/", opts)
			if !errors.Is(err, errConnectResponseTooLong) || !strings.Contains(err.Error(), "16 KiB") {
				t.Errorf("Dial: %v; want an error saying that the head exceeds 16 KiB", err)
			}
			if n := read.Load(); n != maxConnectResponse {
				t.Errorf("client read %d bytes of the answer; want %d", n, maxConnectResponse)
			}
		})
	}
}

// TestDialSilentProxy dials proxies of each kind that accept the connection
// but never answer: Dial gives up when its context's deadline passes, and
// says so.
func TestDialSilentProxy(t *testing.T) {
	const timeout = 200 * time.Millisecond
	addr := scriptedProxy(t, func(_ *loopbackServer, conn net.Conn) { io.Copy(io.Discard, conn) })
	for _, scheme := range []string{"http", "https", "socks5", "socks5h"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			_, _, err := Dial(ctx, "ws://127.0.0.1:9/", &DialOptions{Proxy: http.ProxyURL(&url.URL{Scheme: scheme, Host: addr})})
			d := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out") {
				t.Errorf("Dial: %v; want one that says the dial timed out, matching context.DeadlineExceeded", err)
			}
			if d < timeout || d > timeout+2*time.Second {
				t.Errorf("Dial gave up after %v; the timeout was %v", d, timeout)
			}
		})
	}
}

// TestDialProxyCancel cancels the context while a SOCKS proxy is silent:
// Dial returns promptly with context.Canceled.
func TestDialProxyCancel(t *testing.T) {
	greeted := make(chan struct{})
	addr := scriptedProxy(t, func(_ *loopbackServer, conn net.Conn) {
		readExactly(conn, 3)
		close(greeted)
		io.Copy(io.Discard, conn)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := dialAsync(ctx, "ws://127.0.0.1:9/", &DialOptions{Proxy: http.ProxyURL(&url.URL{Scheme: "socks5", Host: addr})})
	await(t, greeted, "the greeting")
	start := time.Now()
	cancel()
	r := awaitDial(t, res)
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("Dial: %v; want context.Canceled", r.err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Dial returned %v after the cancellation", d)
	}
}

// TestDialCookieJar checks a round trip through DialOptions.Jar: the jar's
// cookies join the Cookie header of Header in one line of the handshake
// request, and cookies set by the response, 101 or a refusal, are stored.
func TestDialCookieJar(t *testing.T) {
	addr, conns := fakeServer(t)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	site := &url.URL{Scheme: "http", Host: addr, Path: "/"}
	jar.SetCookies(site, []*http.Cookie{{Name: "session", Value: "abc"}, {Name: "theme", Value: "dark"}})
	opts := &DialOptions{Jar: jar, Header: http.Header{"Cookie": {"mine=1"}}}

	res := dialAsync(context.Background(), "ws://"+addr+"/chat", opts)
	fc := nextFake(t, conns)
	fc.accept(t, "Set-Cookie: token=xyz; Path=/; HttpOnly")
	awaitDial(t, res).mustConn(t)
	if got := fc.req.Header["Cookie"]; len(got) != 1 || got[0] != "mine=1; session=abc; theme=dark" {
		t.Errorf("request Cookie lines %q; want one, \"mine=1; session=abc; theme=dark\"", got)
	}
	if got := opts.Header["Cookie"]; len(got) != 1 || got[0] != "mine=1" {
		t.Errorf("Dial changed the caller's Cookie header to %q", got)
	}

	res = dialAsync(context.Background(), "ws://"+addr+"/chat", &DialOptions{Jar: jar})
	fc = nextFake(t, conns)
	fc.write(t, "HTTP/1.1 403 Forbidden\r\nSet-Cookie: refused=yes\r\nContent-Length: 0\r\n\r\n")
	if r := awaitDial(t, res); r.err == nil {
		t.Fatal("Dial succeeded against a 403")
	}
	if got := fc.req.Header.Get("Cookie"); got != "session=abc; theme=dark; token=xyz" {
		t.Errorf("second request has Cookie %q; want the jar's, with the token set by the first response", got)
	}
	var names []string
	for _, c := range jar.Cookies(site) {
		names = append(names, c.Name+"="+c.Value)
	}
	if !slices.Contains(names, "refused=yes") {
		t.Errorf("jar holds %q after a refusal that set a cookie; want refused=yes among them", names)
	}
}

// recordingJar is a cookie jar that records the URLs it is asked about.
type recordingJar struct {
	mu   sync.Mutex
	urls []string
}

// Cookies records u and returns none.
func (j *recordingJar) Cookies(u *url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.urls = append(j.urls, "get "+u.String())
	return nil
}

// SetCookies records u.
func (j *recordingJar) SetCookies(u *url.URL, _ []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.urls = append(j.urls, "set "+u.String())
}

// TestDialCookieJarURL checks that the jar is asked about the http:// form
// of a ws:// URL and the https:// form of a wss:// one, path and query
// kept, so that Secure cookies go to wss:// only; and that a jar without
// cookies adds no Cookie line.
func TestDialCookieJarURL(t *testing.T) {
	addr, conns := fakeServer(t)
	jar := &recordingJar{}
	res := dialAsync(context.Background(), "ws://"+addr+"/a?b=c", &DialOptions{Jar: jar})
	fc := nextFake(t, conns)
	fc.accept(t, "Set-Cookie: x=1")
	awaitDial(t, res).mustConn(t)
	if _, ok := fc.req.Header["Cookie"]; ok {
		t.Errorf("request has Cookie %q from an empty jar", fc.req.Header["Cookie"])
	}

	srv := serveWS(t, &Server{Handler: echoHandler}, true)
	_, tlsConfig := testTLS(t)
	secureAddr := srv.Listener.Addr().String()
	checkEcho(t, mustDial(t, "wss://"+secureAddr+"/s", &DialOptions{Jar: jar, TLSConfig: tlsConfig}), "secure")
	want := []string{"get http://" + addr + "/a?b=c", "set http://" + addr + "/a?b=c", "get https://" + secureAddr + "/s"}
	jar.mu.Lock()
	defer jar.mu.Unlock()
	if !slices.Equal(jar.urls, want) {
		t.Errorf("jar calls %q, want %q", jar.urls, want)
	}
}

// TestDialRedirect answers the handshake with redirections: Dial does not
// follow them, and fails with a *RedirectError that gives the status and
// the Location resolved against the URL dialed, along with the response.
func TestDialRedirect(t *testing.T) {
	cases := []struct {
		name     string
		status   string
		location string // the header line's value; none if empty
		want     func(addr string) string
	}{
		{"absolute", "302 Found", "wss://other.example/socket", func(string) string { return "wss://other.example/socket" }},
		{"relative path", "301 Moved Permanently", "/new?x=1", func(addr string) string { return "ws://" + addr + "/new?x=1" }},
		{"relative to the path", "307 Temporary Redirect", "sibling", func(addr string) string { return "ws://" + addr + "/room/sibling" }},
		{"other scheme", "308 Permanent Redirect", "https://example.com/", func(string) string { return "https://example.com/" }},
		{"no Location", "300 Multiple Choices", "", func(string) string { return "" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns := fakeServer(t)
			res := dialAsync(context.Background(), "ws://"+addr+"/room/old", nil)
			fc := nextFake(t, conns)
			resp := "HTTP/1.1 " + tc.status + "\r\nContent-Length: 4\r\n"
			if tc.location != "" {
				resp += "Location: " + tc.location + "\r\n"
			}
			fc.write(t, resp+"\r\nmoved")
			r := awaitDial(t, res)
			var re *RedirectError
			if !errors.As(r.err, &re) {
				t.Fatalf("Dial: %v; want a *RedirectError", r.err)
			}
			code, _ := strconv.Atoi(tc.status[:3])
			want := tc.want(addr)
			if re.StatusCode != code || re.Location != want {
				t.Errorf("RedirectError %+v; want status %d, Location %q", re, code, want)
			}
			if msg := r.err.Error(); !strings.HasPrefix(msg, "websocket: ") || !strings.Contains(msg, tc.status) || !strings.Contains(msg, want) {
				t.Errorf("error %q does not give the status and the Location", msg)
			}
			if r.c != nil || r.resp == nil || r.resp.StatusCode != code {
				t.Errorf("Dial returned Conn %v and response %v; want no Conn and the %d response", r.c, r.resp, code)
			}
		})
	}
}

// envChildVar, when set in the environment, makes
// TestDialProxyFromEnvironment play the child: its value is the port of the
// echo server to dial.
const envChildVar = "WEBSOCKET_TEST_PROXY_ENV_CHILD"

// TestDialProxyFromEnvironment checks that http.ProxyFromEnvironment works
// as DialOptions.Proxy: HTTP_PROXY (for ws://) may name a socks5h proxy with
// credentials, and NO_PROXY exempts a host. ProxyFromEnvironment reads the
// environment once per process, so t.Setenv cannot set it reliably; the
// test runs itself in a child process with the environment set instead.
// Go reads no ALL_PROXY, and never proxies loopback hosts, so the child
// dials names that the fake proxy and its dialer take to 127.0.0.1.
func TestDialProxyFromEnvironment(t *testing.T) {
	if port := os.Getenv(envChildVar); port != "" {
		proxyFromEnvironmentChild(t, port)
		return
	}
	srv := serveWS(t, &Server{Handler: echoHandler}, false)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p := startSOCKS(t, "env", "pw", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDialProxyFromEnvironment$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(),
		envChildVar+"="+port,
		"HTTP_PROXY=socks5h://env:pw@"+p.addr, "http_proxy=",
		"NO_PROXY=direct.example", "no_proxy=",
		"REQUEST_METHOD=")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestDialProxyFromEnvironment")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := socksRequest{atyp: socksDomain, host: "proxied.example", port: uint16(srv.Listener.Addr().(*net.TCPAddr).Port)}
	if got := p.asked(); len(got) != 1 || got[0] != want {
		t.Errorf("proxy was asked for %+v, want [%+v]", got, want)
	}
}

// proxyFromEnvironmentChild is the child's part of
// TestDialProxyFromEnvironment: it dials the echo server at port by a name
// that goes through the proxy of HTTP_PROXY, then by one that NO_PROXY
// exempts, and checks where each dial went.
func proxyFromEnvironmentChild(t *testing.T, port string) {
	var dialed []string
	opts := &DialOptions{
		Proxy: http.ProxyFromEnvironment,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed = append(dialed, addr)
			host, p, _ := net.SplitHostPort(addr)
			if host == "direct.example" {
				addr = net.JoinHostPort("127.0.0.1", p)
			}
			return new(net.Dialer).DialContext(ctx, network, addr)
		},
	}
	proxyURL, err := url.Parse(os.Getenv("HTTP_PROXY"))
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"proxied.example", "direct.example"} {
		dialed = nil
		checkEcho(t, mustDial(t, "ws://"+net.JoinHostPort(host, port)+"/", opts), "via "+host)
		want := proxyURL.Host
		if host == "direct.example" {
			want = net.JoinHostPort(host, port)
		}
		if len(dialed) != 1 || dialed[0] != want {
			t.Errorf("dialing %s connected to %q, want [%s]", host, dialed, want)
		}
	}
}

// TestReadSOCKSReply checks the parser of SOCKS5 replies on each address
// form and on broken replies: it reads a success whole and nothing after
// it, and a failure only up to its code.
func TestReadSOCKSReply(t *testing.T) {
	domain := func(n int) string {
		return "\x05\x00\x00\x03" + string([]byte{byte(n)}) + strings.Repeat("d", n) + "\x01\xbb"
	}
	cases := []struct {
		name    string
		in      string
		rep     byte
		read    int    // bytes the parser must consume
		wantErr string // part of the error; "" for none
	}{
		{"IPv4", "\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38", 0, 10, ""},
		{"IPv6", "\x05\x00\x00\x04" + strings.Repeat("\x00", 15) + "\x01\x04\x38", 0, 22, ""},
		{"empty domain", domain(0), 0, 7, ""},
		{"long domain", domain(200), 0, 207, ""},
		{"reserved byte set", "\x05\x00\xff\x01\x7f\x00\x00\x01\x04\x38", 0, 10, ""},
		{"failure", "\x05\x05", 5, 2, ""},
		{"failure with address", "\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00", 1, 2, ""},
		{"SOCKS4 answer", "\x00\x5a\x00\x00\x00\x00\x00\x00", 0, 2, "version 0"},
		{"unknown address type", "\x05\x00\x00\x02\x00\x00", 0, 4, "address type 0x02"},
		{"empty", "", 0, 0, "EOF"},
		{"short head", "\x05\x00\x00", 0, 3, "unexpected EOF"},
		{"short IPv4", "\x05\x00\x00\x01\x7f\x00\x00\x01\x04", 0, 9, "unexpected EOF"},
		{"short domain", "\x05\x00\x00\x03\x05abc", 0, 8, "unexpected EOF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := strings.NewReader(tc.in + "tunnel")
			if tc.wantErr != "" && strings.Contains(tc.wantErr, "EOF") {
				r = strings.NewReader(tc.in)
			}
			rep, err := readSOCKSReply(r)
			read := int(r.Size()) - r.Len()
			if rep != tc.rep || read != tc.read || (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("readSOCKSReply: reply %d, %v, %d bytes read; want reply %d, error with %q, %d bytes", rep, err, read, tc.rep, tc.wantErr, tc.read)
			}
		})
	}
}

// FuzzSOCKSReply feeds readSOCKSReply arbitrary bytes: it must not panic,
// must never read more than the longest reply (262 bytes), and when it
// accepts a success it must have read exactly the reply the head
// describes; a failure code is returned after two bytes.
func FuzzSOCKSReply(f *testing.F) {
	f.Add([]byte("\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38"))
	f.Add([]byte("\x05\x00\x00\x03\x03abc\x00\x50rest"))
	f.Add([]byte("\x05\x00\x00\x04" + strings.Repeat("\x00", 18)))
	f.Add([]byte("\x05\x04"))
	f.Add([]byte("\x05\x00\x00\x07"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		rep, err := readSOCKSReply(r)
		read := len(in) - r.Len()
		if read > 4+1+255+2 {
			t.Fatalf("read %d bytes", read)
		}
		if err != nil {
			if rep != 0 {
				t.Fatalf("reply %d with error %v", rep, err)
			}
			return
		}
		if in[0] != socksVersion {
			t.Fatalf("accepted version %d", in[0])
		}
		if rep != 0 {
			if rep != in[1] || read != 2 {
				t.Fatalf("failure %d from %x after %d bytes", rep, in[:2], read)
			}
			return
		}
		want := map[byte]int{socksIPv4: 4 + 6, socksIPv6: 4 + 18}[in[3]]
		if in[3] == socksDomain {
			want = 4 + 1 + int(in[4]) + 2
		}
		if read != want {
			t.Fatalf("success with address type %d: read %d bytes, want %d", in[3], read, want)
		}
	})
}

// TestDialProxyOddAnswers has fake proxies answer against their protocol:
// Dial fails with an error that says what was wrong, a *ProxyError only
// for a SOCKS5 proxy that accepts none of the offered methods.
func TestDialProxyOddAnswers(t *testing.T) {
	greeted := func(n int, answer ...byte) func(*loopbackServer, net.Conn) {
		return func(_ *loopbackServer, conn net.Conn) {
			readExactly(conn, n)
			conn.Write(answer)
			io.Copy(io.Discard, conn)
		}
	}
	cases := []struct {
		name     string
		scheme   string
		user     *url.Userinfo
		script   func(*loopbackServer, net.Conn)
		want     string
		refusal  bool // a *ProxyError is wanted
		wantCode int
	}{
		{"http, not HTTP", "http", nil, func(_ *loopbackServer, conn net.Conn) {
			http.ReadRequest(bufio.NewReader(conn))
			io.WriteString(conn, "SSH-2.0-OpenSSH_9.6\r\n\r\n")
			io.Copy(io.Discard, conn)
		}, "malformed HTTP", false, 0},
		{"socks, version 4", "socks5", nil, greeted(3, 4, 0), "version 4, not SOCKS5", false, 0},
		{"socks, method not offered", "socks5", nil, greeted(3, socksVersion, socksUserPass), "method 0x02, which was not offered", false, 0},
		{"socks, method unknown", "socks5", url.UserPassword("u", "p"), greeted(4, socksVersion, 0x80), "method 0x80", false, 0},
		{"socks, no acceptable method", "socks5", url.UserPassword("u", "p"), greeted(4, socksVersion, socksNoAcceptable), "neither", true, 0},
		{"socks, authentication version", "socks5", url.UserPassword("u", "p"), greeted(4, socksVersion, socksUserPass, socksVersion, 0), "version 5, not 1", false, 0},
		{"socks, reply version", "socks5", nil, greeted(3, socksVersion, socksNoAuth, 4, 0), "version 4, not SOCKS5", false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := scriptedProxy(t, tc.script)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			opts := &DialOptions{Proxy: http.ProxyURL(&url.URL{Scheme: tc.scheme, Host: addr, User: tc.user})}
			_, _, err := Dial(ctx, "ws://127.0.0.1:9/", opts)
			var pe *ProxyError
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, &pe) != tc.refusal || !strings.HasPrefix(err.Error(), "websocket: proxy ") {
				t.Fatalf("Dial: %v; want an error from the proxy mentioning %q (a *ProxyError: %v)", err, tc.want, tc.refusal)
			}
			if pe != nil && pe.Code != tc.wantCode {
				t.Errorf("ProxyError code %d, want %d", pe.Code, tc.wantCode)
			}
		})
	}
}

// TestSOCKSAddress checks the address part of SOCKS5 requests for the forms
// that no dial test reaches.
func TestSOCKSAddress(t *testing.T) {
	long := strings.Repeat("a", 256)
	for _, tc := range []struct {
		target    string
		remoteDNS bool
		want      string // hex; "" for an error
		wantErr   string
	}{
		{"[::ffff:127.0.0.1]:80", true, "017f0000010050", ""},
		{"[::1]:443", false, "04" + strings.Repeat("00", 15) + "01" + "01bb", ""},
		{"a.example:65535", true, "0309612e6578616d706c65ffff", ""},
		{strings.Repeat("a", 255) + ":1", true, "03ff" + strings.Repeat("61", 255) + "0001", ""},
		{long + ":1", true, "", "too long"},
		{"[fe80::1%eth0]:80", true, "", "zone"},
		{"127.0.0.1:99999", true, "", "port"},
		{"127.0.0.1", true, "", "port"},
	} {
		got, err := socksAddress(context.Background(), tc.target, tc.remoteDNS)
		if fmt.Sprintf("%x", got) != tc.want || (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("socksAddress(%.30q, %v) = %x, %v; want %s, an error with %q", tc.target, tc.remoteDNS, got, err, tc.want, tc.wantErr)
		}
	}
}
