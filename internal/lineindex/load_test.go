package lineindex

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/lined/lined/internal/testkit"
)

// These tests are about where indexes live: Locations, Open, Save, Load
// and the atomic WriteFile.

func TestLocations(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	cacheName := func(abs string) string {
		sum := sha256.Sum256([]byte(abs))
		return filepath.Join(cache, "lined", filepath.Base(abs)+"-"+hex.EncodeToString(sum[:8])+".idx")
	}

	got := Locations("/srv/data/big.txt")
	want := []string{"/srv/data/big.txt.idx", cacheName("/srv/data/big.txt")}
	if !slices.Equal(got, want) {
		t.Errorf("Locations(absolute) = %q, want %q", got, want)
	}

	// A relative name is named in the cache after its absolute path.
	dir := t.TempDir()
	t.Chdir(dir)
	got = Locations("big.txt")
	want = []string{"big.txt.idx", cacheName(filepath.Join(dir, "big.txt"))}
	if !slices.Equal(got, want) {
		t.Errorf("Locations(relative) = %q, want %q", got, want)
	}

	// Files of the same name in different directories do not share.
	if a, b := Locations("/a/big.txt"), Locations("/b/big.txt"); a[1] == b[1] {
		t.Errorf("/a/big.txt and /b/big.txt share the cache file %s", a[1])
	}

	// Without a cache directory, only the place beside the file is left.
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if got := Locations("/srv/big.txt"); !slices.Equal(got, []string{"/srv/big.txt.idx"}) {
		t.Errorf("Locations without a cache directory = %q", got)
	}
}

// fixture is a source file with an index directory beside it, and paths
// that cannot be written: beneath a regular file (root ignores
// permissions, but not that).
type fixture struct {
	dir, src string
	data     []byte
	f        *os.File
	blocked  string // beneath a regular file
	fallback string // in a directory that does not exist yet
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	fx := &fixture{dir: dir, data: mixedLines(1)[:200_000]}
	fx.src = testkit.WriteFile(t, dir, "src.txt", fx.data)
	fx.f = openFile(t, fx.src)
	regular := testkit.WriteFile(t, dir, "regular", []byte("not a directory"))
	fx.blocked = filepath.Join(regular, "src.txt.idx")
	fx.fallback = filepath.Join(dir, "cache", "lined", "src.txt-0123.idx")
	return fx
}

func (fx *fixture) build(t *testing.T) *Index {
	t.Helper()
	return buildFile(t, fx.src, BuildOptions{Settle: noSettle})
}

func TestOpen(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	ix := fx.build(t)
	good := filepath.Join(fx.dir, "good.idx")
	if err := ix.writeFile(good, nil); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(fx.dir, "corrupt.idx")
	if err := os.WriteFile(corrupt, []byte("LINEDIX\x00 but nothing else"), 0o644); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(fx.dir, "stale.idx")
	other := buildBytes(t, fx.data, BuildOptions{Settle: noSettle}) // another modification time
	if err := other.writeFile(stale, nil); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(fx.dir, "missing.idx")

	tests := []struct {
		name     string
		paths    []string
		wantPath string
		wantErr  func(error) bool // nil: want the index at wantPath
		named    string           // the path the error must name
	}{
		{"none", nil, "", isNoIndex, ""},
		{"missing", []string{missing, missing + "2"}, "", isNoIndex, ""},
		{"good", []string{good}, good, nil, ""},
		{"missing then good", []string{missing, good}, good, nil, ""},
		{"corrupt then good", []string{corrupt, good}, good, nil, ""},
		{"stale then good", []string{stale, good}, good, nil, ""},
		{"corrupt then missing", []string{corrupt, missing}, "", isCorrupt, corrupt},
		{"stale then corrupt", []string{stale, corrupt}, "", isStale, stale},
		{"missing then stale", []string{missing, stale}, "", isStale, stale},
		// Nothing can be there: no index, as if it were missing.
		{"beneath a regular file", []string{fx.blocked}, "", isNoIndex, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, path, err := open(fx.f, tt.paths)
			if tt.wantErr == nil {
				if err != nil || path != tt.wantPath || got == nil {
					t.Fatalf("Open = %v, %q, %v; want the index at %s", got, path, err, tt.wantPath)
				}
				return
			}
			if got != nil || path != "" || !tt.wantErr(err) {
				t.Fatalf("Open = %v, %q, %v; want no index and another error", got, path, err)
			}
			if !strings.Contains(err.Error(), tt.named) {
				t.Errorf("error %q does not name the refused index %s", err, tt.named)
			}
		})
	}
}

