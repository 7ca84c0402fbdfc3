package lineindex

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/lined/lined/internal/testkit"
)

// The fuzz targets. Their seed corpora in testdata/fuzz hold the hostile
// inputs, and run as ordinary tests. To fuzz one target:
//
//	go test -run XXX -fuzz FuzzIndex -fuzztime 60s -fuzzminimizetime 5s ./internal/lineindex/
//
// (FuzzIndex is slow per input; with the default minimisation time of 60 s
// per new input, most of a short run goes into minimising.) With
// LINEINDEX_BUGS=1, FuzzDecode also checks what WriteTo writes, which
// finds the bug of TestFindAfterLineEndMoved within seconds.

// FuzzIndex indexes arbitrary bytes with an arbitrary spacing and finds
// every line with an arbitrary buffer: the index must agree with the
// reference, line by line and byte by byte. It also indexes a first part
// of the bytes (up to a point taken from the buffer's choice), appends the
// rest and extends the index, which must be a build of the whole; and the
// index of that first part must serve each of its lines from the whole,
// as a file that grew, but a last line without a newline, which grew.
func FuzzIndex(f *testing.F) {
	f.Add([]byte(""), uint8(0), uint16(0))
	f.Add([]byte("\n"), uint8(0), uint16(0))
	f.Add([]byte("a\nb"), uint8(0), uint16(0))
	f.Add([]byte("a\n"), uint8(1), uint16(100))
	// Grown after a last line that crosses the end of the window it
	// starts in: 50 short lines, one of 1,000 bytes, split after it.
	grownAfterLong := []byte(strings.Repeat("ab\n", 50) + strings.Repeat("y", 1000) + "\nmore\n")
	f.Add(grownAfterLong, uint8(0), uint16(len(grownAfterLong)-len("more\n")))
	f.Fuzz(func(t *testing.T, data []byte, spacingChoice uint8, bufChoice uint16) {
		spacing := int64(minSpacing) << (spacingChoice % 12) // 512 .. 1 MiB
		buf := make([]byte, minBuffer+int(bufChoice))
		ix := buildBytes(t, data, BuildOptions{Settle: noSettle, Spacing: spacing, readers: 1})
		if par := buildBytes(t, data, BuildOptions{Settle: noSettle, Spacing: spacing, readers: 2}); !bytes.Equal(encode(t, par), encode(t, ix)) {
			t.Fatal("builds with 1 and 2 workers differ")
		}
		dec := roundTrip(t, ix)
		if want := naiveCheckpoints(data, spacing); !slices.Equal(dec.cps.all(), want) {
			t.Fatalf("checkpoints %v, want %v", abbrev(dec.cps.all()), abbrev(want))
		}
		checkAllLines(t, dec, data, buf)
		checkRanges(t, dec, data, buf, rand.New(rand.NewPCG(uint64(len(data)), uint64(bufChoice))))
		if len(data) > 0 {
			split := int(bufChoice) % len(data)
			if extended, fresh := extendAt(t, t.TempDir(), data, split, spacing); !bytes.Equal(extended, fresh) {
				t.Fatalf("extended after %d of %d bytes: not the index a build gives", split, len(data))
			}
			// The smallest buffer: split is below buf's size, and the
			// lines that cross a window's end must be there.
			checkGrownLines(t, buildBytes(t, data[:split], BuildOptions{Settle: noSettle, Spacing: spacing}), data[:split], data, make([]byte, minBuffer))
		}
	})
}

// FuzzDecode decodes arbitrary bytes, then the same bytes made to pass the
// checksums and the simple header checks, so that the structure checks
// and Find are exercised too. Decode must never panic; an index it accepts
// must give consistent lines, or errors, on any source of its size.
func FuzzDecode(f *testing.F) {
	for _, data := range []string{"", "\n", "a\nb", "a\r\nb\r\n", "\x00\xff\n"} {
		ix := buildBytes(f, []byte(data), BuildOptions{Settle: noSettle, Spacing: 512})
		f.Add(encode(f, ix))
	}
	f.Add([]byte("LINEDIX\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if ix, err := decode(bytes.NewReader(data)); err == nil {
			exerciseIndex(t, ix, data)
		} else if !isCorrupt(err) {
			t.Fatalf("Decode: %v, want a *corruptError", err)
		}
		if len(data) < headerLen {
			return
		}
		fixed := fixHeader(data)
		if ix, err := decode(bytes.NewReader(fixed)); err == nil {
			exerciseIndex(t, ix, data)
		} else if !isCorrupt(err) {
			t.Fatalf("Decode of the fixed header: %v, want a *corruptError", err)
		}
	})
}

// fixHeader makes the magic, version, lengths, fingerprint parameters,
// spacing and checkpoint count of an encoded index valid, and its
// checksums hold. The checkpoint count is the number of whole entries
// present: Decode allocates the body the header announces before reading
// it (see TestDecodeHugeCheckpointCount).
func fixHeader(data []byte) []byte {
	b := bytes.Clone(data)
	le := binary.LittleEndian
	copy(b, magic)
	le.PutUint32(b[8:], version)
	le.PutUint32(b[12:], headerLen)
	le.PutUint32(b[16:], minSpacing<<(b[16]%12))
	le.PutUint32(b[20:], sampleLen)
	le.PutUint32(b[24:], sampleCount)
	le.PutUint64(b[56:], uint64((len(b)-headerLen)/entryLen))
	return testkit.Reseal(b)
}

