package inflate

import (
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

const viewChunk = 64 << 10

// view presents to compress/flate a few bytes of its own followed by bytes
// of the file from an offset up to a limit, through ReadByte and Read.
// compress/flate uses a source with ReadByte as it is (no bufio.Reader in
// front) and never reads a byte before it needs one of its bits, so used
// tells exactly how many bytes the stream took.
type view struct {
	src   io.ReaderAt
	next  int64 // file offset of the next byte to read from src
	limit int64 // bytes at and after limit are not part of the view
	buf   []byte
	r, w  int   // buf[r:w] is ready
	used  int64 // bytes handed out since the last reset
	err   error // a read error of src
}

// reset makes the view start with the bytes pre (at most 16), then the file
// from off up to limit.
func (v *view) reset(src io.ReaderAt, pre []byte, off, limit int64) {
	if v.buf == nil {
		v.buf = make([]byte, viewChunk)
	}
	v.src, v.next, v.limit = src, off, limit
	v.r, v.w, v.used, v.err = 0, copy(v.buf, pre), 0, nil
}

// pos is the file offset of the next byte (in the prefix: of the first file
// byte).
func (v *view) pos() int64 { return v.next - int64(max(v.w-v.r, 0)) }

func (v *view) fill() bool {
	if v.err != nil {
		return false
	}
	left := v.limit - v.next
	if left <= 0 {
		return false
	}
	n := int(min(left, viewChunk))
	got, err := v.src.ReadAt(v.buf[:n], v.next)
	if got < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		v.err = &posError{off: v.next + int64(got), msg: "read", err: err}
		return false
	}
	v.next += int64(n)
	v.r, v.w = 0, n
	return true
}

func (v *view) ReadByte() (byte, error) {
	if v.r == v.w && !v.fill() {
		return 0, v.endErr()
	}
	b := v.buf[v.r]
	v.r++
	v.used++
	return b, nil
}

func (v *view) Read(p []byte) (int, error) {
	if v.r == v.w && !v.fill() {
		return 0, v.endErr()
	}
	n := copy(p, v.buf[v.r:v.w])
	v.r += n
	v.used += int64(n)
	return n, nil
}

func (v *view) endErr() error {
	if v.err != nil {
		return v.err
	}
	return io.EOF
}

// alignPrefix returns the bytes that put the deflate stream at bit s (1-7)
// of byte q in the same place for compress/flate: an empty, non-final
// dynamic block of 93+t bits, 93+t = 8j+s, then the high 8-s bits of byte q
// (merged into the last byte returned, whose low s bits end the block), so
// that the bytes after q follow whole, as they are in the file.
//
// Shifting the file by s bits instead would break at the next stored block,
// which starts at a byte boundary of the file, not of the shifted view.
//
// The block: HLIT 257, HDIST 1, HCLEN 18; code length code 0 -> "0",
// 1 -> "10", 18 -> "11"; lengths: t zeros one by one, runs of 138 and
// 118-t zeros, then 1 for end-of-block (the only literal/length code, one
// bit, which both zlib and compress/flate accept) and 0 for the one distance
// code; then end-of-block, "0".
func alignPrefix(s uint, qbyte byte, buf *[16]byte) []byte {
	t := (s + 8 - 93%8) % 8
	var acc uint64
	var n uint
	var out []byte = buf[:0]
	put := func(v uint64, bits uint) {
		acc |= v << n
		n += bits
		for n >= 8 {
			out = append(out, byte(acc))
			acc >>= 8
			n -= 8
		}
	}
	code := func(c uint64, bits uint) { // Huffman codes go most significant bit first
		for i := int(bits) - 1; i >= 0; i-- {
			put(c>>uint(i)&1, 1)
		}
	}
	put(0, 1)  // not final
	put(2, 2)  // dynamic
	put(0, 5)  // HLIT 257
	put(0, 5)  // HDIST 1
	put(14, 4) // HCLEN 18
	for _, sym := range clOrder[:18] {
		switch sym {
		case 0:
			put(1, 3)
		case 1, 18:
			put(2, 3)
		default:
			put(0, 3)
		}
	}
	for range t {
		code(0, 1)
	}
	code(3, 2)
	put(138-11, 7)
	code(3, 2)
	put(uint64(118-t-11), 7)
	code(2, 2) // end-of-block: length 1
	code(0, 1) // distance 0: length 0
	code(0, 1) // end-of-block
	// n == s now; the file's byte q supplies the rest of this byte.
	return append(out, byte(acc)|qbyte&^(1<<s-1))
}

// Reader reads the decompressed bytes of a gzip file from an access point to
// the end of the file. A Reader can be reused with Reset, which allocates
// nothing once the Reader has been used.
//
// From a member start it checks everything Scan does (header, deflate data,
// CRC-32 and ISIZE), but only when it gets there: bytes come out before the
// trailer that vouches for them. From a point inside a member it cannot check
// that member's CRC-32 or ISIZE (they cover output before the point); it does
// check that the deflate data is valid (codes, distances within the window)
// and that the stream ends in the byte before End, neither earlier nor
// later. Corruption that deflate cannot see (a
// flipped bit in a literal, say) gives wrong bytes there. Members after it
// are checked in full.
type Reader struct {
	src     io.ReaderAt
	size    int64
	v       view
	fr      io.ReadCloser
	p       Point
	inData  bool // in a deflate stream, else at a member start or the end
	partial bool // the stream was entered at p, mid-member
	start   int64
	expect  int64 // bytes of the view the partial stream must take
	pre     [16]byte
	crc     uint32
	isize   uint32
	err     error
}

