//go:build !js

package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsproject/websocket"
	"github.com/wsproject/websocket/examples/chat/hub"
)

// The tests run a Hub on a loopback httptest.Server and talk to it with
// the library's own client, as a program would.

// testTimeout bounds every blocking step of a test.
const testTimeout = 15 * time.Second

// testServer is a Hub served on loopback, with its Run loop running.
type testServer struct {
	hub  *hub.Hub
	addr string
	logs *watchLog

	mu    sync.Mutex
	conns map[string]net.Conn // the server's side of each connection, by the client's address
}

// startHub serves a Hub made from cfg, logging to a buffer that is shown if
// the test fails. The cleanup shuts the hub down, then stops its Run loop,
// and checks that both end in time.
func startHub(t testing.TB, cfg hub.Config) *testServer {
	t.Helper()
	s := &testServer{logs: newWatchLog(), conns: make(map[string]net.Conn)}
	if cfg.Logger == nil {
		cfg.Logger = log.New(s.logs, "", log.Lmicroseconds)
	}
	s.hub = hub.New(cfg)
	srv := httptest.NewUnstartedServer(s.hub)
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns[c.RemoteAddr().String()] = c
			s.mu.Unlock()
		}
	}
	srv.Start()
	s.addr = srv.Listener.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- s.hub.Run(ctx) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), testTimeout)
		defer scancel()
		if err := s.hub.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Logf("hub log:\n%s", s.logs)
		}
	})
	return s
}

// wsURL returns the WebSocket URL for name and room.
func (s *testServer) wsURL(name, room string) string {
	return "ws://" + s.addr + "/ws?" + url.Values{"name": {name}, "room": {room}}.Encode()
}

// serverConn returns the server's side of c's TCP connection.
func (s *testServer) serverConn(t testing.TB, c *websocket.Conn) *net.TCPConn {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.conns[c.LocalAddr().String()].(*net.TCPConn)
	if !ok {
		t.Fatalf("no server connection for %s", c.LocalAddr())
	}
	return sc
}

// testClient is a chat client of a test.
type testClient struct {
	t          testing.TB
	conn       *websocket.Conn
	name, room string
	buf        []byte
}

// dial connects name to room and fails the test unless the handshake
// succeeds. The test's cleanup closes the connection.
func (s *testServer) dial(t testing.TB, name, room string) *testClient {
	t.Helper()
	return s.dialWith(t, name, room, nil)
}

// dialWith is dial with DialOptions.
func (s *testServer) dialWith(t testing.TB, name, room string, opts *websocket.DialOptions) *testClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, s.wsURL(name, room), opts)
	if err != nil {
		t.Fatalf("dialing as %s to %s: %v (response %v)", name, room, err, resp)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return &testClient{t: t, conn: conn, name: name, room: room}
}

// join dials, and reads until the client's own join event, returning the
// events before it: the history, and notices.
func (s *testServer) join(t testing.TB, name, room string) (*testClient, []hub.Event) {
	t.Helper()
	c := s.dial(t, name, room)
	return c, c.awaitJoin()
}

// awaitJoin reads until the client's own join event and returns the events
// before it.
func (c *testClient) awaitJoin() []hub.Event {
	c.t.Helper()
	var before []hub.Event
	for {
		e := c.next()
		if e.Type == hub.TypeJoin && e.Name == c.name && e.Room == c.room {
			return before
		}
		before = append(before, e)
	}
}

// joinStalled joins a client that stops reading once it has seen its own
// join, as a frozen tab or a congested link would. The server's send buffer
// for it is made small, so that what the hub writes backs up into its send
// queue after about 100 KiB (mostly the client's receive window) instead of
// several MiB of autotuned socket buffers. (A small receive buffer on the
// client's side would do it too, but on loopback, whose segments are 64 KiB,
// the window then never opens by a whole segment, and the reading that
// follows crawls at the pace of TCP's zero-window probes.)
func (s *testServer) joinStalled(t testing.TB, name, room string) *testClient {
	t.Helper()
	c := s.dial(t, name, room)
	if err := s.serverConn(t, c.conn).SetWriteBuffer(4 << 10); err != nil {
		t.Fatal(err)
	}
	c.awaitJoin()
	return c
}

// read reads the next event, within testTimeout.
func (c *testClient) read() (hub.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	typ, msg, err := c.conn.AppendMessageContext(ctx, c.buf[:0])
	if err != nil {
		return hub.Event{}, err
	}
	c.buf = msg
	var e hub.Event
	if typ != websocket.TextMessage {
		return e, fmt.Errorf("%s got a %v message", c.name, typ)
	}
	if err := json.Unmarshal(msg, &e); err != nil {
		return e, fmt.Errorf("%s got %q: %v", c.name, msg, err)
	}
	return e, nil
}

// next reads the next event and fails the test on an error.
func (c *testClient) next() hub.Event {
	c.t.Helper()
	e, err := c.read()
	if err != nil {
		c.t.Fatalf("%s reading an event: %v", c.name, err)
	}
	return e
}

// nextOf reads events until one of type typ, skipping others, and returns
// it.
func (c *testClient) nextOf(typ string) hub.Event {
	c.t.Helper()
	for {
		if e := c.next(); e.Type == typ {
			return e
		}
	}
}

// say sends a chat message.
func (c *testClient) say(text string) {
	c.t.Helper()
	c.sendRaw(websocket.TextMessage, `{"type":"message","text":`+quote(text)+`}`)
}

// sendRaw sends a message as it is.
func (c *testClient) sendRaw(typ websocket.MessageType, msg string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(typ, []byte(msg)); err != nil {
		c.t.Fatalf("%s sending: %v", c.name, err)
	}
}

// quote returns s as a JSON string.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// expectClose reads, skipping events, until the connection ends, and fails
// the test unless the server closed it with code; it returns the reason.
func (c *testClient) expectClose(code websocket.StatusCode) string {
	c.t.Helper()
	for {
		_, err := c.read()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			c.t.Fatalf("%s: connection ended with %v, want a close with %v", c.name, err, code)
		}
		return ce.Reason
	}
}

// get sends a request without body for path to the server and returns the
// response and its body, trimmed.
func (s *testServer) get(t *testing.T, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, strings.TrimSpace(string(body))
}

// watchLog is the hub's log in a test: a buffer whose text the test can wait
// for.
type watchLog struct {
	mu      sync.Mutex
	text    strings.Builder
	changed chan struct{} // closed and replaced at each write
}

// newWatchLog returns an empty watchLog.
func newWatchLog() *watchLog {
	return &watchLog{changed: make(chan struct{})}
}

// Write appends p and wakes the waiters.
func (l *watchLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.text.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// String returns the log so far.
func (l *watchLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

// wait waits, within testTimeout, until the log has had n lines containing
// s, and fails the test otherwise.
func (l *watchLog) wait(t testing.TB, s string, n int) {
	t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	for {
		l.mu.Lock()
		found, changed := strings.Count(l.text.String(), s), l.changed
		l.mu.Unlock()
		if found >= n {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("the hub did not log %q %d times in %v", s, n, testTimeout)
		}
	}
}
