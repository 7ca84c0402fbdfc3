package lineindex

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lined/lined/internal/testkit"
)

// These tests check the index against the naive reference splitter on many
// files, hostile and random: line count, the bytes of every line through
// Find and Line.WriteTo, the concatenation of all lines, the checkpoint
// table, and that sequential and parallel builds give the same bytes.

// testSpacings are the checkpoint spacings every file is indexed with;
// 0 means defaultSpacing.
var testSpacings = []int64{512, 4096, 0}

// buildAllWays indexes data sequentially (one task, one worker) and in
// parallel (1 MiB tasks with 1 and with 3 workers, from memory and from a
// file), fails unless the encodings are byte-identical, and returns the sequential index decoded
// from its encoding.
func buildAllWays(t testing.TB, data []byte, spacing int64) *Index {
	t.Helper()
	variants := []struct {
		name    string
		taskLen int64
		workers int
	}{
		{"sequential", 0, 1},
		{"1 worker, 1 MiB tasks", segmentLen, 1},
		{"3 workers, 1 MiB tasks", segmentLen, 3},
		{"3 workers, 1 MiB tasks, from a file", segmentLen, 3},
	}
	var first []byte
	var ix *Index
	for _, v := range variants {
		opts := BuildOptions{Settle: noSettle, Spacing: spacing, readers: v.workers, taskLen: v.taskLen}
		var built *Index
		if strings.HasSuffix(v.name, "from a file") {
			built = buildFromFile(t, data, opts) // mapped into memory on unix
		} else {
			built = buildBytes(t, data, opts)
		}
		enc := encode(t, built)
		if first == nil {
			first, ix = enc, built
			continue
		}
		if !bytes.Equal(enc, first) {
			t.Fatalf("spacing %d: %s build of %d bytes differs from the sequential one (%d vs %d bytes)",
				spacing, v.name, len(data), len(enc), len(first))
		}
	}
	return roundTrip(t, ix)
}

// checkFile runs every check on data, with every spacing.
func checkFile(t testing.TB, data []byte) {
	t.Helper()
	bufs := makeBufs()
	for _, spacing := range testSpacings {
		ix := buildAllWays(t, data, spacing)
		if want := cmp.Or(spacing, defaultSpacing); ix.spacing != want {
			t.Fatalf("Spacing() = %d, want %d", ix.spacing, want)
		}
		if want := naiveCheckpoints(data, ix.spacing); !slices.Equal(ix.cps.all(), want) {
			t.Fatalf("spacing %d: checkpoints differ from their definition:\n got %v\nwant %v",
				ix.spacing, abbrev(ix.cps.all()), abbrev(want))
		}
		checkAllLines(t, ix, data, bufs...)
		checkRanges(t, ix, data, bufs[0], rand.New(rand.NewPCG(uint64(len(data)), uint64(spacing))))
		if spacing == 512 {
			// Start the rotation of buffers at another one, so that
			// each line is found with two buffer sizes.
			checkAllLines(t, ix, data, append(bufs[1:], bufs[0])...)
		}
	}
}

// abbrev formats a checkpoint table for a failure message.
func abbrev(cps []checkpoint) string {
	if len(cps) > 12 {
		return fmt.Sprintf("%v ... %v (%d)", cps[:6], cps[len(cps)-6:], len(cps))
	}
	return fmt.Sprint(cps)
}

func TestNaiveLines(t *testing.T) {
	t.Parallel()
	// The reference itself, on the contract's examples.
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"\n", []string{"\n"}},
		{"a\nb", []string{"a\n", "b"}},
		{"a\n", []string{"a\n"}},
		{"\n\n", []string{"\n", "\n"}},
		{"a\r\nb\r\n", []string{"a\r\n", "b\r\n"}},
		{"\x00", []string{"\x00"}},
	}
	for _, tt := range tests {
		var got []string
		for _, l := range naiveLines([]byte(tt.in)) {
			got = append(got, string(l))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("naiveLines(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestContractExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		lines []string
	}{
		{"", nil},
		{"\n", []string{"\n"}},
		{"a\nb", []string{"a\n", "b"}},
		{"a\n", []string{"a\n"}},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			ix := roundTrip(t, buildBytes(t, []byte(tt.in), BuildOptions{Settle: noSettle}))
			if got := ix.Lines(); got != int64(len(tt.lines)) {
				t.Fatalf("Lines() = %d, want %d", got, len(tt.lines))
			}
			buf := make([]byte, minBuffer)
			for i, want := range tt.lines {
				got, err := readLine(ix, strings.NewReader(tt.in), int64(i)+1, buf)
				if err != nil || string(got) != want {
					t.Errorf("line %d = %q, %v; want %q", i+1, got, err, want)
				}
			}
		})
	}
}

