//go:build !js

package websocket

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// This file tests the closing handshake (RFC 6455 section 7, Autobahn
// section 7) on the server's side and the client's: close frames from the
// peer, Conn.Close and CloseNow, the close that follows the end of a
// Handler, and closes bounded by CloseTimeout.

// codePayload returns a close frame payload of code, whatever its value,
// and reason. (closePayload leaves out StatusNoStatusReceived.)
func codePayload(code StatusCode, reason string) string {
	return string(binary.BigEndian.AppendUint16(nil, uint16(code))) + reason
}

// TestCloseCodes is Autobahn 7.7, 7.9 and 7.13: the server echoes the status
// code of a close frame with a code that may be sent, and fails the
// connection with 1002 for any other code. Either way the client's close
// was its last frame, so the server closes TCP at once.
func TestCloseCodes(t *testing.T) {
	var cases []wireCase
	for _, code := range []StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cases = append(cases, wireCase{
			name:  fmt.Sprintf("valid %d", int(code)),
			send:  clientFrame(true, opClose, codePayload(code, "reason")),
			close: code, final: true,
		})
	}
	for _, code := range []StatusCode{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, wireCase{
			name:  fmt.Sprintf("invalid %d", int(code)),
			send:  clientFrame(true, opClose, codePayload(code, "")),
			close: StatusProtocolError, final: true,
		})
	}
	runWireCases(t, Options{}, cases)
}

// TestClosePayloads is Autobahn 7.3 and 7.5: the shape of a close frame's
// payload.
func TestClosePayloads(t *testing.T) {
	reason123 := strings.Repeat("r", 123)
	kosme := "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
	runWireCases(t, Options{}, []wireCase{
		{name: "7.3.1 empty payload answered by an empty one", send: clientFrame(true, opClose, ""),
			close: StatusNoStatusReceived, final: true},
		{name: "7.3.2 one byte", send: clientFrame(true, opClose, "\x03"), close: StatusProtocolError, final: true},
		{name: "7.3.3 code only", send: clientFrame(true, opClose, string(closePayload(1000, ""))), close: StatusNormalClosure, final: true},
		{name: "7.3.4 code and reason", send: clientFrame(true, opClose, string(closePayload(1000, "Hello World!"))), close: StatusNormalClosure, final: true},
		{name: "7.3.5 reason of 123 bytes", send: clientFrame(true, opClose, string(closePayload(1000, reason123))), close: StatusNormalClosure, final: true},
		{name: "7.3.6 reason of 124 bytes", send: clientFrame(true, opClose, string(closePayload(1000, reason123+"r"))), close: StatusProtocolError, final: true},
		{name: "multi-byte UTF-8 reason", send: clientFrame(true, opClose, string(closePayload(1000, kosme))), close: StatusNormalClosure, final: true},
		{name: "7.5.1 invalid UTF-8 reason", send: clientFrame(true, opClose, string(closePayload(1000, kosme+"\xed\xa0\x80edited"))),
			close: StatusInvalidPayload, final: true},
		{name: "reason cut inside a code point", send: clientFrame(true, opClose, string(closePayload(1000, kosme[:3]))),
			close: StatusInvalidPayload, final: true},
		{name: "fragmented close", send: clientFrame(false, opClose, string(closePayload(1000, ""))), close: StatusProtocolError, final: true},
		{name: "unmasked close", send: unmaskedFrame(true, opClose, string(closePayload(1000, ""))), close: StatusProtocolError, final: true},
	})
}

// TestDataAfterClose is Autobahn 7.1: the server answers a close frame and
// closes TCP, ignoring anything the client sends after it, and a close in
// the middle of a fragmented message ends it unanswered.
func TestDataAfterClose(t *testing.T) {
	closing := clientFrame(true, opClose, string(closePayload(StatusNormalClosure, "")))
	big := string(testPayload(TextMessage, 256<<10, 0))
	runWireCases(t, Options{}, []wireCase{
		{name: "7.1.1 message then close", send: cat(clientFrame(true, opText, "Hello World!"), closing),
			want: []wantFrame{echoOf(opText, "Hello World!")}, close: StatusNormalClosure, final: true},
		{name: "7.1.2 close twice", send: cat(closing, closing), close: StatusNormalClosure, final: true},
		{name: "7.1.3 ping after close", send: cat(closing, clientFrame(true, opPing, "late")), close: StatusNormalClosure, final: true},
		{name: "7.1.4 text after close", send: cat(closing, clientFrame(true, opText, "late")), close: StatusNormalClosure, final: true},
		{name: "7.1.5 close between fragments", send: cat(clientFrame(false, opText, "frag1"), closing, clientFrame(true, opContinuation, "frag2")),
			close: StatusNormalClosure, final: true},
		{name: "7.1.6 big message, ping, close", send: cat(clientFrame(true, opText, big), clientFrame(true, opPing, "p"), closing),
			want: []wantFrame{echoOf(opText, big), {opPong, "p"}}, close: StatusNormalClosure, final: true},
	})
}

