//go:build !js

package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wsproject/websocket/internal/browsertest"
)

// These tests talk to the echo server with a small client written here from
// RFC 6455: it builds masked frames by hand, so they depend on nothing but
// the standard library and the server under test.

// testTimeout bounds every blocking step, so that a bug fails a test instead of
// hanging it.
const testTimeout = 10 * time.Second

// Opcodes of RFC 6455 section 5.2.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// serveEcho serves a new echo server, with compression as the program has
// it by default, on a loopback httptest.Server. It returns the echo server,
// the address and the log.
func serveEcho(t *testing.T) (*echoServer, string, *browsertest.TailBuffer) {
	t.Helper()
	return serveEchoCompress(t, true)
}

// serveEchoCompress is serveEcho with permessage-deflate accepted or not.
func serveEchoCompress(t *testing.T, compress bool) (*echoServer, string, *browsertest.TailBuffer) {
	t.Helper()
	logs := new(browsertest.TailBuffer)
	s := newServer(log.New(logs, "", 0), compress)
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return s, srv.Listener.Addr().String(), logs
}

// rawClient is a WebSocket client over a TCP connection.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response // the handshake response
}

// dialRaw sends an opening handshake to addr with the given extra header lines
// (each ending in "\r\n") and returns the client and the response, which it
// checks only for the right Sec-WebSocket-Accept if the status is 101.
func dialRaw(t *testing.T, addr, extra string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(testTimeout))

	var raw [16]byte
	for i := range raw {
		raw[i] = byte(rand.Uint32())
	}
	key := base64.StdEncoding.EncodeToString(raw[:])
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: conn, br: bufio.NewReader(conn)}
	c.resp, err = http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	if c.resp.StatusCode == http.StatusSwitchingProtocols {
		sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		if got, want := c.resp.Header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
			t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, want)
		}
	}
	return c
}

// connectRaw performs a handshake offering "superchat, chat" and fails the
// test unless it succeeds.
func connectRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c := dialRaw(t, addr, "Sec-WebSocket-Protocol: superchat, chat\r\n")
	if c.resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(c.resp.Body)
		t.Fatalf("handshake: %s: %s", c.resp.Status, body)
	}
	return c
}

// writeFrame sends one frame, masked with a fresh key as a client must.
func (c *rawClient) writeFrame(fin bool, op byte, payload []byte) {
	c.t.Helper()
	c.writeFrameRSV(fin, 0, op, payload)
}

// writeFrameRSV is writeFrame with the RSV bits rsv (0x40 is RSV1).
func (c *rawClient) writeFrameRSV(fin bool, rsv, op byte, payload []byte) {
	c.t.Helper()
	b0 := rsv | op
	if fin {
		b0 |= 0x80
	}
	frame := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		frame = append(frame, 0x80|byte(n))
	case n <= 0xFFFF:
		frame = binary.BigEndian.AppendUint16(append(frame, 0x80|126), uint16(n))
	default:
		frame = binary.BigEndian.AppendUint64(append(frame, 0x80|127), uint64(n))
	}
	key := binary.BigEndian.AppendUint32(nil, rand.Uint32())
	frame = append(frame, key...)
	start := len(frame)
	frame = append(frame, payload...)
	for i := range payload {
		frame[start+i] ^= key[i%4]
	}
	if _, err := c.conn.Write(frame); err != nil {
		c.t.Fatalf("writing a frame: %v", err)
	}
}

// readFrame reads one frame, which a server must not mask, and which has
// no RSV bits set unless an extension was negotiated.
func (c *rawClient) readFrame() (fin bool, op byte, payload []byte, err error) {
	fin, rsv, op, payload, err := c.readFrameRSV()
	if err == nil && rsv != 0 {
		err = fmt.Errorf("frame with opcode %d has RSV bits %#x set", op, rsv)
	}
	return fin, op, payload, err
}

// readFrameRSV is readFrame that returns the frame's RSV bits instead of
// refusing them.
func (c *rawClient) readFrameRSV() (fin bool, rsv, op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return false, 0, 0, nil, err
	}
	fin, rsv, op = h[0]&0x80 != 0, h[0]&0x70, h[0]&0x0F
	if h[1]&0x80 != 0 {
		return fin, rsv, op, nil, fmt.Errorf("frame header %#x %#x has the mask bit set", h[0], h[1])
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126, 127:
		ext := make([]byte, 2+6*(n-126))
		if _, err := io.ReadFull(c.br, ext); err != nil {
			return fin, rsv, op, nil, err
		}
		if n = uint64(binary.BigEndian.Uint16(ext)); len(ext) == 8 {
			n = binary.BigEndian.Uint64(ext)
		}
	}
	if n > 1<<30 {
		return fin, rsv, op, nil, fmt.Errorf("frame length %d", n)
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(c.br, payload)
	return fin, rsv, op, payload, err
}

