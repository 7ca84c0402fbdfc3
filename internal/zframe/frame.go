package zframe

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

const (
	magicFrame    = 0xFD2FB528
	magicSkip     = 0x184D2A50 // the low 4 bits are free: 0x184D2A50..5F
	magicSkipMask = 0xFFFFFFF0

	maxBlock   = 128 << 10 // RFC 8878: Block_Maximum_Size is at most 128 KiB
	minWindow  = 1 << 10   // the smallest window a Window_Descriptor can say
	maxHeader  = 4 + 14    // magic, then at most 1+1+4+8 bytes of frame header
	checksumSz = 4

	// klauspost refuses to be told of a larger window limit.
	maxWindowLimit = 1<<41 + 7<<38
)

// posError is an error found at a byte offset of the file.
type posError struct {
	off int64
	msg string
	err error // wrapped, if any
}

func (e *posError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("zframe: offset %d: %s: %v", e.off, e.msg, e.err)
	}
	return fmt.Sprintf("zframe: offset %d: %s", e.off, e.msg)
}

func (e *posError) Unwrap() error { return e.err }

// FrameTooLargeError reports a frame with more content than Scan's
// maxFrame allows.
type FrameTooLargeError struct {
	In    int64 // byte offset of the frame in the file
	Size  int64 // its content size as its header declares it; -1 if it declares none
	Limit int64 // maxFrame
}

func (e *FrameTooLargeError) Error() string {
	if e.Size < 0 {
		return fmt.Sprintf("zframe: offset %d: the frame has more than %d bytes of content, the limit", e.In, e.Limit)
	}
	return fmt.Sprintf("zframe: offset %d: the frame has %d bytes of content, more than the limit of %d", e.In, e.Size, e.Limit)
}

// WindowTooLargeError reports a frame whose window is larger than the
// maxWindow of Scan or NewReader.
type WindowTooLargeError struct {
	In     int64  // byte offset of the frame in the file
	Window uint64 // its window size
	Limit  uint64 // maxWindow, as clamped
	Single bool   // a single-segment frame: its window is its content size
}

func (e *WindowTooLargeError) Error() string {
	if e.Single {
		return fmt.Sprintf("zframe: offset %d: single-segment frame of %d bytes: its window (the content size) exceeds the window limit of %d bytes", e.In+4, e.Window, e.Limit)
	}
	return fmt.Sprintf("zframe: offset %d: window size %d exceeds the window limit of %d bytes", e.In+5, e.Window, e.Limit)
}

func truncated(off int64) error {
	return &posError{off: off, msg: "truncated input", err: io.ErrUnexpectedEOF}
}

// clampWindow makes maxWindow a limit both we and klauspost accept: no
// window is smaller than 1 KiB, so a smaller limit would refuse every frame.
func clampWindow(maxWindow int) uint64 {
	return min(max(uint64(max(maxWindow, 0)), minWindow), maxWindowLimit)
}

// newDecoder returns a klauspost decoder that decodes on the caller's
// goroutine (concurrency 1: nothing runs in the background, so nothing can
// leak and nothing reads ahead) and refuses windows over maxWindow, which
// in streaming mode is also all the history it keeps.
func newDecoder(maxWindow uint64) *zstd.Decoder {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxWindow),
		zstd.WithDecoderMaxMemory(maxWindow))
	if err != nil {
		// Only invalid options fail, and clampWindow keeps them valid.
		panic("zframe: " + err.Error())
	}
	return d
}

// frameHeader is what a frame header (RFC 8878 §3.1.1.1) says.
type frameHeader struct {
	size     int    // bytes, magic included
	window   uint64 // Window_Size; the content size for a single segment
	fcs      uint64 // Frame_Content_Size, if hasFCS
	hasFCS   bool
	checksum bool
	blockMax int // the largest block size allowed
}

