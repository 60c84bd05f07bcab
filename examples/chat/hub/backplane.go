//go:build !js

package hub

// This file holds the Backplane interface, which carries room events between
// the nodes of a cluster, and Local, its in-memory single-node version.

import (
	"bytes"
	"context"
	"fmt"
)

// Backplane carries room events between the nodes of a cluster.
type Backplane interface {
	// Publish hands event (one encoded JSON event as clients receive it) for room to every node,
	// this one included. It must not keep event after it returns.
	Publish(ctx context.Context, room string, event []byte) error
	// Run delivers every published event of every node to deliver, in one order per room that
	// every node sees alike, until ctx is done; it calls status(err) with err != nil when it
	// loses the backplane and status(nil) when it is connected again. It returns when ctx is done.
	//
	// The hub's deliver and status are safe for concurrent calls, return
	// without waiting for any client, and keep nothing of event: a Backplane
	// may reuse the slice as soon as deliver returns.
	Run(ctx context.Context, deliver func(room string, event []byte), status func(err error)) error
}

// LocalQueue is how many published events the Backplane of NewLocal holds
// before Run delivers them; Publish waits while it is full.
const LocalQueue = 1024

// localEvent is one event waiting in a local backplane.
type localEvent struct {
	room  string
	event []byte
}

// local is the Backplane of NewLocal: a bounded channel between the
// publishers and Run.
type local struct {
	events chan localEvent
}

// NewLocal returns the in-memory Backplane of a single node, the hub's
// default: Publish copies the event into a queue of LocalQueue events and
// Run delivers them in the order they were published, one at a time, which
// is one order for every room. Publish waits while the queue is full (which
// slows down fast senders instead of holding their messages in memory), up to
// the end of its ctx. Run must run once at a time; it never reports a status
// change, since nothing can be lost.
func NewLocal() Backplane {
	return &local{events: make(chan localEvent, LocalQueue)}
}

// Publish queues a copy of event for Run, waiting while the queue is full
// until ctx is done.
func (l *local) Publish(ctx context.Context, room string, event []byte) error {
	e := localEvent{room: room, event: bytes.Clone(event)}
	select {
	case l.events <- e:
		return nil
	default:
	}
	select {
	case l.events <- e:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hub: the local backplane's queue of %d events stayed full: %w", LocalQueue, ctx.Err())
	}
}

// Run delivers the queued events in order until ctx is done, and returns nil
// then.
func (l *local) Run(ctx context.Context, deliver func(room string, event []byte), _ func(error)) error {
	for {
		select {
		case e := <-l.events:
			deliver(e.room, e.event)
		case <-ctx.Done():
			return nil
		}
	}
}
