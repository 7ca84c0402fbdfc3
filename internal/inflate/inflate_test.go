package inflate

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestStdlibLevels(t *testing.T) {
	inputs := map[string][]byte{
		"empty":      nil,
		"one":        {'x'},
		"text32K":    textLines(1, 32768),
		"text32K+1":  textLines(2, 32769),
		"text32K-1":  textLines(3, 32767),
		"text3M":     textLines(4, 3<<20+17),
		"random100K": randomBytes(5, 100000),
		"zeros1M":    make([]byte, 1<<20),
	}
	if testing.Short() {
		// The race detector's run: it has nothing concurrent to watch here.
		delete(inputs, "text3M")
		delete(inputs, "zeros1M")
	}
	for name, data := range inputs {
		for level := -2; level <= 9; level++ {
			if len(data) > 1<<20 && level != 6 && level != 0 && level != -2 && level != 1 {
				continue
			}
			gz := gzipLevel(t, data, level)
			checkScan(t, name+"/level"+itoa(level+2), gz, data, 64<<10)
		}
	}
}

func TestExternalGzip(t *testing.T) {
	data := textLines(10, shortOr(256<<10, 2<<20))
	for _, c := range [][]string{{"gzip", "-1"}, {"gzip", "-6"}, {"gzip", "-9"}, {"pigz", "-6"}, {"pigz", "-1", "-b", "128"}, {"pigz", "-11", "-b", "32"}} {
		t.Run(strings.Join(c, ""), func(t *testing.T) {
			gz := gzipCmd(t, data, c[0], c[1:]...)
			checkScan(t, strings.Join(c, " "), gz, data, 100<<10)
		})
	}
}

func TestPointsEveryBoundary(t *testing.T) {
	// Small blocks (flate flushes) and every=0: each block boundary is a
	// point, including ones inside a byte.
	data := textLines(11, 300000)
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, 6)
	for i := 0; i < len(data); i += 7000 {
		zw.Write(data[i:min(i+7000, len(data))])
		if i%3 == 0 {
			zw.Flush() // an empty stored block, byte aligned
		}
	}
	zw.Close()
	gz := buf.Bytes()
	s := scanBytes(gz, 0)
	if s.err != nil {
		t.Fatal(s.err)
	}
	if len(s.points) < 20 {
		t.Fatalf("only %d points", len(s.points))
	}
	checkPoints(t, "every0", gz, data, s.points, 1000)
	for _, every := range []int64{1, 1000, 32768, 100000, 1 << 40} {
		checkScan(t, "every"+itoa(int(every)), gz, data, every)
	}
}

func TestPointSpacing(t *testing.T) {
	data := textLines(12, shortOr(1<<20, 4<<20))
	gz := gzipLevel(t, data, 6)
	every := int64(len(data) / 16)
	s := scanBytes(gz, every)
	if s.err != nil {
		t.Fatal(s.err)
	}
	for i := 1; i < len(s.points); i++ {
		if d := s.points[i].Out - s.points[i-1].Out; d < every {
			t.Fatalf("points %d and %d only %d apart", i-1, i, d)
		}
	}
	if len(s.points) < 8 {
		t.Fatalf("%d points for %d bytes every %d", len(s.points), len(data), every)
	}
	checkPoints(t, "spacing", gz, data, s.points, 1000)
}

func TestMultiMember(t *testing.T) {
	a, b := textLines(20, 100000), textLines(21, 50000)
	var gz, want []byte
	gz = append(gz, gzipLevel(t, a, 6)...)
	gz = append(gz, gzipLevel(t, nil, 6)...)
	gz = append(gz, gzipLevel(t, b, 1)...)
	gz = append(gz, gzipLevel(t, nil, 0)...)
	gz = append(gz, gzipLevel(t, a[:40000], 0)...)
	want = append(append(append(want, a...), b...), a[:40000]...)
	for _, every := range []int64{0, 1, 30000, 1 << 20} {
		checkScan(t, "multi", gz, want, every)
	}
	// Only empty members.
	e := gzipLevel(t, nil, 6)
	checkScan(t, "empties", bytes.Repeat(e, 5), nil, 1)
}

