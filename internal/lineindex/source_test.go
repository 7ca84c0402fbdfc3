package lineindex

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lined/lined/internal/testkit"
)

// TestSourceRefusesAChangedFile: once the file has changed, a read through
// the Source returns no bytes but ErrMismatch, even where the bytes it
// would read look right (a same-size change, its modification time put
// back, its newlines where they were).
func TestSourceRefusesAChangedFile(t *testing.T) {
	t.Parallel()
	data := numberedLines(2000, 3)
	path := testkit.WriteFile(t, t.TempDir(), "src", data)
	f := openFile(t, path)
	ix := buildFile(t, path, BuildOptions{Settle: noSettle})
	src := ix.Source(f)
	buf := make([]byte, 4096)
	if got, err := readLine(ix, src, 10, buf); err != nil || !bytes.Equal(got, naiveLines(data)[9]) {
		t.Fatalf("line 10 before the change: %q, %v", got, err)
	}
	// A letter of line 10 changed in place, its time put back.
	off := int64(bytes.Index(data, naiveLines(data)[9]))
	changeKeepingTime(t, path, off, data[off]^0x20)
	if src.State() != Changed {
		t.Fatal("the Source says the same after a change")
	}
	if n, err := src.ReadAt(buf, 0); n != 0 || !errors.Is(err, ErrMismatch) {
		t.Errorf("ReadAt after a change: %d, %v; want 0, ErrMismatch", n, err)
	}
	for _, n := range []int64{1, 10, 1999} {
		if got, err := readLine(ix, src, n, buf); !errors.Is(err, ErrMismatch) {
			t.Errorf("line %d after a change: %q, %v; want ErrMismatch", n, got, err)
		}
	}
}

// TestWriteToCutWhenTheFileChanges: a line streamed while its file is
// rewritten in place, newlines untouched, is cut where the change is seen:
// WriteTo fails, and every byte it wrote is of the version indexed.
func TestWriteToCutWhenTheFileChanges(t *testing.T) {
	t.Parallel()
	const long = 8 << 20
	data := append(append([]byte("first\n"), bytes.Repeat([]byte{'a'}, long)...), "\nlast\n"...)
	path := testkit.WriteFile(t, t.TempDir(), "src", data)
	f := openFile(t, path)
	ix := buildFile(t, path, BuildOptions{Settle: noSettle})
	line, err := ix.Find(ix.Source(f), 2, make([]byte, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	// Behind the reader and ahead of it, as in the report.
	sink, out := testkit.RewritingWriter(t, path, 1<<20, 1000, 6<<20)
	n, err := line.WriteTo(sink, ix.Source(f))
	if !errors.Is(err, ErrMismatch) || n >= line.Length {
		t.Fatalf("WriteTo while the line changed: %d of %d bytes, %v; want it cut with ErrMismatch", n, line.Length, err)
	}
	if bytes.ContainsRune(out.Bytes(), 'B') {
		t.Errorf("bytes of the new version were written")
	}
}
