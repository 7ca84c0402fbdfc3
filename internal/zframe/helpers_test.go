package zframe

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"testing"

	"github.com/klauspost/compress/zstd"
)

const testWindow = 8 << 20

// scanned is what Scan reported for a file.
type scanned struct {
	out    []byte
	frames []Frame
	n      int64
	err    error
}

func scanBytes(z []byte, maxWindow int) scanned {
	var s scanned
	s.n, s.err = Scan(bytes.NewReader(z), maxWindow, 0,
		func(p []byte) error {
			s.out = append(s.out, p...)
			return nil
		},
		func(f Frame) error {
			s.frames = append(s.frames, f)
			return nil
		})
	return s
}

// kpDecode decodes with klauspost's one-shot decoder.
func kpDecode(z []byte) ([]byte, error) {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<31), zstd.WithDecoderMaxWindow(1<<30))
	if err != nil {
		panic(err)
	}
	defer d.Close()
	return d.DecodeAll(z, nil)
}

// encode makes one frame of data with klauspost's encoder.
func encode(data []byte, opts ...zstd.EOption) []byte {
	opts = append([]zstd.EOption{zstd.WithEncoderConcurrency(1)}, opts...)
	e, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		panic(err)
	}
	defer e.Close()
	return e.EncodeAll(data, nil)
}

// encodeStream makes frames without a content size: the streaming encoder
// does not know it.
func encodeStream(data []byte, opts ...zstd.EOption) []byte {
	var buf bytes.Buffer
	opts = append([]zstd.EOption{zstd.WithEncoderConcurrency(1)}, opts...)
	e, err := zstd.NewWriter(&buf, opts...)
	if err != nil {
		panic(err)
	}
	e.Write(data)
	e.Close()
	return buf.Bytes()
}

// chunked encodes data in frames of chunk bytes each.
func chunked(data []byte, chunk int, opts ...zstd.EOption) []byte {
	opts = append([]zstd.EOption{zstd.WithEncoderConcurrency(1)}, opts...)
	e, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		panic(err)
	}
	defer e.Close()
	var z []byte
	for len(data) > 0 {
		n := min(chunk, len(data))
		z = e.EncodeAll(data[:n], z)
		data = data[n:]
	}
	return z
}

func skippable(nibble byte, payload []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, magicSkip|uint32(nibble&15))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// frameHdr writes a frame header by hand: window descriptor wd unless
// single, content size fcs if fcsFlag says so.
func frameHdr(fcsFlag byte, single, checksum bool, wd byte, fcs uint64) []byte {
	fhd := fcsFlag << 6
	if single {
		fhd |= 1 << 5
	}
	if checksum {
		fhd |= 1 << 2
	}
	b := binary.LittleEndian.AppendUint32(nil, magicFrame)
	b = append(b, fhd)
	if !single {
		b = append(b, wd)
	}
	switch fcsFlag {
	case 0:
		if single {
			b = append(b, byte(fcs))
		}
	case 1:
		b = binary.LittleEndian.AppendUint16(b, uint16(fcs-256))
	case 2:
		b = binary.LittleEndian.AppendUint32(b, uint32(fcs))
	case 3:
		b = binary.LittleEndian.AppendUint64(b, fcs)
	}
	return b
}

// blockHdr is a block header: typ 0 raw, 1 RLE, 2 compressed, 3 reserved.
func blockHdr(last bool, typ byte, size int) []byte {
	v := uint32(size)<<3 | uint32(typ)<<1
	if last {
		v |= 1
	}
	return []byte{byte(v), byte(v >> 8), byte(v >> 16)}
}

// textLines is n lines like a log's, compressing about as well.
func textLines(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	words := []string{"GET", "POST", "/index.html", "/api/v1/items", "200", "404", "500", "user", "session", "timeout", "ok", "connection", "reset", "by", "peer", "cache", "miss", "hit"}
	var b []byte
	for i := range n {
		b = strconv.AppendInt(b, int64(1700000000+i*7+rng.IntN(7)), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, rng.Int64N(1<<32), 16)
		for range 3 + rng.IntN(9) {
			b = append(b, ' ')
			b = append(b, words[rng.IntN(len(words))]...)
		}
		b = append(b, '\n')
	}
	return b
}

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// zstdCLI runs the zstd program on in, or skips.
func zstdCLI(t testing.TB, in []byte, prog string, args ...string) []byte {
	if _, err := exec.LookPath(prog); err != nil {
		t.Skipf("no %s: %v", prog, err)
	}
	cmd := exec.Command(prog, args...)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v", prog, args, err)
	}
	return out
}

// checkFile checks Scan's output and frames on z against want, and reads
// from every frame (at most maxReads of them, spread out) with one Reader.
func checkFile(t *testing.T, name string, z, want []byte, maxReads int) []Frame {
	t.Helper()
	s := scanBytes(z, testWindow)
	if s.err != nil {
		t.Fatalf("%s: Scan: %v", name, s.err)
	}
	if s.n != int64(len(s.out)) || !bytes.Equal(s.out, want) {
		t.Fatalf("%s: Scan gave %d bytes (returned %d), want %d; equal %v", name, len(s.out), s.n, len(want), bytes.Equal(s.out, want))
	}
	var out int64
	for i, f := range s.frames {
		if f.Out != out || f.Len < 0 || f.In < 0 || f.In+4 > int64(len(z)) || binary.LittleEndian.Uint32(z[f.In:]) != magicFrame {
			t.Fatalf("%s: frame %d %+v (output so far %d)", name, i, f, out)
		}
		if i > 0 && f.In <= s.frames[i-1].In {
			t.Fatalf("%s: frame %d %+v not after %+v", name, i, f, s.frames[i-1])
		}
		out += f.Len
	}
	if out != s.n {
		t.Fatalf("%s: frames cover %d bytes of %d", name, out, s.n)
	}
	step := max(1, len(s.frames)/max(maxReads, 1))
	var r *Reader
	for i := 0; i < len(s.frames); i += step {
		f := s.frames[i]
		if r == nil {
			r = NewReader(bytes.NewReader(z), int64(len(z)), f, testWindow)
			defer r.Close()
		} else {
			r.Reset(bytes.NewReader(z), int64(len(z)), f)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s: Reader from frame %d %+v: %v", name, i, f, err)
		}
		if !bytes.Equal(got, want[f.Out:]) {
			t.Fatalf("%s: Reader from frame %d %+v: %d bytes, want %d", name, i, f, len(got), len(want)-int(f.Out))
		}
	}
	return s.frames
}

func shortOr(short, full int) int {
	if testing.Short() {
		return short
	}
	return full
}
