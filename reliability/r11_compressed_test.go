package reliability

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// gzipBytes compresses data as one gzip member at level.
func gzipBytes(t *testing.T, data []byte, level int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// zstdBytes compresses data as one zstd frame with a content checksum.
func zstdBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(data, nil)
}

// R11: hostile compressed input. Files that are not whole, valid gzip or
// zstd (cut anywhere, a byte flipped, a bad CRC-32 or length, garbage after
// the last member) are refused by every tool with the reason, and lined
// answers 503 for them (the file cannot be indexed) while it keeps serving
// its other files; a flip that leaves the file valid (a header field no
// checksum covers) gives the exact lines. A decompression bomb (GiBs of
// zeros in a few MiB) and a huge line inside a .gz are served byte-exact
// with memory within P3's and P7's bounds.
func TestR11HostileCompressed(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	var report []string

	// The tools' own footprint, for P7's "+8 MiB" below.
	tiny := writeFile(t, dir, "tiny.gz", gzipBytes(t, []byte("a\n"), 6))
	base := runTool(t, dir, "getline", nil, tiny, "1")
	if base.code != 0 || string(base.stdout) != "a\n" {
		t.Fatalf("getline tiny.gz 1: exit %d, %q, stderr %q", base.code, base.stdout, base.stderr)
	}

	// Refused: every way of being broken, from one valid file of two members.
	text := append(numbered("r11", 20000), numbered("r11b", 5000)...)
	split := len(numbered("r11", 20000))
	first := gzipBytes(t, text[:split], 6)
	good := append(bytes.Clone(first), gzipBytes(t, text[split:], 1)...)
	type broken struct {
		name string
		data []byte
	}
	cut := func(n int) []byte { return bytes.Clone(good[:n]) }
	flip := func(i int, bit byte) []byte { b := bytes.Clone(good); b[i] ^= bit; return b }
	cases := []broken{
		{"cut-in-header", cut(5)},
		{"cut-in-data", cut(len(good) / 3)},
		{"cut-in-first-trailer", cut(len(first) - 3)},
		{"cut-in-second-header", cut(len(first) + 5)},
		{"cut-in-trailer", cut(len(good) - 2)},
		{"bad-crc", flip(len(good)-8, 0x01)},
		{"bad-length", flip(len(good)-4, 0x10)},
		{"garbage-after", append(bytes.Clone(good), "not gzip\n"...)},
		{"zeros-after", append(bytes.Clone(good), make([]byte, 512)...)},
	}
	r := rand.New(rand.NewPCG(11, 11))
	for i := range pick(8, 32, 128) {
		at := 10 + r.IntN(len(good)-18) // in the deflate data or a trailer
		cases = append(cases, broken{fmt.Sprintf("flip-%d-at-%d", i, at), flip(at, byte(1)<<r.IntN(8))})
	}
	cases = append(cases, broken{"flip-in-mtime", flip(5, 0x40)}) // valid: no checksum covers MTIME
	var refusedFiles []string
	want := bytes.Join([][]byte{splitLines(text)[0], splitLines(text)[20000], splitLines(text)[24999]}, nil)
	// refuse checks each broken file of one format (ext; the reason its
	// refusals give) and returns how many were refused and how many were
	// still valid and served exact.
	refuse := func(ext, reason string, cases []broken) (refused, exact int) {
		for _, c := range cases {
			file := writeFile(t, dir, c.name+ext, c.data)
			g := runTool(t, dir, "getline", nil, file, "1", "20001", "25000")
			switch {
			case g.code == 0 && bytes.Equal(g.stdout, want):
				exact++
				continue
			case g.code == 0:
				t.Errorf("%s%s: getline printed wrong bytes: %.120q", c.name, ext, g.stdout)
				continue
			case g.code != 2 || len(g.stdout) != 0 || !strings.Contains(string(g.stderr), reason):
				t.Errorf("%s%s: getline exit %d, stdout %d bytes, stderr %q; want 2, nothing, the reason", c.name, ext, g.code, len(g.stdout), g.stderr)
				continue
			}
			refused++
			m := runTool(t, dir, "mkindex", nil, file)
			if m.code != 1 || !strings.Contains(string(m.stderr), reason) {
				t.Errorf("%s%s: mkindex exit %d, stderr %q; want 1 and the reason", c.name, ext, m.code, m.stderr)
			}
			if _, err := os.Stat(file + ".idx"); err == nil {
				t.Errorf("%s%s: mkindex left an index", c.name, ext)
			}
			if len(refusedFiles) < 6 {
				refusedFiles = append(refusedFiles, file)
			}
		}
		return refused, exact
	}
	refused, exact := refuse(".gz", "not a valid gzip file", cases)
	if c := cases[len(cases)-1]; exact == 0 {
		t.Errorf("%s: a valid file was not served", c.name)
	}
	report = append(report, fmt.Sprintf("%d broken .gz files refused by getline (exit 2) and mkindex (exit 1) with the reason, %d still valid served exact, 0 wrong", refused, exact))

	// The same for zstd: two frames with checksums.
	zgood := append(zstdBytes(t, text[:split]), zstdBytes(t, text[split:])...)
	zcut := func(n int) []byte { return bytes.Clone(zgood[:n]) }
	zflip := func(i int, bit byte) []byte { b := bytes.Clone(zgood); b[i] ^= bit; return b }
	zcases := []broken{
		{"cut-in-frame-header", zcut(5)}, // 3 bytes would not be zstd but a plain file
		{"cut-in-data", zcut(len(zgood) / 3)},
		{"cut-in-checksum", zcut(len(zgood) - 2)},
		{"bad-checksum", zflip(len(zgood)-1, 0x01)},
		{"garbage-after", append(bytes.Clone(zgood), "not zstd\n"...)},
		{"zeros-after", append(bytes.Clone(zgood), make([]byte, 512)...)},
	}
	for i := range pick(8, 32, 128) {
		at := 4 + r.IntN(len(zgood)-4)
		zcases = append(zcases, broken{fmt.Sprintf("flip-%d-at-%d", i, at), zflip(at, byte(1)<<r.IntN(8))})
	}
	zrefused, zexact := refuse(".zst", "not a valid zstd file", zcases)
	report = append(report, fmt.Sprintf("%d broken .zst files refused the same way, %d still valid served exact, 0 wrong", zrefused, zexact))

	// lined: the broken files answer 503 and are not retried while they do
	// not change; a good file beside them is served.
	goodFile := writeFile(t, dir, "good.gz", good)
	args := []string{"--file", goodFile}
	for _, f := range refusedFiles {
		args = append(args, "--file", f)
	}
	p := startLined(t, dir, args...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, err := p.get("/files/good.gz/lines/20001")
		if err == nil && code == 200 {
			if want := splitLines(text)[20000]; !bytes.Equal(body, want) {
				t.Fatalf("good.gz line 20001: %q, want %q", body, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("good.gz not served within 30s: %d %q %v", code, body, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // past a check or two
	cpu0 := p.cpu()
	time.Sleep(3 * time.Second)
	idle := p.cpu() - cpu0
	for _, f := range refusedFiles {
		name := filepath.Base(f)
		code, body, err := p.get("/files/" + name + "/lines/1")
		if err != nil || code != 503 || !bytes.Contains(body, []byte("the file cannot be indexed")) {
			t.Errorf("lined %s line 1: %d %q %v; want 503, the file cannot be indexed", name, code, body, err)
		}
		if !strings.Contains(p.logs.String(), name) || !strings.Contains(p.logs.String(), "not a valid gzip file") {
			t.Errorf("lined's log does not give the reason for %s", name)
		}
	}
	if code, _, _ := p.get("/readyz"); code != 503 {
		t.Errorf("/readyz %d with broken files, want 503", code)
	}
	for _, f := range refusedFiles {
		if n := strings.Count(p.logs.String(), "msg=indexing file="+f+" "); n != 1 {
			t.Errorf("lined indexed %s %d times in 4.5 s; a file that fails and does not change is not indexed again at once", filepath.Base(f), n)
		}
	}
	if idle > 500*time.Millisecond {
		t.Errorf("lined spent %v of CPU in 3 s on files that did not change", idle)
	}
	// Mended, a file is indexed again at the next check.
	mended := refusedFiles[0]
	if err := os.WriteFile(mended, good, 0o644); err != nil {
		t.Fatal(err)
	}
	fixedAt := time.Now()
	for {
		code, body, err := p.get("/files/" + filepath.Base(mended) + "/lines/20001")
		if err == nil && code == 200 {
			if want := splitLines(text)[20000]; !bytes.Equal(body, want) {
				t.Fatalf("mended file line 20001: %q, want %q", body, want)
			}
			break
		}
		if time.Since(fixedAt) > 10*time.Second {
			t.Fatalf("mended file not served within 10s: %d %q %v", code, body, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mendedIn := time.Since(fixedAt)
	if c, _ := p.signal(syscall.SIGTERM, 15*time.Second); c != 0 {
		t.Errorf("lined exit %d", c)
	}
	report = append(report, fmt.Sprintf("lined: 503 and the reason logged for %d of them, each indexed once while unchanged (%v CPU in 3 s), good.gz beside them served, a mended one served %v after its rewrite",
		len(refusedFiles), idle.Round(time.Millisecond), mendedIn.Round(time.Millisecond)))

	// A bomb: lines of 1 MiB of zeros, one member of 64 MiB repeated.
	const lineLen = 1 << 20
	member := gzipBytes(t, bytes.Repeat(append(make([]byte, lineLen-1), '\n'), 64), 9)
	repeat := pick(2, 16, 64)
	bomb := writeFile(t, dir, "bomb.gz", bytes.Repeat(member, repeat))
	lines := 64 * repeat
	start := time.Now()
	m := runTool(t, dir, "mkindex", nil, bomb)
	took := time.Since(start)
	if m.code != 0 {
		t.Fatalf("mkindex bomb.gz: exit %d, %q", m.code, m.stderr)
	}
	zeroLine := append(make([]byte, lineLen-1), '\n')
	sample := []int{1, lines / 2, lines}
	var bombPeak int64
	for _, n := range sample {
		g := runTool(t, dir, "getline", nil, bomb, strconv.Itoa(n))
		if g.code != 0 || !bytes.Equal(g.stdout, zeroLine) {
			t.Errorf("getline bomb.gz %d: exit %d, %d bytes, stderr %q", n, g.code, len(g.stdout), g.stderr)
		}
		bombPeak = max(bombPeak, g.maxRSS)
		if g.maxRSS > base.maxRSS+8<<20 {
			t.Errorf("getline bomb.gz %d: peak RSS %.1f MiB, more than 8 MiB over a 2-byte file's %.1f MiB", n, mib(g.maxRSS), mib(base.maxRSS))
		}
	}
	if m.maxRSS > 64<<20 {
		t.Errorf("mkindex bomb.gz: peak RSS %.1f MiB", mib(m.maxRSS))
	}
	p = startLined(t, dir, "--file", bomb)
	p.waitReady(60 * time.Second)
	k, err := dial(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sample {
		if err := getExact(k, n, zeroLine); err != nil {
			t.Errorf("lined bomb.gz line %d: %v", n, err)
		}
	}
	k.Close()
	bm := p.memory()
	if bm.anon > 32<<20 {
		t.Errorf("lined on bomb.gz: %v, RssAnon over 32 MiB", bm)
	}
	p.signal(syscall.SIGTERM, 15*time.Second)
	report = append(report, fmt.Sprintf("bomb: %.1f MiB of .gz holding %d MiB of zeros in %d lines: mkindex %v, peak RSS %.1f MiB; getline exact, peak RSS %.1f MiB (a 2-byte file %.1f MiB); lined exact, %v",
		mib(int64(len(member)*repeat)), lines, lines, took.Round(time.Millisecond), mib(m.maxRSS), mib(bombPeak), mib(base.maxRSS), bm))

	// A huge line inside a .gz, and lines either side of it.
	long := pick(8<<20, 32<<20, 100<<20)
	longText := append([]byte("first\n"), bytes.Repeat([]byte("0123456789abcdef"), long/16)...)
	longText = append(longText, "\nlast\n"...)
	lf := writeFile(t, dir, "long.gz", gzipBytes(t, longText, 6))
	longLines := splitLines(longText)
	if m := runTool(t, dir, "mkindex", nil, lf); m.code != 0 {
		t.Fatalf("mkindex long.gz: exit %d, %q", m.code, m.stderr)
	}
	var peak int64
	for n := 1; n <= 3; n++ {
		g := runTool(t, dir, "getline", nil, lf, strconv.Itoa(n))
		if g.code != 0 || !bytes.Equal(g.stdout, longLines[n-1]) {
			t.Errorf("getline long.gz %d: exit %d, %d bytes (want %d), stderr %q", n, g.code, len(g.stdout), len(longLines[n-1]), g.stderr)
		}
		peak = max(peak, g.maxRSS)
	}
	if peak > base.maxRSS+8<<20 {
		t.Errorf("getline long.gz: peak RSS %.1f MiB, more than 8 MiB over a 2-byte file's %.1f MiB", mib(peak), mib(base.maxRSS))
	}
	p = startLined(t, dir, "--file", lf)
	p.waitReady(60 * time.Second)
	before := p.memory()
	k, err = dial(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 3; n++ {
		if err := getExact(k, n, longLines[n-1]); err != nil {
			t.Errorf("lined long.gz line %d: %v", n, err)
		}
	}
	k.Close()
	after := p.memory()
	if after.hwm-before.hwm > 8<<20 || after.anon > 32<<20 {
		t.Errorf("lined on long.gz: %v before the long line, %v after: more than +8 MiB, or RssAnon over 32 MiB", before, after)
	}
	p.signal(syscall.SIGTERM, 15*time.Second)
	report = append(report, fmt.Sprintf("a %d MiB line inside a .gz: exact through getline (peak RSS %.1f MiB, a 2-byte file %.1f MiB) and lined (VmHWM %+.1f MiB, %v)",
		long>>20, mib(peak), mib(base.maxRSS), mib(after.hwm-before.hwm), after))

	figure(t, "R11", "%s", strings.Join(report, "; "))
}
