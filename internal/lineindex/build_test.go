package lineindex

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lined/lined/internal/testkit"
)

// These tests are about Build and buildFrom themselves: their options, the
// progress they report, and how they fail.

func TestBuildOptions(t *testing.T) {
	t.Parallel()
	data := []byte("a\nb\n")
	for _, spacing := range []int64{-512, 1, 256, 511, 513, 1000, 3 << 10, 2 << 20, 1 << 40} {
		if _, err := buildFrom(t.Context(), bytes.NewReader(data), 4, testModTime, BuildOptions{Settle: noSettle, Spacing: spacing}); err == nil {
			t.Errorf("spacing %d accepted", spacing)
		}
	}
	for _, spacing := range []int64{512, 1024, 64 << 10, 1 << 20} {
		ix, err := buildFrom(t.Context(), bytes.NewReader(data), 4, testModTime, BuildOptions{Settle: noSettle, Spacing: spacing})
		if err != nil || ix.spacing != spacing {
			t.Errorf("spacing %d: %v", spacing, err)
		}
	}
	if ix := buildBytes(t, data, BuildOptions{Settle: noSettle}); ix.spacing != defaultSpacing {
		t.Errorf("default spacing %d, want %d", ix.spacing, defaultSpacing)
	}
	if _, err := buildFrom(t.Context(), bytes.NewReader(data), -1, testModTime, BuildOptions{Settle: noSettle}); err == nil {
		t.Error("negative size accepted")
	}
	// Workers beyond the number of tasks, or negative, are fine.
	for _, w := range []int{-1, 0, 1, 100} {
		if ix := buildBytes(t, data, BuildOptions{Settle: noSettle, readers: w}); ix.Lines() != 2 {
			t.Errorf("Workers %d: %d lines", w, ix.Lines())
		}
	}
}

func TestBuildFromPrefix(t *testing.T) {
	t.Parallel()
	// buildFrom indexes the first size bytes of a longer source.
	data := []byte("one\ntwo\nthree\n")
	ix, err := buildFrom(t.Context(), bytes.NewReader(data), 6, testModTime, BuildOptions{Settle: noSettle})
	if err != nil {
		t.Fatal(err)
	}
	checkAllLines(t, ix, data[:6], make([]byte, minBuffer))
}

