package lineindex

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lined/lined/internal/testkit"
)

// extendAt writes data[:split] to a file, indexes it, appends the rest and
// extends the index; it returns the extended index and a fresh build of
// the whole file, which must be the same, byte for byte.
func extendAt(t *testing.T, dir string, data []byte, split int, spacing int64) (extended, fresh []byte) {
	t.Helper()
	path := testkit.WriteFile(t, dir, "src", data[:split])
	opts := BuildOptions{Settle: noSettle, Spacing: spacing}
	ix := buildFile(t, path, opts)
	w, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[split:]); err != nil {
		t.Fatal(err)
	}
	w.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := ix.extend(t.Context(), f, opts)
	if err != nil {
		t.Fatalf("extend after %d of %d bytes: %v", split, len(data), err)
	}
	return encode(t, x), encode(t, buildFile(t, path, opts))
}

// splitsOf returns where to split data for an append: everywhere for a
// small file; else at random, and at the places where a checkpoint or a
// line is decided: inside a line, between \r and \n, on and around
// checkpoints and grid points, inside a final line without a newline.
func splitsOf(data []byte, spacing int64, r *rand.Rand) []int {
	if len(data) <= 300 {
		s := make([]int, len(data))
		for i := range s {
			s[i] = i
		}
		return s
	}
	var s []int
	some := func(of []int, n int) { // n of them, at random
		r.Shuffle(len(of), func(i, j int) { of[i], of[j] = of[j], of[i] })
		s = append(s, of[:min(n, len(of))]...)
	}
	var random, crlf, grid, cps []int
	for range 20 {
		random = append(random, r.IntN(len(data)))
	}
	for i := 1; i < len(data); i++ {
		if data[i-1] == '\r' && data[i] == '\n' {
			crlf = append(crlf, i)
		}
	}
	for g := spacing; g < int64(len(data)); g += spacing {
		grid = append(grid, int(g)-1, int(g), int(g)+1)
	}
	for _, c := range naiveCheckpoints(data, spacing) {
		cps = append(cps, int(c.off)-1, int(c.off), int(c.off)+1)
	}
	some(random, 20)
	some(crlf, 10)
	some(grid, 15)
	some(cps, 15)
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 && i < len(data)-2 {
		s = append(s, (i+1+len(data))/2, len(data)-1) // inside a final line without a newline
	}
	for seg := segmentLen; seg < len(data); seg += segmentLen { // where a segment's checksum ends
		s = append(s, seg-1, seg, seg+1)
	}
	s = slices.DeleteFunc(s, func(i int) bool { return i < 0 || i >= len(data) }) // something is appended
	slices.Sort(s)
	return slices.Compact(s)
}

// TestExtendIsABuild: an index extended after an append is the index a
// build of the whole file gives, whatever the split.
func TestExtendIsABuild(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(13, 13))
	files := map[string][]byte{
		"mixed":              mixedLines(13)[:300_000],
		"CRLF":               bytes.Repeat([]byte("ab\r\ncd\r\n\r\n"), 30_000),
		"no final newline":   append(printableLines(3, 100_000, 120), "last line, no newline"...),
		"long lines":         bytes.Repeat(append(bytes.Repeat([]byte{'x'}, 5000), '\n'), 40),
		"empty lines":        bytes.Repeat([]byte{'\n'}, 70_000),
		"tiny":               []byte("a\r\nbb\n\nc\r\nd"),
		"one long last line": append([]byte("first\n"), bytes.Repeat([]byte{'y'}, 3<<20)...),
	}
	dir := t.TempDir()
	for name, data := range files {
		for _, spacing := range []int64{512, defaultSpacing} {
			for _, split := range splitsOf(data, spacing, r) {
				x, fresh := extendAt(t, dir, data, split, spacing)
				if !bytes.Equal(x, fresh) {
					t.Fatalf("%s, spacing %d: extended after %d of %d bytes, the index differs from a build", name, spacing, split, len(data))
				}
			}
		}
	}
}

// TestExtendRefuses: an index is extended only for the same file, grown,
// with its old bytes as they were as far as can be seen.
func TestExtendRefuses(t *testing.T) {
	t.Parallel()
	data := numberedLines(3000, 3) // about 200 KiB
	dir := t.TempDir()
	fresh := func() (*Index, string) {
		path := testkit.WriteFile(t, dir, "src", data)
		return buildFile(t, path, BuildOptions{Settle: noSettle, Spacing: 1024}), path
	}
	appendTo := func(path, s string) {
		w, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString(s)
		w.Close()
	}
	changeAt := func(path string, off int64, b string) {
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		w.WriteAt([]byte(b), off)
		w.Close()
	}
	tests := []struct {
		name   string
		change func(path string)
	}{
		{"not grown", func(string) {}},
		{"truncated", func(path string) { os.Truncate(path, int64(len(data)-10)) }},
		{"another file", func(path string) {
			os.Remove(path)
			testkit.WriteFile(t, dir, "src", append(bytes.Clone(data), "more\n"...))
		}},
		{"a sampled byte changed", func(path string) { changeAt(path, 10, "#"); appendTo(path, "more\n") }},
		{"the last line changed", func(path string) { changeAt(path, int64(len(data)-3), "\n"); appendTo(path, "more\n") }},
	}
	for _, tt := range tests {
		ix, path := fresh()
		tt.change(path)
		f := openFile(t, path)
		if x, err := ix.extend(t.Context(), f, BuildOptions{}); !errors.Is(err, errNotGrown) {
			t.Errorf("%s: extend = %v, %v; want errNotGrown", tt.name, x != nil, err)
		}
	}
}

