package server

import (
	"log/slog"
	"math/rand"
	"net/http"
	"os"
	"strconv"
	"testing"
)

// discardWriter is the least a ResponseWriter can be, so that a benchmark
// measures the handler, not a recorder.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header  { return w.h }
func (w *discardWriter) WriteHeader(code int) { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

// loadedServer is a Server with content loaded, not listening.
func loadedServer(tb testing.TB, content []byte) *Server {
	tb.Helper()
	file := tempFile(tb, content)
	f, err := os.Open(file)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Config{
		CacheControl: "public, max-age=60", Logger: slog.New(slog.DiscardHandler),
		Settle: noSettle,
	}, []File{{Path: file, IndexPaths: []string{file + ".idx"}}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.files[0].load(tb.Context(), f, nil, true); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.files[0].cur.Load().release() })
	return s
}

// randomLines returns about size bytes of lines of 1..200 random
// printable bytes, newline included.
func randomLines(r *rand.Rand, size int) ([]byte, int) {
	b := make([]byte, 0, size+256)
	lines := 0
	for len(b) < size {
		for range r.Intn(200) {
			b = append(b, byte(' '+r.Intn(95)))
		}
		b = append(b, '\n')
		lines++
	}
	return b, lines
}

// BenchmarkServeLine is GET /lines/N for uniform random N over 16 MiB of
// lines of 1..200 bytes, through ServeHTTP with the per-request work of
// net/http left out. Run with -benchmem: the handler allocates only the
// ETag (its string and its header slice).
func BenchmarkServeLine(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	content, lines := randomLines(r, 16<<20)
	s := loadedServer(b, content)
	reqs := make([]*http.Request, 1024)
	for i := range reqs {
		reqs[i], _ = http.NewRequest("GET", "/lines/"+strconv.Itoa(1+r.Intn(lines)), nil)
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		clear(w.h)
		s.ServeHTTP(w, reqs[i%len(reqs)])
		if w.code != 0 && w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
		i++
	}
}

// The handler's allocations per line request are bounded (run without
// -race, which allocates on its own).
func TestServeLineAllocs(t *testing.T) {
	if raceEnabled || testing.CoverMode() != "" {
		t.Skip("instrumented build")
	}
	s := loadedServer(t, []byte("alpha\nbeta\ngamma\n"))
	req, _ := http.NewRequest("GET", "/lines/2", nil)
	w := &discardWriter{h: http.Header{}}
	allocs := testing.AllocsPerRun(1000, func() {
		clear(w.h)
		w.n = 0
		s.ServeHTTP(w, req)
	})
	if w.n != len("beta\n") {
		t.Fatalf("wrote %d bytes", w.n)
	}
	if allocs > 3 {
		t.Errorf("%.1f allocations per request, want at most 3", allocs)
	}
}
