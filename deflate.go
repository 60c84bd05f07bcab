//go:build !js

package websocket

import (
	"errors"
	"io"
)

// This file is permessage-deflate (RFC 7692 sections 6 and 7.2) on a
// connection: the read step that inflates a compressed message between its
// frames and the UTF-8 check and read limit, the write step that deflates a
// message and marks its first frame with RSV1, and the windows that context
// takeover keeps between messages. The negotiation is in extension.go, the
// compressor in flate_encode.go.

// compression is a Conn's permessage-deflate state, made only when it was
// negotiated. Each side's window is the end of what went through that side
// (uncompressed), kept between messages with context takeover; it is the
// only compression memory an idle connection holds.
type compression struct {
	level     int
	threshold int

	// Read side, guarded by readMu.
	inTakeover bool
	inBits     int
	inWindow   []byte
	inflater   *inflater // from getInflater while a compressed message is read
	inSource   inflateSource
	inDone     bool // the inflater has returned the message's end

	// Write side, guarded by msgMu.
	outTakeover bool
	outBits     int
	outWindow   []byte
}

// newCompression returns the state for a connection that negotiated p,
// seen from the server's side if server is set.
func newCompression(p deflateParams, server bool, o *CompressionOptions) *compression {
	z := &compression{level: o.Level, threshold: o.Threshold}
	if z.level < 1 || z.level > 9 {
		z.level = DefaultCompressionLevel
	}
	if z.threshold == 0 {
		z.threshold = DefaultCompressionThreshold
	}
	z.inTakeover, z.inBits = !p.clientNoContextTakeover, p.clientMaxWindowBits
	z.outTakeover, z.outBits = !p.serverNoContextTakeover, p.serverMaxWindowBits
	if !server {
		z.inTakeover, z.outTakeover = z.outTakeover, z.inTakeover
		z.inBits, z.outBits = z.outBits, z.inBits
	}
	// A compressor may always use less than the peer allows, and ours keeps
	// to o even where the server's answer allows more: a larger
	// client_max_window_bits than offered, or no client_no_context_takeover
	// although it was offered.
	z.outTakeover = z.outTakeover && !o.NoContextTakeover
	z.outBits = min(z.outBits, o.windowBits())
	return z
}

// Errors of compressed messages. A peer that breaks RFC 7692 fails the
// connection with status 1002; data that does not inflate, with 1007, as
// Node's ws and Python's websockets do.
var (
	errRSV1NotNegotiated = errors.New("websocket: frame has RSV1 set but permessage-deflate was not negotiated")
	errRSV1Continuation  = errors.New("websocket: RSV1 set on a continuation or control frame")
	errBadDeflate        = errors.New("websocket: compressed message does not inflate")
	errDeflateTrailing   = errors.New("websocket: data after the end of a compressed message's final block")
)

// deflateTail ends the compressed bytes of every message: the empty stored
// block that RFC 7692 section 7.2.2 has the receiver append, and an empty
// final block, so that the inflater reports the message's end.
const deflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

// Compressed reports whether permessage-deflate was negotiated for the
// connection, that is, whether both sides set Options.Compression and agreed
// on it in the opening handshake. It costs nothing and never changes over
// the connection's life. Even when it reports true, a message may travel
// uncompressed (see CompressionOptions.Threshold and
// WriteMessageCompressed).
func (c *Conn) Compressed() bool { return c.compress != nil }

// checkRSV1 returns the error for a frame header h with RSV1 set, or nil if
// it begins a compressed message (RFC 7692 section 6). The caller holds
// readMu.
func (c *Conn) checkRSV1(h header) error {
	switch {
	case c.compress == nil:
		return errRSV1NotNegotiated
	case h.opcode.isControl() || h.opcode == opContinuation:
		return errRSV1Continuation
	}
	return nil
}

// inflateSource is what the inflater reads: the payload of the message's
// frames, then deflateTail. The inflater reads ahead what readBuffered
// gives it, and otherwise a byte at a time, so ReadByte takes the buffered,
// unmasked byte directly when it can.
type inflateSource struct {
	c    *Conn
	tail int     // bytes of deflateTail given so far
	one  [1]byte // ReadByte's scratch, here so that it does not escape
}

// ReadByte returns the next byte of the compressed message.
func (s *inflateSource) ReadByte() (byte, error) {
	c := s.c
	if c.remain > 0 && c.rpos < c.rend {
		b := c.rbuf[c.rpos]
		if c.frame.masked {
			b ^= c.frame.key[(c.frame.length-c.remain)&3]
		}
		c.rpos++
		c.remain--
		return b, nil
	}
	_, err := io.ReadFull(s, s.one[:])
	return s.one[0], err
}

// readBuffered copies into p, unmasked, what the read buffer holds of the
// current frame's payload, without waiting for the network; it gives
// nothing of deflateTail.
func (s *inflateSource) readBuffered(p []byte) int {
	c := s.c
	n := int(min(int64(len(p)), c.remain, int64(c.rend-c.rpos)))
	if n <= 0 {
		return 0
	}
	copy(p, c.rbuf[c.rpos:c.rpos+n])
	if c.frame.masked {
		mask(c.frame.key, int(c.frame.length-c.remain), p[:n])
	}
	c.rpos += n
	c.remain -= int64(n)
	return n
}