func TestBGZFLike(t *testing.T) {
	data := textLines(30, shortOr(256<<10, 1<<20))
	var gz []byte
	for i := 0; i < len(data); i += 65280 {
		m := gzipLevel(t, data[i:min(i+65280, len(data))], 6)
		// BGZF puts its block size in FEXTRA.
		h := []byte{0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 255, 6, 0, 'B', 'C', 2, 0, 0, 0}
		binary.LittleEndian.PutUint16(h[16:], uint16(len(m)+8-1))
		gz = append(append(gz, h...), m[10:]...)
	}
	gz = append(gz, 0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 255, 6, 0, 'B', 'C', 2, 0, 27, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	if got, err := stdGunzip(gz); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("compress/gzip disagrees with the test: %v", err)
	}
	checkScan(t, "bgzf", gz, data, 0)
	checkScan(t, "bgzf", gz, data, 200000)
}

// header builds a member header with the given flags set.
func header(flags byte, extra []byte, name, comment string) []byte {
	h := []byte{0x1f, 0x8b, 8, flags, 1, 2, 3, 4, 0, 3}
	if flags&4 != 0 {
		h = binary.LittleEndian.AppendUint16(h, uint16(len(extra)))
		h = append(h, extra...)
	}
	if flags&8 != 0 {
		h = append(append(h, name...), 0)
	}
	if flags&16 != 0 {
		h = append(append(h, comment...), 0)
	}
	if flags&2 != 0 {
		h = binary.LittleEndian.AppendUint16(h, uint16(crc32.ChecksumIEEE(h)))
	}
	return h
}

func rawDeflate(t testing.TB, data []byte, level int) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, level)
	w.Write(data)
	w.Close()
	return buf.Bytes()
}

func trailer(data []byte) []byte {
	t := binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
	return binary.LittleEndian.AppendUint32(t, uint32(len(data)))
}

func TestHeaderFlags(t *testing.T) {
	data := textLines(40, 70000)
	body := append(rawDeflate(t, data, 6), trailer(data)...)
	for flags := byte(0); flags < 32; flags++ {
		h := header(flags, bytes.Repeat([]byte("x"), 300), "name.txt", strings.Repeat("comment ", 40))
		gz := append(append([]byte{}, h...), body...)
		if got, err := stdGunzip(gz); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("flags %#x: compress/gzip: %v", flags, err)
		}
		checkScan(t, "flags"+itoa(int(flags)), gz, data, 20000)
		if flags&2 != 0 {
			bad := bytes.Clone(gz)
			bad[len(h)-1] ^= 1
			if s := scanBytes(bad, 0); s.err == nil || !strings.Contains(s.err.Error(), "CRC16") {
				t.Fatalf("flags %#x: bad header CRC: %v", flags, s.err)
			}
		}
	}
	for _, f := range []byte{0x20, 0x40, 0x80} {
		gz := append(header(f, nil, "", ""), body...)
		if s := scanBytes(gz, 0); s.err == nil || !strings.Contains(s.err.Error(), "reserved") {
			t.Fatalf("flag %#x: %v", f, s.err)
		}
	}
}

func TestHandMadeBlocks(t *testing.T) {
	// A fixed block with matches at distance 32768 and of length 258, an
	// empty stored block, an empty fixed block, a stored block and a match
	// reaching back across it.
	data := textLines(50, 32768)
	var w bitWriter
	w.bits(0, 1)
	w.bits(1, 2)
	for _, c := range data {
		w.fixedSym(int(c))
	}
	w.fixedMatch(258, 32768)
	w.fixedMatch(3, 32768)
	w.fixedMatch(258, 1)
	w.fixedSym(256)
	want := append(bytes.Clone(data), data[:258]...)
	want = append(want, data[258:261]...)
	for range 258 {
		want = append(want, want[len(want)-1])
	}
	// Empty stored block.
	w.bits(0, 1)
	w.bits(0, 2)
	w.align()
	w.bits(0, 16)
	w.bits(0xffff, 16)
	// Empty fixed block.
	w.bits(0, 1)
	w.bits(1, 2)
	w.fixedSym(256)
	// Stored block of 1000 bytes.
	w.bits(0, 1)
	w.bits(0, 2)
	w.align()
	w.bits(1000, 16)
	w.bits(^uint64(1000)&0xffff, 16)
	stored := randomBytes(51, 1000)
	for _, c := range stored {
		w.bits(uint64(c), 8)
	}
	want = append(want, stored...)
	// Final fixed block copying from before the stored block.
	w.bits(1, 1)
	w.bits(1, 2)
	w.fixedMatch(100, 30000)
	want = append(want, want[len(want)-30000:len(want)-30000+100]...)
	w.fixedSym(256)
	gz := wrap(w.bytes(), want)
	if got, err := stdGunzip(gz); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("compress/gzip: %v", err)
	}
	checkScan(t, "handmade", gz, want, 0)
	checkScan(t, "handmade", gz, want, 1000)
}

