package reliability

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// R4, one version per answer: a long line streamed while the file is
// rewritten in place, its size and newlines unchanged, by slow readers (as
// curl --limit-rate does) and by many readers at once (as wrk does). A
// response that completes must carry one version of the line, never a mix;
// a change during the transfer must cut it.
//
// The writer toggles ten bytes at two places of the line, behind and ahead
// of the readers, in an order that never makes the state "only the second
// place changed": a body in that state was read from two versions.
func TestR4TornStream(t *testing.T) {
	skipShort(t)
	long := pick(4<<20, 32<<20, 50_000_000)
	duration := pick(2*time.Second, 10*time.Second, 30*time.Second)
	readers := pick(8, 32, 64)
	p1, p2 := long/50, long*4/5
	orig := bytes.Repeat([]byte{'a'}, long)
	state := func(first, second bool) [32]byte {
		b := bytes.Clone(orig)
		if first {
			copy(b[p1:], "BBBBBBBBBB")
		}
		if second {
			copy(b[p2:], "BBBBBBBBBB")
		}
		return sha256.Sum256(append(b, '\n'))
	}
	valid := map[[32]byte]string{state(false, false): "before", state(true, false): "first place", state(true, true): "both places"}
	torn := state(false, true)

	dir := t.TempDir()
	file := writeFile(t, dir, "long.txt", append(append([]byte("first\n"), orig...), "\nlast\n"...))
	p := startLined(t, dir, "--file", file)
	p.waitReady(10 * time.Second)

	var complete, cut, unavailable, tornSeen, wrong atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: readers}}
	for r := range readers {
		wg.Go(func() {
			rate := 0 // bytes per 10 ms; 0: as fast as it can
			if r%2 == 0 {
				rate = 50 << 10 // 5 MB/s, as curl --limit-rate 5M
			}
			buf := make([]byte, 64<<10)
			for !stop.Load() {
				resp, err := client.Get(p.url + "/lines/2")
				if err != nil {
					continue
				}
				if resp.StatusCode == 503 {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					unavailable.Add(1)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				h := sha256.New()
				var n int64
				for {
					chunk := buf
					if rate > 0 {
						chunk = buf[:min(len(buf), rate)]
					}
					k, err := resp.Body.Read(chunk)
					h.Write(chunk[:k])
					n += int64(k)
					if err != nil {
						if err == io.EOF && n == int64(long+1) {
							sum := [32]byte(h.Sum(nil))
							switch _, ok := valid[sum]; {
							case sum == torn:
								tornSeen.Add(1)
							case !ok:
								wrong.Add(1)
							default:
								complete.Add(1)
							}
						} else {
							cut.Add(1)
						}
						break
					}
					if rate > 0 {
						time.Sleep(10 * time.Millisecond)
					}
				}
				resp.Body.Close()
			}
		})
	}

	w, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	base := int64(len("first\n"))
	toggles := 0
	rng := rand.New(rand.NewPCG(11, 11))
	for deadline := time.Now().Add(duration); time.Now().Before(deadline); toggles++ {
		pause := func() { time.Sleep(time.Duration(50+rng.IntN(pick(200, 400, 400))) * time.Millisecond) }
		pause()
		w.WriteAt([]byte("BBBBBBBBBB"), base+int64(p1))
		w.WriteAt([]byte("BBBBBBBBBB"), base+int64(p2))
		pause()
		w.WriteAt([]byte("aaaaaaaaaa"), base+int64(p2))
		w.WriteAt([]byte("aaaaaaaaaa"), base+int64(p1))
	}
	stop.Store(true)
	wg.Wait()
	code, _ := p.signal(syscall.SIGTERM, 15*time.Second)
	if tornSeen.Load() > 0 || wrong.Load() > 0 {
		t.Errorf("%d responses completed with two versions of the line, %d with bytes of none", tornSeen.Load(), wrong.Load())
	}
	if complete.Load() == 0 || cut.Load() == 0 {
		t.Errorf("%d complete and %d cut: the test did not see both", complete.Load(), cut.Load())
	}
	if code != 0 {
		t.Errorf("lined exited %d", code)
	}
	figure(t, "R4", "torn stream: %d MB line, %d readers (half at 5 MB/s), %d in-place rewrites behind and ahead of them in %v: %d complete, each one version; %d cut; %d answered 503; %d torn",
		long/1_000_000, readers, 4*toggles, duration, complete.Load(), cut.Load(), unavailable.Load(), tornSeen.Load()+wrong.Load())
}

