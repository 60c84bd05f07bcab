package websocket

import "unicode/utf8"

// This file validates UTF-8 incrementally, so that text arriving in pieces
// (fragments, or partial reads of one frame) is rejected as soon as a byte
// makes it invalid, and a code point split across pieces is accepted.

// utf8Validator checks a stream of bytes for well-formed UTF-8 as defined by
// RFC 3629 (no surrogates, no overlong forms, nothing above U+10FFFF). The
// zero value is ready to use at the start of a stream.
type utf8Validator struct {
	need   uint8 // continuation bytes still expected by the pending code point
	lo, hi byte  // allowed range of the next continuation byte
}

// write feeds p to the validator. It returns false as soon as the bytes seen
// so far cannot be the start of valid UTF-8.
func (v *utf8Validator) write(p []byte) bool {
	// Finish a code point left incomplete by the previous piece.
	for ; v.need > 0 && len(p) > 0; p = p[1:] {
		if !v.feed(p[0]) {
			return false
		}
	}
	// Everything up to a trailing incomplete code point goes to the
	// standard library's validator, which has an ASCII fast path.
	end := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		b := p[i]
		if b < 0x80 {
			break
		}
		if b >= 0xC0 {
			if i+seqLen(b) > len(p) {
				end = i
			}
			break
		}
	}
	if !utf8.Valid(p[:end]) {
		return false
	}
	for _, b := range p[end:] {
		if !v.feed(b) {
			return false
		}
	}
	return true
}

// feed advances the validator by one byte of a code point that the bulk check
// in write left incomplete.
func (v *utf8Validator) feed(b byte) bool {
	if v.need > 0 {
		if b < v.lo || b > v.hi {
			return false
		}
		v.lo, v.hi = 0x80, 0xBF
		v.need--
		return true
	}
	v.lo, v.hi = 0x80, 0xBF
	switch {
	case b < 0x80:
		return true
	case b >= 0xC2 && b <= 0xDF:
		v.need = 1
	case b == 0xE0:
		v.need, v.lo = 2, 0xA0 // no overlong 3-byte forms
	case b == 0xED:
		v.need, v.hi = 2, 0x9F // no surrogates
	case b >= 0xE1 && b <= 0xEF:
		v.need = 2
	case b == 0xF0:
		v.need, v.lo = 3, 0x90 // no overlong 4-byte forms
	case b >= 0xF1 && b <= 0xF3:
		v.need = 3
	case b == 0xF4:
		v.need, v.hi = 3, 0x8F // nothing above U+10FFFF
	default:
		return false
	}
	return true
}

// complete reports whether the bytes seen so far end on a code point
// boundary, that is, whether the stream is valid if it ends here.
func (v *utf8Validator) complete() bool { return v.need == 0 }

// seqLen returns the length of the UTF-8 sequence that lead byte b starts,
// or 1 for bytes that cannot start one (utf8.Valid rejects those).
func seqLen(b byte) int {
	switch {
	case b >= 0xF0:
		return 4
	case b >= 0xE0:
		return 3
	case b >= 0xC0:
		return 2
	}
	return 1
}
