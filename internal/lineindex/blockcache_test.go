package lineindex

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestBlockCacheEvictsLeastRecentlyUsed: a full cache drops the block used
// least recently; a block published twice is kept once; a cache whose
// slots are all being filled has none to give.
func TestBlockCacheEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c, err := newBlockCache(3*16, 16)
	if err != nil {
		t.Fatal(err)
	}
	add := func(start int64, fill byte, n int) {
		t.Helper()
		i, mem := c.reserve()
		if i < 0 {
			t.Fatalf("no slot for block %d", start)
		}
		copy(mem, bytes.Repeat([]byte{fill}, n))
		c.publish(i, blockKey{1, start}, n)
	}
	get := func(start int64, off int) string {
		buf := make([]byte, 32)
		return string(buf[:c.get(blockKey{1, start}, off, buf)])
	}
	add(0, 'a', 16)
	add(16, 'b', 16)
	add(32, 'c', 10)
	if got := get(0, 3); got != "aaaaaaaaaaaaa" {
		t.Fatalf("block 0 from 3: %q", got)
	}
	if got := get(32, 10); got != "" {
		t.Fatalf("block 32 past its end: %q", got)
	}
	add(48, 'd', 16) // evicts 16, the least recently used
	if got := get(16, 0); got != "" {
		t.Fatalf("block 16 kept: %q", got)
	}
	// In this order, so that 32 is then the least recently used.
	for _, b := range []struct {
		start int64
		want  string
	}{{0, "aaaaaaaaaaaaaaaa"}, {32, "cccccccccc"}, {48, "dddddddddddddddd"}} {
		if got := get(b.start, 0); got != b.want {
			t.Fatalf("block %d: %q, want %q", b.start, got, b.want)
		}
	}
	if got := get(0, 0); got == "" || c.Held() != 42 {
		t.Fatalf("held %d bytes, want 42", c.Held())
	}
	// Block 0 published again, as two reads that both missed it do.
	i, _ := c.reserve() // evicts 32
	c.publish(i, blockKey{1, 0}, 16)
	if c.Held() != 32 || len(c.free) != 1 || get(48, 0) == "" {
		t.Fatalf("after a second publish of a block: held %d, %d free", c.Held(), len(c.free))
	}
	if got := get(0, 0); got != "aaaaaaaaaaaaaaaa" {
		t.Fatalf("block 0 replaced: %q", got)
	}
	// Another text's block at the same offset is another block.
	buf := make([]byte, 16)
	if n := c.get(blockKey{2, 0}, 0, buf); n != 0 {
		t.Fatalf("another text's block 0 found: %q", buf[:n])
	}
	var held []int32
	for range 3 {
		i, _ := c.reserve()
		if i < 0 {
			t.Fatalf("a slot was not given")
		}
		held = append(held, i)
	}
	if i, _ := c.reserve(); i >= 0 {
		t.Fatalf("slot %d given while every slot is being filled", i)
	}
	for _, i := range held {
		c.release(i)
	}
	if c.Held() != 0 || len(c.free) != 3 {
		t.Fatalf("held %d, %d free, after every slot was released", c.Held(), len(c.free))
	}
	if c, err := NewBlockCache(blockSize - 1); c != nil || err != nil || c.Size() != 0 {
		t.Fatalf("a cache under one block: %v, %v", c, err)
	}
}

// compressed is a compressed source and its index.
type compressed struct {
	z  []byte
	ix *Index
}

// view returns a view of c's text, its reads sharing o.
func (c compressed) view(o SourceOptions) *compressedText {
	return newCompressedText(bytes.NewReader(c.z), c.ix, o)
}

// compressedTexts returns text compressed as gzip and as zstd, with
// access points about every bytes of text apart.
func compressedTexts(t testing.TB, text []byte, every int) map[string]compressed {
	t.Helper()
	out := map[string]compressed{}
	for name, z := range map[string][]byte{
		"gzip": gzipped(t, text, 6, 0),
		"zstd": zstdFrames(t, text, cutsEvery(len(text), every)),
	} {
		enc := byte(gzipSource)
		if name == "zstd" {
			enc = zstdSource
		}
		ix, err := buildCompressed(t.Context(), bytes.NewReader(z), int64(len(z)), testModTime, enc, BuildOptions{Spacing: 512, accessEvery: int64(every)})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = compressed{z, ix}
	}
	return out
}

