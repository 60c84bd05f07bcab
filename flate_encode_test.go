package websocket

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// This file tests the DEFLATE encoder: an inflater of its own that checks
// every block and distance, round trips through compress/flate's reader, a
// generator of realistic JSON chat messages, and benchmarks against
// compress/flate.

// ---- Test data ----

// chatUser is a user as a chat message embeds it.
type chatUser struct {
	ID          string   `json:"id"`
	Username    string   `json:"username"`
	DisplayName string   `json:"display_name"`
	AvatarURL   string   `json:"avatar_url"`
	Roles       []string `json:"roles,omitempty"`
	Bot         bool     `json:"bot"`
}

// chatReaction is an emoji reaction to a chat message.
type chatReaction struct {
	Emoji string `json:"emoji"`
	Count int    `json:"count"`
	Me    bool   `json:"me"`
}

// chatAttachment is a file attached to a chat message.
type chatAttachment struct {
	ID          string `json:"id"`
	Filename    string `json:"filename"`
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
}

// chatMessage is a message event as a chat server sends it to its clients.
type chatMessage struct {
	Op          string           `json:"op"`
	Type        string           `json:"type"`
	ID          string           `json:"id"`
	ChannelID   string           `json:"channel_id"`
	GuildID     string           `json:"guild_id"`
	Author      chatUser         `json:"author"`
	Content     string           `json:"content"`
	Timestamp   string           `json:"timestamp"`
	Edited      *string          `json:"edited_timestamp"`
	Mentions    []chatUser       `json:"mentions"`
	Reactions   []chatReaction   `json:"reactions,omitempty"`
	Attachments []chatAttachment `json:"attachments"`
	ReplyTo     *string          `json:"referenced_message_id"`
	Pinned      bool             `json:"pinned"`
	Nonce       string           `json:"nonce"`
	Flags       int              `json:"flags"`
}

// chatWords is the vocabulary of generated messages, some of it not ASCII.
var chatWords = strings.Fields(`the a to and is it you that of in for on this I
	lol ok yes no maybe what why how when where deploy build test merge review PR
	bug fix server client latency websocket message channel ping pong tonight
	tomorrow meeting coffee lunch thanks please sorry great awesome nice cool
	café naïve Grüße Straße señor niño Ελληνικά привет спасибо こんにちは ありがとう
	日本語 中文 한국어 👍 🎉 😂 🚀 ❤️ 🔥 ✅ https://example.com/docs/getting-started`)

// chatGen generates a deterministic stream of realistic JSON chat messages.
type chatGen struct {
	r     *rand.Rand
	users []chatUser
	now   time.Time
	id    uint64
}

// newChatGen returns a generator seeded with seed.
func newChatGen(seed uint64) *chatGen {
	g := &chatGen{r: rand.New(rand.NewPCG(seed, seed^0x5eed)), now: time.Date(2024, 3, 15, 9, 0, 0, 0, time.UTC), id: 1215439587163557888}
	names := []string{"alice", "bob", "carol", "dave", "eve", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "zoë"}
	for i, n := range names {
		uid := g.snowflake()
		g.users = append(g.users, chatUser{
			ID: uid, Username: fmt.Sprintf("%s_%d", n, g.r.IntN(1000)),
			DisplayName: strings.ToUpper(n[:1]) + n[1:] + " " + []string{"Müller", "Smith", "García", "Nguyễn", "Kowalski"}[i%5],
			AvatarURL:   fmt.Sprintf("https://cdn.example.com/avatars/%s/%016x%016x.png?size=128", uid, g.r.Uint64(), g.r.Uint64()),
			Roles:       []string{"member", "moderator", "admin", "member", "member"}[:1+i%3],
			Bot:         i == 7,
		})
	}
	return g
}

// snowflake returns a new increasing message or user id.
func (g *chatGen) snowflake() string {
	g.id += uint64(g.r.IntN(1<<30))<<22 | uint64(g.r.IntN(1<<22))
	return fmt.Sprint(g.id)
}

// text returns n words of chat.
func (g *chatGen) text(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(chatWords[g.r.IntN(len(chatWords))])
	}
	return b.String()
}

