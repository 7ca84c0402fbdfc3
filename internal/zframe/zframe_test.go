package zframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/zstd"
)

// corpus is a set of files Scan must decode as klauspost does.
func corpus() []struct {
	name string
	z    []byte
} {
	text := textLines(1, shortOr(3000, 60000)) // about 180 KiB or 3.5 MiB
	rnd := randomBytes(3, 300000)
	runs := bytes.Repeat([]byte{'x'}, 500000)
	mixed := append(append(append([]byte{}, text[:150000]...), rnd[:100000]...), runs[:300000]...)
	var cs []struct {
		name string
		z    []byte
	}
	add := func(name string, z []byte) {
		cs = append(cs, struct {
			name string
			z    []byte
		}{name, z})
	}
	add("empty frame", encode(nil, zstd.WithZeroFrames(true)))
	add("empty stream frame", encodeStream(nil, zstd.WithZeroFrames(true)))
	add("one byte", encode([]byte{'a'}))
	add("one byte stream", encodeStream([]byte{'a'}))
	add("128 KiB", encode(text[:128<<10]))
	add("128 KiB+1", encode(text[:128<<10+1]))
	add("text one frame", encode(text))
	add("text one frame no checksum", encode(text, zstd.WithEncoderCRC(false)))
	add("text stream (no content size)", encodeStream(text))
	add("text stream no checksum", encodeStream(text, zstd.WithEncoderCRC(false)))
	add("text single segment", encode(text[:min(len(text), 1<<20)], zstd.WithSingleSegment(true)))
	add("text many frames", chunked(text, 50000))
	add("text many small frames", chunked(text[:100000], 777))
	add("text frames best", chunked(text[:150000], 50000, zstd.WithEncoderLevel(zstd.SpeedBestCompression)))
	add("text small window", encodeStream(text, zstd.WithWindowSize(1<<10)))
	add("random (raw blocks)", encode(rnd))
	add("random stream", encodeStream(rnd))
	add("runs (RLE blocks)", encode(runs))
	add("runs stream", encodeStream(runs))
	add("mixed", chunked(mixed, 250000))
	add("no entropy", encode(text[:150000], zstd.WithNoEntropyCompression(true)))
	sk := func(n byte, p string) []byte { return skippable(n, []byte(p)) }
	add("skippable start", append(sk(0, "start"), encode(text[:1000])...))
	add("skippable end", append(encode(text[:1000]), sk(15, "")...))
	add("skippable middle", bytes.Join([][]byte{encode(text[:1000]), sk(7, strings.Repeat("z", 70000)), encode(text[1000:3000])}, nil))
	add("skippable only", sk(3, "nothing"))
	add("empty frames around", bytes.Join([][]byte{encode(nil, zstd.WithZeroFrames(true)), encode(text[:3000]), encode(nil, zstd.WithZeroFrames(true))}, nil))
	if !testing.Short() {
		big := textLines(9, 120000) // about 7 MiB
		add("several MiB", encode(big))
		add("several MiB frames", chunked(big, 1<<20))
	}
	return cs
}

func TestCorpus(t *testing.T) {
	_, noCLI := exec.LookPath("zstd")
	for _, c := range corpus() {
		t.Run(c.name, func(t *testing.T) {
			want, err := kpDecode(c.z)
			if err != nil {
				t.Fatalf("klauspost: %v", err)
			}
			if noCLI == nil && !testing.Short() {
				if got := zstdCLI(t, c.z, "zstd", "-dc"); !bytes.Equal(got, want) {
					t.Fatalf("zstd -dc gives %d bytes, klauspost %d", len(got), len(want))
				}
			}
			checkFile(t, c.name, c.z, want, 50)
		})
	}
}

