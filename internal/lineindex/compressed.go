package lineindex

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Encodings of a source, as the header records them.
const (
	plainSource = 0 // the text is the source's bytes
	gzipSource  = 1 // the text is the decompression of a gzip file
	zstdSource  = 2 // the text is the decompression of a zstd file
)

// encodingOf tells from its first bytes how a source encodes its text,
// whatever its name: a gzip file starts with 1f 8b 08, a zstd file with
// the magic number 28 b5 2f fd of a frame, perhaps after skippable frames
// (magic 50..5f 2a 4d 18, then their length), as pzstd writes them.
func encodingOf(src io.ReaderAt, size int64) (byte, error) {
	var b [8]byte
	le := binary.LittleEndian
	for off, skipped := int64(0), 0; off < size && skipped <= maxLeadingSkippable; skipped++ {
		n := min(size-off, 8)
		if err := readFull(src, b[:n], off); err != nil {
			return 0, err
		}
		switch {
		case off == 0 && n >= 3 && [3]byte(b[:3]) == [3]byte{0x1f, 0x8b, 8}:
			return gzipSource, nil
		case n < 4:
			return plainSource, nil
		case le.Uint32(b[:4]) == 0xFD2FB528:
			return zstdSource, nil
		case le.Uint32(b[:4])&0xFFFFFFF0 == 0x184D2A50 && n == 8:
			off += 8 + int64(le.Uint32(b[4:]))
		default:
			return plainSource, nil
		}
	}
	return plainSource, nil
}

// Compressed tells whether f is a compressed file, gzip or zstd, by its
// first bytes; false if they cannot be read.
func Compressed(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	enc, err := encodingOf(f, fi.Size())
	return err == nil && enc != plainSource
}

// maxLeadingSkippable is how many skippable frames encodingOf passes over
// at the start of a file to find a zstd frame.
const maxLeadingSkippable = 16

// Access points of a compressed source lie at least accessEvery bytes of
// text apart: reading a line decompresses half that on average (plus, for
// zstd, up to a frame). Each gzip point costs its window in the index, and
// windows differ in size (Scan zeroes what the text after a point does not
// copy: little of a window of random-looking text is left, much of a
// log's), so a gzip point is followed by the next after windowCost text
// bytes per byte of its stored window, up to accessMax: the windows then
// take about 1/windowCost of the text. A zstd point, a frame start, costs
// its 48-byte entry: the first frame accessEvery after the point before is
// the next.
const (
	accessEvery = 1 << 20
	accessMax   = 8 << 20
	windowCost  = 2048
)

// accessPoint is a place in a compressed source where decompression can
// start. For gzip it is an inflate.Point, with its window stored,
// compressed, in the access section; for zstd, a frame start (see the
// package documentation for what each field holds).
type accessPoint struct {
	in, out, end   int64
	winOff         int64 // of the compressed window, from the windows' start
	winLen, winCRC uint32
	member         bool
}

// access is the access section of the index of a compressed source.
//
// A section built, or decoded into memory, holds its points in the heap. A
// section read from an index file is mapped, like the table: the heap
// holds only a sum and the first text offset of each chunk of
// accessChunk points, and every read copies a chunk and checks it against
// its sum, or a window against its checksum, so that what is used is what
// was checked, whatever happens to the file.
type access struct {
	n       int           // points
	points  []accessPoint // in memory; nil if mapped
	windows []byte        // compressed windows, one after another: the end of enc
	enc     []byte        // the section as the format encodes it
	// mapped: the sums and the first points' text offsets of the chunks;
	// guard runs reads of enc (see Index.guard)
	sums    []uint32
	firsts  []int64
	guard   func(func() error) error
	scratch sync.Pool // *[accessChunkLen]byte, for the copies
}

const (
	accessHeadLen  = 8
	accessEntryLen = 48
	accessChunk    = 32 // points per chunk of a mapped section
	accessChunkLen = accessChunk * accessEntryLen
)

