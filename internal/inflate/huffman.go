package inflate

// A table entry packs everything the decode loop needs about one code into a
// uint32, so that one load answers both "how many bits" and "what to do":
//
//	bits 0-4    length of the code in bits (for a link: unused)
//	bits 8-11   extra bits that follow the code (length and distance codes),
//	            or the index width of the subtable a link points to
//	bits 12-15  kind flags
//	bits 16-31  literal byte, length or distance base, or subtable start
const (
	entLit = 1 << 12 // a literal byte
	entLen = 1 << 13 // a length (in the literal/length table) or a distance
	entEnd = 1 << 14 // end of block
	entSub = 1 << 15 // a link to a subtable for codes longer than the root
	// An entry with none of the flags is an unused code: decoding it is an
	// error.
	entBad = 0
)

// Root widths trade table fill time per block against how often the decode
// loop takes the second lookup; codes of up to litRoot (distRoot) bits are
// decoded with one load.
const (
	litRoot  = 11
	distRoot = 9
	// The tables are sized to a power of two above the worst case (root plus
	// one subtable of at most 2^(15-root) entries per symbol longer than the
	// root), so that masked indexes need no bounds check.
	litTableSize  = 8192 // >= 1<<11 + 288<<4
	distTableSize = 4096 // >= 1<<9 + 32<<6
	clRoot        = 7    // code length codes are at most 7 bits: no subtables
	maxCodeLen    = 15
)

// Payloads of literal/length symbols 0-287 and distance symbols 0-31, from
// RFC 1951 section 3.2.5. Symbols 286, 287, 30 and 31 take part in the fixed
// code but are invalid in the data, so their payload is entBad.
var litPayload = func() (t [288]uint32) {
	base := [29]uint32{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
		35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	extra := [29]uint32{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
		3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	for s := range 256 {
		t[s] = entLit | uint32(s)<<16
	}
	t[256] = entEnd
	for i := range base {
		t[257+i] = entLen | extra[i]<<8 | base[i]<<16
	}
	return t
}()

var distPayload = func() (t [32]uint32) {
	base := [30]uint32{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129,
		193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193,
		12289, 16385, 24577}
	for i := range base {
		extra := uint32(0)
		if i >= 4 {
			extra = uint32(i/2 - 1)
		}
		t[i] = entLen | extra<<8 | base[i]<<16
	}
	return t
}()

// Order in which code length code lengths are sent (RFC 1951 3.2.7).
var clOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// codeStatus says why a set of code lengths cannot be used.
type codeStatus int

const (
	codeOK      codeStatus = iota
	codePartial            // empty, or a single one-bit code
	codeOver
	codeIncomplete
)

// buildTable fills table with a decoding table for the canonical Huffman
// code given by lengths (RFC 1951 3.2.2), indexed by the next root bits of
// the stream (codes arrive first bit first, so indexes are bit-reversed
// codes). payload[s] is the entry of symbol s without its length.
//
// Like zlib and compress/flate, an incomplete code is accepted only when it
// has a single code of one bit, or no code at all (a block with no distances
// is legal); the unused bit patterns decode as entBad. Anything
// over-subscribed, or incomplete otherwise, is refused: the stock decoder
// that reads from access points must accept no less than Scan does.
func buildTable(table []uint32, root uint, lengths []uint8, payload []uint32) codeStatus {
	var count [maxCodeLen + 1]int
	for _, l := range lengths {
		count[l]++
	}
	count[0] = 0
	left := 1
	maxLen := 0
	for l := 1; l <= maxCodeLen; l++ {
		left <<= 1
		left -= count[l]
		if left < 0 {
			return codeOver
		}
		if count[l] > 0 {
			maxLen = l
		}
	}
	rootSize := 1 << root
	if left > 0 {
		if maxLen > 1 || count[1] > 1 {
			return codeIncomplete
		}
		// Empty, or a single one-bit code: whatever is not filled in below
		// must be an error to decode.
		clear(table[:rootSize])
	}
	status := codeOK
	if left > 0 {
		status = codePartial
	}

	// Symbols sorted by (length, symbol) are in increasing code order.
	var offs [maxCodeLen + 2]int
	for l := 1; l <= maxCodeLen; l++ {
		offs[l+1] = offs[l] + count[l]
	}
	var sorted [288]uint16
	for s, l := range lengths {
		if l != 0 {
			sorted[offs[l]] = uint16(s)
			offs[l]++
		}
	}
	nsym := offs[maxCodeLen]

	// First canonical code of each length.
	var next [maxCodeLen + 1]uint32
	code := uint32(0)
	for l := 1; l <= maxCodeLen; l++ {
		code = (code + uint32(count[l-1])) << 1
		next[l] = code
	}
	// Codes in sorted order, reversed for indexing.
	var rev [288]uint32
	for i := range nsym {
		s := sorted[i]
		l := lengths[s]
		rev[i] = reverse(next[l], uint(l))
		next[l]++
	}

	// Short codes go straight into the root, replicated over the bits
	// beyond their length.
	i := 0
	for ; i < nsym; i++ {
		s := sorted[i]
		l := uint(lengths[s])
		if l > root {
			break
		}
		e := payload[s] | uint32(l)
		for j := int(rev[i]); j < rootSize; j += 1 << l {
			table[j] = e
		}
	}
	if i == nsym {
		return status
	}

	// Long codes: walking them backwards, the first code met of each root
	// prefix is the longest one with that prefix, which sizes its subtable.
	next2 := rootSize
	mask := uint32(rootSize - 1)
	prefix := ^uint32(0)
	var start int
	var subBits uint
	for j := nsym - 1; j >= i; j-- {
		s := sorted[j]
		l := uint(lengths[s])
		r := rev[j]
		if r&mask != prefix {
			prefix = r & mask
			subBits = l - root
			start = next2
			next2 += 1 << subBits
			table[prefix] = entSub | uint32(subBits)<<8 | uint32(start)<<16
		}
		e := payload[s] | uint32(l)
		step := 1 << (l - root)
		for k := int(r >> root); k < 1<<subBits; k += step {
			table[start+k] = e
		}
	}
	return status
}

func reverse(code uint32, n uint) uint32 {
	r := uint32(0)
	for range n {
		r = r<<1 | code&1
		code >>= 1
	}
	return r
}
