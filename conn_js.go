//go:build js && wasm

package websocket

// This file holds the Conn of the browser (GOOS=js): a WebSocket object of
// the page, driven through syscall/js. It has the Conn's state, the
// handlers of the WebSocket's events, the accessors and the deadlines. Dial
// is in dial_js.go, reads in read_js.go, writes in write_js.go, and Close in
// close_js.go.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"
)

// Conn is a WebSocket connection opened by Dial over the browser's own
// WebSocket object.
//
// A Conn supports one concurrent reader and any number of concurrent
// writers; see the package documentation, and its section on the browser
// for what the browser's WebSocket allows.
type Conn struct {
	// Set when the Conn is made, read-only afterwards (but for the
	// subprotocol and compression, set by Dial before it returns the Conn).
	ws           js.Value // the browser's WebSocket object
	subprotocol  string
	compressed   bool
	closeTimeout time.Duration
	highWater    int           // bufferedAmount above which writes wait
	readLimit    atomic.Int64  // see SetReadLimit
	handlers     []js.Func     // the event handlers, released once detached
	opened       chan struct{} // closed by the open event
	value        any

	// Guarded by mu, which is held only briefly, never while waiting: the
	// event handlers take it on the browser's event loop.
	mu      sync.Mutex
	queue   []inMessage // messages received and not yet read, oldest first
	queued  int64       // their cost, as queueCost counts it
	readErr error       // what reads return once the queue is empty
	closing bool        // a close has begun: Close, CloseNow, a failure or the peer's
	clean   bool        // the close event said the closing handshake completed
	over    bool        // done has been closed and the handlers detached

	done    chan struct{} // closed when the connection is over (Done)
	arrived chan struct{} // holds a token when a message or the end has come for the reader
	readMu  sync.Mutex    // one read at a time
	msgSeq  atomic.Uint64 // counts the messages read, to detect stale readers
	readDL  deadline
	writeDL deadline
}

// inMessage is a message received from the browser: text as a string, as
// the browser hands it over, and binary as bytes.
type inMessage struct {
	typ  MessageType
	text string
	data []byte
}

// size returns the length of the message's payload in bytes.
func (m *inMessage) size() int {
	if m.typ == TextMessage {
		return len(m.text)
	}
	return len(m.data)
}

// queueCost is what a queued message counts against the read queue's
// bound, beyond its payload: the bookkeeping of an empty message.
const queueCost = 64

// errFellBehind is the error reads return after the read queue overflowed.
var errFellBehind = errors.New("websocket: the application read too slowly: unread messages exceeded the read limit; connection closed")

// errClosedNow is what reads return after CloseNow, or after Close gave up
// waiting for the peer.
var errClosedNow = fmt.Errorf("%w (%w)", ErrClosed, net.ErrClosed)

// newConn makes a Conn for the WebSocket ws, which the browser is opening,
// and listens to its events.
func newConn(ws js.Value, o *Options) *Conn {
	c := &Conn{
		ws:           ws,
		closeTimeout: o.CloseTimeout,
		highWater:    bufferSize(o.WriteBufferSize),
		opened:       make(chan struct{}),
		done:         make(chan struct{}),
		arrived:      make(chan struct{}, 1),
	}
	if c.closeTimeout <= 0 {
		c.closeTimeout = DefaultCloseTimeout
	}
	c.SetReadLimit(o.ReadLimit)
	ws.Set("binaryType", "arraybuffer")
	c.listen("onopen", func(js.Value) { close(c.opened) })
	c.listen("onmessage", c.onMessage)
	c.listen("onclose", c.onClose)
	return c
}

// listen sets the WebSocket's event handler property name to a function
// that calls h with the event.
func (c *Conn) listen(name string, h func(event js.Value)) {
	f := js.FuncOf(func(this js.Value, args []js.Value) any {
		h(args[0])
		return nil
	})
	c.handlers = append(c.handlers, f)
	c.ws.Set(name, f)
}

