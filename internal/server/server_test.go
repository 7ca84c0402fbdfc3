package server

import (
	"bufio"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lined/lined/internal/lineindex"
)

// hostile has the lines that break naive servers: empty, CRLF, NUL and
// invalid UTF-8 bytes, a long one, and no final newline.
var hostile = []byte("first\n\n\r\nCRLF line\r\nNUL \x00 byte\ninvalid \xff\xfe UTF-8\n" +
	strings.Repeat("long ", 10000) + "\n<html><script>alert(1)</script>\nno final newline")

// GET /lines/N, 1 ≤ N ≤ M: 200 with exactly the line's bytes and the
// headers of the contract. HEAD: the same without the body.
func TestLineBytesAndHeaders(t *testing.T) {
	t.Parallel()
	ts := startServer(t, hostile)
	ts.waitReady()
	want := splitLines(hostile)
	var all strings.Builder
	for i, line := range want {
		n := i + 1
		r := ts.get("/lines/" + strconv.Itoa(n))
		if r.code != 200 || r.body != line {
			t.Fatalf("line %d: %d %q, want 200 %q", n, r.code, r.body, line)
		}
		all.WriteString(r.body)
		for k, v := range map[string]string{
			"Content-Type":           "text/plain; charset=utf-8",
			"Content-Length":         strconv.Itoa(len(line)),
			"X-Content-Type-Options": "nosniff",
			"Cache-Control":          "public, max-age=60",
		} {
			if got := r.header.Get(k); got != v {
				t.Errorf("line %d: %s = %q, want %q", n, k, got, v)
			}
		}
		etag := r.header.Get("ETag")
		if !regexp.MustCompile(`^"[0-9a-f]{16}-` + strconv.Itoa(n) + `"$`).MatchString(etag) {
			t.Errorf("line %d: ETag %q is not a strong tag naming the line", n, etag)
		}

		h := ts.do(http.MethodHead, "/lines/"+strconv.Itoa(n))
		if h.code != 200 || h.body != "" || h.header.Get("Content-Length") != strconv.Itoa(len(line)) ||
			h.header.Get("ETag") != etag || h.header.Get("Content-Type") != r.header.Get("Content-Type") {
			t.Errorf("HEAD line %d: %d %q %v, want GET's headers and no body", n, h.code, h.body, h.header)
		}
	}
	if all.String() != string(hostile) {
		t.Error("lines 1..M concatenated differ from the file")
	}
}