// Read reads the next bytes of the compressed message.
func (s *inflateSource) Read(p []byte) (int, error) {
	if s.tail == 0 {
		n, err := s.c.readFrames(p)
		if err != io.EOF {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
	}
	if s.tail == len(deflateTail) {
		return 0, io.EOF
	}
	n := copy(p, deflateTail[s.tail:])
	s.tail += n
	return n, nil
}

// inflate is the read step of a compressed message: it reads up to len(p)
// inflated bytes into p, enforcing the read limit on them, and returns
// io.EOF at the message's end. The caller holds readMu.
func (c *Conn) inflate(p []byte) (int, error) {
	z := c.compress
	if z.inDone {
		return 0, io.EOF
	}
	if z.inflater == nil {
		z.startInflate(c)
	}
	// Ask for one byte more than the limit leaves, to see it overrun.
	limit := c.readLimit.Load()
	if room := limit - c.msgLen; int64(len(p)) > room+1 {
		p = p[:room+1]
	}
	n, err := z.inflater.Read(p)
	c.msgLen += int64(n)
	if c.msgLen > limit {
		return n, c.fail(StatusMessageTooBig, tooBig(limit))
	}
	if z.inTakeover {
		z.inWindow = appendWindow(z.inWindow, p[:n], z.inBits)
	}
	switch {
	case err == io.EOF:
		return n, z.endInflate(c)
	case err == nil:
		return n, nil
	case err == c.readErr:
		return n, err // the network failed, or the frames broke a rule
	}
	return n, c.fail(StatusInvalidPayload, errBadDeflate)
}

// startInflate takes an inflater for a new compressed message, primed with
// the window of earlier messages under context takeover.
func (z *compression) startInflate(c *Conn) {
	z.inSource = inflateSource{c: c}
	var dict []byte
	if z.inTakeover {
		dict = z.inWindow
	}
	z.inflater = getInflater()
	z.inflater.reset(&z.inSource, dict)
}

// endInflate checks that the compressed data ended with the message and
// gives the inflater back. Bytes the inflater read ahead but did not use
// come from the payload after the final block. Data that ends with a final
// block before the message's frames do is fine if the frames after it are
// empty, since how a message is cut into frames carries no meaning; it
// reads them. The caller holds readMu.
func (z *compression) endInflate(c *Conn) error {
	unused := z.inflater.unused()
	z.releaseInflater()
	z.inDone = true
	if unused > 0 {
		return c.fail(StatusInvalidPayload, errDeflateTrailing)
	}
	if z.inSource.tail > 0 {
		return io.EOF
	}
	var b [1]byte
	switch n, err := c.readFrames(b[:]); {
	case n > 0:
		return c.fail(StatusInvalidPayload, errDeflateTrailing)
	case err != io.EOF:
		return err
	}
	return io.EOF
}

// releaseInflater gives the inflater, if any, back to the pool.
func (z *compression) releaseInflater() {
	if z.inflater != nil {
		putInflater(z.inflater)
		z.inflater = nil
	}
}

// appendWindow appends p to the window w, which keeps the last 2^bits
// bytes, and returns it. The window's memory grows with what went through
// it, doubling up to its full size, so that a connection that has sent
// or received little keeps little; once full it is never reallocated.
func appendWindow(w, p []byte, bits int) []byte {
	size := 1 << bits
	if len(p) >= size {
		p = p[len(p)-size:]
	}
	if need := len(w) + len(p); need > cap(w) && cap(w) < size {
		grown := make([]byte, len(w), min(size, max(need, 2*cap(w))))
		copy(grown, w)
		w = grown
	}
	if over := len(w) + len(p) - size; over > 0 {
		w = w[:copy(w, w[over:])]
	}
	return append(w, p...)
}

// deflateBound is the most that compressing n bytes can produce: stored
// blocks cost 5 bytes per 65535, plus the sync flush.
func deflateBound(n int) int {
	return n + 5*(n/65535+2) + 16
}

// compressMessage compresses p as the payload of one message (RFC 7692
// section 7.2.1: the final 00 00 ff ff removed) into a pooled buffer, which
// the caller gives back with putBuffer. The caller holds msgMu.
func (z *compression) compressMessage(p []byte) (*[]byte, []byte) {
	bp := getBuffer(deflateBound(len(p)))
	out := z.compressChunk((*bp)[:0], p)
	return bp, out[:len(out)-4]
}

// compressChunk appends the compressed form of p, the next bytes of the
// message being written, to dst, ending with a sync flush, and updates the
// window. The caller holds msgMu.
func (z *compression) compressChunk(dst, p []byte) []byte {
	var hist []byte
	if z.outTakeover {
		hist = z.outWindow
	}
	d := getDeflater()
	dst = d.compress(dst, hist, p, z.outBits, z.level)
	putDeflater(d)
	if z.outTakeover {
		z.outWindow = appendWindow(z.outWindow, p, z.outBits)
	}
	return dst
}
