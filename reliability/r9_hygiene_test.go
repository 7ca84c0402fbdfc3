package reliability

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// R9: request hygiene, against the real lined over raw TCP (no client
// library in between to clean anything up). Each request below gets the
// status docs/reliability.md documents (the table is logged with -v); a 1 MiB
// header gets 431, a 100 KB request line 431 (net/http counts the request
// line in MaxHeaderBytes; 414 is never sent); no body, in this table or
// while the file is being indexed or after it is deleted, names a path or
// carries Go error text; every response has X-Content-Type-Options:
// nosniff (those lined writes) and a text/plain Content-Type.
func TestR9RequestHygiene(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "secret-name.txt", []byte("a\nb\nc\n"))
	p := startLined(t, dir, "--file", file)
	p.waitReady(10 * time.Second)

	big := strings.Repeat("x", 1<<20)
	longURL := "/lines/1?" + strings.Repeat("q", 100_000)
	tests := []struct {
		what, request string
		status        int
		body          string // a regexp; "" for any
	}{
		{"line 1", "GET /lines/1 HTTP/1.1\r\nHost: x\r\n\r\n", 200, `^a\n$`},
		{"percent-encoded digit", "GET /lines/%31 HTTP/1.1\r\nHost: x\r\n\r\n", 400, `^invalid line number: not a plain decimal number\n$`},
		{"empty segment", "GET /lines//1 HTTP/1.1\r\nHost: x\r\n\r\n", 400, `^invalid line number: not a plain decimal number\n$`},
		{"trailing slash", "GET /lines/1/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, `^invalid line number: not a plain decimal number\n$`},
		{"query string", "GET /lines/1?x=y HTTP/1.1\r\nHost: x\r\n\r\n", 200, `^a\n$`},
		{"dot segments", "GET /lines/../lines/1 HTTP/1.1\r\nHost: x\r\n\r\n", 400, `^invalid line number: not a plain decimal number\n$`},
		{"dot segments to the root", "GET /lines/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400, `^invalid line number: not a plain decimal number\n$`},
		{"encoded NUL", "GET /lines/1%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400, `^invalid line number: not a plain decimal number\n$`},
		{"fragment", "GET /lines/1#x HTTP/1.1\r\nHost: x\r\n\r\n", 400, `^invalid line number: not a plain decimal number\n$`},
		{"leading zeros", "GET /lines/0003 HTTP/1.1\r\nHost: x\r\n\r\n", 200, `^c\n$`},
		{"beyond the end", "GET /lines/4 HTTP/1.1\r\nHost: x\r\n\r\n", 413, `^line 4 is beyond the end of the file \(3 lines\)\n$`},
		{"overflow", "GET /lines/99999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n", 400, `^invalid line number: line number too large\n$`},
		{"absolute form", "GET http://x/lines/2 HTTP/1.1\r\nHost: x\r\n\r\n", 200, `^b\n$`},
		{"absolute form, another scheme", "GET ftp://x/lines/2 HTTP/1.1\r\nHost: x\r\n\r\n", 400, `^bad request: an absolute request target must be http://HOST/PATH\n$`},
		{"absolute form, no host", "GET http:///lines/2 HTTP/1.1\r\nHost: x\r\n\r\n", 400, `^bad request: an absolute request target must be http://HOST/PATH\n$`},
		{"HTTP/1.0", "GET /lines/2 HTTP/1.0\r\n\r\n", 200, `^b\n$`},
		{"no Host (net/http)", "GET /lines/1 HTTP/1.1\r\n\r\n", 400, `^400 Bad Request: missing required Host header$`},
		{"relative path (net/http)", "GET lines/1 HTTP/1.1\r\nHost: x\r\n\r\n", 400, `^400 Bad Request$`},
		{"HTTP/2.0 request line (net/http)", "GET /lines/1 HTTP/2.0\r\nHost: x\r\n\r\n", 505, `^505 HTTP Version Not Supported: unsupported protocol version$`},
		{"lower-case method", "get /lines/1 HTTP/1.1\r\nHost: x\r\n\r\n", 405, `^method not allowed: use GET or HEAD\n$`},
		{"POST", "POST /lines/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 405, `^method not allowed: use GET or HEAD\n$`},
		{"TRACE", "TRACE /lines/1 HTTP/1.1\r\nHost: x\r\n\r\n", 405, `^method not allowed: use GET or HEAD\n$`},
		{"OPTIONS * (net/http)", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 200, `^$`},
		{"CONNECT", "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 404, `^not found\n$`},
		{"GET with a body", "GET /lines/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 200, `^a\n$`},
		{"unknown transfer coding (net/http)", "GET /lines/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, `^Unsupported transfer encoding$`},
		{"two Content-Lengths (net/http)", "GET /lines/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, `^400 Bad Request$`},
		// RFC 9112 §6.1: chunked wins, Content-Length is dropped.
		{"Content-Length and chunked (net/http)", "GET /lines/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200, `^a\n$`},
		{"1 MiB header", "GET /lines/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", 431, `^431 Request Header Fields Too Large$`},
		{"1 MiB of small headers", "GET /lines/1 HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 0123456789\r\n", 1<<20/17) + "\r\n", 431, `^431 Request Header Fields Too Large$`},
		{"100 KB URL", "GET " + longURL + " HTTP/1.1\r\nHost: x\r\n\r\n", 431, `^431 Request Header Fields Too Large$`},
		{"100 KB line number", "GET /lines/" + strings.Repeat("1", 100_000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 431, `^431 Request Header Fields Too Large$`},
		{"header just under the limit", "GET /lines/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("x", 7000) + "\r\n\r\n", 200, `^a\n$`},
		{"unknown path", "GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 404, `^not found\n$`},
		{"the file's name", "GET /secret-name.txt HTTP/1.1\r\nHost: x\r\n\r\n", 404, `^not found\n$`},
		{"the index's name", "GET /secret-name.txt.idx HTTP/1.1\r\nHost: x\r\n\r\n", 404, `^not found\n$`},
	}
	var table []string
	for _, tc := range tests {
		code, header, body, err := rawRequest(p.addr, tc.request)
		if err != nil {
			t.Errorf("%s: %v", tc.what, err)
			continue
		}
		table = append(table, fmt.Sprintf("| %s | `%.60s` | %d | %q |", tc.what, firstLine(tc.request), code, truncate(body, 60)))
		if code != tc.status || tc.body != "" && !regexp.MustCompile(tc.body).MatchString(body) {
			t.Errorf("%s: %d %q, want %d matching %q", tc.what, code, truncate(body, 200), tc.status, tc.body)
		}
		noLeak(t, tc.what, dir, body)
		if ct := header.Get("Content-Type"); code >= 400 && !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%s: Content-Type %q", tc.what, ct)
		}
		// net/http's own rejections do not pass through lined's handler.
		if !strings.Contains(tc.what, "(net/http)") && code != 431 && header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no X-Content-Type-Options: nosniff", tc.what)
		}
	}
	t.Logf("request hygiene table:\n| case | request line | status | body |\n| --- | --- | --- | --- |\n%s", strings.Join(table, "\n"))

	// Bodies while the file changes and is deleted: only fixed texts.
	os.WriteFile(file, []byte("x\ny\n"), 0o644)
	codes := map[int]int{}
	for range 200 {
		code, body, err := p.get("/lines/5")
		if err == nil {
			codes[code]++
			noLeak(t, "after a change", dir, string(body))
		}
	}
	os.Remove(file)
	for range 50 {
		if _, body, err := p.get("/lines/1"); err == nil {
			noLeak(t, "after deletion", dir, string(body))
		}
	}
	code, took := p.signal(syscall.SIGTERM, 15*time.Second)
	if code != 0 {
		t.Errorf("lined exit %d", code)
	}

	// While indexing: a file large enough to take a moment.
	big2, _ := bigFile(pick(32<<20, 64<<20, 256<<20))
	bigPath := writeFile(t, dir, "secret-big.txt", big2)
	q := startLined(t, dir, "--file", bigPath)
	indexing := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		code, body, err := q.get("/lines/1")
		if err != nil {
			continue
		}
		noLeak(t, "while indexing", dir, string(body))
		if code == 200 {
			break
		}
		if code != 503 || string(body) != "not ready: the file is being indexed, try again shortly\n" {
			t.Errorf("while indexing: %d %q", code, body)
		}
		indexing++
	}
	q.signal(syscall.SIGTERM, 15*time.Second)
	figure(t, "R9", "%d request cases as documented (1 MiB header → 431, 100 KB URL → 431, /lines/%%31 //1 1/ ../ → 400, ?x=y → 200); no body named a path or carried Go error text, there, after the file changed (200 answers, by status: %v) or was deleted, or while indexing (%d answers 503); lined exit %d in %v",
		len(tests), codes, indexing, code, took.Round(time.Millisecond))
}

// rawRequest sends request on a new connection and reads one response.
func rawRequest(addr, request string) (int, http.Header, string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, nil, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(c, request) // the server may answer before it has read all
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil && len(body) == 0 && resp.ContentLength != 0 {
		return 0, nil, "", err
	}
	return resp.StatusCode, resp.Header, string(body), nil
}

// leakMarkers are what no response body may contain: paths, and the marks
// of Go errors and of the file system.
var leakMarkers = []string{"/tmp", "secret", ".idx", ".txt", "open ", "stat ", "read ", "no such", "permission", "errno", "lineindex", "goroutine", "panic", "runtime", ".go:", "file already closed", "syscall"}

func noLeak(t *testing.T, what, dir, body string) {
	t.Helper()
	for _, m := range append(leakMarkers, dir, filepath.Base(dir)) {
		if strings.Contains(body, m) {
			t.Errorf("%s: body %q contains %q", what, truncate(body, 200), m)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
