package reliability

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// r10Line is line n of version v of R10's file: it names both, so that a
// line served from the wrong place or version shows.
func r10Line(v, n int) string {
	return fmt.Sprintf("v%d:%d:%s\n", v, n, strings.Repeat("y", (n*13)%71))
}

// R10: a file that grows, as a log does: 1,000 lines appended every 20 ms
// while 100 keep-alive connections read lines that lined has already
// served. Every one of those must answer 200 with its bytes throughout (a
// file that only grows is extended, never taken offline), each new line
// must be served within a second of its write, and the index must only be
// extended, never built again. Then the file is truncated, and rewritten:
// no wrong line, ever, and the new versions served.
func TestR10GrowingFile(t *testing.T) {
	skipShort(t)
	duration := pick(3*time.Second, 15*time.Second, 60*time.Second)
	conns := pick(16, 100, 100)
	perAppend := pick(200, 1000, 1000)
	raiseNofile(t, uint64(conns)+512)

	dir := t.TempDir()
	var initial strings.Builder
	for n := 1; n <= 10_000; n++ {
		initial.WriteString(r10Line(1, n))
	}
	file := writeFile(t, dir, "log.txt", []byte(initial.String()))
	p := startLined(t, dir, "--file", file)
	p.waitReady(10 * time.Second)

	var known atomic.Int64 // lines lined has served: they must stay 200
	known.Store(10_000)
	var version atomic.Int64 // the version the file has now
	version.Store(1)
	var growing atomic.Bool // appends only, so far
	growing.Store(true)
	var served, unavailable atomic.Int64
	var oldNon200 failures
	var wrong failures
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 10))
			c := &client{addr: p.addr}
			defer c.Close()
			for !stop.Load() {
				v, m := version.Load(), known.Load()
				n := 1 + rng.IntN(int(m))
				reply, err := c.get("/lines/"+strconv.Itoa(n), 10*time.Second)
				if dialFailed(err) {
					t.Error(err)
					return
				}
				if err != nil {
					continue // a connection cut at a change: dial again
				}
				switch {
				case reply.code == 200:
					// Line n of version v, or, right at the rewrite (v is
					// set before it), of the one before.
					if string(reply.body) != r10Line(int(v), n) && string(reply.body) != r10Line(int(v)-1, n) {
						wrong.add("WRONG: line %d of version %d: %q", n, v, reply.body)
					}
					served.Add(1)
				case growing.Load() && version.Load() == v:
					oldNon200.add("line %d, which lined had served, answered %d %q while the file only grew", n, reply.code, reply.body)
				case reply.code == 503 || reply.code == 413:
					unavailable.Add(1)
				default:
					wrong.add("line %d: %d %q", n, reply.code, reply.body)
				}
			}
		})
	}

	// The appends, and how soon each batch's last line is served.
	w, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Every 20 ms a batch; the prober asks for each batch's last line as
	// soon as it is written, and notes when it is served.
	type batch struct {
		last    int
		written time.Time
	}
	batches := make(chan batch, 1<<12)
	var latencies []time.Duration
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		for b := range batches {
			want := r10Line(1, b.last)
			for {
				code, body, err := p.get("/lines/" + strconv.Itoa(b.last))
				if err == nil && code == 200 && string(body) == want {
					break
				}
				if time.Since(b.written) > 5*time.Second {
					t.Errorf("line %d not served within 5 s of its write: %d %q %v", b.last, code, body, err)
					return
				}
				time.Sleep(time.Millisecond)
			}
			latencies = append(latencies, time.Since(b.written))
			known.Store(int64(b.last))
		}
	}()
	lines, appends := 10_000, 0
	tick := time.NewTicker(20 * time.Millisecond)
	for deadline := time.Now().Add(duration); time.Now().Before(deadline); appends++ {
		var b strings.Builder
		for range perAppend {
			lines++
			b.WriteString(r10Line(1, lines))
		}
		if _, err := w.WriteString(b.String()); err != nil {
			t.Fatal(err)
		}
		batches <- batch{lines, time.Now()}
		<-tick.C
	}
	tick.Stop()
	close(batches)
	<-probed
	lateBy := slices.Max(latencies)
	builds, extensions := p.metric("lined_index_builds_total"), p.metric("lined_index_extensions_total")

	// Truncated to half, then rewritten as version 2: never a wrong line.
	growing.Store(false)
	half := 5_000
	var truncated bytes.Buffer
	for n := 1; n <= half; n++ {
		truncated.WriteString(r10Line(1, n))
	}
	known.Store(int64(half))
	if err := os.Truncate(file, int64(truncated.Len())); err != nil {
		t.Fatal(err)
	}
	waitForLines(t, p, half)
	var v2 strings.Builder
	for n := 1; n <= 8_000; n++ {
		v2.WriteString(r10Line(2, n))
	}
	version.Store(2) // readers accept v1 or v2 until the rewrite is served
	if err := os.WriteFile(file, []byte(v2.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	waitForLines(t, p, 8_000)
	stop.Store(true)
	wg.Wait()
	code, _ := p.signal(syscall.SIGTERM, 15*time.Second)

	wrong.report(t)
	oldNon200.report(t)
	if builds != 1 || extensions == 0 {
		t.Errorf("while the file only grew: %v index builds and %v extensions, want 1 build (at the start) and extensions only", builds, extensions)
	}
	if lateBy > time.Second {
		t.Errorf("a new line was served %v after its write, want within 1 s", lateBy)
	}
	if code != 0 {
		t.Errorf("lined exited %d", code)
	}
	slices.Sort(latencies)
	median := latencies[len(latencies)/2]
	figure(t, "R10", "%d appends of %d lines (every 20 ms) for %v under %d keep-alive connections reading lines lined had served: %d answers 200, %d non-2xx of those lines (0 allowed), %d wrong; each batch's last line served %v / %v after its write (median / max); %v builds, %v extensions while it grew; then truncated and rewritten: %d answered 503 or 413, 0 wrong",
		appends, perAppend, duration, conns, served.Load(), oldNon200.n.Load(), wrong.n.Load(), median.Round(time.Millisecond), lateBy.Round(time.Millisecond), builds, extensions, unavailable.Load())
}

var readyLines = regexp.MustCompile(`^ready: (\d+) lines\n$`)

// waitForLines waits until lined says it is ready with n lines.
func waitForLines(t *testing.T, p *linedProc, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("ready with %d lines", n), func() bool {
		code, body, err := p.get("/readyz")
		m := readyLines.FindSubmatch(body)
		return err == nil && code == 200 && m != nil && string(m[1]) == strconv.Itoa(n)
	})
}
