//go:build !js

package hub_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wsproject/websocket"
	"github.com/wsproject/websocket/examples/chat/hub"
)

func TestMessagesStayInTheirRoom(t *testing.T) {
	s := startHub(t, hub.Config{})
	ana, _ := s.join(t, "ana", "lobby")
	bo, _ := s.join(t, "bo", "lobby")
	cy, _ := s.join(t, "cy", "kitchen")
	if e := ana.next(); e.Type != hub.TypeJoin || e.Name != "bo" {
		t.Fatalf("ana got %+v, want bo's join", e)
	}

	ana.say("hello, lobby")
	for _, c := range []*testClient{ana, bo} {
		e := c.next()
		if e.Type != hub.TypeMessage || e.Name != "ana" || e.Room != "lobby" || e.Text != "hello, lobby" || e.ID == "" || e.Time == "" {
			t.Errorf("%s got %+v, want ana's message", c.name, e)
		}
	}
	cy.say("hello, kitchen")
	if e := cy.next(); e.Type != hub.TypeMessage || e.Text != "hello, kitchen" {
		t.Errorf("cy got %+v, want its own message and nothing of the lobby", e)
	}
}

func TestJoinAndLeaveNotices(t *testing.T) {
	s := startHub(t, hub.Config{})
	ana, _ := s.join(t, "ana", "lobby")
	bo, _ := s.join(t, "bo", "lobby")
	if e := ana.next(); e.Type != hub.TypeJoin || e.Name != "bo" || e.Room != "lobby" {
		t.Fatalf("ana got %+v, want bo's join", e)
	}
	if err := bo.conn.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("closing bo: %v", err)
	}
	if e := ana.next(); e.Type != hub.TypeLeave || e.Name != "bo" || e.Room != "lobby" {
		t.Fatalf("ana got %+v, want bo's leave", e)
	}
}

func TestHistory(t *testing.T) {
	s := startHub(t, hub.Config{History: 3})
	ana, _ := s.join(t, "ana", "lobby")
	for i := range 5 {
		ana.say(fmt.Sprint("message ", i))
		ana.nextOf(hub.TypeMessage)
	}
	_, history := s.join(t, "bo", "lobby")
	var got []string
	for _, e := range history {
		got = append(got, e.Text)
	}
	if want := []string{"message 2", "message 3", "message 4"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("bo's history %q, want %q", got, want)
	}

	// Without history, a newcomer gets nothing before its own join.
	s = startHub(t, hub.Config{History: -1})
	ana, _ = s.join(t, "ana", "lobby")
	ana.say("unseen")
	ana.nextOf(hub.TypeMessage)
	if _, history := s.join(t, "bo", "lobby"); len(history) != 0 {
		t.Errorf("bo's history %+v, want none", history)
	}
}

// TestHistoryBytes checks that a room's history is bounded in bytes too:
// of five events of about 1,950 bytes, a history of 5,000 bytes keeps the
// last two.
func TestHistoryBytes(t *testing.T) {
	s := startHub(t, hub.Config{History: 10, HistoryBytes: 5000})
	ana, _ := s.join(t, "ana", "lobby")
	pad := strings.Repeat("x", 1800)
	for i := range 5 {
		ana.say(fmt.Sprint(i, pad))
		ana.nextOf(hub.TypeMessage)
	}
	_, history := s.join(t, "bo", "lobby")
	var got []string
	for _, e := range history {
		got = append(got, strings.TrimSuffix(e.Text, pad))
	}
	if want := []string{"3", "4"}; !slices.Equal(got, want) {
		t.Errorf("bo's history: the messages %q, want %q", got, want)
	}
}

// TestIdleRooms checks that rooms without clients keep their history, but
// only the most recently active IdleRooms of them.
func TestIdleRooms(t *testing.T) {
	s := startHub(t, hub.Config{IdleRooms: 1})
	for _, room := range []string{"a", "b"} {
		c, _ := s.join(t, "ana", room)
		c.say("in " + room)
		c.nextOf(hub.TypeMessage)
		c.conn.Close(websocket.StatusNormalClosure, "")
		s.logs.wait(t, "left ana@"+room, 1)
	}
	// b's history (its join, message and leave) is kept; a's is forgotten.
	_, history := s.join(t, "bo", "b")
	if len(history) != 3 || history[1].Text != "in b" {
		t.Errorf("history of b: %+v, want ana's join, message and leave", history)
	}
	if _, history := s.join(t, "bo", "a"); len(history) != 0 {
		t.Errorf("history of a: %+v, want none (forgotten)", history)
	}
}

