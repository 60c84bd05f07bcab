//go:build !js

package websocket

import (
	"crypto/rand"
	mrand "math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// This file holds the Conn: its state, grouped by the lock that guards it,
// its construction from a network connection and the parameters the opening
// handshake settled, and its accessors and deadlines. The read path is in
// read.go, the write path in write.go, the closing handshake in close.go.

// Conn is a WebSocket connection, made by Upgrade, a Server or Handler on the
// server side, or by Dial on the client side.
//
// A Conn supports one concurrent reader and any number of concurrent writers;
// see the package documentation.
type Conn struct {
	// Set when the Conn is made, read-only afterwards.
	conn         net.Conn
	raw          syscall.RawConn // the socket, for reads and writes that do not wait; nil if conn is not a plain socket
	server       bool
	subprotocol  string
	readLimit    atomic.Int64 // see SetReadLimit
	closeTimeout time.Duration
	rsize, wsize int // sizes of the pooled read buffer and output queue
	onPong       func(*Conn, []byte)
	onPing       func(*Conn, []byte)
	compress     *compression // permessage-deflate, nil unless negotiated

	// Shared by both sides: the stXxx bits.
	state     atomic.Uint32
	closeWait atomic.Pointer[chan struct{}] // a Close waiting for the read under way to end (see awaitAnswer)
	readDL    atomic.Int64                  // the application's read deadline, in Unix nanoseconds; 0 for none
	writeDL   atomic.Int64                  // the application's write deadline, likewise
	done      atomic.Pointer[chan struct{}] // Done's channel, made on first use; closedDone once closed

	// Read side, guarded by readMu.
	readMu        sync.Mutex
	rbufp         *[]byte // the pooled read buffer, nil while none is held
	rbuf          []byte  // *rbufp
	rpos, rend    int     // buffered, unread bytes are rbuf[rpos:rend]
	frame         header  // the frame being read
	remain        int64   // its payload bytes not yet read
	msgLen        int64   // payload bytes of the message announced so far
	readErr       error   // sticky: once set, every read returns it
	rawRead       func(fd uintptr) bool
	rawErrno      syscall.Errno // the result of rawRead
	msgSeq        uint32        // counts messages, to detect stale readers
	msgOp         opcode        // opText or opBinary, the message being read
	fragmented    bool          // a data message has begun and its final frame is yet to come
	msgCompressed bool          // the message being read is compressed (RSV1 on its first frame)
	rawEOF        bool          // rawRead met the end of the stream
	replyDue      bool          // the peer's close frame awaits our answer (finishRead)
	utf8          utf8Validator // state of a text message's validation

	// Write side. msgMu is held for a whole data message, writeMu for each
	// frame, so control frames can go out between the fragments of a
	// message but never inside a frame. The fields below are guarded by
	// writeMu.
	msgMu      sync.Mutex
	writeMu    sync.Mutex
	outp       *[]byte     // the pooled output queue: frames not yet written, nil when empty
	writeErr   error       // sticky
	wextra     *writeExtra // what some connections' writes need, made on first use
	closeSent  bool        // our close frame is in the queue or on the wire
	timerArmed bool        // the flush timer will run

	keep *keepAlive // Options.KeepAlive, nil if off
	app  *appState  // the application's value and tracking, made on first use

	// Control frames the reader owes the peer, left for the holder of
	// writeMu to send (see write.go); guarded by ctlMu, which is never held
	// while waiting for anything.
	ctlMu sync.Mutex
	owed  *owedControl
}

// The bits of Conn.state.
const (
	stClosed           = 1 << iota // the network connection has been closed
	stPeerClosed                   // the peer's close frame has arrived intact
	stInputPending                 // the reader returned with a whole frame buffered, so writes may queue
	stClosing                      // our close frame has been sent or is owed: no more frames
	stOwed                         // c.owed holds control frames to send
	stCloseWhenFlushed             // close the network connection once the output queue is written
)

// has reports whether any of the state bits in mask is set.
func (c *Conn) has(mask uint32) bool { return c.state.Load()&mask != 0 }

// newConn makes a Conn over nc. buffered holds bytes already read from nc
// that belong to the WebSocket stream.
func newConn(nc net.Conn, server bool, buffered []byte, o *Options, neg negotiated) *Conn {
	c := &Conn{
		conn:         nc,
		server:       server,
		subprotocol:  neg.subprotocol,
		closeTimeout: o.CloseTimeout,
		rsize:        bufferSize(o.ReadBufferSize),
		wsize:        bufferSize(o.WriteBufferSize),
		onPong:       o.OnPong,
		onPing:       o.OnPing,
	}
	c.SetReadLimit(o.ReadLimit)
	if c.closeTimeout <= 0 {
		c.closeTimeout = DefaultCloseTimeout
	}
	if len(buffered) > 0 {
		c.rsize = max(c.rsize, bufferSize(len(buffered)))
		c.takeReadBuffer()
		c.rend = copy(c.rbuf, buffered)
	}
	if !server {
		var seed [32]byte
		rand.Read(seed[:])
		c.writeExtra().maskRand = mrand.NewChaCha8(seed)
	}
	if neg.compress {
		c.compress = newCompression(neg.deflate, server, o.Compression)
	}
	c.startKeepAlive(o)
	if c.raw = rawSocket(nc); c.raw != nil {
		c.rawRead = c.readRaw
	}
	return c
}

// Done returns a channel that is closed once the network connection (over
// HTTP/2, the stream) has been closed: by Close, CloseNow, the end of the
// closing handshake the peer began, or a failure. Over HTTP/2 an
// http.Handler that called Upgrade must wait for it before returning; see
// Upgrade. The first call makes the channel.
func (c *Conn) Done() <-chan struct{} {
	p := c.done.Load()
	if p == nil {
		ch := make(chan struct{})
		if c.done.CompareAndSwap(nil, &ch) {
			return ch
		}
		p = c.done.Load()
	}
	return *p
}

// closedDone is the channel Done returns once the connection is closed.
var closedDone = func() *chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return &ch
}()

// Subprotocol returns the subprotocol chosen in the opening handshake, or ""
// if none was.
func (c *Conn) Subprotocol() string { return c.subprotocol }

// appState is what a Conn keeps for the application: the value of
// Server.Accept or SetValue, and the Server that tracks a connection from
// Server.Upgrade until it closes.
type appState struct {
	value  any
	server *Server
}

// appState returns c.app, making it on first use. The caller has c to
// itself or holds no other lock (Conn construction, Server.Upgrade).
func (c *Conn) appState() *appState {
	if c.app == nil {
		c.app = new(appState)
	}
	return c.app
}

// Value returns the value that Server.Accept returned for the connection,
// or that SetValue set: per-connection data such as the authenticated user.
// It returns nil if there is none.
func (c *Conn) Value() any {
	if c.app == nil {
		return nil
	}
	return c.app.value
}

// SetValue sets the value that Value returns. It is not safe to call
// concurrently with Value or SetValue: set it before the connection is
// shared between goroutines.
func (c *Conn) SetValue(v any) { c.appState().value = v }

// SetReadLimit sets the largest message, in bytes, that reads accept, as
// Options.ReadLimit does (n <= 0 restores DefaultReadLimit); a longer
// message fails the connection with status 1009. It takes effect from the
// next frame that arrives, and may be called at any time, from any
// goroutine: after authenticating a client, for instance.
func (c *Conn) SetReadLimit(n int64) {
	if n <= 0 {
		n = DefaultReadLimit
	}
	c.readLimit.Store(n)
}

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }
