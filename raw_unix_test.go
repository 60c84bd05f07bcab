//go:build unix

package websocket

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestCloseFrameBehindFullSocket checks the slow path of sendClose: when the
// socket cannot take a close frame at once, sendClose still returns at once
// (a read that answers the peer's close must not wait on the peer), and the
// frame goes out whole in the background once the peer reads. (The fast
// path, with echoes queued before the answer, is in the wire cases that send
// frames and a close in one write.)
func TestCloseFrameBehindFullSocket(t *testing.T) {
	peer, nc := tcpPair(t)
	filled := fillSocket(t, nc)

	c := newConn(nc, true, nil, &Options{CloseTimeout: testTimeout}, negotiated{})
	defer c.CloseNow()
	if err := c.sendClose(StatusNormalClosure, ""); err != nil {
		t.Fatalf("sendClose: %v", err)
	}

	peer.SetReadDeadline(time.Now().Add(testTimeout)) // a lost frame fails, not hangs
	if _, err := io.ReadFull(peer, make([]byte, filled)); err != nil {
		t.Fatal(err)
	}
	want := []byte("\x88\x02\x03\xe8")
	got := make([]byte, len(want))
	if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after the filler: % x, %v; want % x", got, err, want)
	}
	// The background write holds writeMu until it is done.
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeErr != nil || !c.closeSent || c.outp != nil {
		t.Fatalf("after the close frame: writeErr %v, closeSent %v, queue %v", c.writeErr, c.closeSent, c.outp != nil)
	}
}

// TestStreamAndPingBothWays (here for its Unix socket options) is the
// two-peer deadlock of a reader that
// waited on the write side: both ends stream large messages from two
// goroutines while a third pings every 2 ms, and each end's reader must keep
// reading although its own writers are blocked on a full socket. Every
// message must arrive.
func TestStreamAndPingBothWays(t *testing.T) {
	const writers, perWriter, size = 2, 40, 256 << 10
	run := func(c *Conn, received *atomic.Int64) error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		payload := make([]byte, size)
		for range writers {
			wg.Go(func() {
				for range perWriter {
					if c.WriteMessage(BinaryMessage, payload) != nil {
						return
					}
				}
			})
		}
		wg.Go(func() {
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if c.Ping([]byte("hb")) != nil {
						return
					}
				}
			}
		})
		defer wg.Wait()
		defer cancel()
		var buf []byte
		for received.Load() < writers*perWriter {
			_, msg, err := c.AppendMessage(buf[:0])
			if err != nil {
				return err
			}
			buf = msg
			received.Add(1)
		}
		return nil
	}
	var serverGot, clientGot atomic.Int64
	serverDone := make(chan error, 1)
	// Small socket buffers, so that writers block often.
	smallBuffers := func(network, address string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 16<<10)
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
	}
	ln, err := (&net.ListenConfig{Control: smallBuffers}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Options: Options{ReadLimit: 1 << 20}, Handler: func(c *Conn) {
		serverDone <- run(c, &serverGot)
	}}
	go s.Serve(ln)
	defer s.Shutdown(context.Background())
	dialer := &net.Dialer{Control: smallBuffers}
	c, _, err := Dial(context.Background(), "ws://"+ln.Addr().String(), &DialOptions{
		Options:        Options{ReadLimit: 1 << 20},
		NetDialContext: dialer.DialContext,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	clientDone := make(chan error, 1)
	go func() { clientDone <- run(c, &clientGot) }()
	timeout := time.After(testTimeout)
	for i := 0; i < 2; i++ {
		select {
		case err := <-serverDone:
			if err != nil {
				t.Fatalf("server reader: %v", err)
			}
		case err := <-clientDone:
			if err != nil {
				t.Fatalf("client reader: %v", err)
			}
		case <-timeout:
			t.Fatalf("stalled: the server received %d and the client %d of %d messages", serverGot.Load(), clientGot.Load(), writers*perWriter)
		}
	}
	c.Close(StatusNormalClosure, "")
}
