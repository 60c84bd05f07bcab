package main

// This file holds the client side: each client slot dials, runs a session
// of mixed traffic with one reader and several concurrent writers, ends it
// its own way (or sees the server end it), and dials again.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsproject/websocket"
)

// session is one client connection.
type session struct {
	r  *runner
	st *connState
	c  *websocket.Conn

	mu      sync.Mutex
	pending map[uint32]pendingMsg // messages being sent or awaiting their echo
	nextMsg atomic.Uint32

	closing    atomic.Bool // Close or CloseNow has begun: leave deadlines alone
	stop       chan struct{}
	stopOnce   sync.Once
	writers    sync.WaitGroup
	readerDone chan struct{}
	pingPrefix []byte
	pingSeq    atomic.Int64
}

// pendingMsg is what the echo of a message must match.
type pendingMsg struct {
	typ  websocket.MessageType
	size int
}

// idleTimeout is the client's read deadline, extended by every echo and
// pong: the server pings every few seconds, so it only fires if the
// connection hangs.
const idleTimeout = 60 * time.Second

// clientLoop runs sessions one after the other until the run stops.
func (r *runner) clientLoop() {
	defer r.recoverPanic("client loop")
	if !sleepCtx(r.ctx, rand.N(r.cfg.ramp+1)) {
		return
	}
	backoff := 50 * time.Millisecond
	for r.ctx.Err() == nil {
		pause := rand.N(200 * time.Millisecond)
		if r.session() {
			backoff = 50 * time.Millisecond
		} else {
			pause, backoff = backoff, min(2*backoff, time.Second)
		}
		sleepCtx(r.ctx, pause)
	}
}

