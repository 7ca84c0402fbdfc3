// Package lined is the lined command line: flags and environment, logging,
// signals and exit statuses. The server itself is package server. It lives
// apart from mkindex and getline so that they do not link the server.
package lined

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lined/lined/internal/command"
	"github.com/lined/lined/internal/lineindex"
	"github.com/lined/lined/internal/server"
	"github.com/urfave/cli/v2"
)

// App is the lined command line: flags and environment, logging, signals
// and exit statuses. The server itself is package server.
func App() *cli.App {
	return &cli.App{
		Name:      "lined",
		Usage:     "serve the lines of a text file over HTTP",
		UsageText: "lined --file FILE [--addr ADDR] [--index PATH] [options]\nlined --probe [--addr ADDR]",
		Description: "Serves GET /lines/N (line N, from 1, exactly as stored) and /lines/N-M (lines N\n" +
			"to M), /healthz, /readyz,\n" +
			"/metrics and / on ADDR. Listens at once; builds FILE's index in the background\n" +
			"if there is no valid one. Stops gracefully on SIGINT or SIGTERM (a second\n" +
			"signal stops it at once).\n" +
			"Every flag but --probe can be set in the environment too (shown in brackets);\n" +
			"APP_PORT sets the port when --addr is not given.\n" +
			"Exit status: 0 after a clean stop, 1 if it cannot start, 2 on usage errors.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "file", Usage: "a text `FILE` to serve; repeat it for several, served at /files/NAME/ [$LINED_FILE: FILE,FILE...]"},
			&cli.StringFlag{Name: "addr", Value: defaultAddr, Usage: "listen on `ADDR` (host:port)", EnvVars: []string{"LINED_ADDR"}},
			command.IndexFlag(),
			command.SettleFlag(),
			&cli.IntFlag{Name: "workers", Usage: "`N` CPUs to use (GOMAXPROCS); 0: all", EnvVars: []string{"LINED_WORKERS", "NUM_OF_WORKERS"}},
			&cli.Int64Flag{Name: "max-range", Value: server.DefaultMaxRange, Usage: "the most lines one request /lines/N-M may ask for (`N`); wider is 400", EnvVars: []string{"LINED_MAX_RANGE"}},
			&cli.StringFlag{Name: "block-cache", Value: "8MiB", Usage: "keep up to `SIZE` (bytes, or with K, M or G: 64K, 8MiB) of compressed files' decompressed text in memory for nearby reads; 0: none", EnvVars: []string{"LINED_BLOCK_CACHE"}},
			&cli.StringFlag{Name: "cache-control", Value: "public, max-age=60", Usage: "Cache-Control `VALUE` of line responses; empty for none", EnvVars: []string{"LINED_CACHE_CONTROL"}},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: 10 * time.Second, Usage: "on SIGINT/SIGTERM, give in-flight requests at most `DURATION`", EnvVars: []string{"LINED_SHUTDOWN_TIMEOUT"}},
			&cli.DurationFlag{Name: "drain", Value: time.Second, Usage: "on SIGINT/SIGTERM, first let open connections finish and close for up to `DURATION` (within the shutdown timeout)", EnvVars: []string{"LINED_DRAIN"}},
			&cli.DurationFlag{Name: "read-header-timeout", Value: 5 * time.Second, Usage: "close a connection whose request headers take longer than `DURATION` to arrive (slow clients)", EnvVars: []string{"LINED_READ_HEADER_TIMEOUT"}},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log `FORMAT` on stderr: text or json", EnvVars: []string{"LINED_LOG_FORMAT"}},
			&cli.BoolFlag{Name: "access-log", Usage: "log every request", EnvVars: []string{"LINED_ACCESS_LOG"}},
			&cli.BoolFlag{Name: "probe", Usage: "request /healthz of the lined on ADDR's port and exit 0 if it answers 200, else 1 (for container health checks)"},
		},
		Action: linedAction,
		// A comma is a file name's byte on the command line; only
		// LINED_FILE separates files with commas (see filePaths).
		DisableSliceFlagSeparator: true,
	}
}