// readMessage reads a data message, joining its fragments, and fails the
// test on anything else.
func (c *rawClient) readMessage() (op byte, msg []byte) {
	c.t.Helper()
	for {
		fin, fop, p, err := c.readFrame()
		if err != nil {
			c.t.Fatalf("reading a message: %v", err)
		}
		switch {
		case fop == opContinuation && op != 0:
		case fop != opContinuation && fop < opClose && op == 0:
			op = fop
		default:
			c.t.Fatalf("got frame with opcode %d (payload %.60q) while reading a message", fop, p)
		}
		msg = append(msg, p...)
		if fin {
			return op, msg
		}
	}
}

// expectClose reads a close frame and fails unless it carries code, and,
// if reason is not "*", reason. It answers with a close frame of its own
// and then expects the server to end the TCP connection.
func (c *rawClient) expectClose(code int, reason string) {
	c.t.Helper()
	_, op, p, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("waiting for a close frame: %v", err)
	}
	if op != opClose || len(p) < 2 {
		c.t.Fatalf("got frame opcode %d payload %.60q; want a close frame with code %d", op, p, code)
	}
	if got := int(binary.BigEndian.Uint16(p)); got != code || reason != "*" && string(p[2:]) != reason {
		c.t.Fatalf("got close code %d reason %q; want %d %q", got, p[2:], code, reason)
	}
	c.writeFrame(true, opClose, p[:2])
	c.expectEOF()
}

// closeHandshake sends a close frame with status 1000 and a reason, and
// fails unless the server answers with a close frame with status 1000 and
// then ends the TCP connection.
func (c *rawClient) closeHandshake() {
	c.t.Helper()
	c.writeFrame(true, opClose, append([]byte{0x03, 0xE8}, "bye"...))
	_, op, p, err := c.readFrame()
	if err != nil || op != opClose || len(p) < 2 || binary.BigEndian.Uint16(p) != 1000 {
		c.t.Fatalf("after a close 1000 got opcode %d payload %q, error %v; want a close 1000", op, p, err)
	}
	c.expectEOF()
}

// expectEOF fails unless the server closes the connection without sending
// anything more.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	if b, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
		c.t.Fatalf("want the end of the stream, got byte %#x, error %v", b, err)
	}
}

// TestCompression checks the -compress setting. On, the default, the echo
// accepts the permessage-deflate offer browsers make (RFC 7692), with
// context takeover, and answers compressed messages, one after the other,
// with compressed messages; off, it declines. The log says which.
func TestCompression(t *testing.T) {
	for _, compress := range []bool{true, false} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			_, addr, logs := serveEchoCompress(t, compress)
			c := dialRaw(t, addr, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
			want := ""
			if compress {
				want = "permessage-deflate"
			}
			if got := c.resp.Header.Get("Sec-WebSocket-Extensions"); c.resp.StatusCode != http.StatusSwitchingProtocols || got != want {
				t.Fatalf("handshake: %s, Sec-WebSocket-Extensions %q; want 101 and %q", c.resp.Status, got, want)
			}
			if compress {
				echoCompressed(t, c)
			}
			c.closeHandshake()
			if want := fmt.Sprintf("open %s subprotocol=\"\" permessage-deflate=%v", c.conn.LocalAddr(), compress); !strings.Contains(logs.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, logs)
			}
		})
	}
}