// next returns the next message, about 1.1 KiB of JSON.
func (g *chatGen) next() []byte {
	g.now = g.now.Add(time.Duration(g.r.IntN(90_000)) * time.Millisecond)
	m := chatMessage{
		Op: "MESSAGE_CREATE", Type: "default", ID: g.snowflake(), ChannelID: "1098765432109876543", GuildID: "987654321098765432",
		Author: g.users[g.r.IntN(len(g.users))], Content: g.text(5 + g.r.IntN(40)),
		Timestamp: g.now.Format("2006-01-02T15:04:05.000Z07:00"), Mentions: []chatUser{}, Attachments: []chatAttachment{},
		Nonce: fmt.Sprintf("%x", g.r.Uint64()), Flags: g.r.IntN(2) * 4,
	}
	for range g.r.IntN(3) {
		m.Mentions = append(m.Mentions, g.users[g.r.IntN(len(g.users))])
	}
	for range g.r.IntN(4) {
		m.Reactions = append(m.Reactions, chatReaction{[]string{"👍", "🎉", "😂", "❤️"}[g.r.IntN(4)], 1 + g.r.IntN(9), g.r.IntN(3) == 0})
	}
	if g.r.IntN(5) == 0 {
		id := g.snowflake()
		m.Attachments = append(m.Attachments, chatAttachment{id, "screenshot.png", "https://cdn.example.com/attachments/" + id + "/screenshot.png", "image/png", g.r.IntN(1 << 20)})
	}
	if g.r.IntN(4) == 0 {
		ts := g.now.Add(time.Minute).Format("2006-01-02T15:04:05.000Z07:00")
		m.Edited = &ts
	}
	if g.r.IntN(3) == 0 {
		id := g.snowflake()
		m.ReplyTo = &id
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// chatStream returns n generated messages and their concatenation.
func chatStream(seed uint64, n int) (msgs [][]byte, stream []byte) {
	g := newChatGen(seed)
	for range n {
		m := g.next()
		stream = append(stream, m...)
		msgs = append(msgs, stream[len(stream)-len(m):])
	}
	return msgs, stream
}

// randomBytes returns n bytes drawn from alphabet by a generator seeded with seed.
func randomBytes(seed uint64, n int, alphabet string) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		if alphabet == "" {
			b[i] = byte(r.Uint32())
		} else {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
	}
	return b
}

// ---- An inflater that checks what it reads ----

// testBits reads a DEFLATE stream least significant bit first.
type testBits struct {
	b   []byte
	pos int // in bits
	err error
}

// read returns the next n bits.
func (r *testBits) read(n int) int {
	v := 0
	for i := range n {
		if r.pos>>3 >= len(r.b) {
			r.err = io.ErrUnexpectedEOF
			return 0
		}
		v |= int(r.b[r.pos>>3]>>(r.pos&7)&1) << i
		r.pos++
	}
	return v
}

// testHuffman decodes one canonical Huffman code.
type testHuffman struct {
	count [16]int // codes of each length
	syms  []int   // symbols ordered by code
}

// newTestHuffman builds the decoder for the code lengths lens, which must
// make a complete code, as zlib demands.
func newTestHuffman(lens []int) (*testHuffman, error) {
	h := &testHuffman{}
	for _, n := range lens {
		h.count[n]++
	}
	left := 1
	for n := 1; n < 16; n++ {
		left = left<<1 - h.count[n]
		if left < 0 {
			return nil, errors.New("over-subscribed code")
		}
	}
	if left != 0 {
		return nil, fmt.Errorf("incomplete code %v", lens)
	}
	for n := 1; n < 16; n++ {
		for s, l := range lens {
			if l == n {
				h.syms = append(h.syms, s)
			}
		}
	}
	return h, nil
}

// decode reads one symbol.
func (h *testHuffman) decode(r *testBits) int {
	code, first, index := 0, 0, 0
	for n := 1; n < 16; n++ {
		code |= r.read(1)
		if code-first < h.count[n] {
			return h.syms[index+code-first]
		}
		index += h.count[n]
		first = (first + h.count[n]) << 1
		code <<= 1
	}
	r.err = errors.New("invalid code")
	return 0
}

// inflated is what checkInflate learned from a stream.
type inflated struct {
	data    []byte
	kinds   [3]int // blocks of each type
	longest int    // the most bytes a block decoded to
	maxDist int
}

// checkInflate decodes out, the output of one compress call with history
// hist, and checks that it is a sequence of non-final blocks ending in an
// empty stored block, with complete Huffman codes and no distance beyond the
// window or the available history.
func checkInflate(out, hist []byte, windowBits int) (*inflated, error) {
	r := &testBits{b: out}
	res := &inflated{}
	before := 0 // the output before the previous block
	for r.err == nil {
		if r.read(1) != 0 {
			return res, errors.New("final block")
		}
		kind := r.read(2)
		if kind < 3 {
			res.kinds[kind]++
		}
		res.longest = max(res.longest, len(res.data)-before)
		before = len(res.data)
		switch kind {
		case 0:
			r.pos = (r.pos + 7) &^ 7
			n, nn := r.read(16), r.read(16)
			if n != nn^0xffff {
				return res, errors.New("bad stored length")
			}
			if n == 0 {
				if r.pos != 8*len(out) {
					return res, errors.New("data after the empty stored block")
				}
				return res, r.err
			}
			for range n {
				res.data = append(res.data, byte(r.read(8)))
			}
		case 1:
			lit, dist := fixedTestCodes()
			if err := res.symbols(r, lit, dist, hist, windowBits); err != nil {
				return res, err
			}
		case 2:
			lit, dist, err := readDynamicHeader(r)
			if err != nil {
				return res, err
			}
			if err := res.symbols(r, lit, dist, hist, windowBits); err != nil {
				return res, err
			}
		default:
			return res, errors.New("reserved block type")
		}
	}
	return res, r.err
}

// fixedTestCodes returns the decoders of the fixed codes.
func fixedTestCodes() (lit, dist *testHuffman) {
	lens := make([]int, 288)
	for i := range lens {
		lens[i] = 8
		if i >= 144 && i < 256 {
			lens[i] = 9
		} else if i >= 256 && i < 280 {
			lens[i] = 7
		}
	}
	lit, _ = newTestHuffman(lens)
	dlens := make([]int, 32) // 30 and 31 are never used, but complete the code
	for i := range dlens {
		dlens[i] = 5
	}
	dist, _ = newTestHuffman(dlens)
	return lit, dist
}

// readDynamicHeader reads the code definitions of a dynamic block.
func readDynamicHeader(r *testBits) (lit, dist *testHuffman, err error) {
	nlit, ndist, ncl := r.read(5)+257, r.read(5)+1, r.read(4)+4
	if nlit > numLitLen || ndist > numDist {
		return nil, nil, fmt.Errorf("%d literal/length and %d distance codes", nlit, ndist)
	}
	clLens := make([]int, numCodeLen)
	for _, s := range clOrder[:ncl] {
		clLens[s] = r.read(3)
	}
	cl, err := newTestHuffman(clLens)
	if err != nil {
		return nil, nil, fmt.Errorf("code length code: %v", err)
	}
	var lens []int
	for len(lens) < nlit+ndist && r.err == nil {
		s := cl.decode(r)
		switch {
		case s < 16:
			lens = append(lens, s)
		case s == 16 && len(lens) > 0:
			for range 3 + r.read(2) {
				lens = append(lens, lens[len(lens)-1])
			}
		case s == 17:
			lens = append(lens, make([]int, 3+r.read(3))...)
		case s == 18:
			lens = append(lens, make([]int, 11+r.read(7))...)
		default:
			return nil, nil, errors.New("repeat without a length")
		}
	}
	if len(lens) != nlit+ndist {
		return nil, nil, errors.New("code lengths overrun")
	}
	if lit, err = newTestHuffman(lens[:nlit]); err != nil {
		return nil, nil, fmt.Errorf("literal/length code: %v", err)
	}
	if dist, err = newTestHuffman(lens[nlit:]); err != nil {
		return nil, nil, fmt.Errorf("distance code: %v", err)
	}
	return lit, dist, r.err
}

// symbols decodes the symbols of a Huffman block up to its end.
func (res *inflated) symbols(r *testBits, lit, dist *testHuffman, hist []byte, windowBits int) error {
	for r.err == nil {
		s := lit.decode(r)
		switch {
		case s < 256:
			res.data = append(res.data, byte(s))
			continue
		case s == endBlock:
			return r.err
		case s > 285:
			return fmt.Errorf("literal/length symbol %d", s)
		}
		n := 3 + int(lenBase[s-257]) + r.read(int(lenExtra[s-257]))
		ds := dist.decode(r)
		if ds >= numDist {
			return fmt.Errorf("distance symbol %d", ds)
		}
		d := 1 + int(distBase[ds]) + r.read(int(distExtra[ds]))
		if d > 1<<windowBits || d > len(hist)+len(res.data) {
			return fmt.Errorf("distance %d at output %d, with %d bytes of history and window %d", d, len(res.data), len(hist), 1<<windowBits)
		}
		res.maxDist = max(res.maxDist, d)
		for range n {
			i := len(res.data) - d
			if i >= 0 {
				res.data = append(res.data, res.data[i])
			} else {
				res.data = append(res.data, hist[len(hist)+i])
			}
		}
	}
	return r.err
}

// ---- Round trips ----

// checkRoundTrip compresses p after hist, decodes the output with
// checkInflate and compress/flate, and returns it.
func checkRoundTrip(t testing.TB, d *deflater, hist, p []byte, windowBits, level int) ([]byte, *inflated) {
	t.Helper()
	out := d.compress(nil, hist, p, windowBits, level)
	wb := min(max(windowBits, 8), 15)
	what := fmt.Sprintf("%d bytes after %d of history, window bits %d, level %d", len(p), len(hist), windowBits, level)
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		t.Fatalf("%s: output does not end with a sync flush: % x", what, out[max(0, len(out)-8):])
	}
	res, err := checkInflate(out, hist, wb)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !bytes.Equal(res.data, p) {
		t.Fatalf("%s: decodes to something else", what)
	}
	got := make([]byte, len(p)+1)
	n, err := io.ReadFull(flate.NewReaderDict(bytes.NewReader(out), hist), got)
	if err != io.ErrUnexpectedEOF || !bytes.Equal(got[:n], p) {
		t.Fatalf("%s: compress/flate reads %d bytes (%v), want %d", what, n, err, len(p))
	}
	return out, res
}

