package websocket

import (
	"encoding/binary"
	"math"
	"math/bits"
	"sync"
)

// This file holds the matching half of the DEFLATE encoder used for
// permessage-deflate (RFC 7692): pooled scratch state, the LZ77 matchers
// with a window bounded to 1<<windowBits, and the block loop.

const (
	hashBits  = 14                 // log2 of the hash table size
	chainBits = 15                 // log2 of the hash chain table size: the largest window
	maxTokens = 1 << 13            // tokens per block
	maxSpan   = maxStored          // input bytes per block, so that a stored block takes them
	minMatch  = 4                  // shortest match the encoder emits (DEFLATE allows 3)
	matchFlag = 1 << 31            // marks a token as a match: flag | (length-3)<<15 | (distance-1)
	hashMul   = 0x9E3779B1         // odd, near 2^32/φ: mixes all 4 bytes into the top bits
	hashMul64 = 0x9E3779B97F4A7C15 // the same near 2^64/φ, for hash6
)

// maxPiece bounds the input one pass of the matcher takes, so that positions
// fit the int32 hash table entries; a variable for tests only. It must be at
// least the largest window, as only the previous piece is kept as history.
var maxPiece = 1 << 30

// deflater is pooled scratch state of the encoder (hash tables, token and
// frequency buffers); it holds no per-connection data, so any call may use
// any deflater. Its hash table entries are positions offset by a base that
// grows from call to call, so the entries of earlier calls read as out of
// range and need no clearing; hash chains are entered only from entries of
// the current call. Every candidate is checked against the window and its
// bytes compared, so a stale link could cost time, never correctness.
type deflater struct {
	head   [1 << hashBits]int32   // position+base of the latest occurrence of each hash
	prev   [1 << chainBits]uint16 // per position, distance to the previous one of its hash (0: none)
	tokens [maxTokens]uint32      // the block's tokens: literal run lengths and matches
	ntok   int
	base   int  // added to positions (0 is p[0]; the history is below) in the tables
	next   int  // the least base the next call may use
	start  int  // position where the tokens begin
	lo     int  // least valid position: -len(history)
	shift  uint // 32 - the bits of hash table index in use
	bc     blockCoder
	w      bitWriter
}

// levelParams tunes the matcher for one compression level.
type levelParams struct {
	chain     int // hash chain entries examined per search; 0 selects the single-probe matcher
	lazy      int // look for a longer match one byte on unless the match found is this long (0: greedy)
	good      int // with lazy matching, search only a quarter of the chain with a match this long in hand
	nice      int // stop searching on a match this long
	insert    int // index at most this many of the last positions inside a match
	histDense int // index every position of the last histDense bytes of history,
	histStep  int // then ever fewer, down to every histStep-th
}

// levels holds the parameters of compression levels 1 to 9.
var levels = [10]levelParams{
	1: {histDense: 256, histStep: 16},
	2: {chain: 4, nice: 16, insert: 8, histDense: 512, histStep: 8},
	3: {chain: 8, nice: 32, insert: 16, histDense: 1024, histStep: 4},
	4: {chain: 16, lazy: 8, good: 8, nice: 32, insert: 32, histDense: 2048, histStep: 4},
	5: {chain: 32, lazy: 16, good: 8, nice: 64, insert: maxMatch, histDense: 4096, histStep: 2},
	6: {chain: 128, lazy: 16, good: 8, nice: 128, insert: maxMatch, histDense: 1 << 15, histStep: 1},
	7: {chain: 256, lazy: 32, good: 16, nice: maxMatch, insert: maxMatch, histDense: 1 << 15, histStep: 1},
	8: {chain: 1024, lazy: 128, good: 32, nice: maxMatch, insert: maxMatch, histDense: 1 << 15, histStep: 1},
	9: {chain: 4096, lazy: maxMatch, good: 32, nice: maxMatch, insert: maxMatch, histDense: 1 << 15, histStep: 1},
}

// smallWindow replaces the parameters of levels 1 to 3 for windows of at
// most smallWindowSize bytes when there is history. Such a history is cheap
// enough to index into hash chains, densely where it is recent; searched
// with lazy matching they find the long matches in it that the single probe
// of level 1 misses. On ~1 KiB JSON messages with context takeover and a
// 4 KiB window that is an eighth less output for a fifth more time; with
// larger windows indexing the history costs too much for the fast levels,
// and without history the gain is too small.
var smallWindow = levelParams{chain: 16, lazy: 32, good: 16, nice: 64, insert: 8, histDense: 768, histStep: 8}

