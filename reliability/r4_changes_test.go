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

// R4: the served file is rewritten, appended to, truncated, replaced,
// deleted (and created again), and rewritten keeping its size and
// modification time (a newline moved), while 32 keep-alive connections request
// random lines. Every answer is checked against the versions of the file;
// lined must not crash, must never serve a wrong line, must answer 5xx only
// with 503 (the file changed, being indexed again, or a load of it failed),
// and must serve each new version within 5 s.
//
// What "the right line" means. The test keeps every content the file has
// had, each with the interval during which a reader could see it:
//
//   - A content is visible from the moment the change that makes it
//     starts, until the change that replaces it in place (rewrite, append,
//     truncate) has finished. A content whose file is renamed over or
//     deleted stays visible for ever: lined may still hold the old file
//     open, and it does not change any more.
//   - While a write is in progress (O_TRUNC and one write, or one append),
//     the file may be seen part-written: any prefix of the new content.
//     Its lines are the new content's lines, except that the last one may
//     be cut short (bytes of the new line, no newline).
//
// A 200 answer to GET /lines/N sent at t0 and read by t1 is right if its
// body is line N of a content visible at some instant of [t0, t1], or a
// non-empty part of line N cut short (no newline) while a write of that
// content was in progress during [t0, t1]. A 413 must name a line count M
// < N that such a content had. A 503 must carry one of lined's fixed
// bodies. Anything else is a failure.
func TestR4ChangesUnderLoad(t *testing.T) {
	duration := pick(2*time.Second, 15*time.Second, 60*time.Second)
	const workers = 32
	const reindexWithin = 5 * time.Second

	dir := t.TempDir()
	file := dir + "/r4.txt"
	h := &history{}
	rng := rand.New(rand.NewPCG(4, 4))
	ver := 1
	content := r4version(ver, 300)
	cur := h.add("start v1", content, false, time.Now())
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startLined(t, dir, "--file", file)
	p.waitReady(10 * time.Second)

	var counts sync.Map // code -> *atomic.Int64
	count := func(code int) {
		c, _ := counts.LoadOrStore(code, new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
	}
	failed := failures{most: 20}
	fail := failed.add
	var stop atomic.Bool
	var wg sync.WaitGroup
	hardStop := time.Now().Add(duration + time.Minute)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 0))
			c := &client{addr: p.addr}
			defer c.Close()
			for !stop.Load() && time.Now().Before(hardStop) {
				n := 1 + r.IntN(r4MaxLines+20)
				t0 := time.Now()
				reply, err := c.get("/lines/"+strconv.Itoa(n), 10*time.Second)
				t1 := time.Now()
				if err != nil {
					fail("worker %d: line %d: %v", w, n, err)
					return
				}
				count(reply.code)
				if why := h.check(n, reply, t0, t1); why != "" {
					fail("line %d: %d %q: %s", n, reply.code, reply.body, why)
				}
			}
		})
	}

	// The changes, one after another at random, until the time is up.
	var latencies []time.Duration
	var changes []string
	write := func(name string, mutate func(), next []byte, prefix bool, inPlace bool) {
		start := time.Now()
		var part *fileState
		label := fmt.Sprintf("%s v%d", name, ver)
		if prefix {
			part = h.add(label+" (being written)", next, true, start)
		}
		nextState := h.add(label, next, false, start)
		mutate()
		end := time.Now()
		if part != nil {
			h.end(part, end)
		}
		if inPlace && cur != nil {
			h.end(cur, end)
		}
		cur = nextState
		changes = append(changes, name)
	}
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) && p.alive() {
		ver++
		n := r4MaxLines/4 + rng.IntN(r4MaxLines*3/4)
		var old []byte
		if cur != nil {
			old = cur.content
		}
		if cur == nil { // deleted: create it again
			next := r4version(ver, n)
			write("create", func() { os.WriteFile(file, next, 0o644) }, next, true, false)
		} else {
			switch rng.IntN(6) {
			case 0: // rewritten in place
				next := r4version(ver, n)
				write("rewrite", func() { os.WriteFile(file, next, 0o644) }, next, true, true)
			case 1: // lines appended
				extra := r4version(ver, 1+rng.IntN(20))
				next := append(slices.Clip(old), extra...)
				if len(splitLines(next)) > r4MaxLines+10 {
					next = r4version(ver, n)
					write("rewrite", func() { os.WriteFile(file, next, 0o644) }, next, true, true)
					break
				}
				write("append", func() {
					f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
					if err == nil {
						f.Write(extra)
						f.Close()
					}
				}, next, true, true)
			case 2: // truncated, usually in the middle of a line
				if len(old) < 2 {
					continue
				}
				size := 1 + rng.IntN(len(old)-1)
				next := old[:size]
				write("truncate", func() { os.Truncate(file, int64(size)) }, next, false, true)
			case 3: // replaced: another file renamed over it
				next := r4version(ver, n)
				os.WriteFile(file+".tmp", next, 0o644)
				write("replace", func() { os.Rename(file+".tmp", file) }, next, false, false)
			case 5: // rewritten in place keeping its size and time (cp -p,
				// rsync -t --inplace): the first newline moves into the last
				// line, and every line between is renumbered
				i := bytes.IndexByte(old, '\n')
				last := bytes.LastIndexByte(old[:len(old)-1], '\n') + 1
				j := last + bytes.IndexByte(old[last:], ':')
				fi, err := os.Stat(file)
				if i < 0 || j <= i+1 || err != nil {
					continue
				}
				next := bytes.Clone(old)
				next[i], next[j] = ' ', '\n'
				// Timestamps move in ticks of a few ms: a change within the
				// tick of the one before would keep every time.
				time.Sleep(20 * time.Millisecond)
				write("rewrite-keep-time", func() {
					os.WriteFile(file, next, 0o644)
					os.Chtimes(file, fi.ModTime(), fi.ModTime())
				}, next, true, true)
			case 4: // deleted: lined keeps serving what it has open
				os.Remove(file)
				cur = nil
				changes = append(changes, "delete")
				time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
				continue
			}
		}
		// Sometimes change again at once, before lined caught up.
		if rng.IntN(4) == 0 {
			continue
		}
		start := time.Now()
		want := splitLines(cur.content)
		ready := fmt.Sprintf("ready: %d lines\n", len(want))
		for {
			code, body, err := p.get("/readyz")
			if err == nil && code == 200 && string(body) == ready {
				if len(want) == 0 {
					break
				}
				code, body, err = p.get("/lines/" + strconv.Itoa(len(want)))
				if err == nil && code == 200 && bytes.Equal(body, want[len(want)-1]) {
					break
				}
			}
			if time.Since(start) > reindexWithin {
				t.Errorf("after %s to version %d (%d lines), not served within %v: /readyz %d %q %v",
					changes[len(changes)-1], ver, len(want), reindexWithin, code, body, err)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		latencies = append(latencies, time.Since(start))
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	alive := p.alive()
	code, took := p.signal(syscall.SIGTERM, 15*time.Second)

	failed.report(t)
	if !alive {
		t.Errorf("lined died under the changes")
	}
	if code != 0 {
		t.Errorf("lined exited %d after SIGTERM", code)
	}
	if strings.Contains(p.logs.String(), "panic") {
		t.Errorf("lined logged a panic")
	}
	var byCode []string
	var total int64
	counts.Range(func(k, v any) bool {
		n := v.(*atomic.Int64).Load()
		total += n
		byCode = append(byCode, fmt.Sprintf("%d×%d", n, k.(int)))
		return true
	})
	slices.Sort(byCode)
	slices.Sort(latencies)
	kinds := map[string]int{}
	for _, c := range changes {
		kinds[c]++
	}
	if len(latencies) == 0 {
		t.Fatal("no change was followed to the end")
	}
	figure(t, "R4", "%d changes in %v (%v) under %d connections: %d answers (%s), %d wrong or unexpected; new version served after %v / %v / %v (min / median / max, target ≤ %v); lined alive, exit %d in %v",
		len(changes), duration, kinds, workers, total, strings.Join(byCode, " "), failed.n.Load(),
		latencies[0].Round(time.Millisecond), latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond), reindexWithin,
		code, took.Round(time.Millisecond))
}

// r4MaxLines bounds the versions' length: up to about 66 KiB, several
// checkpoints (one per 16 KiB), so that lines can be renumbered without a
// byte moving near them.
const r4MaxLines = 2000

// r4version is version v of the file, n lines: each names its version and
// number, and the lengths differ between versions, so that a line from
// another version or another place shows.
func r4version(v, n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "v%d:%d:%s\n", v, i, strings.Repeat("x", (i*7+v*13)%50))
	}
	return b.Bytes()
}

