//go:build !js

package websocket

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// This file tests Serve's own HTTP/1.1 request reader (request.go): requests
// that arrive in pieces, malformed and stalled ones, and a fuzz target for
// the parser. The handshake rules it shares with Upgrade are tested in
// handshake_test.go.

// TestServeSplitRequest sends the handshake and a first frame one byte per
// write: the parser must not assume a request arrives in one read, and the
// frame after the request must reach the connection.
func TestServeSplitRequest(t *testing.T) {
	addr, _ := serveListener(t, &Server{Handler: echoHandler})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(testTimeout))
	c := &rawClient{t: t, conn: conn}
	stream := []byte(handshakeRequest(addr, "Origin: http://"+addr+"\r\n"))
	c.sendChunked(append(stream, clientFrame(true, opText, "first")...), 1)
	c, resp := rawClientFrom(t, conn)
	hsCheckSwitched(t, resp)
	c.expectFrame(opText, "first")
}

// TestServeMalformedRequests checks that requests Serve cannot parse are
// refused with an HTTP error and closed, never upgraded.
func TestServeMalformedRequests(t *testing.T) {
	addr, _ := serveListener(t, &Server{Handler: echoHandler})
	valid := handshakeRequest(addr, "")
	tests := []struct {
		name    string
		request string
		status  int
	}{
		{"no version in request line", "GET /\r\n" + valid[strings.Index(valid, "\r\n")+2:], 400},
		{"bad version", strings.Replace(valid, "HTTP/1.1", "HTTP/x.y", 1), 400},
		{"bare LF in the method", "\nHost:  HTTP/1.1\r\n" + valid[strings.Index(valid, "\r\n")+2:], 400},
		{"empty target", strings.Replace(valid, "GET / ", "GET  ", 1), 400},
		{"control byte in the target", strings.Replace(valid, "GET / ", "GET /\x01 ", 1), 400},
		{"header name not a token", strings.Replace(valid, "Upgrade: websocket", "Upgrade: websocket\r\nX(y): z", 1), 400},
		{"header line without colon", strings.Replace(valid, "Upgrade: websocket", "Upgrade websocket", 1), 400},
		{"space before colon", strings.Replace(valid, "Upgrade: websocket", "Upgrade : websocket", 1), 400},
		{"folded header line", strings.Replace(valid, "Upgrade: websocket\r\n", "Upgrade:\r\n websocket\r\n", 1), 400},
		{"bare LF in a value", strings.Replace(valid, "Upgrade: websocket", "Upgrade: websocket\nX: y", 1), 400},
		{"NUL in a value", strings.Replace(valid, "Upgrade: websocket", "Upgrade: websocket\x00", 1), 400},
		{"no Host", strings.Replace(valid, "Host: "+addr+"\r\n", "", 1), 400},
		{"two Hosts", strings.Replace(valid, "Host: ", "Host: a\r\nHost: ", 1), 400},
		{"header larger than 8 KiB", strings.Replace(valid, "\r\n\r\n", "\r\nX-Pad: "+strings.Repeat("a", 9000)+"\r\n\r\n", 1), 431},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, resp := dialRaw(t, addr, tc.request)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.HasPrefix(string(body), "websocket: ") {
				t.Fatalf("got %s %q, want %d with a reason", resp.Status, body, tc.status)
			}
			c.expectEOF()
		})
	}
}

// TestServeLeadingEmptyLine checks that an empty line before the request
// line is ignored, as RFC 9112 section 2.2 asks of servers.
func TestServeLeadingEmptyLine(t *testing.T) {
	addr, _ := serveListener(t, &Server{Handler: echoHandler})
	c, resp := dialRaw(t, addr, "\r\n"+handshakeRequest(addr, ""))
	hsCheckSwitched(t, resp)
	c.sendFrame(true, opText, []byte("hi"))
	c.expectFrame(opText, "hi")
}

// TestServeHandshakeTimeout checks that a client that stalls in the middle
// of its request is dropped after HandshakeTimeout.
func TestServeHandshakeTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	addr, _ := serveListener(t, &Server{Handler: echoHandler, Options: Options{HandshakeTimeout: timeout}})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(testTimeout))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read %d bytes, %v; want the server to close the connection", n, err)
	}
	if d := time.Since(start); d > closeBound {
		t.Errorf("closed after %v, want about %v", d, timeout)
	}
}

// FuzzParseUpgradeRequest feeds arbitrary request heads to Serve's parser:
// it must never panic, and what it accepts must carry exactly one Host and
// only the header lines it was given.
func FuzzParseUpgradeRequest(f *testing.F) {
	valid := handshakeRequest("example.com", "Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n")
	f.Add(valid[:len(valid)-4])
	f.Add("GET / HTTP/1.0\r\nHost: a\r\nhost: b")
	f.Add("POST /x HTTP/2.0\r\nConnection: keep-alive,\tUpgrade\r\nUpgrade: WebSocket")
	f.Add("GET / HTTP/1.1\r\n: empty name\r\nHost: h")
	f.Add("GET\r\n\r\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, head string) {
		var r upgradeRequest
		err := parseUpgradeRequest(&r, []byte(head))
		if err != nil {
			if _, ok := err.(*handshakeError); !ok {
				t.Fatalf("error %v is not a handshake refusal", err)
			}
			return
		}
		if strings.Count(strings.ToLower(head), "\nhost:") != 1 {
			t.Fatalf("accepted %q with host %q", head, r.host)
		}
		for _, v := range [][]string{r.connection, r.upgrade, r.version, r.keys, r.origin, r.protocol} {
			for _, s := range v {
				if !strings.Contains(head, s) {
					t.Fatalf("value %q is not in the request %q", s, head)
				}
			}
		}
		// Whatever was parsed, checking it must not panic either.
		r.check(&Options{OriginPatterns: []string{"*"}})
	})
}
