//go:build unix

package websocket

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// TestCloseFrameBehindFullSocket checks the slow path of sendClose: when the
// socket cannot take a close frame at once, sendClose still returns at once
// (a read that answers the peer's close must not wait on the peer), and the
// frame goes out whole in the background once the peer reads. (The fast
// path, with echoes queued before the answer, is in the wire cases that send
// frames and a close in one write.)
func TestCloseFrameBehindFullSocket(t *testing.T) {
	peer, nc := tcpPair(t)
	filled := fillSocket(t, nc)

	c := newConn(nc, true, nil, &Options{CloseTimeout: testTimeout}, negotiated{})
	defer c.CloseNow()
	if err := c.sendClose(StatusNormalClosure, ""); err != nil {
		t.Fatalf("sendClose: %v", err)
	}

	peer.SetReadDeadline(time.Now().Add(testTimeout)) // a lost frame fails, not hangs
	if _, err := io.ReadFull(peer, make([]byte, filled)); err != nil {
		t.Fatal(err)
	}
	want := []byte("\x88\x02\x03\xe8")
	got := make([]byte, len(want))
	if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after the filler: % x, %v; want % x", got, err, want)
	}
	// The background write holds writeMu until it is done.
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeErr != nil || !c.closeSent || c.outp != nil {
		t.Fatalf("after the close frame: writeErr %v, closeSent %v, queue %v", c.writeErr, c.closeSent, c.outp != nil)
	}
}
