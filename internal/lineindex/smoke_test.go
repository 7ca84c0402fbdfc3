package lineindex

import (
	"bytes"
	"context"
	"math/rand"
	"testing"
	"time"
)

func naive(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 { out = append(out, b); break }
		out = append(out, b[:i+1]); b = b[i+1:]
	}
	return out
}

func TestSmoke(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for iter := 0; iter < 300; iter++ {
		var b []byte
		n := r.Intn(5000)
		maxLen := []int{0, 1, 3, 50, 700, 3000, 100000}[r.Intn(7)]
		for len(b) < n*10 && n > 0 {
			l := 0
			if maxLen > 0 { l = r.Intn(maxLen) }
			for j := 0; j < l; j++ { b = append(b, byte('a'+r.Intn(3))) }
			b = append(b, '\n')
			if r.Intn(50)==0 { break }
		}
		if r.Intn(2) == 0 && len(b) > 0 { b = b[:len(b)-r.Intn(min(len(b), 5))] }
		for _, w := range []int{1, 3} {
			ix, err := BuildFrom(context.Background(), bytes.NewReader(b), int64(len(b)), time.Unix(1, 0), BuildOptions{Spacing: 512, Workers: w})
			if err != nil { t.Fatal(err) }
			enc, _ := ix.MarshalBinary()
			ix2, err := Decode(bytes.NewReader(enc))
			if err != nil { t.Fatal(err) }
			want := naive(b)
			if ix2.Lines() != int64(len(want)) { t.Fatalf("lines %d want %d", ix2.Lines(), len(want)) }
			buf := make([]byte, 512+r.Intn(3)*512)
			for i, w := range want {
				l, err := ix2.Find(bytes.NewReader(b), int64(i+1), buf)
				if err != nil { t.Fatalf("iter %d line %d: %v", iter, i+1, err) }
				var out bytes.Buffer
				if _, err := l.WriteTo(&out, bytes.NewReader(b)); err != nil { t.Fatal(err) }
				if !bytes.Equal(out.Bytes(), w) { t.Fatalf("iter %d line %d: got %q want %q", iter, i+1, out.Bytes(), w) }
			}
		}
	}
}

func TestSmokeParallel(t *testing.T) {
	defer func(old int64) { taskLen = old }(taskLen)
	taskLen = segmentLen
	r := rand.New(rand.NewSource(2))
	for iter := 0; iter < 20; iter++ {
		b := make([]byte, 3<<20+r.Intn(1<<20))
		for i := range b { b[i] = 'x' }
		nl := []int{1, 10, 1000, 100000}[r.Intn(4)]
		for i := 0; i < nl; i++ { b[r.Intn(len(b))] = '\n' }
		if iter%3 == 0 { b[1<<20-1] = '\n'; b[2<<20] = '\n' }
		var encs [][]byte
		for _, w := range []int{1, 2, 4} {
			ix, err := BuildFrom(context.Background(), bytes.NewReader(b), int64(len(b)), time.Unix(1, 0), BuildOptions{Spacing: 512, Workers: w})
			if err != nil { t.Fatal(err) }
			e, _ := ix.MarshalBinary(); encs = append(encs, e)
			if _, err := Decode(bytes.NewReader(e)); err != nil { t.Fatal(err) }
			want := naive(b)
			buf := make([]byte, 4096)
			for i := 0; i < len(want); i += 1 + r.Intn(20) {
				l, err := ix.Find(bytes.NewReader(b), int64(i+1), buf)
				if err != nil { t.Fatal(err) }
				var out bytes.Buffer
				l.WriteTo(&out, bytes.NewReader(b))
				if !bytes.Equal(out.Bytes(), want[i]) { t.Fatalf("line %d", i+1) }
			}
		}
		if !bytes.Equal(encs[0], encs[1]) || !bytes.Equal(encs[0], encs[2]) { t.Fatalf("iter %d: parallel differs", iter) }
	}
}