// errorCase is a deflate stream that must fail.
func badStream(build func(w *bitWriter)) []byte {
	var w bitWriter
	build(&w)
	return wrap(w.bytes(), nil)
}

func TestDeflateErrors(t *testing.T) {
	dyn := func(w *bitWriter, final uint64, hlit, hdist int, cl []uint, _ []uint) {
		w.bits(final, 1)
		w.bits(2, 2)
		w.bits(uint64(hlit-257), 5)
		w.bits(uint64(hdist-1), 5)
		w.bits(uint64(len(cl)-4), 4)
		for _, l := range cl {
			w.bits(uint64(l), 3)
		}
	}
	cases := map[string]struct {
		b    func(w *bitWriter)
		want string
	}{
		"type3":  {func(w *bitWriter) { w.bits(1, 1); w.bits(3, 2); w.bits(0, 32) }, "block type"},
		"lit286": {func(w *bitWriter) { w.bits(1, 1); w.bits(1, 2); w.fixedSym(286); w.bits(0, 32) }, "literal/length code"},
		"lit287": {func(w *bitWriter) { w.bits(1, 1); w.bits(1, 2); w.fixedSym(287); w.bits(0, 32) }, "literal/length code"},
		"dist30": {func(w *bitWriter) {
			w.bits(1, 1)
			w.bits(1, 2)
			w.fixedSym('a')
			w.fixedSym(257)
			w.code(30, 5)
			w.bits(0, 32)
		}, "distance code"},
		"toofar": {func(w *bitWriter) {
			w.bits(1, 1)
			w.bits(1, 2)
			w.fixedSym('a')
			w.fixedMatch(3, 2)
			w.bits(0, 32)
		}, "invalid distance"},
		"tooFarFirst": {func(w *bitWriter) {
			w.bits(1, 1)
			w.bits(1, 2)
			w.fixedMatch(3, 1)
			w.bits(0, 32)
		}, "invalid distance"},
		"storedLen": {func(w *bitWriter) {
			w.bits(1, 1)
			w.bits(0, 2)
			w.align()
			w.bits(5, 16)
			w.bits(5, 16)
			w.bits(0, 64)
		}, "complement"},
		"hlit287": {func(w *bitWriter) { dyn(w, 1, 287, 30, []uint{2, 2, 2, 2}, nil); w.bits(0, 64) }, "too many literal"},
		"hdist31": {func(w *bitWriter) { dyn(w, 1, 286, 31, []uint{2, 2, 2, 2}, nil); w.bits(0, 64) }, "too many distance"},
		// Code length code: 16,17,18,0 each 1 bit: over-subscribed.
		"clOver": {func(w *bitWriter) { dyn(w, 1, 257, 1, []uint{1, 1, 1, 1}, nil); w.bits(0, 64) }, "code length code"},
		// A single code length code: incomplete (zlib refuses it).
		"clSingle": {func(w *bitWriter) { dyn(w, 1, 257, 1, []uint{0, 0, 0, 1}, nil); w.bits(0, 64) }, "code length code"},
		// Symbol 16 first.
		"repeatFirst": {func(w *bitWriter) {
			dyn(w, 1, 257, 1, []uint{1, 0, 0, 1}, nil) // 0 -> code 0, 16 -> code 1
			w.code(1, 1)
			w.bits(0, 64)
		}, "no previous"},
		// 18 (11-138 zeros) past the end of the lengths.
		"repeatPast": {func(w *bitWriter) {
			dyn(w, 1, 257, 1, []uint{0, 0, 1, 1}, nil) // 0 -> 0, 18 -> 1
			w.code(1, 1)
			w.bits(127, 7)
			w.code(1, 1)
			w.bits(127, 7)
			w.bits(0, 64)
		}, "past the last"},
		// All lengths zero: no end-of-block code.
		"noEOB": {func(w *bitWriter) {
			dyn(w, 1, 257, 1, []uint{0, 0, 1, 1}, nil)
			w.code(1, 1)
			w.bits(127, 7)
			w.code(1, 1)
			w.bits(120-11, 7)
			w.bits(0, 64)
		}, "end-of-block"},
		// Literal/length code with lengths 1,1,1 (symbols 0,1,256): over-subscribed.
		"litOver": {func(w *bitWriter) {
			// code length code: 0 -> len 2, 1 -> len 2, 18 -> len 2, 17 -> 2
			// order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1
			dyn(w, 1, 257, 1, []uint{0, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}, nil)
			// canonical (len 2, by symbol): 0 -> 00, 1 -> 01, 17 -> 10, 18 -> 11
			w.code(1, 2) // sym 0: len 1
			w.code(1, 2) // sym 1: len 1
			w.code(3, 2) // 18: 11+x zeros
			w.bits(138-11, 7)
			w.code(3, 2)
			w.bits(254-138-11, 7) // up to symbol 255
			w.code(1, 2)          // 256: len 1
			w.code(0, 2)          // dist 0: len 0
			w.bits(0, 64)
		}, "over-subscribed literal"},
		// Literal/length code with lengths 2,2 (symbols 0 and 256): incomplete.
		"litIncomplete": {func(w *bitWriter) {
			// code length code: 0 -> 00, 2 -> 01, 17 -> 10, 18 -> 11 (lengths 2)
			dyn(w, 1, 257, 1, []uint{0, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}, nil)
			w.code(1, 2) // sym 0: len 2
			w.code(3, 2) // 18
			w.bits(138-11, 7)
			w.code(3, 2)
			w.bits(255-138-11, 7)
			w.code(1, 2) // 256: len 2
			w.code(0, 2) // dist 0: len 0
			w.bits(0, 64)
		}, "incomplete literal"},
	}
	for name, c := range cases {
		gz := badStream(c.b)
		s := scanBytes(gz, 0)
		if s.err == nil || !strings.Contains(s.err.Error(), c.want) {
			t.Errorf("%s: Scan error %v, want %q", name, s.err, c.want)
		}
		if !strings.HasPrefix(s.err.Error(), "inflate: offset ") {
			t.Errorf("%s: error without offset: %v", name, s.err)
		}
		if _, err := stdGunzip(gz); err == nil {
			t.Errorf("%s: compress/gzip accepts it", name)
		}
	}
}

