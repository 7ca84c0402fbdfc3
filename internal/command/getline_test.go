package command

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/lined/lined/internal/testkit"
)

// sedLines splits name the way GNU sed does, using `sed -n '=;p'`, which
// prints each line's number on a line of its own before the line itself.
func sedLines(t *testing.T, name string) [][]byte {
	t.Helper()
	out, err := exec.Command("sed", "-n", "=;p", name).Output()
	if err != nil {
		t.Fatalf("sed: %v", err)
	}
	var lines [][]byte
	for len(out) > 0 {
		i := bytes.IndexByte(out, '\n')
		if n, err := strconv.Atoi(string(out[:i])); err != nil || n != len(lines)+1 {
			t.Fatalf("unexpected sed output at line %d: %q", len(lines)+1, out[:i])
		}
		out = out[i+1:]
		j := bytes.IndexByte(out, '\n')
		if j < 0 {
			j = len(out) - 1
		}
		lines = append(lines, out[:j+1])
		out = out[j+1:]
	}
	return lines
}

func TestGetlineMatchesSed(t *testing.T) {
	if _, err := exec.LookPath("sed"); err != nil {
		t.Skip("no sed")
	}
	dir := t.TempDir()
	for i, hf := range testkit.HostileFiles(3<<20, 20_000) {
		name, data := hf.Name, hf.Data
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, dir, strconv.Itoa(i), data)
			want := sedLines(t, path)
			if got := bytes.Join(want, nil); !bytes.Equal(got, data) {
				t.Fatalf("sed's lines do not reproduce the file")
			}
			// Every line on its own (a sample of them in a large file),
			// against the sed -n '=;p' split; a sample also against sed -n
			// Np itself.
			r := rand.New(rand.NewSource(int64(len(data))))
			for n := 1; n <= len(want); n++ {
				if len(want) > 2000 && n > 3 && n < len(want) && r.Intn(len(want)/500) != 0 {
					continue
				}
				out, errs, status := runTool(t, Getline(), "", path, strconv.Itoa(n))
				if status != 0 || out != string(want[n-1]) {
					t.Fatalf("getline %s %d: status %d, stderr %q, output differs from sed", name, n, status, errs)
				}
				if n <= 3 || n == len(want) || r.Intn(100) == 0 {
					sed, err := exec.Command("sed", "-n", fmt.Sprintf("%dp", n), path).Output()
					if err != nil || !bytes.Equal(sed, want[n-1]) {
						t.Fatalf("sed -n %dp differs from the split: %v", n, err)
					}
				}
			}
			// All lines in one call, in shuffled order.
			if args, expect := testkit.Shuffled(want, uint64(len(data)), len(want)); len(args) > 0 {
				out, _, status := runTool(t, Getline(), "", append([]string{path}, args...)...)
				if status != 0 || out != string(expect) {
					t.Fatalf("getline with %d shuffled numbers: status %d, output differs", len(args), status)
				}
			}
			// Ranges, against sed -n 'N,Mp' itself: at random, the whole
			// file, from the last line, across the end, one line.
			lines := len(want)
			var ranges [][2]int
			if lines > 0 { // else beyond the end, below
				ranges = [][2]int{{1, lines}, {lines, lines}, {lines, lines + 3}, {1, 1}}
				for range 8 {
					first := 1 + r.Intn(lines)
					ranges = append(ranges, [2]int{first, first + r.Intn(lines-first+4)})
				}
			}
			for _, fl := range ranges {
				sed, err := exec.Command("sed", "-n", fmt.Sprintf("%d,%dp", fl[0], fl[1]), path).Output()
				if err != nil {
					t.Fatalf("sed -n %d,%dp: %v", fl[0], fl[1], err)
				}
				out, errs, status := runTool(t, Getline(), "", path, fmt.Sprintf("%d-%d", fl[0], fl[1]))
				if status != 0 || out != string(sed) {
					t.Fatalf("getline %s %d-%d: status %d, stderr %q, %d bytes where sed printed %d", name, fl[0], fl[1], status, errs, len(out), len(sed))
				}
			}
			// One past the end.
			_, errs, status := runTool(t, Getline(), "", path, strconv.Itoa(len(want)+1))
			msg := fmt.Sprintf("getline: %s: line %d is beyond the end of the file (%d lines)\n", path, len(want)+1, len(want))
			if status != 1 || errs != msg {
				t.Fatalf("beyond the end: status %d, stderr %q, want 1, %q", status, errs, msg)
			}
		})
	}
}

