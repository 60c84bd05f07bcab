//go:build !js

package websocket

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// This file tests UTF-8 validation: the incremental validator on its own
// (against samples, every code point and the standard library's
// utf8.Valid), and text messages over the wire as Autobahn section 6 sends
// them, including its fail-fast cases.

// utf8Sample is a byte sequence and whether it is valid UTF-8.
type utf8Sample struct {
	name  string
	data  string
	valid bool
}

// kosme is the Greek word "κόσμε", the favourite sample of Markus Kuhn's
// UTF-8 decoder test and of Autobahn.
const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

// autobahnUTF8Samples returns the samples of Autobahn cases 6.5 to 6.23,
// taken from Markus Kuhn's UTF-8 decoder capability and stress test.
func autobahnUTF8Samples() []utf8Sample {
	var samples []utf8Sample
	add := func(group string, valid bool, data ...string) {
		for i, d := range data {
			samples = append(samples, utf8Sample{fmt.Sprintf("%s %d", group, i+1), d, valid})
		}
	}
	add("6.5 valid", true, "hello\x24world", "hello\xc2\xa2world", "hello\xe2\x82\xacworld", "hello\xf0\xa4\xad\xa2world", kosme)
	// 6.6: every prefix of kosme; those that end inside a code point are
	// truncated at the end of the message.
	for i := 1; i <= len(kosme); i++ {
		complete := strings.Contains(" 2 5 7 9 11 ", fmt.Sprintf(" %d ", i))
		samples = append(samples, utf8Sample{fmt.Sprintf("6.6 prefix %d", i), kosme[:i], complete})
	}
	add("6.7 first of each length", true, "\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80")
	add("6.8 first 5 and 6-byte forms", false, "\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80")
	add("6.9 last of each length", true, "\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf")
	add("6.10 last 4, 5 and 6-byte forms", false, "\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf")
	add("6.11 boundaries", true, "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf")
	add("6.11 above U+10FFFF", false, "\xf4\x90\x80\x80")
	var allCont []byte
	for b := 0x80; b <= 0xbf; b++ {
		allCont = append(allCont, byte(b))
	}
	add("6.12 unexpected continuation", false, "\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf",
		"\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf", string(allCont))
	for _, r := range [][2]int{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}} {
		var lonely []byte
		for b := r[0]; b <= r[1]; b++ {
			lonely = append(lonely, byte(b), ' ')
		}
		add(fmt.Sprintf("6.13 lonely start bytes %#x-%#x", r[0], r[1]), false, string(lonely))
	}
	missing := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	add("6.14 last continuation byte missing", false, missing...)
	add("6.15 concatenated incomplete sequences", false, strings.Join(missing, ""))
	add("6.16 impossible bytes", false, "\xfe", "\xff", "\xfe\xfe\xff\xff")
	add("6.17 overlong slash", false, "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf")
	add("6.18 maximum overlong", false, "\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf")
	add("6.19 overlong NUL", false, "\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80")
	add("6.20 single surrogates", false, "\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf")
	add("6.21 paired surrogates", false, "\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf", "\xed\xad\xbf\xed\xb0\x80",
		"\xed\xad\xbf\xed\xbf\xbf", "\xed\xae\x80\xed\xb0\x80", "\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf")
	// 6.22: noncharacters are valid UTF-8: U+FFFE, U+FFFF and the last two
	// code points of each supplementary plane.
	nonchars := []string{"\xef\xbf\xbe", "\xef\xbf\xbf"}
	for plane := rune(1); plane <= 16; plane++ {
		nonchars = append(nonchars, string(plane<<16|0xFFFE), string(plane<<16|0xFFFF))
	}
	add("6.22 noncharacters", true, nonchars...)
	add("6.23 specials", true, "\xef\xbf\xb9", "\xef\xbf\xba", "\xef\xbf\xbb", "\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf")
	add("mixed text", true, "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", "\xf0\x9f\x98\x80 emoji", "")
	add("invalid inside text", false, kosme+"\xed\xa0\x80edited", "edited\xf4\x90\x80\x80", "ab\xc3(")
	return samples
}

