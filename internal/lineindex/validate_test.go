package lineindex

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lined/lined/internal/testkit"
)

// These tests are about trust: an index is used only while it describes
// its source. A changed source must be found stale, a damaged index
// corrupt, and neither may ever lead to a wrong line.

func TestWriteFileReadFileValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := mixedLines(21)
	path := testkit.WriteFile(t, dir, "src", data)
	f := openFile(t, path)
	ix, err := build(context.Background(), f, BuildOptions{Settle: noSettle, Spacing: 4096})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if !ix.ModTime().Equal(fi.ModTime()) || ix.Size() != fi.Size() {
		t.Fatalf("index for (%d bytes, %v), file is (%d, %v)", ix.Size(), ix.ModTime(), fi.Size(), fi.ModTime())
	}
	idx := path + ".idx"
	if err := ix.writeFile(idx, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(idx); err != nil || fi.Mode().Perm() != 0o644 || fi.Size() != ix.EncodedLen() {
		t.Fatalf("index file: %v, %v; want %d bytes, mode 0644", fi, err, ix.EncodedLen())
	}
	read, err := readFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encode(t, read), encode(t, ix)) {
		t.Fatal("index read back differs from the one written")
	}
	if err := validErr(read, f); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if err := read.verify(context.Background(), f, BuildOptions{Settle: noSettle, readers: 2}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	ref := naiveLines(data)
	buf := make([]byte, 4096)
	for i := 0; i < len(ref); i += 13 {
		got, err := readLine(read, f, int64(i)+1, buf)
		if err != nil || !bytes.Equal(got, ref[i]) {
			t.Fatalf("line %d from the file: %.40q, %v; want %.40q", i+1, got, err, ref[i])
		}
	}
	if _, err := readFile(filepath.Join(dir, "missing.idx")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v, want ErrNotExist", err)
	}
}

// wantStale fails unless err is a *staleError.
func wantStale(t testing.TB, err error, what string) {
	t.Helper()
	var se *staleError
	if !errors.As(err, &se) {
		t.Fatalf("%s: got %v, want a *staleError", what, err)
	}
	if !strings.HasPrefix(se.Error(), "index is stale: ") || se.Reason == "" {
		t.Fatalf("%s: staleError %q has no reason", what, se.Error())
	}
}

// wantCorrupt fails unless err is a *corruptError whose reason contains
// reason.
func wantCorrupt(t testing.TB, err error, reason, what string) {
	t.Helper()
	var ce *corruptError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: got %v, want a *corruptError", what, err)
	}
	if !strings.HasPrefix(ce.Error(), "index is corrupt: ") || !strings.Contains(ce.Reason, reason) {
		t.Fatalf("%s: got %q, want a corruptError about %q", what, ce.Error(), reason)
	}
}

