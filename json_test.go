//go:build !js

package websocket

import (
	"encoding/json"
	"errors"
	"testing"
)

// jsonPoint is a value for the JSON tests.
type jsonPoint struct {
	Name string  `json:"name"`
	X    float64 `json:"x"`
	Y    float64 `json:"y,omitempty"`
	Tags []int   `json:"tags"`
}

// TestJSONRoundTrip sends values with WriteJSON to an echo server and
// reads them back with ReadJSON: the message is text, holds the JSON alone
// (no newline), and a message that is not JSON fails the decode without
// failing the Conn.
func TestJSONRoundTrip(t *testing.T) {
	addr, _ := serveConn(t, Options{}, echoHandler)
	c := mustDial(t, wsURL(addr), nil)
	defer c.Close(StatusNormalClosure, "")
	want := jsonPoint{Name: "p ü \"q\" <b>", X: 1.5, Tags: []int{1, 2, 3}}
	if err := c.WriteJSON(want); err != nil {
		t.Fatal(err)
	}
	var got jsonPoint
	if err := c.ReadJSON(&got); err != nil {
		t.Fatal(err)
	}
	if got.Name != want.Name || got.X != want.X || len(got.Tags) != 3 {
		t.Fatalf("got %+v, want %+v", got, want)
	}

	// The wire form: a text message of exactly json.Marshal's bytes.
	c.WriteJSON(want)
	typ, msg, err := c.ReadMessage()
	wantBytes, _ := json.Marshal(want)
	if err != nil || typ != TextMessage || string(msg) != string(wantBytes) {
		t.Fatalf("message %v %q (%v), want text %q", typ, msg, err, wantBytes)
	}

	c.WriteMessage(TextMessage, []byte(`{"name": "a"} trailing`))
	var se *json.SyntaxError
	if err := c.ReadJSON(&got); !errors.As(err, &se) {
		t.Fatalf("ReadJSON of bad JSON: %v, want a *json.SyntaxError", err)
	}
	if err := c.WriteJSON(func() {}); err == nil {
		t.Fatal("WriteJSON of a func: no error")
	}
	c.WriteJSON(jsonPoint{Name: "still usable"})
	if err := c.ReadJSON(&got); err != nil || got.Name != "still usable" {
		t.Fatalf("after the errors: %+v, %v", got, err)
	}
}

// TestWriteJSONNoAllocs checks that WriteJSON of a plain struct allocates
// nothing in the steady state.
func TestWriteJSONNoAllocs(t *testing.T) {
	c, peer := preparedPair(t, true, negotiated{})
	go drain(peer)
	v := jsonPoint{Name: "steady", X: 2, Tags: []int{4, 5}}
	allocs := allocsPerStep(t, func() error { return c.WriteJSON(&v) })
	if allocs != 0 && !raceEnabled() {
		t.Errorf("%v allocations per WriteJSON, want 0", allocs)
	}
}

// drain reads and discards what the peer's Conn sends.
func drain(peer *rawClient) {
	buf := make([]byte, 32<<10)
	for {
		if _, err := peer.conn.Read(buf); err != nil {
			return
		}
	}
}

// BenchmarkReadJSON measures ReadJSON of a small object, the message
// already on its way.
func BenchmarkReadJSON(b *testing.B) {
	addr, _ := serveConn(b, Options{}, echoHandler)
	c := mustDial(b, wsURL(addr), nil)
	defer c.Close(StatusNormalClosure, "")
	v := jsonPoint{Name: "bench", X: 3, Tags: []int{1}}
	var got jsonPoint
	b.ReportAllocs()
	for b.Loop() {
		if err := c.WriteJSON(&v); err != nil {
			b.Fatal(err)
		}
		if err := c.ReadJSON(&got); err != nil {
			b.Fatal(err)
		}
	}
}