// TestReadAfterPeerClose checks that once the peer's close frame has arrived,
// every read returns a *CloseError carrying its code and reason, and that
// writes fail with ErrClosed.
func TestReadAfterPeerClose(t *testing.T) {
	errs := make(chan error, 4)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		_, _, err := c.ReadMessage()
		errs <- err
		_, _, err = c.NextReader()
		errs <- err
		_, _, err = c.AppendMessage(nil)
		errs <- err
		errs <- c.WriteMessage(TextMessage, []byte("too late"))
	})
	c := connect(t, addr)
	c.sendFrame(true, opClose, closePayload(4001, "bye now"))
	c.expectCloseFrame(4001)
	c.expectEOF()
	for i := range 3 {
		err := await(t, errs, "the handler's errors")
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "bye now" {
			t.Errorf("read %d after the peer's close: %v, want a *CloseError with 4001 and \"bye now\"", i, err)
		}
	}
	if err := await(t, errs, "the handler's errors"); !errors.Is(err, ErrClosed) {
		t.Errorf("write after the peer's close: %v, want ErrClosed", err)
	}
	await(t, done, "the handler to return")
}

// TestReadAfterEmptyClose checks the CloseError of an empty close frame.
func TestReadAfterEmptyClose(t *testing.T) {
	errs := make(chan error, 1)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		_, _, err := c.ReadMessage()
		errs <- err
	})
	c := connect(t, addr)
	c.sendFrame(true, opClose, nil)
	c.expectCloseFrame(StatusNoStatusReceived)
	c.expectEOF()
	var ce *CloseError
	if err := await(t, errs, "the handler's errors"); !errors.As(err, &ce) || ce.Code != StatusNoStatusReceived || ce.Reason != "" {
		t.Errorf("read after an empty close: %v, want a *CloseError with 1005", err)
	}
	await(t, done, "the handler to return")
}

// TestClientAnswersClose has a fake server close: the client echoes the
// server's status code, then leaves the TCP connection for the server to
// close (RFC 6455 section 7.1.1), and only then does its read return.
func TestClientAnswersClose(t *testing.T) {
	c, fc := dialFake(t, &DialOptions{Options: Options{CloseTimeout: testTimeout}})
	readErr := readInBackground(c)
	rc := fc.raw(t)
	rc.sendFrame(true, opClose, closePayload(StatusServiceRestart, "restarting"))
	rc.expectCloseFrame(StatusServiceRestart)
	fc.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if b, err := fc.br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after the close handshake the server read byte %#x, %v; want nothing until it closes", b, err)
	}
	select {
	case err := <-readErr:
		t.Fatalf("read returned (%v) before the server closed the connection", err)
	default:
	}
	fc.conn.Close()
	ce := closeErrorOf(t, await(t, readErr, "the client's read"))
	if ce.Code != StatusServiceRestart || ce.Reason != "restarting" {
		t.Errorf("client read returned close %v %q, want 1012 \"restarting\"", ce.Code, ce.Reason)
	}
}

// closeResult is what a handler reports about a call of Close.
type closeResult struct {
	err     error
	elapsed time.Duration
	at      time.Time // when Close returned
}

// timedClose calls c.Close and reports how it went.
func timedClose(c *Conn, code StatusCode, reason string) closeResult {
	start := time.Now()
	err := c.Close(code, reason)
	return closeResult{err, time.Since(start), time.Now()}
}

// handlerClose serves one connection whose handler runs before, if not
// nil, and then Close(code, ""), while the client does peer; it returns
// how Close went, once the handler has returned.
func handlerClose(t *testing.T, code StatusCode, before func(*Conn), peer func(*rawClient)) closeResult {
	t.Helper()
	results := make(chan closeResult, 1)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		if before != nil {
			before(c)
		}
		results <- timedClose(c, code, "")
	})
	peer(connect(t, addr))
	r := await(t, results, "the handler's result")
	await(t, done, "the handler to return")
	return r
}

