package inflate

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// Point is a place where decompression of a gzip file can restart.
type Point struct {
	// In is the bit offset in the file of a deflate block header (In%8 may
	// be anything); for a member start, 8 * the byte offset of the member's
	// gzip header.
	In int64
	// Out is the offset in the decompressed bytes (all members
	// concatenated).
	Out int64
	// End is the byte offset in the file just after the last byte of the
	// deflate stream that In is in, where that member's 8-byte trailer
	// begins. Scan cannot know it when it reports the point (the stream has
	// not ended yet): it reports it later through its end callback, and the
	// caller fills it in. NewReader needs it for points that are not member
	// starts.
	End int64
	// Window is the last min(32768, bytes of this member so far) output
	// bytes before Out; empty at a member start. Bytes of it that the
	// deflate stream after the point never refers to may be zero: they
	// cannot change what it decodes to, and zeros keep a stored window
	// small (see Scan).
	Window []byte
	// Member says In is the start of a gzip member (byte aligned); Window
	// is empty.
	Member bool
}

const (
	histSize = 32768 // deflate's largest distance
	maxMatch = 258

	// The output is decoded into a sliding buffer that keeps histSize bytes
	// of history in front of the new output; it goes to the out callback
	// (and the CRC) in pieces of about winSize-histSize bytes, and the
	// history is moved back to the front. Copies may overshoot the match by
	// up to 7 bytes (they move 8 at a time), hence the slack.
	winSize  = 1 << 18
	winSlack = maxMatch + 32
	winFast  = winSize - winSlack // the decode loop stops for a flush past this

	// Input is read in large pieces. inPad zero bytes follow the input at
	// end of file so that the decode loop can load 8 bytes at a time up to
	// the end; bits taken from the padding mean truncated input.
	inSize = 1 << 17
	inPad  = 32
	inKeep = 8 // bytes kept before the read position when refilling, to give back the bit buffer's unused bytes
)

// Scan decompresses the gzip file read from r (every member; members may be
// empty; BGZF is just many members) and passes the output, in order, to out
// (if not nil), which must not keep the slice. Errors from out, point and end
// stop Scan and are returned as they are.
//
// It calls point for an access point at the first deflate block boundary
// (or member start) at or after every `every` bytes of output since the last
// point; the first point is the start of the file, Point{In: 0, Out: 0,
// Member: true}. If every <= 0, every boundary is a point. The Window of a
// point is only valid during the call. Point.End is left zero: when the
// deflate stream of a member ends, Scan calls end (if not nil) with the End
// of every point reported since the previous call to end.
//
// A point inside a member is reported once the output has gone 32 KiB past
// it (or its member has ended), when no later match can reach back into its
// window: the bytes of the window that no match after the point copied are
// zero: in text that repeats little, most of the window is. A point that
// another follows within 32 KiB keeps its whole window.
//
// Scan verifies each member's header (magic, CM=8, no reserved flags, the
// header CRC16 if FHCRC is set), the deflate data and the trailer (CRC-32
// and ISIZE). Errors give the byte offset where the problem was found.
// Anything after the last member is an error, trailing zero bytes too
// (gzip(1) ignores those with a warning; compress/gzip refuses them like
// Scan). An empty file is an error; truncated input wraps
// io.ErrUnexpectedEOF.
//
// Scan reads r in large pieces and uses a few hundred KiB of memory whatever
// the input. It returns the number of decompressed bytes.
func Scan(r io.Reader, every int64, out func([]byte) error, point func(Point) error, end func(int64) error) (int64, error) {
	s := &scanner{
		r:     r,
		every: every,
		out:   out,
		point: point,
		end:   end,
		in:    make([]byte, inSize+inPad),
		win:   make([]byte, winSize),
		pendW: noPending,
	}
	err := s.run()
	return s.wbase + int64(s.wpos), err
}

