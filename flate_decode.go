package websocket

import (
	"encoding/binary"
	"errors"
	"io"
	"math/bits"
	"sync"
)

// This file holds the DEFLATE decoder (RFC 1951) that inflates compressed
// messages: a pull-based reader with a 32 KiB window, two-level Huffman
// tables of a fixed size and a 64-bit bit buffer, which allocates nothing
// once pooled.

// errCorruptDeflate is the error of data that is not a valid DEFLATE stream.
var errCorruptDeflate = errors.New("websocket: corrupt DEFLATE data")

const (
	histSize  = 1 << 15            // the farthest a back-reference reaches
	winSize   = 1 << 16            // the window: history, then new output
	winLimit  = winSize - maxMatch // decode a Huffman symbol only up to here
	litRoot   = 10                 // bits of the literal/length primary table
	distRoot  = 8                  // bits of the distance primary table
	litTable  = 1<<litRoot + 1536  // primary plus sub-tables, worst case
	distTable = 1<<distRoot + 480  // primary plus sub-tables, worst case
	fastNeed  = 48                 // bits of a length and a distance with their extra bits
)

// A table entry decodes one code: bits 0-3 hold the code's length, bits 4-7
// its kind, bits 8-15 its extra bits (or a sub-table's index bits) and bits
// 16-31 its value (a byte, a length, a distance or a sub-table's offset).
//
// Sub-tables are sized by the deepest code under their prefix. A complete
// code's subtree of depth d holds at least d+1 codes and takes 2^d entries,
// so 286 literal/length codes under a 10-bit root take at most 286·32/6 <
// 1536 entries, and 30 distance codes under an 8-bit root at most 30·128/8
// = 480. The code length code (7 bits at most) needs no sub-table.
const (
	kindValue = 0 << 4 // a literal byte, a distance or a code length symbol
	kindLen   = 1 << 4 // a match length
	kindEnd   = 2 << 4 // the end of the block
	kindSub   = 3 << 4 // a pointer to a sub-table
	kindBad   = 4 << 4 // no such code: the data is corrupt
	kindMask  = 0xf0
	badEntry  = kindBad | 1
)

// Decoder states between calls of Read.
const (
	stateHeader = iota // before a block header
	stateStored        // inside a stored block
	stateCoded         // inside a Huffman-coded block
	stateDone          // after the final block
)

// flateSource is what an inflater reads: bytes one at a time, and stored
// blocks in bulk.
type flateSource interface {
	io.Reader
	io.ByteReader
}

// bufferedSource is a flateSource that can also hand over, without
// waiting, bytes it already holds; the inflater reads ahead from it and
// reports what it did not use (see unused). From other sources it reads no
// byte beyond the final block.
type bufferedSource interface {
	readBuffered(p []byte) int
}

// inflater decodes a DEFLATE stream. It is about 80 KiB, so it is pooled
// and held only while a message is read.
type inflater struct {
	src   flateSource
	bulk  bufferedSource // src, if it is one
	err   error          // sticky: io.EOF after the final block
	state int
	final bool // the current block is the last
	left  int  // bytes left in the current stored block

	// bits holds nbits unread bits; above them, possibly the next bytes
	// of inbuf[ipos:iend], which a refill ORs in again unchanged.
	bits       uint64
	nbits      uint
	ipos, iend int
	inbuf      [512]byte

	// win[:wpos] is history then output; win[rpos:wpos] is not read yet.
	rpos, wpos int
	win        [winSize]byte

	lt   *[litTable]uint32 // the current block's tables
	dt   *[distTable]uint32
	lit  [litTable]uint32
	dist [distTable]uint32
	cl   [1 << maxCLBits]uint32
	lens [numLitLen + numDist]uint8

	// order is buildTable's scratch, here rather than on the stack, so
	// that a goroutine that inflates a message keeps a small stack.
	order [maxSymbols]uint16
}

// inflaters holds idle inflaters.
var inflaters = sync.Pool{New: func() any { return new(inflater) }}

// getInflater returns an inflater from the pool; reset it before use.
func getInflater() *inflater { return inflaters.Get().(*inflater) }

// putInflater gives f back to the pool, dropping its source.
func putInflater(f *inflater) {
	f.src, f.bulk = nil, nil
	inflaters.Put(f)
}

