package lineindex

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A failed WriteFile names the index it could not write, not the random
// name of its temporary file, and keeps the system's reason for callers to
// test. Found by TestR6ReadOnlyAndDiskFull (../../reliability): mkindex
// said "cannot write the index: write dir/.x.idx.tmp4086700700: no space
// left on device".
func TestWriteFileErrorNamesTheIndex(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	ix := fx.build(t)
	err := ix.writeFile(fx.blocked, nil)
	if err == nil {
		t.Fatal("WriteFile beneath a regular file succeeded")
	}
	if want := fx.blocked + ": not a directory"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("error %v does not wrap ENOTDIR", err)
	}
	// A failed rename (the path is a directory) likewise.
	dir := filepath.Join(t.TempDir(), "x.idx")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = ix.writeFile(dir, nil)
	if err == nil || !strings.HasPrefix(err.Error(), dir+": ") || strings.Contains(err.Error(), ".tmp") {
		t.Errorf("WriteFile over a directory: %v, want an error naming %s and no temporary file", err, dir)
	}
}

// nthNewline and lastNthNewline agree with a byte-by-byte count on dense
// newlines (a file of empty lines), sparse ones, and mixtures, for every k.
// The strides were refined after TestR7HostileFiles (full form) found
// getline spending 5.5 µs a line on a file of 10 million empty lines, one
// IndexByte call per newline of a 1 KiB stride.
func TestNthNewlineDense(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for _, density := range []int{1, 2, 3, 17, 300} {
		data := make([]byte, 5000)
		for i := range data {
			if r.IntN(density) == 0 {
				data[i] = '\n'
			} else {
				data[i] = 'x'
			}
		}
		var at []int // positions of the newlines
		for i, c := range data {
			if c == '\n' {
				at = append(at, i)
			}
		}
		for k := 1; k <= len(at)+1; k++ {
			pos, seen := nthNewline(data, int64(k))
			if k <= len(at) && (pos != at[k-1] || seen != int64(k)) {
				t.Fatalf("density 1/%d: nthNewline(%d) = %d, %d; want %d", density, k, pos, seen, at[k-1])
			}
			if k > len(at) && (pos != -1 || seen != int64(len(at))) {
				t.Fatalf("density 1/%d: nthNewline(%d) beyond the end = %d, %d", density, k, pos, seen)
			}
			pos, _ = lastNthNewline(data, int64(k))
			if k <= len(at) && pos != at[len(at)-k] {
				t.Fatalf("density 1/%d: lastNthNewline(%d) = %d; want %d", density, k, pos, at[len(at)-k])
			}
		}
	}
}

// BenchmarkFindEmptyLines is Find on a file of empty lines only, where
// every line is a newline.
func BenchmarkFindEmptyLines(b *testing.B) {
	data := bytes.Repeat([]byte{'\n'}, 4<<20)
	ix := buildBytes(b, data, BuildOptions{Settle: noSettle})
	src := bytes.NewReader(data)
	buf := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		if _, err := ix.Find(src, 1+r.Int64N(ix.Lines()), buf); err != nil {
			b.Fatal(err)
		}
	}
}
