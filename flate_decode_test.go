//go:build !js

package websocket

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"testing"
)

// This file tests the DEFLATE decoder against compress/flate's reader, on
// hostile inputs, and for allocations and speed.

// byteSource is a flateSource over b that gives at most chunk bytes a
// Read, and, if buffered is set, hands bytes over in bulk too.
type byteSource struct {
	b        []byte
	chunk    int
	buffered bool
}

// Read reads up to chunk bytes.
func (s *byteSource) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), s.chunk)], s.b)
	s.b = s.b[n:]
	return n, nil
}

// ReadByte reads one byte.
func (s *byteSource) ReadByte() (byte, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c, nil
}

// bulkSource is a byteSource that is a bufferedSource.
type bulkSource struct{ byteSource }

// readBuffered hands over up to chunk bytes.
func (s *bulkSource) readBuffered(p []byte) int {
	n, _ := s.Read(p)
	return n
}

// newSource returns a source over b of the given kind: 0 bytes.Reader, 1
// one byte a read, 2 bulk in chunks of 7, 3 bulk in one go.
func newSource(kind int, b []byte) flateSource {
	switch kind {
	case 1:
		return &byteSource{b: b, chunk: 1}
	case 2:
		return &bulkSource{byteSource{b: b, chunk: 7}}
	case 3:
		return &bulkSource{byteSource{b: b, chunk: 1 << 30}}
	}
	return bytes.NewReader(b)
}

// inflateWith inflates all of src after dict with our decoder, reading
// with a buffer of size bufSize.
func inflateWith(f *inflater, src flateSource, dict []byte, bufSize int) ([]byte, error) {
	f.reset(src, dict)
	var out []byte
	buf := make([]byte, bufSize)
	for {
		n, err := f.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// flateInflate inflates data after dict with compress/flate.
func flateInflate(data, dict []byte) ([]byte, error) {
	return io.ReadAll(flate.NewReaderDict(bytes.NewReader(data), dict))
}

// flateDeflate compresses p after dict with compress/flate at level,
// ending with a sync flush and a final empty block unless sync is set.
func flateDeflate(t testing.TB, p, dict []byte, level int, sync bool) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriterDict(&buf, level, dict)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p)
	if sync {
		// As RFC 7692 has it: drop the flush's 00 00 ff ff, add the tail.
		w.Flush()
		buf.Truncate(buf.Len() - 4)
		buf.WriteString(deflateTail)
	} else {
		w.Close()
	}
	return buf.Bytes()
}

// checkInflate inflates data after dict with every kind of source and
// compares with compress/flate.
func checkInflateSame(t *testing.T, f *inflater, name string, data, dict []byte) {
	t.Helper()
	want, werr := flateInflate(data, dict)
	for kind := range 4 {
		got, err := inflateWith(f, newSource(kind, data), dict, 1000)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%s, source %d: error %v, compress/flate's %v", name, kind, err, werr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("%s, source %d: got %d bytes, want %d", name, kind, len(got), len(want))
		}
	}
}

// TestInflateDifferential inflates the output of compress/flate at every
// level and of our encoder at every window and level, with and without
// dictionaries, and compares with compress/flate's reader.
func TestInflateDifferential(t *testing.T) {
	f := getInflater()
	defer putInflater(f)
	msgs, stream := chatStream(21, 60)
	cases := deflateCases()
	cases = append(cases,
		deflateCase{"json after 40K", stream[:40_000], msgs[59]},
		deflateCase{"big stored", nil, randomBytes(22, 200_000, "")},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for level := -2; level <= 9; level++ {
				for _, sync := range []bool{false, true} {
					checkInflateSame(t, f, fmt.Sprintf("flate level %d sync %v", level, sync),
						flateDeflate(t, tc.p, tc.hist, level, sync), tc.hist)
				}
			}
			d := getDeflater()
			defer putDeflater(d)
			for _, wb := range gridWindows() {
				for _, level := range gridLevels() {
					out := d.compress(nil, tc.hist, tc.p, wb, level)
					out = append(out[:len(out)-4], deflateTail...)
					checkInflateSame(t, f, fmt.Sprintf("ours window %d level %d", wb, level), out, tc.hist)
				}
			}
		})
	}
}

// TestInflateRandom feeds random bytes and mutated streams to both
// decoders.
func TestInflateRandom(t *testing.T) {
	f := getInflater()
	defer putInflater(f)
	msgs, _ := chatStream(23, 20)
	for i := range 2000 {
		var data []byte
		if i%2 == 0 {
			data = randomBytes(uint64(i), 1+i%300, "")
		} else {
			data = flateDeflate(t, msgs[i%20], nil, i%10, i%4 == 1)
			r := randomBytes(uint64(i), 3, "")
			data[int(r[0])%len(data)] ^= 1 << (r[1] % 8)
		}
		checkInflateSame(t, f, fmt.Sprintf("input %d", i), data, msgs[(i+1)%20])
	}
}

