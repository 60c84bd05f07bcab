//go:build !js

package websocket

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAppendMessageContextSoft checks that a read cancelled by its context
// while it waits for the next message leaves the connection usable.
func TestAppendMessageContextSoft(t *testing.T) {
	type result struct {
		err1, err2 error
		msg        string
	}
	results := make(chan result, 1)
	cancelled := make(chan struct{})
	addr, _ := serveConn(t, Options{}, func(c *Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		_, _, err1 := c.AppendMessageContext(ctx, nil)
		close(cancelled)
		_, msg, err2 := c.AppendMessageContext(context.Background(), nil)
		results <- result{err1, err2, string(msg)}
	})
	c := connect(t, addr)
	await(t, cancelled, "the first read to end")
	c.sendFrame(true, opText, []byte("next"))
	r := await(t, results, "the handler's reads")
	if !errors.Is(r.err1, context.DeadlineExceeded) {
		t.Errorf("cancelled read: %v, want context.DeadlineExceeded", r.err1)
	}
	if r.err2 != nil || r.msg != "next" {
		t.Errorf("read after the cancelled one: %q, %v", r.msg, r.err2)
	}
}

// TestWriteMessageContext checks that a write bounded by a context is sent
// before it returns, and that one blocked on a peer that does not read
// fails when the context ends.
func TestWriteMessageContext(t *testing.T) {
	peer, nc := tcpPair(t)
	c := newConn(nc, true, nil, &Options{}, negotiated{})
	defer c.CloseNow()
	if err := c.WriteMessageContext(context.Background(), TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	peer.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := peer.Read(got); err != nil || string(got) != "\x81\x02hi" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.WriteMessageContext(ctx, BinaryMessage, make([]byte, 64<<20))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write to a stalled peer: %v, want context.DeadlineExceeded", err)
	}
}

// TestAppendMessageContextRestoresDeadline checks that the read deadline
// a context cuts short applies only during the call: afterwards the one
// the application set is back in force, not the cut one, nor none.
func TestAppendMessageContextRestoresDeadline(t *testing.T) {
	_, nc := tcpPair(t)
	d := &deadlineConn{Conn: nc}
	c := newConn(d, true, nil, &Options{}, negotiated{})
	defer c.CloseNow()
	app := time.Now().Add(time.Hour)
	c.SetReadDeadline(app)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := c.AppendMessageContext(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read: %v, want context.DeadlineExceeded", err)
	}
	if got, _ := d.deadlines(); !got.Equal(app) {
		t.Errorf("read deadline after the call: %v, want the application's %v", got, app)
	}
}

// TestWriteMessageContextRestoresDeadline checks that a write whose
// context ends as the call ends leaves the application's write deadline in
// force, not the context's cut one, nor none: the frames that later writes
// queue are sent in the background within it. The context ends inside the
// call's last write, once the frame is out, so the write itself succeeds.
func TestWriteMessageContextRestoresDeadline(t *testing.T) {
	peer, nc := tcpPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	d := &deadlineConn{Conn: nc, afterWrite: cancel, writes: make(chan time.Time, 2)}
	c := newConn(d, true, nil, &Options{}, negotiated{})
	defer c.CloseNow()
	app := time.Now().Add(time.Hour)
	c.SetWriteDeadline(app)
	if err := c.WriteMessageContext(ctx, TextMessage, []byte("first")); err != nil {
		t.Fatalf("write: %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the context did not end inside the call")
	}
	<-d.writes // the call's own write
	if _, got := d.deadlines(); !got.Equal(app) {
		t.Errorf("write deadline after the call: %v, want the application's %v", got, app)
	}
	c.state.Or(stInputPending) // as if the peer's next frame were buffered
	if err := c.WriteMessage(TextMessage, []byte("queued")); err != nil {
		t.Fatal(err)
	}
	if got := await(t, d.writes, "the background flush"); !got.Equal(app) {
		t.Errorf("the background flush had the write deadline %v, want the application's %v", got, app)
	}
	peer.SetReadDeadline(time.Now().Add(testTimeout))
	want := "\x81\x05first\x81\x06queued"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != want {
		t.Fatalf("peer read %q, %v; want %q", got, err, want)
	}
}

// TestShortWriteDeadlineSparesPongs is gorilla's pattern: a short write
// deadline around each write. A pong the read sends later must not fail on
// the expired deadline, nor make the read fail.
func TestShortWriteDeadlineSparesPongs(t *testing.T) {
	readErr := make(chan error, 1)
	wrote := make(chan struct{})
	addr, _ := serveConn(t, Options{}, func(c *Conn) {
		c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
		c.WriteMessage(TextMessage, []byte("hello"))
		close(wrote)
		_, _, err := c.ReadMessage()
		readErr <- err
	})
	c := connect(t, addr)
	c.expectFrame(opText, "hello")
	await(t, wrote, "the write")
	time.Sleep(30 * time.Millisecond) // let the deadline pass: the point of the test, not synchronisation
	c.sendFrame(true, opPing, []byte("p"))
	c.expectFrame(opPong, "p")
	c.closeHandshake()
	var ce *CloseError
	if err := await(t, readErr, "the read"); !errors.As(err, &ce) {
		t.Fatalf("read: %v, want the peer's close", err)
	}
}