func TestCLI(t *testing.T) {
	text := textLines(5, shortOr(5000, 100000))
	for _, args := range [][]string{{"-3"}, {"-1", "--no-check"}, {"-12"}, {"-3", "--content-size"}, {"-3", "--no-content-size"}} {
		z := zstdCLI(t, text, "zstd", append(args, "-c")...)
		checkFile(t, fmt.Sprint("zstd ", args), z, text, 10)
		if got := zstdCLI(t, z, "zstd", "-dc"); !bytes.Equal(got, text) {
			t.Fatal("zstd -dc differs")
		}
	}
	z := zstdCLI(t, text, "pzstd", "-p", "2", "-3", "-c")
	frames := checkFile(t, "pzstd", z, text, 100)
	t.Logf("pzstd: %d frames", len(frames))
	// A file the command line tool decodes, concatenated with skippable
	// frames, as zstd writes them.
	zz := bytes.Join([][]byte{skippable(1, []byte("x")), z, skippable(2, nil), z}, nil)
	want := zstdCLI(t, zz, "zstd", "-dc")
	checkFile(t, "pzstd twice", zz, want, 100)
}

// seekable writes data in the seekable format (frames of at most frame
// bytes, then the seek table in a skippable frame), checksums included.
func seekable(data []byte, frame int) []byte {
	var z, table []byte
	n := 0
	for off := 0; off < len(data); off += frame {
		chunk := data[off:min(off+frame, len(data))]
		f := encode(chunk, zstd.WithEncoderCRC(true))
		z = append(z, f...)
		table = binary.LittleEndian.AppendUint32(table, uint32(len(f)))
		table = binary.LittleEndian.AppendUint32(table, uint32(len(chunk)))
		table = binary.LittleEndian.AppendUint32(table, binary.LittleEndian.Uint32(f[len(f)-4:]))
		n++
	}
	table = binary.LittleEndian.AppendUint32(table, uint32(n))
	table = append(table, 1<<7) // checksums present
	table = binary.LittleEndian.AppendUint32(table, 0x8F92EAB1)
	return append(z, skippable(0xE, table)...)
}

func TestSeekable(t *testing.T) {
	text := textLines(6, shortOr(5000, 20000))
	z := seekable(text, 64<<10)
	frames := checkFile(t, "seekable", z, text, 100)
	if want := (len(text) + 64<<10 - 1) / (64 << 10); len(frames) != want {
		t.Fatalf("%d frames, want %d", len(frames), want)
	}
	for _, f := range frames[:len(frames)-1] {
		if f.Len != 64<<10 {
			t.Fatalf("frame %+v", f)
		}
	}
}

// TestHandMade covers what encoders do not write: raw and RLE blocks of
// every size, FCS fields of each width, empty blocks.
func TestHandMade(t *testing.T) {
	type tc struct {
		name string
		z    []byte
		want []byte
	}
	rle := func(last bool, b byte, n int) []byte { return append(blockHdr(last, 1, n), b) }
	raw := func(last bool, p []byte) []byte { return append(blockHdr(last, 0, len(p)), p...) }
	big := randomBytes(4, 128<<10)
	abc := encode([]byte("abc"), zstd.WithEncoderCRC(true))
	abcSum := abc[len(abc)-4:]
	cases := []tc{
		{"raw 0 single", append(frameHdr(0, true, false, 0, 0), raw(true, nil)...), nil},
		{"raw 0 then data", bytes.Join([][]byte{frameHdr(0, false, false, 0, 0), raw(false, nil), raw(false, nil), raw(true, []byte("ab"))}, nil), []byte("ab")},
		{"rle 0", append(frameHdr(0, false, false, 0, 0), rle(true, 'q', 0)...), nil},
		{"rle 1024 of 1 KiB window", append(frameHdr(0, false, false, 0, 0), rle(true, 'q', 1024)...), bytes.Repeat([]byte{'q'}, 1024)},
		{"rle 128 KiB", append(frameHdr(2, false, false, 7<<3, 128<<10), rle(true, 'r', 128<<10)...), bytes.Repeat([]byte{'r'}, 128<<10)},
		{"raw 128 KiB", append(frameHdr(3, false, false, 7<<3, 128<<10), raw(true, big)...), big},
		{"fcs 2 bytes", append(frameHdr(1, false, false, 9<<3, 300), rle(true, 's', 300)...), bytes.Repeat([]byte{'s'}, 300)},
		{"fcs 1 byte single", append(frameHdr(0, true, true, 0, 3), append(raw(true, []byte("abc")), abcSum...)...), []byte("abc")},
		{"dict id 0", bytes.Join([][]byte{{0x28, 0xb5, 0x2f, 0xfd, 0x01, 0x00, 0x00}, raw(true, []byte("x"))}, nil), []byte("x")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := kpDecode(c.z)
			if err != nil || !bytes.Equal(got, c.want) {
				t.Fatalf("klauspost: %v (%d bytes)", err, len(got))
			}
			checkFile(t, c.name, c.z, c.want, 10)
		})
	}
}