// bitString builds a bit stream from pairs of a value and its width,
// least significant bit first; a negative width writes a Huffman code of
// that many bits, most significant bit first.
func bitString(pairs ...int) []byte {
	var out []byte
	n := 0
	for i := 0; i < len(pairs); i += 2 {
		v, w := pairs[i], pairs[i+1]
		if w < 0 {
			w = -w
			r := 0
			for j := range w {
				r |= (v >> j & 1) << (w - 1 - j)
			}
			v = r
		}
		for j := range w {
			if n%8 == 0 {
				out = append(out, 0)
			}
			out[len(out)-1] |= byte(v>>j&1) << (n % 8)
			n++
		}
	}
	return out
}

// TestInflateHostile checks that bad data fails with errCorruptDeflate,
// as it does in compress/flate.
func TestInflateHostile(t *testing.T) {
	const fixedA = 0x30 + 'a' // the fixed code of 'a', 8 bits
	tests := []struct {
		name string
		data []byte
		dict string
	}{
		{"block type 3", bitString(1, 1, 3, 2), ""},
		{"stored length mismatch", bitString(1, 1, 0, 2, 0, 5, 5, 16, 0xfffe, 16), ""},
		{"distance too far", bitString(1, 1, 1, 2, fixedA, -8, 1, -7, 1, -5, 0, -7), ""},
		{"distance beyond dict", bitString(1, 1, 1, 2, fixedA, -8, 1, -7, 2, -5, 0, -7), "x"},
		{"fixed length symbol 286", bitString(1, 1, 1, 2, fixedA, -8, 0xc6, -8, 0, -7), ""},
		{"fixed distance symbol 30", bitString(1, 1, 1, 2, fixedA, -8, 1, -7, 30, -5, 0, -7), "x"},
		{"hlit 287", bitString(1, 1, 2, 2, 30, 5, 0, 5, 0, 4, 0, 12), ""},
		{"hdist 31", bitString(1, 1, 2, 2, 0, 5, 30, 5, 0, 4, 0, 12), ""},
		{"code length code over-subscribed", bitString(1, 1, 2, 2, 0, 5, 0, 5, 0, 4, 1, 3, 1, 3, 1, 3, 0, 3, 0, 16), ""},
		{"code length code incomplete", bitString(1, 1, 2, 2, 0, 5, 0, 5, 0, 4, 2, 3, 2, 3, 2, 3, 0, 3, 0, 16), ""},
		{"repeat with no previous length", bitString(1, 1, 2, 2, 0, 5, 0, 5, 0, 4, 1, 3, 1, 3, 0, 3, 0, 3, 0, -1, 0, 16), ""},
		{"literal code over-subscribed", append(bitString(1, 1, 2, 2, 1, 5, 0, 5, 14, 4,
			0, 3, 0, 3, 1, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 1, 3),
			make([]byte, 40)...), ""},
	}
	f := getInflater()
	defer putInflater(f)
	for _, tc := range tests {
		if _, err := flateInflate(tc.data, []byte(tc.dict)); err == nil {
			t.Errorf("%s: compress/flate accepts it", tc.name)
		}
		for kind := range 4 {
			if _, err := inflateWith(f, newSource(kind, tc.data), []byte(tc.dict), 100); err != errCorruptDeflate {
				t.Errorf("%s, source %d: error %v, want %v", tc.name, kind, err, errCorruptDeflate)
			}
		}
	}
}

// TestInflateTruncated checks that every proper prefix of a stream fails
// with io.ErrUnexpectedEOF.
func TestInflateTruncated(t *testing.T) {
	msgs, _ := chatStream(24, 3)
	f := getInflater()
	defer putInflater(f)
	for _, level := range []int{0, 1, 6} {
		data := flateDeflate(t, msgs[level%3], nil, level, true)
		for n := range len(data) {
			for kind := range 4 {
				if _, err := inflateWith(f, newSource(kind, data[:n]), nil, 100); err != io.ErrUnexpectedEOF {
					t.Fatalf("level %d, %d of %d bytes, source %d: error %v", level, n, len(data), kind, err)
				}
			}
		}
	}
}

