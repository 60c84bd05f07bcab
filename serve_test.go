package websocket

import (
	"context"
	"errors"
	"net"
	"net/http"
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
