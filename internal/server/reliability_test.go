package server

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Regression tests for faults the reliability suite (../../reliability)
// found.

// A line beyond the end of the file as indexed is answered 413 only if the
// file is still as indexed: after lines were appended, or the file was
// rewritten, the old line count is stale, and the answer is 503 until the
// file is indexed again (then the line). Found by TestR4ChangesUnderLoad: a
// 413 named a line count the file no longer had.
func TestBeyondEndOfChangedFileNotStale(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(file string) error
		body   string // the 503's
		want   string // line 3, once indexed again
	}{
		{"appended", func(file string) error {
			f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString("three\n")
			return err
		}, bodyGrowing, "three\n"},
		{"rewritten", func(file string) error { return os.WriteFile(file, []byte("1\n2\n3\n4\n"), 0o644) }, bodyChanged, "3\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No periodic check: only the request itself can notice.
			ts := startServer(t, []byte("one\ntwo\n"), func(s *Server) { s.cfg.CheckInterval = time.Hour })
			ts.waitReady()
			if r := ts.get("/lines/3"); r.code != 413 {
				t.Fatalf("line 3 of 2: %d %q", r.code, r.body)
			}
			// Let the watcher's check (the 413 woke it) pass first.
			time.Sleep(3 * minPokeGap)
			if err := tc.change(ts.file); err != nil {
				t.Fatal(err)
			}
			r := ts.get("/lines/3")
			if r.code != 503 || r.body != tc.body || r.header.Get("Retry-After") == "" {
				t.Errorf("line 3 right after the change: %d %q, want 503 %q with Retry-After", r.code, r.body, tc.body)
			}
			waitFor(t, 5*time.Second, "line 3 served", func() bool { return ts.get("/lines/3").body == tc.want })
		})
	}
}

// A file rewritten in place with the same size and its modification time
// put back (cp -p, touch -r, rsync -t --inplace), where a newline moved
// before a checkpoint: every line after it is renumbered, but its bytes,
// and the newlines around it, stay where the index has them. Neither size
// nor modification time shows the change; the status change time does
// (utimes sets it). No line may be served from the old index: the first
// request after the change is 503, and the file is indexed again.
func TestRenumberedSameSizeSameMtime(t *testing.T) {
	t.Parallel()
	var b []byte
	for i := 1; len(b) < 1<<20; i++ {
		b = fmt.Appendf(b, "line %06d\n", i)
	}
	lines := splitLines(b)
	ts := startServer(t, b, func(s *Server) { s.cfg.CheckInterval = time.Hour })
	ts.waitReady()
	const n = 50_000 // far beyond the change
	before := ts.get("/lines/" + strconv.Itoa(n))
	if before.code != 200 || before.body != lines[n-1] {
		t.Fatalf("line %d: %d %q", n, before.code, before.body)
	}
	changed := renumberKeepingTime(t, ts.file, b)
	now := splitLines(changed)
	r := ts.get("/lines/" + strconv.Itoa(n))
	if r.code == 200 && r.body != now[n-1] {
		t.Fatalf("WRONG LINE: line %d of the changed file served as %q, it is %q", n, r.body, now[n-1])
	}
	waitFor(t, 5*time.Second, "the changed file served", func() bool {
		return ts.get("/lines/"+strconv.Itoa(n)).body == now[n-1]
	})
	// A client's cached copy must not be revalidated: the ETag changed
	// with the content, although size, time and sampled fingerprint did not.
	if r := ts.get("/lines/"+strconv.Itoa(n), "If-None-Match", before.header.Get("ETag")); r.code != 200 || r.body != now[n-1] {
		t.Errorf("line %d with the old ETag: %d %q, want 200 and the new line", n, r.code, r.body)
	}
}

// A chmod, or the file renamed away (its path gone, the file still linked
// elsewhere), moves only its status change time. Watched by inotify, which
// reports no write, the file is known unchanged: its fingerprint is
// checked, and every line goes on answering 200, with no new index.
func TestStatusChangesServed(t *testing.T) {
	t.Parallel()
	content := version(1, 200)
	lines := splitLines(content)
	ts := startServer(t, content, func(s *Server) { s.cfg.CheckInterval = 20 * time.Millisecond })
	ts.waitReady()
	all := func(what string) {
		t.Helper()
		for n := 1; n <= len(lines); n++ {
			if r := ts.get("/lines/" + strconv.Itoa(n)); r.code != 200 || r.body != lines[n-1] {
				t.Fatalf("line %d after %s: %d %q", n, what, r.code, r.body)
			}
		}
	}
	time.Sleep(10 * time.Millisecond) // past a tick of the file system's clock
	if err := os.Chmod(ts.file, 0o600); err != nil {
		t.Fatal(err)
	}
	all("a chmod")
	moved := ts.file + ".moved"
	if err := os.Rename(ts.file, moved); err != nil {
		t.Fatal(err)
	}
	all("a rename")
	waitFor(t, 5*time.Second, "the path gone noticed", func() bool {
		return strings.Contains(ts.logs.String(), "the file's path is gone; serving the file still open")
	})
	all("the path gone noticed")
	if logs := ts.logs.String(); strings.Count(logs, "msg=indexing") != 1 || strings.Count(logs, "msg=serving") != 1 {
		t.Errorf("indexed again after a status change:\n%s", logs)
	}
	if _, err := os.Stat(moved + ".idx"); err == nil {
		t.Error("an index was saved for the renamed file")
	}
}

