//go:build !js

package hub_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsproject/websocket"
	"github.com/wsproject/websocket/examples/chat/hub"
)

// evictions returns an OnEvict hook and the channel it reports the names of
// evicted clients on.
func evictions() (func(name, room string), chan string) {
	ch := make(chan string, 16)
	return func(name, _ string) {
		select {
		case ch <- name:
		default:
		}
	}, ch
}

// drainStalled starts reading c, a stalled client, once the hub has
// evicted it, and returns a channel that yields the texts of the messages
// it read before the close, and the close's error.
func drainStalled(t *testing.T, c *testClient, evicted <-chan string) <-chan stalledResult {
	t.Helper()
	res := make(chan stalledResult, 1)
	go func() {
		var r stalledResult
		select {
		case name := <-evicted:
			if name != c.name {
				r.err = fmt.Errorf("the hub evicted %s, not %s", name, c.name)
				res <- r
				return
			}
		case <-time.After(4 * testTimeout):
			r.err = errors.New("the stalled client was not evicted in time")
			res <- r
			return
		}
		for {
			e, err := c.read()
			if err != nil {
				r.err = err
				res <- r
				return
			}
			if e.Type == hub.TypeMessage {
				r.texts = append(r.texts, e.Text)
			}
		}
	}()
	return res
}

// stalledResult is what a stalled client read after its eviction.
type stalledResult struct {
	texts []string
	err   error
}

// checkEvicted checks that a stalled client read a prefix of the room's
// messages in order, then a close with 1013 and the hub's reason.
func checkEvicted(t *testing.T, r stalledResult, room []string) {
	t.Helper()
	var ce *websocket.CloseError
	if !errors.As(r.err, &ce) || ce.Code != websocket.StatusTryAgainLater || !strings.HasPrefix(ce.Reason, "too slow: ") {
		t.Fatalf("the stalled client's connection ended with %v, want a close with 1013 and a reason", r.err)
	}
	if len(r.texts) >= len(room) || !slices.Equal(r.texts, room[:len(r.texts)]) {
		t.Errorf("the stalled client read %d messages, not a proper prefix of the room's %d in order", len(r.texts), len(room))
	}
	t.Logf("the stalled client read %d of %d messages, then %v", len(r.texts), len(room), ce)
}

// TestSlowClientEvicted checks the slow-consumer policy: a client that
// stops reading is closed with 1013 and a reason once its send queue is
// full, and the others of its room get every message meanwhile.
func TestSlowClientEvicted(t *testing.T) {
	onEvict, evicted := evictions()
	// Without a send rate limit, ana's messages come back as fast as
	// loopback carries them.
	s := startHub(t, hub.Config{SendQueue: 16, History: -1, SendRate: -1, OnEvict: onEvict})
	ana, _ := s.join(t, "ana", "lobby")
	slow := s.joinStalled(t, "slow", "lobby")
	ana.nextOf(hub.TypeJoin)
	stalled := drainStalled(t, slow, evicted)

	const n = 300
	pad := strings.Repeat("x", 1000)
	var sent []string
	left := false // whether ana saw slow leave
	for i := range n {
		// One message in flight at a time, as a person types: ana never
		// falls behind, whatever the scheduler does.
		text := fmt.Sprint(i, pad)
		sent = append(sent, text)
		ana.say(text)
		e := ana.next()
		if e.Type == hub.TypeLeave && e.Name == "slow" {
			left = true
			e = ana.next()
		}
		if e.Type != hub.TypeMessage || e.Text != text {
			t.Fatalf("ana got %.40q, want message %.20q", e, text)
		}
	}
	if !left {
		if e := ana.next(); e.Type != hub.TypeLeave || e.Name != "slow" {
			t.Errorf("ana got %+v, want slow's leave", e)
		}
	}
	checkEvicted(t, <-stalled, sent)
	s.logs.wait(t, "evicted slow@lobby", 1)
}

