package websocket

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// This file holds the entropy-coding half of the DEFLATE encoder (RFC 1951):
// the symbol tables, length-limited Huffman code construction, and the bit
// writer with the three block formats (stored, fixed and dynamic Huffman).

const (
	numLitLen   = 286   // literal/length symbols: 0..255 bytes, 256 end of block, 257..285 lengths
	numDist     = 30    // distance symbols
	numCodeLen  = 19    // code length symbols of a dynamic block header
	endBlock    = 256   // the end-of-block symbol
	maxCodeBits = 15    // longest literal/length or distance code
	maxCLBits   = 7     // longest code length code
	maxMatch    = 258   // longest match DEFLATE can express
	maxStored   = 65535 // most bytes one stored block holds
)

// hcode is a Huffman code ready for output. DEFLATE sends Huffman codes
// starting from their most significant bit into a stream that is filled from
// the least significant bit, so bits holds the code reversed; n is its
// length, 0 for a symbol without a code.
type hcode struct {
	bits uint16
	n    uint8
}

// The tables of RFC 1951 section 3.2.5, and the fixed codes of section 3.2.6.
var (
	lenSym    [256]uint8       // match length-3 → length symbol-257
	lenBase   [29]uint8        // length symbol-257 → smallest length-3 it codes
	lenExtra  [29]uint8        // length symbol-257 → extra bits
	distBase  [numDist]uint16  // distance symbol → smallest distance-1 it codes
	distExtra [numDist]uint8   // distance symbol → extra bits
	fixedLit  [numLitLen]hcode // the fixed literal/length code
	fixedDist [numDist]hcode   // the fixed distance code
)