// wantErr checks that Scan (and a Reader from the first frame, when first
// is set) fails on z with an error containing msg.
func wantErr(t *testing.T, name string, z []byte, msg string, maxWindow int) error {
	t.Helper()
	s := scanBytes(z, maxWindow)
	if s.err == nil || !strings.Contains(s.err.Error(), msg) {
		t.Fatalf("%s: Scan: %v, want %q", name, s.err, msg)
	}
	if !strings.HasPrefix(s.err.Error(), "zframe: offset ") {
		t.Fatalf("%s: Scan error %q has no offset", name, s.err)
	}
	return s.err
}

func TestErrors(t *testing.T) {
	text := textLines(7, 3000)
	good := encode(text, zstd.WithEncoderCRC(true))
	flip := func(z []byte, i int, x byte) []byte {
		z = bytes.Clone(z)
		z[i] ^= x
		return z
	}
	raw := func(last bool, p []byte) []byte { return append(blockHdr(last, 0, len(p)), p...) }
	fh := frameHdr(0, false, false, 0, 0)
	cases := []struct {
		name, msg string
		z         []byte
	}{
		{"empty", "empty file", nil},
		{"bad checksum", "checksum mismatch", flip(good, len(good)-1, 1)},
		{"content size too big", "5 bytes the header of the frame at offset 0 declares", bytes.Join([][]byte{frameHdr(2, false, false, 0, 5), raw(true, []byte("abcd"))}, nil)},
		{"content size too small", "", bytes.Join([][]byte{frameHdr(2, false, false, 0, 3), raw(true, []byte("abcd"))}, nil)},
		{"trailing garbage", "not a zstd frame", append(bytes.Clone(good), "garbage"...)},
		{"trailing zeros", "not a zstd frame", append(bytes.Clone(good), 0, 0, 0, 0, 0)},
		{"trailing short garbage", "not a zstd frame", append(bytes.Clone(good), 1, 2)},
		{"trailing magic prefix", "truncated", append(bytes.Clone(good), 0x28, 0xb5)},
		{"not zstd", "not a zstd frame", []byte("hello, world\n")},
		{"reserved block type", "reserved block type", append(bytes.Clone(fh), blockHdr(true, 3, 5)...)},
		{"block over window", "block size 1025 exceeds the maximum 1024", append(bytes.Clone(fh), blockHdr(true, 1, 1025)...)},
		{"block over 128 KiB", "exceeds the maximum 131072", append(frameHdr(0, false, false, 10<<3, 0), blockHdr(true, 0, 128<<10+1)...)},
		{"window over limit", "window size 16777216 exceeds the window limit of 8388608", append(frameHdr(0, false, false, 14<<3, 0), raw(true, nil)...)},
		{"huge window", "window size 2199023255552 exceeds", append(frameHdr(0, false, false, 31<<3, 0), raw(true, nil)...)},
		{"single segment over limit", "single-segment frame of 4294967295 bytes", append(frameHdr(2, true, false, 0, 1<<32-1), raw(true, nil)...)},
		{"dictionary", "dictionary 7", bytes.Join([][]byte{{0x28, 0xb5, 0x2f, 0xfd, 0x01, 0x00, 0x07}, raw(true, []byte("x"))}, nil)},
		{"reserved bit", "reserved bit", append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x08, 0x00}, raw(true, nil)...)},
		{"truncated skippable", "truncated", skippable(0, []byte("abc"))[:9]},
		{"corrupt compressed block", "corrupt frame", append(bytes.Clone(fh), blockHdr(true, 2, 5)...)},
	}
	// A corrupt compressed block needs its bytes.
	cases[len(cases)-1].z = append(cases[len(cases)-1].z, 0xff, 0xff, 0xff, 0xff, 0xff)
	for _, c := range cases {
		err := wantErr(t, c.name, c.z, c.msg, testWindow)
		t.Logf("%s: %v", c.name, err)
	}
	for _, name := range []string{"empty", "trailing magic prefix", "truncated skippable"} {
		for _, c := range cases {
			if c.name == name {
				if err := scanBytes(c.z, testWindow).err; !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("%s: %v does not wrap io.ErrUnexpectedEOF", name, err)
				}
			}
		}
	}
}

