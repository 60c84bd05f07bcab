//go:build !js

package websocket

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"iter"
	"net"
	"net/http"
	"path"
	"strings"
	"time"
)

// This file is the opening handshake of RFC 6455 section 4.

// acceptGUID is the GUID of RFC 6455 section 1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key:
// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
func AcceptKey(key string) string {
	var buf [28]byte
	return string(appendAcceptKey(buf[:0], key))
}

// appendAcceptKey appends AcceptKey(key) to b.
func appendAcceptKey(b []byte, key string) []byte {
	in := make([]byte, 0, 64)
	in = append(append(in, key...), acceptGUID...)
	sum := sha1.Sum(in)
	return base64.StdEncoding.AppendEncode(b, sum[:])
}

// handshakeError is a refused handshake: the HTTP status to answer with, a
// message for the response body and the returned error, and the error that
// caused the refusal, if it came from the application (Server.Accept, or a
// panic in a hook), which errors.Is and errors.As reach through Unwrap.
type handshakeError struct {
	status int
	msg    string
	cause  error
}

func (e *handshakeError) Error() string { return e.msg }

// Unwrap returns the error that caused the refusal, or nil.
func (e *handshakeError) Unwrap() error { return e.cause }

// HTTPError is an error that Server.Accept returns to refuse a request with
// a status of its choosing, such as 401 Unauthorized; Message is the
// response body.
type HTTPError struct {
	Status  int
	Message string
}

// Error returns the message.
func (e *HTTPError) Error() string { return e.Message }

// admit runs the checks of a request, check, and if they pass asks accept,
// if set, with the request that request makes, whether to accept it. It
// returns accept's value, or the refusal to answer with. check and accept
// run the application's hooks (Options.CheckOrigin, Server.Accept): a
// panic in one is logged (through logPanic, to srv's ErrorLog if srv has
// one) and refuses the request with 500. Like a panic in an http.Handler,
// it must not stop the server, and Serve has no http.Server to recover it.
func admit(check func() error, accept func(*http.Request) (any, error), request func() *http.Request, srv *http.Server, remoteAddr string) (value any, refusal *handshakeError) {
	defer func() {
		if p := recover(); p != nil {
			logPanic(srv, "in the opening handshake of "+remoteAddr, p)
			value, refusal = nil, &handshakeError{status: http.StatusInternalServerError, msg: "websocket: internal server error", cause: panicError(p)}
		}
	}()
	if err := check(); err != nil {
		return nil, err.(*handshakeError)
	}
	if accept == nil {
		return nil, nil
	}
	value, err := accept(request())
	if err != nil {
		return nil, acceptRefusal(err)
	}
	return value, nil
}

// acceptRefusal returns the refusal for an error of Server.Accept: the
// status of an *HTTPError, or 403. A nil *HTTPError, which makes a non-nil
// error, refuses with 403 as well, and is no cause a caller could inspect.
func acceptRefusal(err error) *handshakeError {
	var status *HTTPError
	if errors.As(err, &status) && status == nil {
		return &handshakeError{status: http.StatusForbidden, msg: "websocket: request refused by Server.Accept"}
	}
	he := &handshakeError{status: http.StatusForbidden, msg: err.Error(), cause: err}
	if status != nil && status.Status >= 400 && status.Status < 600 {
		he.status = status.Status
	}
	return he
}

var (
	errNotGET        = &handshakeError{status: http.StatusMethodNotAllowed, msg: "websocket: the opening handshake must be a GET request"}
	errHTTPVersion   = &handshakeError{status: http.StatusBadRequest, msg: "websocket: the opening handshake needs HTTP/1.1 or later"}
	errRequestBody   = &handshakeError{status: http.StatusBadRequest, msg: "websocket: the opening handshake must not have a body (Content-Length other than 0, or Transfer-Encoding)"}
	errNoConnUpgrade = &handshakeError{status: http.StatusBadRequest, msg: "websocket: the Connection header does not contain the token \"upgrade\""}
	errNoUpgradeWS   = &handshakeError{status: http.StatusBadRequest, msg: "websocket: the Upgrade header does not contain the token \"websocket\""}
	errVersion       = &handshakeError{status: http.StatusUpgradeRequired, msg: "websocket: Sec-WebSocket-Version must be 13"}
	errBadKey        = &handshakeError{status: http.StatusBadRequest, msg: "websocket: Sec-WebSocket-Key must be one base64 value of 16 bytes"}
	errOrigin        = &handshakeError{status: http.StatusForbidden, msg: "websocket: request Origin not allowed; the server must list it in Options.OriginPatterns"}
)

// IsWebSocketUpgrade reports whether r asks to upgrade to WebSocket: its
// Connection header contains the token "upgrade" and its Upgrade header the
// token "websocket", or, over HTTP/2, it is a CONNECT request whose
// :protocol pseudo-header is "websocket" (RFC 8441). It checks nothing
// else; Upgrade does.
func IsWebSocketUpgrade(r *http.Request) bool {
	return hasToken(r.Header["Connection"], "upgrade") && hasToken(r.Header["Upgrade"], "websocket") ||
		isExtendedConnect(r)
}