// parseHeader parses the frame header at the start of b (the magic number
// is known to be there); b may hold more than the header, or less if the
// file ends early.
//
// A frame that declares more content than maxFrame (if > 0) is refused
// with a *FrameTooLargeError, before its window is checked: a single
// segment's window is its content.
func parseHeader(b []byte, off int64, maxWindow uint64, maxFrame int64) (frameHeader, error) {
	var h frameHeader
	if len(b) < 5 {
		return h, truncated(off + int64(len(b)))
	}
	fhd := b[4]
	single := fhd&(1<<5) != 0
	h.checksum = fhd&(1<<2) != 0
	dictSize := [4]int{0, 1, 2, 4}[fhd&3]
	fcsSize := [4]int{0, 2, 4, 8}[fhd>>6]
	if fcsSize == 0 && single {
		fcsSize = 1
	}
	h.size = 5 + dictSize + fcsSize
	if !single {
		h.size++
	}
	if len(b) < h.size {
		return h, truncated(off + int64(len(b)))
	}
	if fhd&(1<<3) != 0 {
		return h, &posError{off: off + 4, msg: "reserved bit set in the frame header descriptor"}
	}
	p := 5
	if !single {
		wd := b[p]
		p++
		base := uint64(1) << (10 + wd>>3)
		h.window = base + base/8*uint64(wd&7)
	}
	var dict uint32
	switch dictSize {
	case 1:
		dict = uint32(b[p])
	case 2:
		dict = uint32(binary.LittleEndian.Uint16(b[p:]))
	case 4:
		dict = binary.LittleEndian.Uint32(b[p:])
	}
	// A Dictionary_ID of 0 is the same as none.
	if dict != 0 {
		return h, &posError{off: off + int64(p), msg: fmt.Sprintf("frame needs dictionary %d; dictionaries are not supported", dict)}
	}
	p += dictSize
	h.hasFCS = fcsSize > 0
	switch fcsSize {
	case 1:
		h.fcs = uint64(b[p])
	case 2:
		h.fcs = uint64(binary.LittleEndian.Uint16(b[p:])) + 256
	case 4:
		h.fcs = uint64(binary.LittleEndian.Uint32(b[p:]))
	case 8:
		h.fcs = binary.LittleEndian.Uint64(b[p:])
	}
	if h.hasFCS && maxFrame > 0 && h.fcs > uint64(maxFrame) {
		return h, &FrameTooLargeError{In: off, Size: int64(min(h.fcs, 1<<63-1)), Limit: maxFrame}
	}
	if single {
		// The whole content is the window.
		h.window = h.fcs
		if h.window > maxWindow {
			return h, &WindowTooLargeError{In: off, Window: h.window, Limit: maxWindow, Single: true}
		}
	} else if h.window > maxWindow {
		return h, &WindowTooLargeError{In: off, Window: h.window, Limit: maxWindow}
	}
	if h.hasFCS && h.fcs > 1<<62 {
		return h, &posError{off: off + int64(p), msg: fmt.Sprintf("frame content size %d is too large", h.fcs)}
	}
	// klauspost, like the reference decoder, treats a window under 1 KiB as
	// 1 KiB; its block size limit follows from that.
	h.blockMax = int(min(maxBlock, max(h.window, minWindow)))
	return h, nil
}

// input is a buffered view of the file, from an io.Reader (Scan) or an
// io.ReaderAt (Reader), that knows the file offset of what it gives out.
type input struct {
	rd   io.Reader
	ra   io.ReaderAt
	next int64 // ra: the offset of the next byte to read into buf
	end  int64 // ra: the file's size
	buf  []byte
	r, w int   // buf[r:w] is unread
	pos  int64 // the file offset of buf[r]
	eof  bool
	err  error // a read error other than the end of the file
}

func (in *input) resetReader(rd io.Reader) {
	*in = input{rd: rd, buf: in.buf}
}

func (in *input) resetAt(ra io.ReaderAt, off, size int64) {
	*in = input{ra: ra, next: off, end: size, pos: off, buf: in.buf}
}