func isNoIndex(err error) bool { return errors.Is(err, ErrNoIndex) }
func isCorrupt(err error) bool { var ce *corruptError; return errors.As(err, &ce) }
func isStale(err error) bool   { var se *staleError; return errors.As(err, &se) }

func TestSave(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	ix := fx.build(t)
	beside := fx.src + ".idx"

	if p, err := saveTo(ix, []string{beside, fx.fallback}); err != nil || p != beside {
		t.Fatalf("Save = %q, %v; want %s", p, err, beside)
	}
	if _, err := os.Stat(filepath.Dir(fx.fallback)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Save created the fallback directory though it did not need it: %v", err)
	}

	// The first directory cannot be written: the fallback is used, and its
	// directory created, private to the user.
	if p, err := saveTo(ix, []string{fx.blocked, fx.fallback}); err != nil || p != fx.fallback {
		t.Fatalf("Save = %q, %v; want %s", p, err, fx.fallback)
	}
	if fi, err := os.Stat(filepath.Dir(fx.fallback)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("fallback directory: %v, %v; want mode 0700", fi, err)
	}
	if got, err := readFile(fx.fallback); err != nil || !bytes.Equal(encode(t, got), encode(t, ix)) {
		t.Fatalf("readFile(fallback): %v", err)
	}

	// Only the fallback directory is created, not the first one.
	noDir := filepath.Join(fx.dir, "no such dir", "src.txt.idx")
	if p, err := saveTo(ix, []string{noDir}); err == nil || p != "" {
		t.Errorf("Save into a missing directory = %q, %v; want an error", p, err)
	}
	if _, err := os.Stat(filepath.Dir(noDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Save created the directory of the first path: %v", err)
	}

	// Nowhere to write: both failures are reported.
	blocked2 := filepath.Join(filepath.Dir(fx.blocked), "sub", "x.idx")
	p, err := saveTo(ix, []string{fx.blocked, blocked2})
	if err == nil || p != "" {
		t.Fatalf("Save with nowhere to write = %q, %v; want an error", p, err)
	}
	if !strings.Contains(err.Error(), "regular") || strings.Count(err.Error(), "\n") < 1 {
		t.Errorf("Save's error %q should report both paths", err)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fx := newFixture(t)
	beside := fx.src + ".idx"
	paths := []string{beside, fx.fallback}

	var reasons []error
	opts := LoadOptions{OnBuild: func(r error) { reasons = append(reasons, r) }}

	// No index yet: built and saved beside the file.
	l, err := Load(ctx, fx.f, withPaths(opts, paths))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Built || l.Path != beside || l.SaveErr != nil || !errors.Is(l.Reason, ErrNoIndex) {
		t.Fatalf("first Load = %+v, want built and saved to %s because there was none", l, beside)
	}
	if len(reasons) != 1 || !errors.Is(reasons[0], ErrNoIndex) {
		t.Fatalf("OnBuild calls: %v", reasons)
	}
	checkAllLines(t, l.Index, fx.data, make([]byte, 4096))
	saved, err := os.ReadFile(beside)
	if err != nil || !bytes.Equal(saved, encode(t, l.Index)) {
		t.Fatalf("saved index: %v", err)
	}

	// Valid: reused, not built.
	l, err = Load(ctx, fx.f, withPaths(opts, paths))
	if err != nil || l.Built || l.Path != beside || l.Reason != nil || len(reasons) != 1 {
		t.Fatalf("second Load = %+v, %v; want the saved index", l, err)
	}

	// The file grew: the saved index extended, and saved again; no build.
	lines := l.Index.Lines()
	fx.data = append(fx.data, "one more line\n"...)
	if err := os.WriteFile(fx.src, fx.data, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err = Load(ctx, fx.f, withPaths(opts, paths))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Built || !l.Extended || l.ExtendedFrom != lines || l.Path != beside || !isStale(l.Reason) || len(reasons) != 1 {
		t.Fatalf("Load of a grown file = %+v; want the index extended because stale", l)
	}
	checkAllLines(t, l.Index, fx.data, make([]byte, 4096))
	if l, err = Load(ctx, fx.f, withPaths(opts, paths)); err != nil || l.Built {
		t.Fatalf("Load after the extension = %+v, %v; want the saved index", l, err)
	}

	// Rewritten: rebuilt.
	fx.data = append([]byte("a first line\n"), fx.data...)
	if err := os.WriteFile(fx.src, fx.data, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err = Load(ctx, fx.f, withPaths(opts, paths))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Built || l.Extended || l.Path != beside || !isStale(l.Reason) || len(reasons) != 2 || !isStale(reasons[1]) {
		t.Fatalf("Load of a rewritten file = %+v; want rebuilt because stale", l)
	}
	checkAllLines(t, l.Index, fx.data, make([]byte, 4096))

	// A cancelled build is an error, not an index.
	if err := os.Remove(beside); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if l, err := Load(cctx, fx.f, LoadOptions{Paths: paths, Build: BuildOptions{Settle: noSettle}}); !errors.Is(err, context.Canceled) || l.Index != nil {
		t.Fatalf("Load with a cancelled context = %+v, %v; want context.Canceled", l, err)
	}
}

func TestLoadFallsBack(t *testing.T) {
	t.Parallel()
	// The directory beside the file cannot be written: the index goes to
	// the fallback, and is found there next time.
	ctx := context.Background()
	fx := newFixture(t)
	paths := []string{fx.blocked, fx.fallback}
	l, err := Load(ctx, fx.f, LoadOptions{Paths: paths, Build: BuildOptions{Settle: noSettle}})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Built || l.Path != fx.fallback || l.SaveErr != nil || l.Reason == nil {
		t.Fatalf("Load = %+v; want built and saved to the fallback", l)
	}
	checkAllLines(t, l.Index, fx.data, make([]byte, 4096))
	l, err = Load(ctx, fx.f, LoadOptions{Paths: paths, Build: BuildOptions{Settle: noSettle}})
	if err != nil || l.Built || l.Path != fx.fallback {
		t.Fatalf("second Load = %+v, %v; want the index from the fallback", l, err)
	}
}

func TestLoadWithNowhereToSave(t *testing.T) {
	t.Parallel()
	// No path can be written: Load still returns a working index, in
	// memory only, and says why it was not saved.
	fx := newFixture(t)
	paths := []string{fx.blocked, filepath.Join(filepath.Dir(fx.blocked), "cache", "x.idx")}
	for range 2 {
		l, err := Load(context.Background(), fx.f, LoadOptions{Paths: paths, Build: BuildOptions{Settle: noSettle}})
		if err != nil {
			t.Fatal(err)
		}
		if !l.Built || l.Path != "" || l.SaveErr == nil {
			t.Fatalf("Load = %+v; want built, unsaved, with SaveErr", l)
		}
		checkAllLines(t, l.Index, fx.data, make([]byte, 4096))
	}
}

func TestLoadReadOnlyDirectory(t *testing.T) {
	t.Parallel()
	// The same with real permissions, when not running as root (root may
	// write anywhere).
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions; see TestLoadFallsBack")
	}
	fx := newFixture(t)
	if err := os.Chmod(fx.dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(fx.dir, 0o755)
	fallback := filepath.Join(t.TempDir(), "lined", "x.idx")
	l, err := Load(context.Background(), fx.f, LoadOptions{Paths: []string{fx.src + ".idx", fallback}, Build: BuildOptions{Settle: noSettle}})
	if err != nil || !l.Built || l.Path != fallback {
		t.Fatalf("Load = %+v, %v; want saved to the fallback", l, err)
	}
	entries, _ := os.ReadDir(fx.dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left in the read-only directory", e.Name())
		}
	}
}

func TestLoadRefusesNonRegularFiles(t *testing.T) {
	t.Parallel()
	d, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if l, err := Load(context.Background(), d, LoadOptions{Paths: []string{filepath.Join(t.TempDir(), "x.idx")}, Build: BuildOptions{Settle: noSettle}}); err == nil {
		t.Fatalf("Load of a directory = %+v, want an error", l)
	}
}

// tempFiles lists the temporary files WriteFile may have left in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var tmp []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			tmp = append(tmp, e.Name())
		}
	}
	return tmp
}