// Without file notifications, a status change cannot be told from a
// rewrite that put the times back: lined indexes the file again, through
// its path, or the file it has open if the path is gone (without saving
// that index), and goes on serving it.
func TestStatusChangesUnwatched(t *testing.T) {
	t.Parallel()
	content := version(1, 200)
	lines := splitLines(content)
	ts := startServer(t, content, func(s *Server) {
		s.cfg.CheckInterval = 20 * time.Millisecond
		s.files[0].notes = &notes{} // none
	})
	ts.waitReady()
	time.Sleep(10 * time.Millisecond)
	if err := os.Chmod(ts.file, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "re-indexed after chmod", func() bool {
		logs := ts.logs.String()
		return strings.Contains(logs, `reason="the file's status changed`) && strings.Count(logs, "msg=serving") == 2
	})
	moved := ts.file + ".moved"
	if err := os.Rename(ts.file, moved); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the open file indexed again", func() bool {
		return strings.Contains(ts.logs.String(), `msg=indexing file=`+ts.file+` reason="its status changed and its path is gone"`)
	})
	for n := 1; n <= len(lines); n++ {
		var r response
		waitFor(t, 5*time.Second, "line served", func() bool { r = ts.get("/lines/" + strconv.Itoa(n)); return r.code != 503 })
		if r.code != 200 || r.body != lines[n-1] {
			t.Fatalf("line %d of the renamed file: %d %q", n, r.code, r.body)
		}
	}
	if _, err := os.Stat(moved + ".idx"); err == nil {
		t.Error("an index was saved for the renamed file")
	}
	if r := ts.get("/readyz"); r.code != 200 {
		t.Errorf("/readyz: %d %q", r.code, r.body)
	}
}

// Paths are routed as the client sent them, before percent-decoding, even
// when the path is not a valid escaping (a raw byte ≥ 0x80): net/http then
// decodes and re-escapes it in URL.EscapedPath, which made /%6Cines/1\xff
// a malformed line number (400) rather than an unknown path (404). Found
// by FuzzLinesPath (seed testdata/fuzz/FuzzLinesPath/bug-routed-after-decoding).
func TestRoutedOnPathAsSent(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []byte("a\nb\nc\n"))
	ts.waitReady()
	for _, tc := range []struct {
		target string
		status string
	}{
		{"/%6Cines/1\xff", "404 Not Found"},
		{"/%6Cines/1", "404 Not Found"},
		{"/lines/1\xff", "400 Bad Request"},
		{"/lines/%31", "400 Bad Request"},
		{"/lines/%31\xff", "400 Bad Request"},
		{"/lines/2?q=\xff", "200 OK"},
		{"http://lined/lines/2", "200 OK"},
		{"http://lined/%6Cines/2\xff", "404 Not Found"},
		{"http://lined", "404 Not Found"},
		// Absolute targets: http only (in any case), with a host.
		{"HTTP://lined/lines/2", "200 OK"},
		{"ftp://x/lines/2", "400 Bad Request"},
		{"https://x/lines/2", "400 Bad Request"},
		{"http:///lines/2", "400 Bad Request"},
		{"x://y", "400 Bad Request"},
	} {
		got := ts.raw("GET "+tc.target+" HTTP/1.1\r\nHost: lined\r\nConnection: close\r\n\r\n", 5*time.Second)
		if !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+"\r\n") {
			t.Errorf("GET %q: %.40q, want %s", tc.target, got, tc.status)
		}
	}
}

// The rewrite of TestRenumberedSameSizeSameMtime, then, before any request
// sees it, the file is deleted, or replaced by another renamed over its
// path. The old file has no link left, which also moves its status change
// time; stat cannot tell that from a rewrite followed by an unlink, so the
// change must still count. Found by TestR4ChangesUnderLoad (full form),
// when unlinked files were exempt from the check: a renumbered line served.
func TestRenumberedThenUnlinked(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"deleted", "replaced"} {
		t.Run(how, func(t *testing.T) {
			var b []byte
			for i := 1; len(b) < 1<<20; i++ {
				b = fmt.Appendf(b, "line %06d\n", i)
			}
			ts := startServer(t, b, func(s *Server) { s.cfg.CheckInterval = time.Hour })
			ts.waitReady()
			const n = 50_000
			if r := ts.get("/lines/" + strconv.Itoa(n)); r.code != 200 || r.body != splitLines(b)[n-1] {
				t.Fatalf("line %d: %d %q", n, r.code, r.body)
			}
			changed := renumberKeepingTime(t, ts.file, b)
			var err error
			other := []byte("another file\n")
			switch how {
			case "deleted":
				err = os.Remove(ts.file)
			case "replaced":
				if err = os.WriteFile(ts.file+".new", other, 0o644); err == nil {
					err = os.Rename(ts.file+".new", ts.file)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			var want string // line n once lined caught up
			if how == "deleted" {
				want = splitLines(changed)[n-1]
			}
			r := ts.get("/lines/" + strconv.Itoa(n))
			if r.code == 200 && r.body != want {
				t.Fatalf("WRONG LINE: line %d served as %q after the file was rewritten and %s", n, r.body, how)
			}
			waitFor(t, 5*time.Second, "caught up", func() bool {
				r := ts.get("/lines/" + strconv.Itoa(n))
				if r.code == 200 && r.body != want {
					t.Fatalf("WRONG LINE: line %d served as %q", n, r.body)
				}
				return r.code == 200 || how == "replaced" && r.code == 413
			})
		})
	}
}

// renumberKeepingTime rewrites the file at path, whose content is b, with
// the first newline after byte 20,000 turned into a space: two lines merge,
// every later line moves up by one, and the size stays. The fingerprint's
// samples (4 KiB at 0, then every 64 KiB) do not see it, and the
// modification time is put back. It returns the new content.
func renumberKeepingTime(t *testing.T, path string, b []byte) []byte {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Clone(b)
	changed[20_000+bytes.IndexByte(changed[20_000:], '\n')] = ' '
	if err := os.WriteFile(path, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	return changed
}