// scanner is the state of Scan. The hot loop in huffBlock copies the bit
// buffer and positions into locals and writes them back when it leaves.
type scanner struct {
	r     io.Reader
	every int64
	out   func([]byte) error
	point func(Point) error
	end   func(int64) error

	in     []byte // in[:n] is file data from offset base; in[n:n+inPad] is zero at EOF
	n      int
	ip     int
	inFast int // huffBlock may refill twice (load 8 bytes, advance up to 7) while ip <= inFast
	eof    bool
	base   int64

	// Bits not yet used are the low nbits of bits, first bit lowest. Bits
	// above nbits are either zero or the true bits that follow (refills
	// load whole words and count only whole bytes).
	bits  uint64
	nbits uint

	win       []byte
	wpos      int
	flushed   int   // win[flushed:wpos] has not gone to out yet
	wbase     int64 // output offset of win[0]
	memberOut int64 // output offset of the member's start
	crc       uint32

	lastPoint int64 // output offset of the last point
	started   bool  // the first point has been reported

	// pend is the point inside a member not reported yet (see Scan),
	// when pendW (the index in win of its output offset, moved with win)
	// is not noPending; pendWin ends with its window, and pendUsed says
	// which bytes of it a match has copied since.
	pend     Point
	pendW    int
	pendWin  [histSize]byte
	pendUsed [histSize]bool

	lit   [litTableSize]uint32
	dist  [distTableSize]uint32
	cl    [1 << clRoot]uint32
	fixed bool            // lit and dist hold the fixed code
	lens  [288 + 32]uint8 // code lengths of a dynamic block
}

// posError is an error found at a byte offset of the input.
type posError struct {
	off int64
	msg string
	err error // wrapped, if any
}

func (e *posError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("inflate: offset %d: %s: %v", e.off, e.msg, e.err)
	}
	return fmt.Sprintf("inflate: offset %d: %s", e.off, e.msg)
}

func (e *posError) Unwrap() error { return e.err }

// bitPos is the bit offset in the file of the next unused bit.
func (s *scanner) bitPos() int64 { return (s.base+int64(s.ip))*8 - int64(s.nbits) }

func (s *scanner) errorf(format string, args ...any) error {
	return &posError{off: s.bitPos() / 8, msg: fmt.Sprintf(format, args...)}
}

// corrupt is an error in the data, unless the data was read past the end of
// the file, which makes the input truncated rather than corrupt.
func (s *scanner) corrupt(format string, args ...any) error {
	if s.overrun() {
		return s.truncated()
	}
	return s.errorf(format, args...)
}

func (s *scanner) truncated() error {
	end := s.base + int64(s.n)
	return &posError{off: end, msg: "truncated input", err: io.ErrUnexpectedEOF}
}

// overrun says whether decoding has used bits past the end of the file
// (the zero padding).
func (s *scanner) overrun() bool {
	return s.eof && s.bitPos() > (s.base+int64(s.n))*8
}

// moreInput moves the unread input (and inKeep bytes before it) to the
// front of the buffer and reads more. At end of file it pads with zeros.
func (s *scanner) moreInput() error {
	if s.eof {
		return nil
	}
	drop := max(s.ip-inKeep, 0)
	copy(s.in, s.in[drop:s.n])
	s.base += int64(drop)
	s.n -= drop
	s.ip -= drop
	m, err := io.ReadFull(s.r, s.in[s.n:inSize])
	s.n += m
	switch err {
	case nil:
		s.inFast = s.n - 16
	case io.EOF, io.ErrUnexpectedEOF:
		s.eof = true
		clear(s.in[s.n : s.n+inPad])
		s.inFast = s.n + inPad - 16
	default:
		return &posError{off: s.base + int64(s.n), msg: "read", err: err}
	}
	return nil
}

// need makes sure the bit buffer holds at least n (<= 56) bits.
func (s *scanner) need(n uint) error {
	if s.nbits >= n {
		return nil
	}
	if s.ip > s.inFast {
		if err := s.moreInput(); err != nil {
			return err
		}
		if s.ip > s.inFast {
			return s.truncated()
		}
	}
	s.bits |= binary.LittleEndian.Uint64(s.in[s.ip:]) << s.nbits
	s.ip += int((63 - s.nbits) >> 3)
	s.nbits |= 56
	if s.eof && s.bitPos()+int64(n) > (s.base+int64(s.n))*8 {
		return s.truncated()
	}
	return nil
}

func (s *scanner) take(n uint) uint32 {
	v := uint32(s.bits & (1<<n - 1))
	s.bits >>= n
	s.nbits -= n
	return v
}

// align drops the bits up to the next byte boundary and gives the whole
// bytes still in the bit buffer back to the input, for byte-level reading.
func (s *scanner) align() {
	s.take(s.nbits & 7)
	s.ip -= int(s.nbits >> 3)
	s.bits, s.nbits = 0, 0
}

