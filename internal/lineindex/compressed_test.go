package lineindex

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lined/lined/internal/testkit"
)

// checkCompressedIndex builds the index of z, text compressed with
// encoding enc, and checks that it is the index of text, and that lines
// and ranges read through its Source are text's, from every access point.
// It returns the index.
func checkCompressedIndex(t *testing.T, enc byte, name string, z, text []byte, every int64) *Index {
	t.Helper()
	path := testkit.WriteFile(t, t.TempDir(), "src.z", z)
	opts := BuildOptions{Settle: noSettle, Spacing: 512, accessEvery: every}
	ix := buildFile(t, path, opts)
	plain := buildBytes(t, text, BuildOptions{Settle: noSettle, Spacing: 512})
	switch {
	case ix.encoding != enc || ix.access == nil:
		t.Fatalf("%s: encoding %d, access %v: want encoding %d", name, ix.encoding, ix.access != nil, enc)
	case ix.text != int64(len(text)) || ix.size != int64(len(z)):
		t.Fatalf("%s: text %d bytes of a %d-byte source, want %d of %d", name, ix.text, ix.size, len(text), len(z))
	case ix.lines != plain.lines || !bytes.Equal(ix.cps, plain.cps) || ix.content() != plain.content():
		t.Fatalf("%s: the table differs from the plain text's: %d lines, %d checkpoints; want %d, %d", name, ix.lines, ix.cps.len(), plain.lines, plain.cps.len())
	}
	// Through the saved and read again index too: mapped (its access
	// section too), then decoded.
	if err := ix.writeFile(path+".idx", nil); err != nil {
		t.Fatal(err)
	}
	again, err := readFile(path + ".idx")
	if err != nil {
		t.Fatalf("%s: reading the saved index: %v", name, err)
	}
	defer again.Close()
	if again.access == nil || again.access.points != nil || again.access.n != ix.access.n || again.text != ix.text {
		t.Fatalf("%s: the saved index lost its access section", name)
	}
	f := openFile(t, path)
	for _, x := range []*Index{ix, again} {
		src := x.Source(f, SourceOptions{})
		ref := naiveLines(text)
		buf := make([]byte, 4096)
		r := rand.New(rand.NewPCG(uint64(len(text)), 3))
		lines := []int64{}
		for n := int64(1); n <= int64(len(ref)); n++ {
			if len(ref) < 2000 || r.IntN(len(ref)/500) == 0 {
				lines = append(lines, n)
			}
		}
		for _, n := range lines {
			l, err := x.Find(src, n, buf)
			if err != nil {
				t.Fatalf("%s: Find(%d): %v", name, n, err)
			}
			var got bytes.Buffer
			if _, err := l.WriteTo(&got, src); err != nil || !bytes.Equal(got.Bytes(), ref[n-1]) {
				t.Fatalf("%s: line %d: %v; %q, want %q", name, n, err, got.Bytes(), ref[n-1])
			}
		}
		checkRanges(t, x, text, buf, r)
		if len(ref) > 0 {
			l, err := x.FindRange(src, 1, int64(len(ref)), buf)
			if err != nil {
				t.Fatal(err)
			}
			var all bytes.Buffer
			if _, err := l.WriteTo(&all, src); err != nil || !bytes.Equal(all.Bytes(), text) {
				t.Fatalf("%s: every line through the Source: %v, %d bytes of %d", name, err, all.Len(), len(text))
			}
		}
	}
	return ix
}