// clOrder is the order in which a dynamic block header lists the lengths of
// the code length code.
var clOrder = [numCodeLen]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// init computes the tables from the rules of RFC 1951.
func init() {
	base := 0
	for s := range 28 {
		lenBase[s] = uint8(base)
		if s >= 8 {
			lenExtra[s] = uint8(s/4 - 1)
		}
		for range 1 << lenExtra[s] {
			lenSym[base] = uint8(s)
			base++
		}
	}
	// Length 258 has a symbol of its own (285), although symbol 284 with all
	// extra bits set would reach it too.
	lenSym[255], lenBase[28] = 28, 255
	base = 0
	for s := range numDist {
		if s >= 4 {
			distExtra[s] = uint8(s/2 - 1)
		}
		distBase[s] = uint16(base)
		base += 1 << distExtra[s]
	}
	// The fixed code has codes for symbols 286 and 287 too, which are never
	// used but come before the 9-bit codes.
	var lens [288]uint8
	var codes [288]hcode
	for i := range lens {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	count := countLengths(lens[:])
	assignCodes(usedSymbols(lens[:], nil), lens[:], &count, codes[:])
	copy(fixedLit[:], codes[:])
	for i := range fixedDist {
		fixedDist[i] = hcode{bits.Reverse16(uint16(i)) >> 11, 5}
	}
}

// distSym returns the distance symbol for a distance-1 of d (below 32768).
func distSym(d uint32) int {
	if d < 4 {
		return int(d)
	}
	n := bits.Len32(d)
	return 2*(n-1) + int(d>>(n-2))&1
}

// usedSymbols appends to syms the symbols with a nonzero length in lens.
func usedSymbols(lens []uint8, syms []uint16) []uint16 {
	for s, n := range lens {
		if n != 0 {
			syms = append(syms, uint16(s))
		}
	}
	return syms
}

// codeCounts holds how many codes of each length a code has.
type codeCounts [maxCodeBits + 1]uint16

// countLengths returns the counts of the nonzero lengths in lens.
func countLengths(lens []uint8) codeCounts {
	var c codeCounts
	for _, n := range lens {
		c[n]++
	}
	c[0] = 0
	return c
}

// assignCodes gives the symbols syms, in increasing order, their canonical
// codes (RFC 1951 section 3.2.2) for the lengths lens; count holds the
// counts of the lengths.
func assignCodes(syms []uint16, lens []uint8, count *codeCounts, codes []hcode) {
	var next codeCounts
	code := uint16(0)
	for n := 1; n <= maxCodeBits; n++ {
		code = (code + count[n-1]) << 1
		next[n] = code
	}
	for _, s := range syms {
		n := lens[s]
		codes[s] = hcode{bits.Reverse16(next[n]) >> (16 - n), n}
		next[n]++
	}
}

// huffBuilder is the scratch space of Huffman code construction.
type huffBuilder struct {
	sorted [numLitLen]uint32 // frequency<<9 | symbol of the used symbols
	order  [numLitLen]uint16 // the used symbols, in increasing order
	spare  [numLitLen]uint32 // the other buffer of the radix sort
	depth  [numLitLen]uint32 // their weights, then their code lengths
}

// build sets lens and codes to a Huffman code for freq that is no longer
// than limit bits, and returns the size in bits of the symbols counted in
// freq with that code. At least two symbols get a code (unused ones if need
// be), so that the code is complete: zlib's inflate rejects incomplete codes.
// Frequencies must stay below 1<<23.
func (b *huffBuilder) build(freq []uint32, lens []uint8, codes []hcode, limit int) int {
	clear(lens)
	n, most := 0, uint32(0)
	for sym, f := range freq {
		if f != 0 {
			b.sorted[n] = f<<9 | uint32(sym)
			b.order[n] = uint16(sym)
			n++
			most = max(most, f)
		}
	}
	if n < 2 {
		lens[0], lens[1] = 1, 1
		if n == 1 {
			lens[b.sorted[0]&511] = 1
			if b.sorted[0]&511 > 1 {
				lens[1] = 0
			}
		}
		count := countLengths(lens)
		assignCodes(usedSymbols(lens, b.order[:0]), lens, &count, codes)
		return int(b.sorted[0]>>9) * n
	}
	sorted, depth := b.sortByFreq(n, most), b.depth[:n]
	for i, v := range sorted {
		depth[i] = v >> 9
	}
	minRedundancy(depth)
	var count codeCounts
	for _, d := range depth {
		count[min(int(d), limit)]++
	}
	limitDepths(&count, limit)
	i, cost := 0, 0
	for d := limit; d > 0; d-- {
		for _, v := range sorted[i : i+int(count[d])] {
			lens[v&511] = uint8(d)
			cost += int(v>>9) * d
		}
		i += int(count[d])
	}
	assignCodes(b.order[:n], lens, &count, codes)
	return cost
}

// sortByFreq sorts the n entries of b.sorted, which are in symbol order,
// by frequency, most at most, with stable radix sort passes. Digits of at
// most 6 bits keep the passes over the buckets short: a message's few
// symbols take two short passes rather than one over 256 buckets. It returns
// the sorted entries, in b.sorted or b.spare.
func (b *huffBuilder) sortByFreq(n int, most uint32) []uint32 {
	src, dst := b.sorted[:n], b.spare[:n]
	nbits := bits.Len32(most)
	passes := (nbits + 5) / 6
	width := uint((nbits + passes - 1) / passes)
	mask := uint32(1)<<width - 1
	for shift := uint(9); passes > 0; shift, passes = shift+width, passes-1 {
		var start [64]uint16
		for _, v := range src {
			start[v>>shift&mask]++
		}
		sum := uint16(0)
		for i, c := range start[:mask+1] {
			start[i] = sum
			sum += c
		}
		for _, v := range src {
			k := v >> shift & mask
			dst[start[k]] = v
			start[k]++
		}
		src, dst = dst, src
	}
	return src
}

// minRedundancy replaces the weights a, sorted in increasing order (at least
// two), by the code lengths of a Huffman code for them, in place and in
// linear time (the method of Moffat and Katajainen, "In-place calculation of
// minimum-redundancy codes", 1995). a[0] gets the longest code.
func minRedundancy(a []uint32) {
	n := len(a)
	// First pass: merge the two lightest trees into internal node k, which
	// takes a[k]; merged internal nodes get their parent's index instead.
	a[0] += a[1]
	leaf, node := 2, 0
	for k := 1; k < n-1; k++ {
		if leaf >= n || a[node] < a[leaf] {
			a[k] = a[node]
			a[node] = uint32(k)
			node++
		} else {
			a[k] = a[leaf]
			leaf++
		}
		if leaf >= n || (node < k && a[node] < a[leaf]) {
			a[k] += a[node]
			a[node] = uint32(k)
			node++
		} else {
			a[k] += a[leaf]
			leaf++
		}
	}
	// Second pass: the depth of each internal node, from the root down.
	a[n-2] = 0
	for k := n - 3; k >= 0; k-- {
		a[k] = a[a[k]] + 1
	}
	// Third pass: leaves take the places of the nodes that are not internal,
	// level by level.
	avail, used, depth := 1, 0, uint32(0)
	node, k := n-2, n-1
	for avail > 0 {
		for node >= 0 && a[node] == depth {
			used++
			node--
		}
		for ; avail > used; avail-- {
			a[k] = depth
			k--
		}
		avail, used = 2*used, 0
		depth++
	}
}

// limitDepths turns count, the number of codes of each length after lengths
// beyond limit were cut to limit, back into the counts of a complete code.
// Each step hangs one code of length limit under the deepest shorter code,
// which makes the Kraft sum one unit of 2^-limit smaller.
func limitDepths(count *codeCounts, limit int) {
	total := 0
	for d := 1; d <= limit; d++ {
		total += int(count[d]) << (limit - d)
	}
	for ; total > 1<<limit; total-- {
		count[limit]--
		for d := limit - 1; d > 0; d-- {
			if count[d] > 0 {
				count[d]--
				count[d+1] += 2
				break
			}
		}
	}
}

// bitWriter packs bits, least significant first, after out[:n]. Callers
// reserve room before each block, so the writes themselves never grow out.
type bitWriter struct {
	out []byte // the buffer to its capacity; out[:n] is finished output
	n   int
	acc uint64 // nb pending bits, also already stored at out[n:]
	nb  uint
}

// reserve makes room for k more bytes (and the 8 that put may overwrite).
func (w *bitWriter) reserve(k int) {
	if len(w.out)-w.n < k+8 {
		w.out = slices.Grow(w.out[:w.n], k+8)
		w.out = w.out[:cap(w.out)]
	}
}

// put appends the nb low bits of v, which has no bits above them; nb is at
// most 56.
func (w *bitWriter) put(v uint64, nb uint) {
	w.acc |= v << w.nb
	w.nb += nb
	binary.LittleEndian.PutUint64(w.out[w.n:], w.acc)
	k := w.nb >> 3
	w.n += int(k)
	w.acc >>= k << 3
	w.nb &= 7
}

// align pads the output with zero bits to a byte boundary.
func (w *bitWriter) align() {
	if w.nb > 0 {
		w.n++
		w.acc, w.nb = 0, 0
	}
}

// storedBits returns the size in bits of n bytes as stored blocks, written
// after nb pending bits.
func storedBits(n int, nb uint) int {
	chunks := max(1, (n+maxStored-1)/maxStored)
	first := 3 + int(-(nb+3))&7 + 32
	return first + (chunks-1)*(3+5+32) + 8*n
}

// writeStored writes blk as non-final stored blocks.
func (w *bitWriter) writeStored(blk []byte) {
	w.reserve(len(blk) + 5*(len(blk)/maxStored+1))
	for {
		k := min(len(blk), maxStored)
		w.put(0, 3)
		w.align()
		binary.LittleEndian.PutUint16(w.out[w.n:], uint16(k))
		binary.LittleEndian.PutUint16(w.out[w.n+2:], ^uint16(k))
		w.n += 4 + copy(w.out[w.n+4:], blk[:k])
		blk = blk[k:]
		if len(blk) == 0 {
			return
		}
	}
}

// syncFlush ends the output with an empty stored block, which leaves it
// byte-aligned and ending in 00 00 ff ff.
func (w *bitWriter) syncFlush() {
	w.reserve(5)
	w.put(0, 3)
	w.align()
	w.n += copy(w.out[w.n:], "\x00\x00\xff\xff")
}

// writeTokens writes the symbols of a Huffman block: the tokens, which
// cover blk, and the end of block.
func (w *bitWriter) writeTokens(tokens []uint32, blk []byte, lit *[numLitLen]hcode, dist *[numDist]hcode) {
	out, n, acc, nb := w.out, w.n, w.acc, w.nb
	pos := 0
	for _, t := range tokens {
		if t&matchFlag == 0 {
			lits := blk[pos : pos+int(t)]
			for ; len(lits) >= 3; lits = lits[3:] {
				// Three codes of at most 15 bits fit the 57 bits free.
				h0, h1, h2 := lit[lits[0]], lit[lits[1]], lit[lits[2]]
				acc |= uint64(h0.bits) << nb
				nb += uint(h0.n)
				acc |= uint64(h1.bits) << nb
				nb += uint(h1.n)
				acc |= uint64(h2.bits) << nb
				nb += uint(h2.n)
				binary.LittleEndian.PutUint64(out[n:], acc)
				k := nb >> 3
				n += int(k)
				acc >>= k << 3
				nb &= 7
			}
			for _, c := range lits {
				h := lit[c]
				acc |= uint64(h.bits) << nb
				nb += uint(h.n)
				binary.LittleEndian.PutUint64(out[n:], acc)
				k := nb >> 3
				n += int(k)
				acc >>= k << 3
				nb &= 7
			}
			pos += int(t)
			continue
		}
		l := t >> 15 & 255
		d := t & 32767
		ls := lenSym[l]
		ds := distSym(d)
		h := lit[257+int(ls)]
		v := uint64(h.bits) | uint64(l-uint32(lenBase[ls]))<<h.n
		vb := uint(h.n + lenExtra[ls])
		h = dist[ds]
		v |= (uint64(h.bits) | uint64(d-uint32(distBase[ds]))<<h.n) << vb
		vb += uint(h.n + distExtra[ds])
		acc |= v << nb
		nb += vb
		binary.LittleEndian.PutUint64(out[n:], acc)
		k := nb >> 3
		n += int(k)
		acc >>= k << 3
		nb &= 7
		pos += int(l) + 3
	}
	w.n, w.acc, w.nb = n, acc, nb
	h := lit[endBlock]
	w.put(uint64(h.bits), uint(h.n))
}

// blockCoder gathers the symbol frequencies of a block, then writes the
// block in whichever of the three formats is smallest.
type blockCoder struct {
	litFreq  [numLitLen]uint32
	distFreq [numDist]uint32
	clFreq   [numCodeLen]uint32
	litLen   [numLitLen]uint8
	distLen  [numDist]uint8
	clLen    [numCodeLen]uint8
	litCode  [numLitLen]hcode
	distCode [numDist]hcode
	clCode   [numCodeLen]hcode
	seq      [numLitLen + numDist]uint8  // the code lengths a dynamic header lists
	rle      [numLitLen + numDist]uint16 // those run-length coded: symbol | extra bits<<8
	nrle     int
	nlit     int // literal/length code lengths in the header
	ndist    int // distance code lengths in the header
	ncl      int // code length code lengths in the header
	hb       huffBuilder
}

// The block formats, as in the BTYPE field of a block header.
const (
	blockStored = iota
	blockFixed
	blockDynamic
)

// writeBlock writes tokens, which cover blk, as a non-final block in the
// smallest format, and resets the frequencies for the next block.
func (bc *blockCoder) writeBlock(w *bitWriter, tokens []uint32, blk []byte) {
	size := bc.sizes(len(blk), w.nb)
	kind := blockStored
	if size[blockFixed] < size[kind] {
		kind = blockFixed
	}
	if size[blockDynamic] < size[kind] {
		kind = blockDynamic
	}
	bc.write(w, kind, size[kind], tokens, blk)
	clear(bc.litFreq[:])
	clear(bc.distFreq[:])
}

// sizes returns the size in bits of the block with the gathered frequencies
// and n input bytes in each format, when written after nb pending bits. It
// adds the end of block to the frequencies and prepares the dynamic codes.
func (bc *blockCoder) sizes(n int, nb uint) [3]int {
	bc.litFreq[endBlock] = 1
	extra, fixed := 0, 3
	for s := range 29 {
		extra += int(bc.litFreq[257+s]) * int(lenExtra[s])
	}
	for s, f := range bc.distFreq {
		extra += int(f) * int(distExtra[s])
		fixed += int(f) * 5
	}
	for s, f := range bc.litFreq {
		fixed += int(f) * int(fixedLit[s].n)
	}
	return [3]int{storedBits(n, nb), fixed + extra, bc.planDynamic() + extra}
}

// write writes tokens, which cover blk, as a block of the given kind whose
// size in bits sizes returned.
func (bc *blockCoder) write(w *bitWriter, kind, size int, tokens []uint32, blk []byte) {
	switch kind {
	case blockStored:
		w.writeStored(blk)
	case blockFixed:
		w.reserve(size/8 + 1)
		w.put(blockFixed<<1, 3)
		w.writeTokens(tokens, blk, &fixedLit, &fixedDist)
	default:
		w.reserve(size/8 + 1)
		bc.writeDynamicHeader(w)
		w.writeTokens(tokens, blk, &bc.litCode, &bc.distCode)
	}
}

// planDynamic builds the codes of a dynamic block for the frequencies and
// returns the size in bits of the block without the extra bits of lengths
// and distances.
func (bc *blockCoder) planDynamic() int {
	litBits := bc.hb.build(bc.litFreq[:], bc.litLen[:], bc.litCode[:], maxCodeBits)
	distBits := bc.hb.build(bc.distFreq[:], bc.distLen[:], bc.distCode[:], maxCodeBits)
	bc.nlit, bc.ndist = numLitLen, numDist
	for bc.litLen[bc.nlit-1] == 0 {
		bc.nlit--
	}
	for bc.distLen[bc.ndist-1] == 0 {
		bc.ndist--
	}
	copy(bc.seq[:], bc.litLen[:bc.nlit])
	copy(bc.seq[bc.nlit:], bc.distLen[:bc.ndist])
	bc.runLengths(bc.seq[:bc.nlit+bc.ndist])
	clBits := bc.hb.build(bc.clFreq[:], bc.clLen[:], bc.clCode[:], maxCLBits)
	bc.ncl = numCodeLen
	for bc.ncl > 4 && bc.clLen[clOrder[bc.ncl-1]] == 0 {
		bc.ncl--
	}
	header := 3 + 5 + 5 + 4 + 3*bc.ncl + 2*int(bc.clFreq[16]) + 3*int(bc.clFreq[17]) + 7*int(bc.clFreq[18])
	return header + clBits + litBits + distBits
}

// runLengths codes the code lengths seq with the code length alphabet of
// RFC 1951 section 3.2.7 into bc.rle, counting the symbols in bc.clFreq.
func (bc *blockCoder) runLengths(seq []uint8) {
	var freq [numCodeLen]uint32
	rle, n := &bc.rle, 0
	for i := 0; i < len(seq); {
		v, j := seq[i], i+1
		for j < len(seq) && seq[j] == v {
			j++
		}
		run := j - i
		i = j
		switch {
		case run < 3 || v != 0 && run < 4:
			// The most common case: too short a run to code as one.
		case v == 0:
			for ; run >= 11; run -= min(run, 138) {
				rle[n] = 18 | uint16(min(run, 138)-11)<<8
				n++
				freq[18]++
			}
			if run >= 3 {
				rle[n] = 17 | uint16(run-3)<<8
				n++
				freq[17]++
				run = 0
			}
		default:
			rle[n] = uint16(v)
			n++
			freq[v]++
			for run--; run >= 3; run -= min(run, 6) {
				rle[n] = 16 | uint16(min(run, 6)-3)<<8
				n++
				freq[16]++
			}
		}
		for ; run > 0; run-- {
			rle[n] = uint16(v)
			n++
			freq[v]++
		}
	}
	bc.nrle, bc.clFreq = n, freq
}

// writeDynamicHeader writes the header of a dynamic block that planDynamic
// prepared.
func (bc *blockCoder) writeDynamicHeader(w *bitWriter) {
	w.put(blockDynamic<<1|uint64(bc.nlit-257)<<3|uint64(bc.ndist-1)<<8|uint64(bc.ncl-4)<<13, 17)
	var v uint64
	for i, s := range clOrder[:bc.ncl] {
		v |= uint64(bc.clLen[s]) << (3 * i)
	}
	n := uint(min(3*bc.ncl, 30)) // up to 19 lengths of 3 bits take two puts
	w.put(v&(1<<n-1), n)
	w.put(v>>n, uint(3*bc.ncl)-n)
	// Each symbol takes at most 7+7 bits: gather three or four per put.
	v, n = 0, 0
	for _, r := range bc.rle[:bc.nrle] {
		s := r & 31
		h := bc.clCode[s]
		v |= (uint64(h.bits) | uint64(r>>8)<<h.n) << n
		n += uint(h.n + clExtra[s])
		if n > 42 {
			w.put(v, n)
			v, n = 0, 0
		}
	}
	w.put(v, n)
}

// clExtra holds the extra bits of each code length symbol.
var clExtra = [32]uint8{16: 2, 17: 3, 18: 7}
