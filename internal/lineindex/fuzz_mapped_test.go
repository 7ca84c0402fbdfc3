//go:build unix

package lineindex

import (
	"bytes"
	"os"
	"testing"
)

// FuzzReadFile reads arbitrary bytes, and the same bytes made to pass the
// header checks, as an index file: mapped, ReadFile must accept and refuse
// what Decode does, and an index it accepts must encode the same and give
// consistent lines or errors, as in FuzzDecode.
func FuzzReadFile(f *testing.F) {
	for _, data := range []string{"", "\n", "a\nb", "a\r\nb\r\n", "\x00\xff\n"} {
		ix := buildBytes(f, []byte(data), BuildOptions{Settle: noSettle, Spacing: 512})
		f.Add(encode(f, ix))
	}
	f.Add(encode(f, buildBytes(f, numberedLines(400, 1), BuildOptions{Settle: noSettle, Spacing: 512}))) // several chunks
	f.Add([]byte("LINEDIX\x00"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(data []byte) {
			file, err := os.CreateTemp(dir, "*.idx")
			if err != nil {
				t.Fatal(err)
			}
			defer os.Remove(file.Name())
			_, err = file.Write(data)
			if cerr := file.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			want, werr := decode(bytes.NewReader(data))
			got, err := readFile(file.Name())
			if (err == nil) != (werr == nil) || (err != nil && !isCorrupt(err)) {
				t.Fatalf("ReadFile: %v; Decode: %v", err, werr)
			}
			if err != nil {
				return
			}
			defer got.Close()
			if len(data) > headerLen && got.m == nil {
				t.Fatal("ReadFile did not map the index")
			}
			if !bytes.Equal(encode(t, got), encode(t, want)) {
				t.Fatal("ReadFile and Decode give different indexes")
			}
			exerciseIndex(t, got, data)
		}
		check(data)
		if len(data) >= headerLen {
			check(fixHeader(data))
		}
	})
}
