package lineindex

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"syscall"
)

// minBuffer is the smallest buffer [Index.Find] accepts.
const minBuffer = 512

// ErrMismatch reports a source whose bytes disagree with its index: the file
// changed after it was indexed. The line was not returned.
var ErrMismatch = errors.New("file no longer matches its index")

// RangeError reports a line number beyond the end of the source.
type RangeError struct {
	N     int64 // the line asked for
	Lines int64 // the number of lines in the source
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("line %d is beyond the end of the file (%d lines)", e.N, e.Lines)
}

// Line is where a line, or a run of consecutive lines, lies in the source.
type Line struct {
	Number int64 // the first line's
	Offset int64 // of the first line's first byte in the source
	Length int64 // in bytes, terminators included
	// Head holds the first bytes, as read into the buffer given to Find;
	// it may be all of the line, or empty.
	Head []byte
	// count is how many lines: 1 from Find, more from FindRange.
	count int64
	// last is set if the file's last line is among them: its newline is
	// optional.
	last bool
	// around, for a line from Find, are the checkpoints its look-up read
	// from: the last at or before it and the next.
	around [2]checkpoint
	// inner, in a run of lines from FindRange, are its first and last
	// checkpoints after its first line, if there are two: the index
	// knows how many lines lie between them.
	inner [2]checkpoint
}

// WriteTo writes the line, or lines, to w: the head, then the rest streamed
// from src through a bounded buffer, never the whole at once. The streamed
// bytes are checked as they pass: a newline where no line ends, or a
// missing one at the end, means the source changed, and WriteTo stops with
// ErrMismatch before writing the bytes that show it. Within a run of lines
// only their count is known: newlines that moved between its first and its
// last line show by the end, where WriteTo stops before the last bytes.
//
// A run of lines written to a file (w an *os.File, or any writer with its
// SyscallConn, and src a Source) is copied
// by the kernel, unread, between its inner checkpoints: those bytes are
// checked by the Source's stamp, as every read is, and by the newlines
// either side of them, which are streamed and checked as above.
func (l Line) WriteTo(w io.Writer, src io.ReaderAt) (int64, error) {
	n, err := w.Write(l.Head)
	written := int64(n)
	if err != nil {
		return written, err
	}
	from, end := l.Offset+written, l.Offset+l.Length
	if from == end {
		return written, nil
	}
	// The head, when there is one, is part of the first line, checked by
	// Find: all the lines' newlines are still to come.
	a, b := l.inner[0], l.inner[1]
	f, toFile := w.(rawWriter)
	s, fromSource := src.(*Source)
	if !toFile || !fromSource || s.ix.encoding != plainSource || b.off-a.off < minSend || from > a.off {
		m, err := stream(w, src, from, end, l.count, l.last)
		return written + m, err
	}
	m, err := stream(w, src, from, a.off, a.line-l.Number, false)
	written += m
	if err != nil {
		return written, err
	}
	if m, err = s.sendTo(f, a.off, b.off); err != nil {
		return written + m, err
	}
	written += m
	m, err = stream(w, src, b.off, end, l.Number+l.count-b.line, l.last)
	return written + m, err
}

// rawWriter is a writer to a file descriptor, such as an *os.File.
type rawWriter interface {
	io.Writer
	SyscallConn() (syscall.RawConn, error)
}

// minSend is the fewest bytes worth asking the kernel to copy.
const minSend = 1 << 20

// stream copies the bytes of src from off to end to w, which hold the
// ends of lines lines (the last may lack its newline if last is set), and
// fails with ErrMismatch, before writing them, at bytes that show they do
// not.
func stream(w io.Writer, src io.ReaderAt, off, end, lines int64, last bool) (int64, error) {
	if off == end {
		return 0, nil
	}
	r := &checkedReader{r: io.NewSectionReader(src, off, end-off), left: end - off, newlines: lines}
	if last {
		r.lastIn, r.end = src, end
	}
	m, err := io.Copy(w, r)
	if err == nil && m < end-off {
		err = ErrMismatch // the source became shorter
	}
	return m, err
}

