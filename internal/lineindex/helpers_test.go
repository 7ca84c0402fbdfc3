package lineindex

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lined/lined/internal/testkit"
)

// This file holds the helpers shared by the package's tests: the naive
// reference the index is checked against, sources that hold no data, and
// small wrappers around the API.

// testModTime is the modification time recorded by in-memory builds.
var testModTime = time.Unix(1_700_000_000, 123_456_789)

// naiveLines is the reference splitter: a line ends after every '\n', and a
// final unterminated run of bytes is a line if it is not empty. It looks at
// one byte at a time and shares no code with the package.
func naiveLines(b []byte) [][]byte { return testkit.Lines(b) }

// naiveCheckpoints computes the checkpoint table, sentinel included, from
// the definition in the package documentation: for every grid point g the
// first line start at or after g, each stored once, then (M+1, size).
func naiveCheckpoints(b []byte, spacing int64) []checkpoint {
	// starts[i] is the offset of line i+1.
	var starts []int64
	if len(b) > 0 {
		starts = append(starts, 0)
	}
	for i, c := range b {
		if c == '\n' && i+1 < len(b) {
			starts = append(starts, int64(i)+1)
		}
	}
	var cps []checkpoint
	j := 0 // index into starts of the first line start >= g
	for g := int64(0); g < int64(len(b)); g += spacing {
		for j < len(starts) && starts[j] < g {
			j++
		}
		if j == len(starts) {
			break
		}
		c := checkpoint{line: int64(j) + 1, off: starts[j]}
		if n := len(cps); n == 0 || cps[n-1] != c {
			cps = append(cps, c)
		}
	}
	return append(cps, checkpoint{line: int64(len(starts)) + 1, off: int64(len(b))})
}

// buildBytes indexes data held in memory.
func buildBytes(t testing.TB, data []byte, opts BuildOptions) *Index {
	t.Helper()
	ix, err := buildFrom(context.Background(), bytes.NewReader(data), int64(len(data)), testModTime, opts)
	if err != nil {
		t.Fatalf("buildFrom(%d bytes, %+v): %v", len(data), opts, err)
	}
	return ix
}

// encode returns ix's encoding.
func encode(t testing.TB, ix *Index) []byte {
	t.Helper()
	enc, err := ix.marshal()
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if int64(len(enc)) != ix.EncodedLen() {
		t.Fatalf("encode gave %d bytes, EncodedLen says %d", len(enc), ix.EncodedLen())
	}
	return enc
}

// roundTrip decodes ix's encoding and checks that it encodes the same again.
func roundTrip(t testing.TB, ix *Index) *Index {
	t.Helper()
	enc := encode(t, ix)
	dec, err := decode(bytes.NewReader(enc))
	if err != nil {
		t.Fatalf("decode(MarshalBinary()): %v", err)
	}
	if again := encode(t, dec); !bytes.Equal(again, enc) {
		t.Fatalf("decoded index encodes differently")
	}
	if dec.Lines() != ix.Lines() || dec.Size() != ix.Size() || !dec.ModTime().Equal(ix.ModTime()) ||
		dec.spacing != ix.spacing || dec.fingerprint != ix.fingerprint {
		t.Fatalf("decoded index differs: got (%d lines, %d bytes, %v, spacing %d), want (%d, %d, %v, %d)",
			dec.Lines(), dec.Size(), dec.ModTime(), dec.spacing, ix.Lines(), ix.Size(), ix.ModTime(), ix.spacing)
	}
	return dec
}

// readLine finds line n and writes it to a buffer, returning its bytes.
func readLine(ix *Index, src io.ReaderAt, n int64, buf []byte) ([]byte, error) {
	l, err := ix.Find(src, n, buf)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w, err := l.WriteTo(&out, src)
	if err != nil {
		return nil, err
	}
	if w != l.Length || int64(out.Len()) != l.Length {
		return nil, errors.New("WriteTo wrote a different number of bytes than Length")
	}
	return out.Bytes(), nil
}