// fileState is one content the file had, and when it was visible.
type fileState struct {
	name    string // the change that made it, and the version
	content []byte
	lines   [][]byte
	prefix  bool // part-written: any prefix of content
	from    time.Time
	to      time.Time // zero while it may still be visible
}

// history holds every content the file had; see TestR4ChangesUnderLoad.
type history struct {
	mu     sync.RWMutex
	states []*fileState
}

// add records a content visible from from on. It is recorded before the
// change is made, so that a request that saw it finds it.
func (h *history) add(name string, content []byte, prefix bool, from time.Time) *fileState {
	s := &fileState{name: name, content: content, lines: splitLines(content), prefix: prefix, from: from}
	h.mu.Lock()
	h.states = append(h.states, s)
	h.mu.Unlock()
	return s
}

// end records that s is no longer visible after at.
func (h *history) end(s *fileState, at time.Time) {
	h.mu.Lock()
	s.to = at
	h.mu.Unlock()
}

var (
	beyondRE = regexp.MustCompile(`^line (\d+) is beyond the end of the file \((\d+) lines\)\n$`)
	fixed503 = []string{
		"the file changed and is being indexed again, try again shortly\n",
		"the file grew and its new lines are being indexed, try again shortly\n",
		"not ready: the file is being indexed, try again shortly\n",
		// deleted, or changed while it was read: a load failed
		"not ready: the file cannot be indexed (the server's log says why); it is tried again when it changes\n",
	}
	lineHeadRE = regexp.MustCompile(`^v\d*`)
)