// gridWindows returns the window sizes the round trip tests try: all of
// them, or a few under -race, which makes these tests a hundred times slower.
func gridWindows() []int {
	if raceEnabled() {
		return []int{8, 12, 15}
	}
	return []int{8, 9, 10, 11, 12, 13, 14, 15}
}

// gridLevels returns the levels the round trip tests try, as gridWindows.
func gridLevels() []int {
	if raceEnabled() {
		return []int{1, 2, 5, 9}
	}
	return []int{1, 2, 3, 4, 5, 6, 7, 8, 9}
}

// deflateCase is an input for the round trip tests.
type deflateCase struct {
	name    string
	hist, p []byte
}

// deflateCases returns inputs of all kinds.
func deflateCases() []deflateCase {
	msgs, stream := chatStream(1, 120)
	text := stream[:100_000]
	runs := append(bytes.Repeat([]byte{0}, 70_000), bytes.Repeat([]byte("ab"), 3000)...)
	runs = append(runs, bytes.Repeat([]byte("xyz"), 100)...)
	mixed := append(randomBytes(2, 20_000, ""), text[:30_000]...)
	mixed = append(mixed, randomBytes(3, 20_000, "")...)
	return []deflateCase{
		{"empty", nil, nil},
		{"empty after history", text[:5000], nil},
		{"one byte", nil, []byte("x")},
		{"one byte after history", text[:100], []byte("x")},
		{"short", nil, []byte("hello, hello, hello!")},
		{"random", nil, randomBytes(4, 3000, "")},
		{"runs", nil, runs},
		{"letters", nil, randomBytes(5, 10_000, "abcd")},
		{"json message", nil, msgs[100]},
		{"json message after history", stream[:len(stream)-len(msgs[119])], msgs[119]},
		{"json 100K", nil, text},
		{"json after random history", randomBytes(6, 40_000, ""), text[:20_000]},
		{"mixed 70K", text[:2000], mixed},
	}
}

