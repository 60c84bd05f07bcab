//go:build unix

package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsproject/websocket"
	"golang.org/x/net/http2"
)

// This file checks WebSockets over HTTP/2 (RFC 8441) end to end: our Server
// behind net/http's HTTP/2 server over TLS, and golang.org/x/net/http2's
// client sending extended CONNECT requests, with gobwas/ws framing the
// WebSocket on each stream.

// TestMain runs the tests with extended CONNECT enabled in net/http, which
// reads GODEBUG once, before any test code runs, and ignores a //go:debug
// directive for this setting: without it in the environment, it runs the
// test binary again with it.
func TestMain(m *testing.M) {
	godebug := os.Getenv("GODEBUG")
	if strings.Contains(godebug, "http2xconnect=1") {
		os.Exit(m.Run())
	}
	if godebug != "" {
		godebug += ","
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug+"http2xconnect=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.ExitCode())
	case err != nil:
		fmt.Fprintln(os.Stderr, "running the tests with GODEBUG=http2xconnect=1:", err)
		os.Exit(2)
	}
}

// h2Env is our echo Server behind net/http's HTTP/2 server over TLS, and
// one HTTP/2 client connection to it.
type h2Env struct {
	url    string
	cc     *http2.ClientConn
	ws     *websocket.Server
	ended  chan error  // the error each handler ended with, while there is room
	protos chan string // the protocol and method of each request, while there is room
	conns  atomic.Int32
}

// startH2 serves our echo with opts over HTTP/2 and connects to it. The
// echo answers "close-me" with a close of 4001.
func startH2(t testing.TB, opts websocket.Options) *h2Env {
	t.Helper()
	return startH2With(t, opts, echoUntilClose)
}

// startH2With is startH2 with handler in place of the echo.
func startH2With(t testing.TB, opts websocket.Options, handler func(*websocket.Conn) error) *h2Env {
	t.Helper()
	e := &h2Env{ended: make(chan error, 256), protos: make(chan string, 256)}
	e.ws = &websocket.Server{Options: opts, Handler: func(c *websocket.Conn) {
		record(e.ended, handler(c))
	}}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(e.protos, r.Proto+" "+r.Method)
		e.ws.ServeHTTP(w, r)
	}))
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			e.conns.Add(1)
		}
	}
	hs.EnableHTTP2 = true
	hs.StartTLS()
	t.Cleanup(hs.Close)
	if err := websocket.EnableExtendedConnect(hs.Config); err != nil {
		t.Fatal(err)
	}
	e.url = hs.URL + "/"
	conn, err := tls.Dial("tcp", hs.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	e.cc, err = new(http2.Transport).NewClientConn(conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cc.Close() })
	return e
}

// record sends v on ch unless ch is full, as it gets in benchmarks, which
// read none.
func record[T any](ch chan<- T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// echoUntilClose echoes messages, answers "close-me" with a close of 4001,
// and returns the error that ended the connection (nil after close-me).
func echoUntilClose(c *websocket.Conn) error {
	for {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if string(msg) == "close-me" {
			return c.Close(4001, "server")
		}
		if err := c.WriteMessage(typ, msg); err != nil {
			return err
		}
	}
}

// h2WS is a WebSocket client on one HTTP/2 stream, framed by gobwas/ws.
type h2WS struct {
	t    testing.TB
	resp *http.Response
	w    *io.PipeWriter
}

// open sends an extended CONNECT with the header lines of kv (name, value
// pairs) and returns the stream and the response.
func (e *h2Env) open(t testing.TB, kv ...string) (*h2WS, *http.Response) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodConnect, e.url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header[":protocol"] = []string{"websocket"}
	req.Header.Set("Sec-WebSocket-Version", "13")
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := e.cc.RoundTrip(req)
	if err != nil {
		t.Fatalf("extended CONNECT: %v", err)
	}
	s := &h2WS{t: t, resp: resp, w: pw}
	t.Cleanup(func() { pw.Close(); resp.Body.Close() })
	return s, resp
}

