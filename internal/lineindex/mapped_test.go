//go:build unix

package lineindex

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lined/lined/internal/testkit"
)

// These tests are about indexes whose body is a mapping of the index file,
// which others may truncate or overwrite while it is used.

// mappedIndex writes enc to a new index file and reads it back, mapped.
func mappedIndex(t testing.TB, enc []byte) (*Index, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.idx")
	if err := os.WriteFile(path, enc, 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err := readFile(path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if ix.m == nil {
		t.Fatal("ReadFile did not map the index")
	}
	t.Cleanup(func() { ix.Close() })
	return ix, path
}

func TestReadFileMaps(t *testing.T) {
	t.Parallel()
	data := mixedLines(4)
	built := buildBytes(t, data, BuildOptions{Settle: noSettle, Spacing: 512})
	enc := encode(t, built)
	ix, _ := mappedIndex(t, enc)
	checkAllLines(t, ix, data, makeBufs()...)
	if got := encode(t, ix); !bytes.Equal(got, enc) {
		t.Fatal("a mapped index encodes differently")
	}
	if len(ix.sums) != (len(enc)-headerLen+sumLen-1)/sumLen {
		t.Fatalf("%d chunk sums for a body of %d bytes", len(ix.sums), len(enc)-headerLen)
	}

	// Close unmaps, once; a look-up afterwards fails rather than faults.
	for range 2 {
		if err := ix.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if _, err := ix.Find(bytes.NewReader(data), 1, make([]byte, minBuffer)); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Find after Close: %v, want fs.ErrClosed", err)
	}
	if _, err := ix.marshal(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("MarshalBinary after Close: %v, want fs.ErrClosed", err)
	}
	// An index in memory has nothing to close, and works on.
	if err := built.Close(); err != nil {
		t.Fatalf("Close of a built index: %v", err)
	}
	checkAllLines(t, built, data, make([]byte, 4096))
}

// A mapped index file cut while look-ups run: each gives the right line or
// ErrIndexChanged (an ErrMismatch), never a crash from SIGBUS, and once the
// file is whole again they succeed again.
func TestMappedIndexTruncated(t *testing.T) {
	t.Parallel()
	data := printableLines(7, 2<<20, 200)
	ref := naiveLines(data)
	src := bytes.NewReader(data)
	enc := encode(t, buildBytes(t, data, BuildOptions{Settle: noSettle, Spacing: 512})) // a 64 KiB body
	ix, path := mappedIndex(t, enc)

	var stop atomic.Bool
	var served, refused atomic.Int64
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for w := range cap(errs) {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			buf := make([]byte, 4096)
			for !stop.Load() {
				n := 1 + r.Int64N(ix.Lines())
				got, err := readLine(ix, src, n, buf)
				switch {
				case errors.Is(err, ErrMismatch):
					refused.Add(1)
				case err != nil:
					errs <- fmt.Errorf("line %d: %v", n, err)
					return
				case !bytes.Equal(got, ref[n-1]):
					errs <- fmt.Errorf("line %d: got %.60q, want %.60q", n, got, ref[n-1])
					return
				default:
					served.Add(1)
				}
			}
		})
	}
	buf := make([]byte, 4096)
	rounds := 10
	if testing.Short() {
		rounds = 3
	}
	for range rounds {
		// Past the first page of the body, inside the header, to nothing.
		for _, size := range []int64{8192 + 200, 100, 0} {
			if err := os.Truncate(path, size); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
			// Whatever the search reads beyond the end faults.
			if _, err := ix.Find(src, ix.Lines(), buf); !errors.Is(err, ErrIndexChanged) {
				t.Fatalf("file cut to %d bytes: Find(last line) = %v, want ErrIndexChanged", size, err)
			}
			// Written again in place, the mapping sees it whole again.
			if err := os.WriteFile(path, enc, 0o644); err != nil {
				t.Fatal(err)
			}
			if got, err := readLine(ix, src, ix.Lines(), buf); err != nil || !bytes.Equal(got, ref[len(ref)-1]) {
				t.Fatalf("file written again: last line = %.60q, %v", got, err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d look-ups served, %d refused", served.Load(), refused.Load())
	if served.Load() == 0 || refused.Load() == 0 {
		t.Errorf("%d look-ups served and %d refused: the test missed a case", served.Load(), refused.Load())
	}
}

// Each byte of a mapped index file overwritten in place: no look-up gives a
// wrong line, and those that use the damaged checkpoint are refused.
func TestMappedIndexOverwritten(t *testing.T) {
	t.Parallel()
	data := numberedLines(1500, 3)
	ref := naiveLines(data)
	src := bytes.NewReader(data)
	built := buildBytes(t, data, BuildOptions{Settle: noSettle, Spacing: 512})
	cps := built.cps.all()
	if len(cps)*entryLen < 2*sumLen {
		t.Fatalf("only %d checkpoints: the body should span several chunks", len(cps))
	}
	enc := encode(t, built)
	ix, path := mappedIndex(t, enc)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	write := func(b []byte, off int) {
		t.Helper()
		if _, err := f.WriteAt(b, int64(off)); err != nil {
			t.Fatal(err)
		}
	}

	buf := make([]byte, minBuffer)
	masks, step := []byte{0x01, 0xff}, int64(10)
	if testing.Short() {
		masks, step = []byte{0xff}, 50
	}
	var refused int
	for i := range enc {
		e := (i - headerLen) / entryLen // the damaged checkpoint, if in the body
		for _, mask := range masks {
			write([]byte{enc[i] ^ mask}, i)
			for n := int64(1); n <= ix.Lines(); n++ {
				// Lines in the blocks on either side of the damaged
				// checkpoint must be refused; the others may be.
				near := i >= headerLen && n >= cps[max(e-1, 0)].line && n < cps[min(e+1, len(cps)-1)].line
				if !near && n%step != 0 {
					continue
				}
				got, err := readLine(ix, src, n, buf)
				switch {
				case err == nil && !bytes.Equal(got, ref[n-1]):
					t.Fatalf("byte %d ^ %#x: line %d = %.60q, want %.60q", i, mask, n, got, ref[n-1])
				case err == nil && near:
					t.Fatalf("byte %d ^ %#x: line %d served from a damaged block", i, mask, n)
				case err != nil && !errors.Is(err, ErrIndexChanged):
					t.Fatalf("byte %d ^ %#x: line %d: %v, want ErrIndexChanged", i, mask, n, err)
				case err != nil && i < headerLen:
					t.Fatalf("byte %d ^ %#x of the header, read at load only: line %d: %v", i, mask, n, err)
				case err != nil:
					refused++
				}
			}
			if _, err := ix.marshal(); i >= headerLen && !errors.Is(err, ErrIndexChanged) {
				t.Fatalf("byte %d ^ %#x: MarshalBinary: %v, want ErrIndexChanged", i, mask, err)
			}
			write(enc[i:i+1], i)
		}
	}
	if refused == 0 {
		t.Fatal("no look-up was refused")
	}
	checkAllLines(t, ix, data, buf)

	// And while look-ups run: random runs of bytes of the body overwritten,
	// then put back.
	var stop atomic.Bool
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for w := range cap(errs) {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			buf := make([]byte, minBuffer)
			for !stop.Load() {
				n := 1 + r.Int64N(ix.Lines())
				got, err := readLine(ix, src, n, buf)
				if (err != nil && !errors.Is(err, ErrIndexChanged)) || (err == nil && !bytes.Equal(got, ref[n-1])) {
					errs <- fmt.Errorf("line %d: got %.60q, %v; want %.60q", n, got, err, ref[n-1])
					return
				}
			}
		})
	}
	r := rand.New(rand.NewPCG(3, 3))
	end := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(end) {
		at := headerLen + r.IntN(len(enc)-headerLen)
		junk := make([]byte, min(1+r.IntN(40), len(enc)-at))
		for j := range junk {
			junk[j] = byte(r.Uint32())
		}
		write(junk, at)
		time.Sleep(100 * time.Microsecond)
		write(enc[at:at+len(junk)], at)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// An index file cut while it is read and checked, between mmap and the end
// of the checks: a *corruptError, not a crash.
func TestReadFileShrinking(t *testing.T) {
	t.Parallel()
	_, enc := smallIndex(t)
	path := filepath.Join(t.TempDir(), "x.idx")
	if err := os.WriteFile(path, enc, 0o644); err != nil {
		t.Fatal(err)
	}
	f := openFile(t, path)
	data, err := mmap(f, 0, len(enc))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	ix, k, bodyCRC, err := decodeHeader((*[headerLen]byte)(enc))
	if err != nil {
		t.Fatal(err)
	}
	ix.m, ix.cps = &mapping{data: data}, table(data[headerLen:])
	defer ix.Close()
	err = ix.checkMapped(int(k), bodyCRC)
	wantCorrupt(t, err, "shrank", "a file cut after it was mapped")
}

// A forgotten Close does not leak the mapping.
func TestMappedIndexCleanup(t *testing.T) {
	t.Parallel()
	_, enc := smallIndex(t)
	path := filepath.Join(t.TempDir(), "x.idx")
	if err := os.WriteFile(path, enc, 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err := readFile(path)
	if err != nil || ix.m == nil {
		t.Fatalf("ReadFile: %v, mapped %v", err, err == nil && ix.m != nil)
	}
	m := ix.m
	ix = nil
	for deadline := time.Now().Add(10 * time.Second); !m.closed.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("an unreachable index is still mapped")
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// An index built and saved is served from its file by Load, and Reopen
// gives the saved copy only if it is the same index.
func TestReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := mixedLines(5)
	path := testkit.WriteFile(t, dir, "src", data)
	f := openFile(t, path)
	idx := path + ".idx"

	l, err := Load(t.Context(), f, LoadOptions{Paths: []string{idx}, Build: BuildOptions{Settle: noSettle}})
	if err != nil || !l.Built || l.Path != idx {
		t.Fatalf("Load = %+v, %v; want a new index saved at %s", l, err, idx)
	}
	if l.Index.m == nil {
		t.Fatal("Load did not serve the index it saved from its file")
	}
	checkAllLines(t, l.Index, data, make([]byte, 4096))
	l.Index.Close()

	built := buildFile(t, path, BuildOptions{Settle: noSettle})
	if err := built.writeFile(idx, nil); err != nil {
		t.Fatal(err)
	}
	saved, err := built.reopen(idx)
	if err != nil || saved.m == nil {
		t.Fatalf("Reopen = %v; want the mapped copy", err)
	}
	if !bytes.Equal(encode(t, saved), encode(t, built)) {
		t.Fatal("Reopen gave another index")
	}
	saved.Close()

	// Another index in its place: of other data, or of the same data with
	// another spacing.
	other := buildBytes(t, mixedLines(6), BuildOptions{Settle: noSettle})
	spaced := buildFile(t, path, BuildOptions{Settle: noSettle, Spacing: 1024})
	for _, o := range []*Index{other, spaced} {
		if err := o.writeFile(idx, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := built.reopen(idx); err == nil {
			t.Fatal("Reopen accepted another index")
		}
	}
	// The same header over another body: the chunk sums tell.
	if err := built.writeFile(idx, nil); err != nil {
		t.Fatal(err)
	}
	saved, err = built.reopen(idx)
	if err != nil {
		t.Fatal(err)
	}
	defer saved.Close()
	forged := &Index{meta: built.meta, cps: bytes.Clone(built.cps)}
	forged.cps[5*entryLen] ^= 1
	if saved.sameBody(forged) || forged.sameBody(saved) {
		t.Fatal("a body that differs by one bit passes for the same")
	}
}

// The access section of a compressed source's mapped index, overwritten in
// place byte by byte, or cut: reads of the text give its bytes or
// ErrIndexChanged, never others, and a read that restarts at a damaged
// point, or needs a damaged window, is refused.
func TestMappedAccessOverwritten(t *testing.T) {
	t.Parallel()
	text := numberedLines(3000, 37)
	cases := compressedTexts(t, text, 2000) // gzip: a few points, with windows
	z := gzipped(t, text, 6, 2000)          // a point at each member
	ix, err := buildCompressed(t.Context(), bytes.NewReader(z), int64(len(z)), testModTime, gzipSource, BuildOptions{Spacing: 512, accessEvery: 2000})
	if err != nil {
		t.Fatal(err)
	}
	cases["gzip members"] = compressed{z, ix}
	for name, c := range cases {
		ix, path := mappedIndex(t, encode(t, c.ix))
		a := ix.access
		if a == nil || a.points != nil || (name != "gzip" && len(a.sums) < 3) || (name == "gzip" && len(a.windows) == 0) {
			t.Fatalf("%s: the access section is not mapped, or has not the chunks or windows it should (%d points, %d bytes of windows)", name, a.n, len(a.windows))
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		secAt := int64(headerLen + ix.cps.len()*entryLen)
		sec := bytes.Clone(a.enc)
		r := rand.New(rand.NewPCG(7, 7))
		buf := make([]byte, 700)
		var served, refused int
		// Every byte of the points (every third in -short), and 300 of
		// the windows.
		var flips []int
		for i := 0; i < accessHeadLen+a.n*accessEntryLen; i += shortOr(3, 1) {
			flips = append(flips, i)
		}
		for range min(300, len(a.windows)) {
			flips = append(flips, len(sec)-1-r.IntN(len(a.windows)))
		}
		for _, i := range flips {
			f.WriteAt([]byte{sec[i] ^ 0xff}, secAt+int64(i))
			// A fresh view, so that every read restarts at its point.
			ct := newCompressedText(bytes.NewReader(c.z), ix, SourceOptions{})
			for range 4 {
				off := r.Int64N(int64(len(text)))
				n, err := ct.ReadAt(buf, off)
				want := text[off:min(off+int64(len(buf)), int64(len(text)))]
				switch {
				case errors.Is(err, ErrIndexChanged):
					refused++
				case !bytes.Equal(buf[:n], want) || (err != nil) != (n < len(buf)):
					t.Fatalf("%s: section byte %d flipped: ReadAt(%d) = %d bytes, %v", name, i, off, n, err)
				default:
					served++
				}
			}
			if i >= accessHeadLen && i < accessHeadLen+a.n*accessEntryLen {
				// Its chunk is damaged: the point is refused.
				if _, err := a.point((i - accessHeadLen) / accessEntryLen); !errors.Is(err, ErrIndexChanged) {
					t.Fatalf("%s: entry byte %d flipped: point: %v", name, i, err)
				}
			}
			f.WriteAt(sec[i:i+1], secAt+int64(i))
		}
		t.Logf("%s: %d bytes of access section, %d points: %d reads served, %d refused", name, len(sec), a.n, served, refused)
		if served == 0 || refused == 0 {
			t.Errorf("%s: %d reads served, %d refused: the test missed a case", name, served, refused)
		}
		// Cut inside the section: refused, not a crash; whole again: read.
		if err := os.Truncate(path, secAt+accessHeadLen+10); err != nil {
			t.Fatal(err)
		}
		ct := newCompressedText(bytes.NewReader(c.z), ix, SourceOptions{})
		if _, err := ct.ReadAt(buf, int64(len(text))-100); !errors.Is(err, ErrIndexChanged) {
			t.Fatalf("%s: section cut: %v, want ErrIndexChanged", name, err)
		}
		f.WriteAt(sec, secAt)
		if n, err := ct.ReadAt(buf[:100], int64(len(text))-100); n != 100 || !bytes.Equal(buf[:n], text[len(text)-100:]) {
			t.Fatalf("%s: section whole again: %d bytes, %v", name, n, err)
		}
	}
}

// TestMappedAccessFind: a mapped access section finds, for every text
// offset, the point and the span of text that the section in memory finds,
// across the chunks' boundaries too.
func TestMappedAccessFind(t *testing.T) {
	t.Parallel()
	text := numberedLines(2000, 38)
	z := zstdFrames(t, text, cutsEvery(len(text), 300))
	ix, err := buildCompressed(t.Context(), bytes.NewReader(z), int64(len(z)), testModTime, zstdSource, BuildOptions{Spacing: 512, accessEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := mappedIndex(t, encode(t, ix))
	if m.access.points != nil || len(m.access.firsts) < 3 {
		t.Fatalf("the access section is not mapped, or has %d chunks only", len(m.access.firsts))
	}
	end := int64(len(text))
	for off := int64(0); off < end; off++ {
		i, from, to, err := ix.access.find(off, end)
		mi, mfrom, mto, merr := m.access.find(off, end)
		if err != nil || merr != nil || i != mi || from != mfrom || to != mto || from > off || to <= off {
			t.Fatalf("find(%d): in memory %d [%d, %d) %v, mapped %d [%d, %d) %v", off, i, from, to, err, mi, mfrom, mto, merr)
		}
	}
}
