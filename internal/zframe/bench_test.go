package zframe

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// Benchmarks of Scan against klauspost's streaming decoder, on 64 MiB of
// log-like text compressed by zstd -3 (one frame) and pzstd -p 2 -3 (many
// frames) when installed and by klauspost's encoder in frames of 1 MiB,
// and on 64 MiB of zeros and of random bytes (raw blocks):
//
//	go test -run XXX -bench . -benchtime 5x ./internal/zframe/

const benchSize = 64 << 20

var benchText = sync.OnceValue(func() []byte {
	var b []byte
	for seed := uint64(99); len(b) < benchSize; seed++ {
		b = append(b, textLines(seed, 100000)...)
	}
	return b[:benchSize]
})

var benchInputs = sync.Map{}

func benchInput(b *testing.B, name string) []byte {
	if z, ok := benchInputs.Load(name); ok {
		return z.([]byte)
	}
	var z []byte
	switch name {
	case "text/zstd3":
		z = zstdCLI(b, benchText(), "zstd", "-3", "-c")
	case "text/pzstd3":
		z = zstdCLI(b, benchText(), "pzstd", "-p", "2", "-3", "-c")
	case "text/kp1MiB":
		z = chunked(benchText(), 1<<20)
	case "zeros":
		z = encodeStream(make([]byte, benchSize))
	case "random":
		z = encodeStream(randomBytes(98, benchSize))
	}
	benchInputs.Store(name, z)
	return z
}

var benchNames = []string{"text/zstd3", "text/pzstd3", "text/kp1MiB", "zeros", "random"}

func BenchmarkScan(b *testing.B) {
	for _, name := range benchNames {
		b.Run(name, func(b *testing.B) {
			z := benchInput(b, name)
			b.SetBytes(benchSize)
			b.ReportAllocs()
			frames := 0
			for b.Loop() {
				frames = 0
				n, err := Scan(bytes.NewReader(z), testWindow, 0, func([]byte) error { return nil }, func(Frame) error {
					frames++
					return nil
				})
				if err != nil || n != benchSize {
					b.Fatal(n, err)
				}
			}
			b.ReportMetric(float64(frames), "frames")
		})
	}
}

// BenchmarkKlauspost is klauspost's plain streaming decoder, on the
// caller's goroutine (sync) and with its default concurrency (async).
func BenchmarkKlauspost(b *testing.B) {
	for _, conc := range []struct {
		name string
		n    int
	}{{"sync", 1}, {"async", 0}} {
		for _, name := range benchNames {
			b.Run(conc.name+"/"+name, func(b *testing.B) {
				z := benchInput(b, name)
				b.SetBytes(benchSize)
				b.ReportAllocs()
				opts := []zstd.DOption{zstd.WithDecoderMaxWindow(testWindow)}
				if conc.n > 0 {
					opts = append(opts, zstd.WithDecoderConcurrency(conc.n))
				}
				for b.Loop() {
					d, err := zstd.NewReader(bytes.NewReader(z), opts...)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, d)
					d.Close()
					if err != nil || n != benchSize {
						b.Fatal(n, err)
					}
				}
			})
		}
	}
}

// BenchmarkReaderMiB reads 1 MiB from frames in the middle of the file
// (the one frame of a single-frame file).
func BenchmarkReaderMiB(b *testing.B) {
	for _, name := range []string{"text/zstd3", "text/pzstd3", "text/kp1MiB"} {
		b.Run(name, func(b *testing.B) {
			z := benchInput(b, name)
			var frames []Frame
			if _, err := Scan(bytes.NewReader(z), testWindow, 0, nil, func(f Frame) error {
				frames = append(frames, f)
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			src := bytes.NewReader(z)
			buf := make([]byte, 1<<20)
			b.Run("reset", func(b *testing.B) {
				b.SetBytes(1 << 20)
				b.ReportAllocs()
				r := NewReader(src, int64(len(z)), frames[0], testWindow)
				defer r.Close()
				i := 0
				for b.Loop() {
					r.Reset(src, int64(len(z)), frames[len(frames)/4+i%max(len(frames)/2, 1)])
					i++
					if _, err := io.ReadFull(r, buf); err != nil {
						b.Fatal(err)
					}
				}
			})
			// A new Reader each time: the cost of a cold start.
			b.Run("new", func(b *testing.B) {
				b.SetBytes(1 << 20)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					r := NewReader(src, int64(len(z)), frames[len(frames)/4+i%max(len(frames)/2, 1)], testWindow)
					i++
					if _, err := io.ReadFull(r, buf); err != nil {
						b.Fatal(err)
					}
					r.Close()
				}
			})
		})
	}
}