// R4, built from one version: a file of 20-byte lines rewritten in place,
// over and over, with one pwrite of the whole file, alternating between two
// versions of the same size whose line numbers differ (in the second, every
// 1000th pair of lines is one line), while readers ask for random lines.
// lined notices each change and indexes the file again; a write can span
// that build. Every line answered must be line N of one of the versions,
// and once the writes stop, every line must be that of the last.
func TestR4InFlightWrite(t *testing.T) {
	skipShort(t)
	if level() == quick {
		// A write must outlast lined's reaction to the change (50 ms and
		// more) to span a build: hundreds of MB. The construction at small
		// size is lineindex's TestBuildWaitsForAWriteInFlight.
		t.Skip("needs a file of hundreds of MB: ci and full forms only")
	}
	size := pick(0, 600_000_000, 600_000_000)
	duration := pick(4*time.Second, 10*time.Second, 60*time.Second)
	const readers = 3
	a, b, versions := twoNumberings(size)
	dir := t.TempDir()
	file := writeFile(t, dir, "data.txt", a)
	p := startLined(t, dir, "--file", file, "--settle", "300ms")
	p.waitReady(30 * time.Second)

	var served, refused atomic.Int64
	var wrong failures
	var stop atomic.Bool
	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			c := &client{addr: p.addr}
			defer c.Close()
			for !stop.Load() {
				n := 1 + rng.IntN(versions[1].lines)
				reply, err := c.get("/lines/"+strconv.Itoa(n), 10*time.Second)
				if dialFailed(err) {
					t.Error(err)
					return
				}
				if err != nil {
					continue // a connection cut at a change: dial again
				}
				switch {
				case reply.code == 200 && (bytes.Equal(reply.body, versions[0].line(n)) || bytes.Equal(reply.body, versions[1].line(n))):
					served.Add(1)
				case reply.code == 503:
					refused.Add(1)
				default:
					wrong.add("WRONG: line %d: %d %q", n, reply.code, reply.body)
				}
			}
		})
	}

	w, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rng := rand.New(rand.NewPCG(6, 6))
	writes, last := 0, 0
	var took time.Duration
	for deadline := time.Now().Add(duration); time.Now().Before(deadline); writes++ {
		last = (writes + 1) % 2
		start := time.Now()
		if _, err := w.WriteAt([][]byte{a, b}[last], 0); err != nil {
			t.Fatal(err)
		}
		took = max(took, time.Since(start))
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()

	// Settled: every line is the last version's.
	final := versions[last]
	want := fmt.Sprintf("ready: %d lines\n", final.lines)
	waitFor(t, 10*time.Second, "the last version ready", func() bool {
		code, body, err := p.get("/readyz")
		return err == nil && code == 200 && string(body) == want
	})
	after := 0
	for range 300 {
		n := 1 + rng.IntN(final.lines)
		code, body, err := p.get("/lines/" + strconv.Itoa(n))
		if err != nil || code != 200 || !bytes.Equal(body, final.line(n)) {
			after++
			t.Errorf("after the writes, line %d: %d %q %v; want %q", n, code, body, err, final.line(n))
			if after > 5 {
				break
			}
		}
	}
	code, _ := p.signal(syscall.SIGTERM, 15*time.Second)
	wrong.report(t)
	if served.Load() == 0 {
		t.Error("no line served while the file was rewritten")
	}
	if code != 0 {
		t.Errorf("lined exited %d", code)
	}
	figure(t, "R4", "in-flight writes: %d MB file of 20-byte lines rewritten in place %d times by one pwrite each (up to %v), 3 readers: %d lines served, %d answered 503, %d wrong; after: 300 random lines right, %d wrong",
		size/1_000_000, writes, took.Round(time.Millisecond), served.Load(), refused.Load(), wrong.n.Load(), after)
}

// numbering tells where the lines of one of twoNumberings's versions are,
// without splitting a file of millions of lines.
type numbering struct {
	data  []byte
	lines int
	// merged: every 1000th pair of 20-byte lines is one line of 40 bytes
	merged bool
}

// line returns line n, from 1.
func (v numbering) line(n int) []byte {
	if !v.merged {
		return v.data[(n-1)*20 : n*20]
	}
	// Blocks of 1000 lines of the first version, 999 of this one: the
	// merged pair, then 998 lines.
	k, j := (n-1)/999, (n-1)%999
	if j == 0 {
		return v.data[k*20000 : k*20000+40]
	}
	off := k*20000 + 20*(j+1)
	return v.data[off : off+20]
}

// twoNumberings returns two versions of a file of 20-byte lines, of the
// same size (a multiple of 20,000 bytes): in the second, every 1000th pair
// of lines is one line. Most lines have other numbers in the two.
func twoNumberings(size int) (a, b []byte, v [2]numbering) {
	size -= size % 20_000
	a = make([]byte, size)
	for i := range size / 20 {
		line := a[i*20 : i*20+20]
		line[19] = '\n'
		for j, n := 18, i; j >= 0; j, n = j-1, n/10 {
			line[j] = byte('0' + n%10)
		}
	}
	b = bytes.Clone(a)
	for off := 19; off < len(b); off += 20_000 {
		b[off] = ' '
	}
	return a, b, [2]numbering{{a, size / 20, false}, {b, size / 20_000 * 999, true}}
}

// twoNumberings's numbering agrees with the naive splitter.
func TestTwoNumberings(t *testing.T) {
	a, b, v := twoNumberings(2_000_000)
	for i, data := range [][]byte{a, b} {
		lines := splitLines(data)
		if len(lines) != v[i].lines {
			t.Fatalf("version %d: %d lines, numbering says %d", i, len(lines), v[i].lines)
		}
		for n := 1; n <= len(lines); n++ {
			if !bytes.Equal(lines[n-1], v[i].line(n)) {
				t.Fatalf("version %d, line %d: %q, numbering says %q", i, n, lines[n-1], v[i].line(n))
			}
		}
	}
}
