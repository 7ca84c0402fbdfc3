package reliability

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// R2: 10,000 concurrent keep-alive connections (RLIMIT_NOFILE raised) are
// all served, twice each while all are open; lined's peak resident memory
// (VmHWM of the child process alone) stays within 256 MiB; once they close,
// lined's open file descriptors are back to what they were before.
func TestR2ManyConnections(t *testing.T) {
	conns := pick(500, 10_000, 10_000)
	skipRace(t)
	if conns > 1000 {
		skipShort(t)
	}
	const maxMemory = 256 << 20
	raiseNofile(t, uint64(conns)+512)

	dir := t.TempDir()
	content := numbered("r2", 1000)
	lines := splitLines(content)
	file := writeFile(t, dir, "r2.txt", content)
	p := startLined(t, dir, "--file", file)
	p.waitReady(10 * time.Second)
	idle := p.memory()
	fds0 := p.fds()

	// Open every connection and make one request on it, 256 at a time.
	clients := make([]*conn, conns)
	var served, failed atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	fail := func(err error) {
		failed.Add(1)
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	request := func(i int, k *conn) {
		n := 1 + i%len(lines)
		r, err := k.get("/lines/"+strconv.Itoa(n), 30*time.Second)
		switch {
		case err != nil:
			fail(fmt.Errorf("connection %d: %v", i, err))
		case r.code != 200 || !bytes.Equal(r.body, lines[n-1]) || r.close:
			fail(fmt.Errorf("connection %d, line %d: %d %q close=%v", i, n, r.code, r.body, r.close))
		default:
			served.Add(1)
		}
	}
	parallel := func(fn func(i int)) {
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range 256 {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= conns {
						return
					}
					fn(i)
				}
			})
		}
		wg.Wait()
	}
	t.Cleanup(func() {
		for _, k := range clients {
			if k != nil {
				k.Close()
			}
		}
	})
	start, cpu0, gc0 := time.Now(), p.cpu(), p.metric("go_gc_duration_seconds_count")
	parallel(func(i int) {
		k, err := dial(p.addr)
		if err != nil {
			fail(fmt.Errorf("dial %d: %v", i, err))
			return
		}
		clients[i] = k
		request(i, k)
	})
	opened := time.Since(start)
	if failed.Load() > 0 {
		t.Fatalf("%d of %d connections failed; first: %v", failed.Load(), conns, firstErr)
	}
	open := p.metric("lined_http_open_connections") - 1 // the /metrics request itself
	fdsPeak := p.fds()
	// A second request on every connection, all of them open.
	parallel(func(i int) { request(i, clients[i]) })
	peak := p.memory()
	cpu, gcs := p.cpu()-cpu0, p.metric("go_gc_duration_seconds_count")-gc0
	heap, stacks := p.metric("go_memstats_heap_inuse_bytes"), p.metric("go_memstats_stack_inuse_bytes")
	if failed.Load() > 0 {
		t.Fatalf("%d requests failed on the second round; first: %v", failed.Load(), firstErr)
	}
	if int(open) != conns {
		t.Errorf("lined counts %v open connections, want %d", open, conns)
	}

	for _, k := range clients {
		k.Close()
	}
	clients = nil
	deadline := time.Now().Add(10 * time.Second)
	fds := p.fds()
	for fds > fds0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		fds = p.fds()
	}
	after := p.memory()
	code, took := p.signal(syscall.SIGTERM, 15*time.Second)

	figure(t, "R2", "%d keep-alive connections opened in %v, %d requests served, 0 failed, lined's CPU %v and %.0f garbage collections for them; lined idle %s; with all open %s (Go heap in use %.1f MiB, goroutine stacks %.1f MiB); after closing %s; fds %d before, %d open, %d after; SIGTERM exit %d in %v",
		conns, opened.Round(time.Millisecond), served.Load(), cpu, gcs, idle, peak, heap/(1<<20), stacks/(1<<20), after, fds0, fdsPeak, fds, code, took.Round(time.Millisecond))
	if peak.hwm > maxMemory {
		t.Errorf("lined's peak resident memory %.1f MiB, want ≤ %d MiB", mib(peak.hwm), maxMemory>>20)
	}
	if fds > fds0 {
		t.Errorf("lined has %d open files 10s after the connections closed, %d before: leak", fds, fds0)
	}
	if code != 0 {
		t.Errorf("lined exited %d", code)
	}
}