func TestGetlineStdin(t *testing.T) {
	path := writeFile(t, t.TempDir(), "f.txt", []byte("a\nb\nc\n"))
	out, errs, status := runTool(t, Getline(), "3\n  1\r\n\n2", path, "-")
	if status != 0 || out != "c\na\nb\n" || errs != "" {
		t.Fatalf("got %q, %q, %d", out, errs, status)
	}
	out, errs, status = runTool(t, Getline(), "1\nx\n2\n", path, "-")
	if status != 2 || out != "a\n" || !strings.Contains(errs, `stdin:2: invalid line number "x"`) {
		t.Fatalf("bad number on stdin: got %q, %q, %d", out, errs, status)
	}
	out, errs, status = runTool(t, Getline(), " 2-3\n\n1-1\n3-9\n", path, "3", "-", "1-2")
	if status != 0 || out != "c\nb\nc\na\nc\na\nb\n" || errs != "" {
		t.Fatalf("ranges mixed with numbers and stdin: got %q, %q, %d", out, errs, status)
	}
	out, errs, status = runTool(t, Getline(), "2-1\n", path, "-")
	if status != 2 || out != "" || !strings.Contains(errs, `stdin:1: invalid line number "2-1": a range N-M must not end before it starts`) {
		t.Fatalf("a backward range on stdin: got %q, %q, %d", out, errs, status)
	}
	out, errs, status = runTool(t, Getline(), "9\n1\n", path, "-")
	if status != 1 || out != "a\n" || !strings.Contains(errs, "line 9 is beyond the end of the file (3 lines)") {
		t.Fatalf("beyond the end on stdin: got %q, %q, %d", out, errs, status)
	}
}

func TestGetlineErrors(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "f.txt", []byte("a\n"))
	for _, tc := range []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{}, 2, "want FILE and at least one line number"},
		{[]string{path}, 2, "want FILE and at least one line number"},
		{[]string{path, "0"}, 2, `invalid line number "0": line numbers start at 1`},
		{[]string{path, "-1"}, 2, `invalid line number "-1"`},
		{[]string{path, "+1"}, 2, `invalid line number "+1"`},
		{[]string{path, " 1"}, 2, `invalid line number " 1"`},
		{[]string{path, "1.5"}, 2, `invalid line number "1.5"`},
		{[]string{path, "abc"}, 2, `invalid line number "abc"`},
		{[]string{path, ""}, 2, `invalid line number "": empty line number`},
		{[]string{path, "9223372036854775808"}, 2, "line number too large"},
		{[]string{path, "3-1"}, 2, `invalid line number "3-1": a range N-M must not end before it starts`},
		{[]string{path, "1-"}, 2, `invalid line number "1-": not a line number N or a range N-M`},
		{[]string{path, "0-1"}, 2, `invalid line number "0-1": line numbers start at 1`},
		{[]string{path, "1", "1-2-3"}, 2, `invalid line number "1-2-3"`},
		{[]string{path, "2-5"}, 1, "line 2 is beyond the end of the file (1 lines)"},
		{[]string{filepath.Join(dir, "missing"), "1"}, 2, "missing: no such file"},
		{[]string{dir, "1"}, 2, ": is a directory"},
		{[]string{"/dev/null", "1"}, 2, "/dev/null: not a regular file"},
		{[]string{path, "2"}, 1, "line 2 is beyond the end of the file (1 lines)"},
		{[]string{"--nope", path, "1"}, 2, "flag provided but not defined"},
	} {
		_, errs, status := runTool(t, Getline(), "", tc.args...)
		if status != tc.status || !strings.Contains(errs, tc.stderr) {
			t.Errorf("getline %q: status %d, stderr %q; want %d and %q", tc.args, status, errs, tc.status, tc.stderr)
		}
	}
}

// TestGetlineReadOnlyPlaces shows getline answering when the file's
// directory cannot be written (falling back to the cache directory) and when
// nothing can be written at all.
func TestGetlineReadOnlyPlaces(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "f.txt", []byte("a\nb\n"))
	makeImmutable(t, dir)

	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	out, errs, status := runTool(t, Getline(), "", path, "2")
	if status != 0 || out != "b\n" || errs != "" {
		t.Fatalf("read-only directory: got %q, %q, %d", out, errs, status)
	}
	cached, _ := filepath.Glob(filepath.Join(cache, "lined", "f.txt-*.idx"))
	if len(cached) != 1 {
		t.Fatalf("index not saved in the cache directory: %v", cached)
	}

	// No writable place at all: the cache lies beneath a regular file.
	t.Setenv("XDG_CACHE_HOME", filepath.Join(path, "cache"))
	t.Setenv("HOME", filepath.Join(path, "home"))
	out, errs, status = runTool(t, Getline(), "", path, "1")
	if status != 0 || out != "a\n" || !strings.Contains(errs, "warning: index not saved") {
		t.Fatalf("nothing writable: got %q, %q, %d", out, errs, status)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(leftovers) != 0 {
		t.Fatalf("temporary files left behind: %v", leftovers)
	}
}