// dynBlock writes a dynamic block header for the given literal/length and
// distance code lengths, sending every length with a fixed 5-bit-ish code
// length code (all 19 code length symbols... only 0-15 used, length 4).
func dynBlock(w *bitWriter, final uint64, lit, dist []uint8) {
	w.bits(final, 1)
	w.bits(2, 2)
	w.bits(uint64(len(lit)-257), 5)
	w.bits(uint64(len(dist)-1), 5)
	w.bits(uint64(19-4), 4)
	// Code length code: symbols 0-15 length 4, 16-18 length 0: complete.
	for _, s := range clOrder {
		if s < 16 {
			w.bits(4, 3)
		} else {
			w.bits(0, 3)
		}
	}
	for _, l := range append(append([]uint8{}, lit...), dist...) {
		w.code(uint64(l), 4) // canonical: symbol s has code s
	}
}

func TestIncompleteCodes(t *testing.T) {
	lit := make([]uint8, 257)
	lit['a'] = 1
	lit[256] = 1
	// Single distance code of length 1: allowed (zlib, compress/flate).
	var w bitWriter
	dynBlock(&w, 1, lit, []uint8{1})
	w.code(0, 1) // 'a'
	w.code(1, 1) // EOB
	gz := wrap(w.bytes(), []byte("a"))
	checkScan(t, "singleDist", gz, []byte("a"), 0)
	// No distance codes at all: allowed, until one is used.
	w = bitWriter{}
	dynBlock(&w, 1, lit, []uint8{0})
	w.code(0, 1)
	w.code(1, 1)
	checkScan(t, "noDist", wrap(w.bytes(), []byte("a")), []byte("a"), 0)
	// Single literal/length code (EOB alone), length 1.
	lit2 := make([]uint8, 257)
	lit2[256] = 1
	w = bitWriter{}
	dynBlock(&w, 1, lit2, []uint8{1})
	w.code(0, 1)
	checkScan(t, "onlyEOB", wrap(w.bytes(), nil), nil, 0)
	// Using the missing half of a single-code distance code.
	lit3 := make([]uint8, 258)
	lit3['a'] = 2
	lit3[256] = 2
	lit3[257] = 1
	w = bitWriter{}
	dynBlock(&w, 1, lit3, []uint8{1})
	w.code(2, 2) // 'a' (codes: 257 -> 0, 'a' -> 10, 256 -> 11)
	w.code(0, 1) // length 3
	w.code(1, 1) // the unused distance code
	w.bits(0, 64)
	if s := scanBytes(wrap(w.bytes(), nil), 0); s.err == nil || !strings.Contains(s.err.Error(), "distance code") {
		t.Fatalf("unused distance code: %v", s.err)
	}
	// Two distance codes of length 2: incomplete, refused.
	w = bitWriter{}
	dynBlock(&w, 1, lit, []uint8{2, 2})
	w.bits(0, 64)
	if s := scanBytes(wrap(w.bytes(), nil), 0); s.err == nil || !strings.Contains(s.err.Error(), "incomplete distance") {
		t.Fatalf("incomplete distance code: %v", s.err)
	}
	// Distance codes over-subscribed.
	w = bitWriter{}
	dynBlock(&w, 1, lit, []uint8{1, 1, 1})
	w.bits(0, 64)
	if s := scanBytes(wrap(w.bytes(), nil), 0); s.err == nil || !strings.Contains(s.err.Error(), "over-subscribed distance") {
		t.Fatalf("over-subscribed distance code: %v", s.err)
	}
	// Long codes (15 bits) go through subtables.
	// A complete code of lengths 1, 2, ..., 14, 15, 15.
	lit4 := make([]uint8, 286)
	syms := []int{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 256, 257, 285}
	for i, s := range syms {
		l := i + 1
		if l > 15 {
			l = 15
		}
		lit4[s] = uint8(l)
	}
	dists := make([]uint8, 30)
	for i := range 14 {
		dists[i] = uint8(i + 1)
	}
	dists[29] = 15
	dists[14] = 15
	codeOf := func(lens []uint8, sym int) (uint64, uint) {
		// canonical code of sym
		var count [16]int
		for _, l := range lens {
			count[l]++
		}
		count[0] = 0
		var next [16]int
		c := 0
		for l := 1; l < 16; l++ {
			c = (c + count[l-1]) << 1
			next[l] = c
		}
		for s, l := range lens {
			if l != 0 {
				if s == sym {
					return uint64(next[l]), uint(l)
				}
				next[l]++
			}
		}
		panic("no code")
	}
	var want []byte
	w = bitWriter{}
	dynBlock(&w, 1, lit4, dists)
	for i := 0; i < 13; i++ {
		c, n := codeOf(lit4, syms[i])
		w.code(c, n)
		want = append(want, byte(syms[i]))
	}
	for range 200 {
		c, n := codeOf(lit4, 285)
		w.code(c, n)
		c, n = codeOf(dists, 0)
		w.code(c, n)
		for range 258 {
			want = append(want, want[len(want)-1])
		}
	}
	for len(want) < 40000 {
		c, n := codeOf(lit4, 285)
		w.code(c, n)
		c, n = codeOf(dists, 0)
		w.code(c, n)
		for range 258 {
			want = append(want, want[len(want)-1])
		}
	}
	c, n := codeOf(lit4, 257)
	w.code(c, n)
	c, n = codeOf(dists, 29)
	w.code(c, n)
	w.bits(5, 13)
	for range 3 {
		want = append(want, want[len(want)-24582])
	}
	c, n = codeOf(lit4, 256)
	w.code(c, n)
	gz = wrap(w.bytes(), want)
	if got, err := stdGunzip(gz); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("compress/gzip: %v", err)
	}
	checkScan(t, "longCodes", gz, want, 0)
}