// around describes the versions visible during [t0, t1] and the changes
// just before, for a failure message. The caller holds h.mu.
func (h *history) around(t0, t1 time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n\trequest %s .. %s; versions:", t0.Format("15:04:05.000000"), t1.Format("15:04:05.000000"))
	for _, s := range h.states {
		old := s.from.Before(t0.Add(-2 * time.Second))
		if s.from.After(t1) || old && (s.to.IsZero() || s.to.Before(t0.Add(-time.Second))) {
			continue
		}
		to := "on"
		if !s.to.IsZero() {
			to = s.to.Format("15:04:05.000000")
		}
		fmt.Fprintf(&b, "\n\t  %s: %d lines, %s .. %s", s.name, len(s.lines), s.from.Format("15:04:05.000000"), to)
	}
	return b.String()
}

// check says what is wrong with reply to GET /lines/n sent at t0 and read
// by t1, or "" if nothing is.
func (h *history) check(n int, r reply, t0, t1 time.Time) string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	visible := func(s *fileState) bool { return !s.from.After(t1) && (s.to.IsZero() || !s.to.Before(t0)) }
	switch r.code {
	case 200:
		for _, s := range h.states {
			if !visible(s) || n > len(s.lines) {
				continue
			}
			line := s.lines[n-1]
			if bytes.Equal(r.body, line) {
				return ""
			}
			if s.prefix && len(r.body) > 0 && len(r.body) < len(line) && bytes.HasPrefix(line, r.body) && bytes.IndexByte(r.body, '\n') < 0 {
				return ""
			}
		}
		if !lineHeadRE.Match(r.body) {
			return "WRONG LINE: not a line of any version" + h.around(t0, t1)
		}
		return "WRONG LINE: not line N of any version visible during the request" + h.around(t0, t1)
	case 413:
		m := beyondRE.FindSubmatch(r.body)
		if m == nil || string(m[1]) != strconv.Itoa(n) {
			return "413 with an unexpected body"
		}
		lines, _ := strconv.Atoi(string(m[2]))
		if lines >= n {
			return "413 for a line within the count it gives"
		}
		for _, s := range h.states {
			if visible(s) && (len(s.lines) == lines || s.prefix && lines <= len(s.lines)) {
				return ""
			}
		}
		return "413 with a line count no visible version had" + h.around(t0, t1)
	case 503:
		if slices.Contains(fixed503, string(r.body)) {
			return ""
		}
		return "503 with an unexpected body"
	}
	return "unexpected status"
}