// TestPeerDropAfterPingIsReadError checks that when the peer drops the
// connection after a ping, the read reports a read-side error, not the
// failure of writing the pong.
func TestPeerDropAfterPingIsReadError(t *testing.T) {
	readErr := make(chan error, 1)
	addr, _ := serveConn(t, Options{}, func(c *Conn) {
		_, _, err := c.ReadMessage()
		readErr <- err
	})
	c := connect(t, addr)
	c.sendFrame(true, opPing, nil)
	c.conn.(*net.TCPConn).SetLinger(0)
	c.conn.Close()
	err := await(t, readErr, "the read")
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op != "read" {
		t.Fatalf("read: %v, from a %q, want a read error", err, oe.Op)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || err == nil {
		t.Fatalf("read: %v", err)
	}
}

// TestTimeoutAfterControlFrame checks that a read that answered a ping and
// then timed out waiting for the next data frame leaves the connection
// usable, as one that timed out before any frame does: the ping was no part
// of a message.
func TestTimeoutAfterControlFrame(t *testing.T) {
	c, peer := serverPair(t, Options{})
	peer.sendFrame(true, opPing, []byte("p"))
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := c.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing after the ping: %v, want a timeout", err)
	}
	peer.expectFrame(opPong, "p")
	c.SetReadDeadline(time.Now().Add(testTimeout))
	peer.sendFrame(true, opText, []byte("later"))
	typ, msg, err := c.ReadMessage()
	if err != nil || typ != TextMessage || string(msg) != "later" {
		t.Fatalf("read after the timeout: %v %q, %v; want the message", typ, msg, err)
	}
}

// closeRaceConn is a net.Conn whose SetReadDeadline, once armed, holds a
// zero deadline (a context read putting back "no deadline") until the same
// future deadline has been set twice (Close sets its own, then sets it
// again as it reads the peer's answer), or until done is closed.
type closeRaceConn struct {
	net.Conn
	armed  atomic.Bool
	done   <-chan struct{}
	second chan struct{}

	mu   sync.Mutex
	last time.Time
	seen int
}

// SetReadDeadline sets t, first holding a zero t as described above.
func (d *closeRaceConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() && d.armed.Load() {
		select {
		case <-d.second:
		case <-d.done:
		}
	} else if t.After(time.Now()) {
		d.mu.Lock()
		if t.Equal(d.last) {
			if d.seen++; d.seen == 2 {
				close(d.second)
			}
		} else {
			d.last, d.seen = t, 1
		}
		d.mu.Unlock()
	}
	return d.Conn.SetReadDeadline(t)
}

// TestContextReadSparesClosingRead checks that AppendMessageContext puts
// the application's read deadline back while it still holds the read side:
// a Close that waits for the read and then reads the peer's answer itself
// keeps its deadline. The context ends while Close waits (as when one
// shutdown cancels both); the Conn's connection lets the restore through
// only once Close has set its deadline for reading, which a restore under
// the read side never sees. Before, the restore wiped Close's deadline and
// Close waited forever for a peer that never answers.
func TestContextReadSparesClosingRead(t *testing.T) {
	const timeout = 200 * time.Millisecond
	peer, nc := tcpPair(t)
	go io.Copy(io.Discard, peer) // takes our close frame, never answers
	dc := &closeRaceConn{Conn: nc, second: make(chan struct{})}
	c := newConn(dc, true, nil, &Options{CloseTimeout: timeout}, negotiated{})
	defer c.CloseNow()
	dc.done = c.Done()
	ctx, cancel := context.WithCancel(context.Background())
	read := make(chan error, 1)
	go func() {
		_, _, err := c.AppendMessageContext(ctx, nil)
		read <- err
	}()
	for c.readMu.TryLock() {
		c.readMu.Unlock()
		runtime.Gosched() // until the read holds the read side
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close(StatusNormalClosure, "") }()
	for c.closeWait.Load() == nil {
		runtime.Gosched() // until Close waits for the read to end
	}
	dc.armed.Store(true)
	cancel()
	awaitCloseTimeout(t, c, closed, timeout)
	await(t, read, "the read")
}

// TestDeadlinesAfterCloseBegan checks that a deadline the application sets
// once Close has begun (as a read loop does before each read) does not
// lift the close timeout that bounds Close's wait for the peer's answer:
// Close reads the answer itself here, and the application clears the
// deadlines meanwhile. Before, Close then waited forever for a peer that
// never answers.
func TestDeadlinesAfterCloseBegan(t *testing.T) {
	const timeout = 200 * time.Millisecond
	peer, nc := tcpPair(t)
	go io.Copy(io.Discard, peer) // takes our close frame, never answers
	dc := &deadlineConn{Conn: nc}
	c := newConn(dc, true, nil, &Options{CloseTimeout: timeout}, negotiated{})
	defer c.CloseNow()
	closed := make(chan error, 1)
	go func() { closed <- c.Close(StatusNormalClosure, "") }()
	for {
		// Close sets its deadline, then again as it reads the answer.
		if ds := dc.readDeadlines(); len(ds) >= 2 && ds[1].Equal(ds[0]) {
			break
		}
		runtime.Gosched()
	}
	c.SetReadDeadline(time.Time{})
	c.SetDeadline(time.Time{})
	awaitCloseTimeout(t, c, closed, timeout)
}

// awaitCloseTimeout waits for the Close whose result comes on closed to
// give up on a peer that never answers, with ErrCloseTimeout, and fails
// the test if it still waits after testTimeout.
func awaitCloseTimeout(t *testing.T, c *Conn, closed <-chan error, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-closed:
		if !errors.Is(err, ErrCloseTimeout) {
			t.Errorf("Close: %v, want ErrCloseTimeout", err)
		}
	case <-time.After(testTimeout):
		c.CloseNow()
		t.Fatalf("Close with a close timeout of %v still waits after %v", timeout, testTimeout)
	}
}