// TestDeflateRoundTrip checks every input at every window size and level.
func TestDeflateRoundTrip(t *testing.T) {
	d := getDeflater()
	defer putDeflater(d)
	for _, tc := range deflateCases() {
		t.Run(tc.name, func(t *testing.T) {
			for _, wb := range gridWindows() {
				for _, level := range gridLevels() {
					checkRoundTrip(t, d, tc.hist, tc.p, wb, level)
				}
			}
		})
	}
}

// TestDeflateClamps checks that window sizes and levels out of range are
// clamped: the checker rejects distances beyond 1<<8 for a windowBits below 8.
func TestDeflateClamps(t *testing.T) {
	_, stream := chatStream(2, 40)
	d := getDeflater()
	defer putDeflater(d)
	for _, wb := range []int{-1, 0, 7, 16, 100} {
		for _, level := range []int{-5, 0, 10, 99} {
			checkRoundTrip(t, d, stream[:20_000], stream[20_000:], wb, level)
		}
	}
}

// TestDeflateWindowEdge checks that a repeat at distance 1<<windowBits is
// found and one a byte further is not, with the first copy in the input or
// in the history.
func TestDeflateWindowEdge(t *testing.T) {
	seg := randomBytes(7, 100, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
	d := getDeflater()
	defer putDeflater(d)
	for _, wb := range gridWindows() {
		w := 1 << wb
		for _, gap := range []int{w - 1, w, w + 1} {
			data := append(bytes.Clone(seg), randomBytes(uint64(gap), gap-len(seg), "abcdefghijklmnop")...)
			data = append(data, seg...)
			for _, level := range gridLevels() {
				for _, split := range []int{0, gap} {
					_, res := checkRoundTrip(t, d, data[:split], data[split:], wb, level)
					if gap <= w && res.maxDist != gap {
						t.Errorf("window bits %d, level %d, history %d: repeat at distance %d not found (longest distance %d)", wb, level, split, gap, res.maxDist)
					}
				}
			}
		}
	}
}

// TestDeflateStreaming compresses messages in chunks, each with all the data
// before it as history, and reads the concatenation as one stream.
func TestDeflateStreaming(t *testing.T) {
	_, stream := chatStream(3, 60)
	stream = append(stream, randomBytes(8, 5000, "")...)
	r := rand.New(rand.NewPCG(9, 9))
	d := getDeflater()
	defer putDeflater(d)
	for _, wb := range gridWindows() {
		for _, level := range gridLevels() {
			var all []byte
			for at := 0; at < len(stream); {
				n := min(len(stream)-at, r.IntN(4000))
				out, _ := checkRoundTrip(t, d, stream[:at], stream[at:at+n], wb, level)
				all = append(all, out...)
				at += n
			}
			got, err := io.ReadAll(io.MultiReader(flate.NewReader(io.MultiReader(bytes.NewReader(all), bytes.NewReader([]byte{3, 0})))))
			if err != nil || !bytes.Equal(got, stream) {
				t.Fatalf("window bits %d, level %d: stream of chunks reads %d bytes (%v), want %d", wb, level, len(got), err, len(stream))
			}
		}
	}
}

// TestDeflatePieces checks that input longer than one pass of the matcher
// takes is compressed in pieces, each with the history before it: random
// bytes repeated right after a piece boundary must cost next to nothing.
func TestDeflatePieces(t *testing.T) {
	defer func(n int) { maxPiece = n }(maxPiece)
	maxPiece = 40_000 // at least a window, as the real one is
	_, stream := chatStream(12, 60)
	r1, r2 := randomBytes(13, 1000, ""), randomBytes(14, 1000, "")
	d := getDeflater()
	defer putDeflater(d)
	for _, level := range []int{1, 6} {
		for _, wb := range []int{12, 15} {
			var size [2]int
			for i, again := range [][]byte{r1, r2} {
				data := slices.Concat(stream[:39_000], r1, again, stream[39_000:60_000])
				out, _ := checkRoundTrip(t, d, stream[60_000:61_000], data, wb, level)
				size[i] = len(out)
			}
			if size[0] > size[1]-900 {
				t.Errorf("window bits %d, level %d: %d bytes with a repeat across pieces, %d without", wb, level, size[0], size[1])
			}
		}
	}
}

// TestDeflateIncompressible checks that random data grows by the 5 bytes of
// a stored block header per 64 KiB block, and the sync flush.
func TestDeflateIncompressible(t *testing.T) {
	p := randomBytes(10, 300_000, "")
	d := getDeflater()
	defer putDeflater(d)
	for _, level := range gridLevels() {
		out, res := checkRoundTrip(t, d, p[:1000], p[1000:], 15, level)
		blocks := (len(p) - 1000 + maxStored - 1) / maxStored
		if len(out) > len(p)-1000+5*blocks+5 || res.kinds[1]+res.kinds[2] > 0 {
			t.Errorf("level %d: %d random bytes take %d (blocks of each type %v)", level, len(p)-1000, len(out), res.kinds)
		}
	}
}

// TestDeflateBlockSpan checks that no block covers more input than a stored
// block holds, also where matches end blocks, so that a block that does not
// compress costs only the 5 bytes of a stored block header.
func TestDeflateBlockSpan(t *testing.T) {
	_, stream := chatStream(13, 300)
	d := getDeflater()
	defer putDeflater(d)
	for level := 1; level <= 9; level += 4 {
		_, res := checkRoundTrip(t, d, nil, stream, 15, level)
		if res.longest > maxStored {
			t.Errorf("level %d: a block covers %d bytes", level, res.longest)
		}
	}
}

// TestDeflateBlockKinds checks that the encoder picks stored blocks for
// random data, fixed codes for a short text and dynamic codes for a long one.
func TestDeflateBlockKinds(t *testing.T) {
	msgs, stream := chatStream(4, 30)
	for _, tc := range []struct {
		p    []byte
		kind int
	}{
		{randomBytes(11, 2000, ""), blockStored},
		{[]byte("a short message, a short reply"), blockFixed},
		{msgs[0], blockDynamic},
		{stream, blockDynamic},
	} {
		d := getDeflater()
		for level := 1; level <= 9; level++ {
			_, res := checkRoundTrip(t, d, nil, tc.p, 15, level)
			// All blocks are of the expected type, but for the sync flush.
			want := [3]int{1, 0, 0}
			want[tc.kind] += res.kinds[0] + res.kinds[1] + res.kinds[2] - 1
			if res.kinds != want {
				t.Errorf("level %d, %.20q: blocks of each type %v, want all of type %d", level, tc.p, res.kinds, tc.kind)
			}
		}
		putDeflater(d)
	}
}

// TestDeflateBlockSizes checks the size accounting behind the choice of
// block format: each format written takes exactly the bits sizes predicted,
// decodes back, and writeBlock writes the smallest.
func TestDeflateBlockSizes(t *testing.T) {
	msgs, _ := chatStream(5, 3)
	var flat []byte // all byte values equally often: a short code length header
	for i := range 8 * 256 {
		flat = append(flat, byte(i*97))
	}
	for _, blk := range [][]byte{
		randomBytes(12, 3000, ""), []byte("to be or not to be, to be or not"), msgs[0], msgs[1][:300],
		bytes.Repeat([]byte("z"), 1000), randomBytes(13, 5000, "ab"), flat,
	} {
		for _, tokens := range [][]uint32{greedyTokens(blk), {uint32(len(blk))}} {
			checkBlockSizes(t, blk, tokens)
		}
	}
}

// checkBlockSizes writes tokens, which cover blk, in each block format after
// a few bits, and checks the sizes and the choice of writeBlock.
func checkBlockSizes(t *testing.T, blk []byte, tokens []uint32) {
	var bc blockCoder
	for _, nb := range []uint{0, 3, 7} {
		var best []byte
		for kind := range 3 {
			countTokens(&bc, tokens, blk)
			size := bc.sizes(len(blk), nb)
			w := bitWriter{out: make([]byte, 8)}
			w.put(0, nb)
			bc.write(&w, kind, size[kind], tokens, blk)
			if got := 8*w.n + int(w.nb); got != size[kind]+int(nb) {
				t.Errorf("%.20q in %d tokens after %d bits: block type %d takes %d bits, sizes says %d", blk, len(tokens), nb, kind, got-int(nb), size[kind])
			}
			w.syncFlush()
			if nb > 0 {
				// The bits before the block would not decode.
			} else if res, err := checkInflate(w.out[:w.n], nil, 15); err != nil || !bytes.Equal(res.data, blk) {
				t.Errorf("%.20q in %d tokens: block type %d does not decode: %v", blk, len(tokens), kind, err)
			}
			if best == nil || w.n < len(best) {
				best = w.out[:w.n]
			}
		}
		countTokens(&bc, tokens, blk)
		w := bitWriter{out: make([]byte, 8)}
		w.put(0, nb)
		bc.writeBlock(&w, tokens, blk)
		w.syncFlush()
		if w.n != len(best) {
			t.Errorf("%.20q in %d tokens after %d bits: writeBlock writes %d bytes, the smallest format %d", blk, len(tokens), nb, w.n, len(best))
		}
	}
}

// greedyTokens parses blk into tokens by brute force, independently of the
// encoder's matchers.
func greedyTokens(blk []byte) []uint32 {
	var tokens []uint32
	lit := 0
	for s := 0; s < len(blk); {
		n, dist := 0, 0
		for c := max(0, s-4096); c < s; c++ {
			m := 0
			for s+m < len(blk) && m < maxMatch && blk[c+m] == blk[s+m] {
				m++
			}
			if m >= n {
				n, dist = m, s-c
			}
		}
		if n < 3 {
			s++
			continue
		}
		if s > lit {
			tokens = append(tokens, uint32(s-lit))
		}
		tokens = append(tokens, matchFlag|uint32(n-3)<<15|uint32(dist-1))
		s += n
		lit = s
	}
	if len(blk) > lit {
		tokens = append(tokens, uint32(len(blk)-lit))
	}
	return tokens
}

// countTokens sets the frequencies of bc to those of tokens.
func countTokens(bc *blockCoder, tokens []uint32, blk []byte) {
	clear(bc.litFreq[:])
	clear(bc.distFreq[:])
	pos := 0
	for _, t := range tokens {
		if t&matchFlag == 0 {
			for _, c := range blk[pos : pos+int(t)] {
				bc.litFreq[c]++
			}
			pos += int(t)
			continue
		}
		bc.litFreq[257+int(lenSym[t>>15&255])]++
		bc.distFreq[distSym(t&32767)]++
		pos += int(t>>15&255) + 3
	}
}

// TestDeflateRatio compares output sizes on chat messages with those of
// compress/flate given the same history as its dictionary: level 1 must be
// smaller than its level 1 (which ignores dictionaries), level 6 about as
// small as its level 6 (whose window is never below 32 KiB), and a history
// must help.
func TestDeflateRatio(t *testing.T) {
	msgs, stream := chatStream(14, 140)
	for _, wb := range []int{12, 15} {
		var ours, std [2][2]int // [with history][level 1, 6]
		for i := len(msgs) - 24; i < len(msgs); i++ {
			at := len(stream) - sumLen(msgs[i:])
			for h, hist := range [][]byte{nil, stream[at-1<<wb : at]} {
				for l, level := range []int{1, 6} {
					d := getDeflater()
					ours[h][l] += len(d.compress(nil, hist, msgs[i], wb, level))
					putDeflater(d)
					var buf bytes.Buffer
					w, _ := flate.NewWriterDict(&buf, level, hist)
					w.Write(msgs[i])
					w.Flush()
					std[h][l] += buf.Len()
				}
			}
		}
		for h := range 2 {
			if ours[h][0] >= std[h][0] || 100*ours[h][1] > 103*std[h][1] {
				t.Errorf("window bits %d, history %v: levels 1 and 6 take %v bytes, compress/flate %v", wb, h == 1, ours[h], std[h])
			}
		}
		if 10*ours[1][0] > 6*ours[0][0] {
			t.Errorf("window bits %d: level 1 takes %d bytes with history, %d without", wb, ours[1][0], ours[0][0])
		}
	}
}

// TestDeflateReusedTables checks that one deflater's hash tables carry
// nothing over from call to call: after a long input, a short one must not
// find the long one's positions, which would lie beyond its own end.
func TestDeflateReusedTables(t *testing.T) {
	_, stream := chatStream(6, 40)
	d := getDeflater()
	defer putDeflater(d)
	for level := 1; level <= 9; level++ {
		for _, wb := range []int{15, 9} {
			checkRoundTrip(t, d, nil, stream, wb, level)
			checkRoundTrip(t, d, nil, stream[:3000], wb, level)
			checkRoundTrip(t, d, stream[:100], stream[100:2000], wb, level)
			checkRoundTrip(t, d, stream[:20000], stream[3000:9000], wb, level)
		}
	}
}

// TestDeflateTableWrap checks that the positions in the hash tables start
// over, from cleared tables, instead of overflowing int32. Left over, an
// entry of an earlier call would point at the last bytes of this call's
// history, where no 4 bytes can be read.
func TestDeflateTableWrap(t *testing.T) {
	x := randomBytes(15, 5000, "")
	hist := randomBytes(16, 10, "")
	p := slices.Concat(x[7:11], randomBytes(17, 100, ""))
	d := getDeflater()
	defer putDeflater(d)
	for level := 1; level <= 9; level++ {
		d.next = 0 // as new
		checkRoundTrip(t, d, nil, x, 15, level)
		d.next = math.MaxInt32 - 5000
		checkRoundTrip(t, d, hist, p, 15, level)
		if d.next > 1<<20 {
			t.Fatalf("level %d: positions did not start over (next %d)", level, d.next)
		}
	}
}

// TestHuffmanLengths checks the code construction on random and skewed
// frequencies: complete codes within the length limit, optimal when the
// limit does not bind.
func TestHuffmanLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 14))
	var hb huffBuilder
	for i := range 3000 {
		n := 2 + r.IntN(numLitLen-1)
		limit := []int{maxCLBits, maxCodeBits}[i%2]
		if limit == maxCLBits {
			n = min(n, numCodeLen)
		}
		freq := make([]uint32, n)
		switch i % 3 {
		case 0: // sparse, often a single used symbol or none
			for range r.IntN(3) {
				freq[r.IntN(n)] = uint32(1 + r.IntN(100))
			}
		case 1:
			for j := range freq {
				freq[j] = uint32(r.IntN(1 << r.IntN(17)))
			}
		default: // Fibonacci weights: the deepest trees there are
			a, b := uint32(1), uint32(1)
			for j := range freq[:min(n, 28)] {
				freq[j], a, b = a, b, a+b
			}
		}
		lens, codes := make([]uint8, n), make([]hcode, n)
		cost := hb.build(freq, lens, codes, limit)
		count, canonical := countLengths(lens), make([]hcode, n)
		assignCodes(usedSymbols(lens, nil), lens, &count, canonical)
		if !slices.Equal(codes, canonical) {
			t.Fatalf("build makes codes %v for lengths %v, want %v", codes, lens, canonical)
		}
		want := 0
		for s, f := range freq {
			want += int(f) * int(lens[s])
		}
		if cost != want {
			t.Fatalf("build returns cost %d for lengths %v, want %d", cost, lens, want)
		}
		checkHuffman(t, freq, lens, limit)
	}
}