// reset starts a new stream read from src, whose back-references may reach
// into the last 32 KiB of dict.
func (f *inflater) reset(src flateSource, dict []byte) {
	f.src = src
	f.bulk, _ = src.(bufferedSource)
	f.err, f.state, f.final, f.left = nil, stateHeader, false, 0
	f.bits, f.nbits, f.ipos, f.iend = 0, 0, 0, 0
	if len(dict) > histSize {
		dict = dict[len(dict)-histSize:]
	}
	f.wpos = copy(f.win[:], dict)
	f.rpos = f.wpos
}

// unused returns how many bytes the inflater took from a bufferedSource
// but did not decode; after the final block they are data that follows it.
func (f *inflater) unused() int {
	return f.iend - f.ipos + int(f.nbits/8)
}

// Read reads inflated bytes into p. It returns io.EOF after the final
// block, errCorruptDeflate for bad data, io.ErrUnexpectedEOF if the source
// ends early, and the source's other errors as they are.
func (f *inflater) Read(p []byte) (int, error) {
	for f.rpos == f.wpos && f.err == nil && len(p) > 0 {
		if f.wpos > winLimit {
			// Keep the last 32 KiB as history.
			copy(f.win[:histSize], f.win[f.wpos-histSize:f.wpos])
			f.rpos, f.wpos = histSize, histSize
		}
		f.err = f.decode()
	}
	n := copy(p, f.win[f.rpos:f.wpos])
	f.rpos += n
	if f.rpos == f.wpos && f.err != nil {
		return n, f.err
	}
	return n, nil
}