// checkedReader passes on the rest of one or more lines, refusing bytes
// that cannot belong to them: newlines beyond the lines' own, or too few
// by the end.
type checkedReader struct {
	r        io.Reader
	left     int64 // bytes still to come
	newlines int64 // newlines still to come: one at the end of each line
	// lastIn, if set, is the source whose last line is the last of them,
	// ending at end: its newline is optional, but without one it must
	// still end the source.
	lastIn io.ReaderAt
	end    int64
}

// endsHere tells whether src, a file grown or not, has no byte at end: a
// final line that lacks a newline and ends at end has not grown. A read
// that fails (a Source seen changed, say) tells nothing, and is no.
func endsHere(src io.ReaderAt, end int64) bool {
	var one [1]byte
	k, err := src.ReadAt(one[:], end)
	return k == 0 && (err == nil || errors.Is(err, io.EOF))
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.EOF
	}
	n, err := c.r.Read(p)
	if n == 0 {
		return 0, err
	}
	chunk := p[:n]
	c.left -= int64(n)
	c.newlines -= int64(bytes.Count(chunk, newline))
	switch {
	case c.left > 0 && c.newlines <= 0:
		// The last line's newline, or more, before the end.
		return 0, ErrMismatch
	case c.left == 0 && chunk[n-1] == '\n' && c.newlines != 0:
		return 0, ErrMismatch
	case c.left == 0 && chunk[n-1] != '\n' && (c.lastIn == nil || c.newlines != 1 || !endsHere(c.lastIn, c.end)):
		return 0, ErrMismatch
	}
	return n, err
}

// FindRange locates lines first to last (from 1; first ≤ last) in src, the
// source the index was built from, as one run of bytes: a last beyond the
// end is taken as the last line, as sed does. It makes two look-ups, the
// first and the last line (with buf, as Find), and reads no more; the
// lines between are checked as WriteTo streams them. It fails as Find
// does: with a RangeError if first is beyond the end.
func (ix *Index) FindRange(src io.ReaderAt, first, last int64, buf []byte) (Line, error) {
	last = min(last, ix.lines)
	a, err := ix.Find(src, first, buf)
	if err != nil || last <= first {
		return a, err
	}
	b, err := ix.Find(src, last, buf)
	if err != nil {
		return Line{}, err
	}
	if b.Offset <= a.Offset {
		return Line{}, ErrMismatch
	}
	run := Line{Number: first, Offset: a.Offset, Length: b.Offset + b.Length - a.Offset, count: last - first + 1, last: b.last}
	after, before := a.around[1], b.around[0]
	if a.Offset < after.off && after.off < before.off && before.off <= b.Offset {
		run.inner = [2]checkpoint{after, before}
	}
	return run, nil
}

// Find locates line n (from 1) in src, the source the index was built from.
// It reads in windows of at most len(buf) bytes (at least minBuffer), from
// the nearer of the two checkpoints around the line, and allocates nothing.
// Besides a RangeError it may fail with ErrMismatch (ErrIndexChanged
// included), or with src's read error.
func (ix *Index) Find(src io.ReaderAt, n int64, buf []byte) (Line, error) {
	if n < 1 || n > ix.lines {
		return Line{}, &RangeError{N: n, Lines: ix.lines}
	}
	if len(buf) < minBuffer {
		return Line{}, fmt.Errorf("lineindex: Find needs a buffer of at least %d bytes", minBuffer)
	}
	b := block{ix: ix, src: src, buf: buf, n: n}
	var err error
	if b.cp, b.next, err = ix.around(n, buf); err != nil {
		return Line{}, err
	}
	// Scan back from the next checkpoint when the line is nearer to it, in
	// a block of short lines that all end with a newline.
	// (Not in a compressed text, which reads forward far more cheaply.)
	var line Line
	if ix.encoding == plainSource && b.next.off < ix.text && b.next.off-b.cp.off <= ix.spacing+int64(len(buf)) && b.next.line-n < n-b.cp.line {
		line, err = b.backward()
	} else {
		line, err = b.forward()
	}
	line.around = [2]checkpoint{b.cp, b.next}
	return line, err
}