// smallWindowSize is the largest window for which levels 1 to 3 use
// smallWindow.
const smallWindowSize = 1 << 12

// deflaters pools deflater scratch state.
var deflaters = sync.Pool{New: func() any { return new(deflater) }}

// getDeflater takes a deflater from the pool.
func getDeflater() *deflater { return deflaters.Get().(*deflater) }

// putDeflater returns d to the pool; the caller must not use it again.
func putDeflater(d *deflater) { deflaters.Put(d) }

// compress appends to dst the raw DEFLATE encoding of p as non-final blocks,
// ending with a sync flush (an empty stored block, so the output is
// byte-aligned and ends with 00 00 ff ff). hist holds the bytes that came
// just before p in the same stream, which matches may refer to; only its last
// 1<<windowBits bytes are used, and no distance exceeds 1<<windowBits.
// windowBits (8..15) and level (1 fastest .. 9 smallest) are clamped to range.
// It allocates only to grow dst, which must not overlap hist or p.
func (d *deflater) compress(dst, hist, p []byte, windowBits, level int) []byte {
	window := 1 << min(max(windowBits, 8), 15)
	level = min(max(level, 1), 9)
	lp := &levels[level]
	if level <= 3 && window <= smallWindowSize && len(hist) > 0 {
		lp = &smallWindow
	}
	d.w = bitWriter{out: dst[:cap(dst)], n: len(dst)}
	for {
		piece := p[:min(len(p), maxPiece)]
		if len(hist) > window {
			hist = hist[len(hist)-window:]
		}
		if len(piece) > 0 {
			d.encode(hist, piece, window, lp)
		}
		if len(piece) == len(p) {
			break
		}
		hist, p = piece, p[len(piece):]
	}
	d.w.syncFlush()
	dst = d.w.out[:d.w.n]
	d.w = bitWriter{}
	return dst
}

// encode writes p in blocks, with h (at most one window) before it.
func (d *deflater) encode(h, p []byte, window int, lp *levelParams) {
	if d.next < 1 || d.next > math.MaxInt32-maxPiece-2*len(h)-1 {
		clear(d.head[:])
		d.next = 1
	}
	d.lo = -len(h)
	d.base = d.next + len(h)
	d.next = d.base + len(p)
	d.start, d.ntok = 0, 0
	// A table twice the window size is about as good as a larger one, and
	// stays in faster caches.
	d.shift = 32 - uint(min(hashBits, bits.Len(uint(window))))
	if lp.chain == 0 {
		d.indexHistFast(h, lp)
		d.matchFast(h, p, window)
	} else {
		d.indexHist(h, lp)
		d.matchChain(h, p, window, lp)
	}
	if d.ntok > 0 {
		d.flush(p, len(p))
	}
}

// flush writes the tokens, which cover p[d.start:end], as a block.
func (d *deflater) flush(p []byte, end int) {
	d.bc.writeBlock(&d.w, d.tokens[:d.ntok], p[d.start:end])
	d.start, d.ntok = end, 0
}

// literals adds p[from:to] to the tokens as literals, in as many blocks as
// it takes.
func (d *deflater) literals(p []byte, from, to int) {
	for from < to {
		k := min(to-from, d.start+maxSpan-from)
		if k <= 0 {
			d.flush(p, from)
			continue
		}
		d.tokens[d.ntok] = uint32(k)
		d.ntok++
		for _, c := range p[from : from+k] {
			d.bc.litFreq[c]++
		}
		from += k
		if d.ntok == maxTokens || from-d.start >= maxSpan {
			d.flush(p, from)
		}
	}
}

// match adds a match of n bytes at distance dist, ending at p[end], to the
// tokens; the literals before it must be added already.
func (d *deflater) match(p []byte, n, dist, end int) {
	if end-d.start > maxSpan {
		d.flush(p, end-n)
	}
	l := n - 3
	d.tokens[d.ntok] = matchFlag | uint32(l)<<15 | uint32(dist-1)
	d.ntok++
	d.bc.litFreq[257+int(lenSym[l])]++
	d.bc.distFreq[distSym(uint32(dist-1))]++
	if d.ntok == maxTokens {
		d.flush(p, end)
	}
}

// hash4 hashes 4 bytes to a hash table index of 32-shift bits.
func hash4(v uint32, shift uint) uint32 { return v * hashMul >> shift & (1<<hashBits - 1) }