// checkHuffman checks the code lengths lens for freq.
func checkHuffman(t *testing.T, freq []uint32, lens []uint8, limit int) {
	t.Helper()
	kraft, cost, used, deepest := 0, 0, 0, 0
	for s, n := range lens {
		if freq[s] > 0 {
			used++
			if n == 0 {
				t.Fatalf("symbol %d has frequency %d but no code: %v", s, freq[s], lens)
			}
		}
		if n > 0 {
			kraft += 1 << (maxCodeBits - n)
		}
		cost += int(freq[s]) * int(n)
		deepest = max(deepest, int(n))
	}
	if kraft != 1<<maxCodeBits || deepest > limit {
		t.Fatalf("lengths %v for %v: Kraft sum %d/%d, longest %d (limit %d)", lens, freq, kraft, 1<<maxCodeBits, deepest, limit)
	}
	best, depth := huffmanCost(freq)
	if used >= 2 && (cost < best || depth <= limit && cost != best) {
		t.Fatalf("lengths %v for %v cost %d, a Huffman code %d", lens, freq, cost, best)
	}
}

// huffmanCost returns the cost of a Huffman code for freq and its depth,
// computed the slow textbook way.
func huffmanCost(freq []uint32) (cost, depth int) {
	type node struct{ w, d int }
	var nodes []node
	for _, f := range freq {
		if f > 0 {
			nodes = append(nodes, node{int(f), 0})
		}
	}
	for len(nodes) > 1 {
		slices.SortFunc(nodes, func(a, b node) int { return a.w - b.w })
		a, b := nodes[0], nodes[1]
		cost += a.w + b.w
		nodes = append(nodes[2:], node{a.w + b.w, max(a.d, b.d) + 1})
	}
	if len(nodes) == 1 {
		depth = nodes[0].d
	}
	return cost, depth
}