// TestServerClose checks the closing handshake begun by Conn.Close: the close
// frame goes out, Close waits for the peer's close frame, then closes TCP
// and returns nil. Afterwards writes, reads and a second Close fail.
func TestServerClose(t *testing.T) {
	results := make(chan closeResult, 1)
	after := make(chan error, 3)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		results <- timedClose(c, StatusGoingAway, "shutting down")
		after <- c.WriteMessage(TextMessage, []byte("late"))
		_, _, err := c.ReadMessage()
		after <- err
		after <- c.Close(StatusNormalClosure, "")
	})
	c := connect(t, addr)
	if reason := c.expectCloseFrame(StatusGoingAway); reason != "shutting down" {
		t.Errorf("close reason %q, want \"shutting down\"", reason)
	}
	// Data frames before the client's close are discarded.
	c.sendFrame(true, opText, []byte("still talking"))
	answered := time.Now()
	c.sendFrame(true, opClose, closePayload(StatusGoingAway, ""))
	c.expectEOF()
	r := await(t, results, "the handler's result")
	if r.err != nil {
		t.Errorf("Close: %v", r.err)
	}
	if r.at.Before(answered) {
		t.Errorf("Close returned %v before the client answered; it must wait for the peer's close frame", answered.Sub(r.at))
	}
	if err := await(t, after, "the handler's next result"); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteMessage after Close: %v, want ErrClosed", err)
	}
	if err := await(t, after, "the handler's next result"); err == nil {
		t.Error("ReadMessage after Close succeeded")
	}
	if err := await(t, after, "the handler's next result"); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	await(t, done, "the handler to return")
}

// TestClientClose closes from the client with assorted codes and reasons:
// the server's read reports them, the client's Close returns nil, and the
// client cannot write or close again.
func TestClientClose(t *testing.T) {
	cases := []struct {
		code   StatusCode
		reason string
	}{
		{4000, "bye"},
		{StatusNormalClosure, ""},
		{StatusGoingAway, "ünïcödé 🚪"},
		{3000, strings.Repeat("r", maxCloseReason)},
		{StatusNoStatusReceived, ""},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(int(tc.code)), func(t *testing.T) {
			srvErr := make(chan error, 1)
			addr, done := serveConn(t, Options{}, func(c *Conn) {
				_, _, err := c.ReadMessage()
				srvErr <- err
				if err := c.WriteMessage(TextMessage, []byte("late")); err != ErrClosed {
					t.Errorf("server write after the close handshake: %v, want ErrClosed", err)
				}
			})
			c := mustDial(t, wsURL(addr), nil)
			if err := c.Close(tc.code, tc.reason); err != nil {
				t.Fatalf("Close: %v", err)
			}
			ce := closeErrorOf(t, await(t, srvErr, "the server's read"))
			if ce.Code != tc.code || ce.Reason != tc.reason {
				t.Errorf("server saw close %v %.20q, want %v %.20q", ce.Code, ce.Reason, tc.code, tc.reason)
			}
			if err := c.WriteMessage(TextMessage, []byte("x")); err != ErrClosed {
				t.Errorf("WriteMessage after Close: %v, want ErrClosed", err)
			}
			if err := c.Ping(nil); err != ErrClosed {
				t.Errorf("Ping after Close: %v, want ErrClosed", err)
			}
			if err := c.Close(StatusNormalClosure, ""); err != ErrClosed {
				t.Errorf("second Close: %v, want ErrClosed", err)
			}
			if _, _, err := c.ReadMessage(); err == nil {
				t.Error("ReadMessage after Close succeeded")
			}
			await(t, done, "the handler to return")
		})
	}
}

// TestClientServerCloses closes from the server: the client's read returns
// the server's code and reason, the server's Close gets its answer, and the
// client can neither write nor close afterwards.
func TestClientServerCloses(t *testing.T) {
	srvClose := make(chan error, 1)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		srvClose <- c.Close(StatusGoingAway, "shutdown")
	})
	c := mustDial(t, wsURL(addr), nil)
	_, _, err := c.ReadMessage()
	ce := closeErrorOf(t, err)
	if ce.Code != StatusGoingAway || ce.Reason != "shutdown" {
		t.Errorf("client saw close %v %q, want 1001 \"shutdown\"", ce.Code, ce.Reason)
	}
	if err := await(t, srvClose, "the server's Close"); err != nil {
		t.Errorf("server's Close: %v", err)
	}
	if _, _, err2 := c.ReadMessage(); err2 != err {
		t.Errorf("second read: %v; want the same error again", err2)
	}
	if err := c.WriteMessage(BinaryMessage, []byte("x")); err != ErrClosed {
		t.Errorf("WriteMessage after the server's close: %v, want ErrClosed", err)
	}
	if err := c.Close(StatusNormalClosure, ""); err != ErrClosed {
		t.Errorf("Close after the server's close: %v, want ErrClosed", err)
	}
	await(t, done, "the handler to return")
}

// TestServerCloseEmpty checks that Close with StatusNoStatusReceived sends
// a close frame without a payload.
func TestServerCloseEmpty(t *testing.T) {
	r := handlerClose(t, StatusNoStatusReceived, nil, func(c *rawClient) {
		c.expectFrame(opClose, "")
		c.answerClose()
	})
	if r.err != nil {
		t.Errorf("Close: %v", r.err)
	}
}