func TestBuildProgress(t *testing.T) {
	t.Parallel()
	data := mixedLines(4)
	for _, workers := range []int{1, 3} {
		var calls, inside atomic.Int64
		var most int64
		ix, err := buildFrom(t.Context(), bytes.NewReader(data), int64(len(data)), testModTime, BuildOptions{Settle: noSettle, taskLen: segmentLen,
			readers: workers,
			Progress: func(done, total int64) {
				if inside.Add(1) != 1 {
					t.Error("Progress called while another call was running")
				}
				defer inside.Add(-1)
				calls.Add(1)
				if total != int64(len(data)) || done <= 0 || done > total {
					t.Errorf("Progress(%d, %d)", done, total)
				}
				most = max(most, done)
				time.Sleep(100 * time.Microsecond) // give overlapping calls a chance
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if most != int64(len(data)) || calls.Load() < int64(len(data)>>20) {
			t.Errorf("workers %d: %d Progress calls, at most %d of %d bytes done", workers, calls.Load(), most, len(data))
		}
		checkAllLines(t, ix, data, make([]byte, 4096))
	}
}

func TestBuildProgressNeverGoesBack(t *testing.T) {
	t.Parallel()
	// A progress bar fed by Progress must not go back, and must end full.
	// A fix: take the lock before done.Add.
	data := bytes.Repeat([]byte("abcdefg\n"), 1<<20)
	for i := range 100 {
		var last int64
		_, err := buildFrom(t.Context(), bytes.NewReader(data), int64(len(data)), testModTime, BuildOptions{Settle: noSettle, taskLen: segmentLen,
			readers: 4,
			Progress: func(done, total int64) {
				if done < last {
					t.Errorf("build %d: Progress(%d) after Progress(%d)", i, done, last)
				}
				last = done
				time.Sleep(50 * time.Microsecond)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if last != int64(len(data)) {
			t.Fatalf("build %d: last Progress call at %d of %d bytes", i, last, len(data))
		}
	}
}

func TestBuildCancelled(t *testing.T) {
	t.Parallel()
	data := mixedLines(4)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := buildFrom(ctx, bytes.NewReader(data), int64(len(data)), testModTime, BuildOptions{Settle: noSettle, taskLen: segmentLen}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v, want context.Canceled", err)
	}
	// Cancelled during the build, from the progress callback.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	_, err := buildFrom(ctx, bytes.NewReader(data), int64(len(data)), testModTime, BuildOptions{Settle: noSettle, taskLen: segmentLen,
		readers:  2,
		Progress: func(done, total int64) { cancel() },
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled during: %v, want context.Canceled", err)
	}
}

func TestBuildFromShortSource(t *testing.T) {
	t.Parallel()
	// A source shorter than the size it is said to have changed.
	data := mixedLines(5)
	for _, n := range []int{0, 100, 64 << 10, 1 << 20, len(data) - 1} {
		for _, workers := range []int{1, 3} {
			_, err := buildFrom(t.Context(), bytes.NewReader(data[:n]), int64(len(data)), testModTime, BuildOptions{Settle: noSettle, taskLen: segmentLen, readers: workers})
			if !errors.Is(err, errChanged) {
				t.Errorf("%d of %d bytes, %d workers: %v, want errChanged", n, len(data), workers, err)
			}
		}
	}
}

// brokenReaderAt fails every read at or after off.
type brokenReaderAt struct {
	r   io.ReaderAt
	off int64
	err error
}

func (b brokenReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > b.off {
		return 0, b.err
	}
	return b.r.ReadAt(p, off)
}

func TestBuildReadError(t *testing.T) {
	t.Parallel()
	data := mixedLines(5)
	errRead := errors.New("disk on fire")
	for _, at := range []int64{0, 1 << 20, 2<<20 + 5, int64(len(data)) - 1} {
		src := brokenReaderAt{bytes.NewReader(data), at, errRead}
		if _, err := buildFrom(t.Context(), src, int64(len(data)), testModTime, BuildOptions{Settle: noSettle, taskLen: segmentLen, readers: 3}); !errors.Is(err, errRead) {
			t.Errorf("read error at %d: %v, want %v", at, err, errRead)
		}
	}
}

func TestBuildFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := mixedLines(6)
	path := testkit.WriteFile(t, dir, "src", data)
	ix := buildFile(t, path, BuildOptions{Settle: noSettle, Spacing: 2048})
	fi, _ := os.Stat(path)
	want, err := buildFrom(t.Context(), bytes.NewReader(data), int64(len(data)), fi.ModTime(), BuildOptions{Settle: noSettle, Spacing: 2048})
	if err != nil {
		t.Fatal(err)
	}
	if ix.changeTime == 0 && runtime.GOOS == "linux" {
		t.Error("Build did not record the file's status change time")
	}
	if ix.ino == 0 && runtime.GOOS == "linux" {
		t.Error("Build did not record the file's inode")
	}
	want.stamp = ix.stamp // buildFrom has no file to stat
	if !bytes.Equal(encode(t, ix), encode(t, want)) {
		t.Error("Build of the file differs from buildFrom of its bytes")
	}

	// Not a regular file.
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := build(t.Context(), d, BuildOptions{Settle: noSettle}); err == nil {
		t.Error("Build of a directory succeeded")
	}
	// A closed file.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := build(t.Context(), f, BuildOptions{Settle: noSettle}); err == nil {
		t.Error("Build of a closed file succeeded")
	}
}

func TestBuildSeesChangeDuringBuild(t *testing.T) {
	t.Parallel()
	// The file grows, or its modification time changes, while it is read.
	for _, tt := range []struct {
		name   string
		change func(path string) error
	}{
		{"appended", func(path string) error {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write([]byte("more\n"))
			return err
		}},
		{"touched", func(path string) error {
			later := time.Now().Add(time.Hour)
			return os.Chtimes(path, later, later)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := testkit.WriteFile(t, t.TempDir(), "src", mixedLines(7))
			f := openFile(t, path)
			var once atomic.Bool
			_, err := build(t.Context(), f, BuildOptions{Settle: noSettle, taskLen: segmentLen, Progress: func(done, total int64) {
				if once.CompareAndSwap(false, true) {
					if err := tt.change(path); err != nil {
						t.Error(err)
					}
				}
			}})
			if !errors.Is(err, errChanged) {
				t.Fatalf("Build: %v, want errChanged", err)
			}
		})
	}
}

func TestBuildEmptyAndTinyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, data := range []string{"", "\n", "x", "\n\n", "x\n"} {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		ix := buildFile(t, path, BuildOptions{Settle: noSettle})
		checkAllLines(t, roundTrip(t, ix), []byte(data), make([]byte, minBuffer))
		if err := validErr(ix, openFile(t, path)); err != nil {
			t.Errorf("%q: Validate: %v", data, err)
		}
	}
}

func TestBuildFileTruncatedDuringBuild(t *testing.T) {
	t.Parallel()
	// A file that shrinks while it is indexed. On unix the build maps the
	// file into memory, and touching a mapped page past the new end raises
	// SIGBUS: the build must fail with errChanged, not crash the process.
	// buildFrom is called, not Build, so that the build's own reads must see
	// the change (Build would also see the new size afterwards).
	data := printableLines(9, 16<<20, 200)
	path := testkit.WriteFile(t, t.TempDir(), "src", data)
	build := func(progress func(done, total int64)) error {
		f := openFile(t, path)
		_, err := buildFrom(t.Context(), f, int64(len(data)), testModTime, BuildOptions{Settle: noSettle, taskLen: 4 * segmentLen, readers: 3, Progress: progress})
		return err
	}

	// At the first progress report, the worker that made it has 3 MiB of
	// its task left to read: the truncation always lands inside a build.
	for _, to := range []int64{0, 1, 4096, 5<<20 + 123, int64(len(data)) - 4096, int64(len(data)) - 1} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		err := build(func(done, total int64) {
			once.Do(func() {
				if err := os.Truncate(path, to); err != nil {
					t.Error(err)
				}
			})
		})
		if !errors.Is(err, errChanged) {
			t.Errorf("truncated to %d bytes at the first progress report: %v, want errChanged", to, err)
		}
	}

	// And at any moment, from another goroutine.
	runs := 50
	if testing.Short() {
		runs = 10
	}
	failed := 0
	for i := range runs {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		to := int64(i) * int64(len(data)) / int64(runs)
		truncated := make(chan error)
		go func() {
			time.Sleep(time.Duration(i%10) * 200 * time.Microsecond)
			truncated <- os.Truncate(path, to)
		}()
		err := build(nil)
		if err := <-truncated; err != nil {
			t.Fatal(err)
		}
		switch {
		case errors.Is(err, errChanged):
			failed++
		case err != nil:
			t.Errorf("truncated to %d bytes during the build: %v, want errChanged or success", to, err)
		}
	}
	t.Logf("%d of %d builds saw the truncation", failed, runs)
}
