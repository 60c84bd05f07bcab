//go:build !js

// Package hub is the chat server of examples/chat: rooms of clients that
// send JSON messages to each other over WebSockets, with join and leave
// notices and the history of the last events of each room for newcomers.
//
// A Hub is an http.Handler that serves the chat page at "/" and the
// WebSocket endpoint at "/ws?name=NAME&room=ROOM". Every room event goes
// through a Backplane: the hub publishes it, and shows its clients only what
// the Backplane's Run delivers, so that every client of every node sees a
// room's events in one order. NewLocal, the default, is the Backplane of a
// single node; examples/cluster shares rooms between nodes through Redis.
//
// Each client has a bounded send queue and a goroutine that writes from it,
// so that delivery never waits for a client. A client whose queue is full
// has fallen SendQueue events behind: the hub drops it from its room and
// closes it with status 1013 (try again later) and a reason, never stalling
// the others (see Config.SendQueue). Each event is framed once, as a
// websocket.PreparedMessage, for all the clients that receive it.
//
// Each client may send 10 messages a second on average, 20 at once after a
// pause (Config.SendRate and SendBurst); the hub stops reading a client that
// sends faster until it is within its limit again, which makes TCP slow that
// client down, so that one fast sender cannot make its room's events come
// faster than the others can read them.
package hub

import (
	"container/list"
	"context"
	"errors"
	"log"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/wsproject/websocket"
)

// Defaults of Config.
const (
	// DefaultHistory is how many events of each room the hub keeps for
	// newcomers unless Config.History says otherwise.
	DefaultHistory = 50
	// DefaultHistoryBytes is how many bytes of events each room keeps for
	// newcomers unless Config.HistoryBytes says otherwise: room for the
	// default 50 events of a chat, and for at least 7 of the longest.
	DefaultHistoryBytes = 64 << 10
	// DefaultSendQueue is how many events may wait for a client unless
	// Config.SendQueue says otherwise.
	DefaultSendQueue = 256
	// DefaultReadLimit is the largest message a client may send unless
	// Config.ReadLimit says otherwise, in bytes of JSON.
	DefaultReadLimit = 16 << 10
	// DefaultKeepAlive is how long a client may stay silent before the hub
	// pings it, and how long it then has to answer, unless
	// Config.KeepAlive says otherwise.
	DefaultKeepAlive = 30 * time.Second
	// DefaultPublishTimeout bounds each Publish unless
	// Config.PublishTimeout says otherwise.
	DefaultPublishTimeout = 5 * time.Second
	// DefaultIdleRooms is how many rooms without local clients keep their
	// history unless Config.IdleRooms says otherwise.
	DefaultIdleRooms = 1000
	// DefaultSendRate is how many messages a second a client may send on
	// average unless Config.SendRate says otherwise.
	DefaultSendRate = 10
	// DefaultSendBurst is how many messages a client may send at once after
	// a pause unless Config.SendBurst says otherwise.
	DefaultSendBurst = 20
)

