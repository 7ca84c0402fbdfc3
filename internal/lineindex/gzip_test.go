package lineindex

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

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
	hostile := append(append(bytes.Clone(printableLines(4, 300_000, 5000)), "crlf\r\n\n\n"...), bytes.Repeat([]byte{'x'}, 3<<20)...)
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
		{"hostile: no final newline, a 3 MiB line", hostile, 6, 0, 256 << 10},
		{"one line", []byte("only\n"), 6, 0, 0},
		{"no newline", []byte("only"), 6, 0, 0},
		{"empty", nil, 6, 0, 0},
	} {
		checkGzipIndex(t, c.name, gzipped(t, c.text, c.level, c.member), c.text, c.every)
	}
}

// TestGzipTools indexes what gzip, pigz and bgzip write, where they are.
func TestGzipTools(t *testing.T) {
	t.Parallel()
	text := numberedLines(30_000, 22)
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
