package lineindex

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Benchmarks, on a 64 MiB file of lines of 1..200 random printable bytes
// (the reference data of docs/performance.md, scaled down):
//
//	go test -bench . -benchmem -run XXX ./internal/lineindex/

const benchSize = 64 << 20

// benchData is the benchmark source, made once.
var benchData = sync.OnceValue(func() []byte { return printableLines(64, benchSize, 200) })

// benchFile writes benchData to a file for the rest of the benchmark.
func benchFile(b *testing.B) *os.File {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.txt")
	if err := os.WriteFile(path, benchData(), 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

func BenchmarkBuild(b *testing.B) {
	data := benchData()
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("Workers=%d", workers), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				buildBytes(b, data, BuildOptions{Settle: noSettle, readers: workers})
			}
		})
	}
}

// findSources are the sources the look-up benchmarks read: memory, and a
// file in the page cache.
func findSources(b *testing.B) []struct {
	name string
	src  io.ReaderAt
} {
	return []struct {
		name string
		src  io.ReaderAt
	}{
		{"bytes.Reader", bytes.NewReader(benchData())},
		{"os.File", benchFile(b)},
	}
}

func BenchmarkFind(b *testing.B) {
	benchmarkFind(b, buildBytes(b, benchData(), BuildOptions{Settle: noSettle}))
}

// BenchmarkFindMapped is BenchmarkFind with the index read from its file,
// as a server uses it: its body mapped, and checked at each look-up.
func BenchmarkFindMapped(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.idx")
	if err := buildBytes(b, benchData(), BuildOptions{Settle: noSettle}).writeFile(path, nil); err != nil {
		b.Fatal(err)
	}
	ix, err := readFile(path)
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	benchmarkFind(b, ix)
}

func benchmarkFind(b *testing.B, ix *Index) {
	for _, s := range findSources(b) {
		for _, size := range []int{4096, 64 << 10} {
			b.Run(fmt.Sprintf("%s/buf=%d", s.name, size), func(b *testing.B) {
				buf := make([]byte, size)
				r := rand.New(rand.NewPCG(1, 2))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := ix.Find(s.src, 1+r.Int64N(ix.Lines()), buf); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkFindWriteTo(b *testing.B) {
	ix := buildBytes(b, benchData(), BuildOptions{Settle: noSettle})
	for _, s := range findSources(b) {
		b.Run(s.name, func(b *testing.B) {
			buf := make([]byte, 4096)
			r := rand.New(rand.NewPCG(1, 2))
			var written int64
			b.ReportAllocs()
			for b.Loop() {
				l, err := ix.Find(s.src, 1+r.Int64N(ix.Lines()), buf)
				if err != nil {
					b.Fatal(err)
				}
				n, err := l.WriteTo(io.Discard, s.src)
				if err != nil {
					b.Fatal(err)
				}
				written += n
			}
			b.ReportMetric(float64(written)/float64(b.N), "B/line")
		})
	}
}

func BenchmarkHugeLineWriteTo(b *testing.B) {
	// One 64 MiB line streamed to io.Discard (P7 asks >= 1 GiB/s).
	src := newSpanSource(span{lit: []byte("a\n")}, span{b: 'h', n: benchSize - 1}, span{lit: []byte("\n")})
	ix, err := buildFrom(b.Context(), src, src.size, testModTime, BuildOptions{Settle: noSettle})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		l, err := ix.Find(src, 2, buf)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.WriteTo(io.Discard, src); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	// Reading and validating the index of the 64 MiB file: what a restart
	// with a valid index costs (P6).
	f := benchFile(b)
	ix, err := build(b.Context(), f, BuildOptions{Settle: noSettle})
	if err != nil {
		b.Fatal(err)
	}
	idx := f.Name() + ".idx"
	if err := ix.writeFile(idx, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := open(f, []string{idx}); err != nil {
			b.Fatal(err)
		}
	}
}
