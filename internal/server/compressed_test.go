package server

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gzipOf is b as one gzip member.
func gzipOf(t *testing.T, b []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// metric returns the value of the metric whose line starts with name (and
// its labels), or fails.
func (ts *testServer) metric(name string) float64 {
	ts.t.Helper()
	for l := range strings.Lines(ts.get("/metrics").body) {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				ts.t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	ts.t.Fatalf("no metric %s", name)
	return 0
}

// A gzip file read line by line backwards, the worst order for a
// decoder, is decompressed less than twice over with the block cache, and
// many times over without; the metrics say so, and every line is exact.
func TestCompressedLinesFromTheCache(t *testing.T) {
	t.Parallel()
	text := version(1, 6000)
	lines := splitLines(text)
	decompressed := func(cache bool) (hits, bytes float64) {
		ts := startServer(t, gzipOf(t, text), func(s *Server) {
			if !cache {
				s.cache = nil
			}
		})
		ts.waitReady()
		for n := len(lines); n >= 1; n -= 7 {
			if r := ts.get(fmt.Sprintf("/lines/%d", n)); r.code != 200 || r.body != lines[n-1] {
				t.Fatalf("line %d: %d %q, want %q", n, r.code, r.body, lines[n-1])
			}
		}
		if r := ts.get(fmt.Sprintf("/lines/1-%d", len(lines))); r.code != 200 || r.body != string(text) {
			t.Fatalf("every line: %d, %d bytes, want %d", r.code, len(r.body), len(text))
		}
		if held, size := ts.metric("lined_block_cache_bytes"), ts.metric("lined_block_cache_size_bytes"); cache && (held == 0 || held > size) || !cache && held+size != 0 {
			t.Errorf("cache %v: it holds %v bytes of %v", cache, held, size)
		}
		return ts.metric(`lined_block_cache_hits_total{file="data.txt"}`), ts.metric(`lined_decompressed_bytes_total{file="data.txt"}`)
	}
	hits, with := decompressed(true)
	_, without := decompressed(false)
	t.Logf("%d bytes of text: decompressed %v with the cache (%v blocks found in it), %v without", len(text), with, hits, without)
	if hits == 0 || with > 3*float64(len(text)) || without < 20*float64(len(text)) {
		t.Errorf("%d bytes of text: decompressed %v with the cache (%v blocks found in it), %v without", len(text), with, hits, without)
	}
}

// A compressed file that cannot be indexed (here cut short) answers 503
// saying so, not that it is being indexed; /readyz and / say the same, the
// log gives the reason, and the file mended is served.
func TestCompressedCannotBeIndexed(t *testing.T) {
	t.Parallel()
	text := version(1, 2000)
	z := gzipOf(t, text)
	ts := startServer(t, z[:len(z)-5])
	waitFor(t, 5*time.Second, "the load to fail", func() bool {
		return strings.Contains(ts.logs.String(), "cannot load the file")
	})
	r := ts.get("/lines/1")
	if r.code != 503 || r.header.Get("Retry-After") == "" || r.body != bodyFailed {
		t.Errorf("/lines/1 of a cut .gz: %d %q %v, want 503 %q with Retry-After", r.code, r.body, r.header, bodyFailed)
	}
	ts.checkNoLeak("/lines/1 of a cut .gz", r)
	if r := ts.get("/readyz"); r.code != 503 || !strings.Contains(r.body, "cannot index the file") {
		t.Errorf("/readyz of a cut .gz: %d %q", r.code, r.body)
	}
	if r := ts.get("/"); !strings.Contains(r.body, "The file cannot be indexed") {
		t.Errorf("/ of a cut .gz: %q", r.body)
	}
	if !strings.Contains(ts.logs.String(), "not a valid gzip file") {
		t.Errorf("the log does not say why: %s", ts.logs.String())
	}
	next := ts.file + ".new"
	if err := os.WriteFile(next, z, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, ts.file); err != nil {
		t.Fatal(err)
	}
	lines := splitLines(text)
	waitFor(t, 10*time.Second, "the mended file served", func() bool { return ts.get("/lines/2000").body == lines[1999] })
	if r := ts.get("/readyz"); r.code != 200 {
		t.Errorf("/readyz after the file was mended: %d %q", r.code, r.body)
	}
}