// raceEnabled reports whether the test binary was built with -race, under
// which sync.Pool drops items at random.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// TestDeflateNoAllocs checks that compressing into a buffer with room
// allocates nothing, and neither does taking the scratch from the pool.
func TestDeflateNoAllocs(t *testing.T) {
	msgs, stream := chatStream(8, 40)
	hist, msg := stream[len(stream)-len(msgs[39])-32768:len(stream)-len(msgs[39])], msgs[39]
	dst := make([]byte, 0, 4096)
	d := getDeflater()
	for level := 1; level <= 9; level++ {
		if n := testing.AllocsPerRun(20, func() { dst = d.compress(dst[:0], hist, msg, 15, level) }); n != 0 {
			t.Errorf("level %d: %v allocations per compress call", level, n)
		}
	}
	putDeflater(d)
	if raceEnabled() {
		t.Skip("sync.Pool drops items at random under -race")
	}
	cycle := func() {
		d := getDeflater()
		dst = d.compress(dst[:0], hist, msg, 12, 1)
		putDeflater(d)
	}
	cycle()
	if n := testing.AllocsPerRun(100, cycle); n != 0 {
		t.Errorf("%v allocations per pooled compress call", n)
	}
}

// TestDeflaterSize checks that the pooled scratch state stays small.
func TestDeflaterSize(t *testing.T) {
	if n := unsafe.Sizeof(deflater{}); n > 200<<10 {
		t.Errorf("a deflater takes %d bytes, want at most 200 KiB", n)
	}
}

