package websocket

import (
	"runtime"
	"testing"
)

// TestMessageGrowthCost checks that reading a message that arrives in many
// fragments allocates about twice its size at most, not the five times of
// append's 1.25x growth, and never more than the read limit at once.
func TestMessageGrowthCost(t *testing.T) {
	const size, fragment = 4 << 20, 64 << 10
	peer, nc := tcpPair(t)
	c := newConn(nc, true, nil, &Options{ReadLimit: size}, negotiated{})
	defer c.CloseNow()
	var frames []byte
	for off := 0; off < size; off += fragment {
		op := opContinuation
		if off == 0 {
			op = opBinary
		}
		frames = append(frames, buildFrame(off+fragment == size, op, make([]byte, fragment), true, [4]byte{1, 2, 3, 4})...)
	}
	go peer.Write(frames)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, msg, err := c.ReadMessage()
	runtime.ReadMemStats(&after)
	if err != nil || len(msg) != size {
		t.Fatalf("read %d bytes, %v", len(msg), err)
	}
	if cap(msg) > size {
		t.Errorf("the message's buffer holds %d bytes, more than the read limit %d", cap(msg), size)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 2*size+size/4 {
		t.Errorf("reading a %d-byte message allocated %d bytes, want at most about twice its size", size, got)
	}
}
