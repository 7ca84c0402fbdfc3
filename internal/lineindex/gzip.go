package lineindex

import (
	"bytes"
	"cmp"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/lined/lined/internal/inflate"
)

// Encodings of a source, as the header records them.
const (
	plainSource = 0 // the text is the source's bytes
	gzipSource  = 1 // the text is the decompression of a gzip file
)

// encodingOf tells from its first bytes how a source encodes its text: a
// gzip file starts with 1f 8b 08, whatever its name.
func encodingOf(src io.ReaderAt, size int64) (byte, error) {
	if size < 3 {
		return plainSource, nil
	}
	var b [3]byte
	if err := readFull(src, b[:], 0); err != nil {
		return 0, err
	}
	if b == [3]byte{0x1f, 0x8b, 8} {
		return gzipSource, nil
	}
	return plainSource, nil
}

// Access points of a compressed source lie at least accessEvery bytes of
// text apart: reading a line decompresses half that on average. Each point
// costs its window in the index, and windows differ in size (Scan zeroes
// what the text after a point does not copy: little of a window of
// random-looking text is left, much of a log's), so a point is followed by
// the next after windowCost text bytes per byte of its stored window, up to
// accessMax: the windows then take about 1/windowCost of the text.
const (
	accessEvery = 1 << 20
	accessMax   = 8 << 20
	windowCost  = 2048
)

// compressedSpacing is the checkpoint spacing of a compressed source's
// line table, unless the options set one: finding a line decompresses far
// more than it scans, so denser checkpoints would only make the index
// larger.
const compressedSpacing = 256 << 10

// accessPoint is a place in a compressed source where decompression can
// start: an inflate.Point, with its window stored, compressed, in the
// access section.
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

// decodeAccess checks and decodes an access section for a source of size
// bytes whose text is text bytes long.
func decodeAccess(b []byte, size, text int64) (*access, error) {
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
		case p.in < 0 || p.in >= 8*size || p.out < 0 || p.out > text || p.end < 0 || p.end > size:
			return nil, corrupt("access point %d out of the source", i)
		case i == 0 && (p.in != 0 || p.out != 0 || !p.member):
			return nil, corrupt("the first access point is not the start")
		case i > 0 && (p.in <= a.points[i-1].in || p.out < a.points[i-1].out):
			return nil, corrupt("access point %d does not follow the one before", i)
		case p.winOff < 0 || p.winOff > int64(len(a.windows)) || int64(p.winLen) > int64(len(a.windows))-p.winOff:
			return nil, corrupt("access point %d: window outside the section", i)
		case !p.member && p.end <= p.in/8:
			return nil, corrupt("access point %d ends before it starts", i)
		}
		a.points[i] = p
	}
	return a, nil
}

// window returns the window of point i, decompressed into buf.
func (a *access) window(i int, buf []byte) ([]byte, error) {
	p := a.points[i]
	if p.winLen == 0 {
		return buf[:0], nil
	}
	w := a.windows[p.winOff : p.winOff+int64(p.winLen)]
	if crc32.Checksum(w, castagnoli) != p.winCRC {
		return nil, ErrIndexChanged
	}
	fr := flate.NewReader(bytes.NewReader(w))
	defer fr.Close()
	n, err := io.ReadFull(fr, buf[:cap(buf)])
	if err == nil {
		var one [1]byte
		if _, err = io.ReadFull(fr, one[:]); err == nil {
			err = errors.New("window longer than 32 KiB")
		}
	}
	if err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("lineindex: access point %d: %w", i, err)
	}
	return buf[:n], nil
}

