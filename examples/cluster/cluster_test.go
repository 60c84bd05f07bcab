package main

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsproject/websocket"
	"github.com/wsproject/websocket/examples/chat/hub"
	"github.com/wsproject/websocket/examples/cluster/internal/proctest"
)

// The cluster's heartbeat and nginx's idle timeout in TestCluster: short,
// so that the test can show a silent client outliving the timeout, with the
// same ratio as the defaults (30 s and 60 s).
const (
	testKeepAlive    = 5 * time.Second
	testProxyTimeout = 10 * time.Second
)

// TestCluster runs Redis, three chat nodes and nginx in front of them, all
// on loopback ports, and checks through nginx what the cluster promises:
// delivery across nodes in one order per room, eviction of a slow client,
// failover when a node stops, heartbeats that keep nginx from closing idle
// connections, and survival of a Redis outage. The checks run in that
// order; each needs the cluster as the ones before left it.
func TestCluster(t *testing.T) {
	proctest.Need(t, "redis-server", "redis-server")
	proctest.Need(t, "nginx", "nginx")
	bin := buildNode(t)
	redisAddr := proctest.FreeAddr(t)
	redisProc := proctest.StartRedis(t, redisAddr)
	nodes := map[string]*chatNode{}
	var upstream []string
	for _, name := range []string{"a", "b", "c"} {
		// No send rate limit: the checks send hundreds of messages at
		// once, to interleave two senders and to flood a slow client.
		nodes[name] = startNode(t, bin, name, redisAddr, testKeepAlive, "-rate", "-1")
		upstream = append(upstream, nodes[name].addr)
	}
	lb := proctest.FreeAddr(t)
	startNginx(t, nginxSite{Listen: lb, Nodes: upstream, Timeout: testProxyTimeout.String()})

	// A client that stays silent, alone in its room, until the heartbeat
	// check at the end.
	idle := dialOn(t, lb, "a", "idler", "quiet")
	idle.await(t, "its own join", isJoin("idler"))
	idleSince := time.Now()

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"CrossNodeOrder", func(t *testing.T) { checkCrossNodeOrder(t, lb) }},
		{"SlowClientEvicted", func(t *testing.T) { checkSlowClientEvicted(t, lb, nodes["b"]) }},
		{"NodeShutdownFailover", func(t *testing.T) { checkNodeShutdown(t, lb, nodes["c"]) }},
		{"HeartbeatOutlivesProxyTimeout", func(t *testing.T) { checkHeartbeat(t, idle, idleSince) }},
		{"RedisOutage", func(t *testing.T) { checkRedisOutage(t, lb, redisProc, redisAddr) }},
	}
	for _, s := range steps {
		start := time.Now()
		if !t.Run(s.name, s.run) {
			return
		}
		t.Logf("%s took %v", s.name, time.Since(start).Round(time.Millisecond))
	}
}

// isJoin matches the join event of name.
func isJoin(name string) func(hub.Event) bool {
	return func(e hub.Event) bool { return e.Type == hub.TypeJoin && e.Name == name }
}