// NewReader returns a reader of the decompressed bytes of the gzip file src
// (size bytes) from p onward, crossing into later members. p comes from Scan,
// with End filled in (unless p.Member).
func NewReader(src io.ReaderAt, size int64, p Point) *Reader {
	r := new(Reader)
	r.Reset(src, size, p)
	return r
}

// Reset makes r read src from p, as NewReader does. p.Window is copied.
func (r *Reader) Reset(src io.ReaderAt, size int64, p Point) {
	r.src, r.size, r.p, r.err = src, size, p, nil
	r.inData, r.partial = false, false
	r.crc, r.isize = 0, 0
	q, s := p.In/8, uint(p.In%8)
	switch {
	case p.In < 0 || q >= size:
		r.err = fmt.Errorf("inflate: point at bit %d is outside the file (%d bytes)", p.In, size)
	case p.Member:
		if s != 0 {
			r.err = fmt.Errorf("inflate: member point at bit %d is not byte aligned", p.In)
			return
		}
		r.v.reset(src, nil, q, size)
	default:
		if p.End <= q || p.End > size-8 {
			r.err = fmt.Errorf("inflate: point at bit %d has End %d outside (%d, %d]: was End filled in?", p.In, p.End, q, size-8)
			return
		}
		if len(p.Window) > histSize {
			r.err = fmt.Errorf("inflate: point window of %d bytes, more than %d", len(p.Window), histSize)
			return
		}
		var pre []byte
		off := q
		if s != 0 {
			var b [1]byte
			if _, err := src.ReadAt(b[:], q); err != nil {
				r.err = &posError{off: q, msg: "read", err: err}
				return
			}
			pre = alignPrefix(s, b[0], &r.pre)
			off++
		}
		r.v.reset(src, pre, off, p.End)
		r.expect = int64(len(pre)) + p.End - off
		r.startStream(p.Window)
		r.partial = true
	}
}

func (r *Reader) startStream(dict []byte) {
	r.start = r.v.pos()
	if r.fr == nil {
		r.fr = flate.NewReaderDict(&r.v, dict)
	} else {
		r.fr.(flate.Resetter).Reset(&r.v, dict)
	}
	r.inData = true
}

// Read reads decompressed bytes. At the end of the last member it returns
// io.EOF.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, r.err
	}
	for r.err == nil {
		if !r.inData {
			r.err = r.header()
			continue
		}
		n, err := r.fr.Read(p)
		if !r.partial {
			r.crc = crc32.Update(r.crc, crc32.IEEETable, p[:n])
			r.isize += uint32(n)
		}
		switch {
		case err == io.EOF:
			r.err = r.endStream()
		case err != nil:
			r.err = r.streamErr(err)
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, r.err
}

func (r *Reader) streamErr(err error) error {
	var pe *posError
	if errors.As(err, &pe) {
		return err
	}
	off := r.v.pos()
	var ce flate.CorruptInputError
	switch {
	case errors.As(err, &ce):
		return &posError{off: off, msg: "corrupt deflate data", err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		if r.partial {
			return &posError{off: r.p.End, msg: "deflate stream runs past its recorded end"}
		}
		return &posError{off: off, msg: "truncated input", err: io.ErrUnexpectedEOF}
	}
	return &posError{off: off, msg: "deflate", err: err}
}

// endStream checks where the deflate stream ended, and the trailer.
func (r *Reader) endStream() error {
	r.inData = false
	if r.partial {
		// The view ends at End: the stream must take all of it.
		if r.v.used != r.expect {
			return &posError{off: r.v.pos(), msg: fmt.Sprintf("deflate stream ends before its recorded end %d", r.p.End)}
		}
		// The trailer is not checked: its CRC covers output before p.
		r.partial = false
		r.v.reset(r.src, nil, r.p.End+8, r.size)
		return nil
	}
	var t [8]byte
	for i := range t {
		b, err := r.v.ReadByte()
		if err != nil {
			return r.byteErr(err)
		}
		t[i] = b
	}
	if binary.LittleEndian.Uint32(t[:4]) != r.crc {
		return &posError{off: r.v.pos() - 8, msg: fmt.Sprintf("CRC-32 mismatch (trailer %08x, data %08x)", binary.LittleEndian.Uint32(t[:4]), r.crc)}
	}
	if binary.LittleEndian.Uint32(t[4:]) != r.isize {
		return &posError{off: r.v.pos() - 4, msg: fmt.Sprintf("ISIZE mismatch (trailer %d, data %d mod 2^32)", binary.LittleEndian.Uint32(t[4:]), r.isize)}
	}
	return nil
}

func (r *Reader) byteErr(err error) error {
	if err == io.EOF {
		return &posError{off: r.v.pos(), msg: "truncated input", err: io.ErrUnexpectedEOF}
	}
	return err
}

// header reads the header of the next member, or finds the end of the file.
func (r *Reader) header() error {
	start := r.v.pos()
	b, err := r.v.ReadByte()
	if err == io.EOF {
		if start == r.p.In/8 && r.p.Member {
			return &posError{off: start, msg: "no gzip member at the point", err: io.ErrUnexpectedEOF}
		}
		return io.EOF
	}
	if err != nil {
		return err
	}
	if b == 0 && start != r.p.In/8 {
		return &posError{off: start, msg: "trailing zero bytes after the last gzip member"}
	}
	first := true
	err = parseHeader(func() (byte, error) {
		if first {
			first = false
			return b, nil
		}
		return r.v.ReadByte()
	}, start)
	if err != nil {
		return err
	}
	r.crc, r.isize = 0, 0
	r.startStream(nil)
	return nil
}
