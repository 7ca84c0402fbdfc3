// Package testkit holds what the tests of several packages share: the naive
// reference splitter every tool is checked against, a log buffer that is
// safe to read while a server writes to it, and small helpers. Only tests
// import it.
package testkit

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
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

// File is a named test file.
type File struct {
	Name string
	Data []byte
}

// HostileFiles returns the awkward files every tool is checked with, the
// same bytes every time: empty files, lone and many newlines, no final
// newline, CR and CRLF, NUL and invalid UTF-8, markup and escapes, lines
// ending at and around the 16 KiB checkpoint grid, random bytes, a line of
// longLine bytes in the middle, at the end (with and without a newline) and
// alone, and emptyLines empty lines.
func HostileFiles(longLine, emptyLines int) []File {
	r := rand.New(rand.NewPCG(7, 7))
	randomLines := func(lines, maxLen int, alphabet string) []byte {
		var b []byte
		for range lines {
			for range r.IntN(maxLen + 1) {
				c := byte(r.Uint32())
				if alphabet != "" {
					c = alphabet[r.IntN(len(alphabet))]
				} else if c == '\n' {
					c = 0
				}
				b = append(b, c)
			}
			b = append(b, '\n')
		}
		return b
	}
	randomBytes := make([]byte, 1<<20)
	for i := range randomBytes {
		randomBytes[i] = byte(r.Uint32())
	}
	var grid []byte
	for _, n := range []int{16<<10 - 2, 1, 16<<10 - 1, 1, 16 << 10, 0, 16<<10 + 1, 0, 0, 32 << 10} {
		grid = append(grid, bytes.Repeat([]byte{'g'}, n)...)
		grid = append(grid, '\n')
	}
	long := bytes.Repeat([]byte("0123456789abcdef"), longLine/16)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	random := randomLines(10_000, 300, "")
	mib := fmt.Sprintf("%g-MiB line", float64(longLine)/(1<<20))
	return []File{
		{"empty", nil},
		{"only a newline", []byte("\n")},
		{"newlines", []byte("\n\n\n\n")},
		{"no final newline", []byte("a\nbb\nccc")},
		{"one byte", []byte("x")},
		{"CRLF", []byte("one\r\ntwo\r\n\r\n\rthree\r\r\n")},
		{"CRLF, no final newline", []byte("a\r\nb\r")},
		{"CR only", []byte("a\rb\rc\r")},
		{"NUL and invalid UTF-8", []byte("\x00\x00\n\xff\xfe\xc3\x28\n\x00\n\xed\xa0\x80\xf4\x90\x80\x80")},
		{"markup and escapes", []byte("<script>alert(1)</script>\n\x1b[31mred\x1b[0m\n%s %d %n\n../../etc/passwd\n")},
		{"blank lines", []byte("\n\na\n\n\nb\n\n")},
		{"grid boundaries", grid},
		{"random bytes", randomBytes},
		{"10000 random lines", random},
		{"10000 random lines, no final newline", random[:len(random)-1]},
		{"random CR, NUL and spaces", randomLines(2000, 40, "ab\r\x00 ")},
		{mib + " in the middle", cat([]byte("before\n"), long, []byte("\nafter\n"))},
		{mib + " at the end", cat([]byte("before\n"), long, []byte("\n"))},
		{mib + " at the end, no final newline", cat([]byte("before\n"), long)},
		{"only a " + mib, cat(long, []byte("\n"))},
		{fmt.Sprintf("%d empty lines", emptyLines), bytes.Repeat([]byte{'\n'}, emptyLines)},
	}
}

// Reseal recomputes the body and header checksums of an encoded index, at
// the places the format documents (internal/lineindex, version 4: the body
// from byte 160, its CRC-32C at 100, the header's CRC-32C of bytes 0..155 at
// 156), so that a change made to the index is judged on what it says, not
// caught by a checksum. It returns enc.
func Reseal(enc []byte) []byte {
	const headerLen, headerCRC = 160, 156
	tab := crc32.MakeTable(crc32.Castagnoli)
	binary.LittleEndian.PutUint32(enc[100:], crc32.Checksum(enc[headerLen:], tab))
	binary.LittleEndian.PutUint32(enc[headerCRC:], crc32.Checksum(enc[:headerCRC], tab))
	return enc
}

// Shuffled returns the numbers of at most most of lines (from 1), in an
// order of seed's, as command-line arguments, and the bytes getline must
// print for them: their lines in that order.
func Shuffled(lines [][]byte, seed uint64, most int) (args []string, want []byte) {
	order := rand.New(rand.NewPCG(seed, 7)).Perm(len(lines))
	for _, i := range order[:min(len(order), most)] {
		args = append(args, strconv.Itoa(i+1))
		want = append(want, lines[i]...)
	}
	return args, want
}

// ChangeKeepingTime overwrites one byte of the file at path, keeping its
// modification time, and returns a function that undoes it.
func ChangeKeepingTime(t testing.TB, path string, off int64, b byte) (undo func()) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var old [1]byte
	if _, err := f.ReadAt(old[:], off); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{b}, off); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	return func() { ChangeKeepingTime(t, path, off, old[0]) }
}
