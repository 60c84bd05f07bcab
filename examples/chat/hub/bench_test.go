//go:build !js

package hub_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsproject/websocket"
	"github.com/wsproject/websocket/examples/chat/hub"
)

// BenchmarkFanout measures what delivering one event to one client costs,
// end to end over loopback: the hub framing each event once, queueing it
// for every client of the room and writing it to each socket, and the
// clients (the library's own, in this process) reading it. One op is one
// event published to a room of 100 clients; ns/delivery divides the time
// by the deliveries, and the allocations are per event, all clients
// included. The events are 160-byte chat messages, which clients that
// negotiated permessage-deflate get compressed (once per event, shared).
func BenchmarkFanout(b *testing.B) {
	for _, deflate := range []bool{false, true} {
		b.Run(fmt.Sprintf("clients=100/deflate=%v", deflate), func(b *testing.B) {
			benchmarkFanout(b, 100, deflate)
		})
	}
}

// fanoutBatch is how many events the benchmark publishes before it waits
// for every client to have them all: well under the send queue, so that
// no client is evicted, and large enough that waiting costs little.
const fanoutBatch = 64

// benchmarkFanout runs BenchmarkFanout with n clients.
func benchmarkFanout(b *testing.B, n int, deflate bool) {
	bp := hub.NewLocal()
	s := startHub(b, hub.Config{Backplane: bp, History: -1})
	var opts *websocket.DialOptions
	if deflate {
		opts = &websocket.DialOptions{Options: websocket.Options{Compression: &websocket.CompressionOptions{}}}
	}
	clients := make([]*testClient, n)
	for i := range clients {
		clients[i] = s.dialWith(b, fmt.Sprint("c", i), "bench", opts)
		clients[i].awaitJoin()
	}
	event := []byte(`{"type":"message","id":"0123456789ab-1","room":"bench","name":"ana","text":"` +
		strings.Repeat("lorem ipsum ", 6) + `","time":"2025-01-01T12:00:00.000Z"}`)

	var batch sync.WaitGroup
	errs := make(chan error, n)
	for _, c := range clients {
		go func() { errs <- readFanout(c, b.N, &batch) }()
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if i%fanoutBatch == 0 {
			batch.Wait()
			batch.Add(n)
		}
		if err := bp.Publish(ctx, "bench", event); err != nil {
			b.Fatal(err)
		}
	}
	for range clients {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*n), "ns/delivery")
	b.ReportMetric(float64(b.N*n)/elapsed.Seconds(), "deliveries/s")
}

// readFanout reads events on c until it has n messages, calling
// batch.Done at the end of each batch of fanoutBatch and at the last.
func readFanout(c *testClient, n int, batch *sync.WaitGroup) error {
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Minute))
	prefix := []byte(`{"type":"message"`)
	var buf []byte
	for got := 0; got < n; {
		_, msg, err := c.conn.AppendMessage(buf[:0])
		if err != nil {
			return fmt.Errorf("%s after %d messages: %w", c.name, got, err)
		}
		buf = msg
		if !bytes.HasPrefix(msg, prefix) {
			continue
		}
		if got++; got%fanoutBatch == 0 || got == n {
			batch.Done()
		}
	}
	return nil
}