func TestWriteFile(t *testing.T) {
	fx := newFixture(t)
	ix := fx.build(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "x.idx")

	// Replaces the index that was there, even a damaged one.
	if err := os.WriteFile(path, []byte(magic+"old and damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ix.writeFile(path, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, encode(t, ix)) {
		t.Fatalf("index on disk differs: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}

	// A name without a directory is in the current one.
	t.Chdir(dir)
	if err := ix.writeFile("rel.idx", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := readFile(filepath.Join(dir, "rel.idx")); err != nil {
		t.Fatal(err)
	}
	if tmp := tempFiles(t, dir); tmp != nil {
		t.Fatalf("temporary files left: %q", tmp)
	}
}

func TestWriteFileFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	ix := fx.build(t)
	dir := t.TempDir()

	// The rename fails: the path is a directory. The temporary file,
	// already written and synced, is removed, and the path left alone.
	isDir := filepath.Join(dir, "dir.idx")
	if err := os.Mkdir(isDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(isDir, "keep"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ix.writeFile(isDir, nil); err == nil {
		t.Fatal("WriteFile over a directory succeeded")
	}
	if fi, err := os.Stat(isDir); err != nil || !fi.IsDir() {
		t.Fatalf("the directory was not left as it was: %v", err)
	}
	if tmp := tempFiles(t, dir); tmp != nil {
		t.Fatalf("temporary files left after a failed rename: %q", tmp)
	}

	// The directory does not exist: nothing is created.
	missing := filepath.Join(dir, "missing", "x.idx")
	if err := ix.writeFile(missing, nil); err == nil {
		t.Fatal("WriteFile into a missing directory succeeded")
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("WriteFile created a directory: %v", err)
	}

	// Beneath a regular file.
	if err := ix.writeFile(fx.blocked, nil); err == nil {
		t.Fatal("WriteFile beneath a regular file succeeded")
	}
}

func TestWriteFileIsAtomic(t *testing.T) {
	t.Parallel()
	// While an index is rewritten over and over, a reader always finds a
	// whole index, the old or the new, never a part of one.
	if testing.Short() {
		t.Skip("fsyncs: not with -short")
	}
	fx := newFixture(t)
	a := fx.build(t)
	b := buildBytes(t, fx.data[:100_000], BuildOptions{Settle: noSettle, Spacing: 512})
	path := filepath.Join(t.TempDir(), "x.idx")
	if err := a.writeFile(path, nil); err != nil {
		t.Fatal(err)
	}
	encA, encB := encode(t, a), encode(t, b)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range 40 {
			ix := a
			if i%2 == 0 {
				ix = b
			}
			if err := ix.writeFile(path, nil); err != nil {
				t.Error(err)
				return
			}
		}
	})
	reads := 0
	for stop := false; !stop; reads++ {
		select {
		case <-done:
			stop = true
		default:
		}
		got, err := readFile(path)
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		if enc := encode(t, got); !bytes.Equal(enc, encA) && !bytes.Equal(enc, encB) {
			t.Fatalf("read %d: an index that was never written", reads)
		}
	}
	wg.Wait()
	t.Logf("%d whole reads during 40 rewrites", reads)
	if tmp := tempFiles(t, filepath.Dir(path)); tmp != nil {
		t.Fatalf("temporary files left: %q", tmp)
	}
}

// TestWriteFileReplacesOnlyIndexes: an index is written where nothing is,
// or over an index; never over the source, whatever path leads to it, nor
// over any other file. What was there is left byte for byte, and no
// temporary file remains.
func TestWriteFileReplacesOnlyIndexes(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	ix := fx.build(t)
	src, err := os.Stat(fx.src)
	if err != nil {
		t.Fatal(err)
	}
	dir := fx.dir
	mustWrite := func(name, data string) string { return testkit.WriteFile(t, dir, name, []byte(data)) }
	link := func(oldname, newname string) string {
		p := filepath.Join(dir, newname)
		if err := os.Symlink(oldname, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hard := filepath.Join(dir, "hardlink")
	if err := os.Link(fx.src, hard); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	userIdx := mustWrite("notes.idx", "my data, not an index\n")
	refused := []struct{ name, path, reason string }{
		{"the source", fx.src, "the file being indexed"},
		{"the source through ..", filepath.Join(sub, "..", "src.txt"), "the file being indexed"},
		{"a hard link to the source", hard, "the file being indexed"},
		{"a symbolic link to the source", link("src.txt", "symlink"), "the file being indexed"},
		{"a file that is not an index", userIdx, "not an index"},
		{"an empty file", mustWrite("empty.idx", ""), "not an index"},
		{"a file shorter than the magic", mustWrite("short.idx", magic[:5]), "not an index"},
		{"a symbolic link to a file that is not an index", link("notes.idx", "link.idx"), "not an index"},
		{"a dangling symbolic link", link("nowhere", "dangling.idx"), "does not exist"},
		{"a FIFO", fifo, "not a regular file"},
		{"a directory", sub, "not a regular file"},
	}
	contents := func(path string) []byte {
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		b, _ := os.ReadFile(path)
		return b
	}
	for _, tt := range refused {
		before := contents(tt.path)
		err := ix.writeFile(tt.path, src)
		if !errors.Is(err, errLeftAlone) || !strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("%s: writeFile = %v, want it left alone because %s", tt.name, err, tt.reason)
		}
		if after := contents(tt.path); !bytes.Equal(before, after) {
			t.Errorf("%s: the file was changed", tt.name)
		}
	}
	if data, err := os.ReadFile(fx.src); err != nil || !bytes.Equal(data, fx.data) {
		t.Fatalf("the source changed: %v", err)
	}
	if tmp := tempFiles(t, dir); tmp != nil {
		t.Errorf("temporary files left: %q", tmp)
	}

	// A symbolic link to an index: the index it leads to is replaced, and
	// the link stays.
	target := filepath.Join(sub, "real.idx")
	if err := os.WriteFile(target, []byte(magic), 0o644); err != nil {
		t.Fatal(err)
	}
	l := link("sub/real.idx", "linked.idx")
	if err := ix.writeFile(l, src); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(l); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v", err)
	}
	if got, err := readFile(target); err != nil || got.Lines() != ix.Lines() {
		t.Errorf("the index the link leads to was not written: %v", err)
	}
}

// TestInstallPutsBackAFileCreatedMeanwhile: a file that appears at the
// index's place after it was checked, and is not an index, is swapped back
// and kept, whether the place was empty or held an index when checked.
func TestInstallPutsBackAFileCreatedMeanwhile(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the swap needs renameat2")
	}
	dir := t.TempDir()
	for _, existed := range []bool{false, true} {
		tmp := testkit.WriteFile(t, dir, ".x.idx.tmp1", []byte(magic+"new index"))
		target := testkit.WriteFile(t, dir, "x.idx", []byte("a user's file, put here meanwhile\n"))
		keep, err := install(tmp, target, existed, nil)
		if !errors.Is(err, errLeftAlone) || keep {
			t.Errorf("existed %v: install = %v, %v; want the file left alone", existed, keep, err)
		}
		if got, _ := os.ReadFile(target); string(got) != "a user's file, put here meanwhile\n" {
			t.Errorf("existed %v: the user's file is now %q", existed, got)
		}
		if got, _ := os.ReadFile(tmp); string(got) != magic+"new index" {
			t.Errorf("existed %v: the temporary file holds %q", existed, got)
		}
		os.Remove(tmp)
	}
}