// hash6 hashes the low 6 bytes of v to a hash table index of 32-shift
// bits. The single-probe matcher keys on 6 bytes: in text such as JSON the
// latest occurrence of 6 bytes starts a long match far more often than the
// latest of 4, which common short strings keep overwriting.
func hash6(v uint64, shift uint) uint32 {
	return uint32(v<<16*hashMul64>>32) >> shift & (1<<hashBits - 1)
}

// denseHist is the history size up to which matchFast's index holds every
// position (a 4 KiB window costs a few microseconds to index densely and
// saves about a tenth of the output on small JSON messages).
var denseHist = levelParams{histDense: 1 << 12, histStep: 1}

// load32 returns the 4 bytes at position i of h followed by p; they must
// not straddle the two.
func load32(h, p []byte, i int) uint32 {
	if i >= 0 {
		return binary.LittleEndian.Uint32(p[i:])
	}
	return binary.LittleEndian.Uint32(h[len(h)+i:])
}

// byteAt returns the byte at position i of h followed by p.
func byteAt(h, p []byte, i int) byte {
	if i >= 0 {
		return p[i]
	}
	return h[len(h)+i]
}

// matchLen returns how many of the bytes at position c of h followed by p,
// up to limit, equal those at p[s:]; c < s.
func matchLen(h, p []byte, c, s, limit int) int {
	if c >= 0 {
		return prefixLen(p[c:], p[s:s+limit])
	}
	a := h[len(h)+c:]
	if len(a) >= limit {
		return prefixLen(a, p[s:s+limit])
	}
	n := prefixLen(a, p[s:s+len(a)])
	if n < len(a) {
		return n
	}
	return n + prefixLen(p, p[s+n:s+limit])
}