// checkGrownLines checks that ix, the index of old, serves each of its
// lines from grown, old with bytes appended, as they were; but for a last
// line without a newline, which those bytes extend, and which it refuses
// (ErrMismatch).
func checkGrownLines(t testing.TB, ix *Index, old, grown []byte, buf []byte) {
	t.Helper()
	src := bytes.NewReader(grown)
	for i, want := range naiveLines(old) {
		n := int64(i) + 1
		got, err := readLine(ix, src, n, buf)
		switch open := n == ix.Lines() && !bytes.HasSuffix(want, newline) && len(grown) > len(old); {
		case open && !errors.Is(err, ErrMismatch):
			t.Fatalf("line %d, the last and without a newline, of %d bytes grown to %d: %d bytes, %v; want ErrMismatch", n, len(old), len(grown), len(got), err)
		case !open && (err != nil || !bytes.Equal(got, want)):
			t.Fatalf("line %d of %d bytes grown to %d, buffer %d: %d bytes, %v; want its %d bytes", n, len(old), len(grown), len(buf), len(got), err, len(want))
		}
	}
}

// checkAllLines checks ix against the reference for every line of data:
// the line count, each line's number, offset, length, head and bytes
// (through Find and WriteTo, with bufs used in turn), that the lines
// concatenated are data, and that numbers out of range are refused.
func checkAllLines(t testing.TB, ix *Index, data []byte, bufs ...[]byte) {
	t.Helper()
	ref := naiveLines(data)
	if ix.Lines() != int64(len(ref)) {
		t.Fatalf("Lines() = %d, reference has %d", ix.Lines(), len(ref))
	}
	if ix.Size() != int64(len(data)) {
		t.Fatalf("Size() = %d, want %d", ix.Size(), len(data))
	}
	src := bytes.NewReader(data)
	var all bytes.Buffer
	all.Grow(len(data))
	var off int64
	for i, want := range ref {
		n := int64(i) + 1
		buf := bufs[i%len(bufs)]
		l, err := ix.Find(src, n, buf)
		if err != nil {
			t.Fatalf("Find(%d) with a %d-byte buffer: %v", n, len(buf), err)
		}
		if l.Number != n || l.Offset != off || l.Length != int64(len(want)) {
			t.Fatalf("Find(%d) = {Number %d, Offset %d, Length %d}, want {%d, %d, %d}",
				n, l.Number, l.Offset, l.Length, n, off, len(want))
		}
		if len(l.Head) > len(buf) || !bytes.HasPrefix(want, l.Head) {
			t.Fatalf("Find(%d): head of %d bytes is not a prefix of the line (buffer %d)", n, len(l.Head), len(buf))
		}
		before := all.Len()
		w, err := l.WriteTo(&all, src)
		if err != nil {
			t.Fatalf("line %d: WriteTo: %v", n, err)
		}
		if got := all.Bytes()[before:]; w != int64(len(want)) || !bytes.Equal(got, want) {
			t.Fatalf("line %d (buffer %d): got %d bytes %.80q, want %d bytes %.80q", n, len(buf), w, got, len(want), want)
		}
		off += int64(len(want))
	}
	if !bytes.Equal(all.Bytes(), data) {
		t.Fatalf("lines 1..%d concatenated differ from the source", len(ref))
	}
	for _, n := range []int64{-1 << 62, -1, 0, ix.Lines() + 1, ix.Lines() + 2, 1<<63 - 1} {
		_, err := ix.Find(src, n, bufs[0])
		var re *RangeError
		if !errors.As(err, &re) || re.N != n || re.Lines != ix.Lines() {
			t.Fatalf("Find(%d) of %d lines: got %v, want a RangeError", n, ix.Lines(), err)
		}
	}
}

