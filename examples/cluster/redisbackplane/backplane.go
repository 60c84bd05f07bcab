// Package redisbackplane shares chat events between the nodes of a cluster
// through Redis pub/sub, as the chat hub's Backplane.
//
// Every room is a Redis channel named Prefix+room. Publish sends one event
// with PUBLISH; Run holds one subscriber connection with a pattern
// subscription to Prefix+"*" and hands each event to the hub. Redis runs
// PUBLISH commands one at a time and sends every subscriber the messages in
// that order, so every node sees the events of a room (and of all rooms) in
// the same order, its own events included.
//
// Redis pub/sub is fire-and-forget: an event published while a node's
// subscriber connection is down never reaches that node, and PUBLISH fails
// while Redis itself is down. Run reports both kinds of loss to the hub,
// which tells its clients.
package redisbackplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of the Backplane's fields.
const (
	// DefaultPrefix is the channel name prefix when Prefix is empty.
	DefaultPrefix = "chat:room:"

	// DefaultHealthCheck is how long the subscriber connection may be
	// silent before Run pings Redis, and how long it then waits for the
	// answer, when HealthCheck is zero.
	DefaultHealthCheck = 5 * time.Second

	// DefaultMaxBackoff caps the wait between reconnection attempts when
	// MaxBackoff is zero. The first retry waits 50 ms; each failure doubles it.
	DefaultMaxBackoff = 2 * time.Second

	// minBackoff is the wait before the first reconnection attempt.
	minBackoff = 50 * time.Millisecond
)

// ErrNoAnswer is the error Run reports when Redis did not answer a ping on
// the subscriber connection within HealthCheck: the server hangs or the
// network drops packets.
var ErrNoAnswer = errors.New("redisbackplane: Redis did not answer the health-check ping in time")

// Backplane connects chat hubs through Redis pub/sub. Set Client and leave
// the other fields zero for the defaults; do not change the fields once Run
// or Publish has been called. Publish is safe for concurrent use; Run must
// run once at a time.
//
// The cost is one PUBLISH round trip per event, and on each node one
// subscriber connection that receives every event of every room: a node
// gets all traffic whether or not its clients are in the room.
type Backplane struct {
	// Client is the Redis client used for PUBLISH and for the subscriber
	// connection. Its DialTimeout, ReadTimeout and MaxRetries bound how
	// long Publish can block while Redis is unreachable (go-redis
	// defaults: 5 s to dial, 3 s to read, 3 retries). Set MaxRetries to
	// -1: go-redis retries a command whose answer did not come in time,
	// though Redis may have run it, and a PUBLISH run twice delivers its
	// event twice. (The subscriber connection does not use retries.)
	Client *redis.Client

	// Prefix is prepended to room names to make channel names, so that
	// several applications can share one Redis. Default DefaultPrefix.
	Prefix string

	// HealthCheck is the silence after which the subscriber pings Redis
	// and the time it then waits for an answer before it reconnects; a
	// hung Redis is thus noticed within two HealthChecks. Default
	// DefaultHealthCheck.
	HealthCheck time.Duration

	// MaxBackoff caps the wait between reconnection attempts. Default
	// DefaultMaxBackoff.
	MaxBackoff time.Duration

	// OnSubscribe, if not nil, is called on Run's goroutine each time
	// Redis confirms the subscription, the first time included (status is
	// called only after a loss), for instance to log it. From then on the
	// node receives every event published.
	OnSubscribe func()
}

// prefix returns Prefix or its default.
func (b *Backplane) prefix() string {
	if b.Prefix == "" {
		return DefaultPrefix
	}
	return b.Prefix
}

// healthCheck returns HealthCheck or its default.
func (b *Backplane) healthCheck() time.Duration {
	if b.HealthCheck <= 0 {
		return DefaultHealthCheck
	}
	return b.HealthCheck
}

// maxBackoff returns MaxBackoff or its default.
func (b *Backplane) maxBackoff() time.Duration {
	if b.MaxBackoff <= 0 {
		return DefaultMaxBackoff
	}
	return b.MaxBackoff
}

// Publish sends event to every node's Run, this node's included, as the
// event of room. It returns once Redis has accepted it, or with an error
// when Redis is unreachable or ctx ends first; Redis does not store the
// event, so a node whose subscriber is disconnected at that moment misses
// it. Publish does not keep event after it returns.
func (b *Backplane) Publish(ctx context.Context, room string, event []byte) error {
	if err := b.Client.Publish(ctx, b.prefix()+room, event).Err(); err != nil {
		return fmt.Errorf("redisbackplane: publish to room %q: %w", room, err)
	}
	return nil
}

// Run subscribes to every room and calls deliver with each event, in the
// order Redis received them, until ctx is done; then it returns nil. deliver
// runs on Run's goroutine, one event at a time, and must not block for long:
// Redis closes a subscriber that falls too far behind (its
// client-output-buffer-limit for pubsub, 32 MiB by default).
//
// When the subscriber connection fails or Redis stops answering, Run calls
// status with the error, once per outage, and reconnects with a doubling
// wait of up to MaxBackoff; once it is subscribed again it calls status(nil).
// Events published in between are lost for this node.
func (b *Backplane) Run(ctx context.Context, deliver func(room string, event []byte), status func(err error)) error {
	if b.Client == nil {
		return errors.New("redisbackplane: Backplane.Client is nil")
	}
	var lost error // the reported error of the current outage, or nil
	backoff := minBackoff
	for {
		err := b.subscribe(ctx, deliver, func() {
			backoff = minBackoff
			if lost != nil {
				lost = nil
				status(nil)
			}
			if b.OnSubscribe != nil {
				b.OnSubscribe()
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		if lost == nil {
			lost = err
			status(err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, b.maxBackoff())
	}
}

// subscribe holds one subscriber connection: it subscribes, calls
// subscribed once Redis confirms, and delivers events until the connection
// fails, Redis stops answering pings, or ctx is done. It returns why the
// connection ended.
func (b *Backplane) subscribe(ctx context.Context, deliver func(room string, event []byte), subscribed func()) error {
	ps := b.Client.Subscribe(ctx) // no channels yet: connects lazily
	defer ps.Close()
	// A blocked read does not watch ctx; closing the connection ends it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	prefix := b.prefix()
	if err := ps.PSubscribe(ctx, prefix+"*"); err != nil {
		return fmt.Errorf("redisbackplane: subscribe: %w", err)
	}
	pinged := false // a ping is unanswered
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.healthCheck())
		if isTimeout(err) {
			if pinged {
				return ErrNoAnswer
			}
			pinged = true
			err = ps.Ping(ctx)
			if err == nil {
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("redisbackplane: subscriber connection: %w", err)
		}
		pinged = false
		switch msg := msg.(type) {
		case *redis.Subscription:
			subscribed()
		case *redis.Message:
			deliver(msg.Channel[len(prefix):], []byte(msg.Payload))
		}
	}
}

// isTimeout reports whether err is a network timeout: nothing arrived
// within the read deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
