package reliability

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// R6: the index cannot be written where it belongs, because the directory
// is read-only (immutable: root ignores permissions), the path lies beneath
// a regular file, or the disk is full (a 64 KiB tmpfs). Then:
//   - getline still answers, exactly, saving the index in the cache
//     directory if it can, else warning on one line that names the index
//     and the reason;
//   - mkindex falls back to the cache directory, or with --index exits 1
//     with "cannot write the index: PATH: REASON";
//   - lined serves, from the cache or from memory, with a warning;
//   - no temporary file is left behind, and no partial index is ever
//     written where it would be read: an index already there is either the
//     old one, intact, or the new one.
func TestR6ReadOnlyAndDiskFull(t *testing.T) {
	skipShort(t)
	t.Run("read-only directory", testReadOnlyDir)
	t.Run("beneath a regular file", testBeneathRegularFile)
	t.Run("disk full", testDiskFull)
	figure(t, "R6", "read-only index directory (chattr +i), index path beneath a regular file, full 64 KiB tmpfs (index beside the file, --index, partial write, stale index not replaceable): getline answered every time byte-exact; mkindex fell back to the cache or exited 1 with \"cannot write the index: PATH: REASON\"; lined served from the cache or memory with a warning; 0 temporary files left; the index in place never replaced by a partial one")
}

// checkLines runs getline on file with args and checks its output and
// status; it returns its stderr.
func checkLines(t *testing.T, cache, file string, lines [][]byte, args ...string) string {
	t.Helper()
	ns := []int{1, len(lines) / 2, len(lines)}
	var want []byte
	var argv = append(args, file)
	for _, n := range ns {
		argv = append(argv, strconv.Itoa(n))
		want = append(want, lines[n-1]...)
	}
	r := runTool(t, cache, "getline", nil, argv...)
	if r.code != 0 || !bytes.Equal(r.stdout, want) {
		t.Fatalf("getline %q: exit %d, stderr %q, output differs", argv, r.code, r.stderr)
	}
	if bytes.Count(r.stderr, []byte("\n")) > 2 {
		t.Errorf("getline %q: stderr is not a line or two: %q", argv, r.stderr)
	}
	return string(r.stderr)
}

// noTemp fails if dir holds a temporary index file.
func noTemp(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left in %s: %s", dir, e.Name())
		}
	}
}

// serves starts lined with args, checks it serves lines and logs want, and
// stops it.
func serves(t *testing.T, cache string, lines [][]byte, want *regexp.Regexp, args ...string) {
	t.Helper()
	p := startLined(t, cache, args...)
	p.waitReady(10 * time.Second)
	for _, n := range []int{1, len(lines)} {
		code, body, err := p.get("/lines/" + strconv.Itoa(n))
		if err != nil || code != 200 || !bytes.Equal(body, lines[n-1]) {
			t.Errorf("lined %q: line %d: %d %v", args, n, code, err)
		}
	}
	if code, _ := p.signal(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Errorf("lined exit %d", code)
	}
	if !want.MatchString(p.logs.String()) {
		t.Errorf("lined %q: log lacks %v:\n%s", args, want, p.logs.String())
	}
}

// immutable makes dir unwritable even for root until the test ends, or
// skips the test.
func immutable(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot make a directory read-only here (chattr +i: %v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("chattr", "-i", dir).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %s: %v: %s", dir, err, out)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o644); err == nil {
		os.Remove(filepath.Join(dir, "probe"))
		t.Skip("chattr +i did not make the directory read-only")
	}
}