// TestCachedReadsExact: reads through a cache, of any size, in any order,
// from texts that share it, give the text's bytes.
func TestCachedReadsExact(t *testing.T) {
	t.Parallel()
	texts := [][]byte{numberedLines(shortOr(1500, 6000), 31), numberedLines(shortOr(1500, 6000), 32)}
	for _, slots := range []int64{1, 3, 40, 10_000} {
		for _, enc := range []string{"gzip", "zstd"} {
			t.Run(fmt.Sprintf("%s/%d", enc, slots), func(t *testing.T) {
				t.Parallel()
				cache, err := newBlockCache(slots*512, 512)
				if err != nil {
					t.Fatal(err)
				}
				stats := new(DecompressStats)
				var views []*compressedText
				for _, text := range texts {
					views = append(views, compressedTexts(t, text, 8000)[enc].view(SourceOptions{Cache: cache, Stats: stats}))
				}
				r := rand.New(rand.NewPCG(uint64(slots), 3))
				buf := make([]byte, 3000)
				off := int64(0)
				for range shortOr(400, 2000) {
					k := r.IntN(len(texts))
					text := texts[k]
					switch r.IntN(4) {
					case 0:
						off = r.Int64N(int64(len(text)) + 10)
					case 1: // a little back, as the line before is
						off = max(0, off-r.Int64N(700))
					case 2: // on, as the next line or range is
						off += r.Int64N(700)
					}
					p := buf[:r.IntN(len(buf)+1)]
					n, err := views[k].ReadAt(p, off)
					var want []byte
					if off < int64(len(text)) {
						want = text[off:min(off+int64(len(p)), int64(len(text)))]
					}
					if !bytes.Equal(p[:n], want) || (n < len(p)) != (err != nil) {
						t.Fatalf("text %d: ReadAt(%d bytes, %d): %d bytes, %v; want %d bytes", k, len(p), off, n, err, len(want))
					}
				}
				if stats.Hits.Load() == 0 || stats.Misses.Load() == 0 || cache.Held() > cache.Size() {
					t.Errorf("%d hits, %d misses, %d of %d bytes held", stats.Hits.Load(), stats.Misses.Load(), cache.Held(), cache.Size())
				}
			})
		}
	}
}

// TestCacheSparesDecompression: reading a text line by line backwards,
// the worst order for a decoder, decompresses it less than twice over with
// a cache of one access point's span, and many times over without.
func TestCacheSparesDecompression(t *testing.T) {
	t.Parallel()
	text := numberedLines(3000, 33)
	lines := naiveLines(text)
	for enc, c := range compressedTexts(t, text, 64<<10) {
		decompressed := func(cache *BlockCache) int64 {
			stats := new(DecompressStats)
			ct := c.view(SourceOptions{Cache: cache, Stats: stats})
			end := int64(len(text))
			for k := len(lines) - 1; k >= 0; k-- {
				start := end - int64(len(lines[k]))
				got := make([]byte, len(lines[k]))
				if n, err := ct.ReadAt(got, start); n != len(got) || !bytes.Equal(got, lines[k]) {
					t.Fatalf("%s: line %d: %q, %v", enc, k+1, got[:n], err)
				}
				end = start
			}
			return stats.Bytes.Load()
		}
		cache, err := newBlockCache(64<<10, 4096)
		if err != nil {
			t.Fatal(err)
		}
		with, without := decompressed(cache), decompressed(nil)
		t.Logf("%s: %d bytes of text; decompressed %d with a cache, %d without", enc, len(text), with, without)
		if with > 2*int64(len(text)) || without < 10*int64(len(text)) {
			t.Errorf("%s: %d bytes of text; decompressed %d with a cache, %d without", enc, len(text), with, without)
		}
	}
}

// TestCachedReadsConcurrent: many readers of texts that share a cache of
// fewer slots than they read at once get their bytes, and the cache stays
// within its size.
func TestCachedReadsConcurrent(t *testing.T) {
	t.Parallel()
	text := numberedLines(shortOr(2000, 8000), 34)
	ixs := compressedTexts(t, text, 4000)
	cache, err := newBlockCache(3*1024, 1024)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 16 {
		ct := ixs[[]string{"gzip", "zstd"}[g%2]].view(SourceOptions{Cache: cache})
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 35))
			buf := make([]byte, 2500)
			off := r.Int64N(int64(len(text)))
			for range shortOr(100, 400) {
				if r.IntN(3) == 0 {
					off = r.Int64N(int64(len(text)))
				} else {
					off = max(0, off+r.Int64N(2000)-1000)
				}
				n, err := ct.ReadAt(buf, off)
				if want := text[min(off, int64(len(text))):min(off+int64(len(buf)), int64(len(text)))]; !bytes.Equal(buf[:n], want) || (err != nil) != (n < len(buf)) {
					t.Errorf("ReadAt(%d): %d bytes, %v", off, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if cache.Held() > cache.Size() {
		t.Errorf("the cache holds %d bytes, more than its %d", cache.Held(), cache.Size())
	}
}

// TestStreamingPassesTheCache: a long run of reads, as a long line or
// range makes, goes through the cache for its first eighth of it only,
// and leaves the blocks other reads use in place.
func TestStreamingPassesTheCache(t *testing.T) {
	t.Parallel()
	text := numberedLines(3000, 36)
	for enc, c := range compressedTexts(t, text, 64<<10) {
		cache, err := newBlockCache(64*512, 512)
		if err != nil {
			t.Fatal(err)
		}
		stats := new(DecompressStats)
		ct := c.view(SourceOptions{Cache: cache, Stats: stats})
		const hot = 1000 // before the stream
		buf := make([]byte, 4096)
		if n, _ := ct.ReadAt(buf[:10], hot); n != 10 {
			t.Fatalf("%s: read at %d: %d bytes", enc, hot, n)
		}
		for off := int64(8192); off < int64(len(text)); off += int64(len(buf)) {
			n, err := ct.ReadAt(buf, off)
			if !bytes.Equal(buf[:n], text[off:min(off+int64(len(buf)), int64(len(text)))]) || (err != nil) != (n < len(buf)) {
				t.Fatalf("%s: ReadAt(%d): %d bytes, %v", enc, off, n, err)
			}
		}
		hits := stats.Hits.Load()
		if n, _ := ct.ReadAt(buf[:10], hot); n != 10 || stats.Hits.Load() != hits+1 {
			t.Errorf("%s: the block read before a stream of %d bytes was evicted by it (cache of %d)", enc, len(text), cache.Size())
		}
	}
}