// onMessage queues a message event's data for the reader, or fails the
// connection if the message exceeds the read limit or the reader has
// fallen behind by the read limit. It measures the message before copying
// it into Go memory, which never shrinks, so that a message the Conn
// refuses takes none. It runs on the browser's event loop.
func (c *Conn) onMessage(event js.Value) {
	data := event.Get("data")
	limit := c.readLimit.Load()
	if ok, err := c.admit(measure(data), limit); !ok {
		if err != nil {
			c.fail(err)
		}
		return
	}
	m := messageOf(data)
	// The UTF-8 form of a text may be longer than its length in UTF-16
	// units, which measure counted.
	if int64(m.size()) > limit {
		c.fail(tooBig(limit))
		return
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.queue = append(c.queue, m)
	c.queued += int64(m.size()) + queueCost
	c.mu.Unlock()
	c.wakeReader()
}

// admit reports whether a message of size bytes may be copied and queued.
// If not, it returns the error that fails the connection: the message is
// over limit, or the queue is full; or none if a close has begun, and the
// message is dropped.
func (c *Conn) admit(size, limit int64) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closing:
		return false, nil
	case size > limit:
		return false, tooBig(limit)
	case c.queued >= limit:
		return false, errFellBehind
	}
	return true, nil
}

// measure returns the size of a message event's data without copying it:
// the length of a binary message (an ArrayBuffer), and that of a text in
// UTF-16 units, which is no more than its length in UTF-8 bytes. (A
// string's length is read through a String object: syscall/js reads
// properties of objects only.)
func measure(data js.Value) int64 {
	if data.Type() == js.TypeString {
		return int64(js.Global().Get("Object").Invoke(data).Length())
	}
	return int64(data.Get("byteLength").Int())
}

// messageOf copies the data of a message event into Go memory.
func messageOf(data js.Value) inMessage {
	if data.Type() == js.TypeString {
		return inMessage{typ: TextMessage, text: data.String()}
	}
	bytes := js.Global().Get("Uint8Array").New(data)
	m := inMessage{typ: BinaryMessage, data: make([]byte, bytes.Length())}
	js.CopyBytesToGo(m.data, bytes)
	return m
}

// fail fails the connection: reads return err once the messages queued
// before are read, and the browser closes the WebSocket with an empty close
// frame (it cannot send the status codes of failures, such as 1009). It
// returns at once.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.readErr = err
	c.mu.Unlock()
	c.wakeReader()
	jsCall(func() { c.ws.Call("close") })
}

// onClose handles the close event: it records why the connection ended, for
// reads (the peer's close as a *CloseError, or io.ErrUnexpectedEOF without
// a closing handshake) and for Close, and ends the Conn. It runs on the
// browser's event loop.
func (c *Conn) onClose(event js.Value) {
	code := StatusCode(event.Get("code").Int())
	clean := event.Get("wasClean").Bool()
	var err error = io.ErrUnexpectedEOF
	c.mu.Lock()
	if clean {
		err = &CloseError{Code: code, Reason: event.Get("reason").String(), local: c.closing}
	}
	c.clean = clean
	c.mu.Unlock()
	c.end(err, false)
}

// end ends the Conn once, without waiting: reads return err once the queue
// is read (unless an earlier error stands), Done's channel is closed, and
// the WebSocket's handlers are detached and released, after the browser
// has been told to close the WebSocket if it is still open. If local, this
// side ended the connection (CloseNow, Close giving up, a failed Dial): the
// messages not yet read are dropped, and reads return err at once, whatever
// error stood before. It reports whether this call ended it.
func (c *Conn) end(err error, local bool) bool {
	c.mu.Lock()
	if c.over {
		c.mu.Unlock()
		return false
	}
	c.over, c.closing = true, true
	if local {
		c.queue, c.queued = nil, 0
		c.readErr = err
	} else if c.readErr == nil {
		c.readErr = err
	}
	close(c.done)
	c.mu.Unlock()
	c.wakeReader()
	jsCall(func() { c.ws.Call("close") }) // does nothing once closed
	for _, name := range []string{"onopen", "onmessage", "onclose"} {
		c.ws.Set(name, js.Null())
	}
	for _, f := range c.handlers {
		f.Release()
	}
	return true
}

// wakeReader wakes the read that waits for a message, if any.
func (c *Conn) wakeReader() {
	select {
	case c.arrived <- struct{}{}:
	default:
	}
}