// src reads the file into p, at least one byte unless at the end or an
// error.
func (in *input) src(p []byte) int {
	if in.eof || in.err != nil || len(p) == 0 {
		return 0
	}
	if in.ra != nil {
		if rest := in.end - in.next; int64(len(p)) > rest {
			p = p[:rest]
		}
		if len(p) == 0 {
			in.eof = true
			return 0
		}
		n, err := in.ra.ReadAt(p, in.next)
		in.next += int64(n)
		switch {
		case n == len(p):
		case err == io.EOF || err == nil:
			// The file is shorter than its size said.
			in.eof = true
		default:
			in.err = err
		}
		return n
	}
	for range 100 {
		n, err := in.rd.Read(p)
		switch {
		case err == io.EOF:
			in.eof = true
		case err != nil:
			in.err = err
		}
		if n > 0 || err != nil {
			return n
		}
	}
	in.err = io.ErrNoProgress
	return 0
}

// fill reads more into buf, after moving the unread bytes to its front. It
// says whether it got any.
func (in *input) fill() bool {
	if in.r > 0 {
		in.w = copy(in.buf, in.buf[in.r:in.w])
		in.r = 0
	}
	n := in.src(in.buf[in.w:])
	in.w += n
	return n > 0
}

// peek returns up to n bytes (n <= len(buf)) without consuming them; fewer
// only at the end of the file or on a read error.
func (in *input) peek(n int) []byte {
	for in.w-in.r < n && in.fill() {
	}
	return in.buf[in.r:min(in.w, in.r+n)]
}

func (in *input) discard(n int) {
	in.r += n
	in.pos += int64(n)
}

// read reads into p, at least one byte unless at the end of the file or on
// a read error. Large reads bypass the buffer.
func (in *input) read(p []byte) int {
	if in.r == in.w {
		if len(p) >= len(in.buf)/2 {
			n := in.src(p)
			in.pos += int64(n)
			return n
		}
		if !in.fill() {
			return 0
		}
	}
	n := copy(p, in.buf[in.r:in.w])
	in.discard(n)
	return n
}

// skip consumes n bytes; it says whether the file had them. From an
// io.ReaderAt, what is not buffered is passed over without reading it.
func (in *input) skip(n int64) bool {
	for n > 0 {
		if in.r == in.w && in.ra != nil && in.err == nil {
			k := min(n, in.end-in.next)
			in.next += k
			in.pos += k
			if k < n {
				in.eof = true
				return false
			}
			return true
		}
		if in.r == in.w && !in.fill() {
			return false
		}
		k := int(min(n, int64(in.w-in.r)))
		in.discard(k)
		n -= int64(k)
	}
	return true
}

// readErr is the error for input that ended (or failed) where more was
// needed.
func (in *input) readErr() error {
	if in.err != nil {
		return &posError{off: in.pos + int64(in.w-in.r), msg: "read", err: in.err}
	}
	return truncated(in.pos + int64(in.w-in.r))
}

// part is the part of a frame that a walker is passing on.
type part uint8

const (
	partHeader part = iota
	partBlockHeader
	partBlockData
	partChecksum
	partDone
)

// walker gives klauspost the bytes of one frame and nothing after it. It
// parses the block headers as they go by, so it knows where the frame ends
// without decoding anything, and it checks each block header before
// klauspost sees it.
type walker struct {
	in    *input
	h     frameHeader
	start int64 // offset of the frame
	hdr   [maxHeader]byte
	p     part
	left  int // bytes of the current part not passed on yet
	data  int // bytes of data of the current block
	last  bool
	err   error
}

// reset starts the walker on the frame whose header hdr is; the header
// has been consumed from in.
func (w *walker) reset(in *input, start int64, h frameHeader, hdr []byte) {
	w.in, w.h, w.start = in, h, start
	copy(w.hdr[:], hdr)
	w.p, w.left, w.last, w.err = partHeader, h.size, false, nil
}