// TestServerCloseTimeout checks that Close gives up after CloseTimeout when
// the peer never answers (here it sends a data frame, which must not be
// echoed, and then nothing), returns an error and closes TCP.
func TestServerCloseTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	results := make(chan closeResult, 1)
	addr, done := serveConn(t, Options{CloseTimeout: timeout}, func(c *Conn) {
		results <- timedClose(c, StatusNormalClosure, "")
	})
	c := connect(t, addr)
	c.expectCloseFrame(StatusNormalClosure)
	c.sendFrame(true, opText, []byte("not a close frame"))
	c.expectEOF()
	r := await(t, results, "the handler's result")
	if r.err == nil {
		t.Error("Close returned nil although the peer never answered")
	}
	if r.elapsed < timeout || r.elapsed > closeBound {
		t.Errorf("Close took %v, want about the close timeout of %v", r.elapsed, timeout)
	}
	await(t, done, "the handler to return")
}

// TestClientCloseIsPrompt checks that against our server the client's Close
// completes as soon as the handshake does, well within CloseTimeout, and
// that the server's handler saw the close and returned.
func TestClientCloseIsPrompt(t *testing.T) {
	const closeTimeout = 5 * time.Second
	srvErr := make(chan error, 1)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		_, _, err := c.ReadMessage()
		srvErr <- err
	})
	c := mustDial(t, wsURL(addr), &DialOptions{Options: Options{CloseTimeout: closeTimeout}})
	start := time.Now()
	if err := c.Close(StatusNormalClosure, "done"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > closeTimeout/5 {
		t.Errorf("Close took %v; CloseTimeout is %v", d, closeTimeout)
	}
	closeErrorOf(t, await(t, srvErr, "the server's read"))
	await(t, done, "the handler to return")
}

// TestClientCloseWaitsForServer checks RFC 6455 section 7.1.1 on the wire:
// after the close frames have crossed, the client leaves the TCP connection
// open until the server closes it, and only then does Close return.
func TestClientCloseWaitsForServer(t *testing.T) {
	c, fc := dialFake(t, &DialOptions{Options: Options{CloseTimeout: testTimeout}})
	closed := make(chan error, 1)
	go func() { closed <- c.Close(4001, "done") }()

	rc := fc.raw(t)
	rc.expectCloseFrameReason(4001, "done")
	rc.sendFrame(true, opClose, closePayload(4001, ""))
	// The client must not close its end now: a read on ours stays blocked
	// rather than seeing the end of the stream.
	fc.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if b, err := fc.br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after the close handshake the server read byte %#x, %v; want nothing until it closes", b, err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the server closed the connection", err)
	default:
	}
	fc.conn.Close()
	if err := await(t, closed, "Close"); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestFailWithSilentPeer checks that a connection failed for a protocol
// error waits at most CloseTimeout for the peer's close frame.
func TestFailWithSilentPeer(t *testing.T) {
	const timeout = 200 * time.Millisecond
	addr, done := serveConn(t, Options{CloseTimeout: timeout}, echoHandler)
	c := connect(t, addr)
	c.sendFrame(true, 0x3, []byte("reserved opcode"))
	c.expectCloseFrame(StatusProtocolError)
	start := time.Now()
	c.expectEOFWithin(closeBound)
	if d := time.Since(start); d < timeout/2 {
		t.Errorf("server closed TCP after %v without waiting for the close frame", d)
	}
	await(t, done, "the handler to return")
}

// TestCloseRejectsArguments checks that Close refuses codes that must not be
// sent and reasons that do not fit or are not UTF-8, without sending
// anything: the connection stays usable.
func TestCloseRejectsArguments(t *testing.T) {
	bad := []struct {
		code   StatusCode
		reason string
	}{
		{0, ""}, {999, ""}, {1004, ""}, {1006, ""}, {1015, ""}, {1016, ""}, {2999, ""}, {5000, ""},
		{StatusNormalClosure, strings.Repeat("x", 124)},
		{StatusNormalClosure, "bad \xff UTF-8"},
		{StatusNormalClosure, "\xed\xa0\x80"},
		{StatusNoStatusReceived, "a reason without a code"},
	}
	errs := make(chan error, len(bad)+2)
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		for _, b := range bad {
			if err := c.Close(b.code, b.reason); err == nil || errors.Is(err, ErrClosed) {
				errs <- fmt.Errorf("Close(%d, %.20q) = %v, want an error about the argument", int(b.code), b.reason, err)
			}
		}
		errs <- c.WriteMessage(TextMessage, []byte("still open"))
		errs <- c.Close(4999, strings.Repeat("é", 61)+"!")
	})
	c := connect(t, addr)
	c.expectFrame(opText, "still open")
	if reason := c.expectCloseFrame(4999); len(reason) != 123 {
		t.Errorf("close reason of %d bytes, want 123", len(reason))
	}
	c.answerClose()
	for range 2 {
		if err := await(t, errs, "the handler's errors"); err != nil {
			t.Error(err)
		}
	}
	await(t, done, "the handler to return")
	for len(errs) > 0 {
		t.Error(<-errs)
	}
}

