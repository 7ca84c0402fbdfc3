package lineindex

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/lined/lined/internal/testkit"
	"github.com/lined/lined/internal/zframe"
)

// zstdConfig is how zstdFrames compresses.
type zstdConfig struct {
	stream  bool // with the streaming encoder: no content size in the header
	noCRC   bool
	level   zstd.EncoderLevel
	window  int
	content []zstd.EOption
}

type zstdOption func(*zstdConfig)

func zstdStreamed(on bool) zstdOption          { return func(c *zstdConfig) { c.stream = on } }
func zstdChecksum(on bool) zstdOption          { return func(c *zstdConfig) { c.noCRC = !on } }
func zstdLevel(l zstd.EncoderLevel) zstdOption { return func(c *zstdConfig) { c.level = l } }
func zstdWindow(n int) zstdOption              { return func(c *zstdConfig) { c.window = n } }

// zstdFrames compresses text with klauspost's encoder, one frame from each
// cut (an offset in text; none: one frame) to the next.
func zstdFrames(t testing.TB, text []byte, cuts []int, opts ...zstdOption) []byte {
	t.Helper()
	cfg := zstdConfig{level: zstd.SpeedDefault}
	for _, o := range opts {
		o(&cfg)
	}
	eo := []zstd.EOption{zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true), zstd.WithEncoderCRC(!cfg.noCRC), zstd.WithEncoderLevel(cfg.level)}
	if cfg.window > 0 {
		eo = append(eo, zstd.WithWindowSize(cfg.window))
	}
	var out bytes.Buffer
	e, err := zstd.NewWriter(&out, eo...)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	from := 0
	for _, to := range append(cuts, len(text)) {
		part := text[from:to]
		from = to
		if !cfg.stream {
			out.Write(e.EncodeAll(part, nil))
			continue
		}
		e.Reset(&out)
		e.Write(part)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// cutsEvery returns the offsets every c bytes of an n-byte text, after 0.
func cutsEvery(n, c int) []int {
	var cuts []int
	for off := c; off < n; off += c {
		cuts = append(cuts, off)
	}
	return cuts
}

// skippableFrame is a zstd skippable frame (magic 0x184D2A50+nibble).
func skippableFrame(nibble byte, payload []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0x184D2A50|uint32(nibble&15))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// seekableZstd writes text in the seekable format of zstd's contrib:
// frames of frame bytes with checksums, then the seek table in a
// skippable frame.
func seekableZstd(t testing.TB, text []byte, frame int) []byte {
	cuts := cutsEvery(len(text), frame)
	var z, table []byte
	from := 0
	for _, to := range append(cuts, len(text)) {
		f := zstdFrames(t, text[from:to], nil)
		z = append(z, f...)
		table = binary.LittleEndian.AppendUint32(table, uint32(len(f)))
		table = binary.LittleEndian.AppendUint32(table, uint32(to-from))
		table = append(table, f[len(f)-4:]...)
		from = to
	}
	table = binary.LittleEndian.AppendUint32(table, uint32(len(cuts)+1))
	table = append(table, 1<<7)
	table = binary.LittleEndian.AppendUint32(table, 0x8F92EAB1)
	return append(z, skippableFrame(0xE, table)...)
}

// cutsAfter returns the offsets just after each occurrence of b in text.
func cutsAfter(text []byte, b byte) []int {
	var cuts []int
	for i, c := range text[:max(len(text)-1, 0)] {
		if c == b {
			cuts = append(cuts, i+1)
		}
	}
	return cuts
}

func TestZstdSources(t *testing.T) {
	t.Parallel()
	text, hostile := compressedTestTexts(31)
	crlf := bytes.ReplaceAll(text[:200_000], []byte("\n"), []byte("\r\n"))
	odd := []int{1, 2, 3, 1000, 1001, 5000, 77_777, 77_778, 150_001}
	for _, c := range []struct {
		name  string
		text  []byte
		cuts  []int
		every int64
		opts  []zstdOption
	}{
		{"one frame", text, nil, 256 << 10, nil},
		{"frames of 100 KB", text, cutsEvery(len(text), 100_000), 200 << 10, nil},
		{"every frame a point", text, cutsEvery(len(text), 50_000), 1, nil},
		{"streamed frames, no content size", text, cutsEvery(len(text), 100_000), 64 << 10, []zstdOption{zstdStreamed(true)}},
		{"best level, no checksum", text[:300_000], cutsEvery(300_000, 60_000), 64 << 10, []zstdOption{zstdLevel(zstd.SpeedBestCompression), zstdChecksum(false)}},
		{"fastest, a small window", text, cutsEvery(len(text), 200_000), 64 << 10, []zstdOption{zstdLevel(zstd.SpeedFastest), zstdWindow(1 << 10)}},
		{"frames split inside lines", text[:200_000], odd, 1, nil},
		{"frames split between \\r and \\n", crlf, cutsAfter(crlf, '\r')[:500], 1, nil},
		{"frames split after each \\n", text[:20_000], cutsAfter(text[:20_000], '\n'), 1000, nil},
		{"hostile: no final newline, CRLF, empty lines, a long line", hostile, cutsEvery(len(hostile), 1<<20), 256 << 10, nil},
		{"hostile in small frames", hostile, cutsEvery(len(hostile), 40_000), 100_000, nil},
		{"empty frames between", text[:100_000], []int{0, 0, 500, 500, 500, 60_000, 100_000}, 1, nil},
		{"one line", []byte("only\n"), nil, 0, nil},
		{"no newline", []byte("only"), nil, 0, nil},
		{"only newlines", bytes.Repeat([]byte{'\n'}, 100_000), cutsEvery(100_000, 7000), 1, nil},
		{"empty", nil, nil, 0, nil},
	} {
		z := zstdFrames(t, c.text, c.cuts, c.opts...)
		ix := checkCompressedIndex(t, zstdSource, c.name, z, c.text, c.every)
		if c.every == 1 && len(c.cuts) > 0 {
			// Every frame that starts a byte or more after the point before.
			want := 1
			for i, cut := range c.cuts {
				if cut < len(c.text) && (i == 0 && cut > 0 || i > 0 && cut > c.cuts[i-1]) {
					want++
				}
			}
			if len(ix.access.points) != want {
				t.Fatalf("%s: %d access points, want %d", c.name, len(ix.access.points), want)
			}
		}
	}
	// What pzstd and the seekable format write: skippable frames around
	// the data frames.
	small := text[:300_000]
	pz := bytes.Join([][]byte{skippableFrame(0, []byte{1, 2, 3, 4}), zstdFrames(t, small[:100_000], nil), skippableFrame(0, []byte{5, 6, 7, 8}), zstdFrames(t, small[100_000:], nil)}, nil)
	ix := checkCompressedIndex(t, zstdSource, "pzstd's layout", pz, small, 1)
	if p := ix.access.points[0]; p.in != 8*12 || p.out != 0 {
		t.Fatalf("pzstd's layout: the first point is %+v, want the frame at byte 12", p)
	}
	checkCompressedIndex(t, zstdSource, "seekable format", seekableZstd(t, small, 32<<10), small, 64<<10)
	// Frames at the limit pass, however many.
	checkCompressedIndexLimited(t, text[:400_000], cutsEvery(400_000, 100_000), 100_000)
}

// checkCompressedIndexLimited indexes text in frames at cuts, with the
// frame limit lowered to limit, and checks the index is text's.
func checkCompressedIndexLimited(t *testing.T, text []byte, cuts []int, limit int64) {
	z := zstdFrames(t, text, cuts)
	ix, err := buildCompressed(t.Context(), bytes.NewReader(z), int64(len(z)), testModTime, zstdSource, BuildOptions{Spacing: 512, maxFrame: limit})
	if err != nil {
		t.Fatalf("frames at the limit of %d: %v", limit, err)
	}
	plain := buildBytes(t, text, BuildOptions{Settle: noSettle, Spacing: 512})
	if !bytes.Equal(ix.cps, plain.cps) || ix.lines != plain.lines {
		t.Fatal("frames at the limit: the table differs from the plain text's")
	}
}

// TestZstdTools indexes what zstd and pzstd write, where they are
// installed (the CI installs them).
func TestZstdTools(t *testing.T) {
	t.Parallel()
	text := numberedLines(shortOr(10_000, 60_000), 32)
	dir := t.TempDir()
	plain := testkit.WriteFile(t, dir, "text", text)
	run := func(name string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Stdin = bytes.NewReader(text)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return out
	}
	for _, c := range []struct {
		name   string
		argv   []string
		frames int // at least
	}{
		{"zstd -1", []string{"zstd", "-1", "-c"}, 1},
		{"zstd -19", []string{"zstd", "-19", "-c", plain}, 1}, // from a file: with its content size
		{"zstd --no-check", []string{"zstd", "-3", "--no-check", "-c"}, 1},
		{"pzstd -p 2", []string{"pzstd", "-1", "-p", "2", "-c", plain}, shortOr(1, 2)}, // frames of 2 MiB
		{"split into zstd frames", []string{"sh", "-c", "split -C 100000 --filter='zstd -q -c' " + plain}, len(text) / 100_000},
	} {
		if _, err := exec.LookPath(c.argv[0]); err != nil || c.argv[0] == "sh" && exec.Command("sh", "-c", "command -v zstd && command -v split").Run() != nil {
			t.Logf("%s: not installed", c.name)
			continue
		}
		if testing.Short() && strings.Contains(c.name, "-19") {
			continue
		}
		z := run(c.argv[0], c.argv[1:]...)
		ix := checkCompressedIndex(t, zstdSource, c.name, z, text, 1)
		if len(ix.access.points) < c.frames {
			t.Fatalf("%s: %d access points, want at least %d frames", c.name, len(ix.access.points), c.frames)
		}
		if c.name == "zstd -1" {
			// cat a.zst b.zst
			two := append(bytes.Clone(z), z...)
			checkCompressedIndex(t, zstdSource, "cat a.zst a.zst", two, append(bytes.Clone(text), text...), 1)
		}
	}
}

// TestZstdRefused: a file that starts as zstd but is not a whole, sound
// one is refused with the reason, never indexed, and so is one with a
// frame over the limit or a window over the limit, with the remedy.
func TestZstdRefused(t *testing.T) {
	t.Parallel()
	text := numberedLines(5000, 33)
	z := zstdFrames(t, text, cutsEvery(len(text), 100_000))
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x40; return b }
	cases := []struct {
		name, want string
		z          []byte
		limit      int64
	}{
		{"truncated", "not a valid zstd file: zframe: offset", z[:len(z)/2], 0},
		{"only the magic", "not a valid zstd file: ", z[:4], 0},
		{"garbage after", "not a zstd frame", append(bytes.Clone(z), "garbage"...), 0},
		{"bad checksum", "content checksum mismatch", flip(z, len(z)-1), 0},
		{"a flipped byte", "not a valid zstd file: ", flip(z, len(z)/2), 0},
		{"a frame over the limit", "a zstd frame of 97.7 KiB (at byte 0) cannot be entered in the middle (the limit is 97.7 KiB): recompress the file in frames, e.g. zstd -dc FILE | pzstd -c > NEW.zst", z, 99_999},
		{"a frame of unknown size over the limit", "a zstd frame of more than 9.8 KiB (at byte 0) cannot be entered", zstdFrames(t, text, nil, zstdStreamed(true)), 10_000},
		{"a window over the limit", "a zstd frame (at byte 0) has a window of 16.0 MiB, more memory than a reader may take (the limit is 8.0 MiB): recompress the file at level 19 or lower without --long", zstdFrames(t, text, nil, zstdStreamed(true), zstdWindow(16<<20)), 0},
	}
	for _, c := range cases {
		path := testkit.WriteFile(t, t.TempDir(), "bad.zst", c.z)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = build(context.Background(), f, BuildOptions{Settle: noSettle, maxFrame: c.limit})
		f.Close()
		if err == nil || errors.Is(err, errChanged) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: build gave %v, want %q", c.name, err, c.want)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
	// Without checksums a flipped byte may go unseen by the decoder: then
	// the text is what klauspost decodes, and the index is that text's.
	nz := zstdFrames(t, text, nil, zstdChecksum(false))
	for i := 20; i < len(nz); i += len(nz) / 50 {
		bad := flip(nz, i)
		ix, err := buildCompressed(t.Context(), bytes.NewReader(bad), int64(len(bad)), testModTime, zstdSource, BuildOptions{Spacing: 512})
		if err != nil {
			continue
		}
		d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		want, derr := d.DecodeAll(bad, nil)
		d.Close()
		if derr != nil || ix.text != int64(len(want)) || !bytes.Equal(ix.cps, buildBytes(t, want, BuildOptions{Settle: noSettle, Spacing: 512}).cps) {
			t.Fatalf("byte %d flipped without a checksum: indexed %d bytes; klauspost: %d bytes, %v", i, ix.text, len(want), derr)
		}
	}
}

// TestZstdAccessLayout reads the access section of an encoded index as the
// format documents it, byte by byte, and checks each point against the
// source and the text.
func TestZstdAccessLayout(t *testing.T) {
	t.Parallel()
	text := numberedLines(shortOr(4000, 20_000), 34)
	lead := skippableFrame(0, []byte("lead"))
	z := append(bytes.Clone(lead), zstdFrames(t, text, cutsEvery(len(text), len(text)/20))...)
	path := testkit.WriteFile(t, t.TempDir(), "src.zst", z)
	sec := accessSection(t, path, zstdSource, int64(len(text)))
	le := binary.LittleEndian
	p := int(le.Uint32(sec))
	if p < 5 || len(sec) != 8+48*p {
		t.Fatalf("%d access points in %d bytes for frames of a twentieth of the text, a point every tenth", p, len(sec))
	}
	prevOut := int64(-1)
	for i := range p {
		e := sec[8+48*i:]
		in, out, n := int64(le.Uint64(e)), int64(le.Uint64(e[8:])), int64(le.Uint64(e[16:]))
		switch {
		case in%8 != 0 || !bytes.Equal(z[in/8:in/8+4], []byte{0x28, 0xb5, 0x2f, 0xfd}):
			t.Fatalf("point %d: bit %d is not a frame's magic number", i, in)
		case i == 0 && (in != 8*int64(len(lead)) || out != 0):
			t.Fatalf("point 0 = (%d, %d), want the first data frame, after the skippable one", in, out)
		case out <= prevOut || i > 0 && out-prevOut < int64(len(text)/10):
			t.Fatalf("point %d at %d after %d: not a tenth of the text after", i, out, prevOut)
		case !bytes.Equal(e[24:40], make([]byte, 16)) || e[40] != 1 || !bytes.Equal(e[41:48], make([]byte, 7)):
			t.Fatalf("point %d: bytes 24..47 are % x", i, e[24:48])
		}
		prevOut = out
		// The frame there decodes to n bytes, the text from out on.
		d, err := zstd.NewReader(bytes.NewReader(z[in/8:]), zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(d)
		d.Close()
		if err != nil || !bytes.Equal(rest, text[out:]) {
			t.Fatalf("point %d: decompression from it: %v, %d bytes, want the %d after it", i, err, len(rest), len(text)-int(out))
		}
		fr := zframe.NewReader(bytes.NewReader(z), int64(len(z)), zframe.Frame{In: in / 8, Out: out, Len: n}, maxZstdWindow)
		if rest, err := io.ReadAll(fr); err != nil || !bytes.Equal(rest, text[out:]) {
			t.Fatalf("point %d: its frame is not %d bytes long: %v", i, n, err)
		}
		fr.Close()
	}
}

// TestZstdConcurrentReads reads random lines and ranges of a zstd source
// from several goroutines through one Source, as lined does.
func TestZstdConcurrentReads(t *testing.T) {
	t.Parallel()
	text := numberedLines(shortOr(5000, 30_000), 35)
	checkConcurrentReads(t, "src.zst", zstdFrames(t, text, cutsEvery(len(text), 30_000)), text)
}
