package websocket

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file holds the test harness shared by the test files: a server on
// loopback TCP and a raw client that writes hand-built frames, so tests can
// send what no well-behaved client would.

// testTimeout bounds every blocking step of a test, so a bug shows up as a
// failure rather than a hung test binary.
const testTimeout = 10 * time.Second

// startServer serves s on a loopback httptest.Server for the duration of the
// test. The returned channel is closed when the first Handler call has
// returned, so tests can check that no handler goroutine is left behind.
func startServer(t testing.TB, s *Server) (addr string, done <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{})
	var once sync.Once
	h := s.Handler
	s.Handler = func(c *Conn) {
		defer once.Do(func() { close(ch) })
		h(c)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), ch
}

// waitDone fails the test if done is not closed in time.
func waitDone(t testing.TB, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("handler did not return")
	}
}

// echoHandler echoes every message until the connection ends.
func echoHandler(c *Conn) {
	var buf []byte
	for {
		typ, msg, err := c.AppendMessage(buf[:0])
		if err != nil {
			return
		}
		buf = msg
		if c.WriteMessage(typ, msg) != nil {
			return
		}
	}
}

// rawClient is a WebSocket client built by hand over TCP for tests.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	key  [4]byte
}

// testKey is the sample key of RFC 6455 section 1.3.
const testKey = "dGhlIHNhbXBsZSBub25jZQ=="

// handshakeRequest returns an opening handshake request for path / with the
// given extra header lines (each ending in \r\n).
func handshakeRequest(addr, extra string) string {
	return "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
}

// dialRaw connects to addr and sends request (with extra bytes appended in
// the same write), returning the client and the server's response.
func dialRaw(t testing.TB, addr, request string) (*rawClient, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: conn, br: bufio.NewReader(conn), key: [4]byte{0x37, 0xfa, 0x21, 0x3d}}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading handshake response: %v", err)
	}
	return c, resp
}

// connect performs a valid handshake and fails the test unless it succeeds.
func connect(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, resp := dialRaw(t, addr, handshakeRequest(addr, ""))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("handshake: %s: %s", resp.Status, body)
	}
	return c
}

// frame returns the bytes of one frame from the client: masked with c.key
// unless op has the noMask bit.
func (c *rawClient) frame(fin bool, op opcode, payload []byte) []byte {
	return buildFrame(fin, op, payload, true, c.key)
}

// buildFrame encodes a frame, masking the payload with key if masked.
func buildFrame(fin bool, op opcode, payload []byte, masked bool, key [4]byte) []byte {
	h := header{fin: fin, opcode: op, length: int64(len(payload)), masked: masked, key: key}
	b := make([]byte, maxHeaderSize+len(payload))
	n := putHeader(b, h)
	n += copy(b[n:], payload)
	if masked {
		mask(key, 0, b[n-len(payload):n])
	}
	return b[:n]
}

// send writes raw bytes.
func (c *rawClient) send(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// sendFrame writes one masked frame.
func (c *rawClient) sendFrame(fin bool, op opcode, payload []byte) {
	c.t.Helper()
	c.send(c.frame(fin, op, payload))
}

// readFrame reads one frame from the server.
func (c *rawClient) readFrame() (header, []byte, error) {
	var b [maxHeaderSize]byte
	if _, err := io.ReadFull(c.br, b[:2]); err != nil {
		return header{}, nil, err
	}
	n := 2
	for {
		h, hn, err := parseHeader(b[:n])
		if err != nil {
			return h, nil, err
		}
		if hn > 0 {
			payload := make([]byte, h.length)
			if _, err := io.ReadFull(c.br, payload); err != nil {
				return h, nil, err
			}
			if h.masked {
				mask(h.key, 0, payload)
			}
			return h, payload, nil
		}
		if _, err := io.ReadFull(c.br, b[n:n+1]); err != nil {
			return h, nil, err
		}
		n++
	}
}

// expectFrame reads a frame and fails unless it has the given opcode and
// payload.
func (c *rawClient) expectFrame(op opcode, payload string) {
	c.t.Helper()
	h, p, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("reading frame: %v", err)
	}
	if h.opcode != op || string(p) != payload || !h.fin || h.masked {
		c.t.Fatalf("got frame op=%d fin=%v masked=%v payload %.40q; want op=%d payload %.40q", h.opcode, h.fin, h.masked, p, op, payload)
	}
}

// expectClose reads frames until a close frame, fails unless it carries
// code, and then expects the server to close the TCP connection. Data frames
// before the close frame are skipped.
func (c *rawClient) expectClose(code StatusCode) {
	c.t.Helper()
	for {
		h, p, err := c.readFrame()
		if err != nil {
			c.t.Fatalf("waiting for close %d: %v", code, err)
		}
		if h.opcode != opClose {
			continue
		}
		got := StatusNoStatusReceived
		if len(p) >= 2 {
			got = StatusCode(int(p[0])<<8 | int(p[1]))
		}
		if got != code {
			c.t.Fatalf("close code %v (reason %q), want %v", got, p[min(2, len(p)):], code)
		}
		break
	}
	// Answer the close, then the server must close the connection.
	c.conn.Write(c.frame(true, opClose, closePayload(code, "")))
	c.expectEOF()
}

// expectEOF fails unless the server closes the connection (with no more
// frames).
func (c *rawClient) expectEOF() {
	c.t.Helper()
	b, err := c.br.ReadByte()
	if err == nil {
		c.t.Fatalf("want end of stream, got byte %#x", b)
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		c.t.Fatalf("want end of stream, got %v", err)
	}
}

// closePayload returns a close frame payload.
func closePayload(code StatusCode, reason string) []byte {
	return appendClosePayload(nil, code, reason)
}

// tcpPair returns the two ends of a loopback TCP connection, closed when the
// test ends.
func tcpPair(t testing.TB) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// fillSocket writes to nc, whose peer does not read, until the socket's
// buffers are full, and returns how many bytes it wrote: in large writes,
// then byte by byte, since the kernel reports a socket writable only once a
// good part of its buffer is free.
func fillSocket(t testing.TB, nc net.Conn) int {
	t.Helper()
	filled := 0
	for _, size := range []int{64 << 10, 1} {
		chunk := make([]byte, size)
		nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		for {
			n, err := nc.Write(chunk)
			filled += n
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
	}
	nc.SetWriteDeadline(time.Time{})
	return filled
}