// readByte reads a byte at byte level (after align). At the end of the file
// it returns io.EOF.
func (s *scanner) readByte() (byte, error) {
	if s.ip >= s.n {
		if err := s.moreInput(); err != nil {
			return 0, err
		}
		if s.ip >= s.n {
			return 0, io.EOF
		}
	}
	b := s.in[s.ip]
	s.ip++
	return b, nil
}

// flush passes the pending output to out and the CRC, and slides the
// window back when it is full.
func (s *scanner) flush() error {
	if s.overrun() {
		return s.truncated()
	}
	if s.wpos > s.flushed {
		p := s.win[s.flushed:s.wpos]
		s.crc = crc32.Update(s.crc, crc32.IEEETable, p)
		s.flushed = s.wpos
		if s.out != nil {
			if err := s.out(p); err != nil {
				return err
			}
		}
	}
	if s.wpos > winFast-histSize {
		shift := s.wpos - histSize
		copy(s.win, s.win[shift:s.wpos])
		s.wpos = histSize
		s.flushed = histSize
		s.wbase += int64(shift)
		if s.pendW != noPending {
			s.pendW -= shift
		}
	}
	if s.pendW != noPending && s.wpos-s.pendW >= histSize {
		return s.report(true)
	}
	return nil
}

// noPending is pendW when no point waits to be reported: no copy starts
// before it.
const noPending = math.MinInt

// report reports the pending point, with the bytes of its window that no
// match copied zeroed if prune is set, else with its whole window.
func (s *scanner) report(prune bool) error {
	p := s.pend
	s.pendW = noPending
	if prune {
		w := s.pendWin[histSize-len(p.Window):]
		used := s.pendUsed[histSize-len(p.Window):]
		for i, u := range used {
			if !u {
				w[i] = 0
			}
		}
	}
	if s.point == nil {
		return nil
	}
	return s.point(p)
}

// copied records that a match copied length bytes from win[src:], where
// src is before the pending point (at pendW).
func (s *scanner) copied(src, length int) {
	base := s.pendW - histSize
	used := s.pendUsed[src-base : min(src+length, s.pendW)-base]
	for i := range used {
		used[i] = true
	}
}

func (s *scanner) outPos() int64 { return s.wbase + int64(s.wpos) }

// emit makes a point at the current position if it is due: a member start
// is reported at once, any other point once its window is settled (see
// Scan). A point still pending then keeps its whole window unless it is
// settled.
func (s *scanner) emit(member bool) error {
	if s.started && s.outPos()-s.lastPoint < s.every {
		return nil
	}
	s.started = true
	if s.pendW != noPending {
		if err := s.report(s.wpos-s.pendW >= histSize); err != nil {
			return err
		}
	}
	p := Point{In: s.bitPos(), Out: s.outPos(), Member: member}
	s.lastPoint = p.Out
	if member {
		if s.point == nil {
			return nil
		}
		return s.point(p)
	}
	w := int(min(s.outPos()-s.memberOut, histSize))
	p.Window = s.pendWin[histSize-w:]
	copy(p.Window, s.win[s.wpos-w:s.wpos])
	clear(s.pendUsed[histSize-w:])
	s.pend, s.pendW = p, s.wpos
	return nil
}

func (s *scanner) run() error {
	s.inFast = -1
	if err := s.moreInput(); err != nil {
		return err
	}
	if s.n == 0 {
		return &posError{off: 0, msg: "empty file, not gzip", err: io.ErrUnexpectedEOF}
	}
	for first := true; ; first = false {
		if s.ip >= s.n {
			if err := s.moreInput(); err != nil {
				return err
			}
			if s.ip >= s.n {
				return s.flush()
			}
		}
		if !first && s.in[s.ip] == 0 {
			return s.errorf("trailing zero bytes after the last gzip member")
		}
		if err := s.emit(true); err != nil {
			return err
		}
		if err := s.member(); err != nil {
			return err
		}
	}
}