func TestTruncated(t *testing.T) {
	text := textLines(8, shortOr(250, 400))
	parts := [][]byte{skippable(0, []byte("abc")), encode(text[:len(text)/2]), encode(nil, zstd.WithZeroFrames(true)), encodeStream(text[len(text)/2:]), encode(text[:100], zstd.WithEncoderCRC(false))}
	z := bytes.Join(parts, nil)
	// Cutting between frames leaves a good file.
	ends := map[int]bool{}
	end := 0
	for _, p := range parts {
		end += len(p)
		ends[end] = true
	}
	for i := 0; i < len(z); i++ {
		s := scanBytes(z[:i], testWindow)
		if ends[i] {
			want, _ := kpDecode(z[:i])
			if s.err != nil || !bytes.Equal(s.out, want) {
				t.Fatalf("cut at frame end %d: %v", i, s.err)
			}
			continue
		}
		if !errors.Is(s.err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d of %d: %v", i, len(z), s.err)
		}
		if i%97 == 0 && len(s.frames) > 0 {
			// Readers from the frames before the cut fail too.
			f := s.frames[len(s.frames)-1]
			_, err := io.ReadAll(NewReader(bytes.NewReader(z[:i]), int64(i), f, testWindow))
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("cut at %d, Reader from %+v: %v", i, f, err)
			}
		}
	}
}

// TestFlippedBits: with checksums on, every flipped bit is an error (or,
// in a skippable frame's payload, changes nothing).
func TestFlippedBits(t *testing.T) {
	text := textLines(10, 120)
	a := encode(text[:3000])
	z := bytes.Join([][]byte{a, skippable(0, []byte("abc")), encodeStream(text[3000:])}, nil)
	skip := len(a)
	// Bits that say nothing: the unused bit of each frame header
	// descriptor, the low nibble of a skippable magic number, the payload
	// of a skippable frame.
	harmless := func(i int) bool {
		b := i / 8
		return (b == 4 || b == skip+11+4) && i%8 == 4 ||
			b == skip && i%8 < 4 ||
			b >= skip+8 && b < skip+11
	}
	// Some bits of compressed data are don't-cares too (the checksum then
	// holds): they are counted.
	same := 0
	for i := 0; i < len(z)*8; i += shortOr(7, 1) {
		zz := bytes.Clone(z)
		zz[i/8] ^= 1 << (i % 8)
		s := scanBytes(zz, testWindow)
		if s.err == nil && !bytes.Equal(s.out, text) {
			t.Fatalf("bit %d (byte %d): no error, %d bytes", i, i/8, len(s.out))
		}
		if s.err != nil && harmless(i) {
			t.Fatalf("bit %d (byte %d): %v", i, i/8, s.err)
		}
		if s.err == nil && !harmless(i) {
			same++
		}
	}
	t.Logf("%d of %d bits tried of compressed data can flip without changing the output", same, len(z)*8/shortOr(7, 1))
}