// encode encodes the access section as the format describes it, into
// a.enc, where a.windows then lies.
func (a *access) encode() {
	le := binary.LittleEndian
	b := make([]byte, accessHeadLen, accessHeadLen+accessEntryLen*len(a.points)+len(a.windows))
	le.PutUint32(b, uint32(len(a.points)))
	for _, p := range a.points {
		var e [accessEntryLen]byte
		le.PutUint64(e[0:], uint64(p.in))
		le.PutUint64(e[8:], uint64(p.out))
		le.PutUint64(e[16:], uint64(p.end))
		le.PutUint64(e[24:], uint64(p.winOff))
		le.PutUint32(e[32:], p.winLen)
		le.PutUint32(e[36:], p.winCRC)
		if p.member {
			e[40] = 1
		}
		b = append(b, e[:]...)
	}
	a.enc = append(b, a.windows...)
	a.windows = a.enc[len(b):]
	a.n = len(a.points)
}

// accessCheck checks the points of an access section, one after another,
// as they are decoded.
type accessCheck struct {
	enc        byte // the source's encoding
	size, text int64
	n          int   // points announced
	windows    int64 // bytes of windows
	prev       accessPoint
}

// newAccessCheck checks the head of an access section of encLen bytes,
// which starts with head, of a source of encoding enc and size bytes,
// whose text is text bytes long.
func newAccessCheck(head []byte, encLen int, enc byte, size, text int64) (*accessCheck, error) {
	if len(head) < accessHeadLen || !allZero(head[4:8]) {
		return nil, corrupt("access section too short or its reserved bytes set")
	}
	n := uint64(binary.LittleEndian.Uint32(head))
	if n == 0 || n > uint64(encLen-accessHeadLen)/accessEntryLen {
		return nil, corrupt("access section: %d points do not fit", n)
	}
	c := &accessCheck{enc: enc, size: size, text: text, n: int(n), windows: int64(encLen) - accessHeadLen - accessEntryLen*int64(n)}
	if enc == zstdSource && c.windows > 0 {
		return nil, corrupt("access section: %d bytes of windows for zstd", c.windows)
	}
	return c, nil
}

// point decodes and checks point i, from its entry e, after the point
// before.
func (c *accessCheck) point(i int, e []byte) (accessPoint, error) {
	p := decodePoint(e)
	switch {
	case e[40] > 1 || !allZero(e[41:48]):
		return p, corrupt("access point %d: reserved bytes set", i)
	case p.in < 0 || p.in >= 8*c.size || p.out < 0 || p.out > c.text || p.end < 0:
		return p, corrupt("access point %d out of the source", i)
	case i == 0 && p.out != 0:
		return p, corrupt("the first access point is not the start of the text")
	case i > 0 && (p.in <= c.prev.in || p.out < c.prev.out):
		return p, corrupt("access point %d does not follow the one before", i)
	case p.winOff < 0 || p.winOff > c.windows || int64(p.winLen) > c.windows-p.winOff:
		return p, corrupt("access point %d: window outside the section", i)
	}
	var err error
	switch c.enc {
	case gzipSource:
		err = checkGzipPoint(i, p, c.size)
	case zstdSource:
		err = checkZstdPoint(i, p, c.prev, c.text)
	}
	c.prev = p
	return p, err
}

// decodePoint decodes the entry e of an access point.
func decodePoint(e []byte) accessPoint {
	le := binary.LittleEndian
	return accessPoint{
		in: int64(le.Uint64(e[0:])), out: int64(le.Uint64(e[8:])), end: int64(le.Uint64(e[16:])),
		winOff: int64(le.Uint64(e[24:])), winLen: le.Uint32(e[32:]), winCRC: le.Uint32(e[36:]),
		member: e[40] == 1,
	}
}