// echoCompressed sends three compressed text messages on c, each
// compressed on its own (as client_no_context_takeover would have it, which
// a client may always do), and checks that each echo comes back compressed
// and inflates, with the server's context from the echoes before it, to
// the message sent.
func echoCompressed(t *testing.T, c *rawClient) {
	t.Helper()
	var window []byte // what the server compressed so far: its context
	for i := range 3 {
		msg := []byte(strings.Repeat(fmt.Sprintf(`{"id":%d,"user":"ana","text":"hello, w\u00f6rld"}`, i), 40))
		var z bytes.Buffer
		fw, _ := flate.NewWriter(&z, flate.BestSpeed)
		fw.Write(msg)
		fw.Flush()
		c.writeFrameRSV(true, 0x40, opText, bytes.TrimSuffix(z.Bytes(), []byte{0, 0, 0xff, 0xff}))

		fin, rsv, op, p, err := c.readFrameRSV()
		if err != nil || !fin || rsv != 0x40 || op != opText {
			t.Fatalf("echo %d: fin %v, RSV %#x, opcode %d, %v; want one compressed text frame", i, fin, rsv, op, err)
		}
		// RFC 7692 section 7.2.2: append 00 00 ff ff; an empty final
		// block after it ends the stream for compress/flate.
		fr := flate.NewReaderDict(io.MultiReader(bytes.NewReader(p), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff")), window)
		got, err := io.ReadAll(fr)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo %d: %d compressed bytes inflate to %d bytes (%v); want the %d bytes sent", i, len(p), len(got), err, len(msg))
		}
		if len(p) >= len(msg)/2 {
			t.Errorf("echo %d: %d bytes compressed to %d", i, len(msg), len(p))
		}
		window = append(window, got...)
	}
}

func TestPage(t *testing.T) {
	_, addr, _ := serveEcho(t)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want text/html", ct)
	}
	for _, want := range []string{"<!DOCTYPE html>", "WebSocket", "new WebSocket(", "location.host", `"chat", "superchat"`,
		"overflow-wrap: anywhere", "we sent code "} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("page does not contain %q", want)
		}
	}
	// The page must load nothing from elsewhere.
	for _, bad := range []string{"http://", "https://", "src="} {
		if bytes.Contains(body, []byte(bad)) {
			t.Errorf("page contains %q", bad)
		}
	}

	resp, err = http.Get("http://" + addr + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other: %s, want 404", resp.Status)
	}
	resp, err = http.Post("http://"+addr+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %s, want 405", resp.Status)
	}
}

func TestSubprotocol(t *testing.T) {
	_, addr, _ := serveEcho(t)
	for _, tc := range []struct{ offer, want string }{
		{"superchat, chat", "chat"},
		{"chat", "chat"},
		{"superchat", "superchat"},
		{"", ""},
		{"other", ""},
	} {
		extra := ""
		if tc.offer != "" {
			extra = "Sec-WebSocket-Protocol: " + tc.offer + "\r\n"
		}
		c := dialRaw(t, addr, extra)
		if c.resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("offering %q: %s", tc.offer, c.resp.Status)
		}
		if got := c.resp.Header.Values("Sec-WebSocket-Protocol"); strings.Join(got, ",") != tc.want {
			t.Errorf("offering %q, server chose %q; want %q", tc.offer, got, tc.want)
		}
		c.closeHandshake()
	}
}

func TestOrigin(t *testing.T) {
	_, addr, _ := serveEcho(t)
	c := dialRaw(t, addr, "Origin: http://"+addr+"\r\n")
	if c.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("same-host Origin: %s, want 101", c.resp.Status)
	}
	c = dialRaw(t, addr, "Origin: http://elsewhere.example\r\n")
	if c.resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Origin: %s, want 403", c.resp.Status)
	}
}

func TestEcho(t *testing.T) {
	_, addr, _ := serveEcho(t)
	c := connectRaw(t, addr)
	for _, m := range []struct {
		op  byte
		msg string
	}{
		{opText, "hello"},
		{opBinary, "\x00\x01\xfe\xff"},
		{opText, ""},
		{opBinary, ""},
		{opText, "héllo, 世界"},
	} {
		c.writeFrame(true, m.op, []byte(m.msg))
		op, got := c.readMessage()
		if op != m.op || string(got) != m.msg {
			t.Errorf("sent opcode %d %q, echo has opcode %d %q", m.op, m.msg, op, got)
		}
	}

	// A fragmented message with a ping between its fragments: the pong
	// comes first, then the whole message.
	c.writeFrame(false, opText, []byte("frag"))
	c.writeFrame(true, opPing, []byte("are you there"))
	c.writeFrame(false, opContinuation, []byte("men"))
	c.writeFrame(true, opContinuation, []byte("ted"))
	if _, op, p, err := c.readFrame(); err != nil || op != opPong || string(p) != "are you there" {
		t.Fatalf("after a ping got opcode %d %q, error %v; want the pong", op, p, err)
	}
	if op, got := c.readMessage(); op != opText || string(got) != "fragmented" {
		t.Errorf("fragmented message echoed as opcode %d %q", op, got)
	}
}