// TestClientCloseBadArguments checks that Close refuses codes that must not
// be sent and reasons that do not fit, without closing the connection.
func TestClientCloseBadArguments(t *testing.T) {
	addr, done := serveConn(t, Options{}, echoHandler)
	c := mustDial(t, wsURL(addr), nil)
	for _, tc := range []struct {
		code   StatusCode
		reason string
	}{
		{StatusAbnormalClosure, ""},
		{StatusTLSHandshakeFailure, ""},
		{999, ""},
		{5000, ""},
		{StatusNormalClosure, strings.Repeat("r", maxCloseReason+1)},
		{StatusNormalClosure, "\xff"},
	} {
		if err := c.Close(tc.code, tc.reason); err == nil || err == ErrClosed {
			t.Errorf("Close(%d, %.20q) = %v; want an error saying what is wrong", tc.code, tc.reason, err)
		}
	}
	if err := c.WriteMessage(TextMessage, []byte("still open")); err != nil {
		t.Fatalf("WriteMessage after refused Closes: %v", err)
	}
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "still open" {
		t.Fatalf("echo after refused Closes: %q, %v", msg, err)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	await(t, done, "the handler to return")
}

// TestCloseWhileReading checks that Close works while another goroutine is
// blocked in ReadMessage: when the peer answers, the reader gets its
// *CloseError and Close returns nil; when it does not, the reader fails and
// Close returns an error after the close timeout.
func TestCloseWhileReading(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, answer := range []bool{true, false} {
		t.Run(fmt.Sprintf("peer answers %v", answer), func(t *testing.T) {
			results := make(chan closeResult, 1)
			readErrs := make(chan error, 1)
			addr, done := serveConn(t, Options{CloseTimeout: timeout}, func(c *Conn) {
				first := make(chan struct{})
				readDone := make(chan error, 1)
				go func() {
					c.ReadMessage() // the client's first message
					close(first)
					_, _, err := c.ReadMessage() // blocks until Close
					readDone <- err
				}()
				select {
				case <-first:
				case <-time.After(testTimeout):
				}
				results <- timedClose(c, StatusNormalClosure, "")
				select {
				case err := <-readDone:
					readErrs <- err
				case <-time.After(testTimeout):
					readErrs <- errors.New("test: the reader did not return")
				}
			})
			c := connect(t, addr)
			c.sendFrame(true, opText, []byte("wake the reader"))
			c.expectCloseFrame(StatusNormalClosure)
			if answer {
				c.answerClose()
			} else {
				c.expectEOF()
			}
			r := await(t, results, "the handler's result")
			readErr := await(t, readErrs, "the blocked reader")
			var ce *CloseError
			if answer {
				if r.err != nil {
					t.Errorf("Close: %v", r.err)
				}
				if !errors.As(readErr, &ce) || ce.Code != StatusNormalClosure {
					t.Errorf("blocked reader got %v, want the peer's *CloseError", readErr)
				}
			} else {
				if r.err == nil {
					t.Error("Close returned nil although the peer never answered")
				}
				if r.elapsed < timeout || r.elapsed > closeBound {
					t.Errorf("Close took %v, want about the close timeout of %v", r.elapsed, timeout)
				}
				if readErr == nil || errors.As(readErr, &ce) {
					t.Errorf("blocked reader got %v, want an error", readErr)
				}
			}
			await(t, done, "the handler to return")
		})
	}
}

// TestHandlerReturnCloses checks that a connection whose Handler returns is
// closed with status 1000.
func TestHandlerReturnCloses(t *testing.T) {
	addr, done := serveConn(t, Options{}, func(c *Conn) {})
	c := connect(t, addr)
	c.expectCloseFrame(StatusNormalClosure)
	c.answerClose()
	await(t, done, "the handler to return")
}

// logSink is an io.Writer for a log.Logger that hands each write to a
// channel, so that a test can wait for a log line without polling.
type logSink chan string

// Write sends a copy of p to the channel, dropping it if nobody is reading
// and the channel is full.
func (s logSink) Write(p []byte) (int, error) {
	select {
	case s <- string(p):
	default:
	}
	return len(p), nil
}

// TestHandlerPanicCloses checks that a connection whose Handler panics is
// closed with status 1011 and that the panic reaches the http.Server, which
// logs it.
func TestHandlerPanicCloses(t *testing.T) {
	logs := make(logSink, 16)
	srv := httptest.NewUnstartedServer(&Server{Handler: func(c *Conn) {
		c.WriteMessage(TextMessage, []byte("about to fail"))
		panic("handler exploded")
	}})
	srv.Config.ErrorLog = log.New(logs, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	c := connect(t, addr)
	c.expectFrame(opText, "about to fail")
	c.expectCloseFrame(StatusInternalError)
	c.answerClose()
	line := await(t, logs, "the server log")
	if !strings.Contains(line, "panic") || !strings.Contains(line, "handler exploded") {
		t.Errorf("server log %q, want the panic", line)
	}
}

// TestOnPongPanicReleasesRead checks that a panic in OnPong, which runs
// inside a read, leaves the read lock free: the Server's Close(1011) then
// reads the peer's answer at once instead of waiting out its (here endless)
// close timeout.
func TestOnPongPanicReleasesRead(t *testing.T) {
	logs := make(logSink, 16)
	srv := httptest.NewUnstartedServer(&Server{
		Options: Options{CloseTimeout: time.Hour, OnPong: func(*Conn, []byte) { panic("pong hook exploded") }},
		Handler: func(c *Conn) { c.ReadMessage() },
	})
	srv.Config.ErrorLog = log.New(logs, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	c := connect(t, srv.Listener.Addr().String())
	c.sendFrame(true, opPong, []byte("x"))
	c.expectCloseFrame(StatusInternalError)
	c.answerClose()
	c.expectEOF()
	if line := await(t, logs, "the server log"); !strings.Contains(line, "pong hook exploded") {
		t.Errorf("server log %q, want the panic", line)
	}
}

// TestCloseWhenClosed checks that Close returns ErrClosed at once on a
// connection already failed for a protocol error, and on one that CloseNow
// closed (not the error of writing to a closed socket).
func TestCloseWhenClosed(t *testing.T) {
	tests := []struct {
		name   string
		before func(*Conn)        // what the handler does before Close
		peer   func(c *rawClient) // what the client does meanwhile
	}{
		{"after a failure", func(c *Conn) { c.ReadMessage() }, func(c *rawClient) {
			c.send(withRSV(clientFrame(true, opText, "rsv"), 0x40))
			c.expectCloseFrame(StatusProtocolError)
			c.answerClose()
		}},
		{"after CloseNow", func(c *Conn) { c.CloseNow() }, func(c *rawClient) { c.expectEOF() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := handlerClose(t, StatusNormalClosure, tc.before, tc.peer); r.err != ErrClosed {
				t.Errorf("Close: %v, want ErrClosed", r.err)
			}
		})
	}
}

// TestCloseNowDoesNotWait checks that CloseNow returns at once when a frame
// is queued and the peer reads nothing, so the socket cannot take it.
func TestCloseNowDoesNotWait(t *testing.T) {
	_, nc := tcpPair(t)
	fillSocket(t, nc)
	c := newConn(nc, true, nil, &Options{}, negotiated{})
	c.state.Or(stInputPending) // as if the peer's next frame were buffered
	if err := c.WriteMessage(TextMessage, []byte("queued")); err != nil {
		t.Fatal(err)
	}
	// The flush timer may already hold writeMu, blocked on the full
	// socket: then the message is queued as well.
	if c.writeMu.TryLock() {
		queued := c.outp != nil
		c.writeMu.Unlock()
		if !queued {
			t.Fatal("the message was not queued")
		}
	}
	done := make(chan error, 1)
	go func() { done <- c.CloseNow() }()
	if err := await(t, done, "CloseNow"); err != nil {
		t.Fatalf("CloseNow: %v", err)
	}
}

// TestCloseNowOverStalledTLS checks that CloseNow over TLS, with the socket
// full and the peer reading nothing, returns without writing: the Close of
// a *tls.Conn would first send a close_notify alert, a write that waits on
// that peer (up to five seconds, crypto/tls's own bound), so the TCP
// connection under it must be closed instead.
func TestCloseNowOverStalledTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	a, b := tcpPair(t)
	watched := &writeWatch{Conn: b}
	clientTLS = clientTLS.Clone()
	clientTLS.ServerName = "127.0.0.1"
	srv, peer := tls.Server(watched, serverTLS), tls.Client(a, clientTLS)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	shaken := make(chan error, 1)
	go func() { shaken <- peer.HandshakeContext(ctx) }()
	if err := srv.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-shaken; err != nil {
		t.Fatal(err)
	}
	c := newConn(srv, true, nil, &Options{}, negotiated{})
	// The peer reads nothing from here on, so writes fill the socket
	// until one times out.
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	for {
		err := c.WriteMessage(BinaryMessage, make([]byte, 64<<10))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	watched.watching.Store(true)
	done := make(chan error, 1)
	go func() { done <- c.CloseNow() }()
	if err := await(t, done, "CloseNow"); err != nil {
		t.Errorf("CloseNow: %v", err)
	}
	if n := watched.writes.Load(); n != 0 {
		t.Errorf("CloseNow made %d writes to the stalled peer", n)
	}
	// Reading at last, the peer finds the TCP connection closed.
	a.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.Copy(io.Discard, a); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("the TCP connection was left open")
	}
}

// writeWatch is a net.Conn that counts the writes made to it once watching
// is set.
type writeWatch struct {
	net.Conn
	watching atomic.Bool
	writes   atomic.Int32
}

// Write counts the write if watching is set, and makes it.
func (w *writeWatch) Write(p []byte) (int, error) {
	if w.watching.Load() {
		w.writes.Add(1)
	}
	return w.Conn.Write(p)
}

// TestPeerCloseWhileWriteBlocked checks that the close handshake stays
// bounded by CloseTimeout when the peer sends its close frame and stops
// reading while a large write is blocked on it: the echo of the close must
// not wait forever behind that write.
func TestPeerCloseWhileWriteBlocked(t *testing.T) {
	const timeout = 200 * time.Millisecond
	results := make(chan [2]error, 1)
	addr, done := serveConn(t, Options{CloseTimeout: timeout}, func(c *Conn) {
		written := make(chan error, 1)
		go func() {
			// Far more than the socket buffers hold: it blocks.
			written <- c.WriteMessage(BinaryMessage, make([]byte, 32<<20))
		}()
		_, _, err := c.ReadMessage()
		select {
		case werr := <-written:
			results <- [2]error{err, werr}
		case <-time.After(testTimeout):
			results <- [2]error{err, errors.New("test: the write never returned")}
		}
	})
	c := connect(t, addr)
	// The first bytes of the big frame show the write is under way.
	if _, err := io.ReadFull(c.br, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.sendFrame(true, opClose, closePayload(StatusNormalClosure, ""))
	// The client reads nothing more. The handler must finish anyway.
	select {
	case r := <-results:
		var ce *CloseError
		if !errors.As(r[0], &ce) {
			t.Errorf("ReadMessage: %v, want the peer's *CloseError", r[0])
		}
		if r[1] == nil {
			t.Error("the blocked WriteMessage succeeded")
		}
	case <-time.After(timeout + 3*time.Second):
		t.Fatal("the reader is stuck echoing the close frame behind a blocked write")
	}
	if d := time.Since(start); d > timeout+2*time.Second {
		t.Errorf("close handshake took %v, want about the close timeout of %v", d, timeout)
	}
	await(t, done, "the handler to return")
}

// TestCloseBoundedWhenPongExtendsDeadline checks that Close returns within
// its timeout even when OnPong moves the read deadline that Close set, as
// the keepalive pattern does, and the peer never answers the close.
func TestCloseBoundedWhenPongExtendsDeadline(t *testing.T) {
	const timeout = 200 * time.Millisecond
	results := make(chan closeResult, 1)
	opts := Options{
		CloseTimeout: timeout,
		OnPong:       func(c *Conn, _ []byte) { c.SetReadDeadline(time.Now().Add(time.Hour)) },
	}
	addr, done := serveConn(t, opts, func(c *Conn) {
		c.ReadMessage() // the client's first message
		readInBackground(c)
		results <- timedClose(c, StatusNormalClosure, "")
	})
	c := connect(t, addr)
	c.sendFrame(true, opText, []byte("start"))
	c.expectCloseFrame(StatusNormalClosure)
	c.sendFrame(true, opPong, []byte("still here")) // but never a close frame
	r := await(t, results, "the handler's result")
	if r.err == nil {
		t.Error("Close returned nil although the peer never answered")
	}
	if r.elapsed > closeBound {
		t.Errorf("Close took %v with CloseTimeout %v", r.elapsed, timeout)
	}
	c.expectEOF()
	await(t, done, "the handler to return")
}

// TestCloseWithOpenWriterAndWritingReader checks that Close is bounded when
// the reader waits to write (from OnPong) behind a message that the
// goroutine calling Close has left open with NextWriter.
func TestCloseWithOpenWriterAndWritingReader(t *testing.T) {
	const timeout = 200 * time.Millisecond
	results := make(chan closeResult, 1)
	inHook := make(chan struct{}, 1)
	opts := Options{
		CloseTimeout: timeout,
		OnPong: func(c *Conn, _ []byte) {
			inHook <- struct{}{}
			c.WriteMessage(TextMessage, []byte("pong seen")) // waits for the open writer
		},
	}
	addr, done := serveConn(t, opts, func(c *Conn) {
		w, _ := c.NextWriter(TextMessage)
		w.Write([]byte("partial"))
		readInBackground(c)
		<-inHook
		results <- timedClose(c, StatusInternalError, "")
		w.Close()
	})
	c := connect(t, addr)
	c.sendFrame(true, opPong, []byte("p"))
	r := await(t, results, "the handler's result")
	if r.elapsed > closeBound {
		t.Errorf("Close took %v with CloseTimeout %v", r.elapsed, timeout)
	}
	await(t, done, "the handler to return")
}

// TestCloseReportsDroppedPeer checks that Close returns an error when the
// peer drops the connection instead of answering the close frame.
func TestCloseReportsDroppedPeer(t *testing.T) {
	r := handlerClose(t, StatusNormalClosure, nil, func(c *rawClient) {
		c.expectCloseFrame(StatusNormalClosure)
		c.conn.Close()
	})
	if r.err == nil {
		t.Error("Close returned nil although the peer never sent a close frame")
	}
}

// TestCloseOwedToNextWriter checks that a close frame that Close left owed
// to the holder of the write lock is sent by whichever writer takes the lock
// next, even when that writer's own frame is refused because the connection
// is closing: the holder here lets go without sending it, as a holder whose
// look after unlocking lost the lock to that writer does.
func TestCloseOwedToNextWriter(t *testing.T) {
	peer, nc := tcpPair(t)
	c := newConn(nc, false, nil, &Options{CloseTimeout: testTimeout}, negotiated{})
	defer c.CloseNow()
	c.writeMu.Lock()
	closed := make(chan error, 1)
	go func() { closed <- c.Close(StatusNormalClosure, "") }()
	for !c.has(stOwed) {
		runtime.Gosched() // until Close has left its frame owed
	}
	c.writeMu.Unlock()
	if err := c.Ping(nil); err != ErrClosed {
		t.Fatalf("Ping while closing: %v, want ErrClosed", err)
	}
	peer.SetReadDeadline(time.Now().Add(testTimeout))
	var got [6]byte // a masked close frame of 2 bytes
	if _, err := io.ReadFull(peer, got[:]); err != nil || got[0] != 0x88 {
		t.Fatalf("peer read % x, %v; want the close frame", got, err)
	}
	peer.Write(unmaskedFrame(true, opClose, string(closePayload(StatusNormalClosure, ""))))
	peer.Close()
	if err := await(t, closed, "Close"); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestCloseWhileWritersPing checks that Close's frame reaches the peer even
// when writers hold the write lock as Close owes it: a writer that finds the
// connection closing must still send the owed close frame it queued.
func TestCloseWhileWritersPing(t *testing.T) {
	addr, _ := serveConn(t, Options{}, func(c *Conn) {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	for range 60 {
		c, _, err := Dial(context.Background(), "ws://"+addr, &DialOptions{Options: Options{CloseTimeout: testTimeout}})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for c.Ping([]byte("x")) == nil {
				}
			})
		}
		if err := c.Close(StatusNormalClosure, ""); err != nil {
			t.Fatalf("Close: %v", err)
		}
		wg.Wait()
	}
}

// TestCloseWithIdleReaderWaitsOnce checks that Close, when a read on
// another goroutine holds the read side and then hands the closing
// handshake over to it, waits for the peer's answer until the deadline it
// set at the start, not for a fresh close timeout from the hand-over: with
// a peer that never answers, Close then waits the close timeout once. The
// Conn runs over a connection that records its read deadlines, and no read
// deadline set after Close's own may lie beyond it.
func TestCloseWithIdleReaderWaitsOnce(t *testing.T) {
	const timeout = 300 * time.Millisecond
	peer, nc := tcpPair(t)
	peer.SetDeadline(time.Now().Add(testTimeout))
	dc := &deadlineConn{Conn: nc}
	c := newConn(dc, true, nil, &Options{CloseTimeout: timeout}, negotiated{})
	defer c.CloseNow()
	raw := &rawClient{t: t, conn: peer, br: bufio.NewReader(peer)}
	read := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		read <- err
	}()
	for c.readMu.TryLock() {
		c.readMu.Unlock()
		runtime.Gosched() // until the read holds the read side
	}
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- c.Close(StatusNormalClosure, "") }()
	raw.expectCloseFrame(StatusNormalClosure)
	for c.closeWait.Load() == nil {
		runtime.Gosched() // until Close waits for the read to end
	}
	raw.sendFrame(true, opText, []byte("late")) // ends the read: the hand-over
	if err := await(t, read, "the read"); err != nil {
		t.Fatalf("read: %v, want the message sent before the close", err)
	}
	err := await(t, closed, "Close")
	elapsed := time.Since(start)
	if !errors.Is(err, ErrCloseTimeout) {
		t.Errorf("Close: %v, want ErrCloseTimeout", err)
	}
	if ds := dc.readDeadlines(); len(ds) == 0 || slices.ContainsFunc(ds[1:], func(d time.Time) bool { return d.IsZero() || d.After(ds[0]) }) {
		t.Errorf("read deadlines set by Close and after: %v; none may lie beyond the first", ds)
	}
	if elapsed >= timeout*3/2 {
		t.Errorf("Close took %v with a close timeout of %v", elapsed, timeout)
	}
}
