package reliability

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// R3: slowloris. Attackers hold 1,000 connections that send request
// headers one byte a second and never finish them; each one that lined
// cuts is opened again at once, so 1,000 stay open while the attack lasts.
// lined must cut each at its ReadHeaderTimeout, and normal requests must
// keep at least 0.8 of the rate they have without the attack.
//
// The rates are measured in one run, alternately without and with the
// attack (U L U L ... U): each ratio is the attacked rate over the mean of
// the two unattacked phases around it, and the figure is the median of the
// five ratios (one in the quick form, which only reports it): a median of
// five stands against one phase disturbed by other work on a shared
// machine. The normal load is 16 keep-alive connections sending requests
// back to back.
func TestR3Slowloris(t *testing.T) {
	attackers := pick(100, 1000, 1000)
	skipRace(t)
	if attackers > 100 {
		skipShort(t)
	}
	// The quick form cuts after 300ms, the full one at lined's default.
	rht := pick(300*time.Millisecond, 2*time.Second, 5*time.Second)
	phase := pick(500*time.Millisecond, 3*time.Second, 7*time.Second)
	attacks := pick(1, 5, 5) // phases with the attack; one more without
	raiseNofile(t, uint64(attackers)+512)

	dir := t.TempDir()
	content := numbered("r3", 10_000)
	lines := splitLines(content)
	file := writeFile(t, dir, "r3.txt", content)
	args := []string{"--file", file}
	if rht != 5*time.Second {
		args = append(args, "--read-header-timeout", rht.String())
	}
	p := startLined(t, dir, args...)
	p.waitReady(10 * time.Second)

	// The normal load runs through all phases; rate samples are taken at
	// phase boundaries.
	var served, bad atomic.Int64
	var stopLoad atomic.Bool
	var wg sync.WaitGroup
	loadDeadline := time.Now().Add(time.Duration(2*attacks+1)*phase + 30*time.Second)
	for w := range 16 {
		wg.Go(func() {
			c := &client{addr: p.addr}
			defer c.Close()
			for i := 0; !stopLoad.Load() && time.Now().Before(loadDeadline); i++ {
				n := 1 + (w*7919+i*104729)%len(lines)
				r, err := c.get("/lines/"+strconv.Itoa(n), 10*time.Second)
				if err != nil || r.code != 200 || !bytes.Equal(r.body, lines[n-1]) {
					bad.Add(1)
					t.Errorf("normal client %d, line %d: %d %v", w, n, r.code, err)
					return
				}
				served.Add(1)
			}
		})
	}

	var cutMu sync.Mutex
	var cuts []time.Duration // lifetimes of the attackers' connections lined cut
	var early atomic.Int64   // cut before ReadHeaderTimeout
	attack := func(stop <-chan struct{}, live *atomic.Int64) *sync.WaitGroup {
		var awg sync.WaitGroup
		for range attackers {
			awg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					life, cut := slowConn(p.addr, stop, live)
					if cut {
						cutMu.Lock()
						cuts = append(cuts, life)
						cutMu.Unlock()
						if life < rht {
							early.Add(1)
						}
					} else if life == 0 {
						time.Sleep(10 * time.Millisecond) // could not connect
					}
				}
			})
		}
		return &awg
	}

	measure := func() float64 {
		before := served.Load()
		start := time.Now()
		time.Sleep(phase)
		return float64(served.Load()-before) / time.Since(start).Seconds()
	}
	var unattacked, attacked []float64
	minLive := int64(attackers)
	var liveSum, liveSamples int64
	var maxOpen float64
	for i := range 2*attacks + 1 {
		if i%2 == 0 {
			unattacked = append(unattacked, measure())
			continue
		}
		stop := make(chan struct{})
		var live atomic.Int64
		awg := attack(stop, &live)
		waitFor(t, 10*time.Second, "the attackers connected", func() bool { return live.Load() >= int64(attackers)*95/100 })
		before := served.Load()
		start := time.Now()
		// Sample the live attackers and lined's connections while measuring.
		for end := start.Add(phase); time.Now().Before(end); time.Sleep(phase / 10) {
			l := live.Load()
			minLive = min(minLive, l)
			liveSum += l
			liveSamples++
		}
		attacked = append(attacked, float64(served.Load()-before)/time.Since(start).Seconds())
		maxOpen = max(maxOpen, p.metric("lined_http_open_connections"))
		close(stop)
		awg.Wait()
	}
	stopLoad.Store(true)
	wg.Wait()

	var ratios []float64
	for i, a := range attacked {
		ratios = append(ratios, a/((unattacked[i]+unattacked[i+1])/2))
	}
	median := slices.Sorted(slices.Values(ratios))[len(ratios)/2]
	cutMu.Lock()
	slices.Sort(cuts)
	cutMu.Unlock()
	if len(cuts) == 0 {
		t.Fatal("lined cut no slowloris connection")
	}
	q := func(f float64) time.Duration { return cuts[int(f*float64(len(cuts)-1))].Round(time.Millisecond) }
	figure(t, "R3", "%d slowloris connections (1 byte/s, reopened when cut; %d open on average, %d at least, lined counted %.0f open at most): %d cut by lined after %v / %v / %v (min / median / max; ReadHeaderTimeout %v), %d early; normal rate %.0f req/s unattacked, %.0f attacked: ratios %.2f, median %.2f (target ≥ 0.80)",
		attackers, liveSum/liveSamples, minLive, maxOpen, len(cuts), cuts[0].Round(time.Millisecond), q(0.5), q(1), rht, early.Load(),
		mean(unattacked), mean(attacked), ratios, median)
	if bad.Load() > 0 {
		t.Errorf("%d normal requests failed during the attack", bad.Load())
	}
	if early.Load() > 0 {
		t.Errorf("%d slowloris connections cut before ReadHeaderTimeout", early.Load())
	}
	// A connection is cut at its deadline; the byte it would send next can
	// only show it up to 1 s later, and the machine is busy.
	if max := cuts[len(cuts)-1]; max > rht+1500*time.Millisecond {
		t.Errorf("a slowloris connection lived %v, ReadHeaderTimeout %v", max, rht)
	}
	// The quick form runs inside go test ./..., beside other packages'
	// tests: its rates say little, and are only reported.
	if median < 0.8 && level() != quick {
		t.Errorf("normal rate under attack: median ratio %.2f, want ≥ 0.8", median)
	}
}

// slowConn opens one slowloris connection: a request line and headers that
// never end, one byte a second. It returns how long the connection lived
// and whether the server cut it (rather than stop). live counts the open
// ones.
func slowConn(addr string, stop <-chan struct{}, live *atomic.Int64) (time.Duration, bool) {
	// Timed from before the dial: lined accepts the connection, and starts
	// its ReadHeaderTimeout, only after the handshake.
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, false
	}
	defer c.Close()
	live.Add(1)
	defer live.Add(-1)
	if _, err := io.WriteString(c, "GET /lines/1 HTTP/1.1\r\nHost: lined\r\nX-Slow: "); err != nil {
		return time.Since(start), true
	}
	var b [1]byte
	for i := 0; i < 600; i++ { // ten minutes at most
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c.Read(b[:])
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return time.Since(start), true // the server answered or closed
		}
		select {
		case <-stop:
			return time.Since(start), false
		default:
		}
		if _, err := c.Write([]byte{'a'}); err != nil {
			return time.Since(start), true
		}
	}
	return time.Since(start), false
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
