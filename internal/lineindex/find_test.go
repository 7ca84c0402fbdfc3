package lineindex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/lined/lined/internal/testkit"
)

// These tests are about reading lines: how much of the source Find and
// WriteTo read, that huge lines are streamed, that Find allocates nothing
// and can be used concurrently, and that a source that changed under its
// index gives errors rather than wrong lines.

// mixedLines returns short printable lines with some lines of 1 KiB to
// 20 KiB, one of 100 KiB and one of 1 MiB among them.
func mixedLines(seed uint64) []byte {
	short := printableLines(seed, 700<<10, 200)
	r := rand.New(rand.NewPCG(seed, 1))
	var b []byte
	for len(short) > 0 {
		i := bytes.IndexByte(short, '\n')
		b, short = append(b, short[:i+1]...), short[i+1:]
		if r.IntN(100) == 0 {
			b = append(b, bytes.Repeat([]byte("m"), 1000+r.IntN(20_000))...)
			b = append(b, '\n')
		}
	}
	mid := bytes.IndexByte(b[len(b)/2:], '\n') + len(b)/2 + 1
	long := append(bytes.Repeat([]byte("L"), 100<<10), '\n')
	huge := append(bytes.Repeat([]byte("H"), 1<<20), '\n')
	return bytes.Join([][]byte{b[:mid], long, b[mid:], huge, []byte("end")}, nil)
}

func TestFindReadBound(t *testing.T) {
	t.Parallel()
	// The contract: reading line N costs at most len(line N) + 64 KiB of
	// reads from the source (with the default spacing and buffers up to
	// 64 KiB). In more detail, WriteTo reads exactly the part of the line
	// Find did not, and Find alone reads at most spacing+len(buf) bytes
	// for a line no longer than the buffer or at least spacing long, or
	// with a buffer whose size is a power of two. Otherwise, when a line
	// starts near the end of a window, Find reads it again from its start
	// (find.go, "Read again from the line's start") and may read up to
	// spacing+2*len(buf).
	data := mixedLines(11)
	path := testkit.WriteFile(t, t.TempDir(), "mixed", data)
	file := openFile(t, path)
	ref := naiveLines(data)
	for _, spacing := range []int64{defaultSpacing, 4096, 512} {
		ix := buildBytes(t, data, BuildOptions{Settle: noSettle, Spacing: spacing})
		for _, size := range []int{minBuffer, 1000, 4096, 16 << 10, 64 << 10} {
			buf := make([]byte, size)
			var worstFind, worstTotal int64 // beyond the line's length
			for _, source := range []io.ReaderAt{bytes.NewReader(data), file} {
				src := &countingReaderAt{r: source}
				step := 1
				if source == file {
					step = 7
				}
				for i := 0; i < len(ref); i += step {
					n := int64(i) + 1
					src.reset()
					l, err := ix.Find(src, n, buf)
					if err != nil {
						t.Fatalf("Find(%d): %v", n, err)
					}
					found := src.bytes.Load()
					w, err := l.WriteTo(io.Discard, src)
					if err != nil || w != int64(len(ref[i])) {
						t.Fatalf("line %d: WriteTo = %d, %v; want %d bytes", n, w, err, len(ref[i]))
					}
					total := src.bytes.Load()
					if total-found != l.Length-int64(len(l.Head)) {
						t.Fatalf("line %d: WriteTo read %d bytes, want the %d Find did not", n, total-found, l.Length-int64(len(l.Head)))
					}
					if spacing == defaultSpacing && total > l.Length+64<<10 {
						t.Errorf("line %d (%d bytes, buffer %d): read %d bytes, more than its length + 64 KiB", n, l.Length, size, total)
					}
					if total > l.Length+spacing+2*int64(size) {
						t.Errorf("spacing %d, line %d (%d bytes, buffer %d): read %d bytes, more than length + spacing + 2 buffers",
							spacing, n, l.Length, size, total)
					}
					pow2 := size&(size-1) == 0
					if (pow2 || l.Length <= int64(size) || l.Length >= spacing) && found > spacing+int64(size) {
						t.Errorf("spacing %d, line %d (%d bytes, buffer %d): Find read %d bytes, more than spacing + buffer",
							spacing, n, l.Length, size, found)
					}
					if found > spacing+2*int64(size) {
						t.Errorf("spacing %d, line %d (%d bytes, buffer %d): Find read %d bytes, more than spacing + 2 buffers",
							spacing, n, l.Length, size, found)
					}
					worstFind = max(worstFind, found-min(l.Length, found))
					worstTotal = max(worstTotal, total-l.Length)
				}
			}
			t.Logf("spacing %5d, buffer %5d: at most %5d bytes read beyond the line by Find, %5d by Find+WriteTo",
				spacing, size, worstFind, worstTotal)
		}
	}
}

