package lineindex

import (
	"cmp"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math"
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
type access struct {
	points  []accessPoint
	windows []byte // compressed windows, one after another: the end of enc
	enc     []byte // the section as the format encodes it
}

const (
	accessHeadLen  = 8
	accessEntryLen = 48
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
}

// decodeAccess checks and decodes the access section of a source of
// encoding enc and size bytes, whose text is text bytes long.
func decodeAccess(b []byte, enc byte, size, text int64) (*access, error) {
	le := binary.LittleEndian
	if len(b) < accessHeadLen || !allZero(b[4:8]) {
		return nil, corrupt("access section too short or its reserved bytes set")
	}
	n := uint64(le.Uint32(b))
	if n == 0 || n > uint64(len(b)-accessHeadLen)/accessEntryLen {
		return nil, corrupt("access section: %d points do not fit", n)
	}
	a := &access{points: make([]accessPoint, n), enc: b}
	a.windows = b[accessHeadLen+accessEntryLen*n:]
	for i := range a.points {
		e := b[accessHeadLen+accessEntryLen*i:]
		p := accessPoint{
			in: int64(le.Uint64(e[0:])), out: int64(le.Uint64(e[8:])), end: int64(le.Uint64(e[16:])),
			winOff: int64(le.Uint64(e[24:])), winLen: le.Uint32(e[32:]), winCRC: le.Uint32(e[36:]),
			member: e[40] == 1,
		}
		switch {
		case e[40] > 1 || !allZero(e[41:48]):
			return nil, corrupt("access point %d: reserved bytes set", i)
		case p.in < 0 || p.in >= 8*size || p.out < 0 || p.out > text || p.end < 0:
			return nil, corrupt("access point %d out of the source", i)
		case i == 0 && p.out != 0:
			return nil, corrupt("the first access point is not the start of the text")
		case i > 0 && (p.in <= a.points[i-1].in || p.out < a.points[i-1].out):
			return nil, corrupt("access point %d does not follow the one before", i)
		case p.winOff < 0 || p.winOff > int64(len(a.windows)) || int64(p.winLen) > int64(len(a.windows))-p.winOff:
			return nil, corrupt("access point %d: window outside the section", i)
		}
		var err error
		switch enc {
		case gzipSource:
			err = checkGzipPoint(i, p, size)
		case zstdSource:
			err = checkZstdPoint(i, p, a.points[:i], text)
		}
		if err != nil {
			return nil, err
		}
		a.points[i] = p
	}
	if enc == zstdSource && len(a.windows) > 0 {
		return nil, corrupt("access section: %d bytes of windows for zstd", len(a.windows))
	}
	return a, nil
}

// find returns the last access point at or before text offset off.
func (a *access) find(off int64) int {
	return sort.Search(len(a.points), func(i int) bool { return a.points[i].out > off }) - 1
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
		b := t.blockAt(pos)
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
// length, and the access point before it.
type textBlock struct {
	key   blockKey
	len   int
	point int
}

// blockAt returns the block that holds text offset pos.
func (t *compressedText) blockAt(pos int64) textBlock {
	i := t.a.find(pos)
	from := t.a.points[i].out
	bs := t.cache.blockLen()
	start := from + (pos-from)/bs*bs
	end := t.text
	if i+1 < len(t.a.points) {
		end = t.a.points[i+1].out
	}
	return textBlock{key: blockKey{t.id, start}, len: int(min(end-start, bs)), point: i}
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
		if next := b.key.start + int64(b.len); next < t.text && t.cache.holds(t.blockAt(next).key) {
			// The read goes backwards, it seems: the blocks before
			// this one are likely read next.
			keepFrom -= t.cache.Size() / 2
		}
	}
	c, err := t.cursorAt(from, b.point, keepFrom)
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

// cursorAt returns a decoder positioned at text offset off, after access
// point i: an idle one at or before off, past the point, or else the
// least recently used, or a new one, restarted at the point. On its way it
// keeps in the cache the whole blocks it passes from keepFrom on that the
// cache does not hold yet.
func (t *compressedText) cursorAt(off int64, i int, keepFrom int64) (*cursor, error) {
	start := t.a.points[i].out
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
		if err := c.d.reset(i); err != nil {
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