// Every row of the contract's table that is about status codes.
func TestStatusTable(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []byte("a\nb\nc\n"))
	ts.waitReady()
	tests := []struct {
		method, path string
		code         int
		body         string // a regexp the body must match
	}{
		{"GET", "/lines/1", 200, `^a\n$`},
		{"GET", "/lines/3", 200, `^c\n$`},
		{"GET", "/lines/003", 200, `^c\n$`}, // leading zeros, as in sed
		{"GET", "/lines/1?x=y", 200, `^a\n$`},
		{"GET", "/lines/4", 413, `^line 4 is beyond the end of the file \(3 lines\)\n$`},
		{"GET", "/lines/9223372036854775807", 413, `line 9223372036854775807 .*\(3 lines\)`},
		{"GET", "/lines/0", 400, `^invalid line number: line numbers start at 1\n$`},
		{"GET", "/lines/00", 400, `start at 1`},
		{"GET", "/lines/-1", 400, `not a plain decimal number`},
		{"GET", "/lines/+1", 400, `not a plain decimal number`},
		{"GET", "/lines/%201", 400, `not a plain decimal number`}, // " 1"
		{"GET", "/lines/1%20", 400, `not a plain decimal number`},
		{"GET", "/lines/%2B1", 400, `not a plain decimal number`},
		{"GET", "/lines/%31", 400, `not a plain decimal number`}, // "1" percent-encoded: refused, one URL per line
		{"GET", "/lines/1.5", 400, `not a plain decimal number`},
		{"GET", "/lines/1e3", 400, `not a plain decimal number`},
		{"GET", "/lines/0x1", 400, `not a plain decimal number`},
		{"GET", "/lines/abc", 400, `not a plain decimal number`},
		{"GET", "/lines/1/", 400, `not a plain decimal number`},
		{"GET", "/lines/1/2", 400, `not a plain decimal number`},
		{"GET", "/lines/", 400, `^invalid line number: empty line number\n$`},
		{"GET", "/lines/9223372036854775808", 400, `line number too large`},
		{"GET", "/lines/99999999999999999999999", 400, `line number too large`},
		{"GET", "/lines/1-3", 200, `^a\nb\nc\n$`},
		{"GET", "/lines/2-2", 200, `^b\n$`},
		{"GET", "/lines/2-9", 200, `^b\nc\n$`}, // stops at the last line, as sed does
		{"GET", "/lines/3-10000", 200, `^c\n$`},
		{"GET", "/lines/4-5", 413, `^line 4 is beyond the end of the file \(3 lines\)\n$`},
		{"GET", "/lines/3-2", 400, `^invalid line number: a range N-M must not end before it starts\n$`},
		{"GET", "/lines/1-", 400, `^invalid line number: not a line number N or a range N-M\n$`},
		{"GET", "/lines/-", 400, `not a plain decimal number`},
		{"GET", "/lines/1--2", 400, `not a plain decimal number`},
		{"GET", "/lines/1-2-3", 400, `not a plain decimal number`},
		{"GET", "/lines/0-2", 400, `start at 1`},
		{"GET", "/lines/1%2D3", 400, `not a plain decimal number`},
		{"GET", "/lines/1-10001", 400, `^invalid range: more than 10000 lines \(the most one request may ask for\)\n$`},
		{"GET", "/lines/5-10005", 400, `more than 10000 lines`}, // wider than allowed, though past the end
		{"GET", "/lines/5-10004", 413, `line 5 is beyond`},
		{"GET", "/lines/1-9223372036854775808", 400, `line number too large`},
		{"POST", "/lines/1-2", 405, `^method not allowed`},
		{"POST", "/lines/1", 405, `^method not allowed`},
		{"PUT", "/lines/1", 405, ``},
		{"DELETE", "/lines/1", 405, ``},
		{"PATCH", "/lines/1", 405, ``},
		{"OPTIONS", "/lines/1", 405, ``},
		{"POST", "/lines/abc", 405, ``},
		{"POST", "/healthz", 405, ``},
		{"GET", "/lines", 404, `^not found\n$`},
		{"GET", "/line/1", 404, ``},
		{"GET", "/LINES/1", 404, ``},
		{"GET", "/index.html", 404, ``},
		{"GET", "/healthz/", 404, ``},
		{"GET", "//lines/1", 404, ``},
		{"GET", "/healthz", 200, `^ok\n$`},
		{"GET", "/readyz", 200, `^ready: 3 lines\n$`},
		{"GET", "/", 200, `(?s)has 3 lines \(6 bytes\).*GET /lines/N.*GET /healthz.*GET /readyz.*GET /metrics`},
		{"GET", "/metrics", 200, `lined_http_requests_total`},
	}
	for _, tt := range tests {
		r := ts.do(tt.method, tt.path)
		if r.code != tt.code || !regexp.MustCompile(tt.body).MatchString(r.body) {
			t.Errorf("%s %s: %d %q, want %d matching %q", tt.method, tt.path, r.code, r.body, tt.code, tt.body)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no nosniff", tt.method, tt.path)
		}
		if r.code != 200 && r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, r.header.Get("Content-Type"))
		}
		if tt.code == 405 && r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q, want \"GET, HEAD\"", tt.method, tt.path, r.header.Get("Allow"))
		}
		if r.code >= 400 {
			ts.checkNoLeak(tt.method+" "+tt.path, r)
		}
	}
}

