// Package testkit holds what the tests of several packages share: the naive
// reference splitter every tool is checked against, a log buffer that is
// safe to read while a server writes to it, and small helpers. Only tests
// import it.
package testkit

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Lines splits b into lines the simplest way there is, one byte at a time: a
// line ends after each '\n', and a final run of bytes without one is a line
// if it is not empty. It shares no code with the index package it checks.
func Lines(b []byte) [][]byte {
	var lines [][]byte
	start := 0
	for i, c := range b {
		if c == '\n' {
			lines = append(lines, b[start:i+1])
			start = i + 1
		}
	}
	if start < len(b) {
		lines = append(lines, b[start:])
	}
	return lines
}

// SyncBuffer is a bytes.Buffer that one goroutine may write while another
// reads it, such as a server's log read by its test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitFor polls cond every 10ms until it holds, and fails t if d passes
// first, saying what it waited for.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WriteFile writes data to dir/name and returns the path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// RewritingWriter returns a writer that keeps what it is given in out and,
// once more than after bytes have come, overwrites ten bytes of the file at
// path with "BBBBBBBBBB" at each of offsets: the file changed in place in
// the middle of a stream, its size and newlines unchanged.
func RewritingWriter(t testing.TB, path string, after int, offsets ...int64) (w io.Writer, out *bytes.Buffer) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	out = &bytes.Buffer{}
	return &rewritingWriter{f: f, out: out, after: after, offsets: offsets}, out
}

type rewritingWriter struct {
	f       *os.File
	out     *bytes.Buffer
	after   int
	offsets []int64
	done    bool
}

func (w *rewritingWriter) Write(p []byte) (int, error) {
	w.out.Write(p)
	if !w.done && w.out.Len() > w.after {
		w.done = true
		for _, off := range w.offsets {
			w.f.WriteAt([]byte("BBBBBBBBBB"), off)
		}
	}
	return len(p), nil
}
