package reliability

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// R1: SIGTERM while 100 keep-alive connections send requests back to back.
// lined must exit 0 within its shutdown timeout, and no request that it
// accepted may fail.
//
// The load generator is wrk-like: 100 connections, each sends its next
// request as soon as it has the answer, and reconnects when the server
// says Connection: close. A fifth of them pause up to 50 ms between
// requests, so that some connections are idle when the stop begins (the
// case plain http.Server.Shutdown gets wrong). Nothing is retried.
//
// Each request ends in one of these ways:
//   - served: 200 with exactly the bytes of the line;
//   - failed: any other status or body, or an error on a connection that
//     had already been answered (the server accepted it), or any error
//     before the SIGTERM;
//   - refused: a new connection refused after the SIGTERM (the listener is
//     closed: not accepted, not a failure);
//   - unaccepted: a new connection, opened after the SIGTERM, reset before
//     any answer: the kernel completed its handshake in the listen backlog
//     but lined never accepted it, and closing the listener resets it (not
//     a failure: the request was not accepted).
//
// The target is failed = 0 and exit status 0 within the shutdown timeout.
func TestR1GracefulStopUnderLoad(t *testing.T) {
	const conns = 100
	rounds := pick(1, 3, 10)
	warmup := pick(500*time.Millisecond, 2*time.Second, 5*time.Second)
	const shutdownTimeout = 10 * time.Second
	raiseNofile(t, 1024)

	dir := t.TempDir()
	content := numbered("r1", 10_000)
	lines := splitLines(content)
	file := writeFile(t, dir, "r1.txt", content)

	var total struct{ served, failed, refused, unaccepted int64 }
	var maxStop time.Duration
	for round := range rounds {
		p := startLined(t, dir, "--file", file, "--shutdown-timeout", shutdownTimeout.String())
		p.waitReady(10 * time.Second)

		var served, refused, unaccepted atomic.Int64
		var sigtermAt atomic.Int64 // Unix nanoseconds, 0 before
		var failed failures
		fail := failed.add
		hardStop := time.Now().Add(warmup + 30*time.Second) // bounds every loop
		var wg sync.WaitGroup
		for w := range conns {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				pause := w%5 == 0
				var k *conn
				defer func() {
					if k != nil {
						k.Close()
					}
				}()
				answered := false // on this connection
				for time.Now().Before(hardStop) {
					if k == nil {
						var err error
						if k, err = dial(p.addr); err != nil {
							if sigtermAt.Load() != 0 {
								refused.Add(1)
							} else {
								fail("worker %d: dial before SIGTERM: %v", w, err)
							}
							return
						}
						answered = false
					}
					n := 1 + r.IntN(len(lines))
					reply, err := k.get("/lines/"+strconv.Itoa(n), 10*time.Second)
					if err != nil {
						if !answered && sigtermAt.Load() != 0 && errors.Is(err, syscall.ECONNRESET) {
							unaccepted.Add(1)
						} else {
							fail("worker %d: request on a connection answered before: %v (SIGTERM sent: %v)", w, err, sigtermAt.Load() != 0)
						}
						return
					}
					answered = true
					if reply.code != 200 || !bytes.Equal(reply.body, lines[n-1]) {
						fail("worker %d: line %d: %d %q", w, n, reply.code, reply.body)
						return
					}
					served.Add(1)
					if reply.close {
						k.Close()
						k = nil
					}
					if pause {
						time.Sleep(time.Duration(r.IntN(50)) * time.Millisecond)
					}
				}
				if sigtermAt.Load() == 0 || !time.Now().Before(hardStop) {
					fail("worker %d: still running at the time limit", w)
				}
			})
		}
		time.Sleep(warmup)
		before := served.Load()
		sigtermAt.Store(time.Now().UnixNano())
		code, took := p.signal(syscall.SIGTERM, shutdownTimeout+5*time.Second)
		wg.Wait()
		failed.report(t)
		if code != 0 {
			t.Errorf("round %d: lined exited %d after SIGTERM", round, code)
		}
		if took > shutdownTimeout {
			t.Errorf("round %d: lined took %v to exit, shutdown timeout %v", round, took, shutdownTimeout)
		}
		t.Logf("round %d: %d served (%d before SIGTERM, %.0f req/s), %d failed, %d refused and %d unaccepted after SIGTERM; exit %d in %v",
			round, served.Load(), before, float64(before)/warmup.Seconds(), failed.n.Load(), refused.Load(), unaccepted.Load(), code, took.Round(time.Millisecond))
		total.served += served.Load()
		total.failed += failed.n.Load()
		total.refused += refused.Load()
		total.unaccepted += unaccepted.Load()
		maxStop = max(maxStop, took)
		if t.Failed() {
			break
		}
	}
	figure(t, "R1", "%d SIGTERMs under %d keep-alive connections: %d requests served, %d failed; after SIGTERM %d connections refused, %d reset unaccepted in the backlog; every exit 0, slowest stop %v (timeout %v)",
		rounds, conns, total.served, total.failed, total.refused, total.unaccepted, maxStop.Round(time.Millisecond), shutdownTimeout)
}