// TestGetlineHugeLineMemory shows that a 64 MiB line is streamed: the
// bytes allocated while printing it stay far below its size.
func TestGetlineHugeLineMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB file")
	}
	dir := t.TempDir()
	line := append(bytes.Repeat([]byte{'x'}, 64<<20), '\n')
	path := writeFile(t, dir, "huge.txt", append(append([]byte("first\n"), line...), "last\n"...))
	if _, errs, status := runTool(t, Mkindex(), "", path); status != 0 {
		t.Fatalf("mkindex: %s", errs)
	}
	var counter countingWriter
	app := Getline()
	app.Writer = &counter
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	status := Run(app, []string{"getline", path, "2"}, os.Stderr)
	runtime.ReadMemStats(&after)
	if status != 0 || counter.n != int64(len(line)) {
		t.Fatalf("status %d, wrote %d bytes, want %d", status, counter.n, len(line))
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("allocated %d MiB to print a 64 MiB line", grew>>20)
	}
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// TestGetlineCutWhenTheFileChanges: a long line printed while the file is
// rewritten in place (same size, newlines untouched) is cut, getline exits
// 2 saying the file changed, and nothing of the new version is printed.
func TestGetlineCutWhenTheFileChanges(t *testing.T) {
	const long = 16 << 20
	data := append(append([]byte("first\n"), bytes.Repeat([]byte{'a'}, long)...), "\nlast\n"...)
	path := writeFile(t, t.TempDir(), "f.txt", data)
	if _, errs, status := runTool(t, Mkindex(), "", path); status != 0 {
		t.Fatalf("mkindex: %s", errs)
	}
	app := Getline()
	var out *bytes.Buffer
	app.Writer, out = testkit.RewritingWriter(t, path, 1<<20, 1000, 12<<20)
	var errs bytes.Buffer
	status := Run(app, []string{"getline", path, "2"}, &errs)
	want := "getline: " + path + ": the file changed while it was being read; run again\n"
	if status != 2 || errs.String() != want {
		t.Errorf("getline while the file changed: status %d, stderr %q; want 2, %q", status, errs.String(), want)
	}
	if out.Len() >= long+1 || bytes.IndexByte(out.Bytes(), 'B') >= 0 {
		t.Errorf("printed %d of %d bytes, new version's included: %v", out.Len(), long+1, bytes.IndexByte(out.Bytes(), 'B') >= 0)
	}
}

// TestGetlineRangeToAFile prints a long range to a file, which the kernel
// copies most of, to a file opened to append, which it cannot, and to
// /dev/full, whose error is reported as an output error.
func TestGetlineRangeToAFile(t *testing.T) {
	var data []byte
	for i := 1; i <= 100_000; i++ {
		data = fmt.Appendf(data, "line %d %s\n", i, strings.Repeat("x", i%50))
	}
	dir := t.TempDir()
	path := writeFile(t, dir, "f.txt", data)
	want := bytes.Join(testkit.Lines(data)[9:90_000], nil)
	for _, flag := range []int{os.O_TRUNC, os.O_APPEND} {
		out, err := os.OpenFile(filepath.Join(dir, "out"), os.O_CREATE|os.O_WRONLY|flag, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		app := Getline()
		app.Writer = out
		var errs bytes.Buffer
		status := Run(app, []string{"getline", path, "10-90000"}, &errs)
		out.Close()
		got, _ := os.ReadFile(out.Name())
		if status != 0 || errs.Len() != 0 || !bytes.Equal(got, want) {
			t.Errorf("getline 10-90000 > file (flag %#x): status %d, stderr %q, %d bytes, want %d equal to sed's", flag, status, errs.String(), len(got), len(want))
		}
		os.Remove(out.Name())
	}
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer full.Close()
	app := Getline()
	app.Writer = full
	var errs bytes.Buffer
	status := Run(app, []string{"getline", path, "10-90000"}, &errs)
	if status != 2 || !strings.Contains(errs.String(), "getline: writing output: ") || !strings.Contains(errs.String(), "no space left") {
		t.Errorf("getline 10-90000 > /dev/full: status %d, stderr %q; want 2 and a writing output error", status, errs.String())
	}
}