func TestValidateDetectsChangedSource(t *testing.T) {
	t.Parallel()
	orig := numberedLines(300, 8)              // about 20 KiB: sampled whole
	other := numberedLines(400, 9)[:len(orig)] // same size, other lines
	other[len(other)-1] = '\n'
	flip := func(i int) func([]byte) []byte {
		return func(b []byte) []byte {
			b = bytes.Clone(b)
			b[i] ^= 0x20
			return b
		}
	}
	tests := []struct {
		name      string
		change    func([]byte) []byte
		keepMtime bool // give the file back its modification time
	}{
		{"appended a line", func(b []byte) []byte { return append(bytes.Clone(b), "new\n"...) }, true},
		{"appended to the last line", func(b []byte) []byte { return append(bytes.Clone(b[:len(b)-1]), " more"...) }, true},
		{"truncated by one byte", func(b []byte) []byte { return b[:len(b)-1] }, true},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }, true},
		{"truncated to empty", func(b []byte) []byte { return nil }, true},
		{"same size, first byte changed", flip(0), true},
		{"same size, middle byte changed", flip(len(orig) / 2), true},
		{"same size, last byte changed", flip(len(orig) - 1), true},
		{"same size, newlines moved", func(b []byte) []byte {
			b = bytes.Clone(b)
			i := bytes.IndexByte(b[100:], '\n') + 100
			b[i], b[i+1] = b[i+1], b[i]
			return b
		}, true},
		{"same size, another file", func([]byte) []byte { return other }, true},
		{"same content, touched", bytes.Clone, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := testkit.WriteFile(t, dir, "src", orig)
			ix := buildFile(t, path, BuildOptions{Settle: noSettle, Spacing: 512})
			idx := path + ".idx"
			if err := ix.writeFile(idx, nil); err != nil {
				t.Fatal(err)
			}
			cur := tt.change(orig)
			if tt.keepMtime {
				replaceKeepingTime(t, path, cur)
			} else {
				later := time.Now().Add(time.Hour)
				if err := os.Chtimes(path, later, later); err != nil {
					t.Fatal(err)
				}
			}
			f := openFile(t, path)
			wantStale(t, validErr(ix, f), "Validate")
			_, _, err := open(f, []string{idx})
			wantStale(t, err, "Open")

			// Load refuses the index, says why, and builds a right one.
			var reason error
			l, err := Load(context.Background(), f, LoadOptions{Paths: []string{idx}, Build: BuildOptions{Settle: noSettle}, OnBuild: func(r error) { reason = r }})
			if err != nil {
				t.Fatal(err)
			}
			if !l.Built || l.Path != idx || l.SaveErr != nil {
				t.Fatalf("Load = %+v, want a new index saved to %s", l, idx)
			}
			wantStale(t, l.Reason, "Load's reason")
			if l.Extended {
				// Only grown: extended, without a build.
				if reason != nil {
					t.Errorf("OnBuild called (%v) for an extension", reason)
				}
			} else {
				wantStale(t, reason, "OnBuild's reason")
			}
			checkAllLines(t, l.Index, cur, make([]byte, minBuffer))
			if l, err := Load(context.Background(), f, LoadOptions{Paths: []string{idx}, Build: BuildOptions{Settle: noSettle}}); err != nil || l.Built {
				t.Fatalf("Load after the rebuild = %+v, %v; want the saved index", l, err)
			}
		})
	}
}

// sampleRanges returns the source ranges the fingerprint covers, computed
// from the package documentation.
func sampleRanges(size int64) [][2]int64 {
	const count, length = 16, 4096
	if size <= count*length {
		return [][2]int64{{0, size}}
	}
	var rs [][2]int64
	last := size - length
	for i := range int64(count) {
		off := last * i / (count - 1)
		rs = append(rs, [2]int64{off, off + length})
	}
	return rs
}

func sampled(size, off int64) bool {
	for _, r := range sampleRanges(size) {
		if r[0] <= off && off < r[1] {
			return true
		}
	}
	return false
}

// forgeStamp gives ix the status the file at path has now, as if the
// file's change had not moved its status change time: what is left to
// see it is the fingerprint.
func forgeStamp(t testing.TB, ix *Index, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := stampOf(fi)
	if st.size != ix.size || st.modTime != ix.modTime {
		t.Fatalf("forgeStamp: the file's size or modification time changed")
	}
	ix.stamp = st
}

func TestValidateSampledBytes(t *testing.T) {
	t.Parallel()
	// A file up to 64 KiB is sampled whole: a change to any byte is seen.
	// Above that, a change inside any of the 16 samples is seen.
	sizes := []int{1, 3000, 64 << 10, 64<<10 + 1, 1 << 20}
	if testing.Short() {
		sizes = []int{1, 3000, 64<<10 + 1}
	}
	for _, size := range sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := printableLines(uint64(size), size, 80)[:size]
			path := testkit.WriteFile(t, t.TempDir(), "src", data)
			ix := buildFile(t, path, BuildOptions{Settle: noSettle})
			f := openFile(t, path)
			var offsets []int64
			if size <= 3000 {
				for i := range int64(size) {
					offsets = append(offsets, i)
				}
			} else {
				for _, r := range sampleRanges(int64(size)) {
					offsets = append(offsets, r[0], r[0]+1, (r[0]+r[1])/2, r[1]-1)
				}
				r := rand.New(rand.NewPCG(uint64(size), 0))
				for range 100 {
					if off := r.Int64N(int64(size)); sampled(int64(size), off) {
						offsets = append(offsets, off)
					}
				}
			}
			for _, off := range offsets {
				undo := testkit.ChangeKeepingTime(t, path, off, data[off]^0x01)
				// The fingerprint alone, as if the status change time had
				// not moved.
				forgeStamp(t, ix, path)
				wantStale(t, validErr(ix, f), fmt.Sprintf("byte %d changed", off))
				undo()
			}
			forgeStamp(t, ix, path)
			if err := validErr(ix, f); err != nil {
				t.Fatalf("Validate after undoing the changes: %v", err)
			}
		})
	}
}