// sleepCtx sleeps for d or until ctx ends; it reports whether it slept d.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// session dials the current server and runs one session; it reports whether
// the dial succeeded.
func (r *runner) session() bool {
	st := &connState{id: r.nextID.Add(1), srvDone: make(chan struct{})}
	registry.Store(st.id, st)
	defer registry.Delete(st.id)
	ss := &session{r: r, st: st, pending: make(map[uint32]pendingMsg), stop: make(chan struct{}),
		readerDone: make(chan struct{}), pingPrefix: fmt.Appendf(nil, "cp%016x:", st.id)}
	opts := &websocket.DialOptions{Options: websocket.Options{
		CloseTimeout: r.cfg.closeTimeout, ReadLimit: int64(r.cfg.maxSize), OnPong: ss.onPong,
		ReadBufferSize: randBufferSize(), WriteBufferSize: randBufferSize()}}
	if rand.Float64() < r.cfg.tap {
		opts.NetDialContext = dialTapped(st)
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	c, _, err := websocket.Dial(ctx, r.cur.Load().url, opts)
	cancel()
	if err != nil {
		r.s.dialFailed.Add(1)
		if !r.ending() {
			r.s.kind("dial", err)
		}
		return false
	}
	r.s.connsOpened.Add(1)
	ss.c = c
	ss.run()
	r.s.connsClosed.Add(1)
	return true
}

// run sends the hello, starts the reader and the writers, waits for the
// session's lifetime, the end of the run or the server's close, and ends
// the session.
func (ss *session) run() {
	r, c, st := ss.r, ss.c, ss.st
	if err := c.WriteMessage(websocket.BinaryMessage, helloMessage(st.id)); err != nil {
		r.s.kind("client hello", err)
	}
	go ss.reader()
	for range r.cfg.writers {
		ss.writers.Add(1)
		go ss.writer()
	}
	life := time.NewTimer(expDuration(r.cfg.life))
	defer life.Stop()
	select {
	case <-life.C:
		ss.act()
	case <-r.ctx.Done():
		ss.closeClient(websocket.StatusNormalClosure, false)
	case <-ss.readerDone:
	}
	ss.end()
}

// act ends the session as the client: Close with a code while the writers
// go on, Close after stopping them, or CloseNow.
func (ss *session) act() {
	switch p := rand.N(100); {
	case p < 60:
		ss.closeClient(randCloseCode(), false)
	case p < 85:
		ss.closeClient(randCloseCode(), true)
	default:
		ss.st.cliAbort.Store(true)
		ss.closing.Store(true)
		ss.r.s.kind("client CloseNow", ss.c.CloseNow())
	}
}

// randCloseCode draws a status code a client may close with.
func randCloseCode() websocket.StatusCode {
	switch rand.N(4) {
	case 0:
		return websocket.StatusNormalClosure
	case 1:
		return websocket.StatusGoingAway
	case 2:
		return websocket.StatusCode(3000 + rand.N(1000))
	}
	return websocket.StatusCode(4000 + rand.N(1000))
}

// closeClient closes the connection with code, first stopping the writers
// if stopFirst; the reader goes on reading meanwhile.
func (ss *session) closeClient(code websocket.StatusCode, stopFirst bool) {
	if stopFirst {
		ss.stopWriters()
		ss.wait("writers before Close", ss.writersDone())
	}
	ss.st.cliCode = code
	ss.st.cliClose.Store(true)
	ss.closing.Store(true)
	start := time.Now()
	ss.st.cliClosed = ss.c.Close(code, clientReason(code))
	ss.r.slowClose(start, ss.st.srvAbort.Load())
	ss.r.s.kind("client Close", ss.st.cliClosed)
}

// stopWriters tells the writers to stop after their current message.
func (ss *session) stopWriters() { ss.stopOnce.Do(func() { close(ss.stop) }) }

// writersDone returns a channel closed when all writers have returned.
func (ss *session) writersDone() chan struct{} {
	ch := make(chan struct{})
	go func() {
		ss.writers.Wait()
		close(ch)
	}()
	return ch
}

// wait waits for ch, bounded by twice the close timeout and 5 s; a goroutine
// that takes longer is stuck, which is recorded, and the connection is
// closed at once to free it. It reports whether ch was closed.
func (ss *session) wait(what string, ch chan struct{}) bool {
	bound := 2*ss.r.cfg.closeTimeout + 5*time.Second
	select {
	case <-ch:
		return true
	case <-time.After(bound):
	}
	ss.r.s.incident(&ss.r.s.unexpected, "conn %d: %s still running %v after the connection ended", ss.st.id, what, bound)
	ss.c.CloseNow()
	select {
	case <-ch:
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

// end joins the reader and the writers, closes the network connection (if
// nothing has), waits for the server's side and does the accounting.
func (ss *session) end() {
	s, st := ss.r.s, ss.st
	ss.stopWriters()
	readerOK := ss.wait("reader", ss.readerDone)
	writersOK := ss.wait("writers", ss.writersDone())
	var ce *websocket.CloseError
	if readerOK && errors.As(st.cliReadErr, &ce) && !ss.closing.Load() {
		// The reader met the server's close frame, answered it and
		// closed the connection: Close has nothing left to do.
		if err := ss.c.Close(websocket.StatusNormalClosure, "late"); err != websocket.ErrClosed {
			s.incident(&s.unexpected, "conn %d: Close after the server's close frame returned %v, want ErrClosed", st.id, err)
		}
	}
	ss.c.CloseNow()
	if !st.attach.CompareAndSwap(attachNew, attachAbandoned) {
		select {
		case <-st.srvDone:
		case <-time.After(2*ss.r.cfg.closeTimeout + 5*time.Second):
			s.incident(&s.unexpected, "conn %d: the server's handler did not return after the connection ended", st.id)
			return
		}
	}
	if readerOK && writersOK {
		st.settle(s)
	}
}

// reader reads and checks echoes until a read fails.
func (ss *session) reader() {
	defer close(ss.readerDone)
	defer ss.r.recoverPanic("client reader")
	var buf []byte
	for {
		if !ss.closing.Load() {
			ss.c.SetReadDeadline(time.Now().Add(idleTimeout))
		}
		var err error
		switch rand.N(3) {
		case 0:
			buf, err = ss.readAppend(buf)
			buf = keepSmall(buf)
		case 1:
			err = ss.readWhole()
		default:
			err = ss.readStream()
		}
		if err != nil {
			ss.st.cliReadErr = err
			ss.r.s.kind("client read", err)
			return
		}
	}
}

// readAppend reads one echo with AppendMessage.
func (ss *session) readAppend(buf []byte) ([]byte, error) {
	typ, msg, err := ss.c.AppendMessage(buf[:0])
	if err == nil {
		var k checker
		k.Write(msg)
		ss.gotEcho(typ, &k)
	}
	return msg, err
}

// readWhole reads one echo with ReadMessage.
func (ss *session) readWhole() error {
	typ, msg, err := ss.c.ReadMessage()
	if err == nil {
		var k checker
		k.Write(msg)
		ss.gotEcho(typ, &k)
	}
	return err
}

// readStream reads one echo through NextReader, in pieces.
func (ss *session) readStream() error {
	typ, rd, err := ss.c.NextReader()
	if err != nil {
		return err
	}
	cp := chunks.Get().(*[32 << 10]byte)
	defer chunks.Put(cp)
	chunk := cp[:]
	var k checker
	for {
		n, err := rd.Read(chunk[:1+rand.N(len(chunk))])
		k.Write(chunk[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	ss.gotEcho(typ, &k)
	return nil
}

// gotEcho checks an echo against the message it answers and counts it.
func (ss *session) gotEcho(typ websocket.MessageType, k *checker) {
	s := ss.r.s
	id, n, ok := k.result()
	ss.mu.Lock()
	m, found := ss.pending[id]
	delete(ss.pending, id)
	ss.mu.Unlock()
	switch {
	case !ok:
		s.incident(&s.corrupt, "conn %d: corrupt echo (id %d, %d bytes)", ss.st.id, id, n)
	case !found:
		s.incident(&s.corrupt, "conn %d: echo of message %d, which is not awaiting one", ss.st.id, id)
	case m.typ != typ || m.size != n:
		s.incident(&s.corrupt, "conn %d: echo of message %d is %v of %d bytes, sent %v of %d", ss.st.id, id, typ, n, m.typ, m.size)
	}
	if found {
		ss.st.echoed.Add(1)
		s.echoed.Add(1)
		s.bytesEchoed.Add(int64(n))
	}
}

// writer sends messages at the configured rate, shared with the other
// writers of the connection, until told to stop or a write fails.
func (ss *session) writer() {
	defer ss.writers.Done()
	defer ss.r.recoverPanic("client writer")
	mean := time.Duration(float64(time.Second) * float64(ss.r.cfg.writers) / ss.r.cfg.rate)
	t := time.NewTimer(expDuration(mean))
	defer t.Stop()
	var buf []byte
	for {
		select {
		case <-ss.stop:
			return
		case <-t.C:
		}
		var err error
		switch p := rand.N(100); {
		case p < 4:
			err = ss.burst(&buf)
		case p < 10:
			err = ss.ping()
		case p < 35:
			err = ss.sendStream()
		default:
			err = ss.send(&buf, randSize(ss.r.cfg.maxSize))
		}
		if err != nil {
			ss.r.s.kind("client write", err)
			return
		}
		t.Reset(expDuration(mean))
	}
}

// bufferSizes are the read and write buffer sizes connections use, so that
// fragments, queued frames and direct writes come in every proportion; 0 is
// the default.
var bufferSizes = []int{0, 0, 256, 1 << 10, 4 << 10, 64 << 10}

// randBufferSize draws one of bufferSizes.
func randBufferSize() int { return bufferSizes[rand.N(len(bufferSizes))] }

// randType draws a message type, text one time in three.
func randType() websocket.MessageType {
	if rand.N(3) == 0 {
		return websocket.TextMessage
	}
	return websocket.BinaryMessage
}

// register records a message about to be sent and returns its id; the echo
// may arrive before the write returns.
func (ss *session) register(typ websocket.MessageType, size int) uint32 {
	id := ss.nextMsg.Add(1)
	ss.mu.Lock()
	ss.pending[id] = pendingMsg{typ, size}
	ss.mu.Unlock()
	return id
}

// written counts a message whose write succeeded, or forgets one whose
// write failed: it was not sent, or not whole.
func (ss *session) written(id uint32, size int, err error) {
	if err != nil {
		ss.mu.Lock()
		delete(ss.pending, id)
		ss.mu.Unlock()
		return
	}
	ss.st.sent.Add(1)
	ss.r.s.sent.Add(1)
	ss.r.s.bytesSent.Add(int64(size))
}

// send sends one message of about size bytes with WriteMessage.
func (ss *session) send(buf *[]byte, size int) error {
	typ := randType()
	body := ss.r.bodies.body(typ, size-hdrLen)
	id := ss.register(typ, hdrLen+len(body))
	b := append((*buf)[:0], zeroHeader[:]...)
	putHeader(b, id, crcOf(body))
	b = append(b, body...)
	*buf = keepSmall(b)
	err := ss.c.WriteMessage(typ, b)
	ss.written(id, len(b), err)
	return err
}

// sendStream sends one message through NextWriter, in writes of random
// sizes, some larger than the write buffer.
func (ss *session) sendStream() error {
	typ := randType()
	body := ss.r.bodies.body(typ, randSize(ss.r.cfg.maxSize)-hdrLen)
	id := ss.register(typ, hdrLen+len(body))
	w, err := ss.c.NextWriter(typ)
	if err != nil {
		ss.written(id, 0, err)
		return err
	}
	var hdr [hdrLen]byte
	putHeader(hdr[:], id, crcOf(body))
	_, err = w.Write(hdr[:])
	for p := body; err == nil && len(p) > 0; {
		k := min(len(p), 1+rand.N(40<<10))
		_, err = w.Write(p[:k])
		p = p[k:]
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	ss.written(id, hdrLen+len(body), err)
	return err
}

// burst sends a few small messages back to back, so the server finds
// several waiting, and sometimes flushes after them.
func (ss *session) burst(buf *[]byte) error {
	for range 3 + rand.N(10) {
		if err := ss.send(buf, hdrLen+rand.N(200)); err != nil {
			return err
		}
	}
	if rand.N(2) == 0 {
		return ss.c.Flush()
	}
	return nil
}

// ping sends a ping whose payload names the connection.
func (ss *session) ping() error {
	p := strconv.AppendInt(append([]byte(nil), ss.pingPrefix...), ss.pingSeq.Add(1), 10)
	if err := ss.c.Ping(p); err != nil {
		return err
	}
	ss.r.s.cliPings.Add(1)
	return nil
}

// onPong is the client's OnPong: the payload must be one of this
// connection's pings; the pong extends the read deadline.
func (ss *session) onPong(c *websocket.Conn, p []byte) {
	if len(p) < len(ss.pingPrefix) || string(p[:len(ss.pingPrefix)]) != string(ss.pingPrefix) {
		ss.r.s.incident(&ss.r.s.corrupt, "conn %d: client got pong %q", ss.st.id, p)
		return
	}
	ss.r.s.cliPongs.Add(1)
	if !ss.closing.Load() {
		c.SetReadDeadline(time.Now().Add(idleTimeout))
	}
}

// expDuration draws an exponentially distributed duration with the given
// mean, capped at ten times the mean.
func expDuration(mean time.Duration) time.Duration {
	return time.Duration(min(rand.ExpFloat64(), 10) * float64(mean))
}
