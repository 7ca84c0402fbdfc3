package lineindex

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/lined/lined/internal/inflate"
	"github.com/lined/lined/internal/testkit"
)

// gzipped compresses data with compress/gzip at level, in members of at
// most member bytes (0: one member).
func gzipped(t testing.TB, data []byte, level, member int) []byte {
	t.Helper()
	var out bytes.Buffer
	for first := true; first || len(data) > 0; first = false {
		part := data
		if member > 0 && len(part) > member {
			part = part[:member]
		}
		zw, err := gzip.NewWriterLevel(&out, level)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(part)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		data = data[len(part):]
	}
	return out.Bytes()
}

// checkGzipIndex builds the index of gz, the gzip of text, and checks that
// it is the index of text, and that lines and ranges read through its
// Source are text's, from every access point.
func checkGzipIndex(t *testing.T, name string, gz, text []byte, every int64) {
	t.Helper()
	path := testkit.WriteFile(t, t.TempDir(), "src.gz", gz)
	opts := BuildOptions{Settle: noSettle, Spacing: 512, accessEvery: every}
	ix := buildFile(t, path, opts)
	plain := buildBytes(t, text, BuildOptions{Settle: noSettle, Spacing: 512})
	switch {
	case ix.encoding != gzipSource || ix.access == nil:
		t.Fatalf("%s: encoding %d, access %v: not read as gzip", name, ix.encoding, ix.access != nil)
	case ix.text != int64(len(text)) || ix.size != int64(len(gz)):
		t.Fatalf("%s: text %d bytes of a %d-byte source, want %d of %d", name, ix.text, ix.size, len(text), len(gz))
	case ix.lines != plain.lines || !bytes.Equal(ix.cps, plain.cps) || ix.content() != plain.content():
		t.Fatalf("%s: the table differs from the plain text's: %d lines, %d checkpoints; want %d, %d", name, ix.lines, ix.cps.len(), plain.lines, plain.cps.len())
	}
	if every > 0 && int64(len(text)) > 4*every && len(ix.access.points) < 3 {
		t.Fatalf("%s: %d access points for %d bytes every %d", name, len(ix.access.points), len(text), every)
	}
	// Through the saved and read again index too: mapped, then decoded.
	if err := ix.writeFile(path+".idx", nil); err != nil {
		t.Fatal(err)
	}
	again, err := readFile(path + ".idx")
	if err != nil {
		t.Fatalf("%s: reading the saved index: %v", name, err)
	}
	defer again.Close()
	if again.access == nil || len(again.access.points) != len(ix.access.points) || again.text != ix.text {
		t.Fatalf("%s: the saved index lost its access section", name)
	}
	f := openFile(t, path)
	for _, x := range []*Index{ix, again} {
		src := x.Source(f)
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
}

func TestGzipSources(t *testing.T) {
	t.Parallel()
	text := numberedLines(40_000, 21) // about 2.6 MiB
	long := 3 << 20
	if testing.Short() { // the race detector's run
		text, long = text[:400_000], 100_000
	}
	hostile := append(append(bytes.Clone(printableLines(4, 300_000, 5000)), "crlf\r\n\n\n"...), bytes.Repeat([]byte{'x'}, long)...)
	for _, c := range []struct {
		name          string
		text          []byte
		level, member int
		every         int64
	}{
		{"one member", text, 6, 0, 256 << 10},
		{"level 1", text, 1, 0, 128 << 10},
		{"level 9, every block a point", text, 9, 0, 1},
		{"stored", text[:300_000], 0, 0, 64 << 10},
		{"members of 100 KB", text, 6, 100_000, 200 << 10},
		{"hostile: no final newline, a long line", hostile, 6, 0, 256 << 10},
		{"one line", []byte("only\n"), 6, 0, 0},
		{"no newline", []byte("only"), 6, 0, 0},
		{"empty", nil, 6, 0, 0},
	} {
		if testing.Short() && c.level != 6 {
			continue
		}
		checkGzipIndex(t, c.name, gzipped(t, c.text, c.level, c.member), c.text, c.every)
	}
}

// TestGzipTools indexes what gzip, pigz and bgzip write, where they are.
func TestGzipTools(t *testing.T) {
	t.Parallel()
	text := numberedLines(30_000, 22)
	if testing.Short() {
		text = text[:200_000]
	}
	for _, argv := range [][]string{{"gzip", "-6"}, {"pigz", "-6", "-b", "128"}, {"bgzip", "-c"}} {
		if _, err := exec.LookPath(argv[0]); err != nil {
			t.Logf("%s: not installed", argv[0])
			continue
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = bytes.NewReader(text)
		gz, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", argv, err)
		}
		checkGzipIndex(t, argv[0], gz, text, 128<<10)
	}
}

// TestGzipRefused: a file that starts as gzip but is not one, or is cut
// short, is refused with the reason, never indexed.
func TestGzipRefused(t *testing.T) {
	t.Parallel()
	text := numberedLines(5000, 23)
	gz := gzipped(t, text, 6, 0)
	for name, bad := range map[string][]byte{
		"truncated":       gz[:len(gz)/2],
		"garbage after":   append(bytes.Clone(gz), "garbage"...),
		"bad CRC":         func() []byte { b := bytes.Clone(gz); b[len(b)-6] ^= 1; return b }(),
		"only the header": gz[:10],
	} {
		path := testkit.WriteFile(t, t.TempDir(), "bad.gz", bad)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = build(context.Background(), f, BuildOptions{Settle: noSettle})
		f.Close()
		if err == nil || errors.Is(err, errChanged) {
			t.Errorf("%s: build gave %v, want the gzip error", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestGzipAccessLayout reads the access section of an encoded index as the
// format documents it, byte by byte, and checks each point against the
// text: its window is the 32 KiB before it, and decompression from it gives
// the rest of the text.
func TestGzipAccessLayout(t *testing.T) {
	t.Parallel()
	text := numberedLines(shortOr(4000, 20_000), 24)
	gz := gzipped(t, text, 6, 0)
	path := testkit.WriteFile(t, t.TempDir(), "src.gz", gz)
	ix := buildFile(t, path, BuildOptions{Settle: noSettle, accessEvery: int64(len(text) / 10)})
	enc := encode(t, ix)
	le := binary.LittleEndian
	k := le.Uint64(enc[56:])
	secLen := le.Uint64(enc[144:])
	sec := enc[160+16*k:]
	switch {
	case enc[28] != 1:
		t.Fatalf("encoding byte %d, want 1 (gzip)", enc[28])
	case le.Uint64(enc[136:]) != uint64(len(text)) || le.Uint64(enc[32:]) != uint64(len(gz)):
		t.Fatalf("text length %d, size %d; want %d, %d", le.Uint64(enc[136:]), le.Uint64(enc[32:]), len(text), len(gz))
	case uint64(len(sec)) != secLen || le.Uint32(enc[152:]) != crc32.Checksum(sec, castagnoli):
		t.Fatalf("access section of %d bytes (header: %d) or its checksum wrong", len(sec), secLen)
	case le.Uint32(sec[4:]) != 0:
		t.Fatalf("reserved bytes 4..7 of the access section are set")
	}
	p := int(le.Uint32(sec))
	if p < 4 {
		t.Fatalf("%d access points for %d bytes every tenth of it", p, len(text))
	}
	windows := sec[8+48*p:]
	f := openFile(t, path)
	for i := range p {
		e := sec[8+48*i:]
		in, out, end := int64(le.Uint64(e)), int64(le.Uint64(e[8:])), int64(le.Uint64(e[16:]))
		winOff, winLen, winCRC, member := le.Uint64(e[24:]), le.Uint32(e[32:]), le.Uint32(e[36:]), e[40]
		if !bytes.Equal(e[41:48], make([]byte, 7)) {
			t.Fatalf("point %d: reserved bytes set", i)
		}
		if i == 0 && (in != 0 || out != 0 || member != 1 || winLen != 0) {
			t.Fatalf("point 0 = (%d, %d, member %d, window %d), want the start", in, out, member, winLen)
		}
		var window []byte
		if winLen > 0 {
			w := windows[winOff : winOff+uint64(winLen)]
			if crc32.Checksum(w, castagnoli) != winCRC {
				t.Fatalf("point %d: window checksum", i)
			}
			var err error
			if window, err = io.ReadAll(flate.NewReader(bytes.NewReader(w))); err != nil {
				t.Fatal(err)
			}
		}
		// The window is the text before the point, where bytes that the
		// stream after it never copies may be zero.
		if want := text[max(0, out-32768):out]; member == 0 && (len(window) != len(want) || !prunedFrom(window, want)) {
			t.Fatalf("point %d at %d: window of %d bytes, not the %d before it", i, out, len(window), len(want))
		}
		r := inflate.NewReader(f, int64(len(gz)), inflate.Point{In: in, Out: out, End: end, Window: window, Member: member == 1})
		rest, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(rest, text[out:]) {
			t.Fatalf("point %d: decompression from it: %v, %d bytes, want the %d after it", i, err, len(rest), len(text)-int(out))
		}
	}
}

// TestGzipConcurrentReads reads random lines and ranges of a gzip source
// from several goroutines through one Source, as lined does.
func TestGzipConcurrentReads(t *testing.T) {
	t.Parallel()
	text := numberedLines(shortOr(5000, 30_000), 25)
	ref := naiveLines(text)
	path := testkit.WriteFile(t, t.TempDir(), "src.gz", gzipped(t, text, 6, 0))
	ix := buildFile(t, path, BuildOptions{Settle: noSettle, accessEvery: 64 << 10})
	src := ix.Source(openFile(t, path))
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

// shortOr returns short with -short (the race detector's run), else full.
func shortOr(short, full int) int {
	if testing.Short() {
		return short
	}
	return full
}

// prunedFrom tells whether window is want with some bytes zeroed.
func prunedFrom(window, want []byte) bool {
	for i, b := range window {
		if b != 0 && b != want[i] {
			return false
		}
	}
	return true
}

// TestGzipAccessSpacing: by default, access points lie from accessEvery to
// accessMax apart, further where windows are larger, so that the windows
// take about 1/windowCost of the text; the line table's checkpoints are
// compressedSpacing apart.
func TestGzipAccessSpacing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds 40 MiB of text twice")
	}
	r := rand.New(rand.NewPCG(3, 3))
	random := make([]byte, 20<<20) // printable noise: gzip finds little to copy
	for i := range random {
		random[i] = byte(' ' + r.IntN(95))
		if r.IntN(100) == 0 {
			random[i] = '\n'
		}
	}
	logs := numberedLines(400_000, 40) // repeats much: windows stay large
	for _, c := range []struct {
		name string
		text []byte
	}{{"random", random}, {"logs", logs}} {
		gz := gzipped(t, c.text, 6, 0)
		ix := buildFile(t, testkit.WriteFile(t, t.TempDir(), "src.gz", gz), BuildOptions{Settle: noSettle})
		a := ix.access
		if ix.spacing != compressedSpacing {
			t.Errorf("%s: checkpoint spacing %d, want %d", c.name, ix.spacing, compressedSpacing)
		}
		for i := 1; i < len(a.points); i++ {
			gap := a.points[i].out - a.points[i-1].out
			want := min(max(int64(a.points[i-1].winLen)*windowCost, accessEvery), accessMax)
			// Scan offers a point every accessEvery, at a block boundary.
			if gap < want || gap > want+accessEvery+256<<10 {
				t.Errorf("%s: points %d and %d are %d apart after a window of %d bytes, want about %d", c.name, i-1, i, gap, a.points[i-1].winLen, want)
			}
		}
		t.Logf("%s: %d bytes of text, %d points, %d bytes of windows", c.name, len(c.text), len(a.points), len(a.windows))
		if len(a.points) < 3 || int64(len(a.windows)) > int64(len(c.text))/windowCost+32<<10 {
			t.Errorf("%s: %d points, %d bytes of windows for %d bytes of text", c.name, len(a.points), len(a.windows), len(c.text))
		}
	}
}
