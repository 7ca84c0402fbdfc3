package lineindex

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"
)

// These tests read encoded indexes byte by byte as the package comment
// documents them, with their own code for the fingerprint and the
// checksums, so that the documentation and the code cannot drift apart.

// docFingerprint computes the fingerprint as the package comment states it.
func docFingerprint(src []byte) [32]byte {
	const count, length = 16, 4096
	le := binary.LittleEndian
	h := sha256.New()
	h.Write(le.AppendUint64(nil, uint64(len(src))))
	size := int64(len(src))
	if size <= count*length {
		h.Write(le.AppendUint64(nil, 0))
		h.Write(src)
	} else {
		last := size - length
		for i := range int64(count) {
			off := last * i / (count - 1)
			h.Write(le.AppendUint64(nil, uint64(off)))
			h.Write(src[off : off+length])
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// docContentChecksum computes the content checksum as the package comment
// states it.
func docContentChecksum(src []byte) uint32 {
	tab := crc32.MakeTable(crc32.Castagnoli)
	var crcs []byte
	for off := 0; off < len(src); off += 1 << 20 {
		seg := src[off:min(off+1<<20, len(src))]
		crcs = binary.LittleEndian.AppendUint32(crcs, crc32.Checksum(seg, tab))
	}
	return crc32.Checksum(crcs, tab)
}

func TestEncodingLayout(t *testing.T) {
	tab := crc32.MakeTable(crc32.Castagnoli)
	le := binary.LittleEndian
	mtime := time.Date(2024, 2, 29, 12, 34, 56, 789, time.UTC)
	sources := map[string][]byte{
		"empty":            nil,
		"one newline":      []byte("\n"),
		"no final newline": []byte("a\nb"),
		"64 KiB":           printableLines(1, 64<<10, 100)[:64<<10],
		"64 KiB + 1":       printableLines(1, 64<<10+1, 100)[:64<<10+1],
		"2.5 MiB":          mixedLines(7)[:5<<19],
	}
	for name, src := range sources {
		for _, spacing := range []int64{512, DefaultSpacing, 1 << 20} {
			ix, err := BuildFrom(t.Context(), bytes.NewReader(src), int64(len(src)), mtime, BuildOptions{Spacing: spacing})
			if err != nil {
				t.Fatal(err)
			}
			enc := encode(t, ix)
			ref := naiveLines(src)
			cps := naiveCheckpoints(src, spacing)
			k := len(cps)
			fields := []struct {
				name      string
				got, want uint64
			}{
				{"version", uint64(le.Uint32(enc[8:])), 1},
				{"header length", uint64(le.Uint32(enc[12:])), 128},
				{"spacing", uint64(le.Uint32(enc[16:])), uint64(spacing)},
				{"sample length", uint64(le.Uint32(enc[20:])), 4096},
				{"sample count", uint64(le.Uint32(enc[24:])), 16},
				{"reserved at 28", uint64(le.Uint32(enc[28:])), 0},
				{"size", le.Uint64(enc[32:]), uint64(len(src))},
				{"modification time", le.Uint64(enc[40:]), uint64(mtime.UnixNano())},
				{"lines", le.Uint64(enc[48:]), uint64(len(ref))},
				{"checkpoints", le.Uint64(enc[56:]), uint64(k)},
				{"content checksum", uint64(le.Uint32(enc[96:])), uint64(docContentChecksum(src))},
				{"body checksum", uint64(le.Uint32(enc[100:])), uint64(crc32.Checksum(enc[128:], tab))},
				{"header checksum", uint64(le.Uint32(enc[124:])), uint64(crc32.Checksum(enc[:124], tab))},
				{"file length", uint64(len(enc)), uint64(128 + 16*k)},
			}
			for _, f := range fields {
				if f.got != f.want {
					t.Errorf("%s, spacing %d: %s = %d, want %d", name, spacing, f.name, f.got, f.want)
				}
			}
			if string(enc[:8]) != "LINEDIX\x00" {
				t.Errorf("%s: magic %q", name, enc[:8])
			}
			if fp := docFingerprint(src); !bytes.Equal(enc[64:96], fp[:]) || ix.Fingerprint() != fp {
				t.Errorf("%s: fingerprint %x, documented %x", name, enc[64:96], fp)
			}
			if !bytes.Equal(enc[104:124], make([]byte, 20)) {
				t.Errorf("%s: reserved bytes 104..123 are %x", name, enc[104:124])
			}
			for i, c := range cps {
				e := enc[128+16*i:]
				if line, off := int64(le.Uint64(e)), int64(le.Uint64(e[8:])); line != c.line || off != c.off {
					t.Errorf("%s, spacing %d: checkpoint %d = (%d, %d), want (%d, %d)", name, spacing, i, line, off, c.line, c.off)
				}
			}
		}
	}
}

func TestIndexSize(t *testing.T) {
	// P5: with the default spacing, the index of a file of ~100-byte lines
	// is at most 0.25% of its size.
	data := printableLines(2, 16<<20, 200)
	ix := buildBytes(t, data, BuildOptions{})
	ratio := float64(ix.EncodedLen()) / float64(len(data))
	t.Logf("index of %d bytes: %d bytes, %.3f%%", len(data), ix.EncodedLen(), 100*ratio)
	if ratio > 0.0025 {
		t.Errorf("index is %.3f%% of the source, want <= 0.25%%", 100*ratio)
	}
}

func TestAccessors(t *testing.T) {
	data := []byte("a\nbb\nccc")
	mtime := time.Unix(12345, 678)
	ix, err := BuildFrom(t.Context(), bytes.NewReader(data), int64(len(data)), mtime, BuildOptions{Spacing: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if ix.Lines() != 3 || ix.Size() != 8 || !ix.ModTime().Equal(mtime) || ix.Spacing() != 1024 ||
		ix.Fingerprint() != docFingerprint(data) || ix.EncodedLen() != 128+2*16 {
		t.Errorf("accessors: lines %d, size %d, mtime %v, spacing %d, encoded %d",
			ix.Lines(), ix.Size(), ix.ModTime(), ix.Spacing(), ix.EncodedLen())
	}
}
