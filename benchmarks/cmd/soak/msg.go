package main

// This file holds the messages the soak test sends: their sizes and bodies,
// the header with an id and a checksum that each carries, and the check of a
// message as it streams in.

import (
	"encoding/hex"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"sync"
	"unicode/utf8"

	"github.com/wsproject/websocket"
)

// hdrLen is the length of a message header: the message id and the CRC-32C
// of the body after it, each as 8 lowercase hex digits, so that a header is
// valid text as well as binary. It is also the smallest message.
const hdrLen = 16

// zeroHeader is room for a header, filled in by putHeader.
var zeroHeader [hdrLen]byte

// castagnoli is the CRC-32C table; the checksum has hardware support on
// amd64 and arm64, so checking costs little next to the traffic.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// helloPrefix starts the first message of every connection, which names the
// client's connection id so the server can find the shared state.
const helloPrefix = "HELLO"

// bodies holds random bytes and random valid UTF-8 text from which message
// bodies are cut, so that making a message costs a slice and a checksum.
type bodies struct {
	bin, text []byte
}

// newBodies makes pools of at least n bytes each.
func newBodies(n int) *bodies {
	b := &bodies{bin: make([]byte, n)}
	for i := range b.bin {
		b.bin[i] = byte(rand.Uint32())
	}
	// Mostly ASCII, with 2-, 3- and 4-byte characters among it.
	runes := []rune("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789.,;\n")
	wide := []rune("éßЖλ€中語😀𝄞")
	b.text = make([]byte, 0, n+4)
	for len(b.text) < n {
		r := runes[rand.N(len(runes))]
		if rand.N(8) == 0 {
			r = wide[rand.N(len(wide))]
		}
		b.text = utf8.AppendRune(b.text, r)
	}
	return b
}

// body returns a body of n bytes for a binary message, or of at most n and
// at least n-3 bytes of whole characters for a text message.
func (b *bodies) body(typ websocket.MessageType, n int) []byte {
	if typ == websocket.BinaryMessage {
		off := rand.N(len(b.bin) - n + 1)
		return b.bin[off : off+n]
	}
	off := rand.N(len(b.text) - n + 1)
	for off > 0 && !utf8.RuneStart(b.text[off]) {
		off--
	}
	end := off + n
	for end > off && end < len(b.text) && !utf8.RuneStart(b.text[end]) {
		end--
	}
	return b.text[off:end]
}

// randSize returns a message size from hdrLen to limit, mostly small: 70 %
// up to 256 B, 20 % up to 4 KiB, 8 % up to 64 KiB and 2 % up to limit, each
// range spread evenly on a log scale.
func randSize(limit int) int {
	lo, hi := hdrLen, 256
	switch p := rand.N(100); {
	case p >= 98:
		lo, hi = 64<<10, limit
	case p >= 90:
		lo, hi = 4<<10, 64<<10
	case p >= 70:
		lo, hi = 256, 4<<10
	}
	hi = min(hi, limit)
	lo = min(lo, hi)
	n := int(float64(lo) * math.Pow(float64(hi)/float64(lo), rand.Float64()))
	return min(max(n, lo), hi)
}

// crcOf returns the checksum of a body, as headers carry it.
func crcOf(body []byte) uint32 { return crc32.Checksum(body, castagnoli) }

// putHeader writes the header of message id with a body whose checksum is
// sum into dst[:hdrLen].
func putHeader(dst []byte, id, sum uint32) {
	var raw [8]byte
	raw[0], raw[1], raw[2], raw[3] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
	raw[4], raw[5], raw[6], raw[7] = byte(sum>>24), byte(sum>>16), byte(sum>>8), byte(sum)
	hex.Encode(dst[:hdrLen], raw[:])
}

// parseHeader reads a header written by putHeader.
func parseHeader(b []byte) (id, sum uint32, ok bool) {
	var raw [8]byte
	if len(b) < hdrLen {
		return 0, 0, false
	}
	if _, err := hex.Decode(raw[:], b[:hdrLen]); err != nil {
		return 0, 0, false
	}
	id = uint32(raw[0])<<24 | uint32(raw[1])<<16 | uint32(raw[2])<<8 | uint32(raw[3])
	sum = uint32(raw[4])<<24 | uint32(raw[5])<<16 | uint32(raw[6])<<8 | uint32(raw[7])
	return id, sum, true
}

// checker checks a message as it streams in: it keeps the header and
// computes the checksum of the body after it. The zero value is ready.
type checker struct {
	hdr [hdrLen]byte
	hn  int
	sum uint32
	n   int
}

// Write adds p to the message; it never fails.
func (k *checker) Write(p []byte) (int, error) {
	n := len(p)
	k.n += n
	if k.hn < hdrLen {
		c := copy(k.hdr[k.hn:], p)
		k.hn += c
		p = p[c:]
	}
	k.sum = crc32.Update(k.sum, castagnoli, p)
	return n, nil
}

// result returns the message's id, its length, and whether its header was
// whole and its checksum right.
func (k *checker) result() (id uint32, n int, ok bool) {
	id, sum, ok := parseHeader(k.hdr[:k.hn])
	return id, k.n, ok && sum == k.sum
}

// keepSmall returns buf for reuse, or nil if it has grown past 4 KiB, so
// that the test's own buffers do not hide the library's memory use.
func keepSmall(buf []byte) []byte {
	if cap(buf) > 4<<10 {
		return nil
	}
	return buf
}

// chunks pools the buffers that streamed messages are read through, so that
// a connection holds one only while it streams.
var chunks = sync.Pool{New: func() any { return new([32 << 10]byte) }}
