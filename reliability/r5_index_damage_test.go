package reliability

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lined/lined/internal/testkit"
)

// damage is one way to spoil a good index.
type damage struct {
	name string
	idx  []byte
}

// restampedCase is the damage that is a status change to the tools.
const restampedCase = "resealed header, other ctime"

// R5: a damaged index is detected and rebuilt by the tools, end to end,
// and never yields a wrong line. For a small index (a 40 KiB file, 4
// checkpoints: 192 bytes): every byte flipped (XOR 0xFF), every single bit
// flipped (ci, full), the index cut at every length; the index of another
// file (other content, same size, same modification time), of an older
// version of the same file, and of other format versions with valid
// checksums. For a large index (a 64 MiB file, 4 MiB in the quick form):
// random bytes flipped and random runs overwritten.
//
// Through getline (every case): the lines printed are the file's, exit 0,
// stderr says the index was refused and why, and the index is rebuilt:
// afterwards it is byte for byte the good one. Through mkindex: --check
// exits 1 naming the reason, and mkindex rebuilds it. Through lined (a
// sample; every case in the full form): it logs why it rebuilds the index,
// and serves the right lines.
func TestR5IndexDamage(t *testing.T) {
	skipShort(t)
	// Correctness only, no timing: it may share the machine.
	t.Parallel()
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")

	// The small file: 40 KiB of numbered lines, four checkpoints.
	content := numbered("r5", 1100)
	for len(content) < 40<<10 {
		content = append(content, numbered("more", 100)...)
	}
	lines := splitLines(content)
	file := writeFile(t, dir, "small.txt", content)
	good := buildIndex(t, cache, file)

	// The quick form takes every byte of the header and every 8th byte of
	// the body, and cuts at every 8th length.
	sampled := func(i int) bool { return level() >= ci || i < 128 || i%8 == 0 }
	var cases []damage
	for i := range good {
		if sampled(i) {
			cases = append(cases, damage{fmt.Sprintf("byte %d ^ 0xff", i), flip(good, i, 0xff)})
		}
	}
	if level() >= ci {
		for i := range good {
			for bit := range 8 {
				cases = append(cases, damage{fmt.Sprintf("byte %d bit %d", i, bit), flip(good, i, 1<<bit)})
			}
		}
	}
	for n := range len(good) {
		if level() >= ci || n%8 == 0 {
			cases = append(cases, damage{fmt.Sprintf("cut to %d bytes", n), good[:n]})
		}
	}
	cases = append(cases,
		damage{"one byte more", append(bytes.Clone(good), 0)},
		damage{"empty", nil},
		damage{"not an index", []byte("this is not an index\n")},
	)
	// Another file's index: same size, other content, same times.
	other := bytes.ToUpper(content)
	otherFile := writeFile(t, dir, "other.txt", other)
	touchLike(t, otherFile, file)
	cases = append(cases, damage{"another file's index (same size and mtime)", buildIndex(t, cache, otherFile)})
	// An older version of the same file, then the file as it is.
	older := bytes.Replace(content, []byte("r5:7:"), []byte("r5:7-"), 1)
	olderFile := writeFile(t, dir, "older.txt", older)
	touchLike(t, olderFile, file)
	cases = append(cases, damage{"the index of an older version (same size and mtime)", buildIndex(t, cache, olderFile)})
	// Other format versions, with checksums that hold.
	for _, v := range []uint32{0, 1, 2, 3, 5, 255, 1 << 31} {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[8:], v)
		cases = append(cases, damage{fmt.Sprintf("format version %d", v), testkit.Reseal(b)})
	}
	// The header sealed again after a change in its recorded source:
	// caught by the comparison with the file, not by a checksum. Only
	// the status change time differing is what a chmod looks like: the
	// index is taken after a fingerprint check, and saved again with the
	// file's time, which makes it the good one (restamp).
	for _, f := range []struct {
		name string
		off  int
	}{{"size", 32}, {"mtime", 40}, {"fingerprint", 64}, {"ctime", 104}, {"device", 112}, {"inode", 120}} {
		b := bytes.Clone(good)
		b[f.off] ^= 1
		cases = append(cases, damage{"resealed header, other " + f.name, testkit.Reseal(b)})
	}

	want := func(ns []int) []byte {
		var b []byte
		for _, n := range ns {
			b = append(b, lines[n-1]...)
		}
		return b
	}
	ask := []int{1, 2, 500, 1000, len(lines) - 1, len(lines)}
	askArgs := []string{}
	for _, n := range ask {
		askArgs = append(askArgs, strconv.Itoa(n))
	}
	refused := regexp.MustCompile(`^getline: \S+: rebuilding index: \S+: index is (corrupt|stale): .+\n$`)
	// Without the magic, a file is not an index at all: it is left alone,
	// and getline answers from an index in memory.
	leftAlone := regexp.MustCompile(`^getline: \S+: warning: index not saved, it will be built again next time: \S+: not an index; left alone\n$`)
	isIndex := func(b []byte) bool { return bytes.HasPrefix(b, []byte("LINEDIX\x00")) }

	var runs atomic.Int64
	var reasons sync.Map
	check := func(t *testing.T, c damage, dir, file string, want []byte, good []byte, args []string) {
		idx := filepath.Join(dir, "i.idx")
		if err := os.WriteFile(idx, c.idx, 0o644); err != nil {
			t.Fatal(err)
		}
		r := runTool(t, cache, "getline", nil, append([]string{"--index", idx, file}, args...)...)
		runs.Add(1)
		if r.code != 0 || !bytes.Equal(r.stdout, want) {
			t.Errorf("%s: getline exit %d, stderr %q, output differs from the file (%d bytes, want %d)", c.name, r.code, r.stderr, len(r.stdout), len(want))
			return
		}
		if !isIndex(c.idx) {
			if !leftAlone.Match(r.stderr) {
				t.Errorf("%s: getline's stderr %q does not say the file was left alone", c.name, r.stderr)
			}
			if got, _ := os.ReadFile(idx); !bytes.Equal(got, c.idx) {
				t.Errorf("%s: a file that is not an index was replaced", c.name)
			}
			return
		}
		switch {
		case c.name == restampedCase && len(r.stderr) > 0:
			t.Errorf("%s: getline's stderr %q; want nothing, as after a chmod", c.name, r.stderr)
		case c.name != restampedCase && !refused.Match(r.stderr):
			t.Errorf("%s: getline's stderr %q does not say the index was refused", c.name, r.stderr)
		}
		m := regexp.MustCompile(`index is (\w+: [^:0-9\n]+)`).FindSubmatch(r.stderr)
		if m != nil {
			reasons.Store(string(m[1]), true)
		}
		if got, _ := os.ReadFile(idx); !bytes.Equal(got, good) {
			t.Errorf("%s: the index was not rebuilt to the good one", c.name)
		}
	}
	start := time.Now()
	parallelCases(t, cases, func(t *testing.T, c damage, dir string) { check(t, c, dir, file, want(ask), good, askArgs) })
	smallTook := time.Since(start)

	// mkindex: --check refuses each kind, and a plain run rebuilds.
	for _, c := range []damage{cases[0], {"body", flip(good, 150, 1)}, {"cut", good[:100]}, cases[len(cases)-1]} {
		idx := filepath.Join(t.TempDir(), "i.idx")
		os.WriteFile(idx, c.idx, 0o644)
		r := runTool(t, cache, "mkindex", nil, "--check", "--index", idx, file)
		if !isIndex(c.idx) {
			if r.code != 1 || string(r.stderr) != "mkindex: "+file+": no index\n" {
				t.Errorf("%s: mkindex --check exit %d, stderr %q; want 1 and no index", c.name, r.code, r.stderr)
			}
			r = runTool(t, cache, "mkindex", nil, "--index", idx, file)
			want := "mkindex: " + file + ": cannot write the index: " + idx + ": not an index; left alone\n"
			if got, _ := os.ReadFile(idx); r.code != 1 || !bytes.Equal(got, c.idx) || string(r.stderr) != want {
				t.Errorf("%s: mkindex exit %d, stderr %q; want 1, %q, and the file left alone", c.name, r.code, r.stderr, want)
			}
			continue
		}
		if r.code != 1 || !regexp.MustCompile(`^mkindex: \S+: \S+: index is (corrupt|stale): .+\n$`).Match(r.stderr) {
			t.Errorf("%s: mkindex --check exit %d, stderr %q; want 1 and the reason", c.name, r.code, r.stderr)
		}
		r = runTool(t, cache, "mkindex", nil, "--index", idx, file)
		if got, _ := os.ReadFile(idx); r.code != 0 || !bytes.Equal(got, good) || !regexp.MustCompile(`^mkindex: \S+: rebuilding index: \S+: index is (corrupt|stale): .+\nmkindex: \S+: indexed 1`).Match(r.stderr) {
			t.Errorf("%s: mkindex exit %d, stderr %q; the index not rebuilt, or not said why", c.name, r.code, r.stderr)
		}
	}

	// lined: a sample of the cases, or all of them.
	every := pick(len(cases)/8, len(cases)/40, 1)
	var linedCases []damage
	for i := 0; i < len(cases); i += every {
		linedCases = append(linedCases, cases[i])
	}
	start = time.Now()
	parallelCases(t, linedCases, func(t *testing.T, c damage, dir string) {
		idx := filepath.Join(dir, "i.idx")
		os.WriteFile(idx, c.idx, 0o644)
		p := startLined(t, cache, "--file", file, "--index", idx)
		p.waitReady(10 * time.Second)
		for _, n := range ask {
			code, body, err := p.get("/lines/" + strconv.Itoa(n))
			if err != nil || code != 200 || !bytes.Equal(body, lines[n-1]) {
				t.Errorf("%s: lined line %d: %d %q %v", c.name, n, code, body, err)
			}
		}
		code, _ := p.signal(syscall.SIGTERM, 15*time.Second)
		logs := p.logs.String()
		if !isIndex(c.idx) {
			if !strings.Contains(logs, `not an index; left alone`) {
				t.Errorf("%s: lined does not log that it left the file alone:\n%s", c.name, logs)
			}
			if got, _ := os.ReadFile(idx); code != 0 || !bytes.Equal(got, c.idx) {
				t.Errorf("%s: lined exit %d; the file that is not an index kept: %v", c.name, code, bytes.Equal(got, c.idx))
			}
			return
		}
		if !regexp.MustCompile(`msg=indexing file=\S+ reason="\S+: index is (corrupt|stale): `).MatchString(logs) {
			t.Errorf("%s: lined does not log why it rebuilt the index:\n%s", c.name, logs)
		}
		if got, _ := os.ReadFile(idx); code != 0 || !bytes.Equal(got, good) {
			t.Errorf("%s: lined exit %d; index rebuilt to the good one: %v", c.name, code, bytes.Equal(got, good))
		}
	})
	linedTook := time.Since(start)

	// The large file: random damage to its index.
	size := pick(4<<20, 64<<20, 64<<20)
	big, bigLines := bigFile(size)
	bigPath := writeFile(t, dir, "big.txt", big)
	bigGood := buildIndex(t, cache, bigPath)
	r := rand.New(rand.NewPCG(5, 5))
	var bigCases []damage
	for i := range pick(10, 100, 1000) {
		b := bytes.Clone(bigGood)
		if i%4 == 3 { // a run of random bytes
			off := r.IntN(len(b))
			for j := off; j < min(len(b), off+1+r.IntN(64)); j++ {
				b[j] = byte(r.Uint32())
			}
			bigCases = append(bigCases, damage{fmt.Sprintf("random run at %d", off), b})
			continue
		}
		off := r.IntN(len(b))
		b[off] ^= byte(1 + r.IntN(255))
		bigCases = append(bigCases, damage{fmt.Sprintf("random flip at %d", off), b})
	}
	bigAsk := []int{1, len(bigLines) / 3, len(bigLines) / 2, len(bigLines)}
	var bigWant []byte
	var bigArgs []string
	for _, n := range bigAsk {
		bigWant = append(bigWant, bigLines[n-1]...)
		bigArgs = append(bigArgs, strconv.Itoa(n))
	}
	start = time.Now()
	parallelCases(t, bigCases, func(t *testing.T, c damage, dir string) { check(t, c, dir, bigPath, bigWant, bigGood, bigArgs) })
	bigTook := time.Since(start)

	var kinds []string
	reasons.Range(func(k, _ any) bool { kinds = append(kinds, k.(string)); return true })
	figure(t, "R5", "small index (%d bytes): %d damaged versions, large index (%d KiB, %d MiB file): %d; %d getline runs (%v + %v), %d lined runs (%v), mkindex --check and rebuild on 4: every one detected and rebuilt to the good index, never a wrong line; %d distinct reasons given",
		len(good), len(cases), len(bigGood)>>10, size>>20, len(bigCases), runs.Load(), smallTook.Round(time.Millisecond), bigTook.Round(time.Millisecond),
		len(linedCases), linedTook.Round(time.Millisecond), len(kinds))
	t.Logf("reasons: %s", strings.Join(kinds, "; "))
}

