package server

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// fuzzMethods are the methods FuzzLinesPath sends, chosen by a byte.
var fuzzMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "get", "CONNECT"}

// FuzzLinesPath sends any request target with any of fuzzMethods through
// net/http's request parser to the handler of a server holding a 3-line
// file, and compares the status with refStatus, a reference written from
// the documented behaviour (see ServeHTTP) that shares no code with the
// server. Targets net/http refuses to parse are answered 400 by net/http
// itself and skipped. No status may be 5xx, and error bodies must be the
// fixed texts. Seeds: testdata/fuzz/FuzzLinesPath and the f.Add calls.
//
//	go test -run XXX -fuzz FuzzLinesPath -fuzztime 60s -fuzzminimizetime 5s ./internal/server/
func FuzzLinesPath(f *testing.F) {
	for _, target := range []string{
		"/lines/1", "/lines/3", "/lines/4", "/lines/0", "/lines/007", "/lines/", "/lines",
		"/lines/%31", "/lines//1", "/lines/1/", "/lines/1?x=y", "/lines/../lines/1", "/lines/1#x",
		"/lines/-1", "/lines/+1", "/lines/1.5", "/lines/9223372036854775807", "/lines/9223372036854775808",
		"/", "/healthz", "/readyz", "/metrics", "/metrics/", "//lines/1", "/LINES/1", "*",
		"http://lined/lines/2", "http://lined/lines/x", "http://lined", "https://a:1/lines/3?q",
		"ftp://x/lines/2", "http:///lines/2", "HTTP://x/lines/2", "hTTp://x/lines/9", "http://", "x://y",
		"/%6Cines/1", "/lines/1\xff", "/%6Cines/1\xff", "/lines%2F1",
		"/lines/1-3", "/lines/2-2", "/lines/3-9", "/lines/4-5", "/lines/3-2", "/lines/1-", "/lines/-3",
		"/lines/1--3", "/lines/1-2-3", "/lines/0-2", "/lines/1-10000", "/lines/1-10001", "/lines/1-9223372036854775807",
		"/lines/1%2D3", "/lines/1-3?x", "/lines/ 1-3", "/lines/1-+3",
		"/files/", "/files", "/files/data.txt/lines/2", "/files/data%2Etxt/lines/1-3", "/files/data.txt/lines/4",
		"/files/data.txt", "/files/data.txt/", "/files/other/lines/1", "/files/data.txt/lines/x", "/files//lines/1",
	} {
		f.Add(uint8(0), target)
	}
	f.Add(uint8(1), "/lines/2")
	f.Add(uint8(2), "/lines/2")
	f.Add(uint8(8), "/lines/2")
	s := loadedServer(f, []byte("a\nb\nc\n"))
	f.Fuzz(func(t *testing.T, m uint8, target string) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		if strings.ContainsAny(target, " \r\n") {
			return // cannot be one request target
		}
		raw := method + " " + target + " HTTP/1.1\r\nHost: lined\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http answers 400 before the handler
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		want := refStatus(method, target, 3)
		if w.Code != want {
			t.Fatalf("%s %q: %d %q, want %d", method, target, w.Code, w.Body.String(), want)
		}
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d", method, target, w.Code)
		}
		if body := w.Body.String(); w.Code >= 400 && method != "HEAD" && !fixedBody(w.Code, body) {
			t.Fatalf("%s %q: %d with body %q", method, target, w.Code, body)
		}
	})
}

// refStatus is what the documentation says lined answers to method and
// the request target as sent, for a file of m lines: an absolute target
// whose scheme is not http (in any case) or whose host is empty is 400;
// the path is the target up to '?' (after "http://authority" in absolute form), matched
// before any percent-decoding; "/lines/" followed by one or more ASCII
// digits of value 1..2^63-1 is a line (200, or 413 beyond m), and two such
// numbers N-M with N ≤ M, at most DefaultMaxRange lines, are a range (200,
// or 413 if N is beyond m); anything else after "/lines/" is 400; "/", "/healthz", "/readyz" and "/metrics"
// exist; /files/ lists the files, and /files/data.txt/lines/ (the name
// percent-decoded) is /lines/ of the one file, data.txt; everything else
// is 404; only GET and HEAD are allowed (405).
func refStatus(method, target string, m int64) int {
	path, _, _ := strings.Cut(target, "?")
	if !strings.HasPrefix(path, "/") {
		if scheme, rest, ok := strings.Cut(path, "://"); ok {
			i := strings.IndexByte(rest, '/')
			if strings.ToLower(scheme) != "http" || i == 0 || rest == "" {
				return 400
			}
			path = ""
			if i > 0 {
				path = rest[i:]
			}
		}
	}
	get := method == "GET" || method == "HEAD"
	if rest, ok := strings.CutPrefix(path, "/files/"); ok {
		// The one file is data.txt: /files/data.txt/lines/ is /lines/.
		name, arg, _ := strings.Cut(rest, "/")
		switch name, err := url.PathUnescape(name); {
		case rest == "" && !get:
			return 405
		case rest == "":
			return 200
		case err != nil || name != "data.txt" || !strings.HasPrefix(arg, "lines/"):
			return 404
		}
		path = "/" + arg
	}
	switch {
	case strings.HasPrefix(path, "/lines/"):
		if !get {
			return 405
		}
		number := func(s string) int64 { // 0 if not a line number
			if s == "" || strings.Trim(s, "0123456789") != "" {
				return 0
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0
			}
			return n
		}
		a, b, isRange := strings.Cut(path[len("/lines/"):], "-")
		first, last := number(a), number(a)
		if isRange {
			last = number(b)
		}
		switch {
		case first == 0 || last == 0 || last < first || last-first >= DefaultMaxRange:
			return 400
		case first > m:
			return 413
		}
		return 200
	case path == "/" || path == "/healthz" || path == "/readyz" || path == "/metrics":
		if !get {
			return 405
		}
		return 200
	}
	return 404
}

var (
	fixed400 = regexp.MustCompile(`^(invalid line number: (empty line number|not a plain decimal number|line numbers start at 1|line number too large|not a line number N or a range N-M|a range N-M must not end before it starts)|invalid range: more than \d+ lines \(the most one request may ask for\))\n$`)
	fixed413 = regexp.MustCompile(`^line \d+ is beyond the end of the file \(\d+ lines\)\n$`)
)

// fixedBody tells whether body is one of the fixed texts for code.
func fixedBody(code int, body string) bool {
	switch code {
	case 400:
		return fixed400.MatchString(body) || body == bodyBadTarget
	case 404:
		return body == bodyNotFound
	case 405:
		return body == bodyMethod
	case 413:
		return fixed413.MatchString(body)
	}
	return false
}
