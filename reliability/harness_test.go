package reliability

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lined/lined/internal/command/tools"
	"github.com/lined/lined/internal/testkit"
)

// toolEnv names the tool the test binary runs as when it is re-executed.
const toolEnv = "LINED_RELIABILITY_TOOL"

// peakEnv, set for a tool, names a file the tool writes its peak resident
// size (VmHWM, bytes) to when it ends. The parent cannot take it from
// wait4: a child started by vfork and exec inherits the parent's peak.
const peakEnv = "LINED_RELIABILITY_PEAK_FILE"

func TestMain(m *testing.M) {
	if status, ok := tools.Main(os.Getenv(toolEnv)); ok {
		if f := os.Getenv(peakEnv); f != "" {
			os.WriteFile(f, []byte(strconv.FormatInt(ownPeak(), 10)), 0o644)
		}
		os.Exit(status)
	}
	os.Exit(m.Run())
}

// ownPeak is this process's VmHWM in bytes, 0 if unknown.
func ownPeak() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n << 10
		}
	}
	return 0
}

// tier is the size of the suite's runs; see the package documentation.
type tier int

const (
	quick tier = iota
	ci
	full
)

func (t tier) String() string { return [...]string{"quick", "ci", "full"}[t] }

func level() tier {
	switch os.Getenv("LINED_RELIABILITY") {
	case "":
		return quick
	case "ci":
		return ci
	}
	return full
}

// pick returns the value for the current tier.
func pick[T any](q, c, f T) T {
	switch level() {
	case ci:
		return c
	case full:
		return f
	}
	return q
}

// figure logs a result line that scripts/reliability.sh collects.
func figure(t *testing.T, id, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE %s: %s [%s]", id, fmt.Sprintf(format, args...), level())
}

// skipShort skips a test that runs many processes or large files under
// -short (go test -race -short ./... in CI).
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("long; skipped with -short")
	}
}

// skipRace skips a test that measures memory or throughput under the race
// detector, whose overhead it would measure.
func skipRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("measures memory or throughput; skipped under the race detector")
	}
}

// raiseNofile raises the soft limit on open files to the hard limit (at
// most want), and skips the test if that is less than want. Children
// inherit it.
func raiseNofile(t *testing.T, want uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < want && lim.Cur < lim.Max {
		old := lim
		lim.Cur = min(lim.Max, want)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	}
	if lim.Cur < want {
		t.Skipf("RLIMIT_NOFILE hard limit is %d, want %d", lim.Max, want)
	}
}

// env is the environment of a child: the caller's without the settings of
// the tools (LINED_*, APP_PORT, NUM_OF_WORKERS), the tool to run, a cache
// directory (and home) of the test's own, and LINED_SETTLE=0; extra comes
// last, and overrides.
func env(t *testing.T, tool, cacheDir string, extra ...string) []string {
	var e []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "LINED_") || k == "APP_PORT" || k == "NUM_OF_WORKERS" || k == "XDG_CACHE_HOME" || k == "HOME" {
			continue
		}
		e = append(e, kv)
	}
	// The tools index a file at once, though the test has just written it
	// (--settle 0): the settling is what TestR4InFlightWrite exercises.
	e = append(e, toolEnv+"="+tool, "XDG_CACHE_HOME="+cacheDir, "HOME="+filepath.Join(cacheDir, "home"), "LINED_SETTLE=0")
	return append(e, extra...)
}

// result is what a tool run printed, its exit status and its peak
// resident size (VmHWM, bytes; 0 if it died before it could say).
type result struct {
	stdout, stderr []byte
	code           int
	maxRSS         int64
}

