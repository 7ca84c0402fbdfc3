package server

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// keepAliveClient speaks HTTP/1.1 on one connection, one request at a time,
// with no retries: a request the server drops shows as an error, which
// Go's http.Transport would hide by retrying.
type keepAliveClient struct {
	c  net.Conn
	br *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string) *keepAliveClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return &keepAliveClient{c: c, br: bufio.NewReader(c)}
}

// get requests path and returns the response, its body read.
func (k *keepAliveClient) get(path string) (*http.Response, string, error) {
	k.c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := k.send(path); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body), err
}

// SIGINT/SIGTERM during a stream of keep-alive requests: every request that
// was sent on an accepted connection gets its answer (the last one with
// Connection: close), and Run returns nil. This is what plain Shutdown gets
// wrong: it closes connections it sees idle between two requests.
func TestGracefulStopLosesNoRequest(t *testing.T) {
	t.Parallel()
	content := version(1, 1000)
	lines := splitLines(content)
	ts := startServer(t, content, func(s *Server) { s.cfg.Drain = 2 * time.Second })
	ts.waitReady()

	const workers = 32
	var (
		wg       sync.WaitGroup
		answered atomic.Int64
		warm     sync.WaitGroup
		failures = make(chan string, workers)
	)
	warm.Add(workers)
	for w := range workers {
		k := dialKeepAlive(t, ts.addr)
		wg.Go(func() {
			defer k.c.Close()
			for i := 0; ; i++ {
				n := 1 + (w*131+i*17)%len(lines)
				resp, body, err := k.get("/lines/" + strconv.Itoa(n))
				if err != nil {
					failures <- fmt.Sprintf("worker %d, request %d on an accepted connection: %v", w, i, err)
					return
				}
				if resp.StatusCode != 200 || body != lines[n-1] {
					failures <- fmt.Sprintf("worker %d: line %d: %d %q", w, n, resp.StatusCode, body)
					return
				}
				answered.Add(1)
				if i == 10 {
					warm.Done()
				}
				if resp.Close { // Connection: close, the server is stopping
					if i < 10 {
						warm.Done()
					}
					return
				}
			}
		})
	}
	// A client that is idle when the stop begins and sends its next
	// request during the drain.
	idle := dialKeepAlive(t, ts.addr)
	defer idle.c.Close()
	if resp, _, err := idle.get("/lines/1"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("idle client's first request: %v", err)
	}

	warm.Wait()
	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()
	time.Sleep(200 * time.Millisecond)
	resp, body, err := idle.get("/readyz")
	if err != nil || resp.StatusCode != 503 || body != bodyStopping || !resp.Close {
		t.Errorf("idle client's request during the drain: %v %v %q, want 503 %q with Connection: close", err, resp, body, bodyStopping)
	}
	if c, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts after the stop began")
	}

	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run returned %v", err)
	}
	t.Logf("%d requests answered; stopped in %v", answered.Load(), time.Since(start))
	if !strings.Contains(ts.logs.String(), "msg=stopped") {
		t.Errorf("no stop in the log:\n%s", ts.logs.String())
	}
}

// bigLine writes a file whose line 2 is size bytes long, and returns the
// file's name and that line's SHA-256.
func bigLine(t *testing.T, size int) (string, [32]byte) {
	t.Helper()
	file := t.TempDir() + "/big.txt"
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	f.WriteString("first\n")
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	for left := size - 1; left > 0; left -= len(chunk) {
		p := chunk[:min(left, len(chunk))]
		f.Write(p)
		h.Write(p)
	}
	f.WriteString("\nlast\n")
	h.Write([]byte("\n"))
	var sum [32]byte
	h.Sum(sum[:0])
	return file, sum
}

// A 64 MiB line streams with bounded memory: the whole request allocates
// far less than the line (client side included).
func TestHugeLineBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 64 MiB file")
	}
	const size = 64 << 20
	file, sum := bigLine(t, size)
	ts := startServerOn(t, file)
	ts.waitReady()
	ts.get("/lines/3") // warm up the connection and pools

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp, err := ts.client.Get(ts.url + "/lines/2")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, resp.Body, make([]byte, 32<<10))
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size || resp.ContentLength != size || [32]byte(h.Sum(nil)) != sum {
		t.Fatalf("line 2: %d bytes (Content-Length %d), err %v, or wrong content", n, resp.ContentLength, err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("64 MiB line: %d KiB allocated, heap in use grew %d KiB", allocated>>10, grown>>10)
	if allocated > 8<<20 || grown > 8<<20 {
		t.Errorf("serving a 64 MiB line allocated %d bytes and grew the heap by %d: not streamed", allocated, grown)
	}
}

// A client that reads a long line slowly but steadily gets all of it, even
// though that takes far longer than the write timeout: each write gets the
// timeout anew.
func TestSlowReaderGetsLongLine(t *testing.T) { // not parallel: see TestServedWhileGrowing
	const size = 16 << 20
	file, sum := bigLine(t, size)
	ts := startServerOn(t, file, func(s *Server) { s.cfg.WriteTimeout = 300 * time.Millisecond })
	ts.waitReady()
	k := ts.slowClient()
	defer k.c.Close()
	resp := k.start(t, "/lines/2")
	start := time.Now()
	got, gotSum := readSlowly(resp.Body, 20*time.Millisecond) // about 12 MiB/s at most
	took := time.Since(start)
	if got != size || gotSum != sum {
		t.Fatalf("slow reader got %d of %d bytes (or wrong content) in %v", got, size, took)
	}
	t.Logf("slow reader got the line in %v, write timeout 300ms", took)
	if took < time.Second {
		t.Logf("the read was not slow enough to prove anything")
	}
}

// setRecvBuffer bounds the client's receive buffer (by default it grows to
// several MiB on loopback) so that the server's writes soon wait for the
// client's reads. It stays well above loopback's 64 KiB segments: a window
// smaller than one makes TCP stall for hundreds of milliseconds.
func setRecvBuffer(t *testing.T, c net.Conn) {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1<<20) })
}

