package inflate

import (
	"bytes"
	"compress/gzip"
	"io"
	"sync"
	"testing"
)

// Benchmarks of Scan against compress/gzip, on 64 MiB of log-like text
// (compress/gzip level 6, and gzip -6 and pigz -6 when installed), 64 MiB of
// zeros and 64 MiB of random bytes (stored blocks):
//
//	go test -run XXX -bench . -benchtime 5x ./internal/inflate/

const benchSize = 64 << 20

var benchInputs = sync.OnceValue(func() map[string][]byte {
	text := textLines(99, benchSize)
	m := map[string][]byte{
		"text/stdgzip6": gzipLevel(nil, text, 6),
		"zeros":         gzipLevel(nil, make([]byte, benchSize), 6),
		"random":        gzipLevel(nil, randomBytes(98, benchSize), 6),
	}
	return m
})

func benchInput(b *testing.B, name string) []byte {
	switch name {
	case "text/gzip6", "text/pigz6":
		return externalText(b, name[5:9])
	}
	return benchInputs()[name]
}

var externals sync.Map

func externalText(b *testing.B, prog string) []byte {
	if gz, ok := externals.Load(prog); ok {
		return gz.([]byte)
	}
	gz := gzipCmd(b, textLines(99, benchSize), prog, "-6")
	externals.Store(prog, gz)
	return gz
}

var benchNames = []string{"text/stdgzip6", "text/gzip6", "text/pigz6", "zeros", "random"}

func BenchmarkScan(b *testing.B) {
	for _, name := range benchNames {
		b.Run(name, func(b *testing.B) {
			gz := benchInput(b, name)
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for b.Loop() {
				n, err := Scan(bytes.NewReader(gz), 1<<20, func([]byte) error { return nil }, nil, nil)
				if err != nil || n != benchSize {
					b.Fatal(n, err)
				}
			}
		})
	}
}

func BenchmarkStdGzip(b *testing.B) {
	for _, name := range benchNames {
		b.Run(name, func(b *testing.B) {
			gz := benchInput(b, name)
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for b.Loop() {
				zr, err := gzip.NewReader(bytes.NewReader(gz))
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, zr)
				if err != nil || n != benchSize {
					b.Fatal(n, err)
				}
			}
		})
	}
}

// BenchmarkReaderMiB reads 1 MiB from points in the middle of the text
// file, against compress/gzip reading 1 MiB from the start.
func BenchmarkReaderMiB(b *testing.B) {
	gz := benchInput(b, "text/stdgzip6")
	var points []Point
	pending := 0
	var win [][]byte
	_, err := Scan(bytes.NewReader(gz), 4<<20, func([]byte) error { return nil }, func(p Point) error {
		win = append(win, bytes.Clone(p.Window))
		points = append(points, p)
		return nil
	}, func(end int64) error {
		for ; pending < len(points); pending++ {
			points[pending].End = end
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for i := range points {
		points[i].Window = win[i]
	}
	src := bytes.NewReader(gz)
	buf := make([]byte, 1<<20)
	b.Run("inflate.Reader", func(b *testing.B) {
		b.SetBytes(1 << 20)
		b.ReportAllocs()
		r := new(Reader)
		i := 1
		for b.Loop() {
			r.Reset(src, int64(len(gz)), points[i])
			if _, err := io.ReadFull(r, buf); err != nil {
				b.Fatal(err)
			}
			i = i%(len(points)-2) + 1
		}
	})
	b.Run("gzip.Reader", func(b *testing.B) {
		b.SetBytes(1 << 20)
		b.ReportAllocs()
		zr := new(gzip.Reader)
		for b.Loop() {
			src.Seek(0, 0)
			zr.Reset(src)
			if _, err := io.ReadFull(zr, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
