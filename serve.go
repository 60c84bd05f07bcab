//go:build !js

package websocket

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"runtime"
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

// ServeHTTP upgrades the request with the default Options and runs h on the
// connection as Server.ServeHTTP does; but no Shutdown can reach these
// connections: use a Server for that.
func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := Upgrade(w, r, nil)
	if err != nil {
		return
	}
	srv := serverOf(r)
	if r.ProtoMajor == 2 {
		runHandler(c, h, srv)
		awaitClosed(c)
		return
	}
	go runHandler(c, h, srv)
}

// Server upgrades requests with its Options and runs Handler on each
// connection. It is an http.Handler; Serve runs it on a listener of its
// own. A Server must not be copied after first use.
type Server struct {
	Options

	// Handler is called with each new connection. Over HTTP/1.1 it runs on
	// a goroutine of its own: ServeHTTP returns once the connection is
	// upgraded, so that the HTTP server's memory for the request is freed
	// while the connection lives. Over HTTP/2 (RFC 8441) the connection
	// is a stream of the HTTP/2 connection, which lives only as long as
	// ServeHTTP: Handler runs within it, and ServeHTTP returns once the
	// connection is closed. When Handler returns, the connection is closed with status
	// 1000 (normal closure). If it panics, the connection is closed with
	// status 1011 (internal error) and the panic is logged with its stack
	// to the http.Server's ErrorLog (or the log package's standard logger),
	// as net/http does for handler panics; http.ErrAbortHandler is not
	// logged.
	Handler func(*Conn)

	// Accept, if set, is called with each request that passed the
	// handshake's checks, before the response is sent, on the request's
	// goroutine. It sees everything of the request: URL, cookies, the
	// values middleware put in its context (under Serve, r holds the
	// request line and every header line, and is read only when Accept is
	// set). It returns the value that the connection's Value method will
	// return, such as the authenticated user, or an error to refuse the
	// request: an *HTTPError chooses the status, any other error (a nil
	// *HTTPError too) gives 403 Forbidden, and the error's text is the
	// response body. The error that Upgrade returns and OnRefuse receives
	// then wraps it, for errors.Is and errors.As. If Accept panics, the
	// request is refused with 500 (internal server error) and the panic is
	// logged with its stack, as a panic in Handler is.
	Accept func(r *http.Request) (value any, err error)

	mu        sync.Mutex
	conns     map[*Conn]struct{} // connections whose Handler runs
	listeners map[net.Listener]struct{}
	shutdown  bool
	handlers  sync.WaitGroup // one count per entry of conns
}

// ServeHTTP upgrades the request, answering with an HTTP error if it is not
// a valid WebSocket handshake, and starts s.Handler on the connection; over
// HTTP/2 it runs s.Handler itself and returns once the connection is
// closed.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := upgrade(w, r, &s.Options, s.Accept)
	if err != nil {
		return
	}
	srv := serverOf(r)
	if r.ProtoMajor == 2 {
		s.run(c, srv)
		awaitClosed(c)
		return
	}
	go s.run(c, srv)
}

// Upgrade upgrades the request as ServeHTTP does, with the Server's
// Options and Accept, but returns the connection to the caller instead of
// running Handler: for handlers that upgrade themselves, yet want the
// Server's Shutdown to close their connections with 1001 and wait until
// they are closed. The caller must close the connection when done with it.
// After Shutdown it refuses the request with 503 and returns
// http.ErrServerClosed.
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request) (*Conn, error) {
	s.mu.Lock()
	closed := s.shutdown
	s.mu.Unlock()
	if closed {
		http.Error(w, "websocket: the server is shutting down", http.StatusServiceUnavailable)
		return nil, http.ErrServerClosed
	}
	c, err := upgrade(w, r, &s.Options, s.Accept)
	if err != nil {
		return nil, err
	}
	c.appState().server = s // untracked when the connection closes
	if !s.track(c) {
		c.app.server = nil
		c.Close(StatusGoingAway, "server shutting down")
		return nil, http.ErrServerClosed
	}
	return c, nil
}

