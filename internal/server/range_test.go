package server

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lined/lined/internal/testkit"
)

// TestRanges: GET /lines/N-M answers lines N..min(M, last) in one body,
// byte for byte the file's, with X-Lines naming the lines sent, an ETag of
// its own, 304 and HEAD as for one line; the ranges that tile the file
// reproduce it; a range over a line longer than the buffers streams.
func TestRanges(t *testing.T) {
	t.Parallel()
	long := bytes.Repeat([]byte("0123456789abcdef"), 200_000) // 3.2 MB, streamed
	var data []byte
	for i := range 3000 {
		data = append(data, strings.Repeat("x", i%97)+"\r\n"...)
		if i == 1500 {
			data = append(append(data, long...), '\n')
		}
	}
	data = append(data, "no final newline"...)
	ts := startServer(t, data, func(s *Server) { s.cfg.MaxRange = 700 })
	ts.waitReady()
	ref := testkit.Lines(data)
	lines := len(ref)
	want := func(first, last int) string { return string(bytes.Join(ref[first-1:min(last, lines)], nil)) }

	// The file, tiled by ranges of the widest width allowed.
	var all strings.Builder
	for first := 1; first <= lines; first += 700 {
		last := first + 699
		r := ts.get("/lines/" + strconv.Itoa(first) + "-" + strconv.Itoa(last))
		sent := strconv.Itoa(first) + "-" + strconv.Itoa(min(last, lines))
		if r.code != 200 || r.body != want(first, last) || r.header.Get("X-Lines") != sent ||
			r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
			t.Fatalf("lines %d-%d: %d, X-Lines %q, %d bytes; want 200, %q, %d bytes", first, last, r.code, r.header.Get("X-Lines"), len(r.body), sent, len(want(first, last)))
		}
		all.WriteString(r.body)
	}
	if all.String() != string(data) {
		t.Fatal("the ranges that tile the file differ from it")
	}

	// Ranges at random, and the ones at the edges.
	rng := rand.New(rand.NewPCG(3, 3))
	ranges := [][2]int{{1, 1}, {lines, lines}, {lines, lines + 699}, {1500, 1503}, {lines - 5, lines + 5}}
	for range 30 {
		first := 1 + rng.IntN(lines)
		ranges = append(ranges, [2]int{first, first + rng.IntN(700)})
	}
	for _, fl := range ranges {
		path := "/lines/" + strconv.Itoa(fl[0]) + "-" + strconv.Itoa(fl[1])
		if r := ts.get(path); r.code != 200 || r.body != want(fl[0], fl[1]) {
			t.Fatalf("%s: %d, %d bytes; want 200, %d bytes", path, r.code, len(r.body), len(want(fl[0], fl[1])))
		}
	}

	// The ETag names the range; 304 and HEAD as for one line.
	r := ts.get("/lines/10-20")
	etag := r.header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{16}-10-20"$`).MatchString(etag) || etag == ts.get("/lines/10").header.Get("ETag") {
		t.Errorf("ETag of lines 10-20: %q, want a strong tag naming the range", etag)
	}
	if r := ts.get("/lines/10-20", "If-None-Match", etag); r.code != 304 || r.body != "" || r.header.Get("ETag") != etag {
		t.Errorf("If-None-Match of a range: %d %q, want 304", r.code, r.body)
	}
	if r := ts.get("/lines/10-21", "If-None-Match", etag); r.code != 200 {
		t.Errorf("If-None-Match of another range: %d, want 200", r.code)
	}
	h := ts.do(http.MethodHead, "/lines/10-20")
	if h.code != 200 || h.body != "" || h.header.Get("Content-Length") != strconv.Itoa(len(want(10, 20))) ||
		h.header.Get("ETag") != etag || h.header.Get("X-Lines") != "10-20" {
		t.Errorf("HEAD of a range: %d %q %v, want GET's headers and no body", h.code, h.body, h.header)
	}
	// One past the end clips to the last line: the ETag names what is sent.
	if r := ts.get("/lines/" + strconv.Itoa(lines) + "-" + strconv.Itoa(lines+9)); !strings.HasSuffix(r.header.Get("ETag"), "-"+strconv.Itoa(lines)+`"`) {
		t.Errorf("ETag of a range past the end: %q, want the last line's", r.header.Get("ETag"))
	}
	// The width is the range asked for, past the end or not.
	if r := ts.get("/lines/1-701"); r.code != 400 || r.body != "invalid range: more than 700 lines (the most one request may ask for)\n" {
		t.Errorf("a range of 701 lines with at most 700: %d %q", r.code, r.body)
	}
}

// TestRangeMetrics: lines sent count a range's lines; range requests count.
func TestRangeMetrics(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []byte("a\nb\nc\nd\n"))
	ts.waitReady()
	ts.get("/lines/1-3")
	ts.get("/lines/2-9")
	ts.get("/lines/4")
	ts.do(http.MethodHead, "/lines/1-4")
	ts.get("/lines/5-6")
	body := ts.get("/metrics").body
	for _, want := range []string{"lined_lines_served_total{file=\"data.txt\"} 7\n", "lined_range_requests_total{file=\"data.txt\"} 2\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