// member decodes one gzip member, from its header to its trailer.
func (s *scanner) member() error {
	if err := s.header(); err != nil {
		return err
	}
	s.memberOut = s.outPos()
	s.crc = 0
	for firstBlock := true; ; firstBlock = false {
		if !firstBlock {
			if err := s.emit(false); err != nil {
				return err
			}
		}
		if err := s.need(3); err != nil {
			return err
		}
		final := s.take(1) == 1
		var err error
		switch s.take(2) {
		case 0:
			err = s.storedBlock()
		case 1:
			err = s.fixedBlock()
		case 2:
			err = s.dynamicBlock()
		default:
			s.bits <<= 3 // report the offset of the header
			s.nbits += 3
			err = s.errorf("invalid block type 3")
		}
		if err != nil {
			return err
		}
		if final {
			break
		}
	}
	s.align()
	if err := s.flush(); err != nil {
		return err
	}
	if s.pendW != noPending {
		if err := s.report(true); err != nil {
			return err
		}
	}
	if s.end != nil {
		if err := s.end(s.base + int64(s.ip)); err != nil {
			return err
		}
	}
	var t [8]byte
	for i := range t {
		b, err := s.readByte()
		if err != nil {
			return s.noEOF(err)
		}
		t[i] = b
	}
	if binary.LittleEndian.Uint32(t[:4]) != s.crc {
		return &posError{off: s.base + int64(s.ip) - 8, msg: fmt.Sprintf("CRC-32 mismatch (trailer %08x, data %08x)", binary.LittleEndian.Uint32(t[:4]), s.crc)}
	}
	if size := uint32(s.outPos() - s.memberOut); binary.LittleEndian.Uint32(t[4:]) != size {
		return &posError{off: s.base + int64(s.ip) - 4, msg: fmt.Sprintf("ISIZE mismatch (trailer %d, data %d mod 2^32)", binary.LittleEndian.Uint32(t[4:]), size)}
	}
	return nil
}

func (s *scanner) noEOF(err error) error {
	if err == io.EOF {
		return s.truncated()
	}
	return err
}

// header reads and checks a gzip member header.
func (s *scanner) header() error {
	return parseHeader(s.readByte, s.base+int64(s.ip))
}

// parseHeader reads and checks a gzip member header (RFC 1952 2.3) that
// starts at file offset start, through readByte, which returns io.EOF at
// the end of the file.
func parseHeader(readByte func() (byte, error), start int64) error {
	off := start
	crc := ^uint32(0)
	var b byte
	var err error
	next := func() bool {
		b, err = readByte()
		if err != nil {
			if err == io.EOF {
				err = &posError{off: start, msg: fmt.Sprintf("gzip header cut short by the end of the file at %d", off), err: io.ErrUnexpectedEOF}
			}
			return false
		}
		off++
		crc = crc32.IEEETable[byte(crc)^b] ^ crc>>8
		return true
	}
	var h [10]byte
	for i := range h {
		if !next() {
			return err
		}
		h[i] = b
		if i < 2 && b != "\x1f\x8b"[i] {
			return &posError{off: start, msg: "not a gzip member (bad magic)"}
		}
	}
	if h[2] != 8 {
		return &posError{off: start + 2, msg: fmt.Sprintf("unknown compression method %d", h[2])}
	}
	flags := h[3]
	if flags&0xe0 != 0 {
		return &posError{off: start + 3, msg: fmt.Sprintf("reserved header flags set (%#02x)", flags)}
	}
	if flags&4 != 0 { // FEXTRA
		if !next() {
			return err
		}
		xlen := int(b)
		if !next() {
			return err
		}
		xlen |= int(b) << 8
		for range xlen {
			if !next() {
				return err
			}
		}
	}
	for _, f := range []byte{8, 16} { // FNAME, FCOMMENT: zero-terminated
		if flags&f != 0 {
			for {
				if !next() {
					return err
				}
				if b == 0 {
					break
				}
			}
		}
	}
	if flags&2 != 0 { // FHCRC
		want := uint16(^crc)
		if !next() {
			return err
		}
		got := uint16(b)
		if !next() {
			return err
		}
		got |= uint16(b) << 8
		if got != want {
			return &posError{off: off - 2, msg: fmt.Sprintf("header CRC16 mismatch (header %04x, computed %04x)", got, want)}
		}
	}
	return nil
}