// runTool runs mkindex or getline as a child process with stdin, bounded by
// a minute.
func runTool(t *testing.T, cacheDir, tool string, stdin []byte, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	peakFile := filepath.Join(t.TempDir(), "peak")
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = env(t, tool, cacheDir, peakEnv+"="+peakFile)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err = cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ctx.Err() != nil {
			t.Fatalf("%s %q: %v (stderr %q)", tool, args, err, errs.String())
		}
		code = ee.ExitCode()
	}
	b, _ := os.ReadFile(peakFile)
	peak, _ := strconv.ParseInt(string(b), 10, 64)
	return result{out.Bytes(), errs.Bytes(), code, peak}
}

// syncBuffer collects a child's stderr while the test reads it.
type syncBuffer = testkit.SyncBuffer

// linedProc is a lined running as a child process on 127.0.0.1.
type linedProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string // 127.0.0.1:PORT
	url  string
	logs *syncBuffer
	done chan struct{} // closed when it has exited
	code int           // its exit status, once done
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`)

// startLined starts lined with args (--addr 127.0.0.1:0 is added) and
// waits until it listens. It is killed at the end of the test if it is
// still running.
func startLined(t *testing.T, cacheDir string, args ...string) *linedProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &linedProc{t: t, logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(exe, append([]string{"--addr", "127.0.0.1:0"}, args...)...)
	p.cmd.Env = env(t, "lined", cacheDir)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = 0
		if err != nil {
			p.code = -1
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				p.code = ee.ExitCode()
			}
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if dir := os.Getenv("LINED_RELIABILITY_LOGS"); dir != "" && t.Failed() {
			name := filepath.Join(dir, fmt.Sprintf("%s-%d.log", strings.ReplaceAll(t.Name(), "/", "_"), p.cmd.Process.Pid))
			if err := os.WriteFile(name, []byte(p.logs.String()), 0o644); err == nil {
				t.Logf("lined's whole log: %s", name)
			}
		}
		if t.Failed() {
			logs := p.logs.String()
			if len(logs) > 64<<10 {
				logs = "...\n" + logs[len(logs)-64<<10:]
			}
			t.Logf("lined's log:\n%s", logs)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(p.logs.String()); m != nil {
			p.addr, p.url = m[1], "http://"+m[1]
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("lined exited with %d before listening:\n%s", p.code, p.logs.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("lined not listening within 10s:\n%s", p.logs.String())
		}
	}
}

// httpClient makes one-off requests to a child: no keep-alive, no proxy,
// no retries that matter for what it is used for.
var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get makes one request on a new connection and returns status and body.
func (p *linedProc) get(path string) (int, []byte, error) {
	resp, err := httpClient.Get(p.url + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// waitReady waits until /readyz answers 200.
func (p *linedProc) waitReady(within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, body, err := p.get("/readyz")
		if err == nil && code == 200 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("lined not ready within %v: %d %q %v", within, code, body, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signal sends sig and waits for the exit, bounded by within; it returns
// the exit status and how long the exit took.
func (p *linedProc) signal(sig syscall.Signal, within time.Duration) (int, time.Duration) {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
		return p.code, time.Since(start)
	case <-time.After(within):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("lined did not exit within %v of %v", within, sig)
		return -1, 0
	}
}

// alive tells whether the child is still running.
func (p *linedProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// memory reads the child's memory figures from /proc/PID/status, in bytes:
// VmRSS, RssAnon (private memory) and VmHWM (peak resident size).
type memory struct{ rss, anon, hwm int64 }

func (m memory) String() string {
	return fmt.Sprintf("VmRSS %.1f MiB, RssAnon %.1f MiB, VmHWM %.1f MiB", mib(m.rss), mib(m.anon), mib(m.hwm))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func (p *linedProc) memory() memory {
	p.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		p.t.Fatal(err)
	}
	var m memory
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			m.rss = n << 10
		case "RssAnon":
			m.anon = n << 10
		case "VmHWM":
			m.hwm = n << 10
		}
	}
	return m
}

// fds counts the child's open file descriptors.
func (p *linedProc) fds() int {
	p.t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		p.t.Fatal(err)
	}
	return len(ents)
}

// metric returns the value of a metric from /metrics: the first series of that name, whatever its labels.
func (p *linedProc) metric(name string) float64 {
	p.t.Helper()
	_, body, err := p.get("/metrics")
	if err != nil {
		p.t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{[^}]*\})? (\S+)$`).FindSubmatch(body)
	if m == nil {
		p.t.Fatalf("no metric %s", name)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// conn is an HTTP/1.1 client on one keep-alive connection, one request at
// a time and no retries: a request the server drops shows as an error,
// which http.Transport would hide by retrying.
type conn struct {
	c  net.Conn
	br *bufio.Reader
}

func dial(addr string) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, br: bufio.NewReaderSize(c, 4<<10)}, nil
}

