package inflate

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os/exec"
	"testing"
)

// scanned is what Scan reported for a file.
type scanned struct {
	out    []byte
	points []Point // windows copied, End filled in
	n      int64
	err    error
}

func scanBytes(gz []byte, every int64) scanned {
	var s scanned
	pending := 0
	s.n, s.err = Scan(bytes.NewReader(gz), every,
		func(p []byte) error {
			s.out = append(s.out, p...)
			return nil
		},
		func(p Point) error {
			p.Window = bytes.Clone(p.Window)
			s.points = append(s.points, p)
			return nil
		},
		func(end int64) error {
			for ; pending < len(s.points); pending++ {
				s.points[pending].End = end
			}
			return nil
		})
	return s
}

// stdGunzip decodes with compress/gzip (multistream).
func stdGunzip(gz []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func gzipLevel(t testing.TB, data []byte, level int) []byte {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		panic(err)
	}
	w.Write(data)
	w.Close()
	return buf.Bytes()
}

// gzipCmd compresses with an external program, or skips if it is absent.
func gzipCmd(t testing.TB, data []byte, name string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed", name)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(data)
	gz, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return gz
}

// textLines makes n bytes of log-like lines: words, numbers, JSON-ish
// records, 50-200 bytes each, compressing about 3-4x.
func textLines(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	words := []string{"GET", "POST", "user", "session", "error", "info", "warn",
		"request", "latency", "cache", "miss", "hit", "db", "query", "timeout",
		"connection", "reset", "ok", "status", "payload", "the", "of", "and",
		"server", "client", "retry", "upstream", "/api/v1/items", "/login",
		"kafka", "partition", "offset", "commit", "shard", "replica"}
	var b bytes.Buffer
	b.Grow(n + 256)
	for b.Len() < n {
		target := 50 + rng.IntN(151)
		start := b.Len()
		switch k := rng.IntN(10); {
		case k < 5:
			b.WriteString(`{"ts":"2024-03-`)
			b.WriteString(itoa(10 + rng.IntN(20)))
			b.WriteString("T")
			b.WriteString(itoa(rng.IntN(1e6)))
			b.WriteString(`","level":"`)
			b.WriteString(words[4+rng.IntN(3)])
			b.WriteString(`","id":`)
			b.WriteString(itoa(rng.IntN(1e9)))
			b.WriteString(`,"msg":"`)
			for b.Len()-start < target-2 {
				b.WriteString(words[rng.IntN(len(words))])
				b.WriteByte(' ')
			}
			b.WriteString(`"}`)
		case k < 9:
			b.WriteString(itoa(1700000000 + rng.IntN(1e7)))
			b.WriteByte(' ')
			for b.Len()-start < target {
				if rng.IntN(4) == 0 {
					b.WriteString(itoa(rng.IntN(100000)))
				} else {
					b.WriteString(words[rng.IntN(len(words))])
				}
				b.WriteByte(' ')
			}
		default:
			for b.Len()-start < target {
				b.WriteByte(byte('a' + rng.IntN(26)))
				if rng.IntN(6) == 0 {
					b.WriteByte(' ')
				}
			}
		}
		b.WriteByte('\n')
	}
	return b.Bytes()[:n]
}

func itoa(v int) string {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(d[i:])
		}
	}
}

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// bitWriter writes a deflate stream bit by bit, for streams compress/flate
// would not write (particular blocks, and invalid ones).
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint
}

func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.n
	w.n += n
	for w.n >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

// code writes a Huffman code, most significant bit first.
func (w *bitWriter) code(c uint64, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.bits(c>>uint(i)&1, 1)
	}
}

func (w *bitWriter) align() {
	if w.n > 0 {
		w.bits(0, 8-w.n)
	}
}

func (w *bitWriter) bytes() []byte {
	w.align()
	return w.buf
}

// fixedSym writes literal/length symbol s with the fixed code.
func (w *bitWriter) fixedSym(s int) {
	switch {
	case s < 144:
		w.code(uint64(0x30+s), 8)
	case s < 256:
		w.code(uint64(0x190+s-144), 9)
	case s < 280:
		w.code(uint64(s-256), 7)
	default:
		w.code(uint64(0xc0+s-280), 8)
	}
}

var (
	lenBase  = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	dBase    = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
)

