//go:build !js

package websocket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestNetConnCopy streams 1 MiB through a NetConn to a server that copies
// its NetConn back to itself, with io.Copy on both sides, and reads it all
// back: bytes cross message boundaries in both directions.
func TestNetConnCopy(t *testing.T) {
	addr, done := serveConn(t, Options{}, func(c *Conn) {
		nc := NetConn(c, BinaryMessage)
		io.Copy(nc, nc)
	})
	c := mustDial(t, wsURL(addr), nil)
	nc := NetConn(c, BinaryMessage)
	data := testPayload(BinaryMessage, 1<<20, 11)
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(nc, bytes.NewReader(data))
		sent <- err
	}()
	var got bytes.Buffer
	if _, err := io.Copy(&got, io.LimitReader(nc, int64(len(data)))); err != nil {
		t.Fatal(err)
	}
	if err := await(t, sent, "the writer"); err != nil {
		t.Fatal(err)
	}
	checkSame(t, "echoed stream", got.Bytes(), data)
	if nc.LocalAddr().String() != c.LocalAddr().String() || nc.RemoteAddr().String() != addr {
		t.Errorf("addresses %v %v, want %v %v", nc.LocalAddr(), nc.RemoteAddr(), c.LocalAddr(), addr)
	}
	if err := nc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	await(t, done, "the handler to return")
}

// TestNetConnEOF checks that a normal close by the peer ends the stream
// with io.EOF after the last byte, and that Close sends status 1000.
func TestNetConnEOF(t *testing.T) {
	closed := make(chan error, 1)
	addr, _ := serveConn(t, Options{}, func(c *Conn) {
		nc := NetConn(c, TextMessage)
		io.WriteString(nc, "hello, ")
		io.WriteString(nc, "")
		io.WriteString(nc, "stream")
		_, err := io.ReadAll(nc) // until the client's Close
		closed <- err
	})
	c := mustDial(t, wsURL(addr), nil)
	nc := NetConn(c, TextMessage)
	buf := make([]byte, len("hello, stream"))
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "hello, stream" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if err := nc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := await(t, closed, "the server's read"); err != nil {
		t.Fatalf("server read after a close with 1000: %v, want io.EOF (nil from ReadAll)", err)
	}
}

// TestNetConnWrongType checks that a message of the other type fails the
// stream and closes the connection with status 1003.
func TestNetConnWrongType(t *testing.T) {
	readErr := make(chan error, 1)
	addr, _ := serveConn(t, Options{}, func(c *Conn) {
		_, err := NetConn(c, BinaryMessage).Read(make([]byte, 10))
		readErr <- err
	})
	c := connect(t, addr)
	c.send(clientFrame(true, opText, "text"))
	c.expectCloseFrame(StatusUnsupportedData)
	c.answerClose()
	if err := await(t, readErr, "the read"); err != errNetConnType {
		t.Fatalf("Read: %v, want %v", err, errNetConnType)
	}
}

// TestNetConnTimeoutBetweenMessages checks what NetConn documents: a Read
// that times out between messages changes nothing, so a later deadline lets
// the stream go on.
func TestNetConnTimeoutBetweenMessages(t *testing.T) {
	addr, _ := serveConn(t, Options{}, echoHandler)
	c := mustDial(t, wsURL(addr), nil)
	defer c.CloseNow()
	nc := NetConn(c, BinaryMessage)
	nc.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v, want a timeout", err)
	}
	nc.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := nc.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "after" {
		t.Fatalf("Read after the timeout: %q, %v; want the echo", buf, err)
	}
}

// TestNetConnDeadline checks that the NetConn's deadline is the Conn's: a
// read past it returns a timeout, as net.Conn users expect.
func TestNetConnDeadline(t *testing.T) {
	addr, _ := serveConn(t, Options{}, func(c *Conn) { c.ReadMessage() })
	c := mustDial(t, wsURL(addr), nil)
	defer c.CloseNow()
	nc := NetConn(c, BinaryMessage)
	nc.SetDeadline(time.Now().Add(-time.Second))
	_, err := nc.Read(make([]byte, 1))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past the deadline: %v, want a timeout", err)
	}
	nc.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := nc.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past the deadline: %v, want a timeout", err)
	}
}
