package websocket

import (
	"bytes"
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file is the Server: the http.Handler that upgrades requests and runs
// a handler per connection, Serve, which takes connections straight from a
// net.Listener and reads the opening handshake without net/http, and
// Shutdown.

// Handler is an http.Handler that upgrades each request with the default
// Options and runs the function on the connection; see Server.
//
//	http.Handle("/ws", websocket.Handler(func(c *websocket.Conn) { ... }))
type Handler func(*Conn)

// ServeHTTP upgrades the request and runs h; see Server.ServeHTTP.
func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(&Server{Handler: h}).ServeHTTP(w, r)
}

// Server upgrades requests with its Options and runs Handler on each
// connection. It is an http.Handler; Serve runs it on a listener of its
// own. A Server must not be copied after first use.
type Server struct {
	Options

	// Handler is called with each new connection, on a goroutine of its
	// own: ServeHTTP returns once the connection is upgraded, so that the
	// HTTP server's memory for the request is freed while the connection
	// lives. When Handler returns, the connection is closed with status
	// 1000 (normal closure). If it panics, the connection is closed with
	// status 1011 (internal error) and the panic is logged with its stack
	// to the http.Server's ErrorLog (or the log package's standard logger),
	// as net/http does for handler panics; http.ErrAbortHandler is not
	// logged.
	Handler func(*Conn)

	mu        sync.Mutex
	conns     map[*Conn]struct{} // connections whose Handler runs
	listeners map[net.Listener]struct{}
	shutdown  bool
	handlers  sync.WaitGroup // one count per entry of conns
}

// ServeHTTP upgrades the request, answering with an HTTP error if it is not
// a valid WebSocket handshake, and starts s.Handler on the connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := Upgrade(w, r, &s.Options)
	if err != nil {
		return
	}
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	go s.run(c, srv)
}

// Shutdown closes every connection the Server is serving with status 1001
// (going away), closes the listeners given to Serve, and closes with 1001
// any connection upgraded from then on as soon as it opens, without running
// the Handler. It waits for the close handshakes and the Handlers to
// return, or for ctx to be done; then it closes the remaining connections
// at once and returns ctx.Err().
//
// An http.Server forgets connections once they are upgraded, so its own
// Shutdown neither closes nor waits for them: call it first, to stop new
// requests, then this.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	var closers sync.WaitGroup
	for _, c := range conns {
		// Each Close waits for its peer; run them all at once.
		closers.Go(func() { c.Close(StatusGoingAway, "server shutting down") })
	}
	done := make(chan struct{})
	go func() {
		closers.Wait()
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.CloseNow()
		}
		return ctx.Err()
	}
}

// track records c as served, unless Shutdown has begun; it reports whether
// it did.
func (s *Server) track(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*Conn]struct{})
	}
	s.conns[c] = struct{}{}
	s.handlers.Add(1)
	return true
}

// untrack forgets c, recorded by track.
func (s *Server) untrack(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.handlers.Done()
}

// run runs the handler on c and closes c when it returns or panics.
func (s *Server) run(c *Conn, srv *http.Server) {
	if !s.track(c) {
		c.Close(StatusGoingAway, "server shutting down")
		return
	}
	defer s.untrack(c)
	defer func() {
		p := recover()
		if p == nil {
			c.Close(StatusNormalClosure, "")
			return
		}
		c.Close(StatusInternalError, "")
		if p == http.ErrAbortHandler {
			return
		}
		stack := make([]byte, 64<<10)
		stack = stack[:runtime.Stack(stack, false)]
		logf := log.Printf
		if srv != nil && srv.ErrorLog != nil {
			logf = srv.ErrorLog.Printf
		}
		logf("websocket: panic serving %v: %v\n%s", c.RemoteAddr(), p, stack)
	}()
	s.Handler(c)
}

// maxRequestHeader bounds the opening handshake request that Serve reads.
const maxRequestHeader = 8 << 10

// Serve accepts connections on ln and serves each as a WebSocket connection
// with s.Handler, on a goroutine of its own. It reads the opening handshake
// itself instead of through net/http, which makes upgrades cheaper and
// leaves nothing of the HTTP request behind; in return every request on ln
// must be a WebSocket handshake, for any path: others are answered with an
// HTTP error and closed. Requests are checked exactly as Upgrade checks
// them. Use Server as an http.Handler instead when the port also serves
// ordinary HTTP, or needs HTTP/2, keep-alive or routing.
//
// Serve returns the error from ln.Accept, after retrying temporary ones;
// closing ln stops it. Once Shutdown has been called, even before Serve,
// it returns http.ErrServerClosed. It closes ln before it returns, in
// every case.
// Panics in the Handler are logged with the log package's standard logger.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.shutdown
			s.mu.Unlock()
			if closed {
				return http.ErrServerClosed
			}
			// Out of file descriptors and the like: wait, as net/http does.
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		go s.serveConn(nc)
	}
}