func (s *scanner) storedBlock() error {
	s.align()
	var h [4]byte
	for i := range h {
		b, err := s.readByte()
		if err != nil {
			return s.noEOF(err)
		}
		h[i] = b
	}
	n := int(binary.LittleEndian.Uint16(h[:2]))
	if uint16(n) != ^binary.LittleEndian.Uint16(h[2:]) {
		return &posError{off: s.base + int64(s.ip) - 4, msg: "stored block length does not match its complement"}
	}
	for n > 0 {
		if s.ip >= s.n {
			if err := s.moreInput(); err != nil {
				return err
			}
			if s.ip >= s.n {
				return s.truncated()
			}
		}
		if s.wpos >= winFast {
			if err := s.flush(); err != nil {
				return err
			}
		}
		c := copy(s.win[s.wpos:winFast], s.in[s.ip:min(s.n, s.ip+n)])
		s.wpos += c
		s.ip += c
		n -= c
	}
	return nil
}

func (s *scanner) fixedBlock() error {
	if !s.fixed {
		var l [288 + 32]uint8
		for i := range 288 {
			switch {
			case i < 144:
				l[i] = 8
			case i < 256:
				l[i] = 9
			case i < 280:
				l[i] = 7
			default:
				l[i] = 8
			}
		}
		for i := range 32 {
			l[288+i] = 5
		}
		buildTable(s.lit[:], litRoot, l[:288], litPayload[:])
		buildTable(s.dist[:], distRoot, l[288:], distPayload[:])
		s.fixed = true
	}
	return s.huffBlock()
}

func (s *scanner) dynamicBlock() error {
	if err := s.need(14); err != nil {
		return err
	}
	nlit := int(s.take(5)) + 257
	ndist := int(s.take(5)) + 1
	ncl := int(s.take(4)) + 4
	if nlit > 286 {
		return s.errorf("too many literal/length codes (%d)", nlit)
	}
	if ndist > 30 {
		return s.errorf("too many distance codes (%d)", ndist)
	}
	var cll [19]uint8
	for i := range ncl {
		if err := s.need(3); err != nil {
			return err
		}
		cll[clOrder[i]] = uint8(s.take(3))
	}
	var clPayload [19]uint32
	for i := range clPayload {
		clPayload[i] = entLit | uint32(i)<<16
	}
	// zlib refuses an incomplete code length code even when it is a single
	// code; no valid stream can need one.
	if st := buildTable(s.cl[:], clRoot, cll[:], clPayload[:]); st != codeOK {
		return s.errorf("invalid code length code")
	}
	s.fixed = false
	lens := s.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		if err := s.need(7 + 7); err != nil {
			return err
		}
		e := s.cl[s.bits&(1<<clRoot-1)]
		if e == entBad {
			return s.errorf("invalid code length code")
		}
		s.take(uint(e & 31))
		sym := e >> 16
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var v uint8
		switch sym {
		case 16:
			if i == 0 {
				return s.errorf("repeat of a code length with no previous length")
			}
			v = lens[i-1]
			rep = 3 + int(s.take(2))
		case 17:
			rep = 3 + int(s.take(3))
		default:
			rep = 11 + int(s.take(7))
		}
		if i+rep > len(lens) {
			return s.errorf("code length repeat past the last code")
		}
		for range rep {
			lens[i] = v
			i++
		}
	}
	if lens[256] == 0 {
		return s.errorf("no end-of-block code")
	}
	switch buildTable(s.lit[:], litRoot, lens[:nlit], litPayload[:]) {
	case codeOver:
		return s.errorf("over-subscribed literal/length code")
	case codeIncomplete:
		return s.errorf("incomplete literal/length code")
	}
	switch buildTable(s.dist[:], distRoot, lens[nlit:], distPayload[:]) {
	case codeOver:
		return s.errorf("over-subscribed distance code")
	case codeIncomplete:
		return s.errorf("incomplete distance code")
	}
	return s.huffBlock()
}