// block is one look-up: line n lies between checkpoints cp and next.
type block struct {
	ix       *Index
	src      io.ReaderAt
	buf      []byte
	n        int64
	cp, next checkpoint
}

// guess returns how many bytes to read first to reach the end of line n
// from a checkpoint with lines lines in between, assuming the lines of the
// block have about the same length: enough, most of the time, for one read.
func (b *block) guess(lines int64) int {
	avg := (b.next.off - b.cp.off) / (b.next.line - b.cp.line)
	return int(min((lines+2)*avg+256, int64(len(b.buf))))
}

// forward reads from the checkpoint before line n.
func (b *block) forward() (Line, error) {
	cp, next, n := b.cp, b.next, b.n
	// The window starts one byte early, to check that a newline precedes
	// the checkpoint.
	from := max(cp.off-1, 0)
	data, err := window(b.src, b.buf[:b.guess(n-cp.line)], from, next.off)
	if err != nil {
		return Line{}, err
	}
	if cp.off > 0 {
		if data[0] != '\n' {
			return Line{}, ErrMismatch
		}
		data = data[1:]
	}
	start := cp.off // offset of data[0]
	for skip := n - cp.line; skip > 0; {
		pos, seen := nthNewline(data, skip)
		if pos >= 0 {
			data, start = data[pos+1:], start+int64(pos)+1
			break
		}
		skip -= seen
		start += int64(len(data))
		if data, err = window(b.src, b.buf, start, next.off); err != nil {
			return Line{}, err
		}
	}
	if start >= next.off {
		return Line{}, ErrMismatch
	}
	line := Line{Number: n, Offset: start, count: 1}

	if n == next.line-1 {
		// The last line before the next checkpoint ends where it begins.
		line.Length = next.off - start
		line.Head = data[:min(int64(len(data)), line.Length)]
		j := bytes.IndexByte(line.Head, '\n')
		if j >= 0 && int64(j) != line.Length-1 {
			return Line{}, ErrMismatch
		}
		if j < 0 && int64(len(line.Head)) == line.Length && next.off < b.ix.text {
			return Line{}, ErrMismatch // a line before the end must end with '\n'
		}
		if n == b.ix.lines {
			line.last = true
			open := j < 0
			if open && int64(len(line.Head)) < line.Length {
				// Only its start is at hand: its last byte tells.
				var one [1]byte
				end, err := window(b.src, one[:], b.ix.text-1, b.ix.text)
				if err != nil {
					return Line{}, err
				}
				open = end[0] != '\n'
			}
			if open && !endsHere(b.src, b.ix.text) {
				// A final line without a newline grows if the file is
				// appended to (WriteTo checks it again at its end).
				return Line{}, ErrMismatch
			}
		}
		return line, nil
	}

	// Any other line ends at its first newline, before the next checkpoint.
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		line.Length, line.Head = int64(j)+1, data[:j+1]
		return line, nil
	}
	if len(data) < len(b.buf) && start+int64(len(data)) < next.off {
		// Read again from the line's start, to return it whole if it fits.
		if data, err = window(b.src, b.buf, start, next.off); err != nil {
			return Line{}, err
		}
		if j := bytes.IndexByte(data, '\n'); j >= 0 {
			line.Length, line.Head = int64(j)+1, data[:j+1]
			return line, nil
		}
	}
	for off := start + int64(len(data)); ; off += int64(len(data)) {
		if data, err = window(b.src, b.buf, off, next.off); err != nil {
			return Line{}, err
		}
		if j := bytes.IndexByte(data, '\n'); j >= 0 {
			line.Length = off + int64(j) + 1 - start
			return line, nil
		}
	}
}