// serveConn reads and answers the opening handshake on nc, then runs the
// handler on a fresh goroutine. The steps are calls from this small frame,
// one after the other, so that none of them needs more than the smallest
// stack a goroutine starts with: growing it costs more than the rest of
// the handshake's own work.
func (s *Server) serveConn(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(s.Options.handshakeTimeout()))
	c, key := s.readRequest(nc)
	if c == nil || c.accept(key, nil) != nil {
		return
	}
	nc.SetDeadline(time.Time{})
	go s.run(c, nil)
}

// readRequest reads and checks the opening handshake request on nc and
// returns a Conn for it, with the request's key.
// It refuses a bad request itself and returns a nil Conn.
func (s *Server) readRequest(nc net.Conn) (c *Conn, key string) {
	bp := getBuffer(maxRequestHeader)
	defer putBuffer(bp)
	buf := *bp
	n, end := 0, -1
	for end < 0 {
		if n == len(buf) {
			refuseRaw(nc, errHeaderTooLarge)
			return nil, ""
		}
		m, err := nc.Read(buf[n:])
		from := max(n-3, 0)
		n += m
		if i := bytes.Index(buf[from:n], []byte("\r\n\r\n")); i >= 0 {
			end = from + i
		} else if err != nil {
			nc.Close()
			return nil, ""
		}
	}
	var req upgradeRequest
	err := parseUpgradeRequest(&req, buf[:end])
	if err == nil {
		err = req.check(&s.Options)
	}
	if err != nil {
		refuseRaw(nc, err.(*handshakeError))
		return nil, ""
	}
	// Bytes after the request are the client's first frames.
	neg := negotiated{subprotocol: selectSubprotocol(req.protocol, s.Subprotocols)}
	return newConn(nc, true, buf[end+4:n], &s.Options, neg), req.keys[0]
}

var (
	errBadRequestLine  = &handshakeError{http.StatusBadRequest, "websocket: malformed HTTP request line"}
	errBadHeaderLine   = &handshakeError{http.StatusBadRequest, "websocket: malformed HTTP header line"}
	errNoHost          = &handshakeError{http.StatusBadRequest, "websocket: the request has no Host header"}
	errBadHost         = &handshakeError{http.StatusBadRequest, "websocket: malformed Host header"}
	errHeaderTooLarge  = &handshakeError{http.StatusRequestHeaderFieldsTooLarge, "websocket: the request header is larger than 8 KiB"}
	errVersionNotHTTP1 = &handshakeError{http.StatusHTTPVersionNotSupported, "websocket: unsupported HTTP version; the opening handshake needs HTTP/1.1"}
	errBadLength       = &handshakeError{http.StatusBadRequest, "websocket: malformed Content-Length"}
	errTransferCoding  = &handshakeError{http.StatusNotImplemented, "websocket: unsupported Transfer-Encoding"}
)

// parseUpgradeRequest parses into r the request line and header lines of an
// HTTP request, b, which ends before its blank line. Only the fields the
// handshake needs are kept. It refuses what net/http's server refuses
// before a handler sees the request, with the same status codes, so that
// Serve and Upgrade agree.
func parseUpgradeRequest(r *upgradeRequest, b []byte) error {
	// RFC 9112 section 2.2: ignore empty lines before the request line.
	for bytes.HasPrefix(b, []byte("\r\n")) {
		b = b[2:]
	}
	line, rest, _ := bytes.Cut(b, []byte("\r\n"))
	major, err := parseRequestLine(r, line)
	if err != nil {
		return err
	}
	var hosts, lengths, codings []string
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !isToken(name) || !validHeaderValue(value) {
			return errBadHeaderLine
		}
		var dst *[]string
		switch {
		case asciiEqualFold(name, "Host"):
			dst = &hosts
		case asciiEqualFold(name, "Connection"):
			dst = &r.connection
		case asciiEqualFold(name, "Upgrade"):
			dst = &r.upgrade
		case asciiEqualFold(name, "Sec-WebSocket-Version"):
			dst = &r.version
		case asciiEqualFold(name, "Sec-WebSocket-Key"):
			dst = &r.keys
		case asciiEqualFold(name, "Origin"):
			dst = &r.origin
		case asciiEqualFold(name, "Sec-WebSocket-Protocol"):
			dst = &r.protocol
		case asciiEqualFold(name, "Content-Length"):
			dst = &lengths
		case asciiEqualFold(name, "Transfer-Encoding"):
			dst = &codings
		default:
			continue // only the handshake's own headers are kept
		}
		*dst = append(*dst, string(bytes.Trim(value, " \t")))
	}
	// The order of net/http's server: body framing, version, Host.
	if err := r.parseFraming(lengths, codings); err != nil {
		return err
	}
	switch {
	case major != 1:
		return errVersionNotHTTP1
	case len(hosts) != 1:
		return errNoHost
	case !validHost(hosts[0]):
		return errBadHost
	}
	r.host = hosts[0]
	return nil
}