// canBeValid reports whether b is valid UTF-8 or can become valid by
// appending bytes, using nothing but utf8.Valid: an incremental validator
// must reject b exactly when this is false. A stream that can be completed
// is valid text followed by the first 1 to 3 bytes of a code point, and
// only the second byte of a code point has a range that depends on the
// first, so the completions to try are few.
func canBeValid(b []byte) bool {
	if utf8.Valid(b) {
		return true
	}
	for k := 1; k <= 3 && k <= len(b); k++ {
		head, tail := b[:len(b)-k], b[len(b)-k:]
		if !utf8.Valid(head) {
			continue
		}
		for n := k + 1; n <= 4; n++ {
			seq := append(bytes.Clone(tail), bytes.Repeat([]byte{0x80}, n-k)...)
			if k > 1 {
				if utf8.Valid(seq) {
					return true
				}
				continue
			}
			for second := 0x80; second <= 0xbf; second++ {
				seq[1] = byte(second)
				if utf8.Valid(seq) {
					return true
				}
			}
		}
	}
	return false
}

// validateIn feeds data to a new validator in pieces ending at the given
// offsets (and at the end), and returns whether every piece was accepted
// and the stream ended on a code point boundary.
func validateIn(data []byte, cuts ...int) bool {
	var v utf8Validator
	prev := 0
	for _, cut := range append(cuts, len(data)) {
		if !v.write(data[prev:cut]) {
			return false
		}
		prev = cut
	}
	return v.complete()
}

// TestCanBeValid checks the test oracle itself on a few hand-picked cases.
func TestCanBeValid(t *testing.T) {
	for _, tc := range []struct {
		b    string
		want bool
	}{
		{"", true}, {"abc", true}, {"\xce", true}, {"\xe0\xa0", true}, {"\xf4\x8f\xbf", true},
		{"\xe0\x80", false}, {"\xed\xa0", false}, {"\xf4\x90", false}, {"\xf5", false}, {"\x80", false},
		{"\xc0", false}, {"a\xce\xce", false}, {"\xf0\x90\x80\x80\x80", false},
	} {
		if got := canBeValid([]byte(tc.b)); got != tc.want {
			t.Errorf("canBeValid(%q) = %v, want %v", tc.b, got, tc.want)
		}
	}
}

// TestUTF8ValidatorSamples checks the validator on the Autobahn samples fed
// whole, cut in two at every point, and one byte at a time; fed a byte at a
// time it must fail on exactly the first byte that makes the stream
// impossible to complete.
func TestUTF8ValidatorSamples(t *testing.T) {
	for _, s := range autobahnUTF8Samples() {
		data := []byte(s.data)
		if utf8.Valid(data) != s.valid {
			t.Fatalf("%s: sample %q marked valid=%v, but utf8.Valid says otherwise", s.name, s.data, s.valid)
		}
		if got := validateIn(data); got != s.valid {
			t.Errorf("%s: whole %q: valid=%v, want %v", s.name, s.data, got, s.valid)
		}
		for cut := 0; cut <= len(data); cut++ {
			if got := validateIn(data, cut); got != s.valid {
				t.Errorf("%s: %q cut at %d: valid=%v, want %v", s.name, s.data, cut, got, s.valid)
			}
		}
		var v utf8Validator
		for i := range data {
			want := canBeValid(data[:i+1])
			if got := v.write(data[i : i+1]); got != want {
				t.Errorf("%s: %q byte by byte: byte %d accepted=%v, want %v", s.name, s.data, i, got, want)
				break
			} else if !got {
				break
			}
		}
	}
}