// TestFlippedBitsNoChecksum: without checksums Scan may accept a change,
// but then agrees with klauspost.
func TestFlippedBitsNoChecksum(t *testing.T) {
	text := textLines(11, 120)
	z := encode(text, zstd.WithEncoderCRC(false))
	for i := 0; i < len(z)*8; i += shortOr(7, 1) {
		zz := bytes.Clone(z)
		zz[i/8] ^= 1 << (i % 8)
		s := scanBytes(zz, testWindow)
		if s.err == nil {
			want, err := kpDecode(zz)
			if err != nil || !bytes.Equal(s.out, want) {
				t.Fatalf("bit %d: Scan accepts %d bytes, klauspost %d: %v", i, len(s.out), len(want), err)
			}
		}
	}
}

// bomb is a frame of n bytes of zeros in RLE blocks: a few bytes per
// 128 KiB.
func bomb(n int, window byte) []byte {
	z := frameHdr(0, false, false, window, 0)
	for n > 0 {
		k := min(n, 128<<10)
		n -= k
		z = append(append(z, blockHdr(n == 0, 1, k)...), 0)
	}
	return z
}

func TestBomb(t *testing.T) {
	n := shortOr(16<<20, 256<<20)
	z := bomb(n, 13<<3)                     // an 8 MiB window
	zz := encodeStream(make([]byte, 4<<20)) // compressed blocks of matches
	for range shortOr(1, 3) {
		zz = append(zz, zz...)
	}
	for _, c := range []struct {
		name string
		z    []byte
		n    int
	}{{"rle", z, n}, {"matches", zz, 4 << 20 << shortOr(1, 3)}} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var total int64
		got, err := Scan(bytes.NewReader(c.z), testWindow, 0, func(p []byte) error {
			for _, b := range p {
				if b != 0 {
					return errors.New("not zero")
				}
			}
			total += int64(len(p))
			return nil
		}, nil)
		runtime.ReadMemStats(&after)
		if err != nil || got != int64(c.n) || total != got {
			t.Fatalf("%s: %d bytes of %d: %v", c.name, got, c.n, err)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d bytes from %d allocated %d bytes", c.name, got, len(c.z), alloc)
		if alloc > testWindow+4<<20 {
			t.Errorf("%s: %d bytes allocated, more than the window and 4 MiB", c.name, alloc)
		}
	}
	// A bomb whose window is over the limit is refused before any work.
	wantErr(t, "big window bomb", bomb(1<<20, 20<<3), "window size 1073741824 exceeds the window limit", testWindow)
}

func TestReaderErrors(t *testing.T) {
	text := textLines(12, 3000)
	a, b := encode(text[:50000]), encode(text[50000:])
	z := bytes.Join([][]byte{a, skippable(0, []byte("x")), b}, nil)
	frames := checkFile(t, "reader", z, text, 10)
	check := func(name string, z []byte, f Frame, msg string) {
		t.Helper()
		r := NewReader(bytes.NewReader(z), int64(len(z)), f, testWindow)
		defer r.Close()
		_, err := io.ReadAll(r)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Fatalf("%s: %v, want %q", name, err, msg)
		}
	}
	check("past the end", z, Frame{In: int64(len(z))}, "outside the file")
	check("negative", z, Frame{In: -1}, "outside the file")
	check("at a skippable frame", z, Frame{In: int64(len(a)), Out: frames[1].Out, Len: frames[1].Len}, "no data frame")
	check("mid-frame", z, Frame{In: 5}, "not a zstd frame")
	check("wrong length", z, Frame{In: 0, Len: 5}, "decodes to 50000 bytes, not 5")
	bad := bytes.Clone(z)
	bad[len(bad)-1] ^= 1
	check("bad checksum in a later frame", bad, frames[0], "checksum mismatch")
	check("trailing garbage", append(bytes.Clone(z), 'x'), frames[1], "not a zstd frame")
	check("truncated", z[:len(z)-10], frames[0], "truncated")
}