// chatCompressed returns n chat messages, each with the 32 KiB of stream
// before it and its compressed form by compress/flate at level 6 (as
// browsers send them) or by our encoder, ending in deflateTail.
func chatCompressed(t testing.TB, n int, ours, withDict bool) (dicts, msgs, data [][]byte) {
	all, stream := chatStream(25, 200)
	d := getDeflater()
	defer putDeflater(d)
	for i := len(all) - n; i < len(all); i++ {
		at := len(stream) - sumLen(all[i:])
		var dict []byte
		if withDict {
			dict = stream[max(0, at-histSize):at]
		}
		var out []byte
		if ours {
			out = d.compress(nil, dict, all[i], 15, 6)
			out = append(out[:len(out)-4], deflateTail...)
		} else {
			out = flateDeflate(t, all[i], dict, 6, true)
		}
		dicts, msgs, data = append(dicts, dict), append(msgs, all[i]), append(data, out)
	}
	return dicts, msgs, data
}

// TestInflateNoAllocs checks that inflating a message with a pooled
// inflater allocates nothing, dynamic blocks with long codes included.
func TestInflateNoAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("sync.Pool drops items at random under -race")
	}
	dicts, _, data := chatCompressed(t, 4, false, true)
	data = append(data, flateDeflate(t, randomBytes(26, 3000, "abcdefghijklmnopqrstuvwxyz0123456789"), nil, -2, true))
	dicts = append(dicts, nil)
	buf := make([]byte, 64<<10)
	var src bytes.Reader
	for i := range data {
		run := func() {
			src.Reset(data[i])
			f := getInflater()
			f.reset(&src, dicts[i])
			for {
				if _, err := f.Read(buf); err != nil {
					break
				}
			}
			putInflater(f)
		}
		run()
		if n := testing.AllocsPerRun(50, run); n != 0 {
			t.Errorf("message %d: %v allocations per message", i, n)
		}
	}
}

// FuzzInflateDifferential checks the decoder against compress/flate: it
// never panics, agrees on every stream compress/flate decodes, and accepts
// nothing compress/flate rejects.
func FuzzInflateDifferential(f *testing.F) {
	_, _, data := chatCompressed(f, 3, false, false)
	f.Add(data[0], []byte(nil))
	f.Add(data[1], []byte("abc"))
	f.Add(flateDeflate(f, []byte("hello hello hello"), []byte("hello"), 1, false), []byte("hello"))
	f.Add(flateDeflate(f, randomBytes(27, 500, "ab"), nil, 0, true), []byte(nil))
	f.Add(bitString(1, 1, 1, 2, 0x91, -8, 1, -7, 1, -5, 0, -7), []byte("x"))
	inf := getInflater()
	f.Fuzz(func(t *testing.T, data, dict []byte) {
		want, werr := flateInflate(data, dict)
		for kind := range 4 {
			got, err := inflateWith(inf, newSource(kind, data), dict, 300)
			if werr == nil && (err != nil || !bytes.Equal(got, want)) {
				t.Fatalf("source %d: got %d bytes, error %v; compress/flate gives %d bytes", kind, len(got), err, len(want))
			}
			if err == nil && werr != nil {
				t.Fatalf("source %d: accepted what compress/flate rejects with %v", kind, werr)
			}
		}
	})
}

// BenchmarkInflateChat inflates ~1.1 KiB JSON chat messages compressed by
// compress/flate at level 6 and by our encoder, with and without the
// preceding 32 KiB as dictionary, with this decoder (from a reader and
// from a source that hands over bytes in bulk, as the Conn does) and with
// compress/flate (a pooled reader reset with Resetter).
func BenchmarkInflateChat(b *testing.B) {
	for _, ours := range []bool{false, true} {
		for _, withDict := range []bool{false, true} {
			dicts, msgs, data := chatCompressed(b, 16, ours, withDict)
			name := fmt.Sprintf("by=%s/dict=%v", map[bool]string{false: "flate", true: "ours"}[ours], withDict)
			buf := make([]byte, 4096)
			for _, kind := range []int{0, 3} {
				b.Run(fmt.Sprintf("%s/ours/source=%d", name, kind), func(b *testing.B) {
					b.ReportAllocs()
					var rd bytes.Reader
					var bulk bulkSource
					for i := 0; b.Loop(); i++ {
						k := i % len(data)
						var src flateSource = &rd
						rd.Reset(data[k])
						if kind == 3 {
							bulk.b, bulk.chunk, src = data[k], 1<<30, &bulk
						}
						f := getInflater()
						f.reset(src, dicts[k])
						if n, err := f.Read(buf); err != io.EOF || n != len(msgs[k]) {
							b.Fatal(n, err)
						}
						putInflater(f)
					}
				})
			}
			b.Run(name+"/flate", func(b *testing.B) {
				b.ReportAllocs()
				var src bytes.Reader
				r := flate.NewReader(&src)
				for i := 0; b.Loop(); i++ {
					k := i % len(data)
					src.Reset(data[k])
					r.(flate.Resetter).Reset(&src, dicts[k])
					total := 0
					for {
						n, err := r.Read(buf)
						total += n
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					if total != len(msgs[k]) {
						b.Fatal(total)
					}
				}
			})
		}
	}
}