// TestHistoryWithoutClients checks that a room keeps the events delivered
// while it has no client on this node: those of a room whose clients are on
// other nodes, and the join and leave of a client that left before they came
// back from the backplane.
func TestHistoryWithoutClients(t *testing.T) {
	bp := &statusBackplane{Backplane: hub.NewLocal(), deliver: make(chan func(string, []byte), 1)}
	s := startHub(t, hub.Config{Backplane: bp})
	deliver := <-bp.deliver
	deliver("remote", []byte(`{"type":"join","id":"b-1","room":"remote","name":"zoe"}`))
	deliver("remote", []byte(`{"type":"message","id":"b-2","room":"remote","name":"zoe","text":"from node b"}`))
	_, history := s.join(t, "ana", "remote")
	if len(history) != 2 || history[0].Type != hub.TypeJoin || history[1].Text != "from node b" {
		t.Errorf("history of a room known only from the backplane: %+v, want zoe's join and message", history)
	}

	bp = &statusBackplane{Backplane: hub.NewLocal(), gate: make(chan struct{})}
	s = startHub(t, hub.Config{Backplane: bp})
	early := s.dial(t, "ana", "lobby")
	early.conn.Close(websocket.StatusNormalClosure, "")
	s.logs.wait(t, "left ana@lobby", 1)
	close(bp.gate) // ana's join and leave reach a room that has no client
	// The local backplane delivers in the order published, in every room:
	// once cy has its join, ana's events are delivered.
	s.join(t, "cy", "elsewhere")
	_, history = s.join(t, "bo", "lobby")
	if len(history) != 2 || history[0].Type != hub.TypeJoin || history[1].Type != hub.TypeLeave {
		t.Errorf("history %+v, want the join and leave of ana, who left before they were delivered", history)
	}
}

func TestNameChecks(t *testing.T) {
	tests := []struct {
		name, room, want string
	}{
		{"", "lobby", "name is empty"},
		{"   ", "lobby", "name is empty"},
		{"ana", "", "room is empty"},
		{strings.Repeat("é", hub.MaxNameLen+1), "lobby", "longer than 32"},
		{"ana", strings.Repeat("x", hub.MaxNameLen+1), "room is longer than 32"},
		{"a\x00b", "lobby", "not printable"},
		{"a\u202eb", "lobby", "not printable"}, // right-to-left override
		{"ana\xff", "lobby", "not valid UTF-8"},
		{"\u3164", "lobby", "shows as nothing"},
	}
	s := startHub(t, hub.Config{})
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		_, resp, err := websocket.Dial(ctx, s.wsURL(tt.name, tt.room), nil)
		cancel()
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("name %q room %q: error %v, response %v; want 400 saying %q", tt.name, tt.room, err, resp, tt.want)
		}
	}
	// Spaces around are trimmed; inside, and any script and emoji, are
	// fine.
	c := s.dial(t, " Zoë Ō", "  ruum 1 ")
	if e := c.nextOf(hub.TypeJoin); e.Name != "Zoë Ō" || e.Room != "ruum 1" {
		t.Errorf("join %+v, want the name and room trimmed", e)
	}
	c = s.dial(t, "\U0001F469\u200D\U0001F4BB", "ruum 2")
	if e := c.nextOf(hub.TypeJoin); e.Name != "\U0001F469\u200D\U0001F4BB" {
		t.Errorf("join %+v, want the emoji name", e)
	}
}