// parallelCases runs fn on every case, four at a time, each with a
// directory of its own; it stops after a failure.
func parallelCases(t *testing.T, cases []damage, fn func(t *testing.T, c damage, dir string)) {
	t.Helper()
	base := t.TempDir()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(cases) || t.Failed() {
					return
				}
				dir := filepath.Join(base, strconv.Itoa(i))
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Error(err)
					return
				}
				fn(t, cases[i], dir)
				os.RemoveAll(dir)
			}
		})
	}
	wg.Wait()
}

// buildIndex runs mkindex on file and returns the index it wrote.
func buildIndex(t *testing.T, cache, file string) []byte {
	t.Helper()
	idx := filepath.Join(t.TempDir(), filepath.Base(file)+".idx")
	if r := runTool(t, cache, "mkindex", nil, "--index", idx, file); r.code != 0 {
		t.Fatalf("mkindex %s: %d %s", file, r.code, r.stderr)
	}
	b, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func flip(b []byte, i int, mask byte) []byte {
	c := bytes.Clone(b)
	c[i] ^= mask
	return c
}

// touchLike gives file the modification time of like.
func touchLike(t *testing.T, file, like string) {
	t.Helper()
	fi, err := os.Stat(like)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// bigFile returns about size bytes of lines of 0..200 random printable
// bytes, and its lines: 1 MiB of them, repeated (generating all of it
// byte by byte is slow under the race detector).
func bigFile(size int) ([]byte, [][]byte) {
	r := rand.New(rand.NewPCG(uint64(size), 1))
	var block []byte
	for len(block) < min(size, 1<<20) {
		for range r.IntN(201) {
			block = append(block, byte(' '+r.IntN(95)))
		}
		block = append(block, '\n')
	}
	b := make([]byte, 0, size+len(block))
	for len(b) < size {
		b = append(b, block...)
	}
	return b, splitLines(b)
}