func TestHostileFiles(t *testing.T) {
	t.Parallel()
	for _, tt := range testkit.HostileFiles(3<<20, 20_000) {
		t.Run(tt.Name, func(t *testing.T) {
			if testing.Short() && tt.Name == "20000 empty lines" {
				t.Skip("slow look-ups: see TestManyEmptyLines")
			}
			checkFile(t, tt.Data)
		})
	}
}

func TestManyEmptyLines(t *testing.T) {
	t.Parallel()
	// 10 million empty lines (R7); every line is "\n" at offset N-1.
	n := 10_000_000
	if testing.Short() {
		n = 500_000
	}
	data := bytes.Repeat([]byte("\n"), n)
	for _, spacing := range testSpacings {
		ix := buildAllWays(t, data, spacing)
		if ix.Lines() != int64(n) {
			t.Fatalf("Lines() = %d, want %d", ix.Lines(), n)
		}
		if want := naiveCheckpoints(data, ix.spacing); !slices.Equal(ix.cps.all(), want) {
			t.Fatalf("checkpoints differ from their definition")
		}
		buf := make([]byte, 4096)
		r := rand.New(rand.NewPCG(1, 2))
		for range 2000 {
			k := 1 + r.Int64N(int64(n))
			l, err := ix.Find(bytes.NewReader(data), k, buf)
			if err != nil || l.Offset != k-1 || l.Length != 1 || len(l.Head) > 1 {
				t.Fatalf("Find(%d) = %+v, %v; want the newline at offset %d", k, l, err, k-1)
			}
			var out bytes.Buffer
			if _, err := l.WriteTo(&out, bytes.NewReader(data)); err != nil || out.String() != "\n" {
				t.Fatalf("line %d = %q, %v; want a newline", k, out.Bytes(), err)
			}
		}
	}
}

// shape generates a random file.
type shape struct {
	name  string
	count int // files per run; a quarter of it with -short
	gen   func(r *rand.Rand) []byte
}

var shapes = []shape{
	{"tiny", 300, func(r *rand.Rand) []byte {
		const alphabet = "a\n\r\x00\xff"
		b := make([]byte, r.IntN(17))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return b
	}},
	{"empty lines only", 16, func(r *rand.Rand) []byte {
		// More than defaultSpacing of them in "20000 empty lines".
		return bytes.Repeat([]byte("\n"), r.IntN(2500))
	}},
	{"lines of 0..300 arbitrary bytes", 60, func(r *rand.Rand) []byte {
		var b []byte
		for range r.IntN(600) {
			for range r.IntN(301) {
				b = append(b, byte(r.Uint32()))
			}
			b = append(b, '\n')
		}
		return b
	}},
	{"newlines next to grid points", 40, func(r *rand.Rand) []byte {
		// Lines that end one byte before, at, or just after multiples
		// of 512, so that checkpoints fall on grid points.
		b := bytes.Repeat([]byte("g"), 512*(1+r.IntN(80)))
		for m := 512; m <= len(b); m += 512 {
			if r.IntN(3) > 0 {
				if i := m - 2 + r.IntN(4); i < len(b) {
					b[i] = '\n'
				}
			}
		}
		return b
	}},
	{"long lines across spacing and read boundaries", 8, func(r *rand.Rand) []byte {
		var b []byte
		for len(b) < 2<<20+r.IntN(2<<20) {
			var n int
			switch p := r.IntN(100); {
			case p < 60:
				n = r.IntN(100)
			case p < 85:
				n = 100 + r.IntN(20_000)
			case p < 95:
				n = 20_000 + r.IntN(200_000)
			default:
				n = 200_000 + r.IntN(1_300_000)
			}
			c := byte('a' + r.IntN(26))
			for range n {
				b = append(b, c)
			}
			b = append(b, '\n')
		}
		return b
	}},
	{"newlines at 1 MiB boundaries", 6, func(r *rand.Rand) []byte {
		// Long runs with newlines placed around the build's 1 MiB reads
		// (the tasks of a parallel build in these tests) and grid points.
		b := bytes.Repeat([]byte("m"), 2<<20+r.IntN(2<<20))
		for m := segmentLen; m <= len(b); m += segmentLen {
			for _, d := range []int{-2, -1, 0, 1} {
				if r.IntN(2) == 0 && m+d < len(b) {
					b[m+d] = '\n'
				}
			}
		}
		for range r.IntN(50) {
			b[512*r.IntN(len(b)/512)] = '\n'
		}
		return b
	}},
	{"sparse newlines in random bytes", 6, func(r *rand.Rand) []byte {
		b := make([]byte, 1+r.IntN(9<<19))
		for i := range b {
			if b[i] = byte(r.Uint32()); b[i] == '\n' {
				b[i] = 'n'
			}
		}
		for range []int{0, 1, 2, 10, 1000, 20_000}[r.IntN(6)] {
			b[r.IntN(len(b))] = '\n'
		}
		return b
	}},
}

