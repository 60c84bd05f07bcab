//go:build !js

package websocket

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// This file tests the Server's life cycle: Shutdown of live and late
// connections, and Serve after Shutdown.

// TestShutdown checks that Shutdown closes live connections with 1001 and
// waits for their handlers, that Serve then returns http.ErrServerClosed,
// and that its listener is closed.
func TestShutdown(t *testing.T) {
	handlerDone := make(chan struct{}, 2)
	s := &Server{Handler: func(c *Conn) {
		echoHandler(c)
		handlerDone <- struct{}{}
	}}
	addr, served := serveListener(t, s)
	clients := []*rawClient{connect(t, addr), connect(t, addr)}
	for _, c := range clients {
		c.sendFrame(true, opText, []byte("up"))
		c.expectFrame(opText, "up")
	}
	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(context.Background()) }()
	for _, c := range clients {
		c.expectCloseFrameReason(StatusGoingAway, "server shutting down")
		c.answerClose()
	}
	if err := await(t, shutdown, "Shutdown to return"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if len(handlerDone) != 2 {
		t.Errorf("Shutdown returned with %d of 2 handlers finished", len(handlerDone))
	}
	if err := await(t, served, "Serve to return"); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
	}
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Error("the listener still accepts connections")
	}
}

// TestShutdownLateConnection checks that a connection upgraded after
// Shutdown began is closed with 1001 without running the Handler.
func TestShutdownLateConnection(t *testing.T) {
	ran := make(chan struct{}, 1)
	s := &Server{Handler: func(c *Conn) { ran <- struct{}{} }}
	addr := serveWS(t, s, false).Listener.Addr().String()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := connect(t, addr)
	c.expectCloseFrameReason(StatusGoingAway, "server shutting down")
	c.answerClose()
	c.expectEOF()
	if len(ran) != 0 {
		t.Error("the Handler ran after Shutdown")
	}
}

// TestShutdownContext checks that Shutdown gives up when its context ends,
// dropping a peer that never answers the close frame.
func TestShutdownContext(t *testing.T) {
	s := &Server{Handler: echoHandler}
	addr, _ := serveListener(t, s)
	c := connect(t, addr)
	c.sendFrame(true, opText, []byte("up"))
	c.expectFrame(opText, "up")
	ctx, cancel := context.WithCancel(context.Background())
	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(ctx) }()
	c.expectCloseFrameReason(StatusGoingAway, "server shutting down")
	cancel() // instead of answering
	if err := await(t, shutdown, "Shutdown to return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown returned %v, want context.Canceled", err)
	}
	c.expectEOF()
}

// TestServeAfterShutdown checks that Serve called after Shutdown returns
// http.ErrServerClosed and closes the listener, as it does whenever it
// returns.
func TestServeAfterShutdown(t *testing.T) {
	s := &Server{Handler: echoHandler}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
	}
	// On an open listener the deadline makes Accept time out at once.
	ln.(*net.TCPListener).SetDeadline(time.Now())
	if conn, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		if conn != nil {
			conn.Close()
		}
		t.Errorf("Accept on the listener after Serve returned: %v; want net.ErrClosed", err)
	}
}

// TestAccept checks Server.Accept on both ways in, net/http and Serve: it
// sees the request's URL and cookies, its value reaches the handler through
// Conn.Value, and its error refuses the request with the HTTPError's status
// (403 for other errors), reported to OnRefuse.
func TestAccept(t *testing.T) {
	for _, viaServe := range []bool{false, true} {
		t.Run(map[bool]string{false: "net/http", true: "Serve"}[viaServe], func(t *testing.T) {
			values := make(chan any, 1)
			refused := make(chan int, 2)
			s := &Server{
				Options: Options{OnRefuse: func(_ string, status int, _ error) { refused <- status }},
				Accept: func(r *http.Request) (any, error) {
					switch r.URL.Query().Get("who") {
					case "":
						return nil, &HTTPError{Status: http.StatusUnauthorized, Message: "who are you?"}
					case "mallory":
						return nil, errors.New("not you")
					}
					cookie, err := r.Cookie("session")
					if err != nil {
						return nil, err
					}
					return r.URL.Query().Get("who") + "/" + cookie.Value, nil
				},
				Handler: func(c *Conn) { values <- c.Value() },
			}
			var addr string
			if viaServe {
				addr, _ = serveListener(t, s)
			} else {
				addr = serveWS(t, s, false).Listener.Addr().String()
			}
			for _, tt := range []struct {
				query  string
				status int
			}{{"", http.StatusUnauthorized}, {"?who=mallory", http.StatusForbidden}} {
				_, resp, err := Dial(context.Background(), "ws://"+addr+"/"+tt.query, nil)
				if err == nil || resp == nil || resp.StatusCode != tt.status {
					t.Fatalf("query %q: %v, %v; want status %d", tt.query, resp, err, tt.status)
				}
				if got := await(t, refused, "OnRefuse"); got != tt.status {
					t.Errorf("OnRefuse status %d, want %d", got, tt.status)
				}
			}
			c := mustDial(t, "ws://"+addr+"/?who=alice", &DialOptions{Header: http.Header{"Cookie": {"session=s3"}}})
			defer c.CloseNow()
			if v := await(t, values, "the handler"); v != "alice/s3" {
				t.Errorf("Value %v, want alice/s3", v)
			}
		})
	}
}