// encodeAny appends r to b in the UTF-8 bit pattern of n bytes (1-4)
// whether or not that is allowed, to make surrogates, overlong forms and
// code points above U+10FFFF.
func encodeAny(b []byte, r rune, n int) []byte {
	switch n {
	case 1:
		return append(b, byte(r))
	case 2:
		return append(b, 0xC0|byte(r>>6), 0x80|byte(r)&0x3F)
	case 3:
		return append(b, 0xE0|byte(r>>12), 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
	}
	return append(b, 0xF0|byte(r>>18), 0x80|byte(r>>12)&0x3F, 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
}

// TestUTF8ValidatorCodePoints checks code points up to U+10FFFF in their
// shortest form (valid unless a surrogate), in a longer form (overlong,
// invalid), and the 4-byte patterns above U+10FFFF (invalid), each fed
// whole and a byte at a time.
func TestUTF8ValidatorCodePoints(t *testing.T) {
	check := func(b []byte, want bool, what string, r rune) {
		var v utf8Validator
		ok := true
		for i := range b {
			if !v.write(b[i : i+1]) {
				ok = false
				break
			}
		}
		byByte := ok && v.complete()
		if whole := validateIn(b); whole != want || byByte != want {
			t.Fatalf("%s U+%04X % x: whole valid=%v, byte by byte valid=%v, want %v", what, r, b, whole, byByte, want)
		}
	}
	size := func(r rune) int {
		switch {
		case r < 0x80:
			return 1
		case r < 0x800:
			return 2
		case r < 0x10000:
			return 3
		}
		return 4
	}
	var buf [4]byte
	// Every code point of the BMP (surrogates included), then every fifth,
	// which still hits U+10000 and U+10FFFF.
	for r := rune(0); r <= 0x10FFFF; r++ {
		if r > 0x10000 && (r-0x10000)%5 != 0 {
			continue
		}
		n := size(r)
		check(encodeAny(buf[:0], r, n), r < 0xD800 || r > 0xDFFF, "shortest form of", r)
		if n < 4 && r%7 == 0 {
			check(encodeAny(buf[:0], r, n+1), false, "overlong form of", r)
		}
	}
	for r := rune(0x110000); r <= 0x1FFFFF; r += 0x101 {
		check(encodeAny(buf[:0], r, 4), false, "4-byte pattern of", r)
	}
}

// TestUTF8Blocks checks the validator, fed whole, against utf8.Valid on
// every pair of bytes and on every 4-byte sequence starting with a lead
// byte from utf8Probe, placed after ASCII and after multi-byte text so that
// they cross the 16- and 32-byte blocks the vector check works in, and
// followed by more text or by the end. This is where the vector check
// (utf8_amd64.s) would differ from the automaton; go test -tags purego
// runs the same test without it.
func TestUTF8Blocks(t *testing.T) {
	// utf8Probe has a byte from every range UTF-8 tells apart.
	probe := []byte{0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
		0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF7, 0xF8, 0xFF}
	fills := []string{strings.Repeat("a", 80), strings.Repeat("é", 40), strings.Repeat("€😀", 12)}
	buf := make([]byte, 0, 256)
	check := func(seq []byte, positions []int) {
		for _, fill := range fills {
			for _, at := range positions {
				for !utf8.RuneStart(fill[at]) {
					at--
				}
				for _, suffix := range []string{fill[:40], ""} {
					buf = append(append(append(buf[:0], fill[:at]...), seq...), suffix...)
					if got, want := validateIn(buf), utf8.Valid(buf); got != want {
						t.Fatalf("% x: valid=%v, utf8.Valid says %v", buf, got, want)
					}
				}
			}
		}
	}
	for pair := range 1 << 16 {
		check([]byte{byte(pair >> 8), byte(pair)}, []int{0, 14, 15, 30, 31, 32, 63})
	}
	for _, b0 := range probe[9:] {
		for _, b1 := range probe {
			for _, b2 := range probe {
				for _, b3 := range probe {
					check([]byte{b0, b1, b2, b3}, []int{29, 31, 61})
				}
			}
		}
	}
}

// TestUTF8Wire is Autobahn 6.2, 6.3 and 6.5 to 6.23 over the wire: each
// sample as a text message in one frame and in one-byte fragments is echoed
// if valid and fails the connection with 1007 otherwise.
func TestUTF8Wire(t *testing.T) {
	for _, s := range autobahnUTF8Samples() {
		for _, fragmented := range []bool{false, true} {
			name := s.name + " frame"
			if fragmented {
				name = s.name + " fragments"
			}
			t.Run(name, func(t *testing.T) {
				addr, done := serveConn(t, Options{}, echoHandler)
				c := connect(t, addr)
				if fragmented && len(s.data) > 1 {
					var frames [][]byte
					for i := range len(s.data) {
						op := opContinuation
						if i == 0 {
							op = opText
						}
						frames = append(frames, clientFrame(i == len(s.data)-1, op, s.data[i:i+1]))
					}
					c.send(cat(frames...))
				} else {
					c.sendFrame(true, opText, []byte(s.data))
				}
				if s.valid {
					c.expectFrame(opText, s.data)
					c.closeHandshake()
				} else {
					c.expectCloseFrame(StatusInvalidPayload)
					c.answerClose()
				}
				await(t, done, "the handler to return")
			})
		}
	}
}

// TestUTF8FailFastFragments is Autobahn 6.4.1 and 6.4.2 and more like them:
// a text message sent in fragments, where one fragment makes it invalid,
// must fail with 1007 as soon as that fragment arrives, before the final
// one. A ping after each earlier fragment, answered, shows the server had
// accepted it.
func TestUTF8FailFastFragments(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts []string // the part at index bad makes the text invalid
		bad   int
	}{
		{"6.4.1 code point above U+10FFFF", []string{kosme, "\xf4\x90\x80\x80", "edited"}, 1},
		{"6.4.2 invalid on the byte after a fragment end", []string{kosme + "\xf4", "\x90", "\x80\x80edited"}, 1},
		{"surrogate split across fragments", []string{"edited\xed", "\xa0\x80", "edited"}, 1},
		{"overlong form split across fragments", []string{"a\xe0", "\x80", "\xafz"}, 1},
		{"lone continuation byte", []string{"abc", "\x80", "def"}, 1},
		{"5-byte lead byte", []string{"abc", "def", "\xf8", "\x88\x80\x80\x80"}, 2},
		{"valid prefix, invalid in a later fragment", []string{"\xf0", "\x9f\x98", "\x80ok\xc0", "\xaf"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, done := serveConn(t, Options{}, echoHandler)
			c := connect(t, addr)
			for i, part := range tc.parts[:tc.bad] {
				op := opText
				if i > 0 {
					op = opContinuation
				}
				c.sendFrame(false, op, []byte(part))
				c.sendFrame(true, opPing, []byte{byte(i)})
				c.expectFrame(opPong, string([]byte{byte(i)}))
			}
			c.sendFrame(false, opContinuation, []byte(tc.parts[tc.bad]))
			c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			c.expectCloseFrame(StatusInvalidPayload)
			c.conn.SetReadDeadline(time.Now().Add(testTimeout))
			// Only now the rest, then the client's close.
			rest := tc.parts[tc.bad+1:]
			for i, part := range rest {
				c.sendFrame(i == len(rest)-1, opContinuation, []byte(part))
			}
			c.answerClose()
			await(t, done, "the handler to return")
		})
	}
}

// TestUTF8FailFastFrame is Autobahn 6.4.3 and 6.4.4: a single text frame
// sent in pieces, where a piece makes the text invalid, must fail with 1007
// as soon as that piece arrives, while the frame is still incomplete.
func TestUTF8FailFastFrame(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts []string // the payload in pieces; the second makes it invalid
	}{
		{"6.4.3 code point above U+10FFFF", []string{kosme, "\xf4\x90\x80\x80", "edited"}},
		{"6.4.4 invalid on the second byte of a code point", []string{kosme + "\xf4", "\x90", "\x80\x80edited"}},
		{"surrogate", []string{"hello ", "\xed\xbf", "\xbf world"}},
		{"impossible byte", []string{"hello ", "\xff", " world"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, done := serveConn(t, Options{}, echoHandler)
			c := connect(t, addr)
			frame := clientFrame(true, opText, strings.Join(tc.parts, ""))
			head := len(frame) - len(strings.Join(tc.parts, ""))
			first := head + len(tc.parts[0])
			second := first + len(tc.parts[1])
			c.sendChunked(frame[:first], 1)
			c.send(frame[first:second])
			c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			c.expectCloseFrame(StatusInvalidPayload)
			c.conn.SetReadDeadline(time.Now().Add(testTimeout))
			c.send(frame[second:])
			c.answerClose()
			await(t, done, "the handler to return")
		})
	}
}

