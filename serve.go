package websocket

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"
)

// This file serves WebSocket connections straight from a net.Listener,
// reading the opening handshake without net/http.

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
// closing ln stops it. Panics in the Handler are logged with the log
// package's standard logger.
func (s *Server) Serve(ln net.Listener) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
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
// handler on a fresh goroutine, whose stack starts small again.
func (s *Server) serveConn(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(handshakeTimeout(&s.Options)))
	bp := getBuffer(maxRequestHeader)
	defer putBuffer(bp)
	buf := *bp
	n, end := 0, -1
	for end < 0 {
		if n == len(buf) {
			refuseRaw(nc, errHeaderTooLarge)
			return
		}
		m, err := nc.Read(buf[n:])
		from := max(n-3, 0)
		n += m
		if i := bytes.Index(buf[from:n], []byte("\r\n\r\n")); i >= 0 {
			end = from + i
		} else if err != nil {
			nc.Close()
			return
		}
	}
	req, err := parseUpgradeRequest(buf[:end])
	if err == nil {
		err = req.check(&s.Options)
	}
	if err != nil {
		refuseRaw(nc, err.(*handshakeError))
		return
	}
	// Bytes after the request are the client's first frames.
	c := newConn(nc, true, buf[end+4:n], &s.Options)
	if c.accept(&req, &s.Options, nil) != nil {
		return
	}
	nc.SetDeadline(time.Time{})
	go s.run(c, nil)
}

var (
	errBadRequestLine = &handshakeError{http.StatusBadRequest, "websocket: malformed HTTP request line"}
	errBadHeaderLine  = &handshakeError{http.StatusBadRequest, "websocket: malformed HTTP header line"}
	errNoHost         = &handshakeError{http.StatusBadRequest, "websocket: the request has no Host header"}
	errHeaderTooLarge = &handshakeError{http.StatusRequestHeaderFieldsTooLarge, "websocket: the request header is larger than 8 KiB"}
)

// parseUpgradeRequest parses the request line and header lines of an HTTP
// request, b, which ends before its blank line. Only the fields the
// handshake needs are kept.
func parseUpgradeRequest(b []byte) (upgradeRequest, error) {
	var r upgradeRequest
	line, rest, _ := bytes.Cut(b, []byte("\r\n"))
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	_, proto, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 {
		return r, errBadRequestLine
	}
	if string(proto) == "HTTP/1.1" {
		r.http11 = true
	} else if major, minor, ok := http.ParseHTTPVersion(string(proto)); ok {
		r.http11 = major > 1 || major == 1 && minor >= 1
	} else {
		return r, errBadRequestLine
	}
	if string(method) == http.MethodGet {
		r.method = http.MethodGet
	} else {
		r.method = string(method)
	}
	var hosts []string
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			return r, errBadHeaderLine
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
		default:
			continue // only the handshake's own headers are kept
		}
		*dst = append(*dst, string(bytes.Trim(value, " \t")))
	}
	if len(hosts) != 1 {
		return r, errNoHost
	}
	r.host = hosts[0]
	return r, nil
}

// asciiEqualFold reports whether b equals s, ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if b[i]|0x20 != s[i]|0x20 {
			return false
		}
	}
	return true
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