// reply is a response read by conn.get.
type reply struct {
	code  int
	body  []byte
	close bool // the server said Connection: close
}

// get sends GET path and reads the whole response.
func (k *conn) get(path string, timeout time.Duration) (reply, error) {
	k.c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(k.c, "GET "+path+" HTTP/1.1\r\nHost: lined\r\n\r\n"); err != nil {
		return reply{}, err
	}
	return k.read()
}

func (k *conn) read() (reply, error) {
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return reply{}, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return reply{}, err
	}
	return reply{resp.StatusCode, body, resp.Close}, nil
}

func (k *conn) Close() error { return k.c.Close() }

// client is a keep-alive client that dials again when the server closed the
// connection or a request on it failed, as a browser or a proxy would.
type client struct {
	addr string
	k    *conn
}

// get asks for path on the connection, dialling first if there is none. A
// failed dial's error is a *net.OpError with Op "dial" (see dialFailed);
// after any error, or a reply that closes the connection, the next get
// dials anew.
func (c *client) get(path string, timeout time.Duration) (reply, error) {
	if c.k == nil {
		k, err := dial(c.addr)
		if err != nil {
			return reply{}, err
		}
		c.k = k
	}
	r, err := c.k.get(path, timeout)
	if err != nil || r.close {
		c.Close()
	}
	return r, err
}

func (c *client) Close() {
	if c.k != nil {
		c.k.Close()
		c.k = nil
	}
}

// dialFailed says whether err is client.get's failure to connect, as
// opposed to a request's on a connection it had.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// splitLines is the naive reference: a line ends after each '\n'; a final
// run of bytes without one is a line if it is not empty.
func splitLines(b []byte) [][]byte { return testkit.Lines(b) }

var (
	writeFile = testkit.WriteFile
	waitFor   = testkit.WaitFor
)

// numbered returns n lines "name:i:xxx\n" of varying lengths, so that a
// line from another file or another place shows.
func numbered(name string, n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		b.WriteString(numberedLine(name, i))
	}
	return b.Bytes()
}

// numberedLine is line i of numbered(name, ...).
func numberedLine(name string, i int) string {
	return fmt.Sprintf("%s:%d:%s\n", name, i, strings.Repeat("x", (i*7)%61))
}

// failures counts the failures that goroutines under load find, and keeps
// the first few of them to report: a test must not print a million lines.
type failures struct {
	n    atomic.Int64
	mu   sync.Mutex
	kept []string
	most int
}

// add counts a failure and keeps its text if fewer than most are kept.
func (f *failures) add(format string, args ...any) {
	f.n.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.kept) < max(f.most, 10) {
		f.kept = append(f.kept, fmt.Sprintf(format, args...))
	}
}

// report fails t with each failure kept, and says how many were not.
func (f *failures) report(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.kept {
		t.Error(s)
	}
	if n := f.n.Load(); n > int64(len(f.kept)) {
		t.Errorf("... and %d more", n-int64(len(f.kept)))
	}
}

// cpu returns the CPU time the child has used so far, user and system,
// from /proc/PID/stat (in clock ticks of 10 ms).
func (p *linedProc) cpu() time.Duration {
	p.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		p.t.Fatal(err)
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
