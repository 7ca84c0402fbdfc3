package server

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lined/lined/internal/testkit"
)

// TestSeveralFiles: each file at /files/NAME/lines/N and N-M, the list at
// /files/ (text, or JSON when asked), /lines/N a 404 that points there,
// /readyz and /metrics covering every file.
func TestSeveralFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := testkit.WriteFile(t, dir, "a.txt", []byte("a1\na2\na3\n"))
	b := testkit.WriteFile(t, dir, "b log.jsonl", []byte("{\"b\":1}\n{\"b\":2}\n"))
	ts := startServerFiles(t, []string{a, b})
	ts.waitReady()

	for _, tt := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/files/a.txt/lines/2", 200, "a2\n"},
		{"GET", "/files/a.txt/lines/2-9", 200, "a2\na3\n"},
		{"GET", "/files/b%20log.jsonl/lines/2", 200, "{\"b\":2}\n"}, // the name percent-decoded
		{"GET", "/files/a%2Etxt/lines/1", 200, "a1\n"},
		{"HEAD", "/files/a.txt/lines/1", 200, ""},
		{"GET", "/files/a.txt/lines/4", 413, "line 4 is beyond the end of the file (3 lines)\n"},
		{"GET", "/files/a.txt/lines/%31", 400, "invalid line number: not a plain decimal number\n"},
		{"POST", "/files/a.txt/lines/1", 405, bodyMethod},
		{"GET", "/files/c.txt/lines/1", 404, bodyNotFound},
		{"GET", "/files/a.txt", 404, bodyNotFound},
		{"GET", "/files/a.txt/", 404, bodyNotFound},
		{"GET", "/files/a.txt/line/1", 404, bodyNotFound},
		{"GET", "/files", 404, bodyNotFound},
		{"GET", "/lines/1", 404, bodySeveral},
		{"GET", "/lines/1-2", 404, bodySeveral},
		{"POST", "/files/", 405, bodyMethod},
		{"GET", "/readyz", 200, "a.txt: ready: 3 lines\nb log.jsonl: ready: 2 lines\n"},
		{"GET", "/files/", 200, "a.txt\t3 lines\t9 bytes\tready\nb log.jsonl\t2 lines\t16 bytes\tready\n"},
	} {
		r := ts.do(tt.method, tt.path)
		if r.code != tt.code || r.body != tt.body {
			t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, r.code, r.body, tt.code, tt.body)
		}
	}
	if got := ts.raw("GET /files/%zz/lines/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5*time.Second); !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Errorf("a name that is no valid escape: %.40q, want 400 (from net/http)", got)
	}
	// Lines of different files have different ETags.
	if ea, eb := ts.get("/files/a.txt/lines/1").header.Get("ETag"), ts.get("/files/b%20log.jsonl/lines/1").header.Get("ETag"); ea == eb {
		t.Errorf("line 1 of two files has the same ETag %s", ea)
	}

	r := ts.get("/files/", "Accept", "text/html, application/json;q=0.9")
	var got []fileEntry
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("/files/ as JSON: %q, %v, Content-Type %q", r.body, err, r.header.Get("Content-Type"))
	}
	want := []fileEntry{{"a.txt", 3, 9, true}, {"b log.jsonl", 2, 16, true}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("/files/ as JSON: %+v, want %+v", got, want)
	}
	if r := ts.get("/files/", "Accept", "application/json;q=0"); strings.HasPrefix(r.body, "[") {
		t.Errorf("/files/ with application/json refused (q=0): %q, want text", r.body)
	}

	body := ts.get("/metrics").body
	for _, want := range []string{
		"lined_file_lines{file=\"a.txt\"} 3\n", "lined_file_lines{file=\"b log.jsonl\"} 2\n",
		"lined_ready{file=\"a.txt\"} 1\n", "lined_ready{file=\"b log.jsonl\"} 1\n",
		"lined_lines_served_total{file=\"a.txt\"} ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if about := ts.get("/").body; !strings.Contains(about, "2 text files") || !strings.Contains(about, "GET /files/NAME/lines/N") {
		t.Errorf("/ with several files: %q", about)
	}
}

// TestSameBaseNameRefused: /files/NAME/ could not tell two files of the
// same base name apart.
func TestSameBaseNameRefused(t *testing.T) {
	t.Parallel()
	a := testkit.WriteFile(t, t.TempDir(), "data.txt", []byte("a\n"))
	b := testkit.WriteFile(t, t.TempDir(), "data.txt", []byte("b\n"))
	fa, _ := os.Open(a)
	fb, _ := os.Open(b)
	_, err := New(Config{}, []File{{Path: a, F: fa}, {Path: b, F: fb}})
	if err == nil || !strings.Contains(err.Error(), `same base name "data.txt"`) {
		t.Fatalf("two files named data.txt: %v, want a refusal naming it", err)
	}
	if _, err := fa.Stat(); err == nil {
		t.Error("New kept the files it refused open")
	}
}

// TestFilesApart: one file being indexed, changed, deleted or unreadable
// never delays or breaks another's answers. File a's build is held; file
// b answers at once. Then, under load on b, a is rewritten, truncated,
// deleted and made a directory: every answer from b is 200 and right.
func TestFilesApart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := testkit.WriteFile(t, dir, "a.txt", []byte("a1\na2\n"))
	b := testkit.WriteFile(t, dir, "b.txt", []byte("b1\nb2\nb3\n"))
	release := make(chan struct{})
	ts := startServerFiles(t, []string{a, b}, func(s *Server) {
		s.files[0].beforeBuild = func() { <-release }
	})
	deadline := time.Now().Add(5 * time.Second)
	for ts.get("/files/b.txt/lines/2").body != "b2\n" {
		if time.Now().After(deadline) {
			t.Fatal("b is not served while a's build is held")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r := ts.get("/files/a.txt/lines/1"); r.code != 503 {
		t.Errorf("a while its build is held: %d, want 503", r.code)
	}
	if r := ts.get("/readyz"); r.code != 503 || !strings.Contains(r.body, "b.txt: ready: 3 lines") {
		t.Errorf("/readyz while a is not ready: %d %q, want 503 naming b ready", r.code, r.body)
	}
	close(release)
	ts.waitReady()

	var stop atomic.Bool
	var served, bad atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				n := 1 + i%3
				r := ts.get("/files/b.txt/lines/" + string(rune('0'+n)))
				if r.code != http.StatusOK || r.body != "b"+string(rune('0'+n))+"\n" {
					bad.Add(1)
					t.Errorf("b line %d while a changes: %d %q", n, r.code, r.body)
					return
				}
				served.Add(1)
			}
		})
	}
	for _, change := range []func(){
		func() { os.WriteFile(a, []byte("x1\nx2\nx3\n"), 0o644) },
		func() { os.Truncate(a, 0) },
		func() { os.Remove(a) },
		func() { os.Mkdir(a, 0o755) },
		func() { os.Remove(a); os.WriteFile(a, []byte("again\n"), 0o644) },
	} {
		change()
		time.Sleep(150 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if served.Load() == 0 || bad.Load() > 0 {
		t.Errorf("b served %d lines, %d bad, while a changed", served.Load(), bad.Load())
	}
	waitFor(t, 5*time.Second, "a served again", func() bool { return ts.get("/files/a.txt/lines/1").body == "again\n" })
	if _, err := os.Stat(filepath.Join(dir, "b.txt.idx")); err != nil {
		t.Errorf("b's index: %v", err)
	}
}