func testReadOnlyDir(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	cache := filepath.Join(dir, "cache")
	os.Mkdir(ro, 0o755)
	content := numbered("r6", 2000)
	lines := splitLines(content)
	file := writeFile(t, ro, "f.txt", content)
	// A stale index beside the file, which cannot be replaced.
	os.WriteFile(file, numbered("old", 10), 0o644)
	if r := runTool(t, cache, "mkindex", nil, file); r.code != 0 {
		t.Fatal(string(r.stderr))
	}
	os.WriteFile(file, content, 0o644)
	staleIdx, _ := os.ReadFile(file + ".idx")
	immutable(t, ro)

	// getline: refuses the stale index, saves a new one in the cache.
	stderr := checkLines(t, cache, file, lines)
	if !regexp.MustCompile(`^getline: \S+: rebuilding index: \S+/f.txt.idx: index is stale: .*\n$`).MatchString(stderr) {
		t.Errorf("getline, stale index in a read-only directory: stderr %q", stderr)
	}
	cached, _ := filepath.Glob(filepath.Join(cache, "lined", "f.txt-*.idx"))
	if len(cached) != 1 {
		t.Fatalf("no index in the cache directory: %v", cached)
	}
	if stderr := checkLines(t, cache, file, lines); stderr != "" {
		t.Errorf("getline, second run: stderr %q, want none (the cached index)", stderr)
	}
	// mkindex: up to date in the cache; --force rebuilds it there.
	r := runTool(t, cache, "mkindex", nil, "--force", file)
	if r.code != 0 || !strings.Contains(string(r.stderr), "at "+cached[0]) {
		t.Errorf("mkindex --force: exit %d, %q; want the index in %s", r.code, r.stderr, cached[0])
	}
	// --index in the read-only directory: mkindex fails, getline warns.
	idx := filepath.Join(ro, "x.idx")
	r = runTool(t, cache, "mkindex", nil, "--index", idx, file)
	if want := "mkindex: " + file + ": cannot write the index: " + idx + ": operation not permitted\n"; r.code != 1 || string(r.stderr) != want {
		t.Errorf("mkindex --index in a read-only directory: exit %d, %q; want 1, %q", r.code, r.stderr, want)
	}
	stderr = checkLines(t, cache, file, lines, "--index", idx)
	if want := "getline: " + file + ": warning: index not saved, it will be built again next time: " + idx + ": operation not permitted\n"; stderr != want {
		t.Errorf("getline --index in a read-only directory: stderr %q, want %q", stderr, want)
	}
	serves(t, cache, lines, regexp.MustCompile(`msg=serving .* index=`+regexp.QuoteMeta(cached[0])), "--file", file)
	serves(t, cache, lines, regexp.MustCompile(`level=WARN msg="index not saved, serving it from memory.*err="`+regexp.QuoteMeta(idx)+`: operation not permitted"`), "--file", file, "--index", idx)

	// Nothing writable at all: the cache directory beneath a regular file.
	nowhere := filepath.Join(file, "cache")
	stderr = checkLines(t, nowhere, file, lines)
	if !strings.Contains(stderr, "warning: index not saved, it will be built again next time: "+file+".idx: operation not permitted; ") {
		t.Errorf("getline with nowhere to write: stderr %q", stderr)
	}
	noTemp(t, ro)
	if got, _ := os.ReadFile(file + ".idx"); !bytes.Equal(got, staleIdx) {
		t.Error("the index in the read-only directory changed")
	}
}

func testBeneathRegularFile(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	content := numbered("r6b", 500)
	lines := splitLines(content)
	file := writeFile(t, dir, "f.txt", content)
	idx := filepath.Join(file, "x.idx")
	r := runTool(t, cache, "mkindex", nil, "--index", idx, file)
	if want := "mkindex: " + file + ": cannot write the index: " + idx + ": not a directory\n"; r.code != 1 || string(r.stderr) != want {
		t.Errorf("mkindex --index beneath a regular file: exit %d, %q; want 1, %q", r.code, r.stderr, want)
	}
	stderr := checkLines(t, cache, file, lines, "--index", idx)
	if !strings.HasSuffix(stderr, "getline: "+file+": warning: index not saved, it will be built again next time: "+idx+": not a directory\n") {
		t.Errorf("getline --index beneath a regular file: stderr %q", stderr)
	}
	serves(t, cache, lines, regexp.MustCompile(`level=WARN msg="index not saved, serving it from memory`), "--file", file, "--index", idx)
	noTemp(t, dir)
}

// mountTmpfs mounts a tmpfs of size bytes at dir until the test ends, or
// skips the test.
func mountTmpfs(t *testing.T, dir string, size int) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (mount: %v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
}

