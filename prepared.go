//go:build !js

package websocket

import (
	"sync"
	"sync/atomic"
)

// This file holds PreparedMessage, a message framed once and written to
// many connections: the broadcast of a chat room or a market feed.

// PreparedMessage is a data message encoded once for sending to many
// connections with Conn.WritePreparedMessage. NewPreparedMessage builds the
// server frame: a server Conn without compression sends those very bytes,
// in one write to the network when nothing is queued before them, without
// copying them. Other variants are made on first use and kept:
//
//   - With permessage-deflate negotiated and no server context takeover
//     (CompressionOptions.NoContextTakeover, or a client that asked for
//     server_no_context_takeover), the message is compressed once per
//     compression level and window size, and every such connection sends the
//     same compressed bytes.
//   - With context takeover, each connection's compressor carries its own
//     history, so the message is compressed for each connection, exactly as
//     WriteMessage would: correct, but costs a compression per copy. Servers
//     that broadcast much should disable context takeover.
//   - A client Conn masks each frame with a fresh key, so it copies the
//     payload into its output queue and masks it there, as WriteMessage does.
//
// Messages below the Conn's CompressionOptions.Threshold go uncompressed,
// as with WriteMessage. A message compressed on its own holds nothing of the
// other messages, so sharing it adds no exposure; the CRIME warning of
// CompressionOptions still applies within one message, whose secrets and
// attacker-chosen data are compressed together.
//
// A PreparedMessage is immutable and safe for concurrent use; it keeps a copy
// of the payload and the frames, about twice the payload's size, for as
// long as it is referenced.
//
// # Slow consumers
//
// WritePreparedMessage, like WriteMessage, returns when the operating system
// has taken the frame, and waits while a peer's socket buffer is full. A
// broadcaster that writes to every connection in turn is therefore held up
// by the slowest reader. When peers are not trusted to keep up, give each
// connection a bounded queue (a buffered channel of *PreparedMessage) and a
// goroutine that writes from it; the broadcaster only tries to put the
// message on each queue, never waits, and drops a connection whose queue is
// full, closing it with StatusPolicyViolation (1008) or StatusTryAgainLater
// (1013). The Example shows such a hub. A PreparedMessage in many queues is
// shared, not copied.
type PreparedMessage struct {
	op      opcode
	payload []byte // the uncompressed payload: frame[len(frame)-len(payload):]
	frame   []byte // the unmasked, uncompressed frame a server sends

	mu       sync.Mutex                         // serialises the making of compressed variants
	deflated atomic.Pointer[[]*preparedDeflate] // the compressed variants made so far, never changed once stored
}

// preparedDeflate is a PreparedMessage compressed for connections without
// context takeover that compress at one level with one window size.
type preparedDeflate struct {
	level, bits int
	payload     []byte // the compressed payload: frame[len(frame)-len(payload):]
	frame       []byte // the unmasked frame a server sends, RSV1 set
}

// NewPreparedMessage returns a PreparedMessage of type typ (TextMessage or
// BinaryMessage) with payload p, which it copies: the caller may reuse p.
// The payload of a TextMessage must be valid UTF-8; it is not checked. It
// allocates the frame, of about len(p) bytes.
func NewPreparedMessage(typ MessageType, p []byte) (*PreparedMessage, error) {
	if typ != TextMessage && typ != BinaryMessage {
		return nil, errBadMessageType
	}
	op := opcode(typ)
	frame := encodeFrame(op, 0, p)
	return &PreparedMessage{op: op, frame: frame, payload: frame[len(frame)-len(p):]}, nil
}

// encodeFrame returns a new, unmasked, final frame with payload p.
func encodeFrame(op opcode, rsv byte, p []byte) []byte {
	h := header{fin: true, rsv: rsv, opcode: op, length: int64(len(p))}
	frame := make([]byte, headerSize(h.length, false)+len(p))
	copy(frame[putHeader(frame, h):], p)
	return frame
}

// compressed returns the variant of m compressed at level with a window of
// 2^bits bytes, making it on first use.
func (m *PreparedMessage) compressed(level, bits int) *preparedDeflate {
	if v := findDeflated(m.deflated.Load(), level, bits); v != nil {
		return v
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.deflated.Load()
	if v := findDeflated(old, level, bits); v != nil {
		return v
	}
	d := getDeflater()
	bp := getBuffer(deflateBound(len(m.payload)))
	out := d.compress((*bp)[:0], nil, m.payload, bits, level)
	putDeflater(d)
	out = out[:len(out)-4] // RFC 7692 section 7.2.1
	frame := encodeFrame(m.op, rsv1Bit, out)
	putBuffer(bp)
	v := &preparedDeflate{level: level, bits: bits, frame: frame, payload: frame[len(frame)-len(out):]}
	var list []*preparedDeflate
	if old != nil {
		list = append(list, *old...)
	}
	list = append(list, v)
	m.deflated.Store(&list)
	return v
}

// findDeflated returns the variant in list for level and bits, or nil.
func findDeflated(list *[]*preparedDeflate, level, bits int) *preparedDeflate {
	if list == nil {
		return nil
	}
	for _, v := range *list {
		if v.level == level && v.bits == bits {
			return v
		}
	}
	return nil
}

// WritePreparedMessage sends pm, as WriteMessage would send its payload:
// concurrent calls are safe, the message goes out whole after any message
// begun with NextWriter, and may be queued for a moment to share a write
// with the frames after it (see WriteMessage). See PreparedMessage for what
// each kind of Conn shares and what it still does per write. In the steady
// state it allocates nothing.
func (c *Conn) WritePreparedMessage(pm *PreparedMessage) error {
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	z := c.compress
	switch {
	case z == nil || len(pm.payload) < z.threshold:
		return c.writeEncoded(pm.frame, 0, pm.op, pm.payload)
	case z.outTakeover:
		bp, out := z.compressMessage(pm.payload)
		err := c.writeFrame(true, rsv1Bit, pm.op, out)
		putBuffer(bp)
		return err
	}
	v := pm.compressed(z.level, z.outBits)
	return c.writeEncoded(v.frame, rsv1Bit, pm.op, v.payload)
}

// writeEncoded sends one final frame whose unmasked encoding is frame. A
// server Conn with nothing queued or owed and no input pending writes frame
// itself, in one write; otherwise the frame takes writeFrame's way. The
// caller holds msgMu.
func (c *Conn) writeEncoded(frame []byte, rsv byte, op opcode, payload []byte) error {
	if c.server {
		c.writeMu.Lock()
		if c.outp == nil && !c.has(stOwed|stInputPending) && c.writeAllowed() == nil {
			_, err := c.conn.Write(frame)
			c.setWriteErr(err)
			c.unlockWrite(true)
			return err
		}
		c.unlockWrite(true)
	}
	return c.writeFrame(true, rsv, op, payload)
}
