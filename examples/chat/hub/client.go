//go:build !js

package hub

// This file holds one client's life: joining, the goroutine that writes its
// queue, the read loop that publishes its messages, and leaving.

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wsproject/websocket"
)

// member is what Accept learned from the request: the client's name and
// room.
type member struct {
	name, room string
}

// client is one connected client.
type client struct {
	member
	conn *websocket.Conn
	// queue holds the events waiting for the writer. Only the hub, with
	// h.mu held, sends to it, and only while the client is in its room.
	queue chan *websocket.PreparedMessage
	// done is closed when the handler ends, to stop the writer.
	done chan struct{}
}

// String names the client in log lines: name@room (address).
func (c *client) String() string {
	return c.name + "@" + c.room + " (" + c.conn.RemoteAddr().String() + ")"
}

// Errors that end a client's read loop, with the status it was closed with.
var (
	errBinary = errors.New("hub: the client sent a binary message; closed with 1003")
	errJSON   = errors.New("hub: the client sent a message that is not a chat message in JSON; closed with 1008")
	errLong   = errors.New("hub: the client sent a message longer than " + strconv.Itoa(MaxTextLen) + " characters; closed with 1008")
)

// serveClient is the WebSocket handler: the client joins its room, its
// writer starts, and its messages are published until it is gone; then it
// leaves. Its join and leave are room events like its messages.
func (h *Hub) serveClient(conn *websocket.Conn) {
	m := conn.Value().(*member)
	c := &client{
		member: *m,
		conn:   conn,
		queue:  make(chan *websocket.PreparedMessage, h.cfg.History+h.cfg.SendQueue),
		done:   make(chan struct{}),
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.write()
	}()
	h.join(c)
	h.cfg.Logger.Printf("joined %s", c)
	h.publish(c, h.ids.event(TypeJoin, c.room, c.name, ""))
	err := h.read(c)
	evicted := !h.leave(c)
	close(c.done)
	<-writerDone
	h.publish(c, h.ids.event(TypeLeave, c.room, c.name, ""))
	if !evicted {
		h.cfg.Logger.Printf("left %s: %v", c, err)
	}
}

// write sends the client's queued events until the handler ends or a write
// fails. A write fails with ErrClosed once a close has begun (an eviction,
// Shutdown), which then ends the connection; after any other failure it
// drops the connection, which ends the read loop too.
func (c *client) write() {
	for {
		select {
		case pm := <-c.queue:
			if err := c.conn.WritePreparedMessage(pm); err != nil {
				if !errors.Is(err, websocket.ErrClosed) {
					c.conn.CloseNow()
				}
				return
			}
		case <-c.done:
			return
		}
	}
}

// read reads the client's messages, {"type":"message","text":"..."}, and
// publishes each to its room, until the connection ends; it returns why.
// A binary message closes the client with status 1003, anything else that
// is not such a JSON object with 1008, and so does a text longer than
// MaxTextLen characters; blank texts are skipped.
//
// Each message takes a token of the client's bucket (Config.SendRate and
// SendBurst); while it has none, the loop waits before it goes on.
func (h *Hub) read(c *client) error {
	var buf []byte
	limit := newBucket(h.cfg.SendRate, h.cfg.SendBurst, time.Now())
	for {
		typ, msg, err := c.conn.AppendMessage(buf[:0])
		if err != nil {
			return err
		}
		buf = msg
		if d := limit.take(time.Now()); d > 0 {
			c.pause(d)
		}
		if typ != websocket.TextMessage {
			c.conn.Close(websocket.StatusUnsupportedData, "send text: JSON chat messages")
			return errBinary
		}
		var in incoming
		if err := json.Unmarshal(msg, &in); err != nil || in.Type != TypeMessage {
			c.conn.Close(websocket.StatusPolicyViolation, `send {"type":"message","text":"..."}`)
			return errJSON
		}
		if utf8.RuneCountInString(in.Text) > MaxTextLen {
			c.conn.Close(websocket.StatusPolicyViolation, "a message may have at most "+strconv.Itoa(MaxTextLen)+" characters")
			return errLong
		}
		if strings.TrimSpace(in.Text) == "" {
			continue
		}
		h.send(c, in.Text)
	}
}

// send publishes c's message with text, unless the backplane is lost: then
// c gets a notice that it was not delivered, and nothing is published.
func (h *Hub) send(c *client, text string) {
	h.mu.Lock()
	down := h.down
	if down != nil {
		h.tellLocked(c, "Not delivered. "+lostText(down))
	}
	h.mu.Unlock()
	if down == nil {
		h.publish(c, h.ids.event(TypeMessage, c.room, c.name, text))
	}
}

// publish publishes event to c's room, within cfg.PublishTimeout. If that
// fails, c gets a notice that its message was lost, if it is still in its
// room.
func (h *Hub) publish(c *client, event []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.PublishTimeout)
	defer cancel()
	err := h.cfg.Backplane.Publish(ctx, c.room, event)
	if err == nil {
		return
	}
	h.cfg.Logger.Printf("publishing for %s: %v", c, err)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tellLocked(c, "Not delivered, the chat's backplane failed: "+err.Error())
}

// tellLocked offers c a notice with text, if c is still in its room. The
// caller holds h.mu.
func (h *Hub) tellLocked(c *client, text string) {
	if r := h.rooms[c.room]; r != nil {
		if _, ok := r.members[c]; ok {
			h.offerLocked(r, c, prepare(notice(text)))
		}
	}
}

// pause waits for d, or until the connection is closed.
func (c *client) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.conn.Done():
	}
}

// bucket is a token bucket: it holds at most burst tokens and gains rate
// tokens a second; each message takes one. A rate that is not positive
// sets no limit.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time // when tokens was last brought up to date
}

// newBucket returns a full bucket at now.
func newBucket(rate float64, burst int, now time.Time) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// take takes a token at now, and returns how long the taker must wait for
// the bucket to have gained it: zero if it had one. The tokens owed are
// gained back before any later take gets one.
func (b *bucket) take(now time.Time) time.Duration {
	if b.rate <= 0 {
		return 0
	}
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}