// checkConcurrentReads reads random lines and ranges of z, text
// compressed, from several goroutines through one Source, as lined does.
func checkConcurrentReads(t *testing.T, name string, z, text []byte) {
	ref := naiveLines(text)
	path := testkit.WriteFile(t, t.TempDir(), name, z)
	ix := buildFile(t, path, BuildOptions{Settle: noSettle, accessEvery: 64 << 10})
	src := ix.Source(openFile(t, path), SourceOptions{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 9))
			buf := make([]byte, 4096)
			for range shortOr(20, 200) {
				first := 1 + r.Int64N(int64(len(ref)))
				last := min(first+r.Int64N(50), int64(len(ref)))
				l, err := ix.FindRange(src, first, last, buf)
				var got bytes.Buffer
				if err == nil {
					_, err = l.WriteTo(&got, src)
				}
				if want := bytes.Join(ref[first-1:last], nil); err != nil || !bytes.Equal(got.Bytes(), want) {
					errs <- fmt.Errorf("lines %d-%d: %v, %d bytes, want %d", first, last, err, got.Len(), len(want))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// compressedTestTexts returns the texts the compressed sources are made
// of: numbered lines (about 2.6 MiB), and a hostile text: lines of up to
// 5000 bytes, CRLF, empty lines, then a line of 3 MiB without a final
// newline. -short (the race detector's run) trims both.
func compressedTestTexts(seed uint64) (text, hostile []byte) {
	text = numberedLines(40_000, seed)
	long := 3 << 20
	if testing.Short() {
		text, long = text[:400_000], 100_000
	}
	hostile = bytes.Join([][]byte{printableLines(4, 300_000, 5000), []byte("crlf\r\n\r\n\n\n"), bytes.Repeat([]byte{'x'}, long)}, nil)
	return text, hostile
}

// accessSection indexes the compressed file at path, its text text bytes
// long, with an access point about every tenth of it, checks the header
// fields about the access section, as the format documents them, and
// returns the section.
func accessSection(t *testing.T, path string, encoding byte, text int64) []byte {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	enc := encode(t, buildFile(t, path, BuildOptions{Settle: noSettle, accessEvery: text / 10}))
	le := binary.LittleEndian
	k := le.Uint64(enc[56:])
	secLen := le.Uint64(enc[144:])
	sec := enc[160+16*k:]
	switch {
	case enc[28] != encoding:
		t.Fatalf("encoding byte %d, want %d", enc[28], encoding)
	case int64(le.Uint64(enc[136:])) != text || int64(le.Uint64(enc[32:])) != fi.Size():
		t.Fatalf("text length %d, size %d; want %d, %d", le.Uint64(enc[136:]), le.Uint64(enc[32:]), text, fi.Size())
	case uint64(len(sec)) != secLen || le.Uint32(enc[152:]) != crc32.Checksum(sec, castagnoli):
		t.Fatalf("access section of %d bytes (header: %d) or its checksum wrong", len(sec), secLen)
	case le.Uint32(sec[4:]) != 0:
		t.Fatalf("reserved bytes 4..7 of the access section are set")
	}
	return sec
}

// TestEncodingOf: the first bytes, not the name, say what a source is.
func TestEncodingOf(t *testing.T) {
	t.Parallel()
	frame := zstdFrames(t, []byte("a\n"), nil)
	skip := func(n int) []byte { return skippableFrame(3, bytes.Repeat([]byte{'s'}, n)) }
	for _, c := range []struct {
		name string
		b    []byte
		want byte
	}{
		{"empty", nil, plainSource},
		{"text", []byte("hello\n"), plainSource},
		{"gzip", gzipped(t, []byte("a\n"), 6, 0), gzipSource},
		{"gzip magic alone", []byte{0x1f, 0x8b, 8}, gzipSource},
		{"gzip without deflate", []byte{0x1f, 0x8b, 7, 0}, plainSource},
		{"zstd", frame, zstdSource},
		{"zstd magic alone", frame[:4], zstdSource},
		{"three bytes of zstd's magic", frame[:3], plainSource},
		{"skippable, then zstd", append(skip(4), frame...), zstdSource},
		{"skippable frames, then zstd", bytes.Join([][]byte{skip(0), skip(100), skip(5), frame}, nil), zstdSource},
		{"only skippable frames", append(skip(4), skip(9)...), plainSource},
		{"skippable, then text", append(skip(4), "text\n"...), plainSource},
		{"skippable cut short", skip(10)[:12], plainSource},
		{"too many skippable frames", append(bytes.Repeat(skip(0), maxLeadingSkippable+1), frame...), plainSource},
		{"skippable, then gzip", append(skip(1), gzipped(t, []byte("a\n"), 6, 0)...), plainSource},
	} {
		got, err := encodingOf(bytes.NewReader(c.b), int64(len(c.b)))
		if err != nil || got != c.want {
			t.Errorf("%s: encoding %d, %v; want %d", c.name, got, err, c.want)
		}
	}
}

// TestCompressedDecodersBounded: however many goroutines read a compressed
// text, it makes at most GOMAXPROCS decoders (2 to maxCursors), and reads
// stay right.
func TestCompressedDecodersBounded(t *testing.T) {
	t.Parallel()
	text := numberedLines(shortOr(3000, 20_000), 26)
	for enc, z := range map[byte][]byte{
		gzipSource: gzipped(t, text, 6, 0),
		zstdSource: zstdFrames(t, text, cutsEvery(len(text), 50_000)),
	} {
		ix, err := buildCompressed(t.Context(), bytes.NewReader(z), int64(len(z)), testModTime, enc, BuildOptions{Spacing: 512, accessEvery: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		ct := newCompressedText(bytes.NewReader(z), ix, SourceOptions{})
		var opened atomic.Int32
		open := ct.open
		ct.open = func() decoder { opened.Add(1); return open() }
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(g), 10))
				buf := make([]byte, 1000)
				for range shortOr(20, 100) {
					off := r.Int64N(int64(len(text)))
					n, err := ct.ReadAt(buf, off)
					if want := text[off:min(off+int64(len(buf)), int64(len(text)))]; !bytes.Equal(buf[:n], want) || (err != nil) != (n < len(buf)) {
						t.Errorf("encoding %d: ReadAt(%d): %d bytes, %v", enc, off, n, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if n, most := opened.Load(), min(max(runtime.GOMAXPROCS(0), 2), maxCursors); n > int32(most) {
			t.Errorf("encoding %d: %d decoders, more than %d", enc, n, most)
		}
	}
}

// TestCompressedIndexEveryByte: every change of a single byte of the index
// of a compressed source, access section included, is found.
func TestCompressedIndexEveryByte(t *testing.T) {
	t.Parallel()
	text := numberedLines(300, 27)
	for enc, z := range map[byte][]byte{
		gzipSource: gzipped(t, text, 6, 0),
		zstdSource: append(skippableFrame(0, []byte("pz")), zstdFrames(t, text, cutsEvery(len(text), 3000))...),
	} {
		ix, err := buildCompressed(t.Context(), bytes.NewReader(z), int64(len(z)), testModTime, enc, BuildOptions{Spacing: 512, accessEvery: 2000})
		if err != nil {
			t.Fatal(err)
		}
		if len(ix.access.points) < 3 {
			t.Fatalf("encoding %d: %d access points", enc, len(ix.access.points))
		}
		enc0 := encode(t, ix)
		for i := range enc0 {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				bad := bytes.Clone(enc0)
				bad[i] ^= mask
				_, err := decode(bytes.NewReader(bad))
				var ce *corruptError
				if !errors.As(err, &ce) {
					t.Fatalf("encoding %d: byte %d of %d ^ %#x: %v, want a *corruptError", enc, i, len(enc0), mask, err)
				}
			}
		}
	}
}

// FuzzCompressedText: the compressed-text view, through a small block
// cache or none, reads what was compressed, at any offset and length, from
// gzip members or zstd frames of any sizes, with access points as dense as
// the fuzzer likes; and the index of the compressed source is the index of
// its text.
func FuzzCompressedText(f *testing.F) {
	f.Add([]byte("one\ntwo\r\nthree"), uint8(0), uint16(5), uint16(3), uint64(1))
	f.Add([]byte("one\ntwo\r\nthree"), uint8(1), uint16(5), uint16(3), uint64(1))
	f.Add(numberedLines(200, 1), uint8(2), uint16(700), uint16(1000), uint64(2))
	f.Add(numberedLines(200, 2), uint8(3), uint16(1), uint16(1), uint64(3))
	f.Add(bytes.Repeat([]byte{'\n'}, 3000), uint8(5), uint16(100), uint16(64), uint64(4))
	f.Add([]byte{}, uint8(1), uint16(0), uint16(0), uint64(5))
	f.Fuzz(fuzzCompressedText)
}

// fuzzCompressedText is FuzzCompressedText's body.
func fuzzCompressedText(t *testing.T, text []byte, flags uint8, chunk, every uint16, seed uint64) {
	if len(text) > 64<<10 {
		text = text[:64<<10]
	}
	c := max(int(chunk), len(text)/64, 1) // at most 64 members or frames
	var z []byte
	enc := byte(gzipSource)
	if flags&1 == 0 {
		z = gzipped(t, text, []int{1, 6, 9, 0}[flags>>1&3], c)
	} else {
		enc = zstdSource
		// A small window: each encoder and decoder allocates the
		// window it is given or told of.
		z = zstdFrames(t, text, cutsEvery(len(text), c), zstdStreamed(flags&2 != 0), zstdChecksum(flags&4 != 0), zstdWindow(64<<10))
		if flags&8 != 0 {
			z = append(skippableFrame(flags>>4, []byte("lead")), z...)
		}
	}
	src := bytes.NewReader(z)
	ix, err := buildCompressed(t.Context(), src, int64(len(z)), testModTime, enc, BuildOptions{Spacing: 512, accessEvery: int64(every) + 1})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	plain := buildBytes(t, text, BuildOptions{Settle: noSettle, Spacing: 512})
	if ix.text != int64(len(text)) || ix.lines != plain.lines || !bytes.Equal(ix.cps, plain.cps) || ix.content() != plain.content() {
		t.Fatalf("the index differs from the text's")
	}
	again, err := decode(bytes.NewReader(encode(t, ix)))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	r := rand.New(rand.NewPCG(seed, 11))
	var o SourceOptions // no cache, or one of 1 or 4 small blocks
	if k := r.IntN(3); k > 0 {
		o.Cache, _ = newBlockCache(int64(k*k)*256, 256)
	}
	ct := newCompressedText(src, again, o)
	buf := make([]byte, 1+r.IntN(5000))
	off := int64(0)
	for range 20 {
		switch r.IntN(3) {
		case 0: // anywhere, perhaps past the end
			off = r.Int64N(int64(len(text)) + 10)
		case 1: // on from the last read, as a line's reads go
		case 2: // a little back
			off = max(0, off-r.Int64N(100))
		}
		p := buf[:r.IntN(len(buf)+1)]
		n, err := ct.ReadAt(p, off)
		var want []byte
		if off < int64(len(text)) {
			want = text[off:min(off+int64(len(p)), int64(len(text)))]
		}
		switch {
		case !bytes.Equal(p[:n], want):
			t.Fatalf("ReadAt(%d bytes at %d): %d bytes, not the text's", len(p), off, n)
		case n < len(p) && err != io.EOF, err != nil && err != io.EOF:
			t.Fatalf("ReadAt(%d bytes at %d): %d bytes, %v", len(p), off, n, err)
		}
		off += int64(n)
	}
}

func TestCompressed(t *testing.T) {
	t.Parallel()
	text := numberedLines(100, 38)
	dir := t.TempDir()
	for name, want := range map[string]bool{"gz": true, "zst": true, "txt": false, "empty": false} {
		data := map[string][]byte{
			"gz": gzipped(t, text, 6, 0), "zst": append(skippableFrame(0, []byte("pz")), zstdFrames(t, text, nil)...), "txt": text,
		}[name]
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := Compressed(openFile(t, path)); got != want {
			t.Errorf("%s: Compressed = %v, want %v", name, got, want)
		}
	}
}
