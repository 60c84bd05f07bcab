package main

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wsproject/websocket"
)

// This file is the broadcast hub of the shared bench's fanout scenario
// (contract item 10): every message received on a /broadcast connection is
// sent to all /broadcast connections, prepared once with
// websocket.NewPreparedMessage.
//
// Server.Serve does not route by path, so routeBroadcast looks at the
// request line before Serve reads it (a MSG_PEEK, which leaves it in the
// socket) and hands /broadcast connections to a second Server. Under -http,
// broadcastMux routes by the parsed request instead.

// hub is the set of /broadcast connections.
type hub struct {
	mu    sync.Mutex
	conns []*websocket.Conn
}

// serve runs one /broadcast connection: it joins the hub, then sends every
// message it reads to the whole hub until the connection ends.
func (h *hub) serve(c *websocket.Conn) {
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	defer h.leave(c)
	var buf []byte
	for {
		typ, msg, err := c.AppendMessage(buf[:0])
		if err != nil {
			return
		}
		buf = msg
		pm, err := websocket.NewPreparedMessage(typ, msg)
		if err != nil {
			return
		}
		h.broadcast(pm)
	}
}

// broadcast writes pm to every connection, under the hub lock as the peers'
// hubs do. A failed write is left to that connection's reader, which ends
// and leaves the hub.
func (h *hub) broadcast(pm *websocket.PreparedMessage) {
	h.mu.Lock()
	for _, c := range h.conns {
		c.WritePreparedMessage(pm)
	}
	h.mu.Unlock()
}

// leave removes c from the hub.
func (h *hub) leave(c *websocket.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.conns {
		if x == c {
			last := len(h.conns) - 1
			h.conns[i], h.conns[last] = h.conns[last], nil
			h.conns = h.conns[:last]
			return
		}
	}
}

// newHubServer returns a Server for /broadcast with the echo Server's
// options.
func newHubServer(opts websocket.Options) *websocket.Server {
	h := new(hub)
	return &websocket.Server{Options: opts, Handler: h.serve}
}

// broadcastMux routes /broadcast to a hub and everything else to echo.
func broadcastMux(echo *websocket.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", echo)
	mux.Handle("/broadcast", newHubServer(echo.Options))
	return mux
}

// routeBroadcast returns the listener for the echo Server on ln: it serves
// /broadcast connections with a hub Server of its own and passes the others
// on.
func routeBroadcast(ln net.Listener, echo *websocket.Server) net.Listener {
	r := &router{Listener: ln, echo: make(chan net.Conn), hub: make(chan net.Conn), errc: make(chan error, 1)}
	go newHubServer(echo.Options).Serve(&hubListener{r})
	go r.acceptLoop()
	return r
}

// router sorts the connections of one listener by request path.
type router struct {
	net.Listener
	echo, hub chan net.Conn
	errc      chan error // the error that ended acceptLoop
}

// acceptLoop accepts connections and sorts each on a goroutine of its own,
// since its request may take a while to come.
func (r *router) acceptLoop() {
	for {
		nc, err := r.Listener.Accept()
		if err != nil {
			r.errc <- err
			return
		}
		go func() {
			if requestsBroadcast(nc) {
				r.hub <- nc
			} else {
				r.echo <- nc
			}
		}()
	}
}

// Accept returns the next connection that is not for /broadcast.
func (r *router) Accept() (net.Conn, error) {
	select {
	case nc := <-r.echo:
		return nc, nil
	case err := <-r.errc:
		r.errc <- err
		return nil, err
	}
}

// hubListener is the router's listener of /broadcast connections.
type hubListener struct{ *router }

// Accept returns the next /broadcast connection.
func (l *hubListener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.hub:
		return nc, nil
	case err := <-l.errc:
		l.errc <- err
		return nil, err
	}
}

// broadcastLine is how the request line of a /broadcast request begins;
// the byte after it must end the path.
const broadcastLine = "GET /broadcast"

// requestsBroadcast peeks at the request line on nc, leaving it unread, and
// reports whether it asks for /broadcast. It waits at most a few seconds
// for the bytes that decide.
func requestsBroadcast(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer nc.SetReadDeadline(time.Time{})
	var buf [len(broadcastLine) + 1]byte
	yes := false
	rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK)
		if errors.Is(err, syscall.EAGAIN) {
			return false
		}
		got := string(buf[:max(n, 0)])
		if err != nil || n == 0 || !strings.HasPrefix(broadcastLine, got[:min(n, len(broadcastLine))]) {
			return true // not /broadcast, or no request: Serve deals with it
		}
		if n < len(buf) {
			return false // wait for more of the line
		}
		yes = buf[len(broadcastLine)] == ' ' || buf[len(broadcastLine)] == '?'
		return true
	})
	return yes
}
