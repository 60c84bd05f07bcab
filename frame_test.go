//go:build !js

package websocket

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// This file tests the wire format of frame.go, headers and masking, against
// RFC 6455 section 5.

// rfcExample is one frame from RFC 6455 section 5.7: its bytes on the wire,
// the header they encode and the unmasked payload.
type rfcExample struct {
	name    string
	wire    []byte
	header  header
	payload []byte
}

// rfcExamples returns the frames of RFC 6455 section 5.7.
func rfcExamples() []rfcExample {
	hello := []byte("Hello")
	bin256 := make([]byte, 256)
	bin64k := make([]byte, 65536)
	for i := range bin256 {
		bin256[i] = byte(i)
	}
	for i := range bin64k {
		bin64k[i] = byte(i * 7)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	maskedHello := []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}
	return []rfcExample{
		{
			name:    "unmasked text Hello",
			wire:    []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},
			header:  header{fin: true, opcode: opText, length: 5},
			payload: hello,
		},
		{
			name:    "masked text Hello",
			wire:    cat([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}, maskedHello),
			header:  header{fin: true, opcode: opText, length: 5, masked: true, key: rfcKey},
			payload: hello,
		},
		{
			name:    "fragment Hel",
			wire:    []byte{0x01, 0x03, 0x48, 0x65, 0x6c},
			header:  header{fin: false, opcode: opText, length: 3},
			payload: []byte("Hel"),
		},
		{
			name:    "fragment lo",
			wire:    []byte{0x80, 0x02, 0x6c, 0x6f},
			header:  header{fin: true, opcode: opContinuation, length: 2},
			payload: []byte("lo"),
		},
		{
			name:    "unmasked ping Hello",
			wire:    []byte{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},
			header:  header{fin: true, opcode: opPing, length: 5},
			payload: hello,
		},
		{
			name:    "masked pong Hello",
			wire:    cat([]byte{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d}, maskedHello),
			header:  header{fin: true, opcode: opPong, length: 5, masked: true, key: rfcKey},
			payload: hello,
		},
		{
			name:    "unmasked pong Hello",
			wire:    []byte{0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},
			header:  header{fin: true, opcode: opPong, length: 5},
			payload: hello,
		},
		{
			name:    "256 bytes binary",
			wire:    cat([]byte{0x82, 0x7e, 0x01, 0x00}, bin256),
			header:  header{fin: true, opcode: opBinary, length: 256},
			payload: bin256,
		},
		{
			name:    "64 KiB binary",
			wire:    cat([]byte{0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0, 0}, bin64k),
			header:  header{fin: true, opcode: opBinary, length: 65536},
			payload: bin64k,
		},
	}
}

func TestRFCExamples(t *testing.T) {
	for _, ex := range rfcExamples() {
		t.Run(ex.name, func(t *testing.T) {
			hsize := len(ex.wire) - len(ex.payload)

			// Decoding.
			h, n, err := parseHeader(ex.wire)
			if err != nil || n != hsize || h != ex.header {
				t.Fatalf("parseHeader = %+v, %d, %v; want %+v, %d, nil", h, n, err, ex.header, hsize)
			}
			payload := bytes.Clone(ex.wire[n:])
			if h.masked {
				if next := mask(h.key, 0, payload); next != len(payload)%4 {
					t.Errorf("mask returned key position %d, want %d", next, len(payload)%4)
				}
			}
			if !bytes.Equal(payload, ex.payload) {
				t.Errorf("unmasked payload %.20q, want %.20q", payload, ex.payload)
			}

			// Encoding.
			var buf [maxHeaderSize]byte
			if m := putHeader(buf[:], ex.header); m != hsize || !bytes.Equal(buf[:m], ex.wire[:hsize]) {
				t.Errorf("putHeader wrote % x, want % x", buf[:m], ex.wire[:hsize])
			}
			if got := headerSize(ex.header.length, ex.header.masked); got != hsize {
				t.Errorf("headerSize = %d, want %d", got, hsize)
			}
			frame := buildFrame(ex.header.fin, ex.header.opcode, ex.payload, ex.header.masked, ex.header.key)
			if !bytes.Equal(frame, ex.wire) {
				t.Errorf("encoded frame differs from the RFC's bytes")
			}
		})
	}
}