// endings gives the file a final newline, takes it away, or leaves it.
func endings(r *rand.Rand, b []byte) []byte {
	switch r.IntN(3) {
	case 0:
		if len(b) > 0 && b[len(b)-1] == '\n' {
			return b[:len(b)-1]
		}
	case 1:
		if len(b) == 0 || b[len(b)-1] != '\n' {
			return append(b, '\n')
		}
	}
	return b
}

func TestRandomFiles(t *testing.T) {
	t.Parallel()
	for i, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i)+1, 42))
			count := sh.count
			if testing.Short() {
				count = max(1, count/4)
			}
			for iter := range count {
				data := endings(r, sh.gen(r))
				t.Run(strconv.Itoa(iter), func(t *testing.T) {
					checkFile(t, data)
				})
			}
		})
	}
}

func TestEveryBufferSize(t *testing.T) {
	t.Parallel()
	// Lines of many lengths, one longer than the largest buffer, found
	// with buffers from minBuffer to 64 KiB.
	r := rand.New(rand.NewPCG(3, 3))
	var data []byte
	for i := range 400 {
		n := r.IntN(3000)
		if i == 200 {
			n = 100_000
		}
		for range n {
			data = append(data, byte('A'+r.IntN(26)))
		}
		data = append(data, '\n')
	}
	data = append(data, "last"...)
	sizes := []int{minBuffer, minBuffer + 1, minBuffer + 7, 777, 1023, 1024, 1025, 2048, 3000,
		4095, 4096, 4097, 8192, 16383, 16384, 16385, 30000, 32768, 65535, 64 << 10}
	for _, spacing := range testSpacings {
		ix := buildAllWays(t, data, spacing)
		for _, size := range sizes {
			checkAllLines(t, ix, data, make([]byte, size))
		}
	}
}

func TestFindRefusesSmallBuffers(t *testing.T) {
	t.Parallel()
	data := []byte("a\nb\n")
	ix := buildBytes(t, data, BuildOptions{Settle: noSettle})
	for _, n := range []int{0, 1, minBuffer - 1} {
		if _, err := ix.Find(bytes.NewReader(data), 1, make([]byte, n)); err == nil {
			t.Errorf("Find with a %d-byte buffer succeeded, want an error", n)
		}
	}
	if _, err := ix.Find(bytes.NewReader(data), 1, nil); err == nil {
		t.Errorf("Find with a nil buffer succeeded, want an error")
	}
}

// TestReferenceAgreesWithSed checks the reference itself against GNU sed,
// which the contract names: `sed -n Np` prints the same bytes as line N.
func TestReferenceAgreesWithSed(t *testing.T) {
	t.Parallel()
	sed, err := exec.LookPath("sed")
	if err != nil {
		t.Skip("no sed")
	}
	if out, err := exec.Command(sed, "--version").Output(); err != nil || !bytes.Contains(out, []byte("GNU")) {
		t.Skip("sed is not GNU sed")
	}
	dir := t.TempDir()
	for i, tt := range testkit.HostileFiles(3<<20, 20_000) {
		if len(tt.Data) > 1<<10 {
			continue // a process per line: small files only
		}
		path := filepath.Join(dir, strconv.Itoa(i))
		if err := os.WriteFile(path, tt.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		ref := naiveLines(tt.Data)
		for n := 1; n <= len(ref)+1; n++ {
			out, err := exec.Command(sed, "-n", strconv.Itoa(n)+"p", path).Output()
			if err != nil {
				t.Fatalf("%s: sed: %v", tt.Name, err)
			}
			var want []byte
			if n <= len(ref) {
				want = ref[n-1]
			}
			if !bytes.Equal(out, want) {
				t.Errorf("%s: sed -n %dp = %q, reference %q", tt.Name, n, out, want)
			}
		}
	}
}