func TestChangeOutsideSamples(t *testing.T) {
	t.Parallel()
	// A same-size change outside the sampled blocks, with the modification
	// time reset, is caught by the status change time, which no one can
	// reset. Were that not to move (a change within one clock tick of a
	// coarse file system clock, forged here), it would slip past Validate,
	// which reads only the samples; Verify reads everything and sees it,
	// and Find serves the file as it is now or nothing.
	data := numberedLines(20_000, 12) // about 1.3 MiB
	size := int64(len(data))
	path := testkit.WriteFile(t, t.TempDir(), "src", data)
	withCtime := buildFile(t, path, BuildOptions{Settle: noSettle})
	ix := buildFile(t, path, BuildOptions{Settle: noSettle})
	f := openFile(t, path)

	// An unsampled letter well inside a line, far from its newline.
	var off int64 = -1
	for o := size / 3; o < size; o++ {
		if !sampled(size, o) && !sampled(size, o-200) && !sampled(size, o+200) &&
			data[o] >= 'a' && data[o] <= 'z' && data[o-1] >= 'a' && data[o+1] >= 'a' {
			off = o
			break
		}
	}
	if off < 0 {
		t.Fatal("no unsampled letter")
	}

	t.Run("letter changed", func(t *testing.T) {
		undo := testkit.ChangeKeepingTime(t, path, off, '#')
		defer undo()
		forgeStamp(t, ix, path)
		if err := validErr(ix, f); err != nil {
			t.Fatalf("Validate: %v; the change is outside the samples and should slip by", err)
		}
		wantStale(t, ix.verify(context.Background(), f, BuildOptions{Settle: noSettle}), "Verify")
		cur := bytes.Clone(data)
		cur[off] = '#'
		for _, size := range []int{minBuffer, 4096} {
			if served, _ := checkNeverWrong(t, ix, cur, make([]byte, size)); served == 0 {
				t.Errorf("no line served")
			}
		}
	})
	t.Run("newline added", func(t *testing.T) {
		undo := testkit.ChangeKeepingTime(t, path, off, '\n')
		defer undo()
		if runtime.GOOS == "linux" {
			// With its size and modification time as they were, the
			// rewrite shows only as a status change, which the
			// fingerprint decides (see Index.validate): it slips by too,
			// as a chmod would.
			if restamped, err := withCtime.validate(f); err != nil || !restamped {
				t.Fatalf("Validate with the status change time: restamped %v, %v; want a restamp", restamped, err)
			}
		}
		forgeStamp(t, ix, path)
		if err := validErr(ix, f); err != nil {
			t.Fatalf("Validate: %v; the change is outside the samples and should slip by", err)
		}
		wantStale(t, ix.verify(context.Background(), f, BuildOptions{Settle: noSettle}), "Verify")
		// What Find makes of it: see TestFindAfterNewlineMovedFar.
	})
	t.Run("inside a sample", func(t *testing.T) {
		r := sampleRanges(size)[7]
		undo := testkit.ChangeKeepingTime(t, path, (r[0]+r[1])/2, '\n')
		defer undo()
		forgeStamp(t, ix, path)
		wantStale(t, validErr(ix, f), "Validate")
	})
	forgeStamp(t, ix, path)
	if err := ix.verify(context.Background(), f, BuildOptions{Settle: noSettle}); err != nil {
		t.Fatalf("Verify after undoing the changes: %v", err)
	}
}