// TestExtendAgain: an index extended again and again, from an index in the
// heap or mapped from its file, is each time the index a build gives, finds
// every line, is written out as that index, and shares its first
// checkpoints with the index it started from; closing the indexes it came
// from, that one included, does not take them away from it.
func TestExtendAgain(t *testing.T) {
	t.Parallel()
	data := mixedLines(17)[:200_000]
	opts := BuildOptions{Settle: noSettle, Spacing: 512}
	r := rand.New(rand.NewPCG(17, 17))
	for _, mapped := range []bool{false, true} {
		splits := []int{r.IntN(50_000) + 1}
		for len(splits) < 7 {
			splits = append(splits, splits[len(splits)-1]+r.IntN(25_000)+1)
		}
		splits = append(splits, len(data))
		dir := t.TempDir()
		path := testkit.WriteFile(t, dir, "src", data[:splits[0]])
		root := buildFile(t, path, opts)
		if mapped {
			idx := path + ".idx"
			if err := root.writeFile(idx, nil); err != nil {
				t.Fatal(err)
			}
			var err error
			if root, err = readFile(idx); err != nil || root.m == nil {
				t.Fatalf("readFile: %v (mapped: %v)", err, err == nil && root.m != nil)
			}
		}
		f := openFile(t, path)
		cur := root
		for i, split := range splits[1:] {
			w, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(data[splits[i]:split])
			w.Close()
			x, err := cur.extend(t.Context(), f, opts)
			if err != nil {
				t.Fatalf("mapped %v: extend to %d bytes: %v", mapped, split, err)
			}
			if x.root() != root {
				t.Fatalf("mapped %v: extension %d is not on the first index's table", mapped, i+1)
			}
			cur.Close() // the first index too: x still uses its mapping
			cur = x
			fresh := encode(t, buildFile(t, path, opts))
			if !bytes.Equal(encode(t, x), fresh) {
				t.Fatalf("mapped %v: extended to %d bytes, the index differs from a build", mapped, split)
			}
			checkAllLines(t, x, data[:split], makeBufs()...)
			out := filepath.Join(dir, "out.idx")
			if err := x.writeFile(out, nil); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, fresh) {
				t.Fatalf("mapped %v: extended to %d bytes, the index written differs from a build (%v)", mapped, split, err)
			}
		}
		cur.Close()
		if mapped && !root.m.closed.Load() {
			t.Fatal("the mapping is still there after every index that used it was closed")
		}
	}
}

// TestExtendedBaseOverwritten: the index file an extended index shares its
// first checkpoints with is overwritten: no line comes back wrong, the
// lines of the damaged block are refused, and the index is not written
// out with the damage.
func TestExtendedBaseOverwritten(t *testing.T) {
	t.Parallel()
	data := numberedLines(3000, 5)
	opts := BuildOptions{Settle: noSettle, Spacing: 512}
	dir := t.TempDir()
	path := testkit.WriteFile(t, dir, "src", data[:len(data)/2])
	built := buildFile(t, path, opts)
	root, idx := mappedIndex(t, encode(t, built))
	w, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[len(data)/2:])
	w.Close()
	x, err := root.extend(t.Context(), openFile(t, path), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	e := x.prefix / 2 // a checkpoint of the shared part
	damaged := root.cps.at(e)
	g, err := os.OpenFile(idx, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	g.WriteAt([]byte{^byte(damaged.off)}, int64(headerLen+e*entryLen+8))
	g.Close()
	if _, refused := checkNeverWrong(t, x, data, make([]byte, minBuffer)); refused == 0 {
		t.Fatal("no line refused after a shared checkpoint was overwritten")
	}
	if _, err := readLine(x, bytes.NewReader(data), damaged.line, make([]byte, minBuffer)); !errors.Is(err, ErrIndexChanged) {
		t.Fatalf("line %d, at the damaged checkpoint: %v; want ErrIndexChanged", damaged.line, err)
	}
	if err := x.writeFile(filepath.Join(dir, "out.idx"), nil); !errors.Is(err, ErrIndexChanged) {
		t.Fatalf("writing the extended index: %v; want ErrIndexChanged", err)
	}
}
