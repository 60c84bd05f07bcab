//go:build !js

package websocket

// This file holds WebSockets over HTTP/2 (RFC 8441): the server's side of
// the extended CONNECT handshake, the net.Conn a Conn runs over on the
// HTTP/2 stream, and EnableExtendedConnect, which turns the feature on in
// net/http.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	errNotConnect = &handshakeError{status: http.StatusMethodNotAllowed, msg: "websocket: over HTTP/2 the opening handshake must be an extended CONNECT request (RFC 8441)"}
	errNoProtocol = &handshakeError{status: http.StatusBadRequest, msg: "websocket: an HTTP/2 CONNECT request must carry the :protocol pseudo-header \"websocket\" (RFC 8441)"}
	errNoDeadline = &handshakeError{status: http.StatusInternalServerError, msg: "websocket: the HTTP/2 response writer supports no deadlines (a middleware that hides the http.Server's writer without an Unwrap method?)"}
)

// isExtendedConnect reports whether r is an HTTP/2 extended CONNECT request
// for the WebSocket protocol (RFC 8441 section 4). net/http shows the
// :protocol pseudo-header as r.Header[":protocol"], and only when extended
// CONNECT is enabled.
func isExtendedConnect(r *http.Request) bool {
	return r.ProtoMajor == 2 && r.Method == http.MethodConnect && hasProtocol(r)
}

// hasProtocol reports whether r's :protocol pseudo-header is "websocket".
func hasProtocol(r *http.Request) bool {
	p := r.Header[":protocol"]
	return len(p) == 1 && strings.EqualFold(p[0], "websocket")
}

// upgradeHTTP2 is Upgrade for an HTTP/2 request (RFC 8441 section 5): it
// checks and answers the extended CONNECT with 200, flushed at once, and
// returns a Conn over the stream.
func upgradeHTTP2(w http.ResponseWriter, r *http.Request, opts *Options, accept func(*http.Request) (any, error)) (*Conn, error) {
	req := upgradeRequest{
		host:       r.Host,
		version:    r.Header["Sec-Websocket-Version"],
		origin:     r.Header["Origin"],
		protocol:   r.Header["Sec-Websocket-Protocol"],
		extensions: r.Header["Sec-Websocket-Extensions"],
	}
	rc := http.NewResponseController(w)
	check := func() error {
		if err := checkHTTP2(r, &req, opts); err != nil {
			return err
		}
		// Drop any deadline the http.Server set for the stream, and bound
		// the response; a writer that cannot is refused, since Close
		// relies on them.
		if rc.SetReadDeadline(time.Time{}) != nil ||
			rc.SetWriteDeadline(time.Now().Add(opts.handshakeTimeout())) != nil {
			return errNoDeadline
		}
		return nil
	}
	value, he := admit(check, accept, func() *http.Request { return r }, serverOf(r), r.RemoteAddr)
	if he != nil {
		refuse(w, he)
		opts.refused(r.RemoteAddr, he)
		return nil, he
	}
	neg := req.negotiate(opts)
	h := w.Header()
	for name := range handshakeHeaders {
		delete(h, name)
	}
	if neg.subprotocol != "" {
		h["Sec-Websocket-Protocol"] = []string{neg.subprotocol}
	}
	if neg.extensions != "" {
		h["Sec-Websocket-Extensions"] = []string{neg.extensions}
	}
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		r.Body.Close()
		return nil, fmt.Errorf("websocket: sending the handshake response: %w", err)
	}
	rc.SetWriteDeadline(time.Time{})
	c := newConn(newH2Stream(w, r, rc), true, nil, opts, neg)
	if value != nil {
		c.SetValue(value)
	}
	return c, nil
}

// checkHTTP2 checks an HTTP/2 request against RFC 8441 section 5 and the
// origin policy. A Sec-WebSocket-Key is ignored, and the request's body is
// the stream the WebSocket runs over.
func checkHTTP2(r *http.Request, req *upgradeRequest, opts *Options) error {
	switch {
	case r.Method != http.MethodConnect:
		return errNotConnect
	case !hasProtocol(r):
		return errNoProtocol
	case len(req.version) == 0 || req.version[0] != "13":
		return errVersion
	case !originAllowed(req.origin, req.host, opts):
		return errOrigin
	}
	return nil
}

// refuse answers a refused handshake with its status, the header line it
// needs and its message.
func refuse(w http.ResponseWriter, he *handshakeError) {
	if name, value := he.header(); name != "" {
		w.Header().Set(name, value)
	}
	http.Error(w, he.msg, he.status)
}