func TestVerifyWithOtherOptions(t *testing.T) {
	t.Parallel()
	// Verify rebuilds with the index's own spacing, whatever it is given.
	data := mixedLines(3)
	path := testkit.WriteFile(t, t.TempDir(), "src", data)
	ix := buildFile(t, path, BuildOptions{Settle: noSettle, Spacing: 1024})
	f := openFile(t, path)
	if err := ix.verify(context.Background(), f, BuildOptions{Settle: noSettle, Spacing: 4096, readers: 3}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ix.verify(ctx, f, BuildOptions{Settle: noSettle}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with a cancelled context: %v, want context.Canceled", err)
	}
}

// smallIndex returns a source of a few KiB and its encoded index, with
// several checkpoints.
func smallIndex(t testing.TB) (data, enc []byte) {
	t.Helper()
	data = numberedLines(60, 5)
	ix := buildBytes(t, data, BuildOptions{Settle: noSettle, Spacing: 512})
	if ix.cps.len() < 5 {
		t.Fatalf("only %d checkpoints", ix.cps.len())
	}
	return data, encode(t, ix)
}

func TestCorruptIndexEveryByte(t *testing.T) {
	t.Parallel()
	// Every change of a single byte of an index is found, whatever the
	// byte: the header and the body have checksums, and each checksum
	// checks itself against the bytes it covers.
	data, enc := smallIndex(t)
	for i := range enc {
		for _, mask := range []byte{0x01, 0x10, 0x80, 0xff} {
			bad := bytes.Clone(enc)
			bad[i] ^= mask
			_, err := decode(bytes.NewReader(bad))
			var ce *corruptError
			if !errors.As(err, &ce) {
				where := "body"
				switch {
				case i < headerLen && (i >= 128 && i < 156 || i >= 28 && i < 32):
					where = "reserved header bytes"
				case i < headerLen:
					where = "header"
				}
				t.Fatalf("byte %d (%s) ^ %#x: Decode gave %v, want a *corruptError", i, where, mask, err)
			}
		}
	}

	// On disk, Load finds each of them, rebuilds, and serves right lines.
	dir := t.TempDir()
	path := testkit.WriteFile(t, dir, "src", data)
	f := openFile(t, path)
	fresh := encode(t, buildFile(t, path, BuildOptions{Settle: noSettle, Spacing: 512}))
	idx := path + ".idx"
	step := 1
	if testing.Short() {
		step = 7 // each Load writes and syncs a file
	}
	for i := 0; i < len(enc); i += step {
		bad := bytes.Clone(fresh)
		bad[i] ^= 0xff
		if err := os.WriteFile(idx, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := readFile(idx)
		wantCorrupt(t, err, "", fmt.Sprintf("ReadFile, byte %d flipped", i))
		l, err := Load(context.Background(), f, LoadOptions{Paths: []string{idx}, Build: BuildOptions{Settle: noSettle, Spacing: 512}})
		if err != nil {
			t.Fatal(err)
		}
		if i < len(magic) {
			// Without the magic it is not an index: it is never replaced.
			if !errors.Is(l.Reason, ErrNoIndex) || !l.Built || l.Path != "" || !errors.Is(l.SaveErr, errLeftAlone) {
				t.Fatalf("byte %d flipped: Load = %+v, want a new index in memory and the file left alone", i, l)
			}
			if disk, err := os.ReadFile(idx); err != nil || !bytes.Equal(disk, bad) {
				t.Fatalf("byte %d flipped: the file without the magic was replaced", i)
			}
			continue
		}
		wantCorrupt(t, l.Reason, "", fmt.Sprintf("Load's reason, byte %d flipped", i))
		if !l.Built || l.Path != idx {
			t.Fatalf("byte %d flipped: Load = %+v, want a rebuilt index at %s", i, l, idx)
		}
		if disk, err := os.ReadFile(idx); err != nil || !bytes.Equal(disk, fresh) {
			t.Fatalf("byte %d flipped: the index on disk was not replaced by a right one", i)
		}
		if i%14 == 0 {
			checkAllLines(t, l.Index, data, make([]byte, minBuffer))
		}
	}
}

func TestCorruptLargeIndexRandomFlips(t *testing.T) {
	t.Parallel()
	data := printableLines(9, 8<<20, 120)
	ix := buildBytes(t, data, BuildOptions{Settle: noSettle, Spacing: 512})
	enc := encode(t, ix)
	r := rand.New(rand.NewPCG(4, 4))
	for range 500 {
		bad := bytes.Clone(enc)
		var changed []int
		for range 1 + r.IntN(8) {
			i := r.IntN(len(bad))
			if i%5 == 0 {
				i = r.IntN(headerLen) // the header, more often
			}
			old := bad[i]
			for bad[i] == old {
				bad[i] = byte(r.Uint32())
			}
			changed = append(changed, i)
		}
		if bytes.Equal(bad, enc) {
			continue // changed back
		}
		_, err := decode(bytes.NewReader(bad))
		wantCorrupt(t, err, "", fmt.Sprintf("bytes %v changed", changed))
	}
}

func TestTruncatedIndex(t *testing.T) {
	t.Parallel()
	_, enc := smallIndex(t)
	for n := range len(enc) {
		_, err := decode(bytes.NewReader(enc[:n]))
		wantCorrupt(t, err, "", fmt.Sprintf("index truncated to %d of %d bytes", n, len(enc)))
	}
	for _, extra := range []string{"\x00", "x", strings.Repeat("\x00", entryLen)} {
		_, err := decode(bytes.NewReader(append(bytes.Clone(enc), extra...)))
		wantCorrupt(t, err, "trailing", fmt.Sprintf("%d bytes appended", len(extra)))
	}
	// On disk too.
	dir := t.TempDir()
	for _, n := range []int{0, 1, headerLen - 1, headerLen, len(enc) - entryLen, len(enc) - 1} {
		p := filepath.Join(dir, fmt.Sprint(n))
		if err := os.WriteFile(p, enc[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := readFile(p)
		wantCorrupt(t, err, "", fmt.Sprintf("ReadFile of an index truncated to %d bytes", n))
	}
}

// TestIndexOfAnotherFile: another file's index is refused, even when the
// two files have the same size, the same modification time and the same
// status change time, and differ only between the fingerprint's samples:
// the construction of the report that found it, a newline moved from
// 32699 to 40050 in a file of 100-byte lines, and one touch for both.
func TestIndexOfAnotherFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var a []byte
	for i := 1; i < 10486; i++ {
		a = fmt.Appendf(a, "%06d%s\n", i, strings.Repeat("x", 93))
	}
	b := bytes.Clone(a)
	b[32699], b[40050] = 'y', '\n'
	if sampled(int64(len(a)), 32699) || sampled(int64(len(a)), 40050) {
		t.Fatal("the change lies in a sample")
	}
	pathA := testkit.WriteFile(t, dir, "A", a)
	pathB := testkit.WriteFile(t, dir, "B", b)
	mtime := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []string{pathA, pathB} {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	ixA := buildFile(t, pathA, BuildOptions{Settle: noSettle})
	// The status change times are the same, as one touch can make them:
	// what tells the files apart is their identity.
	fiB, err := os.Stat(pathB)
	if err != nil {
		t.Fatal(err)
	}
	ixA.changeTime = stampOf(fiB).changeTime
	if err := ixA.writeFile(pathB+".idx", nil); err != nil {
		t.Fatal(err)
	}
	fb := openFile(t, pathB)
	err = validErr(ixA, fb)
	wantStale(t, err, "A's index for B")
	if !strings.Contains(err.Error(), "index is for another file (device") {
		t.Errorf("Validate: %v; want it to say the index is for another file", err)
	}
	l, err := Load(t.Context(), fb, LoadOptions{Paths: []string{pathB + ".idx"}, Build: BuildOptions{Settle: noSettle}})
	if err != nil || !l.Built || !isStale(l.Reason) {
		t.Fatalf("Load of B with A's index: %+v, %v; want rebuilt", l, err)
	}
	checkAllLines(t, l.Index, b, make([]byte, 4096))
	if got, err := readLine(l.Index, l.Index.Source(fb, SourceOptions{}), 329, make([]byte, 4096)); err != nil || !bytes.Equal(got, naiveLines(b)[328]) {
		t.Errorf("line 329 of B: %q, %v", got, err)
	}
}

// TestIndexWithoutIdentity: an index that does not record its file's
// identity or status change time (as one built where the system gives
// none) is never trusted: a sampled fingerprint cannot tell two files
// apart that differ between its samples.
func TestIndexWithoutIdentity(t *testing.T) {
	t.Parallel()
	path := testkit.WriteFile(t, t.TempDir(), "src", numberedLines(100, 1))
	ix := buildFile(t, path, BuildOptions{Settle: noSettle})
	f := openFile(t, path)
	for _, clear := range []func(*Index){
		func(ix *Index) { ix.dev, ix.ino = 0, 0 },
		func(ix *Index) { ix.changeTime = 0 },
	} {
		c := &Index{meta: ix.meta, cps: ix.cps}
		clear(c)
		err := validErr(c, f)
		wantStale(t, err, "an index without identity")
	}
}

func TestOtherVersion(t *testing.T) {
	t.Parallel()
	// An index of another format version is refused by the version check
	// itself: the header checksum is made to hold.
	_, enc := smallIndex(t)
	for _, v := range []uint32{0, 1, 2, version + 1, 1 << 31} {
		bad := bytes.Clone(enc)
		binary.LittleEndian.PutUint32(bad[8:], v)
		_, err := decode(bytes.NewReader(testkit.Reseal(bad)))
		wantCorrupt(t, err, fmt.Sprintf("format version %d", v), fmt.Sprintf("version %d", v))
	}
}

func TestStructurallyCorruptIndex(t *testing.T) {
	t.Parallel()
	// Damage that a checksum cannot see, because the checksums were made
	// to hold: each must still be refused by the structure checks.
	data, enc := smallIndex(t)
	le := binary.LittleEndian
	size := int64(len(data))
	k := (len(enc) - headerLen) / entryLen
	entry := func(b []byte, i int) (line, off int64) {
		e := b[headerLen+i*entryLen:]
		return int64(le.Uint64(e)), int64(le.Uint64(e[8:]))
	}
	setEntry := func(b []byte, i int, line, off int64) {
		e := b[headerLen+i*entryLen:]
		le.PutUint64(e, uint64(line))
		le.PutUint64(e[8:], uint64(off))
	}
	u32 := func(at int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { le.PutUint32(b[at:], v); return b }
	}
	u64 := func(at int, v uint64) func([]byte) []byte {
		return func(b []byte) []byte { le.PutUint64(b[at:], v); return b }
	}
	lines := int64(le.Uint64(enc[48:]))
	tests := []struct {
		name   string
		change func([]byte) []byte
		reason string
	}{
		{"bad magic", func(b []byte) []byte { b[7] = 'x'; return b }, "magic"},
		{"header length 129", u32(12, 129), "header length"},
		{"header length 0", u32(12, 0), "header length"},
		{"spacing 0", u32(16, 0), "spacing"},
		{"spacing 256", u32(16, 256), "spacing"},
		{"spacing 1000", u32(16, 1000), "spacing"},
		{"spacing 2 MiB", u32(16, 2<<20), "spacing"},
		{"sample length", u32(20, 4095), "fingerprint parameters"},
		{"sample count", u32(24, 17), "fingerprint parameters"},
		{"more lines than bytes", u64(48, uint64(size)+1), "impossible size"},
		{"no lines in a non-empty file", u64(48, 0), "impossible size"},
		{"negative size", u64(32, 1<<63), "impossible size"},
		{"text longer than an uncompressed source", u64(136, uint64(size)+1), "uncompressed source"},
		{"an access section for an uncompressed source", u64(144, 32), "uncompressed source"},
		{"an unknown encoding", func(b []byte) []byte { b[28] = 7; return b }, "unknown source encoding"},
		{"no checkpoints", u64(56, 0), "checkpoint count"},
		{"more checkpoints than grid points", u64(56, uint64(size/512)+3), "checkpoint count"},
		{"one checkpoint more than stored", u64(56, uint64(k)+1), ""}, // too many for the size, or truncated body
		{"one checkpoint less than stored", u64(56, uint64(k)-1), "trailing bytes"},
		{"sentinel line", func(b []byte) []byte { setEntry(b, k-1, lines+2, size); return b }, "sentinel"},
		{"sentinel offset", func(b []byte) []byte { setEntry(b, k-1, lines+1, size-1); return b }, "sentinel"},
		{"first checkpoint not line 1", func(b []byte) []byte { setEntry(b, 0, 2, 0); return b }, "first checkpoint"},
		{"first checkpoint not at 0", func(b []byte) []byte { setEntry(b, 0, 1, 1); return b }, "first checkpoint"},
		{"line numbers going back", func(b []byte) []byte {
			l1, _ := entry(b, 1)
			_, o2 := entry(b, 2)
			setEntry(b, 2, l1, o2)
			return b
		}, "does not follow"},
		{"offsets going back", func(b []byte) []byte {
			_, o1 := entry(b, 1)
			l2, _ := entry(b, 2)
			setEntry(b, 2, l2, o1)
			return b
		}, "does not follow"},
		{"more lines than bytes between checkpoints", func(b []byte) []byte {
			l1, o1 := entry(b, 1)
			_, o2 := entry(b, 2)
			setEntry(b, 2, l1+(o2-o1)+1, o2)
			return b
		}, "does not follow"},
		{"two checkpoints in a grid cell", func(b []byte) []byte {
			l1, o1 := entry(b, 1)
			if o1%512 == 511 {
				panic("test needs another source")
			}
			setEntry(b, 2, l1+1, o1+1)
			return b
		}, "share a grid cell"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := testkit.Reseal(tt.change(bytes.Clone(enc)))
			_, err := decode(bytes.NewReader(bad))
			wantCorrupt(t, err, tt.reason, tt.name)
		})
	}
	// The same without resealing: the checksums alone refuse them.
	for _, tt := range tests {
		bad := tt.change(bytes.Clone(enc))
		_, err := decode(bytes.NewReader(bad))
		wantCorrupt(t, err, "", tt.name+", checksums not fixed")
	}
}

func TestDecodeHugeCheckpointCount(t *testing.T) {
	t.Parallel()
	// A header whose checksum holds may claim a source of 2^62 bytes and
	// as many checkpoints as that allows; Decode must refuse the short
	// file, not allocate the body it announces. A fix: read the body in
	// bounded chunks (or compare k with the file's size in ReadFile).
	_, enc := smallIndex(t)
	h := bytes.Clone(enc[:headerLen])
	le := binary.LittleEndian
	le.PutUint64(h[32:], 1<<62)         // source size
	le.PutUint64(h[48:], 1)             // lines
	le.PutUint64(h[56:], (1<<62)/512+2) // checkpoints
	le.PutUint32(h[headerCRCFrom:], crc32.Checksum(h[:headerCRCFrom], castagnoli))
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Decode panicked: %v", r)
		}
	}()
	_, err := decode(bytes.NewReader(h))
	wantCorrupt(t, err, "", "a header announcing 2^53 checkpoints")
}

func TestErrorMessages(t *testing.T) {
	t.Parallel()
	if got := (&corruptError{Reason: "x"}).Error(); got != "index is corrupt: x" {
		t.Errorf("corruptError = %q", got)
	}
	if got := (&staleError{Reason: "y"}).Error(); got != "index is stale: y" {
		t.Errorf("staleError = %q", got)
	}
}
