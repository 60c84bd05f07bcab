//go:build js && wasm

package websocket

// This file is Dial in the browser (GOOS=js): it opens the browser's own
// WebSocket, after refusing the options the browser cannot honour.

import (
	"context"
	"fmt"
	"net/http"
	"syscall/js"
)

// Dial opens a WebSocket connection to a ws:// or wss:// URL (http:// and
// https:// are taken as the same) with the browser's own WebSocket object,
// of the page or worker the program runs in. opts may be nil. ctx bounds
// the opening handshake only; cancelling it later does not affect the Conn.
//
// The browser makes the handshake itself, so the response is always nil:
// the browser shows neither its status nor its headers, nor why a
// connection could not be opened (a refused handshake, a server that is
// down and a certificate it does not trust all look alike). Of opts, the
// browser honours Subprotocols, HandshakeTimeout, ReadLimit, CloseTimeout
// and WriteBufferSize (see the package documentation, "In the browser");
// it negotiates compression as it decides, whatever Compression says, and
// ReadBufferSize and the server-only fields do not apply. The other fields
// of DialOptions (Header, Jar, TLSConfig, Proxy, NetDialContext) and OnPing,
// OnPong and KeepAlive must be left zero: otherwise Dial fails, before it
// connects, with an error that matches ErrNotSupported.
//
// Dial waits for the browser's events, so it must not be called inside a
// js.FuncOf callback, such as an event handler or a setTimeout: the browser
// would deliver none until the callback returned, the page would freeze,
// and Dial would fail at the handshake timeout. Call it, and the Conn's
// methods that wait (reads, Close, writes while the browser's buffer is
// full), from a goroutine, started by the callback if need be; see the
// package documentation, "In the browser".
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	u, secure, opts, err := dialTarget(rawURL, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := browserRefuses(opts); err != nil {
		return nil, nil, err
	}
	if err := checkSubprotocols(opts.Subprotocols); err != nil {
		return nil, nil, err
	}
	u.Scheme = "ws"
	if secure {
		u.Scheme = "wss"
	}
	u.Fragment, u.RawFragment = "", "" // the browser refuses a URL with one
	protocols := make([]any, len(opts.Subprotocols))
	for i, p := range opts.Subprotocols {
		protocols[i] = p
	}

	ctx, cancel := context.WithTimeout(ctx, opts.handshakeTimeout())
	defer cancel()
	var ws js.Value
	if err := jsCall(func() { ws = js.Global().Get("WebSocket").New(u.String(), protocols) }); err != nil {
		return nil, nil, err
	}
	c := newConn(ws, &opts.Options)
	select {
	case <-c.opened:
	case <-c.done: // maybe just after the open event
	case <-ctx.Done():
		c.end(errDialContextDone, true)
		return nil, nil, withContextErr(ctx, errDialContextDone)
	}
	select {
	case <-c.opened:
	default:
		return nil, nil, fmt.Errorf("websocket: the browser could not open a connection to %s (browsers do not say why)", u)
	}
	c.subprotocol = ws.Get("protocol").String()
	c.compressed = hasDeflate(ws.Get("extensions").String())
	return c, nil, nil
}

// browserRefuses returns an error matching ErrNotSupported, naming the
// option, if opts sets one that the browser's WebSocket cannot honour.
func browserRefuses(opts *DialOptions) error {
	var what string
	switch {
	case len(opts.Header) > 0:
		what = "DialOptions.Header: the browser sets the handshake's headers itself"
	case opts.Jar != nil:
		what = "DialOptions.Jar: the browser sends the cookies of its own store"
	case opts.TLSConfig != nil:
		what = "DialOptions.TLSConfig: the browser makes TLS connections with its own settings"
	case opts.Proxy != nil:
		what = "DialOptions.Proxy: the browser chooses proxies by its own settings"
	case opts.NetDialContext != nil:
		what = "DialOptions.NetDialContext: the browser makes the connection"
	case opts.OnPing != nil, opts.OnPong != nil:
		what = "Options.OnPing and OnPong: the browser answers pings itself and shows no pongs"
	case opts.KeepAlive > 0:
		what = "Options.KeepAlive: the browser cannot send pings"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s", ErrNotSupported, what)
}