// huffBlock decodes the data of a Huffman block with the tables in s.lit
// and s.dist, up to and including its end-of-block code.
//
// The loop refills the bit buffer to at least 56 bits once per symbol: the
// longest symbol with its extra bits and distance takes 15+5+15+13 = 48. It
// leaves the loop for more input, for a flush, and at the end of the block.
func (s *scanner) huffBlock() error {
	lt := &s.lit
	dt := &s.dist
	in := s.in
	win := s.win
	bits, nbits, ip, wpos := s.bits, s.nbits, s.ip, s.wpos
	inFast := s.inFast
	lowest := int(s.memberOut - s.wbase) // window index of the member start; negative once slid past
	pendW := s.pendW
	save := func() {
		s.bits, s.nbits, s.ip, s.wpos = bits, nbits, ip, wpos
	}
	for {
		if ip > inFast || wpos > winFast {
			save()
			if wpos > winFast {
				if err := s.flush(); err != nil {
					return err
				}
			}
			if ip > inFast {
				if err := s.moreInput(); err != nil {
					return err
				}
				if s.ip > s.inFast {
					return s.truncated()
				}
			}
			bits, nbits, ip, wpos = s.bits, s.nbits, s.ip, s.wpos
			inFast = s.inFast
			lowest = int(s.memberOut - s.wbase)
			pendW = s.pendW
			continue
		}
		bits |= binary.LittleEndian.Uint64(in[ip:]) << nbits
		ip += int((63 - nbits) >> 3)
		nbits |= 56

		e := lt[bits&(1<<litRoot-1)]
		if e&entSub != 0 {
			e = lt[(e>>16+uint32(bits>>litRoot)&(1<<(e>>8&15)-1))&(litTableSize-1)]
		}
		if e&entLit != 0 {
			// Literals come in runs: with at least 41 bits left, decode
			// the next code too; a length code and its extra bits take at
			// most 20, and the distance gets a refill below.
			n := uint(e & 31)
			bits >>= n
			nbits -= n
			win[wpos] = byte(e >> 16)
			wpos++
			e = lt[bits&(1<<litRoot-1)]
			if e&entSub != 0 {
				e = lt[(e>>16+uint32(bits>>litRoot)&(1<<(e>>8&15)-1))&(litTableSize-1)]
			}
			if e&entLit != 0 {
				n := uint(e & 31)
				bits >>= n
				nbits -= n
				win[wpos] = byte(e >> 16)
				wpos++
				continue
			}
		}
		n := uint(e & 31)
		bits >>= n
		nbits -= n
		if e&entLen == 0 {
			save()
			if e&entEnd != 0 {
				if s.overrun() {
					return s.truncated()
				}
				return nil
			}
			return s.corrupt("invalid literal/length code")
		}
		x := uint(e >> 8 & 15)
		length := int(e>>16) + int(bits&(1<<x-1))
		bits >>= x
		nbits -= x

		bits |= binary.LittleEndian.Uint64(in[ip:]) << nbits
		ip += int((63 - nbits) >> 3)
		nbits |= 56
		e = dt[bits&(1<<distRoot-1)]
		if e&entSub != 0 {
			e = dt[(e>>16+uint32(bits>>distRoot)&(1<<(e>>8&15)-1))&(distTableSize-1)]
		}
		n = uint(e & 31)
		bits >>= n
		nbits -= n
		if e&entLen == 0 {
			save()
			return s.corrupt("invalid distance code")
		}
		x = uint(e >> 8 & 15)
		dist := int(e>>16) + int(bits&(1<<x-1))
		bits >>= x
		nbits -= x
		if dist > wpos-lowest {
			save()
			return s.corrupt("invalid distance %d: before the start of the member", dist)
		}

		src := wpos - dist
		if src < pendW {
			s.copied(src, length)
		}
		switch {
		case dist >= 8:
			// Copy 8 bytes at a time, overshooting the end: what is
			// written past it is overwritten before anyone reads it.
			// Each load reads bytes already written, as dist >= 8.
			if length <= 16 {
				w := win[wpos : wpos+16]
				r := win[src : src+16]
				binary.LittleEndian.PutUint64(w, binary.LittleEndian.Uint64(r))
				binary.LittleEndian.PutUint64(w[8:], binary.LittleEndian.Uint64(r[8:]))
			} else if dist >= length {
				copy(win[wpos:wpos+length], win[src:src+length])
			} else {
				for i := 0; i < length; i += 8 {
					binary.LittleEndian.PutUint64(win[wpos+i:], binary.LittleEndian.Uint64(win[src+i:]))
				}
			}
		case dist == 1:
			v := uint64(win[src]) * 0x0101010101010101
			for i := 0; i < length; i += 8 {
				binary.LittleEndian.PutUint64(win[wpos+i:], v)
			}
		default:
			for i := range length {
				win[wpos+i] = win[src+i]
			}
		}
		wpos += length
	}
}
