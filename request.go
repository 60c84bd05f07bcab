//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// This file is Serve's own reader of the opening handshake request: HTTP/1.1
// parsed without net/http, keeping only the handshake's headers, and
// refusing what net/http's server would refuse, with the same status.

// maxRequestHeader bounds the opening handshake request that Serve reads.
const maxRequestHeader = 8 << 10

// readRequest reads and checks the opening handshake request on nc and
// returns a Conn for it, with the request's key and what was negotiated.
// It refuses a bad request itself and returns a nil Conn.
func (s *Server) readRequest(nc net.Conn) (c *Conn, key string, neg negotiated) {
	bp := getBuffer(maxRequestHeader)
	defer putBuffer(bp)
	n, end := s.readHead(nc, *bp)
	if end < 0 {
		return nil, "", neg
	}
	return s.checkRequest(nc, (*bp)[:n], end)
}

// readHead reads the request on nc into buf up to its blank line, and
// returns how many bytes it read and where the blank line begins, or -1
// after refusing or dropping the connection. The read runs in this small
// frame, apart from the parsed request, so that the handshake's goroutine
// keeps its first stack while it waits.
func (s *Server) readHead(nc net.Conn, buf []byte) (n, end int) {
	for {
		if n == len(buf) {
			s.refuseRaw(nc, errHeaderTooLarge)
			return n, -1
		}
		m, err := nc.Read(buf[n:])
		from := max(n-3, 0)
		n += m
		if i := bytes.Index(buf[from:n], []byte("\r\n\r\n")); i >= 0 {
			return n, from + i
		} else if err != nil {
			closeNetConn(nc)
			return n, -1
		}
	}
}

// checkRequest parses and checks the request in buf, whose head ends at
// end, and returns a Conn for it as readRequest does.
func (s *Server) checkRequest(nc net.Conn, buf []byte, end int) (c *Conn, key string, neg negotiated) {
	var req upgradeRequest
	if err := parseUpgradeRequest(&req, buf[:end]); err != nil {
		s.refuseRaw(nc, err.(*handshakeError))
		return nil, "", neg
	}
	value, he := admit(func() error { return req.check(&s.Options) }, s.Accept, func() *http.Request { return httpRequest(nc, buf[:end+4]) }, nil, nc.RemoteAddr().String())
	if he != nil {
		s.refuseRaw(nc, he)
		return nil, "", neg
	}
	// Bytes after the request are the client's first frames.
	neg = req.negotiate(&s.Options)
	c = newConn(nc, true, buf[end+4:], &s.Options, neg)
	if value != nil {
		c.SetValue(value)
	}
	return c, req.keys[0], neg
}

var (
	errBadRequestLine  = &handshakeError{status: http.StatusBadRequest, msg: "websocket: malformed HTTP request line"}
	errBadHeaderLine   = &handshakeError{status: http.StatusBadRequest, msg: "websocket: malformed HTTP header line"}
	errNoHost          = &handshakeError{status: http.StatusBadRequest, msg: "websocket: the request has no Host header"}
	errBadHost         = &handshakeError{status: http.StatusBadRequest, msg: "websocket: malformed Host header"}
	errHeaderTooLarge  = &handshakeError{status: http.StatusRequestHeaderFieldsTooLarge, msg: "websocket: the request header is larger than 8 KiB"}
	errVersionNotHTTP1 = &handshakeError{status: http.StatusHTTPVersionNotSupported, msg: "websocket: unsupported HTTP version; the opening handshake needs HTTP/1.1"}
	errBadLength       = &handshakeError{status: http.StatusBadRequest, msg: "websocket: malformed Content-Length"}
	errTransferCoding  = &handshakeError{status: http.StatusNotImplemented, msg: "websocket: unsupported Transfer-Encoding"}
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
		case asciiEqualFold(name, "Sec-WebSocket-Extensions"):
			dst = &r.extensions
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

// httpRequest reads head, the request Serve read on nc up to its blank
// line, with net/http's parser, for Server.Accept.
func httpRequest(nc net.Conn, head []byte) *http.Request {
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil { // parseUpgradeRequest accepted it: net/http should too
		r = &http.Request{Method: http.MethodGet, Header: http.Header{}, URL: &url.URL{}}
	}
	r.RemoteAddr = nc.RemoteAddr().String()
	return r
}

// refuseRaw answers a refused handshake on a connection that net/http does
// not manage, reports it to OnRefuse, and closes it.
func (s *Server) refuseRaw(nc net.Conn, e *handshakeError) {
	s.refused(nc.RemoteAddr().String(), e)
	body := e.msg + "\n"
	resp := "HTTP/1.1 " + strconv.Itoa(e.status) + " " + http.StatusText(e.status) +
		"\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"
	if name, value := e.header(); name != "" {
		resp += name + ": " + value + "\r\n"
	}
	resp += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	nc.Write([]byte(resp))
	closeNetConn(nc) // a close_notify would wait on a client that does not read
}
