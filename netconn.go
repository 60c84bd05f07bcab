package websocket

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// This file holds NetConn, a net.Conn over a Conn's stream of messages,
// for tunnelling protocols that want a byte stream.

// errNetConnType is returned by a NetConn's Read when a message of the
// other type arrives.
var errNetConnType = errors.New("websocket: NetConn received a message of the wrong type; connection closed")

// NetConn returns a net.Conn whose Read reads the payloads of c's messages
// of type typ as one byte stream, across message boundaries, and whose
// Write sends each call's bytes as one message of type typ (an empty Write
// sends nothing). The peer decides where messages break, so the stream
// carries no framing of its own: use it for protocols that bring theirs,
// such as TLS, SSH or HTTP tunnelled over WebSocket.
//
// Read returns io.EOF once the peer closes with StatusNormalClosure (1000)
// or StatusGoingAway (1001), and the *CloseError for other codes. A
// message of the other type fails the connection with status 1003
// (unsupported data; in the browser, which cannot send it, with an empty
// close frame). Close closes c with status 1000 and waits for the
// peer's answer as Conn.Close does. LocalAddr and RemoteAddr are c's.
//
// The deadlines are c's, with their rules, and a timeout closes nothing. A
// Read that times out between messages, before any byte of the next one
// came in, returns an error that matches os.ErrDeadlineExceeded (a
// net.Error whose Timeout is true) and changes nothing: set a later
// deadline and Read on. A Read that times out in the middle of a message,
// a place the stream does not show, has lost its place: it and every later
// Read return that error, c stays open for writes, and the net.Conn should
// be closed. A Write that times out may have sent part of its message: it
// returns 0 and the error, which every later Write (and c's writes)
// return too.
//
// The net.Conn owns c's reads: do not read from c directly while using it.
// Writes may be mixed with c's own. It allocates once per message read
// (NextReader's reader), not per Read.
func NetConn(c *Conn, typ MessageType) net.Conn {
	return &netConn{c: c, typ: typ}
}

// netConn is the net.Conn of NetConn.
type netConn struct {
	c   *Conn
	typ MessageType

	readMu sync.Mutex // one Read at a time, as the Conn allows
	r      io.Reader  // the message being read, nil between messages
}

// Read reads the next bytes of the stream, waiting for the next message
// when the current one is used up.
func (n *netConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n.readMu.Lock()
	defer n.readMu.Unlock()
	for {
		if n.r == nil {
			typ, r, err := n.c.NextReader()
			if err != nil {
				return 0, streamError(err)
			}
			if typ != n.typ {
				err := n.c.Close(StatusUnsupportedData, "unexpected message type")
				if errors.Is(err, ErrNotSupported) {
					n.c.CloseNow() // the browser cannot send 1003
				}
				return 0, errNetConnType
			}
			n.r = r
		}
		k, err := n.r.Read(p)
		if err == io.EOF {
			n.r = nil
			if k == 0 {
				continue
			}
			err = nil
		}
		return k, err
	}
}

// streamError turns the error of a read into the stream's: io.EOF for a
// normal close by the peer.
func streamError(err error) error {
	var ce *CloseError
	if errors.As(err, &ce) && (ce.Code == StatusNormalClosure || ce.Code == StatusGoingAway) {
		return io.EOF
	}
	return err
}

// Write sends p as one message.
func (n *netConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := n.c.WriteMessage(n.typ, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes the Conn with status 1000.
func (n *netConn) Close() error { return n.c.Close(StatusNormalClosure, "") }

// LocalAddr returns the Conn's local address.
func (n *netConn) LocalAddr() net.Addr { return n.c.LocalAddr() }

// RemoteAddr returns the Conn's remote address.
func (n *netConn) RemoteAddr() net.Addr { return n.c.RemoteAddr() }

// SetDeadline sets the Conn's read and write deadlines.
func (n *netConn) SetDeadline(t time.Time) error { return n.c.SetDeadline(t) }

// SetReadDeadline sets the Conn's read deadline.
func (n *netConn) SetReadDeadline(t time.Time) error { return n.c.SetReadDeadline(t) }

// SetWriteDeadline sets the Conn's write deadline.
func (n *netConn) SetWriteDeadline(t time.Time) error { return n.c.SetWriteDeadline(t) }