func TestTrailerErrors(t *testing.T) {
	data := textLines(60, 50000)
	gz := gzipLevel(t, data, 6)
	bad := bytes.Clone(gz)
	bad[len(bad)-8] ^= 1
	if s := scanBytes(bad, 0); s.err == nil || !strings.Contains(s.err.Error(), "CRC-32") {
		t.Fatalf("bad CRC: %v", s.err)
	}
	bad = bytes.Clone(gz)
	bad[len(bad)-3] ^= 1
	if s := scanBytes(bad, 0); s.err == nil || !strings.Contains(s.err.Error(), "ISIZE") {
		t.Fatalf("bad ISIZE: %v", s.err)
	}
	for _, tail := range [][]byte{{0}, {0, 0, 0, 0}, {'x'}, {0x1f}, {0x1f, 0x8b}, {0x1f, 0x8b, 8}, []byte("garbage after the member")} {
		s := scanBytes(append(bytes.Clone(gz), tail...), 0)
		if s.err == nil {
			t.Fatalf("tail %q: no error", tail)
		}
		if tail[0] == 0 && !strings.Contains(s.err.Error(), "trailing zero") {
			t.Fatalf("tail %q: %v", tail, s.err)
		}
		if !strings.Contains(s.err.Error(), "offset "+itoa(len(gz))) {
			t.Fatalf("tail %q: offset not at %d: %v", tail, len(gz), s.err)
		}
	}
	for _, f := range [][]byte{nil, {0x1f}, {0x1f, 0x8c, 8, 0}, {0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 0}} {
		if s := scanBytes(f, 0); s.err == nil {
			t.Fatalf("%q: no error", f)
		}
	}
}