// jsCall calls f, which calls into JavaScript, and returns the exception
// that f threw, if any, as an error.
func jsCall(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			jerr, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("websocket: the browser's WebSocket threw %w", jerr)
		}
	}()
	f()
	return nil
}

// Done returns a channel that is closed once the connection is over: the
// browser's close event has come (the closing handshake is done, or the
// connection failed), or CloseNow was called, or Close gave up waiting.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Subprotocol returns the subprotocol the server chose, or "" if none was.
func (c *Conn) Subprotocol() string { return c.subprotocol }

// Compressed reports whether the browser negotiated permessage-deflate
// with the server: it decides on its own, whatever Options.Compression
// says (Chromium and Firefox offer it always).
func (c *Conn) Compressed() bool { return c.compressed }

// hasDeflate reports whether the value of the WebSocket's extensions
// attribute names permessage-deflate.
func hasDeflate(extensions string) bool {
	for e := range strings.SplitSeq(extensions, ",") {
		name, _, _ := strings.Cut(e, ";")
		if strings.TrimSpace(name) == deflateName {
			return true
		}
	}
	return false
}

// Value returns the value that SetValue set, or nil.
func (c *Conn) Value() any { return c.value }

// SetValue sets the value that Value returns. It is not safe to call
// concurrently with Value or SetValue.
func (c *Conn) SetValue(v any) { c.value = v }

// SetReadLimit sets the largest message, in bytes, that reads accept, as
// Options.ReadLimit does (n <= 0 restores DefaultReadLimit). In the browser
// it also bounds the messages that wait unread: when they come to n bytes,
// the next one fails the connection. It may be called at any time.
func (c *Conn) SetReadLimit(n int64) {
	if n <= 0 {
		n = DefaultReadLimit
	}
	c.readLimit.Store(n)
}

// browserAddr is the net.Addr of a browser's connection.
type browserAddr string

// Network returns "websocket".
func (browserAddr) Network() string { return "websocket" }

// String returns the address.
func (a browserAddr) String() string { return string(a) }

// LocalAddr returns an address whose String is "browser": the browser does
// not say which address it connects from.
func (c *Conn) LocalAddr() net.Addr { return browserAddr("browser") }

// RemoteAddr returns the URL of the connection, as the browser resolved it.
func (c *Conn) RemoteAddr() net.Addr { return browserAddr(c.ws.Get("url").String()) }

// SetDeadline sets the read and write deadlines; see SetReadDeadline and
// SetWriteDeadline.
func (c *Conn) SetDeadline(t time.Time) error {
	c.readDL.set(t)
	c.writeDL.set(t)
	return nil
}

// SetReadDeadline sets the deadline for reads; a zero t means none. A read
// that times out returns an error that matches os.ErrDeadlineExceeded and
// leaves the connection as it was: in the browser messages arrive whole, so
// a read never stops in the middle of one.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.readDL.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for writes; a zero t means none. A
// write that times out has handed nothing to the browser (it was waiting
// for the browser's buffer to drain), so it returns an error that matches
// os.ErrDeadlineExceeded and leaves the connection usable.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.writeDL.set(t)
	return nil
}

// errReadTimeout and errWriteTimeout are the errors of reads and writes
// whose deadline passed.
var (
	errReadTimeout  = fmt.Errorf("websocket: read deadline passed: %w", os.ErrDeadlineExceeded)
	errWriteTimeout = fmt.Errorf("websocket: write deadline passed: %w", os.ErrDeadlineExceeded)
)

// deadline is a deadline that waits can select on: its channel is closed
// when the deadline passes, and a waiter on it sees a later call of set.
// The zero value has no deadline.
type deadline struct {
	mu      sync.Mutex
	ch      chan struct{} // closed once the deadline passed; made on first use
	expired bool          // ch is closed
	gen     uint64        // counts the calls of set, so that an old timer does nothing
	timer   *time.Timer
}

// set sets the deadline to t; zero means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.ch == nil || d.expired {
		d.ch, d.expired = make(chan struct{}), false
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		close(d.ch)
		d.expired = true
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen && !d.expired {
			close(d.ch)
			d.expired = true
		}
	})
}

// wait returns a channel that is closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}
