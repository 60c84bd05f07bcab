// Package websocket implements the WebSocket protocol of RFC 6455, for
// servers and clients, with nothing but the standard library.
//
// A server turns an HTTP request into a WebSocket connection with [Upgrade],
// or lets a [Server] or a [Handler] do it and run a function on each
// connection. [Dial] opens a connection as a client, in a browser too (see
// In the browser, below). Either way the result is a [*Conn], which reads
// and writes messages, answers pings, and performs the closing handshake.
//
// A server that sends every message back:
//
//	http.Handle("/echo", websocket.Handler(func(c *websocket.Conn) {
//		var buf []byte
//		for {
//			typ, msg, err := c.AppendMessage(buf[:0])
//			if err != nil {
//				return // the peer closed the connection, or it failed
//			}
//			if err := c.WriteMessage(typ, msg); err != nil {
//				return
//			}
//			buf = msg
//		}
//	}))
//	log.Fatal(http.ListenAndServe(":8080", nil))
//
// When the function returns, the connection is closed with status 1000
// (normal closure). A Handler uses the default [Options]; a [Server] takes
// Options of its own, and [Upgrade] lets the caller handle the request
// before and the connection after the handshake.
//
// Over HTTP/1.1, Upgrade takes over the connection from the http.Server (it
// hijacks it). Over HTTP/2 it accepts the extended CONNECT of RFC 8441, and
// the Conn runs over the request's stream, one of many on the HTTP/2
// connection: reads come from the request body and writes go to the response,
// flushed, with the same framing, limits, close handshake and deadlines. The
// stream ends when the http.Handler returns, so a handler that calls Upgrade
// must not return before the Conn is closed (wait on [Conn.Done]); Server and
// Handler run their function within the request over HTTP/2 and see to it.
//
// Go's HTTP/2 server offers extended CONNECT only when told to:
// [EnableExtendedConnect] sets the per-server field that newer Go releases
// add, and on Go 1.26 the program must start with GODEBUG=http2xconnect=1
// in its environment (a //go:debug directive does not work for it). Once a
// server offers it, Chrome and Firefox open wss:// connections as streams of
// the HTTP/2 connection they already have to it, and no longer over HTTP/1.1,
// so every WebSocket endpoint of that server must accept HTTP/2. [Dial] stays
// on HTTP/1.1.
//
// # Reading and writing
//
// A message is text ([TextMessage], which must be valid UTF-8) or binary
// ([BinaryMessage]). There are three ways to read the next one:
//
//   - [Conn.ReadMessage] returns its payload in a newly allocated slice.
//   - [Conn.AppendMessage] appends its payload to a slice of the caller's
//     and allocates only when that lacks capacity. A loop that passes the
//     previous result back as buf[:0], as above, reads without allocating
//     once the buffer has grown to the size of the largest message.
//   - [Conn.NextReader] returns an [io.Reader] for the payload, so that a
//     large message can be processed without being held whole. The reader
//     is valid until the next call of NextReader, ReadMessage or
//     AppendMessage, which discards what is left of its message; after
//     that it returns an error.
//
// The Conn keeps no reference to the slices ReadMessage and AppendMessage
// return. Fragmented messages are joined; control frames that arrive between
// fragments are handled (see below) and never seen by the caller.
//
// Text is checked as it arrives: a read fails the connection with status
// 1007 (invalid payload) at the first byte that cannot belong to valid
// UTF-8, and at the end of a message that stops inside a character, without
// waiting for the rest of the message. A reader from NextReader may thus
// have returned the first part of a text message before it returns the
// error, and ReadMessage and AppendMessage return the bytes read so far with
// the error.
//
// [Conn.WriteMessage] sends a message as one frame, and normally returns
// once the frame has been handed to the operating system. When the peer has
// already sent the next frame and it sits unread in the Conn's buffer (a
// peer sending faster than the application answers), the frame waits in an
// output queue instead, so that the answers to a burst of messages share one
// write to the network. Queued frames go out before the reader next waits
// for input, when the queue fills, with any control frame, on [Conn.Flush],
// Close or CloseNow, and at most a millisecond later in any case; an error
// in sending them is returned by a later write or Flush. Call Flush to be
// sure that what was written has left. A frame that fits the write buffer is
// copied into the queue; a larger one is written directly after it, and a
// server sends it from the caller's slice without copying.
//
// [Conn.NextWriter] streams a message: what is written to the returned
// writer collects in the write buffer, each full buffer goes out as a
// fragment (a write larger than the buffer goes out as a fragment of its
// own), and Close sends the last fragment. Until the writer is closed, other
// data messages on the Conn wait, so the writer must always be closed, and
// its goroutine must not call WriteMessage or NextWriter in the meantime.
//
// # Control frames
//
// Ping, pong and close frames from the peer are handled inside reads. A ping
// is answered with a pong carrying the same payload; the payload of a pong
// is passed to [Options.OnPong], if set; a close frame ends the connection
// (see Closing). A Conn runs no goroutine of its own, so an application must
// keep reading, even when it expects no messages: otherwise pings go
// unanswered and the peer's close frame is never seen. A connection that
// only writes can keep a loop like this one running in a goroutine:
//
//	go func() {
//		for {
//			if _, _, err := c.NextReader(); err != nil {
//				return
//			}
//		}
//	}()
//
// OnPong runs inside the read that meets the pong and receives the Conn: it
// must not read from the Conn or block for long. It may extend the read
// deadline.
//
// [Conn.Ping] sends a ping with a payload of at most 125 bytes; the peer's
// pong arrives through OnPong during a read. The Conn sends no pings of its
// own. To notice a peer that has vanished without closing the connection,
// send pings on a timer and set a read deadline that OnPong, and each
// message, extends.
//
// # Closing
//
// [Conn.Close] performs the closing handshake of RFC 6455 section 7: it
// sends a close frame with a status code and a reason, waits up to the close
// timeout ([Options.CloseTimeout], default [DefaultCloseTimeout]) for the
// peer's close frame, and closes the network connection. While it waits with
// no read under way, it reads and discards any messages that are still
// arriving. The code must be one that may be sent (1000-1003, 1007-1014 or
// 3000-4999), or [StatusNoStatusReceived] with an empty reason for a close
// frame without a code, and the reason valid UTF-8 of at most 123 bytes;
// otherwise Close returns an error and does nothing. Close returns
// [ErrClosed] if a close frame has already been sent (the closing is then
// under way, or done) or the connection is closed, and an error if the
// peer did not answer in time.
//
// When the peer sends a close frame first, the read that meets it answers
// with a close frame with the same status code, closes the network
// connection (a client first gives the server up to the close timeout to
// close it, as RFC 6455 section 7.1.1 asks), and returns a [*CloseError]
// carrying the peer's code and reason, or StatusNoStatusReceived if its
// close frame had no code. Later reads return the same error, and writes
// return ErrClosed. Use errors.As to tell a close by the peer from other
// errors:
//
//	var ce *websocket.CloseError
//	if errors.As(err, &ce) {
//		log.Printf("peer closed with %v, reason %q", ce.Code, ce.Reason)
//	}
//
// When the peer breaks the protocol, the read fails the connection: it sends
// a close frame with status 1002 (protocol error), 1007 (invalid payload) or
// 1009 (message too big) and a reason saying what was wrong, waits up to the
// close timeout for the peer's close frame (unless the offending frame was
// its close frame), closes the network connection, and returns an error that
// is not a *CloseError. A connection that ends without a close frame makes
// reads return [io.ErrUnexpectedEOF].
//
// A [Server] or [Handler] runs its function on a goroutine of its own (its
// ServeHTTP returns once the connection is upgraded), and closes the
// connection with status 1000 (normal closure) when the function returns. If
// the function panics, the connection is closed with status 1011 (internal
// error) and the panic is logged with its stack to the http.Server's
// ErrorLog, or the log package's standard logger; [http.ErrAbortHandler] is
// not logged. A function that has closed the connection itself can return at
// once.
//
// An http.Server forgets connections once they are upgraded: its Shutdown
// neither closes nor waits for them. [Server.Shutdown] does: it closes every
// connection its Handler serves with status 1001 (going away), refuses later
// upgrades the same way, and waits for the handlers. A port that serves only
// WebSockets can use [Server.Serve] on a listener instead of an http.Server:
// it reads the opening handshake itself, checked as Upgrade checks it, which
// is cheaper and keeps nothing of the request.
//
// [Conn.CloseNow] closes the network connection without a closing handshake,
// after sending queued frames if no write is under way; reads and writes
// under way return errors. Use it when the peer is gone or misbehaving.
//
// # Concurrency
//
// A Conn supports one reader and any number of writers at a time. Reads
// (ReadMessage, AppendMessage, NextReader and its reader) should come from
// one goroutine. WriteMessage, NextWriter, Ping, Close and CloseNow may be
// called from any number of goroutines, at the same time as each other and
// as a read, and so may Flush.
//
// Messages never interleave: each message, including one streamed with
// NextWriter, goes out whole before the next one begins. Control frames do
// not wait for a message to end: pongs sent by reads, pings and close frames
// go out between the fragments of a message being streamed, but never inside
// a frame.
//
// Close is safe at the same time as a read: the read returns once the peer's
// close frame arrives (with a *CloseError) or the close timeout passes, and
// later reads return an error. So Close and CloseNow also stop a goroutine
// that is blocked in a read.
//
// # Deadlines
//
// [Conn.SetReadDeadline] and [Conn.SetWriteDeadline] (or [Conn.SetDeadline]
// for both) set deadlines on the network connection. The read deadline
// bounds everything a read does, including the handling of control frames;
// the write deadline bounds every frame sent, including pongs sent by reads.
// A zero time means no deadline.
//
// A read that times out while it waits for the next message, before any of
// its bytes arrived, leaves the connection as it was: set a new deadline and
// read again, so a read loop can wake up periodically. Other timeouts are
// final. After a read times out in the middle of a message, every later
// read returns the same error; after a write times out, part of a frame may
// have been sent, so every later write returns the same error. The Conn
// should then be closed. A timeout error satisfies errors.Is(err,
// os.ErrDeadlineExceeded).
//
// Upgrade clears any deadline the http.Server has set on the connection, so
// the server's ReadTimeout, WriteTimeout and IdleTimeout do not apply to a
// WebSocket connection. Close, and the failing of a connection, set
// deadlines of their own to bound the closing handshake.
//
// # Limits and defaults
//
// The zero [Options] gives these defaults:
//
//   - ReadLimit, [DefaultReadLimit] (16 MiB): the longest message reads
//     accept, counting all its fragments. It is checked against the lengths
//     that frame headers announce, before their payload arrives; a message
//     that would exceed it fails the connection with status 1009 (message
//     too big). Memory grows with the bytes that actually arrive, not with
//     the lengths announced.
//   - ReadBufferSize and WriteBufferSize, [DefaultBufferSize] (16 KiB):
//     sizes are rounded up to a power of two, and are at least 256 bytes.
//     Reads larger than the read buffer bypass it. The write buffer bounds
//     the output queue, and sets the size of the fragments NextWriter
//     sends.
//   - HandshakeTimeout, [DefaultHandshakeTimeout] (10 seconds): for a
//     server, bounds the writing of the handshake response; reading the
//     request is the http.Server's job, so set its ReadHeaderTimeout. For
//     Dial, it bounds the whole dial and handshake.
//   - CloseTimeout, [DefaultCloseTimeout] (5 seconds): how long Close, and a
//     connection failed for a protocol error, wait for the peer's close
//     frame.
//
// Buffers come from pools shared by all connections, and a Conn holds one
// only while it holds bytes. On plain TCP and Unix connections (not TLS) a
// read waits for input without holding a read buffer, so idle connections
// cost no buffer memory.
//
// RFC 6455 limits the payload of control frames to 125 bytes, which leaves
// 123 bytes for the reason of a close frame.
//
// # Origin considerations
//
// Browsers send cookies and other credentials with a WebSocket handshake
// whatever page starts it, and the same-origin policy does not stop a page
// from opening a WebSocket connection to another site. Without a check, any
// page a user visits could act on a WebSocket server as that user
// (cross-site WebSocket hijacking). So by default a server accepts a request
// with an Origin header only if the origin's host, with its port if it has
// one, equals the request's Host header, ignoring case. An origin with no
// host, such as "null", is refused. Requests without an Origin header, which
// come from programs other than browsers, are accepted. A refused request
// gets 403 Forbidden.
//
// [Options.OriginPatterns] admits pages from other hosts: each pattern is
// matched, as [path.Match] does and ignoring case, against the origin's host
// and port, as in "example.com", "*.example.com" or "localhost:*". The
// scheme of the origin is not checked. A page served from another port of
// the same host, as by a development server, does not match the Host header;
// admit it with a pattern such as "localhost:5173".
//
// [Options.InsecureSkipOriginCheck] accepts every origin. Use it only if the
// connection is authenticated by something a foreign page cannot send, such
// as a token in the first message, and not by cookies.
//
// # Subprotocols
//
// A client may offer subprotocols, the application protocols it can speak
// over the connection, in its Sec-WebSocket-Protocol header. A server lists
// the ones it speaks in [Options.Subprotocols], most preferred first; the
// first of them that the client offers (compared exactly, case included) is
// chosen, named in the response, and returned by [Conn.Subprotocol]. If the
// client offers none of them, the response names none and the connection
// goes ahead without a subprotocol; a handler that needs one must check
// Subprotocol and close the connection itself.
//
// Browsers fail the connection when the page offered subprotocols and the
// response names none, so a server must list every subprotocol its pages
// offer. Dial offers the subprotocols of its Options in their order, and
// fails if the server chooses one it did not offer.
//
// # Compression
//
// With [Options.Compression] set, servers accept and Dial offers
// permessage-deflate (RFC 7692), with all four of its parameters. Messages
// of at least [CompressionOptions.Threshold] bytes are then compressed;
// [Conn.WriteMessageCompressed] decides for one message. Reads inflate
// compressed messages and apply the read limit and UTF-8 validation to the
// inflated bytes. With context takeover each direction keeps a window of
// 2^WindowBits bytes between messages; without it a connection holds no
// compression memory while idle. Do not compress secrets in the same context
// as data an attacker chooses (see CompressionOptions).
//
// No other extension is negotiated: without Options.Compression a
// Sec-WebSocket-Extensions header in the request is ignored, and a frame
// with any of the RSV bits set fails the connection with status 1002.
//
// # In the browser (js/wasm)
//
// Built with GOOS=js GOARCH=wasm, the package is a client: Dial opens the
// WebSocket object of the browser (or of any JavaScript host that has one)
// through syscall/js, and the Conn it returns has the methods it has
// elsewhere, so that code that dials and uses a Conn builds for both.
// Upgrade, Server, Handler, PreparedMessage and the server's helpers are
// not built there. The browser makes the handshake and the frames itself,
// which decides what a Conn can do:
//
//   - As elsewhere: ReadMessage, AppendMessage, NextReader, ReadJSON,
//     WriteMessage, NextWriter, WriteJSON and their Context forms, NetConn,
//     Subprotocols and Subprotocol, Close with StatusNormalClosure or a code
//     of 3000-4999 and a reason, within the close timeout, the peer's close
//     as a *CloseError, io.ErrUnexpectedEOF for a connection that ends
//     without one, CloseNow, Done, deadlines, the read limit and the
//     handshake timeout.
//   - Differently: the browser takes messages from the network whole and
//     without waiting for the application, so they wait, received, in a
//     queue until read. When the unread messages reach the read limit
//     (counting 64 bytes more for each), the connection fails, as it does
//     for a message over the limit: reads return an error and the browser
//     sends a close frame without a status code (it sends no other code
//     than 1000 and 3000-4999). NextReader reads a message already in memory,
//     and NextWriter collects its message in memory and sends it on Close.
//     A write waits while the browser holds more than WriteBufferSize unsent
//     bytes (its bufferedAmount, looked at every few milliseconds, as the
//     browser has no event for it), then hands the message over; Flush has
//     nothing to do. A read or write cut short by a deadline or a context
//     leaves the connection usable: nothing was half read or half sent.
//     Text written must be valid UTF-8. The browser negotiates compression
//     as it decides, whatever Options.Compression says (Compressed tells).
//     Dial returns no *http.Response and cannot tell why a connection failed
//     to open; RemoteAddr is the URL.
//   - Not at all: an error that matches [ErrNotSupported] comes from Dial,
//     before it connects, for request headers (DialOptions.Header: the
//     browser sends its own cookies and Origin, and no Authorization), Jar,
//     TLSConfig, Proxy and NetDialContext (the browser uses its own), OnPing,
//     OnPong and KeepAlive (the browser answers pings itself and sends
//     none); from Ping and PingRTT; from Close with codes 1001-1003 and
//     1007-1014; and from WriteMessageCompressed with compress false on a
//     compressed connection, which could not keep the message out of the
//     compression.
//
// The calls that wait (Dial, the reads, Close, and writes while the
// browser's buffer is full) wait for events of the browser, which it
// delivers only between its calls into the program. Made inside one of
// those calls (a function of js.FuncOf that runs as an event handler or a
// setTimeout callback), they hold the browser there: the page freezes, the
// events never come, and the call ends only when its timeout, deadline or
// context does (Close with ErrCloseTimeout; a read with neither deadline
// nor context, never). Make them from a goroutine that the callback starts:
//
//	js.FuncOf(func(this js.Value, args []js.Value) any {
//		go func() {
//			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
//				log.Print(err)
//			}
//		}()
//		return nil
//	})
package websocket
