package lineindex

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/lined/lined/internal/testkit"
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

// docSegmentsChecksum computes the segments checksum as the package
// comment states it: over the complete 1 MiB segments only.
func docSegmentsChecksum(src []byte) uint32 {
	return docContentChecksum(src[:len(src)-len(src)%(1<<20)])
}

// docLastSegment is the CRC-32C of the last segment if it is shorter than
// 1 MiB, else 0.
func docLastSegment(src []byte) uint32 {
	if len(src)%(1<<20) == 0 {
		return 0
	}
	return crc32.Checksum(src[len(src)-len(src)%(1<<20):], crc32.MakeTable(crc32.Castagnoli))
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

// TestEncodingLayout builds indexes the way the tools do, from real files,
// and reads every field of their encoding where the package comment says
// it is.
func TestEncodingLayout(t *testing.T) {
	t.Parallel()
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
	dir := t.TempDir()
	for name, src := range sources {
		path := testkit.WriteFile(t, dir, name, src)
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		for _, spacing := range []int64{512, defaultSpacing, 1 << 20} {
			ix := buildFile(t, path, BuildOptions{Settle: noSettle, Spacing: spacing})
			enc := encode(t, ix)
			ref := naiveLines(src)
			cps := naiveCheckpoints(src, spacing)
			k := len(cps)
			fields := []struct {
				name      string
				got, want uint64
			}{
				{"version", uint64(le.Uint32(enc[8:])), 4},
				{"header length", uint64(le.Uint32(enc[12:])), 160},
				{"spacing", uint64(le.Uint32(enc[16:])), uint64(spacing)},
				{"sample length", uint64(le.Uint32(enc[20:])), 4096},
				{"sample count", uint64(le.Uint32(enc[24:])), 16},
				{"encoding and reserved at 28", uint64(le.Uint32(enc[28:])), 0},
				{"size", le.Uint64(enc[32:]), uint64(len(src))},
				{"modification time", le.Uint64(enc[40:]), uint64(mtime.UnixNano())},
				{"lines", le.Uint64(enc[48:]), uint64(len(ref))},
				{"checkpoints", le.Uint64(enc[56:]), uint64(k)},
				{"content checksum", uint64(le.Uint32(enc[96:])), uint64(docContentChecksum(src))},
				{"body checksum", uint64(le.Uint32(enc[100:])), uint64(crc32.Checksum(enc[160:], tab))},
				{"status change time", le.Uint64(enc[104:]), uint64(st.Ctim.Nano())},
				{"device", le.Uint64(enc[112:]), st.Dev},
				{"inode", le.Uint64(enc[120:]), st.Ino},
				{"segments checksum", uint64(le.Uint32(enc[128:])), uint64(docSegmentsChecksum(src))},
				{"last segment's checksum", uint64(le.Uint32(enc[132:])), uint64(docLastSegment(src))},
				{"text length", le.Uint64(enc[136:]), uint64(len(src))},
				{"access section length", le.Uint64(enc[144:]), 0},
				{"access section checksum", uint64(le.Uint32(enc[152:])), 0},
				{"header checksum", uint64(le.Uint32(enc[156:])), uint64(crc32.Checksum(enc[:156], tab))},
				{"file length", uint64(len(enc)), uint64(160 + 16*k)},
			}
			for _, f := range fields {
				if f.got != f.want {
					t.Errorf("%s, spacing %d: %s = %d, want %d", name, spacing, f.name, f.got, f.want)
				}
			}
			if st.Ctim.Nano() == 0 || st.Ino == 0 {
				t.Errorf("%s: the file system gave no status change time or inode", name)
			}
			if string(enc[:8]) != "LINEDIX\x00" {
				t.Errorf("%s: magic %q", name, enc[:8])
			}
			if fp := docFingerprint(src); !bytes.Equal(enc[64:96], fp[:]) || ix.fingerprint != fp {
				t.Errorf("%s: fingerprint %x, documented %x", name, enc[64:96], fp)
			}
			for i, c := range cps {
				e := enc[160+16*i:]
				if line, off := int64(le.Uint64(e)), int64(le.Uint64(e[8:])); line != c.line || off != c.off {
					t.Errorf("%s, spacing %d: checkpoint %d = (%d, %d), want (%d, %d)", name, spacing, i, line, off, c.line, c.off)
				}
			}
		}
	}
}

// TestReservedBytes: a reader refuses an index whose reserved bytes are not
// zero, even with its checksums made to hold.
func TestReservedBytes(t *testing.T) {
	t.Parallel()
	_, enc := smallIndex(t)
	for _, at := range []int{29, 31} {
		bad := bytes.Clone(enc)
		bad[at] = 1
		_, err := decode(bytes.NewReader(testkit.Reseal(bad)))
		wantCorrupt(t, err, "reserved", fmt.Sprintf("reserved byte %d set", at))
	}
}

func TestIndexSize(t *testing.T) {
	t.Parallel()
	// P5: with the default spacing, the index of a file of ~100-byte lines
	// is at most 0.25% of its size.
	data := printableLines(2, 16<<20, 200)
	ix := buildBytes(t, data, BuildOptions{Settle: noSettle})
	ratio := float64(ix.EncodedLen()) / float64(len(data))
	t.Logf("index of %d bytes: %d bytes, %.3f%%", len(data), ix.EncodedLen(), 100*ratio)
	if ratio > 0.0025 {
		t.Errorf("index is %.3f%% of the source, want <= 0.25%%", 100*ratio)
	}
}

func TestAccessors(t *testing.T) {
	t.Parallel()
	data := []byte("a\nbb\nccc")
	mtime := time.Unix(12345, 678)
	ix, err := buildFrom(t.Context(), bytes.NewReader(data), int64(len(data)), mtime, BuildOptions{Settle: noSettle, Spacing: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if ix.Lines() != 3 || ix.Size() != 8 || !ix.ModTime().Equal(mtime) || ix.spacing != 1024 ||
		ix.fingerprint != docFingerprint(data) || ix.EncodedLen() != 160+2*16 {
		t.Errorf("accessors: lines %d, size %d, mtime %v, spacing %d, encoded %d",
			ix.Lines(), ix.Size(), ix.ModTime(), ix.spacing, ix.EncodedLen())
	}
}