func TestLargeMessage(t *testing.T) {
	_, addr, _ := serveEcho(t)
	c := connectRaw(t, addr)
	msg := make([]byte, 1<<20)
	for i := range msg {
		msg[i] = byte(rand.Uint32())
	}
	for range 2 { // the second one goes through the reused buffer
		c.writeFrame(true, opBinary, msg)
		op, got := c.readMessage()
		if op != opBinary || !bytes.Equal(got, msg) {
			t.Fatalf("1 MiB binary message: echo has opcode %d, %d bytes, equal %v", op, len(got), bytes.Equal(got, msg))
		}
	}
	// The same size as text, in fragments.
	text := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	for i := 0; i < len(text); i += 300000 {
		op := byte(opContinuation)
		if i == 0 {
			op = opText
		}
		end := min(i+300000, len(text))
		c.writeFrame(end == len(text), op, text[i:end])
	}
	if op, got := c.readMessage(); op != opText || !bytes.Equal(got, text) {
		t.Fatalf("1 MiB text message: echo has opcode %d, %d bytes", op, len(got))
	}
}

func TestClose(t *testing.T) {
	_, addr, _ := serveEcho(t)
	c := connectRaw(t, addr)
	c.writeFrame(true, opText, []byte("last words"))
	if _, got := c.readMessage(); string(got) != "last words" {
		t.Fatalf("echo %q", got)
	}
	c.closeHandshake()
}

func TestShutdown(t *testing.T) {
	s, addr, logs := serveEcho(t)
	clients := []*rawClient{connectRaw(t, addr), connectRaw(t, addr)}
	for i, c := range clients {
		msg := fmt.Sprint("message ", i)
		c.writeFrame(true, opText, []byte(msg))
		if _, got := c.readMessage(); string(got) != msg {
			t.Fatalf("echo %q, want %q", got, msg)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	for _, c := range clients {
		c.expectClose(1001, "server shutting down")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Shutdown did not return")
	}

	// Shutdown waited for the handlers, so both have logged their end.
	log := logs.String()
	for _, c := range clients {
		local := c.conn.LocalAddr().String()
		for _, want := range []string{
			"open " + local + ` subprotocol="chat"`,
			"closed " + local + ": websocket: closed by this side, the peer answered 1001",
		} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %q:\n%s", want, log)
			}
		}
	}

	// A connection that opens after Shutdown is closed at once.
	c := connectRaw(t, addr)
	c.expectClose(1001, "server shutting down")
}

// TestShutdownTimeout checks that Shutdown gives up when ctx ends, dropping
// a peer that never answers the close frame.
func TestShutdownTimeout(t *testing.T) {
	s, addr, _ := serveEcho(t)
	c := connectRaw(t, addr)
	c.writeFrame(true, opText, []byte("x"))
	c.readMessage()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	if _, op, _, err := c.readFrame(); err != nil || op != opClose {
		t.Fatalf("got opcode %d, error %v; want a close frame", op, err)
	}
	// Do not answer; cancel instead.
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Shutdown returned %v, want context.Canceled", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Shutdown did not return after its context ended")
	}
	c.expectEOF()
}

// TestProgram builds the real program, runs it, checks that it echoes, and
// checks that SIGINT closes a live connection with 1001 and ends the program
// with status 0.
func TestProgram(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("needs SIGINT")
	}
	if testing.Short() {
		t.Skip("builds the program; skipped in -short mode")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	bin := filepath.Join(t.TempDir(), "echo")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
		}
	})

	// Read its log, handing over the listening address, and keep reading
	// so that it never blocks on a full pipe.
	listening := make(chan string, 1)
	logs := new(browsertest.TailBuffer)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logs, line)
			if _, url, ok := strings.Cut(line, "listening on "); ok {
				listening <- url
			}
		}
	}()
	go func() {
		<-logDone // Wait must not run before the pipe is drained
		exited <- cmd.Wait()
	}()

	var addr string
	select {
	case url := <-listening:
		addr = strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	case err := <-exited:
		t.Fatalf("program exited early: %v\n%s", err, logs)
	case <-time.After(testTimeout):
		t.Fatalf("program did not report its address:\n%s", logs)
	}

	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s", resp.Status)
	}
	c := connectRaw(t, addr)
	c.writeFrame(true, opBinary, []byte("ping over TCP"))
	if op, got := c.readMessage(); op != opBinary || string(got) != "ping over TCP" {
		t.Fatalf("echo opcode %d %q", op, got)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	c.expectClose(1001, "server shutting down")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("program ended with %v, want status 0; log:\n%s", err, logs)
		}
	case <-time.After(testTimeout):
		t.Fatalf("program did not exit after SIGINT; log:\n%s", logs)
	}
	log := logs.String()
	for _, want := range []string{"open 127.0.0.1:", "shutting down", "closed 127.0.0.1:", "stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}
