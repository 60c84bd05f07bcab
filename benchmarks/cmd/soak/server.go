package main

// This file holds the server side: epochs (one Server on one listener,
// served by Server.Serve or by an http.Server, alternately), their echo
// handler with its own closes, the server's pings, and Shutdown.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsproject/websocket"
)

// epoch is one server generation: a listener, the Server on it, and the
// connections its handler serves.
type epoch struct {
	r       *runner
	n       int
	mode    string // "Serve" or "http.Server", and the buffer sizes
	srv     *websocket.Server
	httpSrv *http.Server
	url     string
	down    atomic.Bool // Shutdown has begun, at downAt
	downAt  time.Time
	live    sync.Map // *websocket.Conn -> *srvConn, for the pinger and OnPong

	// How long the handlers took to return after Shutdown began: those
	// within its timeout and the last of them, and those after it.
	endMu                 sync.Mutex
	endedEarly, endedLate int
	lastEarly             time.Duration

	served     chan struct{} // closed when Serve (or the http.Server) returns
	stopPinger chan struct{}
	pingerDone chan struct{}
}

// srvConn is the server's per-connection record for pings.
type srvConn struct {
	st       *connState
	prefix   []byte    // of this connection's ping payloads
	nextPing time.Time // owned by the pinger
	seq      int
}

// srvAction is what the server does to a connection when its lifetime ends.
type srvAction int

const (
	srvCloseInHandler srvAction = iota // Close from the handler, between messages
	srvCloseAsync                      // Close from another goroutine, during a read
	srvReturn                          // return from the handler: the Server closes with 1000
	srvAbortInHandler                  // CloseNow from the handler
	srvAbortAsync                      // CloseNow from another goroutine
)

// pickSrvAction draws a server action: mostly closes, some aborts.
func pickSrvAction() srvAction {
	switch p := rand.N(100); {
	case p < 35:
		return srvCloseInHandler
	case p < 60:
		return srvCloseAsync
	case p < 80:
		return srvReturn
	case p < 90:
		return srvAbortInHandler
	}
	return srvAbortAsync
}

// startEpoch listens on a new port of 127.0.0.1 and serves there, through
// Server.Serve for even n and an http.Server for odd n.
func (r *runner) startEpoch(n int) (*epoch, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ep := &epoch{r: r, n: n, url: "ws://" + ln.Addr().String() + "/soak",
		served: make(chan struct{}), stopPinger: make(chan struct{}), pingerDone: make(chan struct{})}
	ep.srv = &websocket.Server{
		Options: websocket.Options{CloseTimeout: r.cfg.closeTimeout, ReadLimit: int64(r.cfg.maxSize), OnPong: ep.onPong,
			ReadBufferSize: bufferSizes[n%len(bufferSizes)], WriteBufferSize: bufferSizes[(n/2)%len(bufferSizes)]},
		Handler: ep.handle,
	}
	bufs := fmt.Sprintf(", buffers %d/%d", ep.srv.ReadBufferSize, ep.srv.WriteBufferSize)
	var serve func() error
	if n%2 == 0 {
		ep.mode = "Serve" + bufs
		serve = func() error { return ep.srv.Serve(ln) }
	} else {
		ep.mode = "http.Server" + bufs
		ep.httpSrv = &http.Server{Handler: ep.srv, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(r.logs, "http.Server: ", 0)}
		serve = func() error { return ep.httpSrv.Serve(ln) }
	}
	go func() {
		defer close(ep.served)
		if err := serve(); !errors.Is(err, http.ErrServerClosed) {
			r.s.incident(&r.s.unexpected, "epoch %d (%s): serving returned %v", n, ep.mode, err)
		}
	}()
	go ep.pinger()
	return ep, nil
}

// shutdown shuts the epoch down: the http.Server first (it forgets upgraded
// connections), then the websocket.Server, each within the timeout, and
// waits (bounded) for serving and the pinger to end.
func (ep *epoch) shutdown(timeout time.Duration) {
	s := ep.r.s
	s.shutdowns.Add(1)
	ep.downAt = time.Now()
	ep.down.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if ep.httpSrv != nil {
		s.kind("http.Server.Shutdown", ep.httpSrv.Shutdown(ctx))
	}
	if err := ep.srv.Shutdown(ctx); err != nil {
		s.kind("Server.Shutdown", err)
		ep.endMu.Lock()
		s.incident(&s.shutdownTimeouts, "epoch %d (%s): Shutdown returned %v after %v; of its handlers, %d returned within %v, %d after the timeout",
			ep.n, ep.mode, err, time.Since(ep.downAt).Round(time.Millisecond), ep.endedEarly, ep.lastEarly.Round(time.Millisecond), ep.endedLate)
		ep.endMu.Unlock()
	}
	close(ep.stopPinger)
	for _, ch := range []chan struct{}{ep.served, ep.pingerDone} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			s.incident(&s.unexpected, "epoch %d (%s): serving or pinger did not end 5 s after Shutdown", ep.n, ep.mode)
		}
	}
}

