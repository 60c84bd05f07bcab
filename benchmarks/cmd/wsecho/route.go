package main

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// This file keeps wsecho from upgrading /broadcast: item 10 of the shared
// bench contract asks a server without a broadcast hub to answer 404 there,
// and a server that upgrades /broadcast and only echoes fails the run.
//
// Under net/http that is a check of the path. Server.Serve, which wsecho
// uses for speed, parses the handshake itself, upgrades any path and keeps
// none, so the listener it is given looks first: it peeks at the request
// line with MSG_PEEK, which leaves the bytes in the socket, and hands Serve
// the *net.TCPConn untouched, so that Serve's handshake and its fast paths
// on raw sockets stay as they are. The cost per connection is one recvfrom
// and a hand-over between two goroutines, plus a goroutine of its own for a
// connection whose request has not arrived when it is accepted.

// broadcastPrefix starts the request line of a request for /broadcast; a
// space or '?' follows it.
const broadcastPrefix = "GET /broadcast"

// peekTimeout bounds the wait for a request line to peek at.
const peekTimeout = 10 * time.Second

// notBroadcast answers 404 to requests for /broadcast and passes the others
// to h.
func notBroadcast(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broadcast" {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// accepted is what Accept returns.
type accepted struct {
	c   net.Conn
	err error
}

// broadcastRefuser is a net.Listener that refuses requests for /broadcast
// with 404 and returns every other connection from Accept, untouched.
type broadcastRefuser struct {
	net.Listener
	out       chan accepted
	closed    chan struct{}
	closeOnce sync.Once
}

// refuseBroadcast wraps ln, accepting from it at once on a goroutine of
// its own.
func refuseBroadcast(ln net.Listener) net.Listener {
	l := &broadcastRefuser{Listener: ln, out: make(chan accepted), closed: make(chan struct{})}
	go l.acceptLoop()
	return l
}

// Accept returns the next connection that is not for /broadcast, or the
// error the listener gave; Serve retries temporary ones.
func (l *broadcastRefuser) Accept() (net.Conn, error) {
	select {
	case a := <-l.out:
		return a.c, a.err
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close closes the listener and makes Accept return.
func (l *broadcastRefuser) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// acceptLoop accepts connections and sorts them: those whose request line
// is there at once are passed on or refused here, the others wait on a
// goroutine of their own. It ends with the first error that is not
// temporary.
func (l *broadcastRefuser) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			temporary := errors.As(err, &ne) && ne.Temporary()
			l.deliver(accepted{nil, err})
			if !temporary {
				return
			}
			continue
		}
		switch peekRoute(c, false) {
		case routeServe:
			l.deliver(accepted{c, nil})
		case routeRefuse:
			go refuse(c)
		case routeUnknown:
			go l.waitAndRoute(c)
		}
	}
}

// waitAndRoute waits, for a bounded time, until c's request line can be
// told apart, and passes c on or refuses it.
func (l *broadcastRefuser) waitAndRoute(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(peekTimeout))
	r := peekRoute(c, true)
	c.SetReadDeadline(time.Time{})
	switch r {
	case routeServe:
		if !l.deliver(accepted{c, nil}) {
			c.Close()
		}
	case routeRefuse:
		refuse(c)
	default:
		c.Close() // no request in time
	}
}

// deliver hands a to Accept, and reports false if the listener was closed
// first.
func (l *broadcastRefuser) deliver(a accepted) bool {
	select {
	case l.out <- a:
		return true
	case <-l.closed:
		return false
	}
}

// route is what to do with a connection.
type route int

const (
	routeUnknown route = iota // its request line has not come yet
	routeServe                // give it to Serve
	routeRefuse               // answer 404
)

// peekRoute peeks at the start of c's request, leaving it in the socket,
// and says what to do with c. Without wait it makes one recvfrom and
// returns routeUnknown if that is not enough; with wait it waits for more
// bytes until the route is known, or returns routeUnknown when the read
// deadline passes. Anything but a TCP connection, a socket error and the
// end of the stream go to Serve, which deals with them.
func peekRoute(c net.Conn, wait bool) route {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return routeServe
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return routeServe
	}
	var buf [len(broadcastPrefix) + 1]byte
	r := routeUnknown
	raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK)
		for err == syscall.EINTR {
			n, _, err = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK)
		}
		switch {
		case err == syscall.EAGAIN:
			return !wait
		case err != nil || n == 0:
			r = routeServe // an error or the end of the stream: Serve sees it too
			return true
		}
		r = routeOf(buf[:n])
		return r != routeUnknown || !wait
	})
	return r // routeUnknown after a wait: the deadline passed
}

// routeOf tells from the first bytes b of a request whether it is for
// /broadcast, or routeUnknown if b is too short to tell.
func routeOf(b []byte) route {
	if len(b) <= len(broadcastPrefix) {
		if bytes.HasPrefix([]byte(broadcastPrefix), b) {
			return routeUnknown
		}
		return routeServe
	}
	if bytes.HasPrefix(b, []byte(broadcastPrefix)) && (b[len(broadcastPrefix)] == ' ' || b[len(broadcastPrefix)] == '?') {
		return routeRefuse
	}
	return routeServe
}

// refuse reads the request on c, answers 404 and closes c. Reading the
// request first lets the answer arrive: closing a socket with unread bytes
// resets the connection.
func refuse(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(peekTimeout))
	if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
		return
	}
	const body = "this server has no broadcast hub\n"
	c.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body))
}