// fixedMatch writes a match with the fixed code.
func (w *bitWriter) fixedMatch(length, dist int) {
	i := 28
	for lenBase[i] > length {
		i--
	}
	if length == 258 {
		i = 28
	} else if i == 28 {
		i = 27
	}
	w.fixedSym(257 + i)
	w.bits(uint64(length-lenBase[i]), lenExtra[i])
	j := 29
	for dBase[j] > dist {
		j--
	}
	w.code(uint64(j), 5)
	x := uint(0)
	if j >= 4 {
		x = uint(j/2 - 1)
	}
	w.bits(uint64(dist-dBase[j]), x)
}

// wrap makes a gzip member of a deflate stream for data.
func wrap(deflate, data []byte) []byte {
	m := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}
	m = append(m, deflate...)
	m = binary.LittleEndian.AppendUint32(m, crc32.ChecksumIEEE(data))
	m = binary.LittleEndian.AppendUint32(m, uint32(len(data)))
	return m
}

// checkScan checks that Scan decodes gz to want, that its points restart
// NewReader correctly and that their windows are right.
func checkScan(t *testing.T, name string, gz, want []byte, every int64) {
	t.Helper()
	s := scanBytes(gz, every)
	if s.err != nil {
		t.Fatalf("%s: Scan: %v", name, s.err)
	}
	if s.n != int64(len(want)) || !bytes.Equal(s.out, want) {
		t.Fatalf("%s: Scan gave %d bytes (returned %d), want %d; equal %v", name, len(s.out), s.n, len(want), bytes.Equal(s.out, want))
	}
	checkPoints(t, name, gz, want, s.points, 40)
}

// checkPoints restarts NewReader at (a sample of at most max of) points.
func checkPoints(t *testing.T, name string, gz, want []byte, points []Point, max int) {
	t.Helper()
	if len(points) == 0 || points[0].In != 0 || points[0].Out != 0 || !points[0].Member {
		t.Fatalf("%s: first point is not the start of the file: %+v", name, points)
	}
	// Member starts, to check windows against.
	all := scanBytes(gz, 0)
	var starts []Point
	for _, p := range all.points {
		if p.Member {
			starts = append(starts, p)
		}
	}
	step := 1
	if len(points) > max {
		step = len(points) / max
	}
	r := new(Reader)
	for i := 0; i < len(points); i += step {
		p := points[i]
		if i > 0 && (p.Out < points[i-1].Out || p.In <= points[i-1].In) {
			t.Fatalf("%s: points out of order: %+v after %+v", name, p, points[i-1])
		}
		var ms int64
		for _, m := range starts {
			if m.In <= p.In {
				ms = m.Out
			}
		}
		wantWin := want[max64(ms, p.Out-32768):p.Out]
		if p.Member {
			wantWin = nil
			if p.In%8 != 0 {
				t.Fatalf("%s: member point not aligned: %d", name, p.In)
			}
		}
		// A window byte is the output's, or zero where no match copies it
		// (the Reader below proves that none does).
		if len(p.Window) != len(wantWin) {
			t.Fatalf("%s: point %d (%+v): window of %d bytes, want %d", name, i, pointStr(p), len(p.Window), len(wantWin))
		}
		for j, b := range p.Window {
			if b != wantWin[j] && b != 0 {
				t.Fatalf("%s: point %d (%+v): window byte %d is %#x, want %#x or zero", name, i, pointStr(p), j, b, wantWin[j])
			}
		}
		r.Reset(bytes.NewReader(gz), int64(len(gz)), p)
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s: point %d (%s): NewReader: %v", name, i, pointStr(p), err)
		}
		if !bytes.Equal(got, want[p.Out:]) {
			t.Fatalf("%s: point %d (%s): NewReader gave %d bytes, want %d", name, i, pointStr(p), len(got), len(want)-int(p.Out))
		}
	}
}

func pointStr(p Point) string {
	p.Window = nil
	return fmtPoint(p)
}

func fmtPoint(p Point) string {
	return "In=" + itoa(int(p.In)) + " Out=" + itoa(int(p.Out)) + " End=" + itoa(int(p.End)) + map[bool]string{true: " member", false: ""}[p.Member]
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func gzipNewReader(r io.Reader) (*gzip.Reader, error) { return gzip.NewReader(r) }

// shortOr returns short with -short (the race detector's run in CI), else
// full.
func shortOr(short, full int) int {
	if testing.Short() {
		return short
	}
	return full
}