// prefixLen returns the length of the common prefix of a and b, where a is
// at least as long as b.
func prefixLen(a, b []byte) int {
	n := 0
	for len(b)-n >= 8 {
		x := binary.LittleEndian.Uint64(a[n:]) ^ binary.LittleEndian.Uint64(b[n:])
		if x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
	}
	for n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// histBound returns where in a history of n bytes indexing goes from
// index step to step-1: positions older than step*lp.histDense bytes are
// indexed every step-th, up to lp.histStep; the last lp.histDense bytes,
// every one.
func histBound(n, step int, lp *levelParams) int {
	if step == 1 {
		return n - minMatch + 1
	}
	return min(n-minMatch+1, n-step*lp.histDense)
}

// indexHistFast indexes the history h for matchFast: all of it if it is
// at most denseHist.histDense bytes. Its last 7 positions, whose 8-byte
// loads would run past it, are left out.
func (d *deflater) indexHistFast(h []byte, lp *levelParams) {
	if len(h) <= denseHist.histDense {
		lp = &denseHist
	}
	off, i, n := d.base-len(h), 0, len(h)-7
	for step := lp.histStep; step > 0; step-- {
		for end := min(histBound(len(h), step, lp), n); i < end; i += step {
			d.head[hash6(binary.LittleEndian.Uint64(h[i:]), d.shift)] = int32(i + off)
		}
	}
}

// matchFast is the level 1 matcher for windows larger than smallWindowSize:
// one hash table probe per position, keyed on 6 bytes (the last 7 bytes of
// p are left as literals), greedy matches extended backwards, and steps
// through input that does not match that grow by one byte every 64 probes.
func (d *deflater) matchFast(h, p []byte, window int) {
	base, lo, shift := d.base, d.lo, d.shift
	lit, last, skip := 0, len(p)-8, 64
	for s := 0; s <= last; {
		v := binary.LittleEndian.Uint64(p[s:])
		cv := uint32(v)
		hv := hash6(v, shift)
		c := int(d.head[hv]) - base
		d.head[hv] = int32(s + base)
		// The candidate is in range if it is in this call's data (old
		// entries lie below it) and in the window: one comparison.
		if uint(s-c-1) >= uint(min(window, s-lo)) || load32(h, p, c) != cv {
			s += skip >> 6
			skip++
			continue
		}
		n := minMatch + matchLen(h, p, c+minMatch, s+minMatch, min(maxMatch, len(p)-s)-minMatch)
		dist := s - c
		s, n = extendBack(h, p, s, n, dist, lit, lo)
		d.literals(p, lit, s)
		d.match(p, n, dist, s+n)
		s += n
		lit, skip = s, 64
	}
	d.literals(p, lit, len(p))
}

// insert makes position pos, whose 4 bytes hash to hv, the head of its hash
// chain.
func (d *deflater) insert(hv uint32, pos, window int) {
	v := pos + d.base
	old := int(d.head[hv])
	d.head[hv] = int32(v)
	// The previous position is in range if it is in this call's data (old
	// entries lie below it) and in the window; a single comparison, since
	// a branch here is hard to predict.
	delta := v - old
	if delta > min(window, pos-d.lo) {
		delta = 0
	}
	d.prev[v&(1<<chainBits-1)] = uint16(delta)
}

// indexHist indexes the history h, at most one window, for matchChain, as
// indexHistFast does. It inserts as insert does, in a tighter loop: the
// history's own positions are all in the window, so an earlier occurrence
// is in range if it is in h.
func (d *deflater) indexHist(h []byte, lp *levelParams) {
	const mask = 1<<chainBits - 1
	off, shift, i := d.base-len(h), d.shift, 0
	for step := lp.histStep; step > 0; step-- {
		for end := histBound(len(h), step, lp); i < end; i += step {
			hv := hash4(binary.LittleEndian.Uint32(h[i:]), shift)
			v := i + off
			delta := v - int(d.head[hv])
			d.head[hv] = int32(v)
			if delta > i {
				delta = 0
			}
			d.prev[v&mask] = uint16(delta)
		}
	}
}

// indexRange indexes the positions from..to-1 of p, or only the last
// lp.insert of them.
func (d *deflater) indexRange(p []byte, from, to, window int, lp *levelParams) {
	to = min(to, len(p)-minMatch+1)
	for i := max(from, to-lp.insert); i < to; i++ {
		d.insert(hash4(binary.LittleEndian.Uint32(p[i:]), d.shift), i, window)
	}
}

// matchChain is the matcher of levels 2 to 9, and of level 1 with a small
// window: it searches hash chains and, with lp.lazy set, defers each match
// by a byte to see whether a longer one starts there (lazy matching).
// Matches are extended backwards over pending literals.
func (d *deflater) matchChain(h, p []byte, window int, lp *levelParams) {
	lit, prevLen, prevDist := 0, 0, 0
	for s := 0; s < len(p); {
		n, dist := 0, 0
		if s <= len(p)-minMatch {
			d.insert(hash4(binary.LittleEndian.Uint32(p[s:]), d.shift), s, window)
			if lp.lazy == 0 || prevLen < lp.lazy {
				n, dist = d.search(h, p, s, max(prevLen, minMatch-1), window, lp)
			}
		}
		switch {
		case prevLen >= minMatch && n <= prevLen:
			end := s - 1 + prevLen
			at, m := extendBack(h, p, s-1, prevLen, prevDist, lit, d.lo)
			d.literals(p, lit, at)
			d.match(p, m, prevDist, end)
			d.indexRange(p, s+1, end, window, lp)
			s, lit, prevLen = end, end, 0
		case lp.lazy == 0 && n >= minMatch:
			from, end := s+1, s+n
			s, n = extendBack(h, p, s, n, dist, lit, d.lo)
			d.literals(p, lit, s)
			d.match(p, n, dist, end)
			d.indexRange(p, from, end, window, lp)
			s, lit = end, end
		default:
			prevLen, prevDist = n, dist
			s++
		}
	}
	d.literals(p, lit, len(p))
}

// extendBack extends a match of n bytes at p[s:], distance dist, backwards
// over the literals from p[lit] on while the bytes before both ends agree,
// and returns its new start and length. Where the history is indexed at
// every few positions only, a match is often found a byte or two after its
// best start.
func extendBack(h, p []byte, s, n, dist, lit, lo int) (int, int) {
	for s > lit && s-dist > lo && n < maxMatch && byteAt(h, p, s-dist-1) == p[s-1] {
		s, n = s-1, n+1
	}
	return s, n
}

// search returns the longest match for p[s:] longer than best on the hash
// chain of s, or 0 if there is none.
func (d *deflater) search(h, p []byte, s, best, window int, lp *levelParams) (n, dist int) {
	const mask = 1<<chainBits - 1
	limit := min(maxMatch, len(p)-s)
	if best >= limit {
		return 0, 0
	}
	chain := lp.chain
	if best >= minMatch && best >= lp.good {
		chain >>= 2
	}
	nice := min(lp.nice, limit)
	c := s
	for delta := int(d.prev[(s+d.base)&mask]); delta != 0 && chain > 0; delta = int(d.prev[(c+d.base)&mask]) {
		c -= delta
		if c < d.lo || s-c > window {
			break
		}
		chain--
		if byteAt(h, p, c+best) != p[s+best] {
			continue
		}
		if m := matchLen(h, p, c, s, limit); m > best {
			best, n, dist = m, m, s-c
			if m >= nice {
				break
			}
		}
	}
	return n, dist
}
