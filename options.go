package websocket

import (
	"math/bits"
	"time"
)

// This file holds Options, which configure servers, clients and the Conns
// they make, and every default value.

// Defaults for the fields of Options.
const (
	// DefaultReadLimit is the largest message a Conn accepts unless
	// Options.ReadLimit says otherwise: 16 MiB.
	DefaultReadLimit = 16 << 20
	// DefaultCloseTimeout bounds the close handshake unless
	// Options.CloseTimeout says otherwise.
	DefaultCloseTimeout = 5 * time.Second
	// DefaultBufferSize is the default size of the read and write buffers.
	DefaultBufferSize = 16 << 10
	// DefaultHandshakeTimeout bounds the opening handshake unless
	// Options.HandshakeTimeout says otherwise.
	DefaultHandshakeTimeout = 10 * time.Second

	minBufferSize = 256 // a control frame and its header always fit
)

// Options configures a WebSocket connection: the server's side of the
// opening handshake and the Conn it makes, or, inside DialOptions, the
// client's. The zero value is ready to use and gives the defaults documented
// on each field.
type Options struct {
	// Subprotocols lists the subprotocols the server speaks, most preferred
	// first. The first of them that the client offers is chosen and named
	// in the response; if none is, the response names none. Browsers fail
	// a connection whose request offered subprotocols when the response
	// names none, so a server that expects browser clients offering
	// subprotocols must list them here. A client offers them in this order.
	Subprotocols []string

	// OriginPatterns lists the hosts, besides the request's own Host, whose
	// web pages may open connections. Each is a pattern as path.Match reads
	// it, matched case-insensitively against the host of the request's
	// Origin header, with its port if it has one: "example.com",
	// "*.example.com", "localhost:*". Requests without an Origin header
	// (clients other than browsers) are always allowed. By default only
	// pages from the request's own Host are, which protects cookies and
	// other ambient credentials from cross-site WebSocket hijacking.
	// Servers only: Dial ignores it.
	OriginPatterns []string

	// CheckOrigin, if set, is asked about a request whose Origin the rules
	// above refuse, with the Origin header's value and the request's Host:
	// it returns true to accept the request anyway. It must not let a
	// foreign page in unless the handler authenticates by means such a page
	// cannot use. If it panics, the request is refused with 500 (internal
	// server error) and the panic is logged with its stack, as a panic in
	// Server.Handler is. Servers only.
	CheckOrigin func(origin, host string) bool

	// InsecureSkipOriginCheck accepts a request from any Origin. Any web
	// page a user visits can then connect with that user's cookies; use it
	// only if the handler authenticates by means a foreign page cannot
	// use, such as a token in the first message. Servers only: Dial
	// ignores it.
	InsecureSkipOriginCheck bool

	// HandshakeTimeout bounds the opening handshake: on a server, the
	// writing of the response (reading the request is the http.Server's
	// job: set its ReadHeaderTimeout), and under Serve the whole
	// handshake; on a client, the whole dial when its context has no
	// earlier deadline. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// ReadLimit is the largest message, in bytes, that reads accept; a
	// longer one fails the connection with status 1009. Default
	// DefaultReadLimit.
	ReadLimit int64

	// CloseTimeout bounds the close handshake: how long Close, and a
	// connection failed for a protocol error, wait for the peer's close
	// frame. Default DefaultCloseTimeout.
	CloseTimeout time.Duration

	// ReadBufferSize and WriteBufferSize are the sizes of the Conn's read
	// buffer and output queue, rounded up to a power of two. Default
	// DefaultBufferSize. Buffers come from a pool shared by all
	// connections and are held only while they hold bytes, so an idle
	// connection holds none. A frame larger than the output queue is
	// written on its own, straight from the caller's memory on the server
	// side; a read larger than the read buffer bypasses it.
	ReadBufferSize, WriteBufferSize int

	// OnPong, if set, is called with the connection and the payload of
	// each pong frame the peer sends, from inside the read that meets it;
	// payload is valid only during the call. It may set deadlines or
	// write; it must not read from the Conn, call Close (CloseNow is
	// fine), or block for long.
	OnPong func(c *Conn, payload []byte)

	// OnPing, if set, is called with the connection and the payload of each
	// ping frame the peer sends, from inside the read that meets it, before
	// the pong is sent (automatically, whatever OnPing does). The same rules
	// as for OnPong apply.
	OnPing func(c *Conn, payload []byte)

	// KeepAlive, if positive, makes the Conn watch the connection. A timer
	// ticks every KeepAlive; a tick that finds nothing has come in from the
	// peer since the tick before sends a ping, and if nothing (the pong, or
	// any other frame) comes in within KeepAliveTimeout after that, the
	// Conn fails the connection: it closes it, and the read under way, or
	// the next, returns an error that matches ErrKeepAliveTimeout. The
	// ticks do not follow the peer's last frame, so a peer that falls
	// silent is pinged after between KeepAlive and 2×KeepAlive of silence,
	// and given up on after between KeepAlive+KeepAliveTimeout and
	// 2×KeepAlive+KeepAliveTimeout: 2 to 3 times KeepAlive with the default
	// timeout. A peer that answers the pings but sends nothing else is
	// pinged every KeepAlive (or every KeepAliveTimeout, if longer), so a
	// proxy's idle timeout must be longer than that. It costs one timer per
	// connection and no goroutine. Only reads take in what the peer sends,
	// the pong included, so the application must be reading (as it must
	// anyway, to see the peer's close): bytes that wait unread count as
	// silence. Default 0: off.
	KeepAlive time.Duration

	// KeepAliveTimeout is how long the keepalive waits for an answer to its
	// ping. Default: KeepAlive.
	KeepAliveTimeout time.Duration

	// OnRefuse, if set, is called when a server refuses an opening
	// handshake, with the client's address, the HTTP status of the refusal
	// and the error saying why, so that refused handshakes (a 403 for a
	// foreign Origin, say) leave a trace. Servers only; it must not block.
	OnRefuse func(remoteAddr string, status int, err error)

	// Compression, if set, enables permessage-deflate (RFC 7692): a server
	// accepts a client's offer of it, and a client offers it. Nil, the
	// default, leaves messages uncompressed. See CompressionOptions for
	// what it costs.
	Compression *CompressionOptions
}

