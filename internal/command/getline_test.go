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
	"github.com/urfave/cli/v2"
)

// hostileFiles are the files whose every line getline must print exactly as
// GNU sed does.
func hostileFiles() map[string][]byte {
	r := rand.New(rand.NewSource(7))
	random := func(lines, maxLen int, alphabet string) []byte {
		var b []byte
		for range lines {
			for range r.Intn(maxLen + 1) {
				if alphabet == "" {
					c := byte(r.Intn(256))
					if c == '\n' {
						c = 0
					}
					b = append(b, c)
				} else {
					b = append(b, alphabet[r.Intn(len(alphabet))])
				}
			}
			b = append(b, '\n')
		}
		return b
	}
	huge := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16)
	return map[string][]byte{
		"empty":               {},
		"only-newline":        []byte("\n"),
		"only-newlines":       []byte("\n\n\n\n"),
		"no-final-newline":    []byte("a\nbb\nccc"),
		"single-unterminated": []byte("x"),
		"crlf":                []byte("one\r\ntwo\r\n\r\nthree\r\n"),
		"nul-invalid-utf8":    []byte("\x00\x00\n\xff\xfe\xc3\x28\n\x00\n\xed\xa0\x80"),
		"blank-lines":         []byte("\n\na\n\n\nb\n\n"),
		"huge-line":           append(append([]byte("before\n"), huge...), []byte("\nafter\n")...),
		"huge-line-at-end":    append([]byte("before\n"), huge...),
		"random-10000":        random(10000, 300, ""),
		"random-crlf":         random(2000, 40, "ab\r\x00 "),
	}
}

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
	for name, data := range hostileFiles() {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, dir, name, data)
			want := sedLines(t, path)
			if got := bytes.Join(want, nil); !bytes.Equal(got, data) {
				t.Fatalf("sed's lines do not reproduce the file")
			}
			// Every line on its own, against the sed -n '=;p' split; a
			// sample also against sed -n Np itself.
			r := rand.New(rand.NewSource(int64(len(data))))
			for n := 1; n <= len(want); n++ {
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
			order := r.Perm(len(want))
			args := []string{path}
			var expect []byte
			for _, i := range order {
				args = append(args, strconv.Itoa(i+1))
				expect = append(expect, want[i]...)
			}
			if len(order) > 0 {
				out, _, status := runTool(t, Getline(), "", args...)
				if status != 0 || out != string(expect) {
					t.Fatalf("getline with %d shuffled numbers: status %d, output differs", len(order), status)
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
		{[]string{path, "1", "-"}, 2, `invalid line number "-"`},
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

// TestUnreadableFile shows both tools refusing a file they may not read:
// getline with status 2, mkindex with status 1.
func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run as another user")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("no setpriv")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	path := writeFile(t, dir, "secret.txt", []byte("a\n"))
	os.Chmod(path, 0o600)
	bin := filepath.Join(dir, "tool")
	copyExe(t, exe, bin)
	for _, tc := range []struct {
		tool   string
		args   []string
		status int
	}{
		{"getline", []string{path, "1"}, 2},
		{"mkindex", []string{path}, 1},
	} {
		cmd := exec.Command("setpriv", append([]string{"--reuid", "65534", "--regid", "65534", "--clear-groups",
			bin, "-test.run=TestHelperTool", "--"}, tc.args...)...)
		cmd.Env = append(os.Environ(), "LINED_HELPER="+tc.tool)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		want := tc.tool + ": " + path + ": permission denied"
		if !ok || ee.ExitCode() != tc.status || !strings.Contains(string(out), want) {
			t.Errorf("%s of an unreadable file: %v, %q; want status %d and %q", tc.tool, err, out, tc.status, want)
		}
	}
}

// TestHelperTool runs the tool named by LINED_HELPER when a test starts the
// test binary as another process, with the arguments after "--".
func TestHelperTool(t *testing.T) {
	tools := map[string]func() *cli.App{"getline": Getline, "mkindex": Mkindex}
	app, ok := tools[os.Getenv("LINED_HELPER")]
	if !ok {
		t.Skip("helper process only")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(Run(app(), append([]string{os.Getenv("LINED_HELPER")}, args...), os.Stderr))
}

func copyExe(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
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
