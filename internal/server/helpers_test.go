package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lined/lined/internal/testkit"
)

// noSettle has the server index a file at once, though it was just
// written: for the tests of everything but the settling itself.
const noSettle = -1

// syncBuffer is a log destination that tests read while the server writes.
type syncBuffer = testkit.SyncBuffer

// testServer is a Server running on 127.0.0.1 for one test.
type testServer struct {
	t      *testing.T
	s      *Server
	url    string // http://127.0.0.1:PORT
	addr   string
	file   string // path of the served file
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
	client *http.Client
}

// startServer serves content from a new file in a temporary directory,
// with the index beside it, after letting setup adjust the server.
func startServer(t *testing.T, content []byte, setup ...func(*Server)) *testServer {
	t.Helper()
	return startServerOn(t, tempFile(t, content), setup...)
}

// tempFile writes content to a new file in a temporary directory.
func tempFile(tb testing.TB, content []byte) string {
	tb.Helper()
	return testkit.WriteFile(tb, tb.TempDir(), "data.txt", content)
}

func startServerOn(t *testing.T, file string, setup ...func(*Server)) *testServer {
	t.Helper()
	return startServerFiles(t, []string{file}, setup...)
}

// startServerFiles serves several files, each with its index beside it.
func startServerFiles(t *testing.T, paths []string, setup ...func(*Server)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	var files []File
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Path: p, IndexPaths: []string{p + ".idx"}, F: f})
	}
	s, err := New(Config{
		CacheControl:  "public, max-age=60",
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		CheckInterval: 100 * time.Millisecond,
		Settle:        noSettle,
	}, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range setup {
		fn(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{
		t: t, s: s, url: "http://" + ln.Addr().String(), addr: ln.Addr().String(),
		file: paths[0], logs: logs, cancel: cancel, done: make(chan error, 1),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}},
	}
	go func() { ts.done <- s.Run(ctx, ln) }()
	t.Cleanup(func() {
		ts.client.CloseIdleConnections()
		ts.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// stop ends Run as a signal would, and waits for it.
func (ts *testServer) stop() error {
	ts.t.Helper()
	ts.cancel()
	select {
	case err := <-ts.done:
		ts.done <- err // for a later call
		return err
	case <-time.After(20 * time.Second):
		ts.t.Fatal("Run did not return after its context ended")
		return nil
	}
}

type response struct {
	code   int
	header http.Header
	body   string
}

func (ts *testServer) do(method, path string, header ...string) response {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.url+path, nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, string(body)}
}

func (ts *testServer) get(path string, header ...string) response {
	ts.t.Helper()
	return ts.do(http.MethodGet, path, header...)
}

// raw sends request as is on a new connection and returns what the server
// answered until it closed the connection or timeout passed.
func (ts *testServer) raw(request string, timeout time.Duration) string {
	ts.t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	go io.WriteString(c, request) // the server may answer before it reads all
	b, _ := io.ReadAll(c)
	return string(b)
}

var waitFor = testkit.WaitFor

func (ts *testServer) waitReady() {
	ts.t.Helper()
	waitFor(ts.t, 10*time.Second, "/readyz 200", func() bool { return ts.get("/readyz").code == 200 })
}

// splitLines is the reference: the file's lines, terminators included.
func splitLines(b []byte) []string {
	var lines []string
	for _, l := range testkit.Lines(b) {
		lines = append(lines, string(l))
	}
	return lines
}

// leaks lists what must never appear in a response body.
func (ts *testServer) checkNoLeak(what string, r response) {
	ts.t.Helper()
	for _, bad := range []string{ts.file, filepath.Dir(ts.file), filepath.Base(ts.file), "open ", "no such", "lineindex", ".idx", "/tmp", "errno", "file already closed", "permission"} {
		if strings.Contains(r.body, bad) {
			ts.t.Errorf("%s: %d body %q contains %q", what, r.code, r.body, bad)
		}
	}
}
