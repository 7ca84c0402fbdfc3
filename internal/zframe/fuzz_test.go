package zframe

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
)

const (
	fuzzWindow = 1 << 20
	fuzzMaxOut = 16 << 20
)

var errTooMuch = errors.New("too much output")

// FuzzZScan: Scan never panics, and agrees with klauspost's one-shot
// decoder (with the same window limit) on what is a valid file and what it
// holds, except where Scan is documented to differ: an empty file is an
// error to Scan, nothing to klauspost.
func FuzzZScan(f *testing.F) {
	text := textLines(1, 300)
	f.Add([]byte{})
	f.Add(encode(nil, zstd.WithZeroFrames(true)))
	f.Add(encode(text))
	f.Add(encode(text, zstd.WithEncoderCRC(false)))
	f.Add(encodeStream(text))
	f.Add(chunked(text, 3000))
	f.Add(encode(randomBytes(1, 3000)))
	f.Add(encode(bytes.Repeat([]byte{'a'}, 5000)))
	f.Add(bytes.Join([][]byte{skippable(1, []byte("abc")), encode(text[:500]), skippable(15, nil)}, nil))
	f.Add(seekable(text, 4096))
	f.Add(append(frameHdr(0, true, false, 0, 3), append(blockHdr(true, 0, 3), "abc"...)...))
	f.Add(bomb(1<<20, 3<<3))
	f.Fuzz(func(t *testing.T, z []byte) {
		var out []byte
		n, err := Scan(bytes.NewReader(z), fuzzWindow, 0, func(p []byte) error {
			if len(out)+len(p) > fuzzMaxOut {
				return errTooMuch
			}
			out = append(out, p...)
			return nil
		}, nil)
		if err == errTooMuch {
			return
		}
		d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(fuzzWindow), zstd.WithDecoderMaxMemory(fuzzMaxOut))
		defer d.Close()
		want, kerr := d.DecodeAll(z, nil)
		if errors.Is(kerr, zstd.ErrDecoderSizeExceeded) {
			return
		}
		if err == nil {
			if n != int64(len(out)) {
				t.Fatalf("Scan returned %d, gave %d bytes", n, len(out))
			}
			if kerr != nil {
				t.Fatalf("Scan accepts %d bytes, klauspost: %v", n, kerr)
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("Scan and klauspost differ")
			}
			return
		}
		if kerr == nil && len(z) > 0 {
			t.Fatalf("klauspost accepts (%d bytes), Scan: %v", len(want), err)
		}
	})
}

// FuzzZReader encodes data in frames of the given sizes, with or without
// checksums and content sizes, and checks a Reader from every frame.
func FuzzZReader(f *testing.F) {
	f.Add([]byte("hello, hello, hello world\n"), uint16(7), uint8(0))
	f.Add(textLines(2, 100), uint16(1000), uint8(1))
	f.Add(textLines(3, 100), uint16(0), uint8(2))
	f.Add(bytes.Repeat([]byte{0}, 3000), uint16(1500), uint8(3))
	f.Add(randomBytes(4, 2000), uint16(300), uint8(6))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16, flags uint8) {
		if len(data) > 16<<10 {
			data = data[:16<<10]
		}
		fuzzReader(t, data, int(chunk), flags)
	})
}

func fuzzReader(t *testing.T, data []byte, chunk int, flags uint8) {
	if chunk == 0 {
		chunk = len(data) + 1
	}
	// At most 64 frames: each is read to the end of the file.
	chunk = max(chunk, len(data)/64)
	// A small window: the data is small, and a large one costs the
	// encoder time to clear.
	opts := []zstd.EOption{zstd.WithEncoderCRC(flags&1 != 0), zstd.WithZeroFrames(true), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1 << 15)}
	if flags&4 != 0 {
		opts = append(opts, zstd.WithEncoderLevel(zstd.SpeedFastest))
	}
	e, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var z []byte
	for i := 0; ; i++ {
		c := data[:min(chunk, len(data))]
		data = data[len(c):]
		if flags&2 != 0 {
			// The streaming encoder writes no content size.
			var buf bytes.Buffer
			e.Reset(&buf)
			e.Write(c)
			e.Close()
			z = append(z, buf.Bytes()...)
		} else {
			z = e.EncodeAll(c, z)
		}
		if i%3 == 1 && flags&8 != 0 {
			z = append(z, skippable(byte(i), c[:min(len(c), 10)])...)
		}
		if len(data) == 0 {
			break
		}
	}
	want, err := kpDecode(z)
	if err != nil {
		t.Fatalf("klauspost: %v", err)
	}
	s := scanBytes(z, testWindow)
	if s.err != nil || !bytes.Equal(s.out, want) {
		t.Fatalf("Scan: %v; %d bytes, want %d", s.err, len(s.out), len(want))
	}
	var r *Reader
	for _, f := range s.frames {
		if r == nil {
			r = NewReader(bytes.NewReader(z), int64(len(z)), f, testWindow)
			defer r.Close()
		} else {
			r.Reset(bytes.NewReader(z), int64(len(z)), f)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want[f.Out:]) {
			t.Fatalf("Reader from %+v: %v; %d bytes, want %d", f, err, len(got), len(want)-int(f.Out))
		}
	}
}