// TestCheckName checks which names CheckName takes, and which it refuses
// and why: emoji sequences go, characters that show as nothing do not.
func TestCheckName(t *testing.T) {
	tests := []struct {
		in   string
		want string // the name returned, or a part of the error
		ok   bool
	}{
		{" ana ", "ana", true},
		{"ЖЖ", "ЖЖ", true},
		{strings.Repeat("語", 32), strings.Repeat("語", 32), true},
		{"Zoe\u0308", "Zoe\u0308", true},                                                       // a combining mark
		{"\U0001F469\u200D\U0001F4BB", "\U0001F469\u200D\U0001F4BB", true},                     // woman technologist
		{"ana \U0001F3F3\uFE0F\u200D\U0001F308", "ana \U0001F3F3\uFE0F\u200D\U0001F308", true}, // rainbow flag
		{"\U0001F469\U0001F3FD\u200D\U0001F4BB", "\U0001F469\U0001F3FD\u200D\U0001F4BB", true}, // with a skin tone
		{"\u2764\uFE0F\u200D\U0001F525", "\u2764\uFE0F\u200D\U0001F525", true},                 // heart on fire
		{"1\uFE0F\u20E3", "1\uFE0F\u20E3", true},                                               // keycap one
		{"\u263A\uFE0E", "\u263A\uFE0E", true},                                                 // smiling face, text style

		{"", "empty", false},
		{" \u3000 ", "empty", false}, // only spaces, trimmed
		{strings.Repeat("語", 33), "longer than 32", false},
		{"\xc3", "not valid UTF-8", false},
		{"a\nb", "not printable", false},
		{"a\tb", "not printable", false},
		{"a\u00A0b", "not printable", false}, // no-break space
		{"a\u3000b", "not printable", false}, // ideographic space
		{"\u200B", "not printable", false},   // zero-width space
		{"a\u2060b", "not printable", false}, // word joiner
		{"a\u202Eb", "not printable", false}, // right-to-left override
		{"\U000E0041", "not printable", false},
		{"\u3164", "shows as nothing", false}, // Hangul filler
		{"ana\u3164", "shows as nothing", false},
		{"\u115F", "shows as nothing", false},
		{"\u1160", "shows as nothing", false},
		{"\uFFA0", "shows as nothing", false},
		{"\u2800", "shows as nothing", false},   // Braille pattern blank
		{"a\u034Fb", "shows as nothing", false}, // combining grapheme joiner
		{"a\uFE00", "shows as nothing", false},  // another variation selector
		{"\u0301", "shows nothing", false},      // a mark on nothing
		{"a\u200Db", "zero-width joiner", false},
		{"\u200D\U0001F469", "zero-width joiner", false},
		{"\U0001F469\u200D", "zero-width joiner", false},
		{"\U0001F469\u200D\u200D\U0001F4BB", "zero-width joiner", false},
		{"\uFE0F", "variation selector", false},
		{"a \uFE0F", "variation selector", false},
		{"\u3164\uFE0F", "shows as nothing: U+3164", false},
	}
	for _, tt := range tests {
		got, err := hub.CheckName("name", tt.in)
		switch {
		case tt.ok && (err != nil || got != tt.want):
			t.Errorf("CheckName(%+q) = %+q, %v; want %+q", tt.in, got, err, tt.want)
		case !tt.ok && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckName(%+q) = %+q, %v; want an error saying %q", tt.in, got, err, tt.want)
		}
	}
}

func TestOriginCheck(t *testing.T) {
	s := startHub(t, hub.Config{OriginPatterns: []string{"*.example.com"}})
	for origin, ok := range map[string]bool{
		"":                         true, // not a browser
		"http://" + s.addr:         true, // the page of the hub itself
		"https://chat.example.com": true,
		"https://evil.example":     false,
	} {
		opts := &websocket.DialOptions{Header: http.Header{}}
		if origin != "" {
			opts.Header.Set("Origin", origin)
		}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		c, resp, err := websocket.Dial(ctx, s.wsURL("ana", "lobby"), opts)
		cancel()
		switch {
		case ok && err != nil:
			t.Errorf("origin %q refused: %v", origin, err)
		case !ok && (err == nil || resp == nil || resp.StatusCode != http.StatusForbidden):
			t.Errorf("origin %q: error %v, response %v; want 403", origin, err, resp)
		}
		if c != nil {
			c.CloseNow()
		}
	}
}