// parseRequestLine parses the request line into r and returns the major
// HTTP version.
func parseRequestLine(r *upgradeRequest, line []byte) (major int, err error) {
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 || !isToken(method) || !isRequestTarget(target) {
		return 0, errBadRequestLine
	}
	if string(proto) == "HTTP/1.1" {
		major, r.http11 = 1, true
	} else if maj, minor, ok := http.ParseHTTPVersion(string(proto)); ok {
		major, r.http11 = maj, maj > 1 || maj == 1 && minor >= 1
	} else {
		return 0, errBadRequestLine
	}
	if string(method) == http.MethodGet {
		r.method = http.MethodGet
	} else {
		r.method = string(method)
	}
	return major, nil
}

// parseFraming reads the Content-Length and Transfer-Encoding header
// values of a request into r.body, refusing those net/http refuses:
// Content-Length values that differ or are not a decimal number, and on
// HTTP/1.1 any Transfer-Encoding but a single "chunked" (501). A request
// with a body is refused later, by check.
func (r *upgradeRequest) parseFraming(lengths, codings []string) error {
	if r.http11 && len(codings) > 0 {
		if len(codings) != 1 || !strings.EqualFold(codings[0], "chunked") {
			return errTransferCoding
		}
		r.body = true
	}
	for _, l := range lengths {
		if l != lengths[0] {
			return errBadLength
		}
	}
	if len(lengths) > 0 {
		n, err := strconv.ParseUint(lengths[0], 10, 63)
		if err != nil {
			return errBadLength
		}
		r.body = r.body || n != 0
	}
	return nil
}

// asciiEqualFold reports whether b equals s, ignoring the case of ASCII
// letters only.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if asciiLower(b[i]) != asciiLower(s[i]) {
			return false
		}
	}
	return true
}

// asciiLower maps an ASCII upper-case letter to lower case and leaves every
// other byte alone.
func asciiLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// isToken reports whether b is a non-empty HTTP token (RFC 9110 section
// 5.6.2), the syntax of methods and header names.
func isToken(b []byte) bool {
	for _, c := range b {
		if !('a' <= asciiLower(c) && asciiLower(c) <= 'z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return len(b) > 0
}

// validHeaderValue reports whether b is a valid header field value as
// net/http's server judges it: free of control bytes other than HTAB.
// Bytes from 0x80 up (obs-text) are allowed.
func validHeaderValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost reports whether s is made only of the bytes that can appear in
// host[:port] (RFC 3986 section 3.2.2: letters, digits, unreserved and
// sub-delims, "%" of escapes and IPv6 zones, ":" and the brackets of IPv6
// literals), the check net/http's server makes of the Host header.
func validHost(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('a' <= asciiLower(c) && asciiLower(c) <= 'z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0) {
			return false
		}
	}
	return true
}

// isRequestTarget reports whether b can be a request target: non-empty and
// free of spaces and control bytes.
func isRequestTarget(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return len(b) > 0
}

// refuseRaw answers a refused handshake on a connection that net/http does
// not manage, and closes it.
func refuseRaw(nc net.Conn, e *handshakeError) {
	body := e.msg + "\n"
	resp := "HTTP/1.1 " + strconv.Itoa(e.status) + " " + http.StatusText(e.status) +
		"\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"
	if name, value := e.header(); name != "" {
		resp += name + ": " + value + "\r\n"
	}
	resp += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	nc.Write([]byte(resp))
	nc.Close()
}