func (w *walker) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && w.err == nil {
		if w.left == 0 {
			// Parts may be empty: raw blocks of no bytes.
			if !w.advance() {
				break
			}
			continue
		}
		if w.p == partHeader {
			c := copy(p[n:], w.hdr[w.h.size-w.left:w.h.size])
			n += c
			w.left -= c
			continue
		}
		c := w.in.read(p[n:min(len(p), n+w.left)])
		if c == 0 {
			w.err = w.in.readErr()
			break
		}
		n += c
		w.left -= c
	}
	if n > 0 {
		return n, nil
	}
	if w.err != nil {
		return 0, w.err
	}
	return 0, io.EOF
}

// advance moves to the next part of the frame; it says false at the end of
// the frame or on an error.
func (w *walker) advance() bool {
	switch w.p {
	case partHeader:
		return w.blockHeader()
	case partBlockHeader:
		w.p, w.left = partBlockData, w.data
		return true
	case partBlockData:
		if !w.last {
			return w.blockHeader()
		}
		if w.h.checksum {
			w.p, w.left = partChecksum, checksumSz
			return true
		}
		w.p = partDone
	case partChecksum:
		w.p = partDone
	}
	return false
}

// blockHeader checks the header of the next block (RFC 8878 §3.1.1.2).
func (w *walker) blockHeader() bool {
	b := w.in.peek(3)
	if len(b) < 3 {
		w.err = w.in.readErr()
		return false
	}
	bh := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
	w.last = bh&1 != 0
	size := int(bh >> 3)
	switch bh >> 1 & 3 {
	case 0: // raw
		w.data = size
	case 1: // RLE: one byte, repeated size times
		w.data = 1
	case 2: // compressed
		w.data = size
	case 3:
		w.err = &posError{off: w.in.pos, msg: fmt.Sprintf("reserved block type in the frame at offset %d", w.start)}
		return false
	}
	if size > w.h.blockMax {
		w.err = &posError{off: w.in.pos, msg: fmt.Sprintf("block size %d exceeds the maximum %d of the frame at offset %d", size, w.h.blockMax, w.start)}
		return false
	}
	w.p, w.left = partBlockHeader, 3
	return true
}

// magicPrefix says whether b (shorter than 4 bytes) could be the start of
// a frame's magic number, which makes a file ending in b truncated rather
// than followed by garbage.
func magicPrefix(b []byte) bool {
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], magicFrame)
	if string(b) == string(m[:len(b)]) {
		return true
	}
	binary.LittleEndian.PutUint32(m[:], magicSkip)
	for i, c := range b {
		if i == 0 && c&0xF0 != m[0] || i > 0 && c != m[i] {
			return false
		}
	}
	return true
}

// nextFrame is called at a frame boundary: it skips skippable frames and
// parses the header of the data frame after them, which it consumes from
// in. At the end of the file it returns io.EOF.
func nextFrame(in *input, maxWindow uint64, maxFrame int64) (h frameHeader, hdr []byte, start int64, err error) {
	for {
		start = in.pos
		b := in.peek(8)
		switch {
		case len(b) == 0 && in.err == nil:
			return h, nil, start, io.EOF
		case len(b) < 4:
			if in.err != nil || magicPrefix(b) {
				return h, nil, start, in.readErr()
			}
			return h, nil, start, &posError{off: start, msg: fmt.Sprintf("not a zstd frame: % x at the end of the file", b)}
		}
		m := binary.LittleEndian.Uint32(b)
		switch {
		case m == magicFrame:
			hdr = in.peek(maxHeader)
			h, err = parseHeader(hdr, start, maxWindow, maxFrame)
			if err != nil {
				if in.err != nil {
					return h, nil, start, in.readErr()
				}
				return h, nil, start, err
			}
			in.discard(h.size)
			return h, hdr[:h.size], start, nil
		case m&magicSkipMask == magicSkip:
			if len(b) < 8 {
				return h, nil, start, in.readErr()
			}
			n := int64(binary.LittleEndian.Uint32(b[4:]))
			in.discard(8)
			if !in.skip(n) {
				return h, nil, start, in.readErr()
			}
		default:
			return h, nil, start, &posError{off: start, msg: fmt.Sprintf("not a zstd frame: magic number %08x", m)}
		}
	}
}