// FuzzDeflateRoundTrip compresses p after hist and checks the output with
// checkInflate and compress/flate.
func FuzzDeflateRoundTrip(f *testing.F) {
	msgs, stream := chatStream(9, 5)
	f.Add([]byte(nil), []byte(nil), 15, 1)
	f.Add([]byte("abc"), []byte("abcabcabcabc"), 8, 6)
	f.Add(stream[:len(stream)-len(msgs[4])], msgs[4], 12, 1)
	f.Add(msgs[0], msgs[1], 9, 9)
	f.Add(randomBytes(15, 600, "ab"), randomBytes(16, 900, "ab"), 8, 4)
	f.Add(bytes.Repeat([]byte{7}, 300), bytes.Repeat([]byte{7}, 700), 10, 2)
	d := getDeflater()
	f.Fuzz(func(t *testing.T, hist, p []byte, windowBits, level int) {
		checkRoundTrip(t, d, hist, p, windowBits, level)
	})
}

// ---- Benchmarks ----

// BenchmarkDeflateChat compresses ~1.1 KiB JSON chat messages, alone and
// after the preceding window of messages, with this encoder and with
// compress/flate (a writer per history, made by NewWriterDict and Reset for
// each message), and reports the compressed size per message.
func BenchmarkDeflateChat(b *testing.B) {
	msgs, stream := chatStream(10, 400)
	const cases = 16
	for _, wb := range []int{12, 15} {
		for _, withHist := range []bool{false, true} {
			var hists, ps [][]byte
			for i := len(msgs) - cases; i < len(msgs); i++ {
				at := len(stream) - sumLen(msgs[i:])
				ps = append(ps, msgs[i])
				if withHist {
					hists = append(hists, stream[at-1<<wb:at])
				} else {
					hists = append(hists, nil)
				}
			}
			for _, level := range []int{1, 6} {
				name := fmt.Sprintf("window=%d/hist=%v/level=%d", wb, withHist, level)
				b.Run(name+"/ours", func(b *testing.B) { benchOurs(b, hists, ps, wb, level) })
				b.Run(name+"/flate", func(b *testing.B) { benchFlate(b, hists, ps, level) })
			}
		}
	}
}