// decodeAccess checks and decodes the access section b, in memory, of a
// source of encoding enc and size bytes, whose text is text bytes long.
func decodeAccess(b []byte, enc byte, size, text int64) (*access, error) {
	c, err := newAccessCheck(b, len(b), enc, size, text)
	if err != nil {
		return nil, err
	}
	a := &access{n: c.n, points: make([]accessPoint, c.n), enc: b}
	a.windows = b[accessHeadLen+accessEntryLen*c.n:]
	for i := range a.points {
		if a.points[i], err = c.point(i, b[accessHeadLen+accessEntryLen*i:]); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// mapAccess checks the access section b, a mapping of the index file
// whose reads guard runs, against its checksum sum, and returns it
// mapped. Everything is checked and summed from one copy of each piece.
func mapAccess(b []byte, guard func(func() error) error, sum uint32, enc byte, size, text int64) (*access, error) {
	var a *access
	err := guard(func() error {
		var head [accessHeadLen]byte
		copy(head[:], b)
		c, err := newAccessCheck(head[:], len(b), enc, size, text)
		if err != nil {
			return err
		}
		a = &access{n: c.n, enc: b, windows: b[accessHeadLen+accessEntryLen*c.n:], guard: guard}
		crc := crc32.Checksum(head[:], castagnoli)
		buf := make([]byte, 64<<10)
		for i := 0; i < c.n; i += accessChunk {
			chunk := buf[:copy(buf[:accessChunkLen], b[accessHeadLen+accessEntryLen*i:accessHeadLen+accessEntryLen*c.n])]
			crc = crc32.Update(crc, castagnoli, chunk)
			a.sums = append(a.sums, crc32.Checksum(chunk, castagnoli))
			for j := 0; j < len(chunk); j += accessEntryLen {
				p, err := c.point(i+j/accessEntryLen, chunk[j:])
				if err != nil {
					return err
				}
				if j == 0 {
					a.firsts = append(a.firsts, p.out)
				}
			}
		}
		for w := a.windows; len(w) > 0; {
			n := copy(buf, w)
			crc = crc32.Update(crc, castagnoli, buf[:n])
			w = w[n:]
		}
		if crc != sum {
			return corrupt("access section checksum mismatch")
		}
		return nil
	})
	if errors.Is(err, ErrIndexChanged) {
		return nil, corrupt("file shrank while it was read")
	}
	return a, err
}

// point returns access point i.
func (a *access) point(i int) (p accessPoint, err error) {
	if a.points != nil {
		return a.points[i], nil
	}
	err = a.chunk(i/accessChunk, func(entries []byte) {
		p = decodePoint(entries[i%accessChunk*accessEntryLen:])
	})
	return p, err
}

// find returns i, the last access point at or before text offset off, and
// the text that starts there: from its offset to the next point's, or end
// after the last point. One chunk of a mapped section is read: the next
// chunk's first offset is in the heap.
func (a *access) find(off, end int64) (i int, from, to int64, err error) {
	after := func(n int, out func(int) int64) int {
		return sort.Search(n, func(k int) bool { return out(k) > off }) - 1
	}
	if a.points != nil {
		i = after(a.n, func(k int) int64 { return a.points[k].out })
		if i < 0 {
			return -1, 0, 0, nil
		}
		to = end
		if i+1 < a.n {
			to = a.points[i+1].out
		}
		return i, a.points[i].out, to, nil
	}
	c := after(len(a.firsts), func(k int) int64 { return a.firsts[k] })
	if c < 0 {
		return -1, 0, 0, nil
	}
	err = a.chunk(c, func(entries []byte) {
		n := len(entries) / accessEntryLen
		out := func(k int) int64 { return int64(binary.LittleEndian.Uint64(entries[k*accessEntryLen+8:])) }
		k := after(n, out)
		i, from, to = c*accessChunk+k, out(k), end
		switch {
		case k+1 < n:
			to = out(k + 1)
		case c+1 < len(a.firsts):
			to = a.firsts[c+1]
		}
	})
	return i, from, to, err
}

// chunk calls use with a copy of chunk c of a mapped section's entries,
// checked against its sum.
func (a *access) chunk(c int, use func(entries []byte)) error {
	buf, _ := a.scratch.Get().(*[accessChunkLen]byte)
	if buf == nil {
		buf = new([accessChunkLen]byte)
	}
	defer a.scratch.Put(buf)
	return a.guard(func() error {
		from := accessHeadLen + c*accessChunkLen
		entries := buf[:copy(buf[:], a.enc[from:accessHeadLen+a.n*accessEntryLen])]
		if crc32.Checksum(entries, castagnoli) != a.sums[c] {
			return ErrIndexChanged
		}
		use(entries)
		return nil
	})
}

// windowBytes returns the compressed window of p: if the section is
// mapped, a copy in *buf, which it grows if need be. The caller checks it
// against p.winCRC.
func (a *access) windowBytes(p accessPoint, buf *[]byte) ([]byte, error) {
	w := a.windows[p.winOff : p.winOff+int64(p.winLen)]
	if a.guard == nil {
		return w, nil
	}
	if cap(*buf) < len(w) {
		*buf = make([]byte, len(w))
	}
	c := (*buf)[:len(w)]
	err := a.guard(func() error { copy(c, w); return nil })
	return c, err
}

// textBuilder indexes a text that arrives in order, piece by piece, as
// the tasks of a build index theirs.
type textBuilder struct {
	t       task
	spacing int64
	grid    int64 // the next grid point whose checkpoint is unresolved
	off     int64 // text bytes so far
	crc     uint32
	segCRCs []uint32
}

func (b *textBuilder) write(p []byte) {
	if b.off == 0 && len(p) > 0 {
		b.t.cps = append(b.t.cps, checkpoint{line: 0, off: 0})
		b.grid = b.spacing
	}
	for len(p) > 0 {
		piece := p[:min(int64(len(p)), segmentLen-b.off%segmentLen)]
		b.crc = crc32.Update(b.crc, castagnoli, piece)
		b.grid = b.t.scan(piece, b.off, b.grid, math.MaxInt64, b.spacing)
		b.off += int64(len(piece))
		p = p[len(piece):]
		if b.off%segmentLen == 0 {
			b.segCRCs = append(b.segCRCs, b.crc)
			b.crc = 0
		}
	}
}

// finish returns the text's length and its one task, complete.
func (b *textBuilder) finish() (int64, []task) {
	if b.off%segmentLen != 0 {
		b.segCRCs = append(b.segCRCs, b.crc)
	}
	if n := len(b.t.cps); n > 0 && b.t.cps[n-1].off == b.off {
		b.t.cps = b.t.cps[:n-1] // a checkpoint at the end of the text starts no line
	}
	b.t.end = b.off
	return b.off, []task{b.t}
}

// codec is what an encoding brings to the build and to reading: the one
// thing that differs between gzip and zstd.
type codec struct {
	// scan decompresses the source read from in once, passing its text,
	// in order, to text, and adding access points to a about every
	// every bytes of text. Its errors say what is wrong with the source;
	// text's come back as they are.
	scan func(in io.Reader, every int64, opts BuildOptions, text func([]byte) error, a *access) error
	// decoder returns a decoder of the source, to be reset to a point.
	decoder func(src io.ReaderAt, size int64, a *access) decoder
}

var codecs = [...]codec{
	gzipSource: {scan: scanGzip, decoder: newGzipDecoder},
	zstdSource: {scan: scanZstd, decoder: newZstdDecoder},
}

// decoder reads the text of a compressed source from an access point on.
type decoder interface {
	io.Reader
	// reset makes it read from access point i.
	reset(i int) error
}

// buildCompressed indexes the compressed file src (size bytes) of
// encoding enc: its text, decompressed once, and its access points.
func buildCompressed(ctx context.Context, src io.ReaderAt, size int64, modTime time.Time, enc byte, opts BuildOptions) (*Index, error) {
	spacing, err := opts.spacing()
	if err != nil {
		return nil, err
	}
	fp, err := fingerprint(src, size)
	if err != nil {
		return nil, err
	}
	tb := &textBuilder{spacing: spacing}
	a := &access{}
	in := io.NewSectionReader(src, 0, size)
	err = codecs[enc].scan(in, cmp.Or(opts.accessEvery, accessEvery), opts, func(p []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		tb.write(p)
		if opts.Progress != nil {
			done, _ := in.Seek(0, io.SeekCurrent)
			opts.Progress(done, size)
		}
		return nil
	}, a)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	text, tasks := tb.finish()
	ix := &Index{meta: meta{spacing: spacing, stamp: stamp{size: size, modTime: modTime.UnixNano()}, text: text, fingerprint: fp, encoding: enc}}
	ix.lines, ix.cps = assemble(tasks, text)
	ix.segs, ix.partial = segmentsChecksum(tb.segCRCs, text)
	a.encode()
	ix.access = a
	return ix, nil
}

// compressedText reads the text of a compressed source: each block from
// the cache if it holds it, else from a decoder, restarted at the access
// point before the read, or going on from where a read ended, which a run
// of reads through a line, or a range of lines, does.
//
// A text has as many decoders, idle or reading, as Go runs goroutines at
// once (GOMAXPROCS), from 2 to maxCursors: a read that must decompress
// waits for one. More could not decode at once, and a zstd decoder holds
// its frame's window (up to maxZstdWindow), so this bounds the memory of a
// server under any load.
type compressedText struct {
	id    uint64 // names the text's blocks in the cache
	text  int64  // of the text
	a     *access
	open  func() decoder
	cache *BlockCache
	stats *DecompressStats
	slots chan struct{} // one per cursor reading; its capacity is the most cursors
	mu    sync.Mutex
	idle  []*cursor // positioned decoders, the most recently used last
}

// cursor is a decoder positioned at pos in the text.
type cursor struct {
	d   decoder
	pos int64
	// run is the text read on from where the cursor last had to be
	// moved to (restarted, or skipped forward): a long run is a long
	// line or range streaming through.
	run  int64
	skip []byte
}

// maxCursors is the most decoders a text keeps, and reads at once.
const maxCursors = 4

// textIDs numbers the compressed texts, for their blocks' keys: a file
// indexed again is a new text, whose blocks are not its old version's.
var textIDs atomic.Uint64

func newCompressedText(src io.ReaderAt, ix *Index, o SourceOptions) *compressedText {
	c := codecs[ix.encoding]
	size, a := ix.size, ix.access
	return &compressedText{
		id:    textIDs.Add(1),
		text:  ix.text,
		a:     a,
		open:  func() decoder { return c.decoder(src, size, a) },
		cache: o.Cache,
		stats: cmp.Or(o.Stats, new(DecompressStats)),
		slots: make(chan struct{}, min(max(runtime.GOMAXPROCS(0), 2), maxCursors)),
	}
}

func (t *compressedText) ReadAt(p []byte, off int64) (int, error) {
	if off >= t.text {
		return 0, io.EOF
	}
	want := len(p)
	p = p[:min(int64(len(p)), t.text-off)]
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		b, err := t.blockAt(pos)
		if err != nil {
			return n, err
		}
		if m := t.cache.get(b.key, int(pos-b.key.start), p[n:]); m > 0 {
			t.stats.Hits.Add(1)
			n += m
			continue
		}
		if t.cache != nil {
			t.stats.Misses.Add(1)
		}
		m, err := t.decode(p[n:], pos, b)
		n += m
		if err != nil {
			return n, err
		}
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// textBlock is a block of the text: the key of its first byte, its
// length, and the access point before it, which starts at text offset
// from.
type textBlock struct {
	key   blockKey
	len   int
	point int
	from  int64
}

// blockAt returns the block that holds text offset pos.
func (t *compressedText) blockAt(pos int64) (textBlock, error) {
	i, from, to, err := t.a.find(pos, t.text)
	if err != nil {
		return textBlock{}, err
	}
	bs := t.cache.blockLen()
	start := from + (pos-from)/bs*bs
	return textBlock{key: blockKey{t.id, start}, len: int(min(to-start, bs)), point: i, from: from}, nil
}

// decode reads into p the text from pos, in block b: the whole block into
// a slot of the cache, of which what p takes, or, with no slot, straight
// into p.
func (t *compressedText) decode(p []byte, pos int64, b textBlock) (int, error) {
	t.slots <- struct{}{}
	defer func() { <-t.slots }()
	slot, mem := int32(-1), []byte(nil)
	if !t.streaming(pos) {
		slot, mem = t.cache.reserve()
	}
	from, keepFrom := pos, pos
	if slot >= 0 {
		from, keepFrom = b.key.start, b.key.start
		// The next block starts where this one ends, at a point or not.
		if next := b.key.start + int64(b.len); next < t.text && t.cache.holds(blockKey{t.id, next}) {
			// The read goes backwards, it seems: the blocks before
			// this one are likely read next.
			keepFrom -= t.cache.Size() / 2
		}
	}
	c, err := t.cursorAt(from, b, keepFrom)
	if err != nil {
		t.cache.release(slot)
		return 0, err
	}
	if slot < 0 {
		n, err := t.read(c, p)
		if err == nil {
			t.put(c)
		}
		return n, err
	}
	mem = mem[:b.len]
	if _, err := t.read(c, mem); err != nil {
		t.cache.release(slot)
		return 0, err
	}
	n := copy(p, mem[pos-b.key.start:])
	t.cache.publish(slot, b.key, b.len)
	t.put(c)
	return n, nil
}

// streaming tells whether a read at pos goes on from a cursor that has
// read more than an eighth of the cache without a break: the rest of a
// long line or range streams past the cache, which would otherwise trade
// the blocks that other reads find for ones read once.
func (t *compressedText) streaming(pos int64) bool {
	if t.cache == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.idle {
		if c.pos == pos && c.run > t.cache.Size()/8 {
			return true
		}
	}
	return false
}

// read fills p from c's decoder. A cursor whose read fails is dropped: its
// decoder is in error.
func (t *compressedText) read(c *cursor, p []byte) (int, error) {
	n, err := io.ReadFull(c.d, p)
	c.pos += int64(n)
	c.run += int64(n)
	t.stats.Bytes.Add(int64(n))
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = ErrMismatch // the text ends before the index says
	}
	return n, err
}

// cursorAt returns a decoder positioned at text offset off, in block b:
// an idle one at or before off, past b's access point, or else the least
// recently used, or a new one, restarted at the point. On its way it keeps
// in the cache the whole blocks it passes from keepFrom on that the cache
// does not hold yet.
func (t *compressedText) cursorAt(off int64, b textBlock, keepFrom int64) (*cursor, error) {
	start := b.from
	t.mu.Lock()
	var c *cursor
	positioned := false
	for k := len(t.idle) - 1; k >= 0; k-- {
		if d := t.idle[k]; d.pos <= off && d.pos >= start {
			c, positioned = d, true
			t.idle = append(t.idle[:k], t.idle[k+1:]...)
			break
		}
	}
	if c == nil && len(t.idle) > 0 {
		c = t.idle[0]
		t.idle = t.idle[1:]
	}
	t.mu.Unlock()
	if c == nil {
		c = &cursor{d: t.open(), skip: make([]byte, 32<<10)}
	}
	if !positioned {
		if err := c.d.reset(b.point); err != nil {
			return nil, err
		}
		c.pos, c.run = start, 0
	}
	moved := c.pos != off
	bs := t.cache.blockLen()
	for c.pos < off {
		inBlock := (c.pos - start) % bs
		if inBlock == 0 && c.pos >= keepFrom && off-c.pos >= bs {
			if kept, err := t.keep(c); err != nil {
				return nil, err
			} else if kept {
				continue
			}
		}
		if _, err := t.read(c, c.skip[:min(int64(len(c.skip)), off-c.pos, bs-inBlock)]); err != nil {
			return nil, err
		}
	}
	if moved {
		c.run = 0
	}
	return c, nil
}

// keep reads the whole block at c into the cache, unless it holds it
// already or has no slot free, and tells whether it did.
func (t *compressedText) keep(c *cursor) (bool, error) {
	k := blockKey{t.id, c.pos}
	if t.cache.holds(k) {
		return false, nil
	}
	slot, mem := t.cache.reserve()
	if slot < 0 {
		return false, nil
	}
	if _, err := t.read(c, mem); err != nil {
		t.cache.release(slot)
		return false, err
	}
	t.cache.publish(slot, k, len(mem))
	return true, nil
}

func (t *compressedText) put(c *cursor) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.idle) == cap(t.slots) {
		t.idle = append(t.idle[:0], t.idle[1:]...)
	}
	t.idle = append(t.idle, c)
}