// TestParseHeaderLengths checks the three length forms at their boundaries,
// masked and unmasked.
func TestParseHeaderLengths(t *testing.T) {
	tests := []struct {
		wire   []byte // first two bytes and extended length, without key
		length int64
	}{
		{[]byte{0x82, 0}, 0},
		{[]byte{0x82, 1}, 1},
		{[]byte{0x82, 125}, 125},
		{[]byte{0x82, 126, 0, 126}, 126},
		{[]byte{0x82, 126, 0, 127}, 127},
		{[]byte{0x82, 126, 0xff, 0xff}, 65535},
		{[]byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}, 65536},
		{[]byte{0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0}, 1 << 32},
		{[]byte{0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, math.MaxInt64},
		// Longer forms than needed are not an error.
		{[]byte{0x82, 126, 0, 5}, 5},
		{[]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5}, 5},
	}
	for _, tt := range tests {
		for _, masked := range []bool{false, true} {
			wire := bytes.Clone(tt.wire)
			want := header{fin: true, opcode: opBinary, length: tt.length}
			if masked {
				wire[1] |= maskBit
				wire = append(wire, 1, 2, 3, 4)
				want.masked, want.key = true, [4]byte{1, 2, 3, 4}
			}
			// Trailing payload bytes must not change the result.
			h, n, err := parseHeader(append(wire, 0xEE, 0xEE))
			if err != nil || n != len(wire) || h != want {
				t.Errorf("parseHeader(% x) = %+v, %d, %v; want %+v, %d, nil", wire, h, n, err, want, len(wire))
			}
		}
	}
}