// smallCorpus is a small file with many kinds of content: stored, fixed and
// dynamic blocks, several members, header fields.
func smallCorpus(t testing.TB) ([]byte, []byte) {
	a := textLines(70, 3000)
	b := randomBytes(71, 300)
	var gz, want []byte
	gz = append(gz, gzipLevel(t, a, 6)...)
	gz = append(gz, gzipLevel(t, b, 0)...)
	gz = append(gz, gzipLevel(t, []byte("hello, hello, hello world\n"), 9)...)
	gz = append(gz, gzipLevel(t, nil, 6)...)
	h := header(2|4|8|16, []byte("xx"), "n", "c")
	gz = append(gz, h...)
	gz = append(gz, rawDeflate(t, a[:500], -2)...)
	gz = append(gz, trailer(a[:500])...)
	want = append(append(append(append(want, a...), b...), "hello, hello, hello world\n"...), a[:500]...)
	return gz, want
}

func TestTruncated(t *testing.T) {
	gz, want := smallCorpus(t)
	checkScan(t, "corpus", gz, want, 100)
	for n := 0; n < len(gz); n++ {
		s := scanBytes(gz[:n], 0)
		if s.err == nil {
			// A cut exactly between members is a valid shorter file.
			if got, err := stdGunzip(gz[:n]); err != nil || !bytes.Equal(got, s.out) {
				t.Fatalf("cut at %d: Scan accepted, compress/gzip: %v", n, err)
			}
			continue
		}
		if !strings.HasPrefix(s.err.Error(), "inflate: offset ") {
			t.Fatalf("cut at %d: %v", n, s.err)
		}
	}
}

func TestFlippedBits(t *testing.T) {
	gz, want := smallCorpus(t)
	harmless := 0
	// Every third bit: all bit positions in a byte, in half the time.
	for i := 0; i < len(gz)*8; i += 3 {
		bad := bytes.Clone(gz)
		bad[i/8] ^= 1 << (i % 8)
		s := scanBytes(bad, 0)
		if s.err == nil {
			if !bytes.Equal(s.out, want) {
				t.Fatalf("flip of bit %d: Scan accepted different output", i)
			}
			harmless++
		}
		if s.err == nil {
			if got, err := stdGunzip(bad); err != nil || !bytes.Equal(got, s.out) {
				t.Fatalf("flip %d: Scan accepts, compress/gzip: %v", i, err)
			}
		}
	}
	t.Logf("%d of %d flips harmless (header fields, padding bits)", harmless, len(gz)*8/3)
}

func TestReaderErrors(t *testing.T) {
	data := textLines(80, 400000)
	gz := gzipLevel(t, data, 6)
	s := scanBytes(gz, 50000)
	if s.err != nil {
		t.Fatal(s.err)
	}
	var mid []Point
	for _, p := range s.points {
		if !p.Member {
			mid = append(mid, p)
		}
	}
	if len(mid) < 3 {
		t.Fatalf("%d points", len(mid))
	}
	read := func(src []byte, size int64, p Point) ([]byte, error) {
		return io.ReadAll(NewReader(bytes.NewReader(src), size, p))
	}
	for _, p := range mid {
		// Wrong End: the stream does not end there.
		for _, d := range []int64{-2, -1, 1, 2} {
			q := p
			q.End += d
			got, err := read(gz, int64(len(gz)), q)
			if err == nil {
				t.Fatalf("End off by %d: no error (%d bytes)", d, len(got))
			}
		}
		// End not filled in.
		q := p
		q.End = 0
		if _, err := read(gz, int64(len(gz)), q); err == nil {
			t.Fatal("End 0: no error")
		}
		// Truncated file.
		if _, err := read(gz[:len(gz)-4], int64(len(gz)-4), p); err == nil {
			t.Fatal("truncated: no error")
		}
		// size larger than the data.
		if _, err := read(gz, int64(len(gz)+10), p); err == nil {
			t.Fatal("short src: no error")
		}
		// Garbage in place of the compressed data after the point.
		bad := bytes.Clone(gz)
		copy(bad[p.In/8+1:], randomBytes(uint64(p.In), 2000))
		got, err := read(bad, int64(len(bad)), p)
		if err == nil && !bytes.Equal(got, data[p.Out:]) {
			t.Logf("garbage after point %s: no error, %d bytes (undetectable without a CRC)", pointStr(p), len(got))
		}
		// Wrong window: mostly undetectable, but too long is refused.
		q = p
		q.Window = make([]byte, 40000)
		if _, err := read(gz, int64(len(gz)), q); err == nil {
			t.Fatal("long window: no error")
		}
	}
	// A member point that is not a member start.
	if _, err := read(gz, int64(len(gz)), Point{In: 80, Member: true}); err == nil {
		t.Fatal("bad member point: no error")
	}
	if _, err := read(gz, int64(len(gz)), Point{In: 3, Member: true}); err == nil {
		t.Fatal("unaligned member point: no error")
	}
	// Trailer corruption after a point: the next members are checked; this
	// one's CRC cannot be.
	two := append(bytes.Clone(gz), gz...)
	bad := bytes.Clone(two)
	bad[len(bad)-8] ^= 1
	if _, err := read(bad, int64(len(bad)), mid[0]); err == nil {
		t.Fatal("bad CRC of a later member: no error")
	}
	bad = bytes.Clone(two)
	bad[len(gz)-8] ^= 1
	if got, err := read(bad, int64(len(bad)), mid[0]); err != nil || !bytes.Equal(got, append(bytes.Clone(data[mid[0].Out:]), data...)) {
		t.Fatalf("bad CRC of the partial member is not checkable, yet: %v", err)
	}
}