// checkCrossNodeOrder: two clients on nodes a and b send at the same time
// to one room; they and a client on node c receive every message, each
// sender's in the order sent, and all three in the same order.
func checkCrossNodeOrder(t *testing.T, lb string) {
	clients := []*client{
		dialOn(t, lb, "a", "ana", "order"),
		dialOn(t, lb, "b", "ben", "order"),
		dialOn(t, lb, "c", "cy", "order"),
	}
	for _, c := range clients {
		c.await(t, "cy's join", isJoin("cy")) // everyone is in the room
	}
	const perSender = 200
	errs := make(chan error, 2)
	for _, sender := range clients[:2] {
		go func() {
			for i := range perSender {
				err := sender.conn.WriteJSON(map[string]string{"type": "message", "text": fmt.Sprint(i)})
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var seqs [][]string
	for _, c := range clients {
		var seq []string
		next := map[string]int{}
		for range 2 * perSender {
			e := c.await(t, "a message", func(e hub.Event) bool { return e.Type == hub.TypeMessage })
			if want := fmt.Sprint(next[e.Name]); e.Text != want {
				t.Fatalf("%s (node %s) got %s's message %s, want %s", c.name, c.node, e.Name, e.Text, want)
			}
			next[e.Name]++
			seq = append(seq, e.Name+":"+e.Text)
		}
		seqs = append(seqs, seq)
	}
	for i := 1; i < len(seqs); i++ {
		if !slices.Equal(seqs[0], seqs[i]) {
			t.Errorf("%s and %s saw the room's messages in different orders", clients[0].name, clients[i].name)
		}
	}
}

// checkSlowClientEvicted: a client on node that never reads is evicted
// with 1013 once the path to it and its queue are full, while a client on
// the same node and one on another receive every message of the flood in
// order.
func checkSlowClientEvicted(t *testing.T, lb string, node *chatNode) {
	sender := dialOn(t, lb, "a", "flooder", "flood")
	fast := dialOn(t, lb, node.name, "fast", "flood")
	slow := connectOn(t, lb, node.name, "slowpoke", "flood", nil)
	sender.await(t, "slowpoke's join", isJoin("slowpoke"))
	fast.await(t, "slowpoke's join", isJoin("slowpoke"))

	// Flood until the eviction: the socket buffers between the node and
	// the client (several MiB, tuned by the kernel) fill before the queue.
	logFrom := len(node.proc.Lines())
	stop, sent := make(chan struct{}), make(chan int)
	go flood(sender, stop, sent)
	node.proc.WaitFor(t, logFrom, "evicted slowpoke@flood", wait)
	close(stop)
	n := <-sent
	if n == maxFlood {
		t.Fatalf("sent the most messages, %d, before the eviction", n)
	}
	t.Logf("slowpoke evicted after %d messages of %d bytes", n, floodSize)
	for _, c := range []*client{sender, fast} {
		for i := range n {
			e := c.await(t, "a flood message", func(e hub.Event) bool { return e.Type == hub.TypeMessage })
			if !strings.HasPrefix(e.Text, fmt.Sprint(i)+" ") {
				t.Fatalf("%s got flood message %.10q, want number %d", c.name, e.Text, i)
			}
		}
	}
	go slow.read() // what was buffered, then the close
	err := slow.awaitEnd(t)
	if ce := closeError(err); ce == nil || ce.Code != websocket.StatusTryAgainLater {
		t.Errorf("slow client's connection ended with %v, want a close with status 1013", err)
	}
	fast.await(t, "slowpoke's leave", func(e hub.Event) bool { return e.Type == hub.TypeLeave && e.Name == "slowpoke" })
}

// The flood of checkSlowClientEvicted: at most maxFlood messages of about
// floodSize bytes (under the hub's limit of 2,000 characters with their
// number), 64 MB; the buffers of the node, nginx and the kernel fill with
// about 16 MB. The readers' channels hold them all.
const (
	maxFlood  = 32000
	floodSize = 1990
)

// flood sends numbered messages from c until stop is closed or maxFlood
// are sent, and then sends how many it sent to sent.
func flood(c *client, stop <-chan struct{}, sent chan<- int) {
	pad := strings.Repeat("x", floodSize)
	n := 0
	defer func() { sent <- n }()
	for ; n < maxFlood; n++ {
		select {
		case <-stop:
			return
		default:
		}
		if c.conn.WriteJSON(map[string]string{"type": "message", "text": fmt.Sprint(n, " ", pad)}) != nil {
			return
		}
	}
}

// checkNodeShutdown: SIGTERM makes a node close its clients with 1001 and
// exit 0; a client of it reconnects through nginx, lands on another node,
// and chats on with the room.
func checkNodeShutdown(t *testing.T, lb string, node *chatNode) {
	stay := dialOn(t, lb, "a", "stayer", "failover")
	mover := dialOn(t, lb, node.name, "mover", "failover")
	stay.await(t, "mover's join", isJoin("mover"))

	if err := node.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := mover.awaitEnd(t)
	if ce := closeError(err); ce == nil || ce.Code != websocket.StatusGoingAway {
		t.Errorf("mover's connection ended with %v, want a close with status 1001", err)
	}
	if err := node.proc.Wait(wait); err != nil {
		t.Errorf("node %s after SIGTERM: %v, want exit status 0", node.name, err)
	}
	stay.await(t, "mover's leave", func(e hub.Event) bool { return e.Type == hub.TypeLeave && e.Name == "mover" })

	back := dial(t, lb, "mover", "failover")
	if back.node == node.name || back.node == "" {
		t.Fatalf("reconnected to node %q, want another node than the stopped %s", back.node, node.name)
	}
	stay.await(t, "mover's join again", isJoin("mover"))
	back.send(t, "I'm back")
	stay.awaitMessage(t, "mover", "I'm back")
	stay.send(t, "welcome")
	back.awaitMessage(t, "stayer", "welcome")
}

// checkHeartbeat: the client silent since since, longer than nginx's idle
// timeout by now, is still connected thanks to the nodes' pings, and
// chats.
func checkHeartbeat(t *testing.T, idle *client, since time.Time) {
	// Wait out the timeout: it is the duration under test.
	if rest := testProxyTimeout + time.Second - time.Since(since); rest > 0 {
		time.Sleep(rest)
	}
	idle.send(t, "still here")
	idle.awaitMessage(t, "idler", "still here")
}

// checkRedisOutage: when Redis dies, the clients of every node get a
// notice, a message sent meanwhile gets a notice that it was not
// delivered, and when Redis is back (restarted at redisAddr, for the rest
// of t) the clients get a notice and messages flow between nodes again.
func checkRedisOutage(t *testing.T, lb string, redisProc *proctest.Proc, redisAddr string) {
	p := dialOn(t, lb, "a", "pat", "outage")
	q := dialOn(t, lb, "b", "quinn", "outage")
	p.await(t, "quinn's join", isJoin("quinn"))

	if err := redisProc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	redisProc.Wait(wait)
	isNotice := func(e hub.Event) bool { return e.Type == hub.TypeNotice }
	for _, c := range []*client{p, q} {
		t.Logf("%s (node %s) was told: %s", c.name, c.node, c.await(t, "a notice of the loss", isNotice).Text)
	}
	p.send(t, "into the void")
	t.Logf("pat was told: %s", p.await(t, "a notice that the message was lost", isNotice).Text)

	proctest.StartRedis(t, redisAddr)
	for _, c := range []*client{p, q} {
		t.Logf("%s (node %s) was told: %s", c.name, c.node, c.await(t, "a notice of the recovery", isNotice).Text)
	}
	p.send(t, "after the outage")
	q.awaitMessage(t, "pat", "after the outage")
}