// TestUTF8SplitCodePoints checks that code points split across fragments,
// with pings between the pieces, and across separate writes of one frame
// are accepted and echoed whole.
func TestUTF8SplitCodePoints(t *testing.T) {
	t.Run("fragments", func(t *testing.T) {
		addr, done := serveConn(t, Options{}, echoHandler)
		c := connect(t, addr)
		parts := []string{"\xce", "\xba\xe1", "\xbd", "\xb9\xf0\x9f", "\x98", "\x80"}
		for i, part := range parts {
			op := opContinuation
			if i == 0 {
				op = opText
			}
			c.sendFrame(i == len(parts)-1, op, []byte(part))
			if i < len(parts)-1 {
				// The server has read the fragment and not failed.
				c.sendFrame(true, opPing, nil)
				c.expectFrame(opPong, "")
			}
		}
		c.expectFrame(opText, strings.Join(parts, ""))
		c.closeHandshake()
		await(t, done, "the handler to return")
	})
	t.Run("writes of one frame", func(t *testing.T) {
		addr, done := serveConn(t, Options{}, echoHandler)
		c := connect(t, addr)
		text := "a\xf0\x9f\x98\x80b\xe2\x82\xacc\xc2\xa2" + kosme
		c.sendChunked(clientFrame(true, opText, text), 1)
		c.expectFrame(opText, text)
		c.closeHandshake()
		await(t, done, "the handler to return")
	})
}