func TestReaderErrorOffsets(t *testing.T) {
	var pe *posError
	_, err := io.ReadAll(NewReader(bytes.NewReader([]byte("not gzip at all")), 15, Point{Member: true}))
	if !errors.As(err, &pe) {
		t.Fatalf("%v", err)
	}
}

func TestBomb(t *testing.T) {
	total := 256 << 20
	if testing.Short() {
		total = 32 << 20
	}
	// A fixed block of one zero and matches of 258 at distance 1.
	var w bitWriter
	w.bits(1, 1)
	w.bits(1, 2)
	w.fixedSym(0)
	n := 1
	for n+258 <= total {
		w.fixedMatch(258, 1)
		n += 258
	}
	for n < total {
		w.fixedSym(0)
		n++
	}
	w.fixedSym(256)
	deflate := w.bytes()
	crc := crc32.NewIEEE()
	zero := make([]byte, 1<<20)
	for i := 0; i < total; i += len(zero) {
		crc.Write(zero)
	}
	gz := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}
	gz = append(gz, deflate...)
	gz = binary.LittleEndian.AppendUint32(gz, crc.Sum32())
	gz = binary.LittleEndian.AppendUint32(gz, uint32(total))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var got int64
	var maxPiece int
	nonzero := false
	pts := 0
	n64, err := Scan(bytes.NewReader(gz), 1<<20, func(p []byte) error {
		got += int64(len(p))
		maxPiece = max(maxPiece, len(p))
		for _, c := range p {
			if c != 0 {
				nonzero = true
			}
		}
		return nil
	}, func(Point) error { pts++; return nil }, nil)
	runtime.ReadMemStats(&after)
	if err != nil || n64 != int64(total) || got != int64(total) || nonzero {
		t.Fatalf("err %v n %d got %d nonzero %v", err, n64, got, nonzero)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d KiB of gzip to %d MiB: %d KiB allocated, largest piece %d, %d points", len(gz)>>10, total>>20, alloc>>10, maxPiece, pts)
	if alloc > 1<<20 {
		t.Fatalf("Scan allocated %d bytes", alloc)
	}
}

func TestReaderEdges(t *testing.T) {
	data := textLines(90, 100000)
	gz := gzipLevel(t, data, 6)
	r := NewReader(bytes.NewReader(gz), int64(len(gz)), Point{Member: true})
	if n, err := r.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", n, err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%v", err)
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("read after EOF: %d, %v", n, err)
	}
	// Scan with nil callbacks counts.
	if n, err := Scan(bytes.NewReader(gz), 1000, nil, nil, nil); err != nil || n != int64(len(data)) {
		t.Fatalf("nil callbacks: %d, %v", n, err)
	}
	// Callback errors stop Scan and come back as they are.
	stop := errors.New("stop")
	for i, f := range []func(int) (func([]byte) error, func(Point) error, func(int64) error){
		func(int) (func([]byte) error, func(Point) error, func(int64) error) {
			return func([]byte) error { return stop }, nil, nil
		},
		func(int) (func([]byte) error, func(Point) error, func(int64) error) {
			return nil, func(Point) error { return stop }, nil
		},
		func(int) (func([]byte) error, func(Point) error, func(int64) error) {
			return nil, nil, func(int64) error { return stop }
		},
	} {
		o, p, e := f(i)
		if _, err := Scan(bytes.NewReader(gz), 1000, o, p, e); err != stop {
			t.Fatalf("callback %d: %v", i, err)
		}
	}
}