// If-None-Match matching the ETag (alone, in a list, weakly, or "*")
// answers 304 without a body; another tag answers 200.
func TestIfNoneMatch(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []byte("a\nb\n"))
	ts.waitReady()
	etag := ts.get("/lines/2").header.Get("ETag")
	other := ts.get("/lines/1").header.Get("ETag")
	for _, inm := range []string{etag, `"x", ` + etag, `"x",` + etag + `,"y"`, "W/" + etag, "*", " " + etag + " "} {
		for _, method := range []string{"GET", "HEAD"} {
			r := ts.do(method, "/lines/2", "If-None-Match", inm)
			// RFC 9110 15.4.5: the ETag and Cache-Control a 200 would
			// have, and no representation metadata.
			if r.code != 304 || r.body != "" || r.header.Get("ETag") != etag || r.header.Get("Cache-Control") == "" ||
				r.header.Get("Date") == "" || r.header.Get("Content-Type") != "" || r.header.Get("Content-Length") != "" {
				t.Errorf("%s If-None-Match %s: %d %q %v, want 304 with ETag, Cache-Control and Date, without Content-Type and Content-Length", method, inm, r.code, r.body, r.header)
			}
		}
	}
	for _, inm := range []string{other, `"nope"`, "W/" + other, ""} {
		if r := ts.get("/lines/2", "If-None-Match", inm); r.code != 200 || r.body != "b\n" {
			t.Errorf("If-None-Match %s: %d, want 200", inm, r.code)
		}
	}
	// Beyond the end stays 413 whatever the condition.
	if r := ts.get("/lines/3", "If-None-Match", "*"); r.code != 413 {
		t.Errorf("If-None-Match * beyond the end: %d, want 413", r.code)
	}
}

// A request header far over MaxHeaderBytes, or a request line as long, is
// refused by net/http with 431 before the handler runs.
func TestHugeHeaderGets431(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []byte("a\n"))
	ts.waitReady()
	big := strings.Repeat("x", 100_000)
	for _, req := range []string{
		"GET /lines/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n",
		"GET /lines/1?" + big + " HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /lines/1 HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("a=b; ", 300_000) + "\r\n\r\n",
	} {
		got := ts.raw(req, 5*time.Second)
		if !strings.HasPrefix(got, "HTTP/1.1 431 ") {
			t.Errorf("%d-byte request: got %.60q, want 431", len(req), got)
		}
	}
	// A header just under the limit is fine.
	if r := ts.get("/lines/1", "X-Small", strings.Repeat("x", 4000)); r.code != 200 {
		t.Errorf("4 KB header: %d, want 200", r.code)
	}
}

// Metrics count requests by code, bytes, the file's lines and the build.
func TestMetrics(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []byte("a\nbb\n"))
	ts.waitReady()
	ts.get("/lines/2")
	ts.get("/lines/2")
	ts.get("/lines/9")
	ts.get("/nope")
	body := ts.get("/metrics").body
	for _, want := range []string{
		`lined_http_requests_total{code="200"} `, // readiness polls count too
		"lined_http_requests_total{code=\"413\"} 1\n",
		"lined_http_requests_total{code=\"404\"} 1\n",
		"lined_file_lines{file=\"data.txt\"} 2\n",
		"lined_file_bytes{file=\"data.txt\"} 5\n",
		"lined_index_builds_total{file=\"data.txt\"} 1\n",
		"lined_ready{file=\"data.txt\"} 1\n",
		`lined_http_request_duration_seconds_bucket{le="0.001"} `,
		"lined_http_request_duration_seconds_count ",
		"lined_http_response_body_bytes_total ",
		"lined_index_build_seconds{file=\"data.txt\"} ",
		"lined_http_open_connections ",
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`lined_index_build_seconds\{file="data.txt"\} (\S+)`).FindStringSubmatch(body); m == nil || m[1] == "0" {
		t.Errorf("index build seconds not set: %v", m)
	}

	// HEAD sends no body, and counts none.
	bodyBytes := regexp.MustCompile(`(?m)^lined_http_response_body_bytes_total (\S+)$`)
	first := ts.get("/metrics", "Accept-Encoding", "identity").body
	before, _ := strconv.Atoi(bodyBytes.FindStringSubmatch(first)[1])
	for range 3 {
		ts.do("HEAD", "/metrics", "Accept-Encoding", "identity")
	}
	after, _ := strconv.Atoi(bodyBytes.FindStringSubmatch(ts.get("/metrics", "Accept-Encoding", "identity").body)[1])
	if after != before+len(first) {
		t.Errorf("body bytes went from %d to %d over a GET of %d bytes and 3 HEADs: HEAD counted", before, after, len(first))
	}
}