// TestFlooderDoesNotEvictReaders checks the send rate limit: one client
// sending as fast as it can, far faster than its limit, does not make the
// other client of its room, which reads at a steady pace well above the
// limit, fall behind and be evicted. Without the limit the flood reaches the
// reader's send queue at the speed of loopback.
func TestFlooderDoesNotEvictReaders(t *testing.T) {
	const (
		n      = 150
		render = 2 * time.Millisecond // the reader's work per message: 500 a second
	)
	onEvict, evicted := evictions()
	// At 50 messages a second, a queue of 32 lets a client be stalled by
	// the scheduler for over half a second.
	s := startHub(t, hub.Config{SendQueue: 32, History: -1, SendRate: 50, SendBurst: 5,
		DisableCompression: true, OnEvict: onEvict})
	// The reader's server side buffers little, so that what it has not
	// read backs up into its queue soon (see joinStalled).
	reader := s.joinStalled(t, "reader", "lobby")
	flooder, _ := s.join(t, "flooder", "lobby")
	reader.nextOf(hub.TypeJoin)

	pad := strings.Repeat("x", 1990) // with the number, under MaxTextLen
	flooded := make(chan error, 1)
	go func() {
		for i := range n {
			if err := flooder.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"message","text":"`+fmt.Sprint(i, pad)+`"}`)); err != nil {
				flooded <- err
				return
			}
		}
		flooded <- nil
	}()
	go func() { // the flooder reads its own messages, unhurried by the test
		for {
			if _, _, err := flooder.conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for i := range n {
		e, err := reader.read()
		if err != nil {
			t.Fatalf("the reader, who takes %v a message, lost its connection after %d of the %d flooded: %v", render, i, n, err)
		}
		if want := fmt.Sprint(i, pad); e.Type != hub.TypeMessage || e.Text != want {
			t.Fatalf("the reader got %.40q, want message %d", e, i)
		}
		time.Sleep(render)
	}
	if err := <-flooded; err != nil {
		t.Errorf("flooding: %v", err)
	}
	select {
	case name := <-evicted:
		t.Errorf("the hub evicted %s", name)
	default:
	}
}

// TestLoad runs a few hundred clients in several rooms, each sending its
// share of a few thousand messages, and checks that every client gets
// every message of its room, in the one order the hub delivered them, and
// nothing of the other rooms; meanwhile a client that stopped reading is
// evicted from its room while its other members keep receiving.
func TestLoad(t *testing.T) {
	const (
		rooms     = 20
		perRoom   = 12  // clients
		perClient = 12  // messages
		slowSends = 150 // messages of each of the 4 others in the stalled client's room
	)
	onEvict, evicted := evictions()
	// No send rate limit: the senders of the stalled client's room send as
	// fast as they can, to fill its queue.
	s := startHub(t, hub.Config{SendRate: -1, OnEvict: onEvict})
	start := time.Now()

	var wg sync.WaitGroup
	results := make([][][]string, rooms+1) // room, client: the texts it received
	joined := make(chan struct{}, rooms*perRoom+4)
	go_ := make(chan struct{})
	run := func(room, i, messages int, pad string) {
		wg.Go(func() {
			results[room][i] = runClient(t, s, room, i, messages, len(results[room]), pad, joined, go_)
		})
	}
	for r := range rooms {
		results[r] = make([][]string, perRoom)
		for i := range perRoom {
			run(r, i, perClient, "")
		}
	}
	// The room of the stalled client has few members who send many large
	// messages, so that its queue overflows.
	results[rooms] = make([][]string, 4)
	for i := range 4 {
		run(rooms, i, slowSends, strings.Repeat("y", 1990)) // with "cN/NNN", under MaxTextLen
	}
	for range rooms*perRoom + 4 {
		<-joined
	}
	slow := s.joinStalled(t, "stalled", roomName(rooms))
	stalled := drainStalled(t, slow, evicted)
	t.Logf("%d clients joined in %v", rooms*perRoom+5, time.Since(start))
	close(go_)
	wg.Wait()
	if t.Failed() {
		return
	}
	total := 0
	for r, clients := range results {
		want := clients[0]
		for i, got := range clients {
			if !slices.Equal(got, want) {
				t.Errorf("room %d: client %d got another sequence than client 0", r, i)
			}
		}
		checkRoomSequence(t, r, want, len(clients))
		total += len(want) * len(clients)
	}
	checkEvicted(t, <-stalled, results[rooms][0])
	t.Logf("%d messages, %d deliveries in %v", rooms*perRoom*perClient+4*slowSends, total, time.Since(start))
}

// roomName names room r of TestLoad.
func roomName(r int) string { return fmt.Sprint("room ", r) }

// runClient is client i of room r in TestLoad: it joins, reports it, waits
// for go_, sends its messages one after the other, each once it has seen
// the one before come back, and reads until it has every message of the
// room. It returns the texts of the room's messages in the order received.
func runClient(t *testing.T, s *testServer, r, i, messages, members int, pad string, joined chan<- struct{}, go_ <-chan struct{}) []string {
	c, _ := s.join(t, fmt.Sprint("c", i), roomName(r))
	joined <- struct{}{}
	<-go_
	var texts []string
	for sent := 0; len(texts) < members*messages; {
		if sent < messages {
			c.say(fmt.Sprintf("%s/%d%s", c.name, sent, pad))
			sent++
		}
		for {
			e, err := c.read()
			if err != nil {
				t.Errorf("%s in %s: %v", c.name, c.room, err)
				return nil
			}
			if e.Type != hub.TypeMessage {
				continue
			}
			if e.Room != c.room {
				t.Errorf("%s in %s got a message of %s", c.name, c.room, e.Room)
			}
			texts = append(texts, e.Text)
			if e.Name == c.name || sent == messages {
				break
			}
		}
	}
	return texts
}

// checkRoomSequence checks that seq holds each message of each of the
// room's clients once, and each client's in the order it sent them.
func checkRoomSequence(t *testing.T, r int, seq []string, clients int) {
	t.Helper()
	next := make(map[string]int)
	for _, text := range seq {
		name, rest, _ := strings.Cut(text, "/")
		var n int
		fmt.Sscan(strings.TrimRight(rest, "y"), &n)
		if n != next[name] {
			t.Fatalf("room %d: %s's message %d came when %d was due", r, name, n, next[name])
		}
		next[name]++
	}
	if len(next) != clients {
		t.Errorf("room %d: messages of %d clients, want %d", r, len(next), clients)
	}
}