// TestAlignPrefix restarts at a block header at each bit of a byte, followed
// by a stored block, whose alignment is the file's: shifting the bytes by
// In%8 would get it wrong.
func TestAlignPrefix(t *testing.T) {
	for s := range 8 {
		var w bitWriter
		// A first block that ends at bit s of some byte.
		w.bits(0, 1)
		w.bits(1, 2)
		w.fixedSym('x')
		for (w.n+7)%8 != uint(s) {
			w.fixedSym(200) // 9 bits: moves the end by one bit
		}
		w.fixedSym(256)
		in := int64(len(w.buf))*8 + int64(s) + 80
		w.bits(0, 1)
		w.bits(1, 2)
		w.fixedSym('a')
		w.fixedMatch(5, 1)
		w.fixedSym(256)
		w.bits(0, 1)
		w.bits(0, 2)
		w.align()
		w.bits(3, 16)
		w.bits(^uint64(3)&0xffff, 16)
		w.bits('b', 8)
		w.bits('c', 8)
		w.bits('d', 8)
		w.bits(1, 1)
		w.bits(1, 2)
		w.fixedMatch(9, 4)
		w.fixedSym(256)
		tail := []byte("aaaaaabcdabcdabcda")
		var pre []byte
		gz := wrap(w.bytes(), nil)
		all, err := io.ReadAll(flate.NewReader(bytes.NewReader(gz[10 : len(gz)-8])))
		if err != nil {
			t.Fatal(err)
		}
		pre = all[:len(all)-len(tail)]
		if !bytes.Equal(all[len(pre):], tail) {
			t.Fatalf("s=%d: test stream decodes to %q", s, all)
		}
		gz = wrap(w.bytes(), all)
		p := Point{In: in, Out: int64(len(pre)), End: int64(len(gz) - 8), Window: pre}
		got, err := io.ReadAll(NewReader(bytes.NewReader(gz), int64(len(gz)), p))
		if err != nil || !bytes.Equal(got, tail) {
			t.Fatalf("s=%d: %q, %v", s, got, err)
		}
		// Scan finds the same point.
		sc := scanBytes(gz, 0)
		found := false
		for _, q := range sc.points {
			found = found || q.In == in && q.Out == p.Out && q.End == p.End
		}
		if sc.err != nil || !found {
			t.Fatalf("s=%d: Scan: %v, points %d", s, sc.err, len(sc.points))
		}
		checkScan(t, "align", gz, all, 0)
	}
}

func TestWindowsPruned(t *testing.T) {
	data := textLines(13, shortOr(512<<10, 2<<20)) // no zero bytes
	gz := gzipLevel(t, data, 6)
	// Points 64 KiB apart: each window keeps only what the next 32 KiB
	// copy from it; checkPoints restarts the Reader from each.
	s := scanBytes(gz, 64<<10)
	if s.err != nil {
		t.Fatal(s.err)
	}
	checkPoints(t, "pruned", gz, data, s.points, 1000)
	inner := 0
	for _, p := range s.points {
		if p.Member || p.Out == int64(len(data)) {
			continue
		}
		inner++
		zeros := bytes.Count(p.Window, []byte{0})
		if zeros == 0 || zeros == len(p.Window) {
			t.Errorf("point at %d: %d of %d window bytes zero, want some but not all", p.Out, zeros, len(p.Window))
		}
	}
	if inner < 4 {
		t.Fatalf("only %d points inside the stream", inner)
	}
	// Points closer than 32 KiB: a window is reported before the stream
	// has gone past its reach, so it is kept whole.
	s = scanBytes(gz, 1000)
	if s.err != nil {
		t.Fatal(s.err)
	}
	for i, p := range s.points[:len(s.points)-1] {
		if next := s.points[i+1]; !p.Member && next.Out-p.Out < 32768 && bytes.Contains(p.Window, []byte{0}) {
			t.Fatalf("point at %d, the next %d bytes later: window pruned", p.Out, next.Out-p.Out)
		}
	}
}