// send writes a masked frame.
func (s *h2WS) send(op ws.OpCode, fin bool, p []byte) {
	s.t.Helper()
	if err := ws.WriteFrame(s.w, ws.MaskFrame(ws.NewFrame(op, fin, p))); err != nil {
		s.t.Fatalf("sending a frame: %v", err)
	}
}

// recv reads a frame.
func (s *h2WS) recv() ws.Frame {
	s.t.Helper()
	f, err := ws.ReadFrame(s.resp.Body)
	if err != nil {
		s.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// expect reads a frame and checks it is a final op frame with payload p.
func (s *h2WS) expect(op ws.OpCode, p []byte) {
	s.t.Helper()
	f := s.recv()
	if f.Header.OpCode != op || !f.Header.Fin || !bytes.Equal(f.Payload, p) {
		s.t.Fatalf("got frame op %v fin %v of %d bytes, want final op %v of %d bytes", f.Header.OpCode, f.Header.Fin, len(f.Payload), op, len(p))
	}
}

// expectClose reads the server's close frame, checks its code, answers it
// unless the server is answering ours, and checks that the stream ends.
func (s *h2WS) expectClose(code ws.StatusCode, answer bool) {
	s.t.Helper()
	f := s.recv()
	got, reason := ws.ParseCloseFrameData(f.Payload)
	if f.Header.OpCode != ws.OpClose || got != code {
		s.t.Fatalf("got op %v code %d %q, want close %d", f.Header.OpCode, got, reason, code)
	}
	if answer {
		s.send(ws.OpClose, true, f.Payload[:2])
	}
	if n, err := io.Copy(io.Discard, s.resp.Body); n != 0 || err != nil {
		s.t.Fatalf("after the close: %d more bytes, %v; want the end of the stream", n, err)
	}
}

// awaitEnd returns the error the next handler ended with.
func (e *h2Env) awaitEnd(t testing.TB) error {
	t.Helper()
	select {
	case err := <-e.ended:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not end")
		return nil
	}
}

// TestHTTP2Echo echoes every size and type over one stream, a fragmented
// message with a ping between its fragments, and closes from the client.
func TestHTTP2Echo(t *testing.T) {
	e := startH2(t, websocket.Options{ReadLimit: 8 << 20, Subprotocols: []string{"chat"}})
	s, resp := e.open(t, "Sec-WebSocket-Protocol", "superchat, chat")
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || resp.Header.Get("Sec-WebSocket-Protocol") != "chat" {
		t.Fatalf("response %s %s, subprotocol %q; want HTTP/2.0 200 with chat", resp.Proto, resp.Status, resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	if p := <-e.protos; p != "HTTP/2.0 CONNECT" {
		t.Fatalf("the server saw %q, want HTTP/2.0 CONNECT", p)
	}
	for _, n := range sizes {
		for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
			p := payload(n)
			s.send(op, true, p)
			s.expect(op, p)
		}
	}
	s.send(ws.OpText, false, []byte("frag"))
	s.send(ws.OpPing, true, []byte("mid"))
	s.send(ws.OpContinuation, false, []byte("men"))
	s.send(ws.OpContinuation, true, []byte("ted"))
	s.expect(ws.OpPong, []byte("mid"))
	s.expect(ws.OpText, []byte("fragmented"))
	s.send(ws.OpClose, true, ws.NewCloseFrameBody(4000, "bye"))
	s.expectClose(4000, false)
	var ce *websocket.CloseError
	if err := e.awaitEnd(t); !errors.As(err, &ce) || ce.Code != 4000 {
		t.Fatalf("handler ended with %v, want the client's close 4000", err)
	}
}

// TestHTTP2ReadTimeoutIsSoft checks that over net/http's HTTP/2 server, as
// over TCP, a read that times out waiting for the next message leaves the
// Conn usable: net/http's own read deadline would end the request body for
// good.
func TestHTTP2ReadTimeoutIsSoft(t *testing.T) {
	e := startH2With(t, websocket.Options{}, func(c *websocket.Conn) error {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, _, err := c.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("read past its deadline: %v, want os.ErrDeadlineExceeded", err)
		}
		c.SetReadDeadline(time.Time{})
		if err := c.WriteMessage(websocket.TextMessage, []byte("timed out")); err != nil {
			return err
		}
		return echoUntilClose(c)
	})
	s, _ := e.open(t)
	s.expect(ws.OpText, []byte("timed out"))
	s.send(ws.OpText, true, []byte("after"))
	s.expect(ws.OpText, []byte("after"))
	s.send(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	s.expectClose(ws.StatusNormalClosure, false)
	var ce *websocket.CloseError
	if err := e.awaitEnd(t); !errors.As(err, &ce) || ce.Code != websocket.StatusNormalClosure {
		t.Fatalf("handler ended with %v, want the client's close 1000", err)
	}
}

// TestHTTP2ServerClose checks a close begun by the server, and the limit on
// messages.
func TestHTTP2ServerClose(t *testing.T) {
	e := startH2(t, websocket.Options{ReadLimit: 1 << 16})
	s, _ := e.open(t)
	s.send(ws.OpText, true, []byte("close-me"))
	s.expectClose(4001, true)
	if err := e.awaitEnd(t); err != nil {
		t.Fatalf("the server's Close: %v", err)
	}

	s, _ = e.open(t)
	s.send(ws.OpBinary, true, make([]byte, 1<<16))
	s.expect(ws.OpBinary, make([]byte, 1<<16))
	s.send(ws.OpBinary, true, make([]byte, 1<<16+1))
	s.expectClose(ws.StatusMessageTooBig, true)
	e.awaitEnd(t)
}

// TestHTTP2Refusals checks that refused handshakes get their status over
// HTTP/2.
func TestHTTP2Refusals(t *testing.T) {
	e := startH2(t, websocket.Options{})
	for _, tc := range []struct {
		kv     []string
		status int
	}{
		{[]string{"Sec-WebSocket-Version", "8"}, http.StatusUpgradeRequired},
		{[]string{"Origin", "https://evil.example"}, http.StatusForbidden},
	} {
		_, resp := e.open(t, tc.kv...)
		if resp.StatusCode != tc.status {
			t.Errorf("%v: status %s, want %d", tc.kv, resp.Status, tc.status)
		}
	}
}

// TestHTTP2ManyStreams runs 40 WebSockets at once on one HTTP/2
// connection; one of them breaks the protocol and is closed with 1002 while
// the others go on.
func TestHTTP2ManyStreams(t *testing.T) {
	e := startH2(t, websocket.Options{})
	const streams, messages = 40, 20
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		s, _ := e.open(t)
		wg.Go(func() {
			st := &h2WS{t: &errT{TB: t, errs: errs}, resp: s.resp, w: s.w}
			defer func() { recover() }() // errT.Fatalf stops this goroutine
			if i == 0 {
				ws.WriteFrame(st.w, ws.NewFrame(ws.OpText, true, []byte("unmasked")))
				st.expectClose(ws.StatusProtocolError, true)
				return
			}
			for j := range messages {
				p := payload(100 * (i + j))
				st.send(ws.OpBinary, true, p)
				st.expect(ws.OpBinary, p)
			}
			st.send(ws.OpClose, true, ws.NewCloseFrameBody(1000, ""))
			st.expectClose(1000, false)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for range streams {
		e.awaitEnd(t)
		if p := <-e.protos; p != "HTTP/2.0 CONNECT" {
			t.Errorf("a request came as %q", p)
		}
	}
	if n := e.conns.Load(); n != 1 {
		t.Errorf("%d TCP connections, want 1", n)
	}
}

// errT turns Fatalf into a reported error and a panic that ends the
// calling goroutine, for helpers that run off the test's goroutine.
type errT struct {
	testing.TB
	errs chan<- error
}

func (t *errT) Fatalf(format string, args ...any) {
	t.errs <- fmt.Errorf(format, args...)
	panic(t)
}

// TestHTTP2Shutdown checks that Server.Shutdown closes WebSockets over
// HTTP/2 with 1001 and waits for them.
func TestHTTP2Shutdown(t *testing.T) {
	e := startH2(t, websocket.Options{})
	var clients []*h2WS
	for range 5 {
		s, _ := e.open(t)
		s.send(ws.OpText, true, []byte("up"))
		s.expect(ws.OpText, []byte("up"))
		clients = append(clients, s)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- e.ws.Shutdown(ctx)
	}()
	for _, s := range clients {
		s.expectClose(ws.StatusGoingAway, true)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// BenchmarkEcho compares the echo of a 32-byte message over HTTP/2 streams
// with the same over HTTP/1.1 connections, both over TLS, with 8 clients at
// once (one HTTP/2 connection, or 8 HTTP/1.1 connections). Client and
// server share the process, so the CPU figures (cpu-ns/op, from getrusage)
// count both.
func BenchmarkEcho(b *testing.B) {
	b.Run("http2", func(b *testing.B) {
		e := startH2(b, websocket.Options{})
		benchEcho(b, func() (io.Reader, io.Writer) {
			s, _ := e.open(b)
			return s.resp.Body, s.w
		})
	})
	b.Run("http1", func(b *testing.B) {
		url := startH1(b)
		benchEcho(b, func() (io.Reader, io.Writer) {
			c := dialH1(b, url)
			return c, c
		})
	})
}

// benchEcho runs the echo benchmark over 8 clients that open returns.
func benchEcho(b *testing.B, open func() (io.Reader, io.Writer)) {
	const clients = 8
	msg := ws.MustCompileFrame(ws.MaskFrame(ws.NewBinaryFrame(make([]byte, 32))))
	rws := make(chan [2]any, clients)
	for range clients {
		r, w := open()
		rws <- [2]any{r, w}
	}
	b.SetParallelism(clients / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
	b.RunParallel(func(pb *testing.PB) {
		rw := <-rws
		r, w := rw[0].(io.Reader), rw[1].(io.Writer)
		for pb.Next() {
			if _, err := w.Write(msg); err != nil {
				b.Error(err)
				return
			}
			if _, err := ws.ReadFrame(r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// cpuTime returns the CPU time, user and system, the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startH1 serves our echo over HTTP/1.1 with TLS and returns its wss URL.
func startH1(b testing.TB) string {
	s := &websocket.Server{Handler: func(c *websocket.Conn) { echoUntilClose(c) }}
	hs := httptest.NewUnstartedServer(s)
	hs.StartTLS()
	b.Cleanup(hs.Close)
	return "wss" + strings.TrimPrefix(hs.URL, "https") + "/"
}

// dialH1 opens a WebSocket over HTTP/1.1 with TLS to url, closed at
// cleanup.
func dialH1(b testing.TB, url string) net.Conn {
	d := ws.Dialer{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	c, _, _, err := d.Dial(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkIdle reports the memory, server and client together, that each
// open and idle WebSocket costs over HTTP/2 (streams of one connection) and
// over HTTP/1.1 (a TLS connection each), after one echo on each.
func BenchmarkIdle(b *testing.B) {
	const n = 200
	idle := func(b *testing.B, open func(tb testing.TB) (io.Reader, io.Writer)) {
		for b.Loop() {
			sub := &cleanupTB{TB: b}
			before := heapInUse()
			for range n {
				r, w := open(sub)
				w.Write(ws.MustCompileFrame(ws.MaskFrame(ws.NewBinaryFrame([]byte("x")))))
				if _, err := ws.ReadFrame(r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(heapInUse()-before)/n, "B/ws")
			sub.run()
		}
	}
	b.Run("http2", func(b *testing.B) {
		e := startH2(b, websocket.Options{})
		idle(b, func(tb testing.TB) (io.Reader, io.Writer) {
			s, _ := e.open(tb)
			return s.resp.Body, s.w
		})
	})
	b.Run("http1", func(b *testing.B) {
		url := startH1(b)
		idle(b, func(tb testing.TB) (io.Reader, io.Writer) {
			c := dialH1(tb, url)
			return c, c
		})
	})
}

// heapInUse returns the bytes of heap in use after a garbage collection,
// counting goroutine stacks too.
func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}

// cleanupTB collects cleanups to run them early, between iterations.
type cleanupTB struct {
	testing.TB
	fns []func()
}

func (c *cleanupTB) Cleanup(f func()) { c.fns = append(c.fns, f) }

// run runs the cleanups, last first.
func (c *cleanupTB) run() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
	c.fns = nil
}
