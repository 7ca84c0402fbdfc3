package inflate

import (
	"bytes"
	"compress/flate"
	"io"
	"testing"
)

// FuzzScan: Scan never panics, and agrees with compress/gzip on what is a
// valid file and what it holds, except where Scan is documented to be
// stricter: reserved header flags and trailing zero bytes, which
// compress/gzip accepts or reports differently (it reads trailing zeros as
// a bad header, as Scan does; reserved flags it ignores).
func FuzzScan(f *testing.F) {
	gz, _ := smallCorpus(f)
	f.Add(gz)
	f.Add(gzipLevel(f, nil, 6))
	f.Add(gzipLevel(f, []byte("hello hello hello hello"), 9))
	f.Add(gzipLevel(f, textLines(1, 2000), -2))
	f.Add(gzipLevel(f, textLines(2, 2000), 0))
	f.Add(gzipLevel(f, textLines(3, 7000), 1))
	f.Add(append(header(2|4|8|16, []byte("ab"), "name", "comment"), append(rawDeflate(f, []byte("abcabcabc"), 6), trailer([]byte("abcabcabc"))...)...))
	f.Fuzz(func(t *testing.T, gz []byte) {
		s := scanBytes(gz, 1000)
		want, err := stdGunzip(gz)
		if s.err == nil {
			if s.n != int64(len(s.out)) {
				t.Fatalf("Scan returned %d, gave %d bytes", s.n, len(s.out))
			}
			if err != nil {
				t.Fatalf("Scan accepts, compress/gzip: %v", err)
			}
			if !bytes.Equal(s.out, want) {
				t.Fatalf("Scan and compress/gzip differ")
			}
			// Restarting is FuzzReader's job; a few points here, on small
			// outputs (a mutated block can expand a thousandfold).
			if len(want) <= 1<<18 {
				checkPoints(t, "fuzz", gz, want, s.points, 4)
			}
			return
		}
		if err == nil && !reservedFlags(gz) {
			t.Fatalf("compress/gzip accepts (%d bytes), Scan: %v", len(want), s.err)
		}
	})
}

// reservedFlags says whether some member of a file compress/gzip accepts
// has reserved header flags set: find the members by decoding them.
func reservedFlags(gz []byte) bool {
	for len(gz) >= 10 {
		if gz[3]&0xe0 != 0 {
			return true
		}
		// Skip the header and the deflate data by decoding.
		br := bytes.NewReader(gz)
		zr, err := newSingleMember(br)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, zr)
		gz = gz[len(gz)-br.Len():]
	}
	return false
}

func newSingleMember(r *bytes.Reader) (io.Reader, error) {
	zr, err := gzipNewReader(r)
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return zr, nil
}

// FuzzReader compresses the input (with compress/flate at a level chosen by
// the fuzzer, in one or two members, with flushes), scans it with small
// spacing and restarts NewReader at each point.
func FuzzReader(f *testing.F) {
	f.Add([]byte("hello, world\n"), uint8(6), uint16(10), uint16(0))
	f.Add(textLines(4, 5000), uint8(1), uint16(100), uint16(2000))
	f.Add(randomBytes(5, 3000), uint8(0), uint16(1), uint16(100))
	f.Add(bytes.Repeat([]byte("abcdefgh"), 9000), uint8(9), uint16(500), uint16(7))
	f.Add(textLines(6, 40000), uint8(10), uint16(3000), uint16(33000))
	f.Fuzz(fuzzReader)
}

func fuzzReader(t *testing.T, data []byte, level uint8, every uint16, flushAt uint16) {
	lvl := int(level%12) - 2
	// Reading from every point to the end is quadratic: keep it small.
	data = data[:min(len(data), 1<<14)]
	var buf bytes.Buffer
	// Two members, the first split by a flush and a level change.
	cut := min(int(flushAt), len(data))
	for i, part := range [][]byte{data[:cut], data[cut:]} {
		var mb bytes.Buffer
		w, err := flate.NewWriter(&mb, lvl)
		if err != nil {
			t.Fatal(err)
		}
		h := min(len(part)/2, int(every))
		w.Write(part[:h])
		w.Flush()
		w.Write(part[h:])
		w.Close()
		if i == 0 {
			buf.Write(header(8, nil, "a", ""))
		} else {
			buf.Write(header(0, nil, "", ""))
		}
		buf.Write(mb.Bytes())
		buf.Write(trailer(part))
	}
	gz := buf.Bytes()
	s := scanBytes(gz, int64(every))
	if s.err != nil {
		t.Fatal(s.err)
	}
	if !bytes.Equal(s.out, data) {
		t.Fatal("Scan output differs")
	}
	checkPoints(t, "fuzz", gz, data, s.points, 1<<30)
}