// exerciseIndex finds lines of a decoded index in sources of its size that
// it was not built from: Find must not panic, and what it returns must
// be consistent.
func exerciseIndex(t *testing.T, ix *Index, data []byte) {
	if ix.Lines() < 0 || ix.Size() < 0 || ix.Lines() > ix.Size() {
		t.Fatalf("accepted an index of %d lines in %d bytes", ix.Lines(), ix.Size())
	}
	if _, err := ix.marshal(); err != nil {
		t.Fatal(err)
	}
	// Sources of the index's size, which may be far larger than memory:
	// all newlines, a newline every 7 bytes, and data over and over.
	sources := []func(off int64) byte{
		func(int64) byte { return '\n' },
		func(off int64) byte { return "abcdef\n"[off%7] },
	}
	if len(data) > 0 {
		sources = append(sources, func(off int64) byte { return data[off%int64(len(data))] })
	}
	buf := make([]byte, minBuffer)
	for _, at := range sources {
		src := &budgetSource{size: ix.Size(), at: at}
		var ns []int64
		for n := int64(1); n <= min(ix.Lines(), 50); n++ {
			ns = append(ns, n)
		}
		ns = append(ns, ix.Lines()/2, ix.Lines(), ix.Lines()+1, 0, -1)
		for _, n := range ns {
			src.budget = 8 << 20
			l, err := ix.Find(src, n, buf)
			if err != nil {
				var re *RangeError
				if n >= 1 && n <= ix.Lines() && errors.As(err, &re) {
					t.Fatalf("Find(%d) of %d lines: %v", n, ix.Lines(), err)
				}
				continue
			}
			if n < 1 || n > ix.Lines() {
				t.Fatalf("Find(%d) of %d lines succeeded", n, ix.Lines())
			}
			if l.Number != n || l.Length <= 0 || l.Offset < 0 || l.Offset > ix.Size()-l.Length ||
				int64(len(l.Head)) > l.Length || len(l.Head) > len(buf) {
				t.Fatalf("Find(%d) = {%d, offset %d, length %d, head %d}: not within the %d-byte source",
					n, l.Number, l.Offset, l.Length, len(l.Head), ix.Size())
			}
			for i, c := range l.Head {
				if c != at(l.Offset+int64(i)) {
					t.Fatalf("Find(%d): head byte %d is %q, the source has %q", n, i, c, at(l.Offset+int64(i)))
				}
			}
			if l.Offset > 0 && at(l.Offset-1) != '\n' {
				t.Fatalf("Find(%d): line at %d does not follow a newline", n, l.Offset)
			}
			if j := bytes.IndexByte(l.Head, '\n'); j >= 0 && int64(j) != l.Length-1 {
				t.Fatalf("Find(%d): a newline inside the head, at %d of %d", n, j, l.Length)
			}
			if l.Length > 1<<20 {
				continue
			}
			var out bytes.Buffer
			if _, err := l.WriteTo(&out, src); err != nil {
				continue
			}
			line := out.Bytes()
			if !bytes.HasPrefix(line, l.Head) {
				t.Fatalf("Find(%d): WriteTo does not start with the head", n)
			}
			// A whole line, and only one: only checkable with the
			// WriteTo bug fixed (see TestFindAfterLineEndMoved).
			if os.Getenv("LINEINDEX_BUGS") != "" {
				end := l.Offset+l.Length == ix.Size()
				if j := bytes.IndexByte(line, '\n'); (j >= 0 && j != len(line)-1) || (j < 0 && !end) {
					t.Fatalf("Find(%d) at %d: WriteTo wrote %d bytes %.80q, not one line of the source", n, l.Offset, len(line), line)
				}
			}
		}
	}
}

// budgetSource is a source of size bytes given by at, which fails once
// more than budget bytes have been read, to bound a look-up that a forged
// index sends across a huge source.
type budgetSource struct {
	size   int64
	at     func(off int64) byte
	budget int64
}

var errBudget = errors.New("read budget exhausted")

func (s *budgetSource) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if s.budget -= int64(len(p)); s.budget < 0 {
		return 0, errBudget
	}
	n := 0
	for ; n < len(p) && off+int64(n) < s.size; n++ {
		p[n] = s.at(off + int64(n))
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// FuzzParseLineNumber compares ParseLineNumber with strconv.
func FuzzParseLineNumber(f *testing.F) {
	for _, s := range []string{"1", "007", "0", "", "-1", "+1", " 1", "1.5", "9223372036854775807", "9223372036854775808"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseLineNumber(s)
		want, wantErr := refParseLineNumber(s)
		if got != want || !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
			t.Fatalf("ParseLineNumber(%q) = %d, %v; want %d, %v", s, got, err, want, wantErr)
		}
		if err == nil && got < 1 {
			t.Fatalf("ParseLineNumber(%q) = %d", s, got)
		}
	})
}