// checkingWriter checks that what is written to it is n bytes of b and a
// newline, without keeping any of it.
type checkingWriter struct {
	b       byte
	n       int64 // bytes written so far
	want    int64
	failure error
}

func (w *checkingWriter) Write(p []byte) (int, error) {
	for i, c := range p {
		if at := w.n + int64(i); (at == w.want-1) != (c == '\n') || (c != '\n' && c != w.b) {
			if w.failure == nil {
				w.failure = fmt.Errorf("byte %d is %q", at, c)
			}
		}
	}
	w.n += int64(len(p))
	return len(p), nil
}

// totalAlloc returns the bytes allocated by the program so far.
func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

func TestHugeLineIsStreamed(t *testing.T) {
	// A 64 MiB line is written through a bounded buffer: far less than
	// the line is allocated on the way (P7 asks for RSS growth <= 8 MiB).
	if testing.Short() {
		t.Skip("64 MiB line: not with -short")
	}
	const hugeLen = 64 << 20
	const maxAlloc = 8 << 20

	// A source of that size that holds no data...
	spans := newSpanSource(span{lit: []byte("first\n")}, span{b: 'h', n: hugeLen - 1}, span{lit: []byte("\nlast")})
	// ... and a sparse file: NUL bytes are not newlines.
	path := filepath.Join(t.TempDir(), "huge")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("first\n"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("\nlast"), 6+hugeLen-1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	file := openFile(t, path)

	for _, tt := range []struct {
		name string
		src  io.ReaderAt
		fill byte
	}{
		{"synthetic", spans, 'h'},
		{"sparse file", file, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := buildFrom(context.Background(), tt.src, spans.size, testModTime, BuildOptions{Settle: noSettle})
			if err != nil {
				t.Fatal(err)
			}
			if ix.Lines() != 3 {
				t.Fatalf("Lines() = %d, want 3", ix.Lines())
			}
			buf := make([]byte, 64<<10)
			writers := []struct {
				name string
				w    func(*checkingWriter) io.Writer
			}{
				// io.Discard takes the ReadFrom path of io.Copy, and a
				// plain writer the buffer path.
				{"io.Discard", func(*checkingWriter) io.Writer { return io.Discard }},
				{"plain writer", func(c *checkingWriter) io.Writer { return c }},
			}
			for _, wr := range writers {
				check := &checkingWriter{b: tt.fill, want: hugeLen}
				w := wr.w(check)
				runtime.GC()
				before := totalAlloc()
				l, err := ix.Find(tt.src, 2, buf)
				if err != nil {
					t.Fatal(err)
				}
				n, err := l.WriteTo(w, tt.src)
				allocated := totalAlloc() - before
				if err != nil || n != hugeLen || l.Offset != 6 || l.Length != hugeLen {
					t.Fatalf("%s: line 2 = %+v, wrote %d, %v; want %d bytes at 6", wr.name, l.Length, n, err, hugeLen)
				}
				if w == check && (check.n != hugeLen || check.failure != nil) {
					t.Fatalf("%s: wrote %d bytes, %v", wr.name, check.n, check.failure)
				}
				if allocated >= maxAlloc {
					t.Errorf("%s: writing a %d MiB line allocated %d bytes", wr.name, hugeLen>>20, allocated)
				}
				t.Logf("%s: writing a %d MiB line allocated %d bytes", wr.name, hugeLen>>20, allocated)
			}
			for n, want := range map[int64]string{1: "first\n", 3: "last"} {
				if got, err := readLine(ix, tt.src, n, buf); err != nil || string(got) != want {
					t.Errorf("line %d = %q, %v; want %q", n, got, err, want)
				}
			}
		})
	}
}