// TestEventsKeepHTMLCharacters checks that <, > and & reach clients as
// they are, not as the six bytes of a JSON \u escape each.
func TestEventsKeepHTMLCharacters(t *testing.T) {
	s := startHub(t, hub.Config{})
	ana, _ := s.join(t, "ana", "lobby")
	text := `<b>Tom & "Jerry"</b>`
	ana.say(text)
	_, msg, err := ana.conn.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if want := `"text":"<b>Tom & \"Jerry\"</b>"`; !strings.Contains(string(msg), want) {
		t.Errorf("ana got %s, want it to contain %s", msg, want)
	}
}

// TestBadMessages checks the status each kind of unacceptable message
// closes its sender with, and that blank messages are skipped.
func TestBadMessages(t *testing.T) {
	tests := []struct {
		typ  websocket.MessageType
		msg  string
		code websocket.StatusCode
	}{
		{websocket.BinaryMessage, "\x00\x01", websocket.StatusUnsupportedData},
		{websocket.TextMessage, "hello", websocket.StatusPolicyViolation},
		{websocket.TextMessage, `{"type":"shout","text":"x"}`, websocket.StatusPolicyViolation},
		{websocket.TextMessage, `{"type":"message","text":"` + strings.Repeat("x", 300) + `"}`, websocket.StatusMessageTooBig},
	}
	s := startHub(t, hub.Config{ReadLimit: 256})
	for _, tt := range tests {
		c, _ := s.join(t, "ana", "lobby")
		c.sendRaw(tt.typ, tt.msg)
		c.expectClose(tt.code)
	}
	c, _ := s.join(t, "ana", "lobby")
	c.say(" \n ")
	c.say("after the blank")
	if e := c.nextOf(hub.TypeMessage); e.Text != "after the blank" {
		t.Errorf("got %+v, want the message after the blank one", e)
	}
}

// TestLongMessage checks that a text of MaxTextLen characters goes, and
// that a longer one, which the page would not send, closes its sender with
// 1008.
func TestLongMessage(t *testing.T) {
	s := startHub(t, hub.Config{})
	ana, _ := s.join(t, "ana", "lobby")
	longest := strings.Repeat("語", hub.MaxTextLen)
	ana.say(longest)
	if e := ana.nextOf(hub.TypeMessage); e.Text != longest {
		t.Errorf("ana got a message of %d characters, want her %d", len([]rune(e.Text)), hub.MaxTextLen)
	}
	ana.say(longest + "!")
	if reason := ana.expectClose(websocket.StatusPolicyViolation); !strings.Contains(reason, fmt.Sprint(hub.MaxTextLen)) {
		t.Errorf("close reason %q, want it to give the limit", reason)
	}
}

