//go:build !js

package main

import (
	"context"
	"errors"
	"log"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wsproject/websocket"
	"github.com/wsproject/websocket/examples/chat/hub"
	"github.com/wsproject/websocket/internal/browsertest"
)

// testTimeout bounds every blocking step of a test.
const testTimeout = 15 * time.Second

// joinChat connects name to room of the chat at addr and reads until its own
// join comes back, so that it is in the room.
func joinChat(t *testing.T, addr, name, room string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	u := "ws://" + addr + "/ws?" + url.Values{"name": {name}, "room": {room}}.Encode()
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("joining as %s: %v", name, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	for {
		var e hub.Event
		if err := readJSON(ctx, c, &e); err != nil {
			t.Fatalf("%s awaiting its join: %v", name, err)
		}
		if e.Type == hub.TypeJoin && e.Name == name {
			return c
		}
	}
}

// readJSON reads the next message of c into v, within ctx.
func readJSON(ctx context.Context, c *websocket.Conn, v any) error {
	d, _ := ctx.Deadline()
	c.SetReadDeadline(d)
	defer c.SetReadDeadline(time.Time{})
	return c.ReadJSON(v)
}

// expectGoingAway reads c until it ends, and fails the test unless the
// server closed it with 1001.
func expectGoingAway(t *testing.T, c *websocket.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for {
		var e hub.Event
		err := readJSON(ctx, c, &e)
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
			t.Fatalf("connection ended with %v, want a close with 1001 (going away)", err)
		}
		return
	}
}

// TestRun runs the server as main does, and checks that the end of its
// context closes the clients with 1001 and makes it return nil.
func TestRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := new(browsertest.TailBuffer)
	logger := log.New(logs, "", 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, hub.Config{Logger: logger}, logger) }()

	addr := ln.Addr().String()
	clients := []*websocket.Conn{joinChat(t, addr, "ana", "lobby"), joinChat(t, addr, "bo", "kitchen")}
	cancel()
	for _, c := range clients {
		expectGoingAway(t, c)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("run did not return after its context ended")
	}
	for _, want := range []string{"listening on http://127.0.0.1:", "shutting down", "left ana@lobby", "stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
}