// checkNeverWrong finds every line number from 1 to ix.Lines()+1 in cur,
// the current bytes of a source that changed after ix was built, and fails
// if a line is returned that is not line n of cur. Errors are fine.
// It returns how many lines were served and how many refused.
func checkNeverWrong(t testing.TB, ix *Index, cur []byte, buf []byte) (served, refused int) {
	t.Helper()
	ref := naiveLines(cur)
	src := bytes.NewReader(cur)
	for n := int64(1); n <= ix.Lines(); n++ {
		got, err := readLine(ix, src, n, buf)
		if err != nil {
			var re *RangeError
			if errors.As(err, &re) {
				t.Fatalf("Find(%d) of %d lines: unexpected %v", n, ix.Lines(), err)
			}
			refused++
			continue
		}
		if n > int64(len(ref)) || !bytes.Equal(got, ref[n-1]) {
			if n > int64(len(ref)) {
				t.Fatalf("line %d: served %d bytes %.60q, but the file now has %d lines", n, len(got), got, len(ref))
			}
			t.Fatalf("line %d: served %d bytes %.60q, but line %d of the file is now %d bytes %.60q",
				n, len(got), got, n, len(ref[n-1]), ref[n-1])
		}
		served++
	}
	return served, refused
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r     io.ReaderAt
	bytes atomic.Int64
	calls atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.bytes.Add(int64(n))
	c.calls.Add(1)
	return n, err
}

func (c *countingReaderAt) reset() { c.bytes.Store(0); c.calls.Store(0) }

// span is a part of a synthetic source: lit, or n copies of b.
type span struct {
	lit []byte
	b   byte
	n   int64
}

func (s span) len() int64 {
	if s.lit != nil {
		return int64(len(s.lit))
	}
	return s.n
}

// spanSource is a source made of spans; it holds no more than its literal
// parts, so it can stand for files far larger than memory.
type spanSource struct {
	spans []span
	size  int64
}

func newSpanSource(spans ...span) *spanSource {
	s := &spanSource{spans: spans}
	for _, sp := range spans {
		s.size += sp.len()
	}
	return s
}