// slowClose records a Close, begun at start, that waited at least
// 90 % of the close timeout; peerAborted says whether the peer had called
// CloseNow by the time it returned.
func (r *runner) slowClose(start time.Time, peerAborted bool) {
	d := time.Since(start)
	if d < r.cfg.closeTimeout*9/10 {
		return
	}
	r.s.slowCloses.Add(1)
	if peerAborted {
		r.s.slowAfterAbort.Add(1)
	}
}

// recoverPanic counts a panic of the calling goroutine, with its stack.
func (r *runner) recoverPanic(where string) {
	if p := recover(); p != nil {
		r.s.incident(&r.s.panics, "panic in %s: %v\n%s", where, p, debug.Stack())
	}
}

// handle is the Handler: it reads the hello, echoes every message, and
// ends the connection its own way when its lifetime is over.
func (ep *epoch) handle(c *websocket.Conn) {
	r := ep.r
	defer r.recoverPanic("server handler")
	st := ep.hello(c)
	if st == nil {
		return
	}
	defer close(st.srvDone)
	r.s.srvAccepted.Add(1)
	r.s.srvLive.Add(1)
	defer r.s.srvLive.Add(-1)
	st.srvMode = ep.mode
	prefix := fmt.Appendf(nil, "sp%016x:", st.id)
	ep.live.Store(c, &srvConn{st: st, prefix: prefix, nextPing: time.Now().Add(rand.N(r.cfg.pingEvery))})
	defer ep.live.Delete(c)

	act, life := pickSrvAction(), expDuration(r.cfg.srvLife)
	var async *time.Timer
	asyncDone := make(chan struct{})
	if act == srvCloseAsync || act == srvAbortAsync {
		async = time.AfterFunc(life, func() {
			defer close(asyncDone)
			defer r.recoverPanic("server async close")
			ep.act(c, st, act)
		})
	}
	st.srvReadErr = ep.echoLoop(c, st, act, time.Now().Add(life))
	r.s.kind("server read", st.srvReadErr)
	if async != nil && !async.Stop() {
		<-asyncDone // bounded by the close timeout
	}
	if st.srvShutdown = ep.down.Load(); st.srvShutdown {
		ep.handlerEnded()
	}
}

// handlerEnded records how long after the start of Shutdown a handler
// returned.
func (ep *epoch) handlerEnded() {
	d := time.Since(ep.downAt)
	ep.endMu.Lock()
	defer ep.endMu.Unlock()
	if d < ep.r.cfg.shutdownTimeout {
		ep.endedEarly++
		ep.lastEarly = max(ep.lastEarly, d)
	} else {
		ep.endedLate++
	}
}

// hello reads the client's first message and returns the connection's
// shared state, or nil if there is none to serve.
func (ep *epoch) hello(c *websocket.Conn) *connState {
	s := ep.r.s
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := c.ReadMessage()
	if err != nil {
		s.kind("server hello", err)
		return nil
	}
	c.SetReadDeadline(time.Time{})
	rest, ok := bytes.CutPrefix(msg, []byte(helloPrefix))
	id, err := strconv.ParseUint(string(rest), 16, 64)
	if !ok || err != nil {
		s.incident(&s.corrupt, "server: bad hello %q", msg)
		return nil
	}
	v, found := registry.Load(id)
	if !found {
		// The client gave up on the connection before this read.
		if id > ep.r.nextID.Load() {
			s.incident(&s.corrupt, "server: hello names unknown connection %d", id)
		}
		return nil
	}
	st := v.(*connState)
	if !st.attach.CompareAndSwap(attachNew, attachServer) {
		return nil
	}
	return st
}

// echoLoop echoes messages until a read fails or, for an action taken in
// the handler, the lifetime ends; it returns the read's error, or nil after
// such an action.
func (ep *epoch) echoLoop(c *websocket.Conn, st *connState, act srvAction, end time.Time) error {
	var buf []byte
	for {
		if act != srvCloseAsync && act != srvAbortAsync && time.Now().After(end) {
			ep.act(c, st, act)
			return nil
		}
		var err error
		switch rand.N(3) {
		case 0:
			buf, err = ep.echoAppend(c, st, buf)
			buf = keepSmall(buf)
		case 1:
			err = ep.echoWhole(c, st)
		default:
			err = ep.echoStream(c, st)
		}
		if err != nil {
			return err
		}
	}
}