// filePaths are the paths --file names, or else LINED_FILE's.
func filePaths(c *cli.Context) []string {
	if c.IsSet("file") {
		return slices.DeleteFunc(c.StringSlice("file"), func(n string) bool { return n == "" })
	}
	return command.EnvFiles()
}

func linedAction(c *cli.Context) error {
	addr, err := listenAddr(c)
	if err != nil {
		return err
	}
	if c.Bool("probe") {
		return probe(addr)
	}
	names := filePaths(c)
	switch {
	case c.NArg() > 0:
		return command.UsageError("unexpected argument %q (the file is given with --file)", c.Args().First())
	case len(names) == 0:
		return command.UsageError("no file to serve: use --file FILE (or LINED_FILE)")
	case c.Int("workers") < 0:
		return command.UsageError("--workers must be 0 (all CPUs) or more, not %d", c.Int("workers"))
	case c.Duration("shutdown-timeout") <= 0 || c.Duration("drain") < 0:
		return command.UsageError("--shutdown-timeout must be positive and --drain not negative")
	case c.Int64("max-range") < 1:
		return command.UsageError("--max-range must be 1 or more, not %d", c.Int64("max-range"))
	case c.Duration("read-header-timeout") <= 0:
		return command.UsageError("--read-header-timeout must be positive")
	case strings.ContainsAny(c.String("cache-control"), "\r\n"):
		return command.UsageError("--cache-control must be one line")
	}
	blockCache, err := parseSize(c.String("block-cache"))
	switch {
	case err != nil:
		return command.UsageError("--block-cache: %v", err)
	case blockCache == 0:
		blockCache = -1 // none
	case blockCache < minBlockCache:
		return command.UsageError("--block-cache must be 0 (none) or at least 64K, not %s", c.String("block-cache"))
	}
	log, err := newLogger(c.App.ErrWriter, c.String("log-format"))
	if err != nil {
		return err
	}
	if n := c.Int("workers"); n > 0 {
		runtime.GOMAXPROCS(n)
	}

	if len(names) > 1 && c.String("index") != "" {
		return command.UsageError("--index names one index file: with several files, each has its own (FILE.idx, else the cache)")
	}
	files := make([]server.File, 0, len(names))
	closeAll := func() {
		for _, f := range files {
			f.F.Close()
		}
	}
	for _, name := range names {
		f, err := command.OpenSource(name)
		if err != nil {
			closeAll()
			return err
		}
		files = append(files, server.File{Path: name, IndexPaths: command.IndexPaths(c, name), F: f})
	}
	tuneGC(slices.ContainsFunc(files, func(f server.File) bool { return lineindex.Compressed(f.F) }))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		closeAll()
		return fmt.Errorf("cannot listen on %s: %v", addr, syscallReason(err))
	}
	srv, err := server.New(server.Config{
		Open:            command.OpenSource,
		Settle:          command.Settle(c),
		CacheControl:    c.String("cache-control"),
		MaxRange:        c.Int64("max-range"),
		BlockCache:      blockCache,
		AccessLog:       c.Bool("access-log"),
		Logger:          log,
		ShutdownTimeout: c.Duration("shutdown-timeout"),
		Drain:           c.Duration("drain"),

		ReadHeaderTimeout: c.Duration("read-header-timeout"),
	}, files)
	if err != nil {
		ln.Close()
		return command.UsageError("%v", err)
	}
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; !ok {
			return
		}
		cancel() // the first signal stops gracefully
		// A second ends the process at once. Not by restoring the default
		// action: a process started in the background by a shell script
		// inherits SIGINT ignored, and would ignore it again.
		if sig, ok := <-sigs; ok {
			log.Warn("second signal: stopping at once", "signal", sig.String())
			os.Exit(1)
		}
	}()
	if err := srv.Run(ctx, ln); err != nil {
		return fmt.Errorf("serving: %v", err)
	}
	return nil
}