func (s *spanSource) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	n := 0
	var base int64
	for _, sp := range s.spans {
		l := sp.len()
		if off+int64(n) < base+l && n < len(p) {
			from := off + int64(n) - base
			m := int(min(l-from, int64(len(p)-n)))
			if sp.lit != nil {
				copy(p[n:n+m], sp.lit[from:])
			} else {
				fill(p[n:n+m], sp.b)
			}
			n += m
		}
		base += l
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// bytes returns the whole source; only for sources that fit in memory.
func (s *spanSource) bytes() []byte {
	b := make([]byte, s.size)
	s.ReadAt(b, 0)
	return b
}

func fill(p []byte, b byte) {
	if len(p) == 0 {
		return
	}
	p[0] = b
	for i := 1; i < len(p); i *= 2 {
		copy(p[i:], p[:i])
	}
}

// openFile opens path for reading until the end of the test.
func openFile(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// buildFromFile writes data to a file and indexes it with buildFrom, which
// gives the index buildBytes gives.
func buildFromFile(t testing.TB, data []byte, opts BuildOptions) *Index {
	t.Helper()
	f := openFile(t, testkit.WriteFile(t, t.TempDir(), "src", data))
	ix, err := buildFrom(context.Background(), f, int64(len(data)), testModTime, opts)
	if err != nil {
		t.Fatalf("buildFrom(file of %d bytes, %+v): %v", len(data), opts, err)
	}
	return ix
}

// buildFile indexes the file at path with Build.
func buildFile(t testing.TB, path string, opts BuildOptions) *Index {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ix, err := build(context.Background(), f, opts)
	if err != nil {
		t.Fatalf("build(%s): %v", path, err)
	}
	return ix
}

// replaceKeepingTime rewrites the file at path with data and gives it back
// its modification time, as a careless or hostile writer could.
func replaceKeepingTime(t testing.TB, path string, data []byte) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// bufSizes are the Find buffer sizes the tests use, from minBuffer to 64 KiB.
var bufSizes = []int{minBuffer, minBuffer + 1, 1000, 4096, 16<<10 + 3, 64 << 10}

// makeBufs returns one buffer of each of bufSizes.
func makeBufs() [][]byte {
	bufs := make([][]byte, len(bufSizes))
	for i, n := range bufSizes {
		bufs[i] = make([]byte, n)
	}
	return bufs
}

// printableLines returns at least size bytes of lines of 1..maxLen random
// printable bytes and a newline, the same for the same seed.
func printableLines(seed uint64, size, maxLen int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	block := make([]byte, 64<<10)
	for i := range block {
		block[i] = byte(' ' + r.IntN(95))
	}
	b := make([]byte, 0, size+maxLen+1)
	for len(b) < size {
		n := 1 + r.IntN(maxLen)
		off := r.IntN(len(block) - n)
		b = append(b, block[off:off+n]...)
		b = append(b, '\n')
	}
	return b
}

// noSettle makes Build index a file at once, though it was just written:
// for the tests of everything but the settling itself.
const noSettle = -1

// saveTo is save for an index whose source is not at any of paths.
func saveTo(ix *Index, paths []string) (string, error) {
	p, _, err := save(ix, paths, nil)
	return p, err
}

// withPaths returns opts with paths, building at once (see noSettle).
func withPaths(opts LoadOptions, paths []string) LoadOptions {
	opts.Paths = paths
	opts.Build.Settle = noSettle
	return opts
}

// marshal returns ix's encoding in one piece.
func (ix *Index) marshal() ([]byte, error) {
	h, err := ix.header()
	if err != nil {
		return nil, err
	}
	body := make([]byte, ix.bodyLen())
	if err := ix.copyBody(body); err != nil {
		return nil, err
	}
	enc := append(h[:], body...)
	if ix.access != nil {
		enc = append(enc, ix.access.enc...)
	}
	return enc, nil
}

// validErr is ix.validate's error.
func validErr(ix *Index, f *os.File) error {
	_, err := ix.validate(f)
	return err
}

// checkRanges finds runs of lines of data with FindRange, as getline N-M
// does, and checks each against the reference: the whole file, the first
// and the last line alone, ranges that cross the end, and some at random.
func checkRanges(t testing.TB, ix *Index, data []byte, buf []byte, r *rand.Rand) {
	t.Helper()
	ref := naiveLines(data)
	lines := int64(len(ref))
	if lines == 0 {
		if _, err := ix.FindRange(bytes.NewReader(data), 1, 1, buf); !errors.As(err, new(*RangeError)) {
			t.Fatalf("FindRange(1, 1) of an empty file: %v, want a RangeError", err)
		}
		return
	}
	ranges := [][2]int64{{1, lines}, {1, 1}, {lines, lines}, {lines, lines + 5}, {1, math.MaxInt64}}
	for range 20 {
		first := 1 + r.Int64N(lines)
		ranges = append(ranges, [2]int64{first, first + r.Int64N(lines-first+4)})
	}
	src := bytes.NewReader(data)
	var got bytes.Buffer
	for _, fl := range ranges {
		first, last := fl[0], fl[1]
		l, err := ix.FindRange(src, first, last, buf)
		if err != nil {
			t.Fatalf("FindRange(%d, %d) of %d lines: %v", first, last, lines, err)
		}
		got.Reset()
		if _, err := l.WriteTo(&got, src); err != nil {
			t.Fatalf("lines %d-%d: WriteTo: %v", first, last, err)
		}
		if want := bytes.Join(ref[first-1:min(last, lines)], nil); !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("lines %d-%d of %d: %d bytes differ from the reference's %d", first, last, lines, got.Len(), len(want))
		}
	}
	if _, err := ix.FindRange(src, lines+1, lines+2, buf); !errors.As(err, new(*RangeError)) {
		t.Fatalf("FindRange(%d, %d) of %d lines: %v, want a RangeError", lines+1, lines+2, lines, err)
	}
}
