package websocket

import "encoding/binary"

// This file validates UTF-8 incrementally, so that text arriving in pieces
// (fragments, or partial reads of one frame) is rejected as soon as a byte
// makes it invalid, and a code point split across pieces is accepted.
//
// The validator is a deterministic automaton over bytes, stored as a "shift
// DFA": each state is a bit offset, and utf8Table[b] holds, at every state's
// offset, the 6-bit offset of the state that byte b leads to from there. A
// step is one table load and one shift, and only the shift depends on the
// previous step, so the loop runs at about a byte per cycle. Runs of ASCII
// are skipped 16 bytes at a time. Where the CPU has vector instructions
// (utf8_amd64.s), whole 32-byte blocks are checked at once from a code
// point boundary, and the automaton handles only the ends.

// The automaton's states, as bit offsets into a utf8Table entry.
const (
	utf8Accept  = 0  // at a code point boundary
	utf8Reject  = 6  // invalid; stays here
	utf8Need1   = 12 // one continuation byte (80-BF) to go
	utf8Need2   = 18 // two to go
	utf8Need3   = 24 // three to go
	utf8AfterE0 = 30 // after E0: A0-BF, then one more (no overlong forms)
	utf8AfterED = 36 // after ED: 80-9F, then one more (no surrogates)
	utf8AfterF0 = 42 // after F0: 90-BF, then two more (no overlong forms)
	utf8AfterF4 = 48 // after F4: 80-8F, then two more (nothing above U+10FFFF)
)

// utf8Table is the transition table of RFC 3629's UTF-8 grammar.
var utf8Table = func() (t [256]uint64) {
	for i := range t {
		b := byte(i)
		// next returns to if lo <= b <= hi, else utf8Reject.
		next := func(lo, hi byte, to uint64) uint64 {
			if b >= lo && b <= hi {
				return to
			}
			return utf8Reject
		}
		var fromAccept uint64
		switch {
		case b < 0x80:
			fromAccept = utf8Accept
		case b >= 0xC2 && b <= 0xDF:
			fromAccept = utf8Need1
		case b == 0xE0:
			fromAccept = utf8AfterE0
		case b == 0xED:
			fromAccept = utf8AfterED
		case b >= 0xE1 && b <= 0xEF:
			fromAccept = utf8Need2
		case b == 0xF0:
			fromAccept = utf8AfterF0
		case b >= 0xF1 && b <= 0xF3:
			fromAccept = utf8Need3
		case b == 0xF4:
			fromAccept = utf8AfterF4
		default:
			fromAccept = utf8Reject
		}
		t[i] = fromAccept<<utf8Accept |
			utf8Reject<<utf8Reject |
			next(0x80, 0xBF, utf8Accept)<<utf8Need1 |
			next(0x80, 0xBF, utf8Need1)<<utf8Need2 |
			next(0x80, 0xBF, utf8Need2)<<utf8Need3 |
			next(0xA0, 0xBF, utf8Need1)<<utf8AfterE0 |
			next(0x80, 0x9F, utf8Need1)<<utf8AfterED |
			next(0x90, 0xBF, utf8Need2)<<utf8AfterF0 |
			next(0x80, 0x8F, utf8Need2)<<utf8AfterF4
	}
	return t
}()

// utf8Validator checks a stream of bytes for well-formed UTF-8 as defined by
// RFC 3629 (no surrogates, no overlong forms, nothing above U+10FFFF). The
// zero value is ready to use at the start of a stream.
type utf8Validator struct {
	state uint8 // a state offset
}

// write feeds p to the validator. It returns false as soon as the bytes seen
// so far cannot be the start of valid UTF-8.
func (v *utf8Validator) write(p []byte) bool {
	s := uint64(v.state)
	for len(p) > 0 {
		if s&63 == utf8Accept {
			if haveVectorUTF8 && len(p) >= 64 {
				n := len(p) &^ 31
				if !validBlocks(p[:n]) {
					v.state = utf8Reject
					return false
				}
				p = p[lastCodePoint(p[:n]):]
			}
			for len(p) >= 16 && (binary.LittleEndian.Uint64(p)|binary.LittleEndian.Uint64(p[8:]))&0x8080808080808080 == 0 {
				p = p[16:]
			}
		}
		block := p[:min(len(p), 32)]
		p = p[len(block):]
		for _, b := range block {
			s = utf8Table[b] >> (s & 63)
		}
	}
	v.state = uint8(s & 63)
	return v.state != utf8Reject
}

// lastCodePoint returns where the automaton takes over from validBlocks,
// which accepted b but not whether b's last code point is complete: at the
// lead byte of that code point, or at the end of b if b ends in ASCII or in
// three continuation bytes (which complete a 4-byte code point).
func lastCodePoint(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if b[i] >= 0xC0 {
			return i
		}
		if b[i] < 0x80 {
			break
		}
	}
	return len(b)
}

// complete reports whether the bytes seen so far end on a code point
// boundary, that is, whether the stream is valid if it ends here.
func (v *utf8Validator) complete() bool { return v.state == utf8Accept }