// TestServerUpgradeShutdown checks that connections a handler upgraded with
// Server.Upgrade take part in Shutdown: they get 1001, the handler's read
// says this side closed, and Shutdown waits until they are closed.
func TestServerUpgradeShutdown(t *testing.T) {
	s := &Server{}
	readErr := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.Upgrade(w, r)
		if err != nil {
			return
		}
		go func() {
			_, _, err := c.ReadMessage()
			readErr <- err
			c.Close(StatusNormalClosure, "")
		}()
	}))
	t.Cleanup(srv.Close)
	c := mustDial(t, wsURL(srv.Listener.Addr().String()), nil)
	defer c.CloseNow()
	go c.ReadMessage() // answers the close
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	var ce *CloseError
	err := await(t, readErr, "the handler's read")
	if !errors.As(err, &ce) || ce.Code != StatusGoingAway || !strings.Contains(err.Error(), "closed by this side") {
		t.Fatalf("handler's read: %v, want this side's 1001, answered", err)
	}
	s.mu.Lock()
	left := len(s.conns)
	s.mu.Unlock()
	if left != 0 {
		t.Errorf("%d connections still tracked after Shutdown", left)
	}
}

// TestCheckOriginAndReadLimit checks Options.CheckOrigin, consulted for an
// Origin the rules refuse, and Conn.SetReadLimit after the upgrade.
func TestCheckOriginAndReadLimit(t *testing.T) {
	asked := make(chan string, 1)
	addr, _ := serveConn(t, Options{CheckOrigin: func(origin, host string) bool {
		asked <- origin
		return origin == "https://friend.example"
	}}, func(c *Conn) {
		c.SetReadLimit(10)
		c.ReadMessage()
	})
	_, resp, err := Dial(context.Background(), wsURL(addr), &DialOptions{Header: http.Header{"Origin": {"https://foe.example"}}})
	if err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v", err)
	}
	await(t, asked, "CheckOrigin")
	c := mustDial(t, wsURL(addr), &DialOptions{Header: http.Header{"Origin": {"https://friend.example"}}})
	if got := await(t, asked, "CheckOrigin"); got != "https://friend.example" {
		t.Errorf("CheckOrigin asked about %q", got)
	}
	c.WriteMessage(BinaryMessage, make([]byte, 11))
	var ce *CloseError
	if _, _, err := c.ReadMessage(); !errors.As(err, &ce) || ce.Code != StatusMessageTooBig {
		t.Fatalf("message over the new limit: %v, want 1009", err)
	}
}

// refusal is what OnRefuse was called with.
type refusal struct {
	status int
	err    error
}

