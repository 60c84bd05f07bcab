//go:build !js

package hub

import (
	"testing"
	"time"
)

// TestBucket checks the token bucket of the send rate limit on a clock of
// its own: a burst goes at once, then one message per 1/rate; a pause
// refills the bucket up to the burst and no further; no rate, no limit.
func TestBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBucket(10, 3, now)
	// take is called as the read loop does: once a message, waiting what
	// it says before the next.
	send := func(n int) time.Duration {
		start := now
		for range n {
			now = now.Add(b.take(now))
		}
		return now.Sub(start)
	}
	near := func(got, want time.Duration) bool {
		return got > want-time.Microsecond && got < want+time.Microsecond
	}
	if d := send(3); d != 0 {
		t.Errorf("the burst of 3 took %v, want no wait", d)
	}
	if d := send(10); !near(d, time.Second) {
		t.Errorf("10 messages after the burst took %v, want 1 s at 10 a second", d)
	}
	now = now.Add(time.Hour) // a long pause refills 3 tokens, not more
	if d := send(3); d != 0 {
		t.Errorf("the burst after a pause took %v, want no wait", d)
	}
	if d := send(1); !near(d, 100*time.Millisecond) {
		t.Errorf("the message after the second burst waited %v, want 100 ms", d)
	}
	now = now.Add(250 * time.Millisecond) // 2.5 tokens
	if d := send(3); !near(d, 50*time.Millisecond) {
		t.Errorf("3 messages 250 ms after the last took %v, want 50 ms", d)
	}

	b = newBucket(-1, 3, now)
	if d := send(1000); d != 0 {
		t.Errorf("1000 messages without a rate took %v, want no wait", d)
	}
}