// FuzzUTF8Validator checks the incremental validator against utf8.Valid on
// random data, cut once anywhere (long pieces, where the vector check
// runs) and cut into many short pieces: every piece must be accepted
// exactly when the stream so far can still become valid UTF-8, and the
// whole stream must be accepted exactly when utf8.Valid accepts it.
func FuzzUTF8Validator(f *testing.F) {
	for i, s := range autobahnUTF8Samples() {
		f.Add([]byte(s.data), uint64(i))
	}
	f.Add([]byte(strings.Repeat("ascii then \xe2\x82\xac", 20)), uint64(7))
	f.Add([]byte(strings.Repeat("Grüße, 日本語 \xf0\x9f\x98\x80", 8)+"\xed\xa0\x80"), uint64(3))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		// Whole, and cut once: long pieces, where the vector check runs.
		cut := int(seed % uint64(len(data)+1))
		if got, want := validateIn(data, cut), utf8.Valid(data); got != want {
			t.Fatalf("% x cut at %d: valid=%v, utf8.Valid says %v", data, cut, got, want)
		}
		if len(data) > 512 {
			// The oracle is quadratic; long inputs only slow the search.
			data = data[:512]
		}
		rng := rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))
		var v utf8Validator
		accepted := true
		for pos := 0; pos < len(data); {
			// Mostly short pieces, so that cuts fall inside code points.
			n := 1 + rng.IntN(min(len(data)-pos, 1+rng.IntN(16)))
			got := v.write(data[pos : pos+n])
			pos += n
			if want := canBeValid(data[:pos]); got != want {
				t.Fatalf("% x: piece ending at %d accepted=%v, want %v", data, pos, got, want)
			}
			if !got {
				accepted = false
				break
			}
		}
		if got, want := accepted && v.complete(), utf8.Valid(data); got != want {
			t.Fatalf("% x: valid=%v, utf8.Valid says %v", data, got, want)
		}
	})
}

// BenchmarkUTF8Validator measures the validator's throughput on ASCII, on
// mixed text (whole and in pieces of 1000 bytes, which cut code points) and
// on JSON with a few multi-byte characters. With -tags purego it measures
// the automaton without the vector check.
func BenchmarkUTF8Validator(b *testing.B) {
	ascii := bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 1500)
	mixed := bytes.Repeat([]byte("Grüße, "+kosme+", 日本語, \xf0\x9f\x98\x80 and some ASCII. "), 1000)
	json := bytes.Repeat([]byte(`{"user":"zoë","city":"Zürich","note":"naïve — ✓ 東京 🎉","n":42},`), 1000)
	for _, bc := range []struct {
		name  string
		data  []byte
		piece int
	}{
		{"ascii", ascii, len(ascii)},
		{"mixed", mixed, len(mixed)},
		{"mixed-pieces", mixed, 1000},
		{"json", json, len(json)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				var v utf8Validator
				for p := bc.data; len(p) > 0; {
					n := min(bc.piece, len(p))
					if !v.write(p[:n]) {
						b.Fatal("rejected valid text")
					}
					p = p[n:]
				}
				if !v.complete() {
					b.Fatal("incomplete")
				}
			}
		})
	}
}