// TestReaderReset: a warm Reader allocates nothing to restart, and no
// goroutine outlives Scan or a Reader.
func TestReaderReset(t *testing.T) {
	g := runtime.NumGoroutine()
	text := textLines(13, 5000)
	z := chunked(text, 40000)
	frames := checkFile(t, "reset", z, text, 5)
	r := NewReader(bytes.NewReader(z), int64(len(z)), frames[0], testWindow)
	buf := make([]byte, 4096)
	src := bytes.NewReader(z)
	i := 0
	read := func() {
		f := frames[i%len(frames)]
		i += 3
		r.Reset(src, int64(len(z)), f)
		n, err := io.ReadFull(r, buf)
		if err != nil && err != io.ErrUnexpectedEOF || !bytes.Equal(buf[:n], text[f.Out:f.Out+int64(n)]) {
			t.Fatalf("from %+v: %d bytes, %v", f, n, err)
		}
	}
	for range 2 * len(frames) {
		read()
	}
	if a := testing.AllocsPerRun(100, read); a != 0 && !raceEnabled {
		t.Errorf("%v allocations per Reset and read", a)
	}
	r.Close()
	if _, err := r.Read(buf); err == nil {
		t.Error("read after Close")
	}
	r.Reset(src, int64(len(z)), frames[1])
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, text[frames[1].Out:]) {
		t.Errorf("Reset after Close: %v", err)
	}
	r.Close()
	if n := runtime.NumGoroutine(); n > g {
		t.Errorf("%d goroutines, %d before", n, g)
	}
}

// failAt fails reads at and after byte n.
type failAt struct {
	z   []byte
	n   int64
	err error
}

func (f failAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.n {
		n := max(0, int(f.n-off))
		copy(p, f.z[off:off+int64(n)])
		return n, f.err
	}
	return copy(p, f.z[off:]), nil
}

// TestSources: odd readers give the same output, and read errors come
// through.
func TestSources(t *testing.T) {
	text := textLines(14, 3000)
	z := bytes.Join([][]byte{skippable(2, []byte("hi")), chunked(text, 30000), encodeStream(text[:5000])}, nil)
	want, err := kpDecode(z)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]io.Reader{
		"one byte": iotest.OneByteReader(bytes.NewReader(z)),
		"half":     iotest.HalfReader(bytes.NewReader(z)),
		"data+EOF": iotest.DataErrReader(bytes.NewReader(z)),
	} {
		var got []byte
		if _, err := Scan(r, testWindow, 0, func(p []byte) error { got = append(got, p...); return nil }, nil); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	boom := errors.New("boom")
	for _, n := range []int{0, 5, 100, len(z) / 2, len(z) - 1} {
		r := io.MultiReader(bytes.NewReader(z[:n]), iotest.ErrReader(boom))
		if _, err := Scan(r, testWindow, 0, nil, nil); !errors.Is(err, boom) {
			t.Fatalf("error after %d bytes: %v", n, err)
		}
		rd := NewReader(failAt{z, int64(n), boom}, int64(len(z)), Frame{In: 10, Len: 30000}, testWindow)
		if _, err := io.ReadAll(rd); !errors.Is(err, boom) {
			t.Fatalf("ReaderAt error after %d bytes: %v", n, err)
		}
	}
	// Errors from the callbacks stop Scan and come back as they are.
	if _, err := Scan(bytes.NewReader(z), testWindow, 0, func([]byte) error { return boom }, nil); err != boom {
		t.Fatalf("out: %v", err)
	}
	if _, err := Scan(bytes.NewReader(z), testWindow, 0, nil, func(Frame) error { return boom }); err != boom {
		t.Fatalf("frame: %v", err)
	}
	// A file shorter than its stated size is truncated.
	rd := NewReader(bytes.NewReader(z[:len(z)-3]), int64(len(z)), Frame{In: 10, Len: 30000}, testWindow)
	if _, err := io.ReadAll(rd); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short ReaderAt: %v", err)
	}
}