// h2Stream is the net.Conn a Conn runs over on an HTTP/2 stream: reads come
// from the request body, and each write goes to the response and is
// flushed. It never uses the response writer once closed, so a handler may
// return as soon as Close has returned.
//
// The read deadline is the stream's own. net/http's (set through the
// ResponseController) closes the body for good when it passes, which would
// make every read timeout final, where a Conn's timeout between messages
// leaves it usable. So each Read hands the body read to a goroutine that
// lives until that read returns, and waits for it only until the deadline:
// a read that times out goes on in the background, and the next Read takes
// what it brings. So a goroutine lives only while a body read is under way:
// a stream has none unless the Conn is reading from it, or a read that
// timed out still waits for the client.
type h2Stream struct {
	body          io.ReadCloser
	w             io.Writer
	rc            *http.ResponseController
	local, remote net.Addr
	closed        atomic.Bool

	// The read side, used by one Read at a time (the Conn's readMu) and,
	// while a body read is under way, by readBody, which owns rbuf until
	// it sends on results.
	results chan h2Read // the outcome of the body read under way; capacity 1
	reading bool        // a body read is under way
	rbuf    []byte      // what body reads read into
	rdata   []byte      // what a body read brought that no Read has returned yet
	rerr    error       // its error, returned once rdata is used up

	// mu guards the fields below and is held by calls of rc's deadline
	// methods, so that none starts after Close.
	mu        sync.Mutex
	writing   int           // Writes under way
	drained   chan struct{} // made by Close while Writes are under way; closed by the last
	wdeadline time.Time     // the write deadline, to tell a timeout from a reset stream
	rdeadline time.Time     // the read deadline
	rwake     chan struct{} // made by a waiting Read, closed when the read deadline changes
}

// h2Read is the outcome of a body read.
type h2Read struct {
	n   int
	err error
}

// h2ReadSize bounds a body read: what the Conn asks for, up to this.
const h2ReadSize = 16 << 10

// newH2Stream returns the stream of the request r and its response w.
func newH2Stream(w http.ResponseWriter, r *http.Request, rc *http.ResponseController) *h2Stream {
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if local == nil {
		local = textAddr("")
	}
	var remote net.Addr = textAddr(r.RemoteAddr)
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		remote = net.TCPAddrFromAddrPort(ap)
	}
	return &h2Stream{body: r.Body, w: w, rc: rc, local: local, remote: remote, results: make(chan h2Read, 1)}
}

// Read reads from the request body: what the client sends on the stream.
// After the read deadline it returns os.ErrDeadlineExceeded and changes
// nothing: the body read it waited for goes on, and the next Read returns
// what it brings.
func (s *h2Stream) Read(p []byte) (int, error) {
	for {
		if s.closed.Load() {
			return 0, net.ErrClosed
		}
		if len(s.rdata) > 0 {
			n := copy(p, s.rdata)
			s.rdata = s.rdata[n:]
			return n, nil
		}
		if err := s.rerr; err != nil {
			s.rerr = nil
			return 0, err
		}
		if len(p) == 0 {
			return 0, nil
		}
		if !s.reading {
			if s.rbuf == nil {
				s.rbuf = make([]byte, h2ReadSize)
			}
			s.reading = true
			go s.readBody(min(len(p), len(s.rbuf)))
		}
		if err := s.awaitBody(); err != nil {
			return 0, err
		}
	}
}

// readBody makes one body read of up to n bytes into rbuf, and sends its
// outcome on results. Close ends it by closing the body.
func (s *h2Stream) readBody(n int) {
	n, err := s.body.Read(s.rbuf[:n])
	s.results <- h2Read{n, err}
}

// awaitBody waits for the body read under way to return, and keeps what it
// brought in rdata and rerr, unless the read deadline passes first: then it
// returns os.ErrDeadlineExceeded. A change of the deadline meanwhile
// applies.
func (s *h2Stream) awaitBody() error {
	for {
		s.mu.Lock()
		deadline := s.rdeadline
		if s.rwake == nil {
			s.rwake = make(chan struct{})
		}
		wake := s.rwake
		s.mu.Unlock()
		var timer *time.Timer
		var expired <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(d)
			expired = timer.C
		}
		done, err := false, error(nil)
		select {
		case r := <-s.results:
			s.reading = false
			s.rdata, s.rerr = s.rbuf[:r.n], r.err
			if r.err != nil && s.closed.Load() {
				s.rerr = net.ErrClosed
			}
			done = true
		case <-expired:
			err = os.ErrDeadlineExceeded
		case <-wake:
		}
		if timer != nil {
			timer.Stop()
		}
		if done || err != nil {
			return err
		}
	}
}