// Config configures a Hub. The zero value gives the defaults documented on
// each field.
type Config struct {
	// Backplane carries room events between nodes. Default NewLocal(), a
	// single node.
	Backplane Backplane

	// History is how many of its last events (messages, joins, leaves) a
	// room keeps and sends to each client that joins it, before the live
	// events. Default DefaultHistory (50); negative keeps none. It costs
	// one PreparedMessage per event kept, about twice the event's size.
	History int

	// HistoryBytes bounds the size of a room's history too, in bytes of
	// JSON events: the oldest events beyond it are forgotten, however few
	// are kept. With IdleRooms, it bounds the memory of the rooms that have
	// no client on this node: IdleRooms times HistoryBytes of events, about
	// twice that in memory (by default 1,000 times 64 KiB, 62.5 MiB, and
	// about 125 MiB of memory). Default DefaultHistoryBytes (64 KiB).
	HistoryBytes int

	// SendQueue is how many events may wait for a client, on top of the
	// history sent when it joins. A client that falls so far behind, because
	// it or its network cannot take events as fast as its room makes them,
	// is dropped from its room and closed with status 1013 (try again later)
	// and the reason "too slow: ...": the condition is the server's load
	// relative to that client, not a fault of its own, and a page that
	// reconnects after a pause gets the recent history back. (1008, policy
	// violation, would say that the client broke a rule.) Default
	// DefaultSendQueue (256). A queue holds pointers to shared events, so
	// its memory is 8 bytes per slot plus the events themselves.
	SendQueue int

	// OriginPatterns lists the hosts, besides the request's own Host, whose
	// pages may connect, as websocket.Options.OriginPatterns has them
	// ("chat.example.com", "*.example.com", "localhost:*"). Default none:
	// only pages served by the same host, which keeps other sites from
	// using a visitor's browser to chat in their name.
	OriginPatterns []string

	// Logger receives a line for each client that joins, leaves or is
	// evicted, and for backplane trouble. Default log.Default().
	Logger *log.Logger

	// ReadLimit is the largest message a client may send, in bytes of JSON;
	// a longer one closes the client with status 1009 (message too big).
	// Default DefaultReadLimit (16 KiB), room for the 2000 characters the
	// page lets one type, even escaped.
	ReadLimit int64

	// KeepAlive makes the hub ping a client silent for a tick of that
	// interval, and drop it if the pong does not come within as long
	// again: a vanished peer is noticed after 2 to 3 times KeepAlive of
	// silence (see websocket.Options.KeepAlive). A quiet client that
	// answers is pinged every KeepAlive, so proxies in front must allow
	// idle connections longer than that. Default DefaultKeepAlive (30 s);
	// negative turns it off.
	KeepAlive time.Duration

	// PublishTimeout bounds each Publish to the backplane; a message that
	// cannot be published in time is lost and its sender gets a notice.
	// While the backplane has reported its loss (the status function of
	// Backplane.Run), messages are not published at all: their senders get
	// such a notice at once. Default DefaultPublishTimeout (5 s).
	PublishTimeout time.Duration

	// SendRate and SendBurst limit how fast each client may send: a token
	// bucket that holds SendBurst messages and refills at SendRate a
	// second, each message the client sends (blank ones included) taking
	// one. A client that sends faster is not read from until the bucket has
	// a message for it again, so TCP pushes back on that client alone:
	// its own writes wait, and nothing of it is lost or queued in the hub.
	// Without a limit one client sending as fast as its link allows would
	// fill the send queue of every client of its room that reads at a
	// human pace, and get them all evicted. Defaults DefaultSendRate (10)
	// and DefaultSendBurst (20); a negative SendRate sets no limit.
	SendRate  float64
	SendBurst int

	// IdleRooms is how many rooms without a client on this node keep their
	// history (the least recently active beyond it forget theirs).
	// Default DefaultIdleRooms (1000).
	IdleRooms int

	// DisableCompression turns permessage-deflate off. By default the hub
	// accepts it without context takeover, so that each event is
	// compressed once for all the clients that receive it (events under
	// 128 bytes go uncompressed) and an idle client holds no compression
	// memory.
	DisableCompression bool

	// OnEvict, if set, is called with the name and room of each client the
	// hub evicts for being too slow, before it is closed: for metrics. It
	// runs on the delivering goroutine, with the hub locked: it must not
	// block or call the Hub.
	OnEvict func(name, room string)
}

// Hub is a chat server: see the package documentation. Make it with New.
type Hub struct {
	cfg Config
	ws  websocket.Server
	ids *idSource
	mux *http.ServeMux

	mu    sync.Mutex
	rooms map[string]*room
	idle  *list.List // of *room without clients, least recently active first
	down  error      // the backplane's last reported loss, nil when connected
}