// With a valid index the server is ready at once and builds nothing; the
// start line names the file, lines, index and address.
func TestValidIndexIsUsed(t *testing.T) {
	t.Parallel()
	file := writeIndexed(t, []byte("a\nb\n"))
	ts := startServerOn(t, file)
	ts.waitReady()
	logs := ts.logs.String()
	if strings.Contains(logs, "msg=indexing") {
		t.Errorf("indexed although the index was valid:\n%s", logs)
	}
	want := fmt.Sprintf(`msg=serving file=%s lines=2 bytes=4 index=%s.idx addr=%s`, file, file, ts.addr)
	if !strings.Contains(logs, want) {
		t.Errorf("no start line %q in\n%s", want, logs)
	}
}

func writeIndexed(t *testing.T, content []byte) string {
	t.Helper()
	file := tempFile(t, content)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := lineindex.Load(t.Context(), f, lineindex.LoadOptions{
		Paths: []string{file + ".idx"},
		Build: lineindex.BuildOptions{Settle: noSettle},
	})
	if err != nil || l.SaveErr != nil {
		t.Fatal(err, l.SaveErr)
	}
	l.Index.Close()
	return file
}

// A stale index is rebuilt, and the log says why; the index of a file
// that only grew is extended.
func TestStaleIndexRebuilt(t *testing.T) {
	t.Parallel()
	file := writeIndexed(t, []byte("a\nb\n"))
	if err := os.WriteFile(file, []byte("A\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ts := startServerOn(t, file)
	ts.waitReady()
	if r := ts.get("/lines/3"); r.body != "c\n" {
		t.Errorf("line 3: %d %q", r.code, r.body)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, `msg=indexing file=`+file+` reason="`+file+`.idx: index is stale: file is 6 bytes, index is for 4; the file did not only grow: its old bytes changed (fingerprint)"`) {
		t.Errorf("the log does not say why the index was rebuilt:\n%s", logs)
	}

	file = writeIndexed(t, []byte("a\nb\n"))
	if err := os.WriteFile(file, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ts = startServerOn(t, file)
	ts.waitReady()
	if r := ts.get("/lines/3"); r.body != "c\n" {
		t.Errorf("line 3: %d %q", r.code, r.body)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, `msg="the file grew: index extended" file=`+file+` from=2 lines=3`) || strings.Contains(logs, "msg=indexing") {
		t.Errorf("the index of a grown file was not extended:\n%s", logs)
	}
}

// An index that cannot be saved is served from memory, with a warning.
func TestIndexNotSaved(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []byte("a\nb\n"), func(s *Server) {
		s.files[0].indexPaths = []string{"/nonexistent-dir/sub/data.idx"}
	})
	ts.waitReady()
	if r := ts.get("/lines/2"); r.code != 200 || r.body != "b\n" {
		t.Errorf("line 2: %d %q", r.code, r.body)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "level=WARN msg=\"index not saved, serving it from memory") ||
		!strings.Contains(logs, "index=\"(memory only)\"") {
		t.Errorf("no warning about the unsaved index:\n%s", logs)
	}
}

// Until the index is built, /lines/N answers 503 with Retry-After and
// /readyz 503 with the progress; / and /healthz answer.
func TestNotReadyWhileIndexing(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{})
	ts := startServer(t, []byte("a\nb\n"), func(s *Server) {
		s.files[0].beforeBuild = func() { close(started); <-release }
	})
	<-started
	r := ts.get("/lines/1")
	if r.code != 503 || r.header.Get("Retry-After") == "" || r.body != bodyIndexing {
		t.Errorf("/lines/1 while indexing: %d %q %v, want 503 with Retry-After", r.code, r.body, r.header)
	}
	ts.checkNoLeak("/lines/1 while indexing", r)
	if r := ts.get("/readyz"); r.code != 503 || !regexp.MustCompile(`^indexing: \d+% \([0-9.]+ of [0-9.]+ MiB\)\n$`).MatchString(r.body) {
		t.Errorf("/readyz while indexing: %d %q, want 503 with progress", r.code, r.body)
	}
	if r := ts.get("/healthz"); r.code != 200 {
		t.Errorf("/healthz while indexing: %d", r.code)
	}
	if r := ts.get("/"); r.code != 200 || !strings.Contains(r.body, "being indexed") {
		t.Errorf("/ while indexing: %d %q", r.code, r.body)
	}
	if r := ts.get("/metrics"); !strings.Contains(r.body, "lined_ready{file=\"data.txt\"} 0\n") {
		t.Error("lined_ready is not 0 while indexing")
	}
	close(release)
	ts.waitReady()
	if r := ts.get("/lines/1"); r.code != 200 || r.body != "a\n" {
		t.Errorf("after indexing: %d %q", r.code, r.body)
	}
}

// Progress reports how much of the file has been indexed.
func TestProgressText(t *testing.T) {
	t.Parallel()
	srv, err := New(Config{}, []File{{Path: "data.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	s := srv.files[0]
	s.progress.done.Store(450 << 20)
	s.progress.total.Store(1 << 30)
	if got, want := s.progressText(), "indexing: 43% (450.0 of 1024.0 MiB)"; got != want {
		t.Errorf("progressText = %q, want %q", got, want)
	}
}

// A read error answers 500 with a fixed body (the error goes to the log),
// and the server recovers by opening the file again.
func TestReadErrorIs500WithoutDetails(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []byte("a\nb\n"))
	ts.waitReady()
	ts.s.files[0].cur.Load().f.Close() // every read now fails
	r := ts.get("/lines/1")
	if r.code != 500 || r.body != bodyReadError {
		t.Errorf("read error: %d %q, want 500 %q", r.code, r.body, bodyReadError)
	}
	ts.checkNoLeak("read error", r)
	if logs := ts.logs.String(); !strings.Contains(logs, "file already closed") {
		t.Errorf("the read error is not logged:\n%s", logs)
	}
	waitFor(t, 5*time.Second, "recovery after a read error", func() bool { return ts.get("/lines/2").body == "b\n" })
}

// The access log has method, path, status, bytes and duration.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []byte("a\nbb\n"), func(s *Server) { s.cfg.AccessLog = true })
	ts.waitReady()
	ts.get("/lines/2?x=1")
	want := regexp.MustCompile(`msg=request method=GET path="/lines/2\?x=1" status=200 bytes=3 duration=\S+ remote=127\.0\.0\.1:\d+`)
	if !want.MatchString(ts.logs.String()) {
		t.Errorf("no access log line matching %v:\n%s", want, ts.logs.String())
	}
}

// Random look-ups over a file of random lines agree with the reference.
func TestRandomLines(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewSource(1))
	var b []byte
	for range 20000 {
		for range r.Intn(200) {
			b = append(b, byte(r.Intn(256)))
		}
		b = append(b, '\n')
	}
	want := splitLines(b)
	ts := startServer(t, b)
	ts.waitReady()
	for range 500 {
		n := 1 + r.Intn(len(want))
		if got := ts.get("/lines/" + strconv.Itoa(n)); got.code != 200 || got.body != want[n-1] {
			t.Fatalf("line %d: %d %q, want %q", n, got.code, got.body, want[n-1])
		}
	}
}

// Every response carries exactly one Date, within a second of the clock:
// the server sets it from its once-a-second cache, and net/http must not
// add its own.
func TestDateHeader(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []byte("a\n"))
	ts.waitReady()
	for _, path := range []string{"/lines/1", "/lines/2", "/lines/x", "/readyz", "/nowhere"} {
		before := time.Now().Truncate(time.Second)
		raw := ts.raw("GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5*time.Second)
		after := time.Now()
		if n := strings.Count(raw, "\r\nDate: "); n != 1 {
			t.Fatalf("%s: %d Date headers in\n%s", path, n, raw)
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		date, err := http.ParseTime(resp.Header.Get("Date"))
		if err != nil || date.Before(before) || date.After(after) {
			t.Errorf("%s: Date %q (%v), want between %v and %v", path, resp.Header.Get("Date"), err, before, after)
		}
	}
}

func TestDateCache(t *testing.T) {
	t.Parallel()
	var d dateCache
	t0 := time.Date(2026, 11, 26, 13, 55, 28, 100, time.FixedZone("CET", 3600))
	first := d.at(t0)
	if want := "Thu, 26 Nov 2026 12:55:28 GMT"; first[0] != want {
		t.Fatalf("at(%v) = %q, want %q", t0, first[0], want)
	}
	if again := d.at(t0.Add(800 * time.Millisecond)); &again[0] != &first[0] {
		t.Error("a second formatting within the same second")
	}
	if next := d.at(t0.Add(time.Second)); next[0] != "Thu, 26 Nov 2026 12:55:29 GMT" {
		t.Errorf("next second: %q", next[0])
	}
}
