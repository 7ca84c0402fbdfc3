// Package server is lined's HTTP side: it serves GET /lines/N from one file
// through its sparse index (package lineindex), keeps the index in step
// with the file, and stops without failing a request it accepted.
//
// # State
//
// What a request needs — the open file, its index and the values derived
// from them, such as the ETag prefix — is one immutable generation,
// published through an atomic pointer. Requests load it and never lock;
// a new generation replaces the old one whole when the file has been
// (re)indexed. Each generation counts the requests using its file, and the
// file is closed when the last of them is done, so a generation can be
// retired while a long line is still streaming from it.
//
// # Loading and watching
//
// Run listens first and loads in the background, through lineindex.Load: a
// valid saved index is used at once; otherwise the file is indexed, with
// progress on /readyz and in the log, and the index saved for next time.
// Until then /lines/N answers 503 with Retry-After.
//
// Every read of the file goes through a lineindex.Source, which checks the
// file's status after it (one fstat): a line read from a changed file is
// never answered, and a long line that changes while it streams is cut.
// The watcher (watch.go) stats the path every second, and at once after a
// 413 or a line that did not match; check decides what changed, and the
// watcher marks the generation stale (503) and loads the file again: from
// the path, or through the open descriptor when the path is gone. The
// behaviour as users see it is in docs/operations.md.
//
// # Stopping
//
// http.Server.Shutdown alone closes keep-alive connections it sees as idle,
// and drops requests that clients had already sent on them. Run does
// better: when its context ends it closes the listener, answers every
// further response with "Connection: close", waits up to Config.Drain for
// the open connections to finish and close, and only then calls Shutdown
// for what is left, within Config.ShutdownTimeout.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lined/lined/internal/lineindex"
)

// Config tunes a Server. Zero durations take the defaults shown.
type Config struct {
	// Open opens a file again when it changed; nil means os.Open.
	Open func(name string) (*os.File, error)
	// CacheControl is the Cache-Control of line responses; empty: none.
	CacheControl string
	// AccessLog logs one line per request.
	AccessLog bool
	Logger    *slog.Logger // nil: slog.Default()

	ShutdownTimeout time.Duration // 10s: the whole stop, drain included
	Drain           time.Duration // 1s: grace for open connections, see the package doc
	CheckInterval   time.Duration // 1s: how often the file is stat'ed
	// Settle is how long the file must be left alone before it is
	// indexed (lineindex.BuildOptions.Settle); 0: lineindex.DefaultSettle.
	Settle            time.Duration
	ReadHeaderTimeout time.Duration // 5s
	ReadTimeout       time.Duration // 10s
	IdleTimeout       time.Duration // 60s
	// WriteTimeout bounds writing a response; a line longer than a buffer
	// gets it anew before each write, so a slow client that keeps reading
	// can take a huge line, and one that stops is cut.
	WriteTimeout   time.Duration // 30s
	MaxHeaderBytes int           // 8 KiB; net/http answers 431 beyond it
	// MaxRange is the most lines one request N-M may ask for; wider is
	// 400. 0: DefaultMaxRange.
	MaxRange int64
	// BlockCache is how many bytes of decompressed text the compressed
	// files keep, all together (see lineindex.BlockCache): 0 means
	// DefaultBlockCache, less than one block none.
	BlockCache int64
}

// DefaultMaxRange is Config.MaxRange's default.
const DefaultMaxRange = 10_000

// DefaultBlockCache is Config.BlockCache's default.
const DefaultBlockCache = 8 << 20

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ShutdownTimeout, 10*time.Second)
	def(&c.Drain, time.Second)
	def(&c.CheckInterval, time.Second)
	def(&c.ReadHeaderTimeout, 5*time.Second)
	def(&c.ReadTimeout, 10*time.Second)
	def(&c.IdleTimeout, 60*time.Second)
	def(&c.WriteTimeout, 30*time.Second)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 8 << 10
	}
	if c.MaxRange == 0 {
		c.MaxRange = DefaultMaxRange
	}
	if c.BlockCache == 0 {
		c.BlockCache = DefaultBlockCache
	}
	if c.Open == nil {
		c.Open = os.Open
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Drain = min(c.Drain, c.ShutdownTimeout)
}

// File is one file to serve.
type File struct {
	// Path is the file's path as the user gave it: logged, never shown to
	// clients. Its base name names the file in /files/NAME/.
	Path string
	// IndexPaths are where its index is looked for and saved, in order
	// (lineindex.Locations, or the user's --index).
	IndexPaths []string
	// F is the file, opened from Path; the server owns it from New on.
	F *os.File
}

// Server serves one or more files over HTTP. Create it with New, then
// call Run.
type Server struct {
	cfg          Config
	log          *slog.Logger
	cacheControl []string // header value, nil for none
	metrics      *metrics
	date         dateCache
	cache        *lineindex.BlockCache // nil: none
	files        []*file               // in the order given
	byName       map[string]*file      // by base name

	addr     string      // where Run listens, for the log
	draining atomic.Bool // stopping: Connection: close, /readyz 503
	conns    atomic.Int64
}