// TestMaxFrame: a frame with more content than maxFrame is refused, before
// decoding when its header declares its size, as soon as its output passes
// the limit when it does not; frames within the limit pass, however many.
func TestMaxFrame(t *testing.T) {
	text := textLines(15, 3000)
	const limit = 50000
	cases := []struct {
		name string
		z    []byte
		size int64 // in the error; 0: no error
	}{
		{"declared", encode(text), int64(len(text))},
		{"declared, single segment", encode(text[:60000], zstd.WithSingleSegment(true)), 60000},
		{"stream", encodeStream(text), -1},
		{"stream after good frames", append(chunked(text[:100000], limit), encodeStream(text)...), -1},
		{"bomb", bomb(1<<30, 13<<3), -1},
		{"frames at the limit", chunked(text, limit), 0},
		{"stream at the limit", bytes.Join([][]byte{encodeStream(text[:limit]), skippable(0, nil), encodeStream(text[:limit])}, nil), 0},
	}
	for _, c := range cases {
		var got int64
		var most int64
		_, err := Scan(bytes.NewReader(c.z), testWindow, limit, func(p []byte) error {
			got += int64(len(p))
			return nil
		}, func(f Frame) error {
			most = max(most, f.Len)
			return nil
		})
		var tl *FrameTooLargeError
		switch {
		case c.size == 0 && (err != nil || most > limit):
			t.Errorf("%s: %v, largest frame %d", c.name, err, most)
		case c.size == 0:
		case !errors.As(err, &tl) || tl.Size != c.size || tl.Limit != limit:
			t.Errorf("%s: %v, want a frame of %d over %d", c.name, err, c.size, limit)
		case c.size > 0 && got > 0:
			t.Errorf("%s: %d bytes decoded before a frame declared too large", c.name, got)
		case c.size < 0 && got > 100000+limit:
			t.Errorf("%s: %d bytes given out", c.name, got)
		default:
			t.Logf("%s: %v", c.name, err)
		}
	}
}

// TestWindowTooLarge: a window over the limit is a *WindowTooLargeError,
// from Scan and from a Reader.
func TestWindowTooLarge(t *testing.T) {
	z := bomb(1<<20, 14<<3) // a 16 MiB window
	_, err := Scan(bytes.NewReader(z), testWindow, 0, nil, nil)
	var wl *WindowTooLargeError
	if !errors.As(err, &wl) || wl.Window != 16<<20 || wl.Limit != testWindow || wl.In != 0 {
		t.Fatalf("Scan: %v", err)
	}
	_, err = io.ReadAll(NewReader(bytes.NewReader(z), int64(len(z)), Frame{Len: 1 << 20}, testWindow))
	if !errors.As(err, &wl) {
		t.Fatalf("Reader: %v", err)
	}
}

// TestReaderSkips: a Reader passes over skippable frames without reading
// them, and still sees one that runs past the end of the file.
func TestReaderSkips(t *testing.T) {
	text := textLines(16, 2000)
	a, b := encode(text[:30000]), encode(text[30000:])
	pad := skippable(5, bytes.Repeat([]byte{'p'}, 1<<20))
	z := bytes.Join([][]byte{a, pad, b}, nil)
	frames := checkFile(t, "skips", z, text, 10)
	counted := &countingReaderAt{r: bytes.NewReader(z)}
	r := NewReader(counted, int64(len(z)), frames[0], testWindow)
	defer r.Close()
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, text) {
		t.Fatalf("through the skippable frame: %v", err)
	}
	if counted.n > int64(len(a)+len(b))+2<<16 {
		t.Errorf("read %d bytes of a %d-byte file, %d of it skippable", counted.n, len(z), len(pad))
	}
	cut := z[:len(a)+len(pad)/2]
	r.Reset(bytes.NewReader(cut), int64(len(cut)), frames[0])
	if _, err := io.ReadAll(r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a skippable frame cut short: %v", err)
	}
}

type countingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}
