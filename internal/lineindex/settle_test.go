package lineindex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lined/lined/internal/testkit"
)

// twoNumberings returns two versions of a file of 20-byte lines with the
// same size: in the second, every 1000th pair of lines is one 40-byte
// line, so that most lines have other numbers.
func twoNumberings(size int) (a, b []byte) {
	a = make([]byte, 0, size)
	for i := 0; len(a)+20 <= size; i++ {
		a = fmt.Appendf(a, "%019d\n", i)
	}
	b = bytes.Clone(a)
	for off := 19; off < len(b); off += 1000 * 20 {
		b[off] = ' '
	}
	return a, b
}

// inFlightBuilds rewrites the file at path in place, rounds times, with one
// pwrite of the whole file each time, alternating between versions, and
// starts a Build with opts as soon as the
// write has begun (its times moved): the construction of a write that spans
// the build. It returns how many builds were accepted, and how many of
// those do not describe the version written although the write took less
// than the settling time. Build promises nothing for a write that lasts
// longer, which a loaded machine can make of a large pwrite: builds after
// those are counted as slow, right or wrong.
func inFlightBuilds(t *testing.T, path string, versions [2][]byte, rounds int, opts BuildOptions) (accepted, wrong, slow int) {
	t.Helper()
	want := [2]*Index{buildBytes(t, versions[0], opts), buildBytes(t, versions[1], opts)}
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f := openFile(t, path)
	for i := range rounds {
		next := versions[(i+1)%2]
		before, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		var written atomic.Bool
		done := make(chan error, 1)
		var took time.Duration
		go func() {
			start := time.Now()
			_, err := w.WriteAt(next, 0)
			took = time.Since(start)
			written.Store(true)
			done <- err
		}()
		// Wait for the write to begin: the kernel stamps the times first.
		for {
			fi, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if stampOf(fi) != stampOf(before) || written.Load() {
				break
			}
		}
		ix, err := build(t.Context(), f, opts)
		if werr := <-done; werr != nil {
			t.Fatal(werr)
		}
		if err != nil {
			continue // refused: the file changed while it was read
		}
		accepted++
		w := want[(i+1)%2]
		switch {
		case took >= opts.Settle:
			slow++
		case ix.lines != w.lines || !bytes.Equal(ix.cps, w.cps) || ix.content() != w.content():
			wrong++
		}
	}
	return accepted, wrong, slow
}

// TestBuildWaitsForAWriteInFlight: the kernel stamps a file's times once,
// at the start of a write, so a build that starts after the stamp sees the
// same times before and after it, even while a large write is still
// running; its workers overtake the writer and count old bytes. The
// construction of the report that found it: the whole file rewritten in
// place with one pwrite, over and over, between two versions of the same
// size and other line numbers. Waiting for the file to settle first means
// the build reads the file once the write is done.
func TestBuildWaitsForAWriteInFlight(t *testing.T) {
	size, rounds := 64<<20, 8
	if testing.Short() {
		size, rounds = 24<<20, 4
	}
	// Small tasks, and more workers than cores: some of them start
	// reading ahead of the writer at once.
	a, b := twoNumberings(size)
	path := testkit.WriteFile(t, t.TempDir(), "data.txt", a)
	opts := BuildOptions{readers: 4, taskLen: segmentLen, Settle: 150 * time.Millisecond}
	accepted, wrong, slow := inFlightBuilds(t, path, [2][]byte{a, b}, rounds, opts)
	t.Logf("settling %v: %d of %d builds accepted, %d of them wrong, %d after a write slower than that", opts.Settle, accepted, rounds, wrong, slow)
	if wrong > 0 {
		t.Errorf("%d builds accepted an index of a half-written file", wrong)
	}
	switch {
	case accepted == 0:
		t.Errorf("no build accepted: the test shows nothing")
	case accepted == slow:
		t.Skipf("every write took longer than %v (a loaded machine): the test shows nothing", opts.Settle)
	}
}

// TestBuildWaitsToSettle: a file changed moments ago is indexed once it
// has been left alone for the settling time; one that keeps changing is
// not indexed at all; the wait ends with the context.
func TestBuildWaitsToSettle(t *testing.T) {
	const settle = 300 * time.Millisecond
	path := testkit.WriteFile(t, t.TempDir(), "src", numberedLines(100, 1))
	f := openFile(t, path)
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	changed := time.Unix(0, stampOf(fi).changeTime)
	var waits []time.Duration
	ix, err := build(t.Context(), f, BuildOptions{Settle: settle, Settling: func(d time.Duration) { waits = append(waits, d) }})
	if err != nil {
		t.Fatal(err)
	}
	if now := time.Now(); now.Before(changed.Add(settle)) || len(waits) != 1 || waits[0] > settle {
		t.Errorf("Build returned %v after the change, waits %v; want one wait, done %v after it", now.Sub(changed), waits, settle)
	}
	if err := validErr(ix, f); err != nil {
		t.Errorf("Validate: %v", err)
	}

	// Settled long ago: no wait.
	waits = nil
	if _, err := build(t.Context(), f, BuildOptions{Settle: settle, Settling: func(d time.Duration) { waits = append(waits, d) }}); err != nil || waits != nil {
		t.Errorf("Build of a settled file: %v, waits %v; want no wait", err, waits)
	}

	// A file that keeps changing: given up after ten settling times.
	const short = 50 * time.Millisecond
	stop := make(chan struct{})
	defer close(stop)
	os.Chtimes(path, time.Now(), time.Now())
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(short / 5):
				os.Chtimes(path, time.Now(), time.Now())
			}
		}
	}()
	start := time.Now()
	_, err = build(t.Context(), f, BuildOptions{Settle: short})
	if took := time.Since(start); !errors.Is(err, errChanged) || took < 9*short || took > 20*short {
		t.Errorf("Build of a file that keeps changing: %v after %v, want errChanged after about %v", err, took, 10*short)
	}

	// The context ends the wait.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := build(ctx, f, BuildOptions{Settle: time.Hour}); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Errorf("Build with a context ending: %v after %v", err, time.Since(start))
	}
}