// slowClient dials the server with a bounded receive buffer (see
// setRecvBuffer); the caller closes it.
func (ts *testServer) slowClient() *keepAliveClient {
	k := dialKeepAlive(ts.t, ts.addr)
	setRecvBuffer(ts.t, k.c)
	k.c.SetDeadline(time.Now().Add(30 * time.Second))
	return k
}

// send writes a GET request for path, without reading the answer.
func (k *keepAliveClient) send(path string) error {
	_, err := io.WriteString(k.c, "GET "+path+" HTTP/1.1\r\nHost: lined\r\n\r\n")
	return err
}

// start sends GET path and reads the response's head; the body is left to
// the caller.
func (k *keepAliveClient) start(t *testing.T, path string) *http.Response {
	t.Helper()
	k.send(path)
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// readSlowly reads body in pieces of at most 256 KiB with a pause after
// each, and returns how many bytes it read and their SHA-256.
func readSlowly(body io.Reader, pause time.Duration) (int, [32]byte) {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var got int
	for {
		n, err := body.Read(buf)
		h.Write(buf[:n])
		got += n
		if err != nil {
			return got, [32]byte(h.Sum(nil))
		}
		time.Sleep(pause)
	}
}

// A client that stops reading is cut after the write timeout: it does not
// pin a connection and a handler.
func TestStalledReaderCut(t *testing.T) {
	t.Parallel()
	file, _ := bigLine(t, 32<<20)
	ts := startServerOn(t, file, func(s *Server) { s.cfg.WriteTimeout = 300 * time.Millisecond })
	ts.waitReady()
	ts.client.CloseIdleConnections()
	waitFor(t, 5*time.Second, "no connection left", func() bool { return ts.s.conns.Load() == 0 })
	k := ts.slowClient()
	defer k.c.Close()
	k.send("/lines/2")
	waitFor(t, 5*time.Second, "the server to have a connection", func() bool { return ts.s.conns.Load() == 1 })
	waitFor(t, 5*time.Second, "the stalled connection cut", func() bool { return ts.s.conns.Load() == 0 })
}

// A client that sends its headers too slowly is cut at ReadHeaderTimeout.
func TestSlowHeadersCut(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []byte("a\n"), func(s *Server) { s.cfg.ReadHeaderTimeout = 300 * time.Millisecond })
	ts.waitReady()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /lines/1 HTTP/1.1\r\nHost: x\r\n")
	start := time.Now()
	go func() { // a byte now and then, never the end of the headers
		for i := 0; i < 50; i++ {
			if _, err := io.WriteString(c, "X"); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(c)
	// The server closes the connection: EOF, or a reset when a byte the
	// client dribbled arrived unread (the kernel then sends RST).
	if errors.Is(err, syscall.ECONNRESET) {
		err = nil
	}
	if took := time.Since(start); err != nil || took > 3*time.Second {
		t.Errorf("slow headers: connection ended after %v with %v, want cut after about 300ms", took, err)
	}
}

// A response in flight when the stop begins is finished: here a long line
// that the client is still reading.
func TestStopFinishesInFlightResponse(t *testing.T) {
	t.Parallel()
	const size = 8 << 20
	file, sum := bigLine(t, size)
	ts := startServerOn(t, file)
	ts.waitReady()
	k := ts.slowClient()
	defer k.c.Close()
	resp := k.start(t, "/lines/2")
	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()
	got, gotSum := readSlowly(resp.Body, 5*time.Millisecond)
	if got != size || gotSum != sum {
		t.Errorf("in-flight response: got %d of %d bytes, or wrong content", got, size)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run returned %v", err)
	}
}

// The stop is bounded by the shutdown timeout even if a client never reads
// its response.
func TestStopBoundedByTimeout(t *testing.T) {
	t.Parallel()
	file, _ := bigLine(t, 32<<20)
	ts := startServerOn(t, file, func(s *Server) {
		s.cfg.ShutdownTimeout = 500 * time.Millisecond
		s.cfg.Drain = 100 * time.Millisecond
	})
	ts.waitReady()
	k := ts.slowClient()
	defer k.c.Close()
	k.send("/lines/2")
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := ts.stop(); err != nil {
		t.Errorf("Run returned %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("stop took %v with a 500ms shutdown timeout", took)
	}
	if !strings.Contains(ts.logs.String(), "shutdown timeout") {
		t.Errorf("the forced close is not logged:\n%s", ts.logs.String())
	}
}

// Run returns the error when serving fails for another reason than a stop.
func TestRunReportsServeError(t *testing.T) {
	t.Parallel()
	file := writeIndexed(t, []byte("a\n"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Logger: slog.New(slog.DiscardHandler)}, []File{{Path: file, IndexPaths: []string{file + ".idx"}, F: f}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(t.Context(), l); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Run on a closed listener: %v, want net.ErrClosed", err)
	}
}
