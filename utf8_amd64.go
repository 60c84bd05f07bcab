//go:build amd64 && !purego

package websocket

// This file declares the AVX2 check of utf8_amd64.s, which validates UTF-8
// 32 bytes per step with the "lookup" method of Keiser and Lemire
// ("Validating UTF-8 In Less Than One Instruction Per Byte", 2021): every
// error of UTF-8 shows in a byte together with the one before it, except a
// missing or extra continuation byte, which shows in the two and three
// bytes before it.
//
// For each byte, three 16-entry tables indexed by the high and low nibble
// of the previous byte and the high nibble of the byte itself give bit sets
// of the errors each nibble allows; their intersection is the errors the
// pair has. One bit of it, utf8TwoConts, is not an error but says "a
// continuation byte follows a continuation byte", which must happen exactly
// when the byte two back starts a 3- or 4-byte sequence, or the byte three
// back starts a 4-byte one.

// The bits of the pair classification.
const (
	utf8TooShort  = 1 << iota // lead byte not followed by a continuation byte
	utf8TooLong               // continuation byte after an ASCII byte
	utf8Overlong3             // E0 80-9F
	utf8TooLarge              // F4 90-BF, or F5-FF 90-BF
	utf8Surrogate             // ED A0-BF
	utf8Overlong2             // C0-C1 80-BF
	utf8Overlong4             // F0 80-8F, or F5-FF 80-8F
	utf8TwoConts              // continuation byte after a continuation byte
)

// utf8Carry is in every entry of the low-nibble table: the errors decided
// by the high nibbles alone.
const utf8Carry = utf8TooShort | utf8TooLong | utf8TwoConts

// utf8PairTables are the three lookup tables, read by validBlocks: the
// previous byte's high nibble, its low nibble, and the byte's high nibble.
var utf8PairTables = [3][16]byte{
	{
		// 0-7: ASCII
		utf8TooLong, utf8TooLong, utf8TooLong, utf8TooLong,
		utf8TooLong, utf8TooLong, utf8TooLong, utf8TooLong,
		// 8-B: continuation
		utf8TwoConts, utf8TwoConts, utf8TwoConts, utf8TwoConts,
		// C-D: lead of 2
		utf8TooShort | utf8Overlong2,
		utf8TooShort,
		// E: lead of 3
		utf8TooShort | utf8Overlong3 | utf8Surrogate,
		// F: lead of 4, or never valid
		utf8TooShort | utf8TooLarge | utf8Overlong4,
	},
	{
		utf8Carry | utf8Overlong2 | utf8Overlong3 | utf8Overlong4, // C0, E0, F0
		utf8Carry | utf8Overlong2,                                 // C1
		utf8Carry,
		utf8Carry,
		utf8Carry | utf8TooLarge, // F4
		utf8Carry | utf8TooLarge | utf8Overlong4,
		utf8Carry | utf8TooLarge | utf8Overlong4,
		utf8Carry | utf8TooLarge | utf8Overlong4,
		utf8Carry | utf8TooLarge | utf8Overlong4,
		utf8Carry | utf8TooLarge | utf8Overlong4,
		utf8Carry | utf8TooLarge | utf8Overlong4,
		utf8Carry | utf8TooLarge | utf8Overlong4,
		utf8Carry | utf8TooLarge | utf8Overlong4,
		utf8Carry | utf8TooLarge | utf8Overlong4 | utf8Surrogate, // ED
		utf8Carry | utf8TooLarge | utf8Overlong4,
		utf8Carry | utf8TooLarge | utf8Overlong4,
	},
	{
		// 0-7: ASCII
		utf8TooShort, utf8TooShort, utf8TooShort, utf8TooShort,
		utf8TooShort, utf8TooShort, utf8TooShort, utf8TooShort,
		// 8-B: continuation, by range
		utf8TooLong | utf8TwoConts | utf8Overlong2 | utf8Overlong3 | utf8Overlong4, // 80-8F
		utf8TooLong | utf8TwoConts | utf8Overlong2 | utf8Overlong3 | utf8TooLarge,  // 90-9F
		utf8TooLong | utf8TwoConts | utf8Overlong2 | utf8Surrogate | utf8TooLarge,  // A0-AF
		utf8TooLong | utf8TwoConts | utf8Overlong2 | utf8Surrogate | utf8TooLarge,  // B0-BF
		// C-F: lead
		utf8TooShort, utf8TooShort, utf8TooShort, utf8TooShort,
	},
}

// haveVectorUTF8 reports whether validBlocks can run: the CPU has AVX2 and
// the operating system saves its registers. Tests turn it off to check the
// scalar path.
var haveVectorUTF8 = hasAVX2()

// hasAVX2 reports whether the CPU and the operating system support AVX2.
func hasAVX2() bool

// validBlocks reports whether p, whose length is a multiple of 32, is valid
// UTF-8 that may end in the middle of a code point. It sees every error
// except at the end of p: a code point cut short, or a byte that can never
// start one (C0, C1, F5-FF) in the last position; the automaton checks
// that last code point again (lastCodePoint).
//
//go:noescape
func validBlocks(p []byte) bool