// act ends the connection as the server: Close with an application code,
// CloseNow, or (for srvReturn) nothing but the records, as the handler
// returns and the Server closes with 1000.
func (ep *epoch) act(c *websocket.Conn, st *connState, act srvAction) {
	s := ep.r.s
	switch act {
	case srvCloseInHandler, srvCloseAsync:
		st.srvCode = websocket.StatusCode(4000 + rand.N(1000))
		st.srvReason = fmt.Sprintf("s%d", int(st.srvCode))
		st.srvClose.Store(true)
		start := time.Now()
		err := c.Close(st.srvCode, st.srvReason)
		ep.r.slowClose(start, st.cliAbort.Load())
		s.kind("server Close", err)
	case srvReturn:
		st.srvCode, st.srvReason = websocket.StatusNormalClosure, ""
		st.srvClose.Store(true)
	default:
		st.srvAbort.Store(true)
		s.kind("server CloseNow", c.CloseNow())
	}
}

// echoAppend echoes one message read with AppendMessage.
func (ep *epoch) echoAppend(c *websocket.Conn, st *connState, buf []byte) ([]byte, error) {
	typ, msg, err := c.AppendMessage(buf[:0])
	if err != nil {
		return msg, err
	}
	ep.echoed(c, st, typ, msg)
	return msg, nil
}

// echoWhole echoes one message read with ReadMessage.
func (ep *epoch) echoWhole(c *websocket.Conn, st *connState) error {
	typ, msg, err := c.ReadMessage()
	if err != nil {
		return err
	}
	ep.echoed(c, st, typ, msg)
	return nil
}

// echoed checks a message read whole, counts it, and writes it back. A
// failed write is counted; the read that follows tells how the connection
// ended.
func (ep *epoch) echoed(c *websocket.Conn, st *connState, typ websocket.MessageType, msg []byte) {
	var k checker
	k.Write(msg)
	ep.check(st, &k)
	st.srvRead.Add(1)
	if err := c.WriteMessage(typ, msg); err != nil {
		ep.r.s.kind("server write", err)
		return
	}
	st.srvEchoed.Add(1)
}

// echoStream echoes one message from NextReader to NextWriter, in chunks of
// random sizes, so the echo goes out in fragments.
func (ep *epoch) echoStream(c *websocket.Conn, st *connState) error {
	typ, rd, err := c.NextReader()
	if err != nil {
		return err
	}
	cp := chunks.Get().(*[32 << 10]byte)
	defer chunks.Put(cp)
	chunk := cp[:]
	w, werr := c.NextWriter(typ)
	if werr != nil {
		return werr // only for a bad message type
	}
	var k checker
	for {
		n, rerr := rd.Read(chunk[:1+rand.N(len(chunk))])
		k.Write(chunk[:n])
		if werr == nil {
			_, werr = w.Write(chunk[:n])
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			w.Close()
			return rerr
		}
	}
	if cerr := w.Close(); werr == nil {
		werr = cerr
	}
	ep.check(st, &k)
	st.srvRead.Add(1)
	if werr != nil {
		ep.r.s.kind("server write", werr)
		return nil
	}
	st.srvEchoed.Add(1)
	return nil
}

// check records a message whose header or checksum is wrong.
func (ep *epoch) check(st *connState, k *checker) {
	if id, n, ok := k.result(); !ok {
		ep.r.s.incident(&ep.r.s.corrupt, "conn %d: server read a corrupt message (id %d, %d bytes)", st.id, id, n)
	}
}

// pinger pings each of the epoch's connections about every pingEvery, from
// its own goroutine, at the same time as the handlers read and write.
func (ep *epoch) pinger() {
	defer close(ep.pingerDone)
	defer ep.r.recoverPanic("server pinger")
	t := time.NewTicker(ep.r.cfg.pingEvery / 4)
	defer t.Stop()
	for {
		select {
		case <-ep.stopPinger:
			return
		case <-t.C:
		}
		now := time.Now()
		ep.live.Range(func(k, v any) bool {
			c, sc := k.(*websocket.Conn), v.(*srvConn)
			if now.Before(sc.nextPing) {
				return true
			}
			sc.nextPing = now.Add(ep.r.cfg.pingEvery/2 + rand.N(ep.r.cfg.pingEvery))
			sc.seq++
			if err := c.Ping(strconv.AppendInt(bytes.Clone(sc.prefix), int64(sc.seq), 10)); err == nil {
				ep.r.s.srvPings.Add(1)
			}
			return true
		})
	}
}

// onPong is the server's OnPong: the payload must be one of this
// connection's pings.
func (ep *epoch) onPong(c *websocket.Conn, p []byte) {
	v, ok := ep.live.Load(c)
	if !ok {
		return
	}
	if sc := v.(*srvConn); !bytes.HasPrefix(p, sc.prefix) {
		ep.r.s.incident(&ep.r.s.corrupt, "conn %d: server got pong %q", sc.st.id, p)
		return
	}
	ep.r.s.srvPongs.Add(1)
}

// helloMessage is the first message of connection id.
func helloMessage(id uint64) []byte {
	var raw [8]byte
	for i := range raw {
		raw[i] = byte(id >> (56 - 8*i))
	}
	return append([]byte(helloPrefix), hex.EncodeToString(raw[:])...)
}