// Write writes p to the response and flushes it. After a write deadline
// has passed, its error wraps os.ErrDeadlineExceeded.
func (s *h2Stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return 0, net.ErrClosed
	}
	s.writing++
	s.mu.Unlock()

	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}

	s.mu.Lock()
	s.writing--
	if s.writing == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
	deadline := s.wdeadline
	s.mu.Unlock()
	switch {
	case err == nil:
	case s.closed.Load():
		err = net.ErrClosed
	case !deadline.IsZero() && !time.Now().Before(deadline):
		err = fmt.Errorf("websocket: writing to the HTTP/2 stream: %w (%v)", os.ErrDeadlineExceeded, err)
	}
	return n, err
}

// Close ends the stream: it closes the request body, which ends a Read
// under way, and resets the stream if a Write is under way, waiting for it
// to return. The HTTP/2 server ends the response when the handler returns.
func (s *h2Stream) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return net.ErrClosed
	}
	var drained chan struct{}
	if s.writing > 0 {
		drained = make(chan struct{})
		s.drained = drained
		// A deadline in the past resets the stream at once, which ends
		// a Write waiting for the peer's flow control.
		s.rc.SetWriteDeadline(time.Unix(1, 0))
	}
	s.mu.Unlock()
	err := s.body.Close()
	if drained != nil {
		<-drained
	}
	return err
}

// LocalAddr returns the server's address of the HTTP/2 connection.
func (s *h2Stream) LocalAddr() net.Addr { return s.local }

// RemoteAddr returns the client's address of the HTTP/2 connection.
func (s *h2Stream) RemoteAddr() net.Addr { return s.remote }

// SetDeadline sets both deadlines of the stream.
func (s *h2Stream) SetDeadline(t time.Time) error {
	if err := s.SetReadDeadline(t); err != nil {
		return err
	}
	return s.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline of the stream, which applies to
// a Read under way too. It is the stream's own, not the HTTP/2 server's
// (see h2Stream).
func (s *h2Stream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return net.ErrClosed
	}
	s.rdeadline = t
	if s.rwake != nil {
		close(s.rwake)
		s.rwake = nil
	}
	return nil
}

// SetWriteDeadline sets the write deadline of the stream. Once it has
// passed, the HTTP/2 server resets the stream.
func (s *h2Stream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return net.ErrClosed
	}
	s.wdeadline = t
	return s.rc.SetWriteDeadline(t)
}

// textAddr is a network address known only as text, such as a request's
// RemoteAddr that is not an IP address and port.
type textAddr string

// Network returns "tcp", the network HTTP/2 runs over.
func (textAddr) Network() string { return "tcp" }

func (a textAddr) String() string { return string(a) }

// xconnectGODEBUG records whether GODEBUG enabled extended CONNECT in
// net/http, which reads the environment once, as the program starts.
var xconnectGODEBUG = strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1")

// ErrExtendedConnectDisabled is returned by EnableExtendedConnect when the
// Go release can enable extended CONNECT only for the whole process, and
// the process was started without it.
var ErrExtendedConnectDisabled = errors.New("websocket: HTTP/2 extended CONNECT is off: this Go release turns it on only with GODEBUG=http2xconnect=1 in the environment the program starts with")

// EnableExtendedConnect makes srv accept WebSockets over HTTP/2 (RFC 8441)
// where the Go release allows it per server: it sets the field
// EnableConnectProtocol of srv.HTTP2 (making srv.HTTP2 if nil), which
// newer Go releases add. Go 1.26 and earlier lack that field; there
// extended CONNECT is on for every server of the process when the
// environment the program starts with has GODEBUG=http2xconnect=1, and
// EnableExtendedConnect only reports whether it is, returning
// ErrExtendedConnectDisabled if not. Call it before srv serves.
//
// Once a server advertises extended CONNECT, Chrome and Firefox open wss://
// connections over an HTTP/2 connection they already have to it, and no
// longer over HTTP/1.1: every WebSocket endpoint the server has must then
// accept HTTP/2, as Upgrade, Server and Handler do.
func EnableExtendedConnect(srv *http.Server) error {
	if setBoolField(&srv.HTTP2, "EnableConnectProtocol") || xconnectGODEBUG {
		return nil
	}
	return ErrExtendedConnectDisabled
}

// setBoolField sets to true the bool field name of the struct that *p
// points to, making it if *p is nil, and reports whether the struct type
// has such a field.
func setBoolField[T any](p **T, name string) bool {
	f, ok := reflect.TypeFor[T]().FieldByName(name)
	if !ok || f.Type.Kind() != reflect.Bool || !f.IsExported() {
		return false
	}
	if *p == nil {
		*p = new(T)
	}
	reflect.ValueOf(*p).Elem().FieldByIndex(f.Index).SetBool(true)
	return true
}