// awaitClosed waits until c's network connection is closed, which the
// close that ended the Handler brings about within the close timeout, and
// closes it at once after that. An HTTP/2 handler calls it before
// returning, since the stream must not be used after.
func awaitClosed(c *Conn) {
	t := time.NewTimer(c.closeTimeout)
	defer t.Stop()
	select {
	case <-c.Done():
	case <-t.C:
		c.CloseNow()
		<-c.Done()
	}
}

// Shutdown closes every connection the Server is serving with status 1001
// (going away), closes the listeners given to Serve, and closes with 1001
// any connection upgraded from then on as soon as it opens, without running
// the Handler. It waits for the close handshakes and the Handlers to
// return, or for ctx to be done; then it closes the remaining connections
// at once and returns ctx.Err().
//
// An http.Server forgets HTTP/1.1 connections once they are upgraded, so
// its own Shutdown neither closes nor waits for them; but it waits for the
// HTTP/2 streams that WebSockets run on until they end. Call this first, or
// both at once: connections upgraded after this has begun are closed at
// once, whichever protocol they came over.
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

// run runs the Handler on c, tracked for Shutdown, unless Shutdown has
// begun, in which case it closes c with 1001 at once.
func (s *Server) run(c *Conn, srv *http.Server) {
	if !s.track(c) {
		c.Close(StatusGoingAway, "server shutting down")
		return
	}
	defer s.untrack(c)
	runHandler(c, s.Handler, srv)
}

// runHandler runs handler on c and closes c when it returns (1000) or
// panics (1011), logging the panic to srv's ErrorLog as net/http does.
func runHandler(c *Conn, handler func(*Conn), srv *http.Server) {
	defer func() {
		p := recover()
		if p == nil {
			c.Close(StatusNormalClosure, "")
			return
		}
		c.Close(StatusInternalError, "")
		logPanic(srv, "serving "+c.RemoteAddr().String(), p)
	}()
	handler(c)
}

// logPanic logs p, a panic recovered from the application's code while
// doing what during says, with the stack, to srv's ErrorLog, or to the log
// package's standard logger if srv is nil or has none, as net/http does for
// handler panics; http.ErrAbortHandler, which asks for no log, is not
// logged.
func logPanic(srv *http.Server, during string, p any) {
	if p == http.ErrAbortHandler {
		return
	}
	stack := make([]byte, 64<<10)
	stack = stack[:runtime.Stack(stack, false)]
	logf := log.Printf
	if srv != nil && srv.ErrorLog != nil {
		logf = srv.ErrorLog.Printf
	}
	logf("websocket: panic %s: %v\n%s", during, p, stack)
}

// panicError returns a recovered panic value as an error: p itself if it
// is one, so that errors.Is and errors.As reach it.
func panicError(p any) error {
	if err, ok := p.(error); ok {
		return err
	}
	return fmt.Errorf("panic: %v", p)
}

// serverOf returns the http.Server that serves r, or nil.
func serverOf(r *http.Request) *http.Server {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	return srv
}

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
// Panics in the Handler, and in the hooks of the opening handshake
// (CheckOrigin, Accept, OnRefuse), are logged with the log package's
// standard logger; they do not stop the server.
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
	// No http.Server recovers what panics here: the hooks admit does not
	// cover (OnRefuse), or a bug. Log it and drop the connection, as
	// net/http does, rather than take the process down.
	defer func() {
		if p := recover(); p != nil {
			closeNetConn(nc)
			logPanic(nil, "in the opening handshake of "+nc.RemoteAddr().String(), p)
		}
	}()
	nc.SetDeadline(time.Now().Add(s.Options.handshakeTimeout()))
	c, key, neg := s.readRequest(nc)
	if c == nil || writeAccept(nc, key, &neg, nil) != nil {
		return
	}
	nc.SetDeadline(time.Time{})
	go s.run(c, nil)
}
