package lineindex

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/lined/lined/internal/inflate"
	"github.com/lined/lined/internal/testkit"
)

// gzipped compresses data with compress/gzip at level, in members of at
// most member bytes (0: one member).
func gzipped(t testing.TB, data []byte, level, member int) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, level)
	if err != nil {
		t.Fatal(err)
	}
	for first := true; first || len(data) > 0; first = false {
		part := data
		if member > 0 && len(part) > member {
			part = part[:member]
		}
		zw.Reset(&out) // one writer: each costs about 1 MiB
		zw.Write(part)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		data = data[len(part):]
	}
	return out.Bytes()
}

func TestGzipSources(t *testing.T) {
	t.Parallel()
	text, hostile := compressedTestTexts(21)
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
		checkCompressedIndex(t, gzipSource, c.name, gzipped(t, c.text, c.level, c.member), c.text, c.every)
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
		checkCompressedIndex(t, gzipSource, argv[0], gz, text, 128<<10)
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
	sec := accessSection(t, path, gzipSource, int64(len(text)))
	le := binary.LittleEndian
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
	checkConcurrentReads(t, "src.gz", gzipped(t, text, 6, 0), text)
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
// take about 1/windowCost of the text.
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