// bufferSize returns the buffer size to use for a configured size: the
// default for 0, at least minBufferSize, rounded up to a power of two.
func bufferSize(n int) int {
	if n <= 0 {
		n = DefaultBufferSize
	}
	return 1 << bits.Len(uint(max(n, minBufferSize)-1))
}

// handshakeTimeout returns o.HandshakeTimeout or its default.
func (o *Options) handshakeTimeout() time.Duration {
	if o.HandshakeTimeout > 0 {
		return o.HandshakeTimeout
	}
	return DefaultHandshakeTimeout
}

// Defaults for the fields of CompressionOptions.
const (
	// DefaultCompressionLevel is the compression level used unless
	// CompressionOptions.Level says otherwise: the fastest.
	DefaultCompressionLevel = 1
	// DefaultCompressionThreshold is the size below which messages are
	// sent uncompressed unless CompressionOptions.Threshold says otherwise.
	DefaultCompressionThreshold = 128
)

// CompressionOptions configures permessage-deflate (RFC 7692), the
// compression that browsers and most clients offer. The zero value gives
// the defaults documented on each field.
//
// Compression costs CPU on both sides and memory per connection: with
// context takeover (the default), each direction keeps a window of up to
// 2^WindowBits bytes of past messages (32 KiB each at the default 15 bits)
// for as long as the connection lives, and compresses repetitive traffic
// such as JSON several times better than messages compressed on their own.
// Without it, a connection holds no compression state while idle.
//
// Compressing secrets in the same context as data an attacker chooses lets
// the attacker learn the secrets from the compressed sizes (CRIME, BREACH;
// RFC 7692 section 8): send such messages with
// Conn.WriteMessageCompressed(typ, p, false), or disable context takeover.
type CompressionOptions struct {
	// Level trades speed for size, from 1 (fastest, the default) to 9
	// (smallest).
	Level int

	// Threshold is the size in bytes below which WriteMessage sends a
	// message uncompressed, since compressing small messages costs more
	// than it saves. Default DefaultCompressionThreshold; a negative value
	// compresses every message.
	Threshold int

	// NoContextTakeover compresses each message on its own, in both
	// directions: the connection keeps no window between messages, so an
	// idle connection holds no compression memory, at the price of a
	// worse ratio on repetitive traffic.
	NoContextTakeover bool

	// WindowBits limits the window of this side's compressor to 2^WindowBits
	// bytes (8 to 15; default 15, 32 KiB), and, where the peer allows it,
	// the window the peer compresses with, which this side must keep. A
	// smaller window costs less memory per connection with context
	// takeover and compresses repetitive traffic somewhat worse. A server
	// with WindowBits below 15 names server_max_window_bits in its answer
	// even to clients that did not ask for it, which RFC 7692 allows;
	// Chromium accepts it, and so do Node's ws and Go clients.
	WindowBits int
}

// config returns the negotiation settings for o.
func (o *CompressionOptions) config() deflateConfig {
	return deflateConfig{noContextTakeover: o.NoContextTakeover, windowBits: o.windowBits()}
}

// windowBits returns o.WindowBits within 8..15, or 15 by default.
func (o *CompressionOptions) windowBits() int {
	if o.WindowBits < 8 || o.WindowBits > 15 {
		return 15
	}
	return o.WindowBits
}
