package websocket

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// This file is the wire format of RFC 6455 section 5.2: frame headers and
// masking. It knows nothing about connections or messages.

// opcode is the 4-bit frame type of RFC 6455 section 5.2.
type opcode byte

const (
	opContinuation opcode = 0x0
	opText         opcode = 0x1
	opBinary       opcode = 0x2
	opClose        opcode = 0x8
	opPing         opcode = 0x9
	opPong         opcode = 0xA
)

// isControl reports whether op is a control opcode (close, ping, pong or a
// reserved control opcode).
func (op opcode) isControl() bool { return op&0x8 != 0 }

const (
	finBit  = 0x80
	rsvBits = 0x70
	rsv1Bit = 0x40 // marks a compressed message (RFC 7692 section 6)
	maskBit = 0x80

	// maxHeaderSize is the longest frame header: 2 bytes, a 64-bit length
	// and a masking key.
	maxHeaderSize = 2 + 8 + 4

	// maxControlPayload is the largest payload a control frame may carry
	// (RFC 6455 section 5.5).
	maxControlPayload = 125
)

// header is a decoded frame header.
type header struct {
	fin    bool
	rsv    byte // the RSV1-3 bits in place (mask 0x70 of the first byte)
	opcode opcode
	masked bool
	key    [4]byte
	length int64
}

// Errors for headers that break RFC 6455 section 5. The connection turns each
// into a close with status 1002 (protocol error).
var (
	errReservedBits    = errors.New("websocket: frame has RSV bits set but no extension was negotiated")
	errReservedOpcode  = errors.New("websocket: frame uses a reserved opcode")
	errLengthTooLarge  = errors.New("websocket: frame length has the most significant bit set")
	errControlTooLong  = errors.New("websocket: control frame payload longer than 125 bytes")
	errControlFragment = errors.New("websocket: control frame is fragmented")
)

// parseHeader decodes the frame header at the start of b. It returns the
// header and its size in bytes, or n == 0 and no error when b does not yet
// hold the whole header. It checks every rule that a header can break on its
// own; rules that depend on the connection (masking direction, fragment
// order) are the caller's. A header that breaks a rule but whose length is
// known is returned with its size and the error, so that a caller can skip
// the frame; a length that cannot be represented returns n == 0.
func parseHeader(b []byte) (h header, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	b0, b1 := b[0], b[1]
	h.fin = b0&finBit != 0
	h.rsv = b0 & rsvBits
	h.opcode = opcode(b0 & 0x0F)
	h.masked = b1&maskBit != 0

	var extra int // bytes of extended payload length
	switch l := b1 & 0x7F; l {
	case 126:
		extra = 2
	case 127:
		extra = 8
	default:
		h.length = int64(l)
	}
	n = 2 + extra
	if h.masked {
		n += 4
	}
	if len(b) < n {
		return h, 0, nil
	}
	switch extra {
	case 2:
		h.length = int64(binary.BigEndian.Uint16(b[2:]))
	case 8:
		u := binary.BigEndian.Uint64(b[2:])
		if u>>63 != 0 {
			return h, 0, errLengthTooLarge
		}
		h.length = int64(u)
	}
	if h.masked {
		copy(h.key[:], b[2+extra:n])
	}

	// errReservedBits comes last, so that a connection that negotiated an
	// extension using RSV1 can overrule it knowing the rest is valid.
	switch {
	case h.opcode > opBinary && h.opcode < opClose, h.opcode > opPong:
		err = errReservedOpcode
	case h.opcode.isControl() && h.length > maxControlPayload:
		err = errControlTooLong
	case h.opcode.isControl() && !h.fin:
		err = errControlFragment
	case h.rsv != 0:
		err = errReservedBits
	}
	return h, n, err
}

// putHeader encodes h into b, which must hold at least maxHeaderSize bytes,
// using the shortest length form, and returns the number of bytes written.
func putHeader(b []byte, h header) int {
	b0 := byte(h.opcode) | h.rsv
	if h.fin {
		b0 |= finBit
	}
	b[0] = b0
	var b1 byte
	if h.masked {
		b1 = maskBit
	}
	n := 2
	switch {
	case h.length <= 125:
		b[1] = b1 | byte(h.length)
	case h.length <= 0xFFFF:
		b[1] = b1 | 126
		binary.BigEndian.PutUint16(b[2:], uint16(h.length))
		n += 2
	default:
		b[1] = b1 | 127
		binary.BigEndian.PutUint64(b[2:], uint64(h.length))
		n += 8
	}
	if h.masked {
		n += copy(b[n:], h.key[:])
	}
	return n
}

// headerSize returns the encoded size of a header for a payload of the given
// length.
func headerSize(length int64, masked bool) int {
	n := 2
	switch {
	case length > 0xFFFF:
		n += 8
	case length > 125:
		n += 2
	}
	if masked {
		n += 4
	}
	return n
}

// mask XORs b with the masking key as RFC 6455 section 5.3 describes, where
// b[0] is payload byte number pos of the frame (only pos%4 matters). It
// returns the key position for the byte after b, so a payload can be masked
// in pieces. It works a machine word at a time.
func mask(key [4]byte, pos int, b []byte) int {
	pos &= 3
	if len(b) >= 8 {
		// Rotate the key so that its byte number pos lines up with b[0] in
		// a little-endian load; words of 8 bytes keep that alignment.
		k32 := bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*pos)
		k := uint64(k32)<<32 | uint64(k32)
		for len(b) >= 32 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
			binary.LittleEndian.PutUint64(b[8:], binary.LittleEndian.Uint64(b[8:])^k)
			binary.LittleEndian.PutUint64(b[16:], binary.LittleEndian.Uint64(b[16:])^k)
			binary.LittleEndian.PutUint64(b[24:], binary.LittleEndian.Uint64(b[24:])^k)
			b = b[32:]
		}
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= key[pos]
		pos = (pos + 1) & 3
	}
	return pos
}
