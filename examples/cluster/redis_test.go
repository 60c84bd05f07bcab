package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestPublishIsNotRetried runs the node's Redis client against a server
// that takes PUBLISH and never answers, as a Redis that ran the command but
// whose answer is late would, and checks that the client sends the PUBLISH
// once: a retry would deliver the event twice.
func TestPublishIsNotRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg        sync.WaitGroup // the fake server's goroutines
		mu        sync.Mutex
		publishes int
	)
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				serveSilentPublish(conn, func() {
					mu.Lock()
					publishes++
					mu.Unlock()
				})
			})
		}
	})

	opts := redisOptions(ln.Addr().String())
	opts.ReadTimeout = 50 * time.Millisecond // instead of the node's 2 s
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = client.Publish(ctx, "chat:room:lobby", "event").Err()
	// Closing the client ends its connections, so the fake server reads
	// to the end of what it sent, and stops.
	client.Close()
	ln.Close()
	wg.Wait()
	if err == nil {
		t.Fatal("PUBLISH without an answer succeeded")
	}
	if publishes != 1 {
		t.Errorf("the client sent PUBLISH %d times, want once (it failed with %v)", publishes, err)
	}
}

// serveSilentPublish reads the RESP commands of a Redis client on conn
// until it ends: it refuses HELLO (so that the client speaks RESP2), calls
// published for each PUBLISH without answering it, and answers anything
// else with OK.
func serveSilentPublish(conn net.Conn, published func()) {
	r := bufio.NewReader(conn)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		switch strings.ToUpper(args[0]) {
		case "HELLO":
			fmt.Fprintf(conn, "-ERR unknown command 'HELLO'\r\n")
		case "PUBLISH":
			published()
		default:
			fmt.Fprintf(conn, "+OK\r\n")
		}
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	var n int
	if _, err := fmt.Fscanf(r, "*%d\r\n", &n); err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range args {
		var size int
		if _, err := fmt.Fscanf(r, "$%d\r\n", &size); err != nil {
			return nil, err
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:size])
	}
	return args, nil
}