// TestParseHeaderIncomplete checks that every proper prefix of a header,
// valid or not, asks for more bytes.
func TestParseHeaderIncomplete(t *testing.T) {
	headers := [][]byte{
		{0x81, 0x05},
		{0x81, 0x85, 1, 2, 3, 4},
		{0x82, 0x7e, 0x01, 0x00},
		{0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4},
		{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0},
		{0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4},
		{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, // top bit set
		{0xf2, 0x85, 1, 2, 3, 4},                            // RSV bits
		{0x83, 0x85, 1, 2, 3, 4},                            // reserved opcode
		{0x89, 0xfe, 0x01, 0x00, 1, 2, 3, 4},                // long ping
		{0x09, 0x85, 1, 2, 3, 4},                            // fragmented ping
	}
	for _, full := range headers {
		for k := range len(full) {
			h, n, err := parseHeader(full[:k])
			if n != 0 || err != nil {
				t.Errorf("parseHeader(% x) = %+v, %d, %v; want n == 0 and no error", full[:k], h, n, err)
			}
		}
		if _, n, err := parseHeader(full); n == 0 && err == nil {
			t.Errorf("parseHeader(% x) asks for more bytes after the whole header", full)
		}
	}
}

// TestParseHeaderErrors checks the rules a header can break on its own.
func TestParseHeaderErrors(t *testing.T) {
	tests := []struct {
		name  string
		wire  []byte
		err   error
		n     int
		check func(header) bool
	}{
		{"64-bit length top bit", []byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, errLengthTooLarge, 0, nil},
		{"64-bit length all ones", []byte{0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, errLengthTooLarge, 0, nil},
		{"RSV1", []byte{0xc1, 0x80, 1, 2, 3, 4}, errReservedBits, 6, func(h header) bool { return h.rsv == 0x40 }},
		{"RSV2", []byte{0xa1, 0x80, 1, 2, 3, 4}, errReservedBits, 6, func(h header) bool { return h.rsv == 0x20 }},
		{"RSV3", []byte{0x91, 0x00}, errReservedBits, 2, func(h header) bool { return h.rsv == 0x10 }},
		{"RSV with long length", []byte{0xf2, 0x7e, 0x01, 0x00}, errReservedBits, 4, func(h header) bool { return h.length == 256 }},
		{"opcode 0x3", []byte{0x83, 0x80, 1, 2, 3, 4}, errReservedOpcode, 6, nil},
		{"opcode 0x7", []byte{0x87, 0x00}, errReservedOpcode, 2, nil},
		{"opcode 0xB", []byte{0x8b, 0x00}, errReservedOpcode, 2, nil},
		{"opcode 0xF", []byte{0x8f, 0x7e, 0x10, 0x00}, errReservedOpcode, 4, func(h header) bool { return h.length == 4096 }},
		{"close 126 bytes", []byte{0x88, 0x7e, 0x00, 0x7e}, errControlTooLong, 4, func(h header) bool { return h.length == 126 }},
		{"ping 126 bytes masked", []byte{0x89, 0xfe, 0x00, 0x7e, 1, 2, 3, 4}, errControlTooLong, 8, nil},
		{"pong 64 KiB", []byte{0x8a, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, errControlTooLong, 10, func(h header) bool { return h.length == 65536 }},
		{"close in 126 form", []byte{0x88, 0x7e, 0x00, 0x05}, nil, 4, func(h header) bool { return h.length == 5 }},
		{"fragmented ping", []byte{0x09, 0x80, 1, 2, 3, 4}, errControlFragment, 6, nil},
		{"fragmented close", []byte{0x08, 0x02}, errControlFragment, 2, nil},
		{"fragmented pong", []byte{0x0a, 0x00}, errControlFragment, 2, nil},
		{"ping 125 bytes", []byte{0x89, 0x7d}, nil, 2, nil},
		{"unfinished text", []byte{0x01, 0x00}, nil, 2, nil},
		{"continuation", []byte{0x00, 0x80, 1, 2, 3, 4}, nil, 6, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := parseHeader(tt.wire)
			if !errors.Is(err, tt.err) || n != tt.n {
				t.Fatalf("parseHeader(% x) = n %d, err %v; want n %d, err %v", tt.wire, n, err, tt.n, tt.err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "websocket: ") {
				t.Errorf("error %q does not begin with \"websocket: \"", err)
			}
			if tt.check != nil && !tt.check(h) {
				t.Errorf("parseHeader(% x) decoded %+v", tt.wire, h)
			}
		})
	}
}

// TestPutHeaderRoundTrip encodes headers for many lengths and decodes them
// again, checking that the shortest length form is used.
func TestPutHeaderRoundTrip(t *testing.T) {
	lengths := []int64{0, 1, 2, 124, 125, 126, 127, 128, 255, 256, 1000, 4096,
		65534, 65535, 65536, 65537, 1 << 20, 1<<31 - 1, 1 << 31, 1<<32 - 1, 1 << 32,
		1 << 40, 1<<62 + 12345, math.MaxInt64 - 1, math.MaxInt64}
	for i := range 300 {
		lengths = append(lengths, int64(i*i*i))
	}
	ops := []opcode{opContinuation, opText, opBinary}
	for i, length := range lengths {
		for _, masked := range []bool{false, true} {
			h := header{
				fin:    i%2 == 0,
				opcode: ops[i%len(ops)],
				length: length,
				masked: masked,
			}
			if masked {
				h.key = [4]byte{byte(i), 0xA5, byte(i >> 8), 0x5A}
			}
			var buf [maxHeaderSize + 3]byte
			for j := range buf {
				buf[j] = 0xCC // canary
			}
			n := putHeader(buf[:], h)
			if want := headerSize(length, masked); n != want {
				t.Errorf("length %d masked %v: putHeader wrote %d bytes, headerSize says %d", length, masked, n, want)
			}
			wantLen := 2
			switch {
			case length > 65535:
				wantLen = 10
			case length > 125:
				wantLen = 4
			}
			if masked {
				wantLen += 4
			}
			if n != wantLen {
				t.Errorf("length %d masked %v: %d header bytes, the shortest form has %d", length, masked, n, wantLen)
			}
			for j := n; j < len(buf); j++ {
				if buf[j] != 0xCC {
					t.Errorf("length %d masked %v: putHeader wrote past its %d bytes", length, masked, n)
					break
				}
			}
			got, m, err := parseHeader(buf[:n])
			if err != nil || m != n || got != h {
				t.Errorf("length %d masked %v: parseHeader(putHeader(h)) = %+v, %d, %v; want %+v, %d", length, masked, got, m, err, h, n)
			}
		}
	}
}

// TestPutHeaderControl checks control frames and the RSV bits are encoded
// in place.
func TestPutHeaderControl(t *testing.T) {
	var buf [maxHeaderSize]byte
	for _, op := range []opcode{opClose, opPing, opPong} {
		n := putHeader(buf[:], header{fin: true, opcode: op, length: 125})
		if n != 2 || buf[0] != 0x80|byte(op) || buf[1] != 125 {
			t.Errorf("opcode %#x: got % x", op, buf[:n])
		}
	}
	n := putHeader(buf[:], header{fin: false, rsv: 0x40, opcode: opText, length: 3})
	if n != 2 || buf[0] != 0x41 || buf[1] != 3 {
		t.Errorf("RSV1 text: got % x, want 41 03", buf[:n])
	}
}

// maskReference is the byte loop of RFC 6455 section 5.3.
func maskReference(key [4]byte, pos int, b []byte) {
	for i := range b {
		b[i] ^= key[(pos+i)%4]
	}
}

func TestMaskReference(t *testing.T) {
	keys := [][4]byte{{0x37, 0xfa, 0x21, 0x3d}, {1, 2, 3, 4}, {0xff, 0, 0xff, 0}, {0, 0, 0, 0}}
	src := make([]byte, 200+16)
	for i := range src {
		src[i] = byte(i*31 + 7)
	}
	for _, key := range keys {
		for length := 0; length <= 200; length++ {
			for pos := 0; pos < 8; pos++ { // 4-7 check that only pos%4 matters
				// Work at an unaligned offset too, with guard bytes around.
				for off := range 3 {
					got := bytes.Clone(src)
					want := bytes.Clone(src)
					next := mask(key, pos, got[off:off+length])
					maskReference(key, pos, want[off:off+length])
					if !bytes.Equal(got, want) {
						t.Fatalf("key % x, pos %d, length %d, offset %d: mask differs from the byte loop", key, pos, length, off)
					}
					if wantNext := (pos + length) % 4; next != wantNext {
						t.Fatalf("key % x, pos %d, length %d: returned position %d, want %d", key, pos, length, next, wantNext)
					}
				}
			}
		}
	}
}

// TestMaskPieces checks that masking a payload in arbitrary pieces, carrying
// the returned position, equals masking it in one go, and that masking
// twice restores the payload.
func TestMaskPieces(t *testing.T) {
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	orig := make([]byte, 5000)
	for i := range orig {
		orig[i] = byte(i ^ i>>8)
	}
	whole := bytes.Clone(orig)
	mask(key, 0, whole)

	piecePlans := [][]int{
		{1}, {2}, {3}, {5}, {7}, {8}, {9}, {31}, {32}, {33}, {1000},
		{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 33, 65, 129},
		{0, 3, 0, 0, 61, 7, 999},
	}
	for _, plan := range piecePlans {
		got := bytes.Clone(orig)
		pos, off := 0, 0
		for i := 0; off < len(got); i++ {
			k := min(plan[i%len(plan)], len(got)-off)
			pos = mask(key, pos, got[off:off+k])
			off += k
		}
		if !bytes.Equal(got, whole) {
			t.Errorf("pieces %v: result differs from masking in one go", plan)
		}
		if pos != len(orig)%4 {
			t.Errorf("pieces %v: final position %d, want %d", plan, pos, len(orig)%4)
		}
		mask(key, 0, got)
		if !bytes.Equal(got, orig) {
			t.Errorf("pieces %v: masking twice is not the identity", plan)
		}
	}
}

// FuzzParseHeader checks that parseHeader never panics, that an incomplete
// header asks for more bytes, and that a header in the shortest form
// re-encodes to the same bytes.
func FuzzParseHeader(f *testing.F) {
	for _, ex := range rfcExamples() {
		f.Add(ex.wire[:min(len(ex.wire), maxHeaderSize)])
	}
	f.Add([]byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x82, 0x7e, 0, 5})
	f.Add([]byte{0xf3, 0x00})
	f.Add([]byte{0x09, 0xfe, 0x01, 0x00, 1, 2, 3, 4})
	f.Add([]byte{0x8b})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := parseHeader(b)
		if n < 0 || n > len(b) || n > maxHeaderSize {
			t.Fatalf("parseHeader(% x) returned size %d", b, n)
		}
		if n == 0 {
			if err == nil && len(b) >= maxHeaderSize {
				t.Fatalf("parseHeader(% x) asks for more bytes than the longest header", b)
			}
			return
		}
		if h.length < 0 {
			t.Fatalf("parseHeader(% x) returned negative length %d", b, h.length)
		}
		// Every proper prefix is incomplete.
		for k := range n {
			if _, m, perr := parseHeader(b[:k]); m != 0 || perr != nil {
				t.Fatalf("parseHeader(% x) = %d, %v on a prefix of a %d-byte header", b[:k], m, perr, n)
			}
		}
		// Re-encoding gives the shortest form, which parses to the same
		// header with the same error.
		var buf [maxHeaderSize]byte
		m := putHeader(buf[:], h)
		if m != headerSize(h.length, h.masked) {
			t.Fatalf("putHeader wrote %d bytes, headerSize says %d", m, headerSize(h.length, h.masked))
		}
		h2, n2, err2 := parseHeader(buf[:m])
		if h2 != h || n2 != m || err2 != err {
			t.Fatalf("re-parse of % x = %+v, %d, %v; want %+v, %d, %v", buf[:m], h2, n2, err2, h, m, err)
		}
		if m == n && !bytes.Equal(buf[:m], b[:n]) {
			t.Fatalf("input % x in the shortest form re-encodes to % x", b[:n], buf[:m])
		}
	})
}

func BenchmarkMask(b *testing.B) {
	key := [4]byte{1, 2, 3, 4}
	for _, size := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				mask(key, 1, buf)
			}
		})
	}
}

func BenchmarkParseHeader(b *testing.B) {
	wires := map[string][]byte{
		"7bit":  {0x81, 0x85, 1, 2, 3, 4},
		"16bit": {0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4},
		"64bit": {0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4},
	}
	for _, name := range []string{"7bit", "16bit", "64bit"} {
		wire := wires[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				h, n, err := parseHeader(wire)
				if n != len(wire) || err != nil || !h.masked {
					b.Fatal("bad parse")
				}
			}
		})
	}
}

func BenchmarkPutHeader(b *testing.B) {
	for _, length := range []int64{5, 256, 65536} {
		b.Run(fmt.Sprint(length), func(b *testing.B) {
			h := header{fin: true, opcode: opBinary, length: length, masked: true, key: [4]byte{1, 2, 3, 4}}
			var buf [maxHeaderSize]byte
			b.SetBytes(int64(headerSize(length, true)))
			b.ReportAllocs()
			for b.Loop() {
				if putHeader(buf[:], h) == 0 {
					b.Fatal("no bytes written")
				}
			}
		})
	}
}
