//go:build !js

package hub

// This file holds the rooms: their members on this node, their history, and
// the delivery of the backplane's events to them.

import (
	"container/list"
	"unicode/utf8"

	"github.com/wsproject/websocket"
)

// room is one chat room as this node knows it.
type room struct {
	name    string
	members map[*client]struct{}
	// history holds the room's last events, oldest first: at most
	// cfg.History of them, of at most cfg.HistoryBytes in all.
	history []kept
	bytes   int // the sum of the sizes in history
	// idle is the room's place in Hub.idle while it has no members.
	idle *list.Element
}

// kept is an event of a room's history, and its size in bytes of JSON.
type kept struct {
	pm   *websocket.PreparedMessage
	size int
}

// record adds pm, an event of size bytes, to the history, forgetting the
// oldest events beyond maxEvents or maxBytes.
func (r *room) record(pm *websocket.PreparedMessage, size, maxEvents, maxBytes int) {
	if maxEvents == 0 {
		return
	}
	r.history = append(r.history, kept{pm, size})
	r.bytes += size
	for len(r.history) > maxEvents || r.bytes > maxBytes {
		r.bytes -= r.history[0].size
		r.history[0] = kept{} // the array keeps the slot until append moves the rest
		r.history = r.history[1:]
	}
}

// replay sends the history to c's queue, oldest first. The queue is new and
// has room for a whole history.
func (r *room) replay(c *client) {
	for _, k := range r.history {
		c.queue <- k.pm
	}
}

// deliver is the backplane's delivery of one event: it keeps it in its
// room's history and offers it to the room's clients, framed once for all.
// It never waits for a client. Events that are not valid UTF-8, which no
// hub publishes, are dropped.
func (h *Hub) deliver(name string, event []byte) {
	if !utf8.Valid(event) {
		h.cfg.Logger.Printf("backplane delivered an event for room %q that is not valid UTF-8; dropped", name)
		return
	}
	pm := prepare(event)
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[name]
	if r == nil {
		if h.cfg.History == 0 {
			return // no history to keep, no one to tell
		}
		// A room without clients here: theirs are on other nodes, or
		// left before their events came back. It starts idle, with this
		// event as its history.
		r = &room{name: name, members: make(map[*client]struct{})}
		h.rooms[name] = r
		r.record(pm, len(event), h.cfg.History, h.cfg.HistoryBytes)
		h.idleLocked(r)
		return
	}
	r.record(pm, len(event), h.cfg.History, h.cfg.HistoryBytes)
	if r.idle != nil {
		h.idle.MoveToBack(r.idle)
	}
	for c := range r.members {
		h.offerLocked(r, c, pm)
	}
}

// idleLocked puts r, which has just lost its last member or is new with
// its first event recorded, in the idle list, and forgets the least recently
// active idle rooms beyond cfg.IdleRooms; a room with no history to keep is
// forgotten at once. The caller holds h.mu.
func (h *Hub) idleLocked(r *room) {
	if len(r.history) == 0 {
		delete(h.rooms, r.name)
		return
	}
	r.idle = h.idle.PushBack(r)
	for h.idle.Len() > h.cfg.IdleRooms {
		old := h.idle.Remove(h.idle.Front()).(*room)
		delete(h.rooms, old.name)
	}
}

// join adds c to its room and queues for it the room's history and, if the
// backplane is lost, a notice saying so, all before any live event.
func (h *Hub) join(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[c.room]
	switch {
	case r == nil:
		r = &room{name: c.room, members: make(map[*client]struct{})}
		h.rooms[c.room] = r
	case r.idle != nil:
		h.idle.Remove(r.idle)
		r.idle = nil
	}
	r.replay(c)
	if n := h.downNoticeLocked(); n != nil {
		c.queue <- prepare(n)
	}
	r.members[c] = struct{}{}
}

// leave removes c from its room, and reports whether it was there (it is
// not once evicted).
func (h *Hub) leave(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[c.room]
	if r == nil {
		return false
	}
	if _, ok := r.members[c]; !ok {
		return false
	}
	h.removeLocked(r, c)
	return true
}

// removeLocked removes c from r, which becomes idle if c was its last
// member. The caller holds h.mu.
func (h *Hub) removeLocked(r *room, c *client) {
	delete(r.members, c)
	if len(r.members) == 0 {
		h.idleLocked(r)
	}
}

// offerLocked puts pm on c's queue if there is room, and otherwise evicts c:
// it removes c from r and closes it with status 1013 and a reason, on a
// goroutine of its own. The caller holds h.mu.
func (h *Hub) offerLocked(r *room, c *client, pm *websocket.PreparedMessage) {
	select {
	case c.queue <- pm:
		return
	default:
	}
	h.removeLocked(r, c)
	reason := tooSlow(cap(c.queue))
	h.cfg.Logger.Printf("evicted %s: %s", c, reason)
	if h.cfg.OnEvict != nil {
		h.cfg.OnEvict(c.name, c.room)
	}
	go c.conn.Close(websocket.StatusTryAgainLater, reason)
}