func TestFindDoesNotAllocate(t *testing.T) {
	data := printableLines(5, 4<<20, 200)
	path := testkit.WriteFile(t, t.TempDir(), "text", data)
	file := openFile(t, path)
	built := buildBytes(t, data, BuildOptions{Settle: noSettle})
	if err := built.writeFile(path+".idx", nil); err != nil {
		t.Fatal(err)
	}
	read, err := readFile(path + ".idx") // mapped, where the system can
	if err != nil {
		t.Fatal(err)
	}
	defer read.Close()
	for _, ix := range []*Index{built, read} {
		for _, tt := range []struct {
			name string
			src  io.ReaderAt
		}{
			{"bytes.Reader", bytes.NewReader(data)},
			{"os.File", file},
		} {
			for _, size := range []int{minBuffer, 4096, 64 << 10} {
				buf := make([]byte, size)
				r := rand.New(rand.NewPCG(1, uint64(size)))
				var err error
				allocs := testing.AllocsPerRun(500, func() {
					if _, e := ix.Find(tt.src, 1+r.Int64N(ix.Lines()), buf); e != nil {
						err = e
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				if allocs != 0 {
					t.Errorf("%s, buffer %d, mapped %v: Find allocates %v times per call, want 0", tt.name, size, ix.m != nil, allocs)
				}
			}
		}
	}
}

func TestFindConcurrently(t *testing.T) {
	t.Parallel()
	// An Index is safe for concurrent use (run with -race).
	data := mixedLines(2)
	ref := naiveLines(data)
	ix := buildBytes(t, data, BuildOptions{Settle: noSettle, Spacing: 4096})
	src := bytes.NewReader(data)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			buf := make([]byte, bufSizes[g%len(bufSizes)])
			for range 500 {
				n := 1 + r.Int64N(ix.Lines())
				got, err := readLine(ix, src, n, buf)
				if err != nil || !bytes.Equal(got, ref[n-1]) {
					errs <- fmt.Errorf("line %d: %.40q, %v", n, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// numberedLines returns count lines "line N ....\n" of varied lengths, each
// different from every other.
func numberedLines(count int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	var b []byte
	for i := 1; i <= count; i++ {
		b = fmt.Appendf(b, "line %d ", i)
		for range r.IntN(120) {
			b = append(b, byte('a'+r.IntN(26)))
		}
		b = append(b, '\n')
	}
	return b
}

// changedSourceOrig is a source for the tests of changes under the index:
// numbered lines, a line longer than the buffers, no final newline.
func changedSourceOrig() (orig []byte, longStart int) {
	orig = numberedLines(400, 1)
	longStart = len(orig)
	orig = append(orig, bytes.Repeat([]byte("z"), 40_000)...)
	orig = append(orig, "\nafter the long line\nno final newline"...)
	return orig, longStart
}

// checkChangedSource builds an index of orig and checks, with several
// spacings and buffers, that it never serves a wrong line of cur.
func checkChangedSource(t *testing.T, orig, cur []byte) {
	t.Helper()
	for _, spacing := range []int64{512, 4096, defaultSpacing} {
		ix := buildBytes(t, orig, BuildOptions{Settle: noSettle, Spacing: spacing})
		for _, size := range []int{minBuffer, 4096, 64 << 10} {
			served, refused := checkNeverWrong(t, ix, cur, make([]byte, size))
			if len(cur) < len(orig) && refused == 0 {
				t.Errorf("spacing %d, buffer %d: the source lost %d bytes, yet no line was refused",
					spacing, size, len(orig)-len(cur))
			}
			t.Logf("spacing %d, buffer %d: %d lines served right, %d refused", spacing, size, served, refused)
		}
	}
}

func TestFindAfterSourceChanged(t *testing.T) {
	t.Parallel()
	// The index is used on a source that changed after it was built,
	// without Validate: whatever Find and WriteTo serve must still be
	// line N of the file as it is now; everything else is an error.
	orig, longStart := changedSourceOrig()

	// moveWithin moves the newline ending line k to the middle of line
	// k+1: a change confined to a stretch shorter than the spacing.
	moveWithin := func(k int) func([]byte) []byte {
		return func(b []byte) []byte {
			b = bytes.Clone(b)
			ref := naiveLines(b)
			end := len(bytes.Join(ref[:k], nil)) - 1
			b[end], b[end+len(ref[k])/2] = b[end+len(ref[k])/2], b[end]
			return b
		}
	}
	tests := []struct {
		name   string
		change func([]byte) []byte
	}{
		{"truncated to 0", func(b []byte) []byte { return nil }},
		{"truncated by 1", func(b []byte) []byte { return b[:len(b)-1] }},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"truncated inside the long line", func(b []byte) []byte { return b[:longStart+20_000] }},
		{"truncated before the long line", func(b []byte) []byte { return b[:longStart] }},
		{"newline moved within a line's neighbourhood", moveWithin(200)},
		{"newline moved within the first lines", moveWithin(1)},
		{"all newlines removed", func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte(" ")) }},
		{"all bytes newlines", func(b []byte) []byte { return bytes.Repeat([]byte("\n"), len(b)) }},
		{"letters changed, newlines kept", func(b []byte) []byte { return bytes.ToUpper(b) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkChangedSource(t, orig, tt.change(orig))
		})
	}
	t.Run("grown, final newline", func(t *testing.T) {
		withNewline := append(bytes.Clone(orig), '\n')
		checkChangedSource(t, withNewline, append(bytes.Clone(withNewline), "more\n"...))
	})
}

func TestFindAfterLineEndMoved(t *testing.T) {
	t.Parallel()
	// The newline ending a line moved one byte later, or a newline written
	// into a long line, where Find does not look: the line is the last
	// before a checkpoint and extends past the buffer window in which it
	// starts, so Find checks only its Head and WriteTo checks the rest as it
	// streams it. The changed line must be refused. (The lines after it are
	// renumbered by the new newline, which no look-up can see from a line's
	// neighbourhood: Validate catches that, see TestValidateCatchesRenumbering.)
	t.Run("smallest case", func(t *testing.T) {
		// Line 2 is 601 bytes; with a 512-byte buffer Find sees its first
		// 510. Byte 550 becomes a newline: line 2 of the file is now 549
		// bytes, and the 601 bytes must not be served.
		orig := []byte("a\n" + strings.Repeat("x", 600) + "\nb\n")
		cur := bytes.Clone(orig)
		cur[550] = '\n'
		ix := buildBytes(t, orig, BuildOptions{Settle: noSettle, Spacing: 512})
		wantRefused(t, ix, cur, 2)
	})
	orig, _ := changedSourceOrig()
	t.Run("every newline one byte later", func(t *testing.T) {
		cur := bytes.Clone(orig)
		for i := 0; i < len(cur)-1; i++ {
			if cur[i] == '\n' {
				cur[i], cur[i+1] = cur[i+1], cur[i]
				i++
			}
		}
		checkChangedSource(t, orig, cur)
	})
	t.Run("newline inside a long line", func(t *testing.T) {
		orig := numberedLines(20, 3)
		longStart := len(orig)
		orig = append(orig, bytes.Repeat([]byte("z"), 200_000)...)
		orig = append(orig, "\nlast line\n"...)
		cur := bytes.Clone(orig)
		cur[longStart+150_000] = '\n' // same size, one line more
		ix := buildBytes(t, orig, BuildOptions{Settle: noSettle})
		wantRefused(t, ix, cur, int64(len(naiveLines(orig))-1))
	})
}

// wantRefused checks that line n of an index built before the source became
// cur is refused with ErrMismatch, whatever the buffer size.
func wantRefused(t *testing.T, ix *Index, cur []byte, n int64) {
	t.Helper()
	for _, buf := range makeBufs() {
		got, err := readLine(ix, bytes.NewReader(cur), n, buf)
		if !errors.Is(err, ErrMismatch) {
			t.Errorf("buffer %d: line %d: got %d bytes %.40q, %v; want ErrMismatch", len(buf), n, len(got), got, err)
		}
	}
}

func TestFindAfterUnterminatedLastLineGrew(t *testing.T) {
	t.Parallel()
	// Bytes appended to a file whose last line has no newline extend that
	// line; Find still serves it as it was. A fix: when the last line has
	// no newline, check that the source has no byte at Size().
	orig := []byte("one\ntwo\nthree, no newline")
	cur := append(bytes.Clone(orig), " yet\nfour\n"...)
	checkChangedSource(t, orig, cur)
}

// TestFindLastLineAfterTheFileGrew: once the source has grown, the
// index's last line is still served if it ended with a newline, wherever
// it lies against the windows Find reads (R10 caught one longer than the
// window it starts in, taken for a line without a newline, and refused);
// if it did not end with one, it has grown too and is refused: by Find, or
// by WriteTo at its end if the source grew after Find.
func TestFindLastLineAfterTheFileGrew(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(4, 4))
	buf := make([]byte, minBuffer)
	for round := range 300 {
		var orig []byte
		for range 1 + rng.IntN(60) {
			orig = append(orig, bytes.Repeat([]byte{'a' + byte(round%26)}, rng.IntN(3*minBuffer))...)
			orig = append(orig, '\n')
		}
		open := round%3 == 0
		if open {
			orig = append(orig, bytes.Repeat([]byte{'z'}, 1+rng.IntN(3*minBuffer))...)
		}
		grownBytes := append(bytes.Clone(orig), "appended\n"...)
		ix := buildBytes(t, orig, BuildOptions{Settle: noSettle, Spacing: 512})
		checkGrownLines(t, ix, orig, grownBytes, buf)
		grown, last := bytes.NewReader(grownBytes), ix.Lines()
		before, err := ix.Find(bytes.NewReader(orig), last, buf)
		if err != nil {
			t.Fatalf("round %d: last line: %v", round, err)
		}
		if _, err := before.WriteTo(io.Discard, grown); open && int64(len(before.Head)) < before.Length && !errors.Is(err, ErrMismatch) {
			t.Errorf("round %d: last line (no newline) found, then the source grew: WriteTo gave %v, want ErrMismatch", round, err)
		}
	}
}

func TestRenumberingKeepingTimes(t *testing.T) {
	t.Parallel()
	// A newline moved from near the start of the file to far after it
	// changes the number of every line in between, while the bytes around
	// each checkpoint stay as the index expects, so no look-up can see it.
	// Here the file is rewritten in place, same size, with its
	// modification time put back, and the change lies outside the
	// fingerprint's samples: only its status change time moved, as with a
	// chmod. Validate goes by the fingerprint, as for a chmod, and takes
	// it (the limit documented at Index.validate); Verify reads everything
	// and refuses it; a Source refuses it unless told that the file was
	// not written to (lined knows, from inotify).
	if runtime.GOOS != "linux" {
		t.Skip("the status change time is read on Linux only")
	}
	orig := numberedLines(20_000, 4) // over 64 KiB: sampled, not read whole
	ref := naiveLines(orig)
	size := int64(len(orig))
	cur := bytes.Clone(orig)
	from := int64(len(bytes.Join(ref[:5000], nil)) - 1) // the newline ending line 5000
	to := from + int64(len(ref[5000]))/2                // inside line 5001
	for sampled(size, from) || sampled(size, to) {
		from += int64(len(ref[5000]))
		to = from + 3
	}
	cur[from], cur[to] = cur[to], cur[from]
	path := testkit.WriteFile(t, t.TempDir(), "src", orig)
	ix := buildFile(t, path, BuildOptions{Settle: noSettle})
	src := ix.Source(openFile(t, path), SourceOptions{})
	for _, unwritten := range []func() bool{nil, func() bool { return false }} {
		src.Unwritten = unwritten
		if got := src.State(); got != Same {
			t.Fatalf("State before the change = %v", got)
		}
	}
	replaceKeepingTime(t, path, cur)
	if got := src.State(); got != Changed {
		t.Fatalf("State after the rewrite, with no word on writes = %v; want Changed", got)
	}
	f := openFile(t, path)
	if restamped, err := ix.validate(f); err != nil || !restamped {
		t.Fatalf("Validate after a renumbering change: restamped %v, %v; want a restamp, as for a chmod", restamped, err)
	}
	wantStale(t, ix.verify(context.Background(), f, BuildOptions{Settle: noSettle}), "Verify after a renumbering change")
}

func TestWriteToErrors(t *testing.T) {
	t.Parallel()
	data := []byte("short\n" + string(bytes.Repeat([]byte("x"), 5000)) + "\n")
	ix := buildBytes(t, data, BuildOptions{Settle: noSettle, Spacing: 512})
	buf := make([]byte, minBuffer)
	l, err := ix.Find(bytes.NewReader(data), 2, buf)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(l.Head)) >= l.Length {
		t.Fatalf("line 2 fits the buffer; the test needs a longer line")
	}
	// A source that became shorter after Find.
	if _, err := l.WriteTo(io.Discard, bytes.NewReader(data[:3000])); !errors.Is(err, ErrMismatch) {
		t.Errorf("WriteTo from a shortened source: %v, want ErrMismatch", err)
	}
	// A failing writer.
	errWrite := errors.New("write failed")
	if _, err := l.WriteTo(failingWriter{errWrite}, bytes.NewReader(data)); !errors.Is(err, errWrite) {
		t.Errorf("WriteTo to a failing writer: %v, want %v", err, errWrite)
	}
	// A failing source.
	errRead := errors.New("read failed")
	if _, err := ix.Find(failingReaderAt{errRead}, 2, buf); !errors.Is(err, errRead) {
		t.Errorf("Find from a failing source: %v, want %v", err, errRead)
	}
	if _, err := l.WriteTo(io.Discard, failingReaderAt{errRead}); !errors.Is(err, errRead) {
		t.Errorf("WriteTo from a failing source: %v, want %v", err, errRead)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write(p []byte) (int, error) { return 0, w.err }

type failingReaderAt struct{ err error }

func (r failingReaderAt) ReadAt(p []byte, off int64) (int, error) { return 0, r.err }

func TestRangeError(t *testing.T) {
	t.Parallel()
	err := error(&RangeError{N: 12, Lines: 10})
	if got, want := err.Error(), "line 12 is beyond the end of the file (10 lines)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	ix := buildBytes(t, nil, BuildOptions{Settle: noSettle})
	var re *RangeError
	if _, err := ix.Find(bytes.NewReader(nil), 1, make([]byte, minBuffer)); !errors.As(err, &re) || re.Lines != 0 {
		t.Errorf("Find(1) in an empty file: %v, want a RangeError", err)
	}
}

// TestRangeRefusesAChangedSource: lines streamed as a range from a source
// whose newlines moved, appeared or vanished within the range (a change
// the file's status did not show) stop with ErrMismatch before the end:
// the output is cut, never complete.
func TestRangeRefusesAChangedSource(t *testing.T) {
	t.Parallel()
	data := numberedLines(5000, 9)
	ix := buildBytes(t, data, BuildOptions{Settle: noSettle, Spacing: 512})
	ref := naiveLines(data)
	const first, last = 1000, 3000
	want := bytes.Join(ref[first-1:last], nil)
	start := int64(bytes.Index(data, want))
	changes := map[string]func(b []byte){
		"a newline added":    func(b []byte) { b[start+int64(len(want))/2] = '\n' },
		"a newline removed":  func(b []byte) { b[start+int64(len(ref[first-1]))-1] = 'x' },
		"the last one moved": func(b []byte) { b[start+int64(len(want))-1], b[start+int64(len(want))-2] = 'x', '\n' },
		"one after the end":  func(b []byte) { b[start+int64(len(want))-1] = 'x' },
	}
	buf := make([]byte, 4096)
	for name, change := range changes {
		l, err := ix.FindRange(bytes.NewReader(data), first, last, buf)
		if err != nil {
			t.Fatal(err)
		}
		changed := bytes.Clone(data)
		change(changed)
		var got bytes.Buffer
		if _, err := l.WriteTo(&got, bytes.NewReader(changed)); !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: WriteTo: %v, want ErrMismatch", name, err)
		}
		if got.Len() >= len(want) {
			t.Errorf("%s: wrote %d bytes of %d: all of the range", name, got.Len(), len(want))
		}
	}
}

// TestRunsCopiedByTheKernel writes long runs of lines to files and pipes,
// where the kernel copies them between their inner checkpoints, and to a
// file opened to append, where it cannot: the bytes are the reference's either way, and
// a change to the file stops the copy.
func TestRunsCopiedByTheKernel(t *testing.T) {
	t.Parallel()
	data := numberedLines(60_000, 11)
	ref := naiveLines(data)
	lines := int64(len(ref))
	path := testkit.WriteFile(t, t.TempDir(), "src", data)
	ix := buildFile(t, path, BuildOptions{Settle: noSettle, Spacing: 512})
	src := ix.Source(openFile(t, path), SourceOptions{})
	buf := make([]byte, 4096)
	r := rand.New(rand.NewPCG(5, 5))
	ranges := [][2]int64{{1, lines}, {2, lines - 1}, {1, math.MaxInt64}}
	for range 10 {
		first := 1 + r.Int64N(lines/2)
		ranges = append(ranges, [2]int64{first, first + lines/3 + r.Int64N(lines/2)})
	}
	dir := t.TempDir()
	for i, fl := range ranges {
		l, err := ix.FindRange(src, fl[0], fl[1], buf)
		if err != nil {
			t.Fatal(err)
		}
		if l.inner[1].off-l.inner[0].off < minSend {
			t.Fatalf("lines %d-%d: inner checkpoints %v, want %d bytes or more between them", fl[0], fl[1], l.inner, minSend)
		}
		want := bytes.Join(ref[fl[0]-1:min(fl[1], lines)], nil)
		for _, flag := range []int{os.O_TRUNC, os.O_APPEND} {
			out, err := os.OpenFile(filepath.Join(dir, fmt.Sprint(i)), os.O_CREATE|os.O_WRONLY|flag, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			n, err := l.WriteTo(out, src)
			out.Close()
			got, _ := os.ReadFile(out.Name())
			if err != nil || n != int64(len(want)) || !bytes.Equal(got, want) {
				t.Fatalf("lines %d-%d to a file (flag %#x): %d, %v; %d bytes, want %d equal to the reference's", fl[0], fl[1], flag, n, err, len(got), len(want))
			}
			os.Remove(out.Name())
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		read := make(chan []byte)
		go func() {
			got, _ := io.ReadAll(pr)
			read <- got
		}()
		n, err := l.WriteTo(pw, src)
		pw.Close()
		if got := <-read; err != nil || n != int64(len(want)) || !bytes.Equal(got, want) {
			t.Fatalf("lines %d-%d to a pipe: %d, %v; %d bytes, want %d equal to the reference's", fl[0], fl[1], n, err, len(got), len(want))
		}
		pr.Close()
	}

	l, err := ix.FindRange(src, 1, lines, buf)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("changed"), int64(len(data))/2); err != nil {
		t.Fatal(err)
	}
	w.Close()
	out, err := os.Create(filepath.Join(dir, "after a change"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if n, err := l.WriteTo(out, src); !errors.Is(err, ErrMismatch) || n >= int64(len(data)) {
		t.Fatalf("WriteTo after a change: %d bytes of %d, %v; want ErrMismatch before the end", n, len(data), err)
	}
	if n, err := src.sendTo(out, l.inner[0].off, l.inner[1].off); !errors.Is(err, ErrMismatch) || n > sendPiece {
		t.Fatalf("sendTo after a change: %d bytes, %v; want ErrMismatch after one piece at most", n, err)
	}
}