// Upgrade performs the server's side of the opening handshake on r and
// returns the WebSocket connection; opts may be nil for the defaults. The
// caller must not use w after it returns successfully. If the request is
// not a valid WebSocket handshake, or its origin is not allowed, Upgrade
// answers with an HTTP error status and a plain-text body saying what was
// wrong, and returns an error saying the same.
//
// Over HTTP/1.1, Upgrade takes over the connection from the http.Server (it
// hijacks it) and answers 101; the Conn outlives the handler. Over HTTP/2
// it accepts an extended CONNECT request (RFC 8441; see
// EnableExtendedConnect), answers 200, and the Conn runs over the request's
// stream, which ends when the handler returns: the handler must not return
// before the Conn is closed. Close or CloseNow it, and wait on Conn.Done if
// other goroutines may still be closing it. Server and Handler do this
// themselves.
//
// Headers the caller set on w.Header() before calling Upgrade are sent with
// the 101 or 200 response (cookies, for example), except those of the
// handshake itself.
func Upgrade(w http.ResponseWriter, r *http.Request, opts *Options) (*Conn, error) {
	return upgrade(w, r, opts, nil)
}

// upgrade does the work of Upgrade, asking accept, if set, whether to
// accept a request that passed the checks (see Server.Accept).
func upgrade(w http.ResponseWriter, r *http.Request, opts *Options, accept func(*http.Request) (any, error)) (*Conn, error) {
	if opts == nil {
		opts = &Options{}
	}
	if r.ProtoMajor == 2 {
		return upgradeHTTP2(w, r, opts, accept)
	}
	req := upgradeRequest{
		method:     r.Method,
		http11:     r.ProtoAtLeast(1, 1),
		body:       r.ContentLength != 0 || len(r.TransferEncoding) > 0,
		host:       r.Host,
		connection: r.Header["Connection"],
		upgrade:    r.Header["Upgrade"],
		version:    r.Header["Sec-Websocket-Version"],
		keys:       r.Header["Sec-Websocket-Key"],
		origin:     r.Header["Origin"],
		protocol:   r.Header["Sec-Websocket-Protocol"],
		extensions: r.Header["Sec-Websocket-Extensions"],
	}
	value, he := admit(func() error { return req.check(opts) }, accept, func() *http.Request { return r }, serverOf(r), r.RemoteAddr)
	if he != nil {
		refuse(w, he)
		opts.refused(r.RemoteAddr, he)
		return nil, he
	}

	netConn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		err = errors.New("websocket: cannot take over the connection from the HTTP server (some middleware does not allow it): " + err.Error())
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return nil, err
	}
	// Bytes the client sent after its request (its first frames) may
	// already sit in the server's buffer; they belong to the WebSocket.
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	neg := req.negotiate(opts)
	// Drop any deadline the http.Server set, and bound the response.
	netConn.SetReadDeadline(time.Time{})
	netConn.SetWriteDeadline(time.Now().Add(opts.handshakeTimeout()))
	if err := writeAccept(netConn, req.keys[0], &neg, w.Header()); err != nil {
		return nil, err
	}
	netConn.SetWriteDeadline(time.Time{})
	c := newConn(netConn, true, buffered, opts, neg)
	if value != nil {
		c.SetValue(value)
	}
	return c, nil
}

// upgradeRequest is what the opening handshake reads of an HTTP request.
// The header fields hold every line of their header.
type upgradeRequest struct {
	method, host                       string
	http11                             bool // HTTP/1.1 or later
	body                               bool // the request has a body, which would be taken for frames
	connection, upgrade, version, keys []string
	origin, protocol, extensions       []string
}

// check checks the request against RFC 6455 section 4.2.1 and the origin
// policy.
func (r *upgradeRequest) check(opts *Options) error {
	switch {
	case r.method != http.MethodGet:
		return errNotGET
	case !r.http11:
		return errHTTPVersion
	case r.body:
		return errRequestBody
	case !hasToken(r.connection, "upgrade"):
		return errNoConnUpgrade
	case !hasToken(r.upgrade, "websocket"):
		return errNoUpgradeWS
	case len(r.version) == 0 || r.version[0] != "13":
		return errVersion
	case len(r.keys) != 1 || !validKey(r.keys[0]):
		return errBadKey
	case !originAllowed(r.origin, r.host, opts):
		return errOrigin
	}
	return nil
}

// negotiated is what the opening handshake settled: the subprotocol and,
// if permessage-deflate was agreed, its parameters and the response's
// Sec-WebSocket-Extensions value.
type negotiated struct {
	subprotocol string
	extensions  string
	deflate     deflateParams
	compress    bool // permessage-deflate is in use
}

