package redisbackplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/wsproject/websocket/examples/cluster/internal/proctest"
)

// wait bounds every wait of these tests.
const wait = 10 * time.Second

// event is one delivered event.
type event struct{ room, data string }

// node is a Backplane under test with its Run on a goroutine of its own.
type node struct {
	bp         *Backplane
	events     chan event
	status     chan error
	subscribed chan struct{}
}

// newClient returns a client of the Redis at addr that gives up quickly,
// closed when the test ends.
func newClient(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:            addr,
		DialTimeout:     time.Second,
		ReadTimeout:     time.Second,
		WriteTimeout:    time.Second,
		MaxRetries:      -1, // fail at once: the tests stop Redis on purpose
		DisableIdentity: true,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// startNode runs a Backplane for the Redis at addr until the test ends,
// when it checks that Run returns nil promptly.
func startNode(t *testing.T, addr, prefix string) *node {
	n := &node{
		bp:         &Backplane{Client: newClient(t, addr), Prefix: prefix, HealthCheck: 200 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
		events:     make(chan event, 1000),
		status:     make(chan error, 100),
		subscribed: make(chan struct{}, 100),
	}
	n.bp.OnSubscribe = func() { n.subscribed <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- n.bp.Run(ctx,
			func(room string, data []byte) { n.events <- event{room, string(data)} },
			func(err error) { n.status <- err })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after its context ended, want nil", err)
			}
		case <-time.After(wait):
			t.Errorf("Run did not return within %v after its context ended", wait)
		}
	})
	return n
}

// waitSubscribed waits until the node's Run is subscribed.
func (n *node) waitSubscribed(t *testing.T) {
	t.Helper()
	select {
	case <-n.subscribed:
	case <-time.After(wait):
		t.Fatalf("Run did not subscribe within %v", wait)
	}
}

// next returns the node's next event.
func (n *node) next(t *testing.T) event {
	t.Helper()
	select {
	case e := <-n.events:
		return e
	case <-time.After(wait):
		t.Fatalf("no event within %v", wait)
		return event{}
	}
}

// nextStatus returns the next error Run passed to status.
func (n *node) nextStatus(t *testing.T) error {
	t.Helper()
	select {
	case err := <-n.status:
		return err
	case <-time.After(wait):
		t.Fatalf("status not called within %v", wait)
		return nil
	}
}

// publish publishes one event and fails the test if it fails.
func (n *node) publish(t *testing.T, room, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.bp.Publish(ctx, room, []byte(data)); err != nil {
		t.Fatal(err)
	}
}