func TestPage(t *testing.T) {
	s := startHub(t, hub.Config{})
	resp, body := s.get(t, http.MethodGet, "/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"<!DOCTYPE html>", "new WebSocket(", `"/ws?"`, "overflow-wrap: anywhere", `name="viewport"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, bad := range []string{"http://", "https://", "src=", "@import"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page has %q: it must load nothing from elsewhere", bad)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for path, status := range map[string]int{"/other": http.StatusNotFound, "/ws": http.StatusBadRequest} {
		if resp, _ := s.get(t, http.MethodGet, path); resp.StatusCode != status {
			t.Errorf("GET %s: %s, want %d", path, resp.Status, status)
		}
	}
	if resp, _ := s.get(t, http.MethodPost, "/"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %s, want 405", resp.Status)
	}
}

func TestShutdown(t *testing.T) {
	s := startHub(t, hub.Config{})
	ana, _ := s.join(t, "ana", "lobby")
	bo, _ := s.join(t, "bo", "kitchen")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.hub.Shutdown(ctx) }()
	for _, c := range []*testClient{ana, bo} {
		if reason := c.expectClose(websocket.StatusGoingAway); reason == "" {
			t.Errorf("%s: close without a reason", c.name)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Later clients are closed at once.
	c := s.dial(t, "cy", "lobby")
	c.expectClose(websocket.StatusGoingAway)
}

// statusBackplane is the local backplane with a hand on the hub's deliver
// and status functions, each handed over on its channel if that is not nil,
// a gate that holds Run back until it is closed, if it is not nil, and a
// switch that makes Publish fail.
type statusBackplane struct {
	hub.Backplane
	deliver chan func(string, []byte)
	status  chan func(error)
	gate    chan struct{}
	mu      sync.Mutex
	fail    error
}

// Publish fails with b.fail if set, and publishes otherwise.
func (b *statusBackplane) Publish(ctx context.Context, room string, event []byte) error {
	b.mu.Lock()
	err := b.fail
	b.mu.Unlock()
	if err != nil {
		return err
	}
	return b.Backplane.Publish(ctx, room, event)
}

// Run hands the deliver and status functions over, waits for the gate,
// and runs the local backplane.
func (b *statusBackplane) Run(ctx context.Context, deliver func(string, []byte), status func(error)) error {
	if b.deliver != nil {
		b.deliver <- deliver
	}
	if b.status != nil {
		b.status <- status
	}
	if b.gate != nil {
		select {
		case <-b.gate:
		case <-ctx.Done():
			return nil
		}
	}
	return b.Backplane.Run(ctx, deliver, status)
}

// TestBackplaneTrouble checks that clients hear of a lost backplane, and of
// its return, that a message sent meanwhile is refused with a notice
// without being published, and that a sender hears of a message that could
// not be published.
func TestBackplaneTrouble(t *testing.T) {
	bp := &statusBackplane{Backplane: hub.NewLocal(), status: make(chan func(error), 1)}
	s := startHub(t, hub.Config{Backplane: bp})
	status := <-bp.status
	ana, _ := s.join(t, "ana", "lobby")

	status(errors.New("connection refused"))
	if e := ana.next(); e.Type != hub.TypeNotice || !strings.Contains(e.Text, "lost") || !strings.Contains(e.Text, "connection refused") {
		t.Errorf("ana got %+v, want a notice of the loss", e)
	}
	status(errors.New("still refused")) // no news: no second notice
	_, before := s.join(t, "bo", "lobby")
	if n := len(before); n != 2 || before[0].Type != hub.TypeJoin || before[1].Type != hub.TypeNotice || !strings.Contains(before[1].Text, "still refused") {
		t.Errorf("bo got %+v before its join, want the history (ana's join) and the notice of the loss", before)
	}
	if e := ana.next(); e.Type != hub.TypeJoin || e.Name != "bo" {
		t.Errorf("ana got %+v, want bo's join", e)
	}

	// The local backplane would deliver it: the notice comes instead.
	ana.say("refused words")
	if e := ana.next(); e.Type != hub.TypeNotice || !strings.Contains(e.Text, "Not delivered") || !strings.Contains(e.Text, "still refused") {
		t.Errorf("ana got %+v, want a notice that the message was not delivered while the backplane is lost", e)
	}

	status(nil)
	if e := ana.next(); e.Type != hub.TypeNotice || !strings.Contains(e.Text, "back") {
		t.Errorf("ana got %+v, want a notice that the backplane is back", e)
	}
	bp.mu.Lock()
	bp.fail = errors.New("broken pipe")
	bp.mu.Unlock()
	ana.say("lost words")
	if e := ana.next(); e.Type != hub.TypeNotice || !strings.Contains(e.Text, "Not delivered") || !strings.Contains(e.Text, "broken pipe") {
		t.Errorf("ana got %+v, want a notice that the message was not delivered", e)
	}
	bp.mu.Lock()
	bp.fail = nil
	bp.mu.Unlock()
	ana.say("found words")
	if e := ana.next(); e.Type != hub.TypeMessage || e.Text != "found words" {
		t.Errorf("ana got %+v, want her message", e)
	}
}

// TestDeliverDropsInvalidUTF8 checks that an event that is not valid UTF-8,
// which browsers would fail the connection for, never reaches a client.
func TestDeliverDropsInvalidUTF8(t *testing.T) {
	bp := hub.NewLocal()
	s := startHub(t, hub.Config{Backplane: bp})
	ana, _ := s.join(t, "ana", "lobby")
	ctx := context.Background()
	for _, ev := range []string{"{\"type\":\"notice\",\"text\":\"\xff\"}", `{"type":"notice","text":"valid"}`} {
		if err := bp.Publish(ctx, "lobby", []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	if e := ana.next(); e.Text != "valid" {
		t.Errorf("ana got %+v, want only the valid event", e)
	}
}