// serveLogged serves s on loopback, through net/http (an http.Server whose
// ErrorLog writes to logs) or through Serve (with the standard logger
// writing to logs until the test ends), and returns the address. Under
// net/http the requests go through Server.Upgrade, whose errors are sent
// on upgradeErrs.
func serveLogged(t *testing.T, s *Server, viaServe bool, logs logSink, upgradeErrs chan<- error) string {
	t.Helper()
	if viaServe {
		prev := log.Writer()
		log.SetOutput(logs)
		t.Cleanup(func() { log.SetOutput(prev) })
		addr, _ := serveListener(t, s)
		return addr
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.Upgrade(w, r)
		if err != nil {
			upgradeErrs <- err
			return
		}
		go func() {
			echoHandler(c)
			c.Close(StatusNormalClosure, "")
		}()
	}))
	srv.Config.ErrorLog = log.New(logs, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestServeRecoversHandshakePanic checks that a panic in a hook of the
// opening handshake (CheckOrigin, Accept) refuses that request with 500,
// logs the panic with its stack, reports a refusal that unwraps to the
// panic's error, and leaves the server serving: under Serve, where no
// http.Server recovers it, as under net/http.
func TestServeRecoversHandshakePanic(t *testing.T) {
	errExploded := errors.New("accept exploded")
	for _, viaServe := range []bool{false, true} {
		t.Run(map[bool]string{false: "net/http", true: "Serve"}[viaServe], func(t *testing.T) {
			logs := make(logSink, 16)
			refused := make(chan refusal, 4)
			upgradeErrs := make(chan error, 4)
			s := &Server{
				Options: Options{
					CheckOrigin: func(origin, host string) bool { panic("origin check exploded") },
					OnRefuse:    func(_ string, status int, err error) { refused <- refusal{status, err} },
				},
				Accept: func(r *http.Request) (any, error) {
					if r.URL.Query().Has("boom") {
						panic(errExploded)
					}
					return nil, nil
				},
				Handler: echoHandler,
			}
			addr := serveLogged(t, s, viaServe, logs, upgradeErrs)
			for _, tc := range []struct {
				name, query, origin, logged string
			}{
				{"CheckOrigin", "", "https://foe.example", "origin check exploded"},
				{"Accept", "?boom", "", "accept exploded"},
			} {
				var h http.Header
				if tc.origin != "" {
					h = http.Header{"Origin": {tc.origin}}
				}
				_, resp, err := Dial(context.Background(), wsURL(addr)+tc.query, &DialOptions{Header: h})
				if err == nil || resp == nil || resp.StatusCode != http.StatusInternalServerError {
					t.Fatalf("%s panics: %v, %v; want status 500", tc.name, resp, err)
				}
				line := await(t, logs, "the log of the panic")
				if !strings.Contains(line, tc.logged) || !strings.Contains(line, "goroutine ") {
					t.Errorf("%s panics: log %q, want the panic and its stack", tc.name, line)
				}
				r := await(t, refused, "OnRefuse")
				if r.status != http.StatusInternalServerError {
					t.Errorf("%s panics: OnRefuse status %d, want 500", tc.name, r.status)
				}
				if tc.name == "Accept" && !errors.Is(r.err, errExploded) {
					t.Errorf("Accept panics: OnRefuse error %v does not unwrap to the panic's", r.err)
				}
				if !viaServe {
					await(t, upgradeErrs, "Upgrade's error")
				}
			}
			c := mustDial(t, wsURL(addr), nil)
			defer c.CloseNow()
			checkEcho(t, c, "still serving")
		})
	}
}

// TestAcceptRefusalErrors checks how Server.Accept's errors refuse a
// request: an *HTTPError with its status, reached by errors.As through the
// refusal that OnRefuse and Upgrade get; a nil *HTTPError (a non-nil
// error) with 403, not a crash; another error with 403, reached by
// errors.Is through the refusal.
func TestAcceptRefusalErrors(t *testing.T) {
	errBanned := errors.New("banned")
	for _, viaServe := range []bool{false, true} {
		t.Run(map[bool]string{false: "net/http", true: "Serve"}[viaServe], func(t *testing.T) {
			refused := make(chan refusal, 4)
			upgradeErrs := make(chan error, 4)
			s := &Server{
				Options: Options{OnRefuse: func(_ string, status int, err error) { refused <- refusal{status, err} }},
				Accept: func(r *http.Request) (any, error) {
					switch r.URL.Query().Get("as") {
					case "http":
						return nil, &HTTPError{Status: http.StatusUnauthorized, Message: "who are you?"}
					case "nil":
						return nil, (*HTTPError)(nil)
					default:
						return nil, fmt.Errorf("you are %w", errBanned)
					}
				},
				Handler: echoHandler,
			}
			addr := serveLogged(t, s, viaServe, make(logSink, 16), upgradeErrs)
			for _, tc := range []struct {
				as     string
				status int
				check  func(error) bool
			}{
				{"http", http.StatusUnauthorized, func(err error) bool {
					var he *HTTPError
					return errors.As(err, &he) && he != nil && he.Status == http.StatusUnauthorized
				}},
				{"nil", http.StatusForbidden, func(err error) bool {
					var he *HTTPError // a nil one: no cause to reach
					return err != nil && err.Error() != "" && !errors.As(err, &he)
				}},
				{"wrapped", http.StatusForbidden, func(err error) bool { return errors.Is(err, errBanned) }},
			} {
				_, resp, err := Dial(context.Background(), wsURL(addr)+"?as="+tc.as, nil)
				if err == nil || resp == nil || resp.StatusCode != tc.status {
					t.Fatalf("Accept refuses as %s: %v, %v; want status %d", tc.as, resp, err, tc.status)
				}
				r := await(t, refused, "OnRefuse")
				if r.status != tc.status || !tc.check(r.err) {
					t.Errorf("Accept refuses as %s: OnRefuse got %d, %v", tc.as, r.status, r.err)
				}
				if !viaServe {
					if err := await(t, upgradeErrs, "Upgrade's error"); !tc.check(err) {
						t.Errorf("Accept refuses as %s: Upgrade returned %v", tc.as, err)
					}
				}
			}
		})
	}
}
