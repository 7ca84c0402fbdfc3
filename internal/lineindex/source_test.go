package lineindex

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

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
	src := ix.Source(f, SourceOptions{})
	buf := make([]byte, 4096)
	if got, err := readLine(ix, src, 10, buf); err != nil || !bytes.Equal(got, naiveLines(data)[9]) {
		t.Fatalf("line 10 before the change: %q, %v", got, err)
	}
	// A letter of line 10 changed in place, its time put back.
	off := int64(bytes.Index(data, naiveLines(data)[9]))
	testkit.ChangeKeepingTime(t, path, off, data[off]^0x20)
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

// heldUpAppend does to path what an append held up between stamping the
// file and copying its first byte does: the file's times move at once, its
// size 10 ms later. It returns the append's error.
func heldUpAppend(t *testing.T, path string) <-chan error {
	t.Helper()
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	appended := make(chan error, 1)
	go func() {
		time.Sleep(10 * time.Millisecond)
		w, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			_, err = w.WriteString("appended\n")
			w.Close()
		}
		appended <- err
	}()
	return appended
}

// TestAppendStampsBeforeItGrows: an append stamps the file's times before
// its size moves, and the writer may be held up between the two; a read or
// an extension meanwhile waits for the size (up to AppendStarting) instead
// of taking the append for a change. Times that move without the size, for
// longer than that, are a change.
func TestAppendStampsBeforeItGrows(t *testing.T) {
	t.Parallel()
	data := numberedLines(2000, 3)
	buf := make([]byte, 4096)
	t.Run("read", func(t *testing.T) {
		t.Parallel()
		path := testkit.WriteFile(t, t.TempDir(), "src", data)
		ix := buildFile(t, path, BuildOptions{Settle: noSettle})
		src := ix.Source(openFile(t, path), SourceOptions{})
		appended := heldUpAppend(t, path)
		if st := src.State(); st != Grown {
			t.Errorf("State while an append is held up before its first byte: %d, want Grown (%d)", st, Grown)
		}
		if err := <-appended; err != nil {
			t.Fatal(err)
		}
		if got, err := readLine(ix, src, 10, make([]byte, 4096)); err != nil || !bytes.Equal(got, naiveLines(data)[9]) {
			t.Errorf("line 10 after the append: %q, %v", got, err)
		}
	})
	t.Run("extend", func(t *testing.T) {
		t.Parallel()
		path := testkit.WriteFile(t, t.TempDir(), "src", data)
		ix := buildFile(t, path, BuildOptions{Settle: noSettle})
		appended := heldUpAppend(t, path)
		x, _, err := ix.Extend(t.Context(), openFile(t, path), BuildOptions{Settle: noSettle})
		if err != nil {
			t.Fatalf("Extend while an append is held up before its first byte: %v", err)
		}
		defer x.Close()
		if err := <-appended; err != nil {
			t.Fatal(err)
		}
		if x.Lines() != 2001 {
			t.Errorf("extended to %d lines, want 2001", x.Lines())
		}
	})
	t.Run("times alone", func(t *testing.T) {
		t.Parallel()
		path := testkit.WriteFile(t, t.TempDir(), "src", data)
		ix := buildFile(t, path, BuildOptions{Settle: noSettle})
		src := ix.Source(openFile(t, path), SourceOptions{})
		later := time.Now().Add(time.Second)
		if err := os.Chtimes(path, later, later); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if st := src.State(); st != Changed {
			t.Errorf("State after the times alone moved: %d, want Changed (%d)", st, Changed)
		}
		if took := time.Since(start); took < AppendStarting {
			t.Errorf("State decided in %v, before an append could have shown its size (%v)", took, AppendStarting)
		}
		if n, err := src.ReadAt(buf, 0); n != 0 || !errors.Is(err, ErrMismatch) {
			t.Errorf("ReadAt after the times alone moved: %d, %v; want 0, ErrMismatch", n, err)
		}
	})
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
	line, err := ix.Find(ix.Source(f, SourceOptions{}), 2, make([]byte, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	// Behind the reader and ahead of it, as in the report.
	sink, out := testkit.RewritingWriter(t, path, 1<<20, 1000, 6<<20)
	n, err := line.WriteTo(sink, ix.Source(f, SourceOptions{}))
	if !errors.Is(err, ErrMismatch) || n >= line.Length {
		t.Fatalf("WriteTo while the line changed: %d of %d bytes, %v; want it cut with ErrMismatch", n, line.Length, err)
	}
	if bytes.ContainsRune(out.Bytes(), 'B') {
		t.Errorf("bytes of the new version were written")
	}
}

// TestStatusOnlyChange: a chmod, a hard link or a rename moves only the
// status change time. Load takes the saved index after a fingerprint check
// and saves it again with the new time; a Source reads on if told the file
// was not written to. A sampled byte changed with the times put back is
// still a change, for both.
func TestStatusOnlyChange(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the status change time is read on Linux only")
	}
	t.Parallel()
	dir := t.TempDir()
	data := numberedLines(5000, 9)
	path := testkit.WriteFile(t, dir, "src", data)
	paths := []string{path + ".idx"}
	load := func() Loaded {
		t.Helper()
		l, err := Load(t.Context(), openFile(t, path), LoadOptions{Paths: paths, Build: BuildOptions{Settle: noSettle}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Index.Close() })
		return l
	}
	first := load()
	src := first.Index.Source(openFile(t, path), SourceOptions{})
	unwritten := true
	src.Unwritten = func() bool { return unwritten }
	changes := []struct {
		name   string
		change func() error
	}{
		{"chmod", func() error { return os.Chmod(path, 0o600) }},
		{"hard link", func() error { return os.Link(path, filepath.Join(dir, "link")) }},
		{"rename", func() error {
			if err := os.Rename(path, path+".new"); err != nil {
				return err
			}
			return os.Rename(path+".new", path)
		}},
	}
	for _, c := range changes {
		time.Sleep(10 * time.Millisecond) // past a tick of the file system's clock
		if err := c.change(); err != nil {
			t.Fatal(err)
		}
		if got := src.State(); got != Same {
			t.Errorf("%s: Source.State = %v, want Same", c.name, got)
		}
		l := load()
		if l.Built || !l.Restamped {
			t.Errorf("%s: Load built %v (%v), restamped %v; want the saved index, restamped", c.name, l.Built, l.Reason, l.Restamped)
		}
		if l := load(); l.Built || l.Restamped {
			t.Errorf("%s, loaded again: built %v, restamped %v; want the index saved with the new time", c.name, l.Built, l.Restamped)
		}
	}
	if got, err := readLine(first.Index, src, 4000, make([]byte, 4096)); err != nil || !bytes.Equal(got, naiveLines(data)[3999]) {
		t.Errorf("line 4000 after the changes: %q, %v", got, err)
	}

	// Not told: a status change is a change.
	time.Sleep(10 * time.Millisecond)
	os.Chmod(path, 0o644)
	unwritten = false
	if got := src.State(); got != Changed {
		t.Errorf("chmod, writes not known: Source.State = %v, want Changed", got)
	}
	// A sampled byte changed, the times put back: a change, not a chmod.
	src = load().Index.Source(openFile(t, path), SourceOptions{})
	src.Unwritten = func() bool { return true }
	testkit.ChangeKeepingTime(t, path, 10, data[10]^0x20)
	if got := src.State(); got != Changed {
		t.Errorf("sampled byte changed: Source.State = %v, want Changed", got)
	}
	if l := load(); !l.Built || l.Restamped || !strings.Contains(l.Reason.Error(), "fingerprint") {
		t.Errorf("sampled byte changed: Load built %v (%v), restamped %v; want a build for the fingerprint", l.Built, l.Reason, l.Restamped)
	}
}