// GC defaults, used unless GOGC or GOMEMLIMIT are set in the environment.
// lined's live heap is a few MiB (the index body is mapped, not on the
// heap), while every request makes a few KiB of short-lived garbage in
// net/http. With Go's default GOGC=100 the collector then runs dozens of
// times a second and takes about a sixth of the CPU under load; at 400 it
// takes a quarter of that, for some 12 MiB more heap at 100 connections
// (35 MiB more at 1,000). The memory limit keeps the heap in check when
// thousands of connections make the live heap large (about 19 KiB each:
// net/http's two buffers and the goroutine's stack): the collector then
// runs as often as it must to stay under it, and never less often than
// GOGC says. At 10,000 connections the live heap is about 180 MiB: a
// limit just above it (192 MiB) made the collector run all the time, 24
// collections and 60% more CPU for 20,000 requests than with room to
// spare; 224 MiB leaves that room (3 collections) and keeps the resident
// size (the limit, plus the binary's pages) within 256 MiB.
//
// A compressed file changes the trade: each request decompresses for
// milliseconds, next to which collection costs little, while each decoder
// holds its window (a zstd one several MiB), a live heap that 400 would
// multiply by five. lined serving one keeps Go's default of 100.
const (
	defaultGCPercent    = 400
	compressedGCPercent = 100
	defaultMemoryLimit  = 224 << 20
)

// tuneGC sets the GC defaults, for a server of compressed files or not.
func tuneGC(compressed bool) {
	if os.Getenv("GOGC") == "" {
		pct := defaultGCPercent
		if compressed {
			pct = compressedGCPercent
		}
		debug.SetGCPercent(pct)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

const defaultAddr = ":8000"

// minBlockCache is the least cache there is: one block.
const minBlockCache = 64 << 10

// parseSize parses a byte count, perhaps with a binary unit: 512, 64K,
// 64KiB, 8M, 8MiB, 1G, 1GiB (any case).
func parseSize(s string) (int64, error) {
	num := strings.TrimRight(s, "KMGiBkmgb")
	unit := strings.ToUpper(strings.TrimSpace(s[len(num):]))
	shift, ok := map[string]uint{"": 0, "B": 0, "K": 10, "KIB": 10, "M": 20, "MIB": 20, "G": 30, "GIB": 30}[unit]
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if !ok || err != nil || n < 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q is not a size: give bytes, or a whole number with K, M or G (64K, 8MiB, 1G)", s)
	}
	return n << shift, nil
}

// listenAddr is --addr, or ":$APP_PORT" when --addr (LINED_ADDR) is not set
// or empty.
func listenAddr(c *cli.Context) (string, error) {
	addr := c.String("addr")
	if !c.IsSet("addr") || addr == "" {
		addr = defaultAddr
		if port := os.Getenv("APP_PORT"); port != "" {
			addr = ":" + port
		}
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", command.UsageError("invalid address %q: want HOST:PORT or :PORT", addr)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (p == 0 && c.Bool("probe")) {
		return "", command.UsageError("invalid port %q in address %q", port, addr)
	}
	return addr, nil
}

func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	// Durations as Go writes them, with their unit ("497µs"), in JSON too,
	// where slog would write a bare count of nanoseconds.
	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindDuration {
			a.Value = slog.StringValue(a.Value.Duration().String())
		}
		return a
	}}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, command.UsageError("--log-format must be text or json, not %q", format)
}

// syscallReason strips "listen tcp ADDR: bind:" from a listen error.
func syscallReason(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// probeTimeout bounds the whole probe, connection included.
const probeTimeout = 2 * time.Second

// probe requests /healthz from the lined listening on addr: on its host, or
// on 127.0.0.1 if it listens on all addresses.
func probe(addr string) error {
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/healthz"
	client := &http.Client{Timeout: probeTimeout, Transport: &http.Transport{}} // no proxy
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %s: %v", url, syscallReason(err))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: %s: %s", url, resp.Status)
	}
	return nil
}
