package lined

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/lined/lined/internal/command"
	"github.com/urfave/cli/v2"
)

// runLined runs lined's command line in-process for the cases that end by
// themselves (errors and --probe) and returns its status and stderr.
func runLined(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	code := command.Run(App(), append([]string{"lined"}, args...), &stderr)
	return code, stderr.String()
}

func TestLinedUsageErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	os.WriteFile(file, []byte("a\n"), 0o644)
	tests := []struct {
		args []string
		env  map[string]string
		msg  string
	}{
		{nil, nil, "no file to serve: use --file FILE"},
		{[]string{file}, nil, `unexpected argument`},
		{[]string{"--file", file, "--log-format", "xml"}, nil, `--log-format must be text or json, not "xml"`},
		{[]string{"--file", file, "--workers", "-1"}, nil, "--workers must be 0"},
		{[]string{"--file", file, "--addr", "nonsense"}, nil, `invalid address "nonsense"`},
		{[]string{"--file", file, "--addr", ":99999"}, nil, `invalid port "99999"`},
		{[]string{"--file", file}, map[string]string{"APP_PORT": "http"}, `invalid port "http" in address ":http"`},
		{[]string{"--file", file, "--shutdown-timeout", "0s"}, nil, "--shutdown-timeout must be positive"},
		{[]string{"--file", file, "--read-header-timeout", "0s"}, nil, "--read-header-timeout must be positive"},
		{[]string{"--file", file, "--cache-control", "a\r\nX-Evil: 1"}, nil, "--cache-control must be one line"},
		{[]string{"--file", file, "--max-range", "0"}, nil, "--max-range must be 1 or more, not 0"},
		{[]string{"--file", file}, map[string]string{"LINED_MAX_RANGE": "-5"}, "--max-range must be 1 or more, not -5"},
		{[]string{"--file", file, "--block-cache", "8MB"}, nil, `--block-cache: "8MB" is not a size`},
		{[]string{"--file", file}, map[string]string{"LINED_BLOCK_CACHE": "-1"}, `--block-cache: "-1" is not a size`},
		{[]string{"--file", file, "--block-cache", "1000"}, nil, "--block-cache must be 0 (none) or at least 64K, not 1000"},
		{[]string{"--file", file, "--no-such-flag"}, nil, "flag provided but not defined"},
	}
	for _, tt := range tests {
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		code, stderr := runLined(t, tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.msg) || !strings.HasPrefix(stderr, "lined: ") {
			t.Errorf("lined %q: status %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.msg)
		}
		for k := range tt.env {
			os.Unsetenv(k)
		}
	}
}

// Failing to start (the file, the port) exits 1 with a one-line message.
func TestLinedStartFailures(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	os.WriteFile(file, []byte("a\n"), 0o644)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"--file", filepath.Join(dir, "missing.txt"), "--addr", "127.0.0.1:0"}, "lined: " + filepath.Join(dir, "missing.txt") + ": no such file\n"},
		{[]string{"--file", dir, "--addr", "127.0.0.1:0"}, "lined: " + dir + ": is a directory\n"},
		{[]string{"--file", file, "--addr", busy.Addr().String()}, "lined: cannot listen on " + busy.Addr().String() + ": address already in use\n"},
	}
	if os.Geteuid() != 0 { // root reads anything
		unreadable := filepath.Join(dir, "secret.txt")
		os.WriteFile(unreadable, []byte("a\n"), 0o000)
		tests = append(tests, struct {
			args []string
			msg  string
		}{[]string{"--file", unreadable, "--addr", "127.0.0.1:0"}, "lined: " + unreadable + ": permission denied\n"})
	}
	for _, tt := range tests {
		code, stderr := runLined(t, tt.args...)
		if code != 1 || stderr != tt.msg {
			t.Errorf("lined %q: status %d, stderr %q; want 1 and %q", tt.args, code, stderr, tt.msg)
		}
	}
}