// decode decodes blocks into the window until it is full or an error (or
// the end of the stream) stops it.
func (f *inflater) decode() error {
	for f.wpos <= winLimit {
		var err error
		switch f.state {
		case stateHeader:
			err = f.header()
		case stateStored:
			err = f.stored()
		case stateCoded:
			err = f.coded()
		default:
			return io.EOF
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// endBlock moves on from a block that ended.
func (f *inflater) endBlock() {
	f.state = stateHeader
	if f.final {
		f.state = stateDone
	}
}

// sourceErr returns err, from the source, as the inflater reports it.
func sourceErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// fillIn tops inbuf up from a bufferedSource and reports whether it holds
// at least n bytes.
func (f *inflater) fillIn(n int) bool {
	if f.bulk == nil {
		return false
	}
	if f.ipos > 0 {
		f.iend = copy(f.inbuf[:], f.inbuf[f.ipos:f.iend])
		f.ipos = 0
	}
	f.iend += f.bulk.readBuffered(f.inbuf[f.iend:])
	return f.iend >= n
}

// refill loads the bit buffer to at least 56 bits from inbuf if it holds 8
// bytes, and reports whether it did.
func (f *inflater) refill() bool {
	if f.iend-f.ipos < 8 && !f.fillIn(8) {
		return false
	}
	f.bits |= binary.LittleEndian.Uint64(f.inbuf[f.ipos:]) << f.nbits
	k := (63 - f.nbits) >> 3
	f.ipos += int(k)
	f.nbits += k << 3
	return true
}

// more adds one byte to the bit buffer, from inbuf or else the source.
func (f *inflater) more() error {
	if f.ipos == f.iend && !f.fillIn(1) {
		c, err := f.src.ReadByte()
		if err != nil {
			return sourceErr(err)
		}
		f.bits |= uint64(c) << f.nbits
		f.nbits += 8
		return nil
	}
	f.bits |= uint64(f.inbuf[f.ipos]) << f.nbits
	f.ipos++
	f.nbits += 8
	return nil
}

// need makes the bit buffer hold at least n bits, reading no more bytes
// than that from a source that is not a bufferedSource.
func (f *inflater) need(n uint) error {
	for f.nbits < n {
		if err := f.more(); err != nil {
			return err
		}
	}
	return nil
}

// take removes and returns the next n bits, which the buffer holds.
func (f *inflater) take(n uint) uint32 {
	v := uint32(f.bits & (1<<n - 1))
	f.bits >>= n
	f.nbits -= n
	return v
}

// symbol decodes the next code with table tab (primary part 2^root
// entries) and returns its entry, reading bytes only as it needs them.
func (f *inflater) symbol(tab []uint32, root uint) (uint32, error) {
	for {
		if f.nbits < fastNeed {
			f.refill()
		}
		e := tab[f.bits&(1<<root-1)]
		if e&kindMask == kindSub && f.nbits > root {
			e = tab[e>>16+uint32(f.bits>>root)&(1<<(e>>8&0xff)-1)]
		}
		if n := uint(e & 15); e&kindMask != kindSub && n <= f.nbits {
			f.bits >>= n
			f.nbits -= n
			if e&kindMask == kindBad {
				return 0, errCorruptDeflate
			}
			return e, nil
		}
		if err := f.more(); err != nil {
			return 0, err
		}
	}
}

// header reads a block header and prepares the block.
func (f *inflater) header() error {
	if err := f.need(3); err != nil {
		return err
	}
	f.final = f.take(1) == 1
	switch f.take(2) {
	case 0:
		return f.storedHeader()
	case 1:
		f.lt, f.dt = &fixedLitTable, &fixedDistTable
	case 2:
		if err := f.dynamicHeader(); err != nil {
			return err
		}
		f.lt, f.dt = &f.lit, &f.dist
	default:
		return errCorruptDeflate
	}
	f.state = stateCoded
	return nil
}

// storedHeader reads a stored block's lengths.
func (f *inflater) storedHeader() error {
	f.take(f.nbits % 8)
	if err := f.need(32); err != nil {
		return err
	}
	n := f.take(16)
	if n != ^f.take(16)&0xffff {
		return errCorruptDeflate
	}
	f.left = int(n)
	f.state = stateStored
	if n == 0 {
		f.endBlock()
	}
	return nil
}

// stored copies a stored block's bytes into the window until it is full.
func (f *inflater) stored() error {
	f.bits &= 1<<f.nbits - 1 // inbuf's bytes are copied below, not via bits
	for f.left > 0 && f.wpos < winSize {
		room := f.win[f.wpos:min(winSize, f.wpos+f.left)]
		var n int
		switch {
		case f.nbits >= 8:
			room[0] = byte(f.take(8))
			n = 1
		case f.ipos < f.iend:
			n = copy(room, f.inbuf[f.ipos:f.iend])
			f.ipos += n
		default:
			var err error
			if n, err = f.src.Read(room); n == 0 && err != nil {
				return sourceErr(err)
			}
		}
		f.wpos += n
		f.left -= n
	}
	if f.left == 0 {
		f.endBlock()
	}
	return nil
}

// dynamicHeader reads a dynamic block's code lengths and builds its tables.
func (f *inflater) dynamicHeader() error {
	if err := f.need(14); err != nil {
		return err
	}
	nlit := int(f.take(5)) + 257
	ndist := int(f.take(5)) + 1
	ncl := int(f.take(4)) + 4
	if nlit > numLitLen || ndist > numDist {
		return errCorruptDeflate
	}
	var cl [numCodeLen]uint8
	for _, s := range clOrder[:ncl] {
		if err := f.need(3); err != nil {
			return err
		}
		cl[s] = uint8(f.take(3))
	}
	if !buildTable(f.cl[:], maxCLBits, cl[:], clValues[:], &f.order) {
		return errCorruptDeflate
	}
	if err := f.codeLengths(nlit + ndist); err != nil {
		return err
	}
	if !buildTable(f.lit[:], litRoot, f.lens[:nlit], litValues[:], &f.order) ||
		!buildTable(f.dist[:], distRoot, f.lens[nlit:nlit+ndist], distValues[:], &f.order) {
		return errCorruptDeflate
	}
	return nil
}

// codeLengths reads n code lengths into f.lens with the code length code.
func (f *inflater) codeLengths(n int) error {
	for i := 0; i < n; {
		e, err := f.symbol(f.cl[:], maxCLBits)
		if err != nil {
			return err
		}
		sym := e >> 16
		if sym < 16 {
			f.lens[i] = uint8(sym)
			i++
			continue
		}
		// 16 repeats the last length 3-6 times, 17 and 18 repeat zero
		// 3-10 and 11-138 times.
		extra, rep, v := uint(2), 3, uint8(0)
		switch sym {
		case 16:
			if i == 0 {
				return errCorruptDeflate
			}
			v = f.lens[i-1]
		case 17:
			extra = 3
		default:
			extra, rep = 7, 11
		}
		if err := f.need(extra); err != nil {
			return err
		}
		rep += int(f.take(extra))
		if i+rep > n {
			return errCorruptDeflate
		}
		for range rep {
			f.lens[i] = v
			i++
		}
	}
	return nil
}

// maxSymbols is the most symbols a code has: the 288 of the fixed
// literal/length code (RFC 1951 section 3.2.6).
const maxSymbols = 288

// The values of table entries by symbol, and the fixed code's tables.
var (
	clValues       [numCodeLen]uint32
	litValues      [maxSymbols]uint32
	distValues     [32]uint32
	fixedLitTable  [litTable]uint32
	fixedDistTable [distTable]uint32
)

// init fills the symbol values and builds the fixed code's tables.
func init() {
	for s := range clValues {
		clValues[s] = uint32(s) << 16
	}
	for s := range 256 {
		litValues[s] = uint32(s) << 16
	}
	litValues[endBlock] = kindEnd
	// RFC 1951 section 3.2.5, computed here rather than taken from the
	// encoder's tables, which its init (run after this one) fills.
	base := 3
	for s := range 28 {
		extra := max(s/4-1, 0)
		litValues[257+s] = kindLen | uint32(extra)<<8 | uint32(base)<<16
		base += 1 << extra
	}
	litValues[285] = kindLen | maxMatch<<16
	litValues[286], litValues[287] = kindBad, kindBad
	base = 1
	for s := range numDist {
		extra := max(s/2-1, 0)
		distValues[s] = uint32(extra)<<8 | uint32(base)<<16
		base += 1 << extra
	}
	distValues[30], distValues[31] = kindBad, kindBad
	var lens [maxSymbols]uint8
	var order [maxSymbols]uint16
	for i := range lens {
		lens[i] = [...]uint8{8, 9, 7, 8}[btoi(i >= 144)+btoi(i >= 256)+btoi(i >= 280)]
	}
	buildTable(fixedLitTable[:], litRoot, lens[:], litValues[:], &order)
	for i := range 32 {
		lens[i] = 5
	}
	buildTable(fixedDistTable[:], distRoot, lens[:32], distValues[:], &order)
}

// btoi returns 1 for true and 0 for false.
func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// buildTable fills tab, whose primary part has 2^root entries, to decode
// the canonical Huffman code of the code lengths lens; symbol s decodes to
// values[s]. It reports false for a code that is over-subscribed, or
// incomplete other than a lone code of length 1 (as zlib and compress/flate
// allow); a code with no lengths at all decodes nothing. order is scratch
// space for the symbols in code order.
func buildTable(tab []uint32, root uint, lens []uint8, values []uint32, order *[maxSymbols]uint16) bool {
	var count [maxCodeBits + 1]int
	maxLen := 0
	for _, l := range lens {
		count[l]++
		maxLen = max(maxLen, int(l))
	}
	count[0] = 0
	left := 1
	for l := 1; l <= maxCodeBits; l++ {
		left = left<<1 - count[l]
		if left < 0 {
			return false
		}
	}
	if left > 0 {
		if maxLen == 0 || (maxLen == 1 && count[1] == 1) {
			fill(tab[:1<<root], badEntry)
		} else {
			return false
		}
	}
	// Sort the symbols by length, then symbol: canonical code order.
	var offs [maxCodeBits + 2]int
	for l := 1; l <= maxCodeBits; l++ {
		offs[l+1] = offs[l] + count[l]
	}
	for s, l := range lens {
		if l != 0 {
			order[offs[l]] = uint16(s)
			offs[l]++
		}
	}
	fillCodes(tab, root, lens, values, order[:offs[maxCodeBits]], &count)
	return true
}

// fill sets every entry of tab to e.
func fill(tab []uint32, e uint32) {
	for i := range tab {
		tab[i] = e
	}
}

// fillCodes assigns canonical codes to the symbols in order (sorted by
// length) and writes their entries, starting a sub-table for each prefix
// of root bits shared by longer codes. remain counts the codes of each
// length not yet assigned.
//
// The entries of the codes of at most root bits are written once each, in
// the first 2^l entries for a code of l bits, and the table is doubled by
// copying itself as the lengths grow: a code's entries repeat every 2^l
// entries, and copying is far cheaper than writing each of them apart (a
// table is built for every dynamic block, and a short message is often
// one such block).
func fillCodes(tab []uint32, root uint, lens []uint8, values []uint32, order []uint16, remain *[maxCodeBits + 1]int) {
	code, prevLen := 0, uint(0)
	prefix, next := -1, 1<<root
	var sub, subBits uint
	filled := uint(0) // tab[:1<<filled] holds the codes of up to filled bits
	grow := func(to uint) {
		for ; filled < to; filled++ {
			copy(tab[1<<filled:2<<filled], tab[:1<<filled])
		}
	}
	for _, s := range order {
		l := uint(lens[s])
		code <<= l - prevLen
		prevLen = l
		rev := uint(bits.Reverse16(uint16(code))) >> (16 - l)
		code++
		e := values[s] | uint32(l)
		if l <= root {
			grow(l)
			tab[rev] = e
			continue
		}
		grow(root)
		if p := int(rev & (1<<root - 1)); p != prefix {
			// The sub-table's depth is where the codes left fill it.
			prefix, sub, subBits = p, uint(next), l-root
			for room := 1<<subBits - remain[l]; room > 0; room = room<<1 - remain[root+subBits] {
				subBits++
			}
			next += 1 << subBits
			tab[p] = kindSub | uint32(subBits)<<8 | uint32(sub)<<16
		}
		remain[l]--
		for i := rev >> root; i < 1<<subBits; i += 1 << (l - root) {
			tab[sub+i] = e
		}
	}
	grow(root)
}

// coded decodes a Huffman-coded block into the window until the block ends
// or the window is full: fast while inbuf holds enough bytes, else one
// symbol at a time.
func (f *inflater) coded() error {
	for f.state == stateCoded && f.wpos <= winLimit {
		if f.nbits < fastNeed && !f.refill() {
			if err := f.slowSymbol(); err != nil {
				return err
			}
			continue
		}
		if err := f.fast(); err != nil {
			return err
		}
	}
	return nil
}

// fast decodes symbols while the bit buffer can be refilled from inbuf
// eight bytes at a time, keeping the decoder's state in locals.
func (f *inflater) fast() error {
	b, nb, w := f.bits, f.nbits, f.wpos
	in, ip := f.inbuf[:f.iend], f.ipos
	lt, dt, win := f.lt, f.dt, &f.win
	var err error
	for w <= winLimit {
		if nb < fastNeed {
			if ip+8 > len(in) {
				break
			}
			b |= binary.LittleEndian.Uint64(in[ip:]) << (nb & 63)
			k := (63 - nb) >> 3
			ip += int(k)
			nb += k << 3
		}
		e := lt[b&(1<<litRoot-1)]
		if e&kindMask == kindSub {
			e = lt[e>>16+uint32(b>>litRoot)&(1<<(e>>8&0xff)-1)]
		}
		n := uint(e & 15)
		b >>= n & 63
		nb -= n
		if e&kindMask == kindValue {
			win[w] = byte(e >> 16)
			w++
			continue
		}
		if e&kindMask != kindLen {
			if e&kindMask == kindEnd {
				f.endBlock()
			} else {
				err = errCorruptDeflate
			}
			break
		}
		x := uint(e>>8) & 0xff
		length := int(e>>16) + int(b&(1<<x-1))
		b >>= x & 63
		nb -= x
		e = dt[b&(1<<distRoot-1)]
		if e&kindMask == kindSub {
			e = dt[e>>16+uint32(b>>distRoot)&(1<<(e>>8&0xff)-1)]
		}
		if e&kindMask != kindValue {
			err = errCorruptDeflate
			break
		}
		n, x = uint(e&15), uint(e>>8)&0xff
		b >>= n & 63
		d := int(e>>16) + int(b&(1<<x-1))
		b >>= x & 63
		nb -= n + x
		if d > w {
			err = errCorruptDeflate
			break
		}
		w = copyMatch(win, w, d, length)
	}
	f.bits, f.nbits, f.wpos, f.ipos = b, nb, w, ip
	return err
}

// copyMatch copies length bytes from d back to win[w:] and returns the new
// end; the copies overlap when d < length, repeating the last d bytes.
func copyMatch(win *[winSize]byte, w, d, length int) int {
	end := w + length
	if d >= length {
		copy(win[w:end], win[w-d:])
		return end
	}
	from := w - d
	for w < end {
		w += copy(win[w:end], win[from:w])
	}
	return w
}

// slowSymbol decodes one symbol of a Huffman-coded block, reading bytes
// only as it needs them.
func (f *inflater) slowSymbol() error {
	e, err := f.symbol(f.lt[:], litRoot)
	if err != nil {
		return err
	}
	switch e & kindMask {
	case kindValue:
		f.win[f.wpos] = byte(e >> 16)
		f.wpos++
		return nil
	case kindEnd:
		f.endBlock()
		return nil
	}
	x := uint(e>>8) & 0xff
	if err := f.need(x); err != nil {
		return err
	}
	length := int(e>>16) + int(f.take(x))
	if e, err = f.symbol(f.dt[:], distRoot); err != nil {
		return err
	}
	x = uint(e>>8) & 0xff
	if err := f.need(x); err != nil {
		return err
	}
	d := int(e>>16) + int(f.take(x))
	if d > f.wpos {
		return errCorruptDeflate
	}
	f.wpos = copyMatch(&f.win, f.wpos, d, length)
	return nil
}
