package websocket

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestStreamAndPingBothWays is the two-peer deadlock of a reader that
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

// TestCloseNowDoesNotWait checks that CloseNow returns at once when a frame
// is queued and the peer reads nothing, so the socket cannot take it.
func TestCloseNowDoesNotWait(t *testing.T) {
	_, nc := tcpPair(t)
	fillSocket(t, nc)
	c := newConn(nc, true, nil, &Options{}, negotiated{})
	c.state.Or(stInputPending) // as if the peer's next frame were buffered
	if err := c.WriteMessage(TextMessage, []byte("queued")); err != nil {
		t.Fatal(err)
	}
	if c.outp == nil {
		t.Fatal("the message was not queued")
	}
	done := make(chan error, 1)
	go func() { done <- c.CloseNow() }()
	if err := awaitValue(t, done); err != nil {
		t.Fatalf("CloseNow: %v", err)
	}
}

// TestReadDoesNotWaitForBlockedWriter checks that a read answers pings and
// goes on reading while a writer holds the write lock (here the test holds
// it, as a writer blocked on a peer that does not read would): the pongs
// wait for the holder, who sends them as it unlocks; the read does not wait.
func TestReadDoesNotWaitForBlockedWriter(t *testing.T) {
	peer, nc := tcpPair(t)
	c := newConn(nc, true, nil, &Options{}, negotiated{})
	defer c.CloseNow()
	c.writeMu.Lock()
	var frames []byte
	for i := range 3 {
		frames = append(frames, clientFrame(true, opPing, fmt.Sprint(i))...)
	}
	frames = append(frames, clientFrame(true, opText, "after the pings")...)
	if _, err := peer.Write(frames); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		_, msg, err := c.ReadMessage()
		if err != nil {
			got <- err.Error()
		}
		got <- string(msg)
	}()
	if msg := awaitValue(t, got); msg != "after the pings" {
		t.Fatalf("read %q", msg)
	}
	c.unlockWrite(true)
	peer.SetReadDeadline(time.Now().Add(testTimeout))
	want := string(unmaskedFrame(true, opPong, "0")) + string(unmaskedFrame(true, opPong, "1")) + string(unmaskedFrame(true, opPong, "2"))
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != want {
		t.Fatalf("after the unlock the peer read % x, %v; want % x", buf, err, want)
	}
}

// TestPingFloodCoalesced checks that a flood of pings sent faster than the
// server answers is answered with few pongs, the last of them for the last
// ping, and that a message after the flood is still echoed.
func TestPingFloodCoalesced(t *testing.T) {
	addr, done := serveConn(t, Options{}, echoHandler)
	c := connect(t, addr)
	const pings = 20000
	var flood strings.Builder
	for i := range pings {
		flood.Write(clientFrame(true, opPing, fmt.Sprint(i)))
	}
	flood.Write(clientFrame(true, opText, "end"))
	go c.conn.Write([]byte(flood.String()))
	pongs, last := 0, -1
	for {
		h, p := c.nextFrame()
		if h.opcode == opText {
			break
		}
		if h.opcode != opPong {
			t.Fatalf("frame %v", h.opcode)
		}
		var n int
		fmt.Sscan(string(p), &n)
		if n <= last {
			t.Fatalf("pong %d after pong %d", n, last)
		}
		pongs, last = pongs+1, n
	}
	if last != pings-1 {
		t.Fatalf("last pong answers ping %d, want %d", last, pings-1)
	}
	if pongs > pings/4 {
		t.Errorf("%d pongs for %d pings: not coalesced", pongs, pings)
	}
	t.Logf("%d pongs for %d pings", pongs, pings)
	c.closeHandshake()
	waitDone(t, done)
}

// BenchmarkPingFlood measures the server's cost of a ping in a flood.
func BenchmarkPingFlood(b *testing.B) {
	addr, _ := serveConn(b, Options{}, echoHandler)
	c := connect(b, addr)
	const batch = 1000
	var flood []byte
	for range batch {
		flood = append(flood, clientFrame(true, opPing, "")...)
	}
	flood = append(flood, clientFrame(true, opText, "x")...)
	b.ResetTimer()
	for range b.N / batch {
		go c.conn.Write(flood)
		for {
			if h, _ := c.nextFrame(); h.opcode == opText {
				break
			}
		}
	}
}