// Every node receives every event, its own included, each room's events in
// the same order on every node, and each publisher's events in the order
// it published them.
func TestEveryNodeSeesTheSameOrder(t *testing.T) {
	addr := proctest.FreeAddr(t)
	proctest.StartRedis(t, addr)
	nodes := []*node{startNode(t, addr, ""), startNode(t, addr, "")}
	for _, n := range nodes {
		n.waitSubscribed(t)
	}
	const perNode = 300
	rooms := []string{"lobby", "dev room", "ünïcode"}
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes))
	for i, n := range nodes {
		wg.Go(func() {
			for j := range perNode {
				room := rooms[j%len(rooms)]
				if err := n.bp.Publish(context.Background(), room, fmt.Appendf(nil, "n%d-%d", i, j)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	perRoom := make([]map[string][]string, len(nodes))
	for i, n := range nodes {
		perRoom[i] = map[string][]string{}
		for range perNode * len(nodes) {
			e := n.next(t)
			perRoom[i][e.room] = append(perRoom[i][e.room], e.data)
		}
	}
	for _, room := range rooms {
		if !slices.Equal(perRoom[0][room], perRoom[1][room]) {
			t.Errorf("room %q: nodes saw different orders:\n%q\n%q", room, perRoom[0][room], perRoom[1][room])
		}
		checkPublisherOrder(t, room, perRoom[0][room], len(nodes))
	}
}

// checkPublisherOrder checks that the events "n<i>-<j>" of each publisher
// i appear in increasing j, and that each publisher's share arrived.
func checkPublisherOrder(t *testing.T, room string, events []string, publishers int) {
	t.Helper()
	last := make([]int, publishers)
	for i := range last {
		last[i] = -1
	}
	for _, e := range events {
		var i, j int
		if _, err := fmt.Sscanf(e, "n%d-%d", &i, &j); err != nil {
			t.Fatalf("room %q: unexpected event %q", room, e)
		}
		if j <= last[i] {
			t.Errorf("room %q: publisher %d's event %d after its event %d", room, i, j, last[i])
		}
		last[i] = j
	}
}

// Channels are Prefix+room: backplanes with different prefixes on one Redis
// do not see each other's events.
func TestPrefixSeparatesApplications(t *testing.T) {
	addr := proctest.FreeAddr(t)
	proctest.StartRedis(t, addr)
	a, b := startNode(t, addr, "app-a:"), startNode(t, addr, "app-b:")
	a.waitSubscribed(t)
	b.waitSubscribed(t)
	a.publish(t, "room", "for a")
	b.publish(t, "room", "for b")
	if e := a.next(t); e != (event{"room", "for a"}) {
		t.Errorf("a got %+v, want its own event", e)
	}
	if e := b.next(t); e != (event{"room", "for b"}) {
		t.Errorf("b got %+v, want its own event", e)
	}
}

// When Redis goes away, Run reports it once, Publish fails, and once Redis
// is back Run reports status(nil), subscribes again, and events flow.
func TestReportsLossAndRecovers(t *testing.T) {
	addr := proctest.FreeAddr(t)
	redisProc := proctest.StartRedis(t, addr)
	n := startNode(t, addr, "")
	n.waitSubscribed(t)

	if err := redisProc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := redisProc.Wait(wait); err == nil {
		t.Fatal("redis-server exited with status 0 after SIGKILL")
	}
	if err := n.nextStatus(t); err == nil {
		t.Fatal("status(nil) after Redis was killed, want the error")
	} else {
		t.Logf("reported: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.bp.Publish(ctx, "room", []byte("lost")); err == nil || !strings.Contains(err.Error(), `room "room"`) {
		t.Errorf("Publish while Redis is down: %v, want an error naming the room", err)
	}

	proctest.StartRedis(t, addr)
	if err := n.nextStatus(t); err != nil {
		t.Fatalf("after Redis restarted: status(%v), want status(nil) (one status(err) per outage)", err)
	}
	n.waitSubscribed(t)
	n.publish(t, "room", "back")
	if e := n.next(t); e != (event{"room", "back"}) {
		t.Errorf("after recovery got %+v", e)
	}
}

// A Redis that stops answering without closing the connection (here
// stopped with SIGSTOP) is noticed by the health-check ping within about
// two HealthChecks, and the subscription comes back once it answers again.
func TestHealthCheckNoticesHungRedis(t *testing.T) {
	addr := proctest.FreeAddr(t)
	redisProc := proctest.StartRedis(t, addr)
	n := startNode(t, addr, "")
	n.waitSubscribed(t)

	if err := redisProc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := n.nextStatus(t); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("status(%v) while Redis hangs, want ErrNoAnswer", err)
	}
	if err := redisProc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := n.nextStatus(t); err != nil {
		t.Fatalf("status(%v) after Redis resumed, want status(nil)", err)
	}
	n.waitSubscribed(t)
	n.publish(t, "room", "resumed")
	if e := n.next(t); e != (event{"room", "resumed"}) {
		t.Errorf("after resuming got %+v", e)
	}
}

// Run reports a Redis it cannot reach at all, and still returns when its
// context ends (the cleanup of startNode checks that).
func TestReportsUnreachableRedis(t *testing.T) {
	n := startNode(t, proctest.FreeAddr(t), "")
	if err := n.nextStatus(t); err == nil {
		t.Fatal("status(nil) with no Redis listening, want the error")
	}
}