// inflatePoint returns point i as inflate takes it, with its window in buf.
func (a *access) inflatePoint(i int, buf []byte) (inflate.Point, error) {
	w, err := a.window(i, buf)
	if err != nil {
		return inflate.Point{}, err
	}
	p := a.points[i]
	return inflate.Point{In: p.in, Out: p.out, End: p.end, Window: w, Member: p.member}, nil
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

// buildGzip indexes the gzip file src (size bytes): its text, decompressed
// once, and access points about every accessEvery bytes of it.
func buildGzip(ctx context.Context, src io.ReaderAt, size int64, modTime time.Time, opts BuildOptions) (*Index, error) {
	opts.Spacing = cmp.Or(opts.Spacing, compressedSpacing)
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
	pending := 0 // the first point whose end is not known yet
	var zbuf bytes.Buffer
	zw, _ := flate.NewWriter(&zbuf, flate.DefaultCompression)
	in := io.NewSectionReader(src, 0, size)
	every := cmp.Or(opts.accessEvery, accessEvery)
	next := int64(0) // the text offset from which the next point is kept
	_, err = inflate.Scan(in, every, func(p []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		tb.write(p)
		if opts.Progress != nil {
			done, _ := in.Seek(0, io.SeekCurrent)
			opts.Progress(done, size)
		}
		return nil
	}, func(p inflate.Point) error {
		if p.Out < next {
			return nil
		}
		ap := accessPoint{in: p.In, out: p.Out, member: p.Member, winOff: int64(len(a.windows))}
		if len(p.Window) > 0 {
			zbuf.Reset()
			zw.Reset(&zbuf)
			zw.Write(p.Window)
			if err := zw.Close(); err != nil {
				return err
			}
			ap.winLen, ap.winCRC = uint32(zbuf.Len()), crc32.Checksum(zbuf.Bytes(), castagnoli)
			a.windows = append(a.windows, zbuf.Bytes()...)
		}
		a.points = append(a.points, ap)
		if opts.accessEvery == 0 {
			next = p.Out + min(max(int64(ap.winLen)*windowCost, every), accessMax)
		}
		return nil
	}, func(end int64) error {
		for i := pending; i < len(a.points); i++ {
			a.points[i].end = end
		}
		pending = len(a.points)
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("not a valid gzip file: %w", err)
	}
	text, tasks := tb.finish()
	ix := &Index{meta: meta{spacing: spacing, stamp: stamp{size: size, modTime: modTime.UnixNano()}, text: text, fingerprint: fp, encoding: gzipSource}}
	ix.lines, ix.cps = assemble(tasks, text)
	ix.segs, ix.partial = segmentsChecksum(tb.segCRCs, text)
	a.encode()
	ix.access = a
	return ix, nil
}

// gzipText reads the text of a gzip source: from the access point before
// each read, or on from where the last read ended, which a run of reads
// through a line, or a range of lines, does.
type gzipText struct {
	src  io.ReaderAt // the source
	size int64       // of the source
	text int64       // of the text
	a    *access
	mu   sync.Mutex
	idle []*cursor // positioned decoders, the most recently used last
}

// cursor is a decoder positioned at pos in the text.
type cursor struct {
	r      *inflate.Reader
	pos    int64
	window []byte
	skip   []byte
}

// maxCursors is how many positioned decoders a text keeps for reads that
// go on where one ended.
const maxCursors = 4

func (g *gzipText) ReadAt(p []byte, off int64) (int, error) {
	if off >= g.text {
		return 0, io.EOF
	}
	c, err := g.cursorAt(off)
	if err != nil {
		return 0, err
	}
	n, err := io.ReadFull(c.r, p)
	c.pos += int64(n)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		err = io.EOF
	case err != nil:
		return n, err // c is dropped: its decoder is in error
	}
	g.put(c)
	return n, err
}

// cursorAt returns a decoder positioned at text offset off.
func (g *gzipText) cursorAt(off int64) (*cursor, error) {
	i := g.a.find(off)
	if i < 0 {
		return nil, io.EOF
	}
	start := g.a.points[i].out
	g.mu.Lock()
	var c *cursor
	for k := len(g.idle) - 1; k >= 0; k-- {
		if d := g.idle[k]; d.pos <= off && d.pos >= start {
			c = d
			g.idle = append(g.idle[:k], g.idle[k+1:]...)
			break
		}
	}
	g.mu.Unlock()
	if c == nil {
		c = &cursor{window: make([]byte, 0, 32<<10), skip: make([]byte, 32<<10)}
		p, err := g.a.inflatePoint(i, c.window)
		if err != nil {
			return nil, err
		}
		c.r = inflate.NewReader(g.src, g.size, p)
		c.pos = start
	}
	for c.pos < off {
		n, err := c.r.Read(c.skip[:min(int64(len(c.skip)), off-c.pos)])
		c.pos += int64(n)
		if err != nil {
			if err == io.EOF {
				return nil, ErrMismatch // the text ends before the index says
			}
			return nil, err
		}
	}
	return c, nil
}

func (g *gzipText) put(c *cursor) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.idle) == maxCursors {
		g.idle = append(g.idle[:0], g.idle[1:]...)
	}
	g.idle = append(g.idle, c)
}