// backward reads back from the next checkpoint, which a newline precedes:
// line n ends at the m-th newline before it and starts after the (m+1)-th,
// where m = next.line-n. Line n comes with its Head only if it lies whole in
// the last window read.
func (b *block) backward() (Line, error) {
	cp, next := b.cp, b.next
	m := next.line - b.n // newlines still to pass, line n's own included
	lineEnd := int64(-1) // one past line n's newline, once seen
	data, err := windowBefore(b.src, b.buf[:b.guess(m)], cp.off, next.off)
	if err != nil {
		return Line{}, err
	}
	if data[len(data)-1] != '\n' {
		return Line{}, ErrMismatch
	}
	base := next.off - int64(len(data)) // offset of data[0]
	for {
		scan := data // what is left to look at, before line n's newline
		if lineEnd < 0 {
			pos, seen := lastNthNewline(data, m)
			if pos >= 0 {
				lineEnd = base + int64(pos) + 1
				scan = data[:pos]
			}
			m -= seen
		}
		if lineEnd >= 0 {
			if i := bytes.LastIndexByte(scan, '\n'); i >= 0 {
				start := base + int64(i) + 1
				line := Line{Number: b.n, Offset: start, Length: lineEnd - start, count: 1}
				if lineEnd <= base+int64(len(data)) {
					line.Head = data[i+1 : int64(i+1)+line.Length]
				}
				return line, nil
			}
		}
		// Read further back; the block's start comes before line n's.
		if base <= cp.off {
			return Line{}, ErrMismatch
		}
		if data, err = windowBefore(b.src, b.buf, cp.off, base); err != nil {
			return Line{}, err
		}
		base -= int64(len(data))
	}
}

// window reads the bytes of src from off up to limit, or as many as fit in
// buf. It fails with ErrMismatch if there are none to read (a newline the
// index promised is missing) or the source is shorter than the index says.
func window(src io.ReaderAt, buf []byte, off, limit int64) ([]byte, error) {
	if off >= limit {
		return nil, ErrMismatch
	}
	p := buf[:min(int64(len(buf)), limit-off)]
	n, err := src.ReadAt(p, off)
	if n == len(p) {
		return p, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil, ErrMismatch
	}
	return nil, err
}

// windowBefore reads the bytes of src that end at end, starting no earlier
// than from, as many as fit in buf.
func windowBefore(src io.ReaderAt, buf []byte, from, end int64) ([]byte, error) {
	off := max(from, end-int64(len(buf)))
	return window(src, buf, off, end)
}

// nthNewline returns the position of the k-th newline in data (k ≥ 1), or -1
// and the number of newlines in data. Long runs are skipped by counting,
// which is vectorised, rather than by finding each newline: in strides of
// 1 KiB, then 128 and 16 bytes within the stride that holds the newline, so
// that dense newlines (a file of empty lines) cost a few dozen calls, not
// one per newline.
func nthNewline(data []byte, k int64) (pos int, seen int64) {
	base := 0
	for _, stride := range [...]int{1024, 128, 16} {
		for k-seen > 8 && len(data)-base > stride {
			c := int64(bytes.Count(data[base:base+stride], newline))
			if seen+c >= k {
				break
			}
			seen += c
			base += stride
		}
	}
	for {
		i := bytes.IndexByte(data[base:], '\n')
		if i < 0 {
			return -1, seen
		}
		seen++
		if seen == k {
			return base + i, seen
		}
		base += i + 1
	}
}

// lastNthNewline returns the position of the k-th newline from the end of
// data (k ≥ 1), or -1 and the number of newlines in data. It counts whole
// strides from the end, then finds the newline forwards within its stride:
// both vectorised, where a byte-wise backward search is not.
func lastNthNewline(data []byte, k int64) (pos int, seen int64) {
	const stride = 256
	for end := len(data); end > 0; end -= stride {
		start := max(end-stride, 0)
		c := int64(bytes.Count(data[start:end], newline))
		if seen+c >= k {
			// The wanted newline is the (c-(k-seen)+1)-th of this stride.
			i, _ := nthNewline(data[start:end], c-(k-seen)+1)
			return start + i, k
		}
		seen += c
	}
	return -1, seen
}