// New returns a Hub configured by cfg. Run must run for events to flow.
func New(cfg Config) *Hub {
	cfg = cfg.withDefaults()
	h := &Hub{cfg: cfg, ids: newIDSource(), rooms: make(map[string]*room), idle: list.New()}
	h.ws = websocket.Server{
		Options: websocket.Options{
			OriginPatterns: cfg.OriginPatterns,
			ReadLimit:      cfg.ReadLimit,
			KeepAlive:      max(cfg.KeepAlive, 0),
			OnRefuse: func(addr string, status int, err error) {
				cfg.Logger.Printf("refused %s: %d %v", addr, status, err)
			},
		},
		Accept:  accept,
		Handler: h.serveClient,
	}
	if !cfg.DisableCompression {
		h.ws.Options.Compression = &websocket.CompressionOptions{NoContextTakeover: true}
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /{$}", servePage)
	h.mux.Handle("/ws", &h.ws)
	return h
}

// withDefaults returns cfg with its zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Backplane == nil {
		cfg.Backplane = NewLocal()
	}
	switch {
	case cfg.History == 0:
		cfg.History = DefaultHistory
	case cfg.History < 0:
		cfg.History = 0
	}
	if cfg.HistoryBytes <= 0 {
		cfg.HistoryBytes = DefaultHistoryBytes
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Default()
	}
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = DefaultReadLimit
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	if cfg.IdleRooms <= 0 {
		cfg.IdleRooms = DefaultIdleRooms
	}
	if cfg.SendRate == 0 {
		cfg.SendRate = DefaultSendRate
	}
	if cfg.SendBurst <= 0 {
		cfg.SendBurst = DefaultSendBurst
	}
	return cfg
}

// ServeHTTP serves the chat page at "/" (GET and HEAD) and the WebSocket
// endpoint at "/ws", whose query names the client and its room:
// /ws?name=ana&room=lobby (see CheckName). A bad name or room is refused
// with 400, a page from a foreign origin with 403.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// accept is the WebSocket server's Accept: it reads and checks the client's
// name and room, which the handler finds with Conn.Value.
func accept(r *http.Request) (any, error) {
	q := r.URL.Query()
	name, err := CheckName("name", q.Get("name"))
	if err != nil {
		return nil, &websocket.HTTPError{Status: http.StatusBadRequest, Message: err.Error()}
	}
	room, err := CheckName("room", q.Get("room"))
	if err != nil {
		return nil, &websocket.HTTPError{Status: http.StatusBadRequest, Message: err.Error()}
	}
	return &member{name: name, room: room}, nil
}

// Run runs the backplane, delivering its events to the hub's clients, until
// ctx is done; it returns nil then, or the backplane's error if it stopped
// for another reason. Run it once, before or while serving: without it,
// nothing is delivered and publishing waits.
func (h *Hub) Run(ctx context.Context) error {
	err := h.cfg.Backplane.Run(ctx, h.deliver, h.status)
	if ctx.Err() != nil && (err == nil || errors.Is(err, ctx.Err())) {
		return nil
	}
	return err
}

// Shutdown closes every client with status 1001 (going away), refuses new
// ones, and waits for their handlers to end (each publishes its client's
// leave, so keep Run running meanwhile), or for ctx to be done; then it
// drops the remaining connections and returns ctx.Err().
func (h *Hub) Shutdown(ctx context.Context) error {
	return h.ws.Shutdown(ctx)
}

// status is the backplane's report of its connection: it tells every client
// when the backplane is lost and when it is back.
func (h *Hub) status(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	was := h.down
	h.down = err
	var text string
	switch {
	case err != nil && was == nil:
		text = "The chat lost its backplane; messages are not delivered until it is back. (" + err.Error() + ")"
	case err == nil && was != nil:
		text = "The chat's backplane is back; messages are delivered again (those sent meanwhile are lost)."
	default:
		return
	}
	h.cfg.Logger.Print(text)
	pm := prepare(notice(text))
	for _, r := range h.rooms {
		for c := range r.members {
			h.offerLocked(r, c, pm)
		}
	}
}

// downNoticeLocked returns the notice a client that joins while the
// backplane is lost gets, or nil. The caller holds h.mu.
func (h *Hub) downNoticeLocked() []byte {
	if h.down == nil {
		return nil
	}
	return notice(lostText(h.down))
}

// lostText says that the backplane is lost, with err, the loss it reported.
func lostText(err error) string {
	return "The chat has lost its backplane; messages are not delivered until it is back. (" + err.Error() + ")"
}

// prepare frames an event for sending; event is valid JSON, so valid UTF-8.
func prepare(event []byte) *websocket.PreparedMessage {
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, event)
	if err != nil {
		panic("hub: preparing a text message: " + err.Error())
	}
	return pm
}

// tooSlow is the close reason of an evicted client.
func tooSlow(queue int) string {
	return "too slow: " + strconv.Itoa(queue) + " events waiting unread"
}