// file is one served file: its current generation, the watcher that keeps
// it indexed, and what /readyz tells of it. Each file is loaded, watched and
// indexed on its own, so that one file's trouble never holds up another's
// answers.
type file struct {
	srv        *Server
	cfg        *Config // the server's
	log        *slog.Logger
	metrics    fileMetrics
	name       string // base name: /files/NAME/
	path       string // as the user gave it
	indexPaths []string

	first    *os.File // the file New was given, until Run hands it to the watcher
	cur      atomic.Pointer[generation]
	kick     chan struct{} // wakes the watcher early
	building atomic.Bool   // an index build is running
	failed   atomic.Bool   // the last load failed (the log says why), and none has succeeded since
	progress struct {
		done, total atomic.Int64
		settling    atomic.Bool // waiting for the file to settle first
	}

	decompressed lineindex.DecompressStats // of its compressed text, by every generation

	saved time.Time // when the watcher last saved an extended index
	notes *notes    // what inotify says of the file; set by Run unless set

	// beforeBuild, if set by a test, runs before an index build starts.
	beforeBuild func()
}

// New returns a server for files, each already opened; the server owns
// them from now on (and closes them if New fails). Two files with the same
// base name are refused: /files/NAME/ could not tell them apart.
func New(cfg Config, files []File) (_ *Server, err error) {
	defer func() {
		if err != nil {
			for _, f := range files {
				if f.F != nil {
					f.F.Close()
				}
			}
		}
	}()
	cfg.setDefaults()
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		byName: map[string]*file{},
	}
	if cfg.CacheControl != "" {
		s.cacheControl = []string{cfg.CacheControl}
	}
	cache, err := lineindex.NewBlockCache(cfg.BlockCache)
	if err != nil {
		return nil, fmt.Errorf("cannot make a block cache of %s: %v", lineindex.SizeString(cfg.BlockCache), err)
	}
	s.cache = cache
	for _, f := range files {
		name := filepath.Base(f.Path)
		if other, ok := s.byName[name]; ok {
			return nil, fmt.Errorf("%s and %s have the same base name %q: serve one of them under another name (a link)", other.path, f.Path, name)
		}
		fl := &file{
			srv: s, cfg: &s.cfg, log: s.log, name: name, path: f.Path, indexPaths: f.IndexPaths,
			first: f.F, kick: make(chan struct{}, 1),
		}
		s.files = append(s.files, fl)
		s.byName[name] = fl
	}
	s.metrics = newMetrics(s)
	return s, nil
}

// Run serves HTTP on ln and keeps the file indexed until ctx ends, then
// stops gracefully (see the package documentation) and returns nil. It
// returns an error only if serving failed for another reason.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	s.addr = ln.Addr().String()
	names := make([]string, len(s.files))
	for i, f := range s.files {
		names[i] = f.path
	}
	s.log.Info("listening", "addr", s.addr, "file", strings.Join(names, ","))

	bg, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, f := range s.files {
		first := f.first
		f.first = nil
		if f.notes == nil { // a test may have set none
			f.notes = f.startNotes(bg) // before the first load, which takes a mark
		}
		wg.Go(func() { f.watch(bg, first) })
	}

	srv := s.httpServer()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var err error
	select {
	case err = <-served:
		srv.Close()
	case <-ctx.Done():
		cancel()
		s.stop(srv, ln)
		if serr := <-served; !errors.Is(serr, net.ErrClosed) && !errors.Is(serr, http.ErrServerClosed) {
			err = serr
		}
	}
	cancel()
	wg.Wait()
	for _, f := range s.files {
		if g := f.cur.Swap(nil); g != nil {
			g.release()
		}
	}
	return err
}

// httpServer is the hardened http.Server: bounded header and request read
// times, idle connections closed after a while, small headers, and a write
// timeout that long lines extend as they stream.
func (s *Server) httpServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ConnState:         s.connState,
	}
}

func (s *Server) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		s.conns.Add(-1)
	}
}

// stop closes the listener, lets open connections finish their current
// request and close (each response now says Connection: close), then shuts
// the server down within what is left of the shutdown timeout.
func (s *Server) stop(srv *http.Server, ln net.Listener) {
	start := time.Now()
	deadline := start.Add(s.cfg.ShutdownTimeout)
	s.log.Info("stopping", "connections", s.conns.Load(), "drain", s.cfg.Drain, "timeout", s.cfg.ShutdownTimeout)
	s.draining.Store(true)
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Warn("closing the listener", "err", err)
	}
	for drainEnd := start.Add(s.cfg.Drain); s.conns.Load() > 0 && time.Now().Before(drainEnd); {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Warn("shutdown timeout: closing the remaining connections", "connections", s.conns.Load(), "err", err)
		srv.Close()
	}
	s.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
}