// --probe exits 0 when /healthz answers 200 on the port, 1 otherwise.
func TestLinedProbe(t *testing.T) {
	var status = http.StatusOK
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(404)
			return
		}
		w.WriteHeader(status)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	if code, stderr := runLined(t, "--probe", "--addr", ":"+port); code != 0 || stderr != "" {
		t.Errorf("probe of a healthy server: %d %q", code, stderr)
	}
	t.Setenv("APP_PORT", port)
	if code, stderr := runLined(t, "--probe"); code != 0 {
		t.Errorf("probe with APP_PORT: %d %q", code, stderr)
	}
	status = http.StatusServiceUnavailable
	if code, stderr := runLined(t, "--probe"); code != 1 || !strings.Contains(stderr, "503 Service Unavailable") {
		t.Errorf("probe of an unhealthy server: %d %q", code, stderr)
	}
	srv.Close()
	if code, stderr := runLined(t, "-probe", "-addr", "127.0.0.1:"+port); code != 1 || !strings.Contains(stderr, "connection refused") {
		t.Errorf("probe of nothing: %d %q", code, stderr)
	}
}

func TestListenAddr(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		appPort string
		want    string
	}{
		{nil, "", ":8000"},
		{nil, "9090", ":9090"},
		{[]string{"--addr", "127.0.0.1:7000"}, "9090", "127.0.0.1:7000"},
		{[]string{"-addr", "[::1]:7000"}, "", "[::1]:7000"},
	} {
		t.Setenv("APP_PORT", tt.appPort)
		var got string
		app := App()
		app.Action = func(c *cli.Context) error {
			var err error
			got, err = listenAddr(c)
			return err
		}
		if code := command.Run(app, append([]string{"lined"}, tt.args...), &bytes.Buffer{}); code != 0 || got != tt.want {
			t.Errorf("%q with APP_PORT=%q: %q (status %d), want %q", tt.args, tt.appPort, got, code, tt.want)
		}
	}
}

func TestNewLogger(t *testing.T) {
	var b bytes.Buffer
	log, err := newLogger(&b, "json")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello", "n", 1, "took", 497*time.Microsecond)
	if !strings.HasPrefix(b.String(), `{"time":`) || !strings.Contains(b.String(), `"msg":"hello","n":1,"took":"497µs"}`) {
		t.Errorf("json log: %q; want durations with their unit", b.String())
	}
	b.Reset()
	log, _ = newLogger(&b, "text")
	log.LogAttrs(context.Background(), slog.LevelWarn, "careful", slog.Duration("took", 1500*time.Millisecond))
	if !strings.Contains(b.String(), "level=WARN msg=careful took=1.5s") {
		t.Errorf("text log: %q", b.String())
	}
}

// lined sets its GC defaults unless the environment sets Go's own.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	tuneGC(true)
	if got := debug.SetGCPercent(100); got != compressedGCPercent {
		t.Errorf("serving a compressed file: GC percent %d, want %d", got, compressedGCPercent)
	}
	tuneGC(false)
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("GC percent %d, want %d", got, defaultGCPercent)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != defaultMemoryLimit {
		t.Errorf("memory limit %d, want %d", got, defaultMemoryLimit)
	}

	// The runtime read these at start; lined must leave them alone.
	t.Setenv("GOGC", "50")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetGCPercent(50)
	debug.SetMemoryLimit(1 << 30)
	tuneGC(true)
	if got := debug.SetGCPercent(100); got != 50 {
		t.Errorf("with GOGC=50: GC percent %d", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != 1<<30 {
		t.Errorf("with GOMEMLIMIT=1GiB: memory limit %d", got)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "512": 512, "512B": 512, "64K": 64 << 10, "64kib": 64 << 10, "8M": 8 << 20, "8 MiB": 8 << 20,
		"1G": 1 << 30, "1GiB": 1 << 30, "8589934591G": 8589934591 << 30,
	} {
		if got, err := parseSize(in); got != want || err != nil {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "8MB", "8 KB", "1.5M", "-1", "0x10", "8T", "8589934592G", "K8"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}