// sumLen returns the total length of msgs.
func sumLen(msgs [][]byte) int {
	n := 0
	for _, m := range msgs {
		n += len(m)
	}
	return n
}

// benchOurs compresses ps[i] after hists[i] in turn with this encoder.
func benchOurs(b *testing.B, hists, ps [][]byte, wb, level int) {
	dst := make([]byte, 0, 4096)
	in, out := 0, 0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := i % len(ps)
		d := getDeflater()
		dst = d.compress(dst[:0], hists[k], ps[k], wb, level)
		putDeflater(d)
		in += len(ps[k])
		out += len(dst)
	}
	b.ReportMetric(float64(out)/float64(b.N), "B/msg")
	b.ReportMetric(float64(in)/float64(b.N), "in-B/msg")
}

// benchFlate compresses ps[i] after hists[i] in turn with compress/flate.
func benchFlate(b *testing.B, hists, ps [][]byte, level int) {
	var buf bytes.Buffer
	ws := make([]*flate.Writer, len(ps))
	for k := range ws {
		var err error
		if ws[k], err = flate.NewWriterDict(&buf, level, hists[k]); err != nil {
			b.Fatal(err)
		}
	}
	in, out := 0, 0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := i % len(ps)
		buf.Reset()
		ws[k].Reset(&buf)
		ws[k].Write(ps[k])
		ws[k].Flush()
		in += len(ps[k])
		out += buf.Len()
	}
	b.ReportMetric(float64(out)/float64(b.N), "B/msg")
	b.ReportMetric(float64(in)/float64(b.N), "in-B/msg")
}

// BenchmarkDeflateStream compresses 1 MB of JSON messages in one call per
// level, for throughput.
func BenchmarkDeflateStream(b *testing.B) {
	_, stream := chatStream(11, 1000)
	for _, level := range []int{1, 6, 9} {
		b.Run(fmt.Sprintf("level=%d/ours", level), func(b *testing.B) {
			b.SetBytes(int64(len(stream)))
			dst := make([]byte, 0, len(stream))
			d := getDeflater()
			for b.Loop() {
				dst = d.compress(dst[:0], nil, stream, 15, level)
			}
			putDeflater(d)
			b.ReportMetric(float64(len(dst)), "B/op-out")
		})
		b.Run(fmt.Sprintf("level=%d/flate", level), func(b *testing.B) {
			b.SetBytes(int64(len(stream)))
			var buf bytes.Buffer
			w, _ := flate.NewWriter(&buf, level)
			for b.Loop() {
				buf.Reset()
				w.Reset(&buf)
				w.Write(stream)
				w.Flush()
			}
			b.ReportMetric(float64(buf.Len()), "B/op-out")
		})
	}
}