// fill writes a file in dir until the file system is full, and returns it.
func fill(t *testing.T, dir string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	page := make([]byte, 4096)
	for i := 0; i < 1<<16; i++ {
		if _, err := f.Write(page); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatal("the file system did not fill up")
	return nil
}

func testDiskFull(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o755)
	mountTmpfs(t, full, 64<<10)

	// Before it fills: a small file on it, and the index of another,
	// kept on it.
	small := numbered("r6c", 300)
	smallLines := splitLines(small)
	onFull := writeFile(t, full, "on-full.txt", small)
	other := writeFile(t, dir, "other.txt", small)
	otherIdx := filepath.Join(full, "other.idx")
	if r := runTool(t, cache, "mkindex", nil, "--index", otherIdx, other); r.code != 0 {
		t.Fatal(string(r.stderr))
	}
	oldIdx, _ := os.ReadFile(otherIdx)
	filler := fill(t, full)

	// Beside the file: the cache directory takes the index.
	if stderr := checkLines(t, cache, onFull, smallLines); stderr != "" {
		t.Errorf("getline, file on a full disk: stderr %q, want none", stderr)
	}
	r := runTool(t, cache, "mkindex", nil, "--force", onFull)
	if r.code != 0 || !strings.Contains(string(r.stderr), "at "+filepath.Join(cache, "lined")) {
		t.Errorf("mkindex, file on a full disk: exit %d, %q; want the index in the cache", r.code, r.stderr)
	}

	// An index that must be replaced, and cannot be: the old one stays,
	// whole, and is refused as stale.
	f, _ := os.OpenFile(other, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(numbered("more", 50))
	f.Close()
	otherLines := splitLines(append(bytes.Clone(small), numbered("more", 50)...))
	r = runTool(t, cache, "mkindex", nil, "--index", otherIdx, other)
	if want := "mkindex: " + other + ": cannot write the index: " + otherIdx + ": no space left on device\n"; r.code != 1 || string(r.stderr) != want {
		t.Errorf("mkindex on a full disk: exit %d, %q; want 1, %q", r.code, r.stderr, want)
	}
	stderr := checkLines(t, cache, other, otherLines, "--index", otherIdx)
	if !strings.HasSuffix(stderr, otherIdx+": no space left on device\n") {
		t.Errorf("getline, stale index on a full disk: stderr %q", stderr)
	}
	if got, _ := os.ReadFile(otherIdx); !bytes.Equal(got, oldIdx) {
		t.Error("the index on the full disk changed")
	}
	noTemp(t, full)

	// 8 KiB free, an index of 16 KiB: written in part, then refused by the
	// disk. Nothing of it remains.
	fi, _ := filler.Stat()
	if err := filler.Truncate(fi.Size() - 8<<10); err != nil {
		t.Fatal(err)
	}
	big, bigLines := bigFile(16 << 20)
	bigPath := writeFile(t, dir, "big.txt", big)
	bigIdx := filepath.Join(full, "big.idx")
	r = runTool(t, cache, "mkindex", nil, "--index", bigIdx, bigPath)
	if want := "mkindex: " + bigPath + ": cannot write the index: " + bigIdx + ": no space left on device\n"; r.code != 1 || string(r.stderr) != want {
		t.Errorf("mkindex, partial write: exit %d, %q; want 1, %q", r.code, r.stderr, want)
	}
	if _, err := os.Stat(bigIdx); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an index was left at %s after a failed write: %v", bigIdx, err)
	}
	noTemp(t, full)
	checkLines(t, cache, bigPath, bigLines, "--index", bigIdx)
	serves(t, cache, bigLines, regexp.MustCompile(`level=WARN msg="index not saved, serving it from memory.*err="`+regexp.QuoteMeta(bigIdx)+`: no space left on device"`), "--file", bigPath, "--index", bigIdx)
	noTemp(t, full)
	// What is left on the file system: the files, the old index, the filler.
	ents, _ := os.ReadDir(full)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "filler on-full.txt other.idx" {
		t.Errorf("the full file system holds %q", names)
	}
}