// negotiate chooses, among what a checked request offers, the subprotocol
// and the extensions the connection uses (RFC 6455 sections 4.2.2 and 9.1).
func (r *upgradeRequest) negotiate(opts *Options) negotiated {
	neg := negotiated{subprotocol: selectSubprotocol(r.protocol, opts.Subprotocols)}
	if opts.Compression != nil {
		neg.deflate, neg.extensions, neg.compress = negotiateDeflate(r.extensions, opts.Compression.config())
	}
	return neg
}

// writeAccept answers a checked request, whose Sec-WebSocket-Key is key,
// with the 101 response naming what was negotiated. Lines of extra are
// added to the response, except those of the handshake itself. The caller
// bounds it with a write deadline. On error it closes the connection.
func writeAccept(nc net.Conn, key string, neg *negotiated, extra http.Header) error {
	bp := getBuffer(512)
	defer putBuffer(bp)
	resp := append((*bp)[:0], "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	resp = appendAcceptKey(resp, key)
	if neg.subprotocol != "" {
		resp = append(append(resp, "\r\nSec-WebSocket-Protocol: "...), neg.subprotocol...)
	}
	if neg.extensions != "" {
		resp = append(append(resp, "\r\nSec-WebSocket-Extensions: "...), neg.extensions...)
	}
	resp = append(resp, "\r\n"...)
	if len(extra) > 0 {
		buf := bytes.NewBuffer(resp)
		extra.WriteSubset(buf, handshakeHeaders)
		resp = buf.Bytes()
	}
	resp = append(resp, "\r\n"...)
	if _, err := nc.Write(resp); err != nil {
		closeNetConn(nc) // a close_notify would wait on the same peer
		return errors.New("websocket: writing the handshake response: " + err.Error())
	}
	return nil
}

// handshakeHeaders are the headers that the handshake sets itself, by
// their canonical names: a caller's lines of these are not sent, by the
// server nor by Dial.
var handshakeHeaders = map[string]bool{
	"Host":                     true,
	"Upgrade":                  true,
	"Connection":               true,
	"Sec-Websocket-Key":        true,
	"Sec-Websocket-Version":    true,
	"Sec-Websocket-Accept":     true,
	"Sec-Websocket-Protocol":   true,
	"Sec-Websocket-Extensions": true,
}

// validKey reports whether key is the base64 encoding of 16 bytes.
func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var raw [18]byte
	n, err := base64.StdEncoding.Decode(raw[:], []byte(key))
	return err == nil && n == 16
}

// originAllowed applies the origin policy described on Options to the
// Origin header lines of a request for host.
func originAllowed(origins []string, host string, opts *Options) bool {
	if opts.InsecureSkipOriginCheck || len(origins) == 0 {
		return true
	}
	// An origin is scheme://host[:port]; "null" and other opaque origins
	// have no host and match nothing.
	_, originHost, ok := strings.Cut(origins[0], "://")
	if !ok || originHost == "" {
		return false
	}
	if strings.EqualFold(originHost, host) {
		return true
	}
	originHost = strings.ToLower(originHost)
	for _, p := range opts.OriginPatterns {
		if ok, _ := path.Match(strings.ToLower(p), originHost); ok {
			return true
		}
	}
	return opts.CheckOrigin != nil && opts.CheckOrigin(origins[0], host)
}

// refused reports a refused handshake to the OnRefuse hook, if any.
func (o *Options) refused(remoteAddr string, e *handshakeError) {
	if o.OnRefuse != nil {
		o.OnRefuse(remoteAddr, e.status, e)
	}
}

// header returns the header line that the refusal's response needs, if any.
func (e *handshakeError) header() (name, value string) {
	switch e {
	case errNotGET:
		return "Allow", http.MethodGet
	case errNotConnect:
		return "Allow", http.MethodConnect
	case errVersion:
		return "Sec-WebSocket-Version", "13"
	}
	return "", ""
}

// selectSubprotocol returns the first of the server's subprotocols that the
// client's Sec-WebSocket-Protocol header lines offer, or "".
func selectSubprotocol(offered []string, supported []string) string {
	for _, s := range supported {
		for t := range tokens(offered) {
			if t == s {
				return s
			}
		}
	}
	return ""
}

// hasToken reports whether the comma-separated header lines contain token,
// compared case-insensitively.
func hasToken(lines []string, token string) bool {
	for t := range tokens(lines) {
		if strings.EqualFold(t, token) {
			return true
		}
	}
	return false
}

// tokens yields the elements of comma-separated header lines, trimmed of
// white space, skipping empty ones.
func tokens(lines []string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, line := range lines {
			for line != "" {
				var t string
				t, line, _ = strings.Cut(line, ",")
				if t = strings.Trim(t, " \t"); t != "" && !yield(t) {
					return
				}
			}
		}
	}
}
