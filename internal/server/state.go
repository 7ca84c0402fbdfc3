package server

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lined/lined/internal/lineindex"
)

// generation is one loaded state of the file: the open file, the index that
// describes it, and what responses derive from them. Only its flags and its
// reference count change once it is published.
type generation struct {
	f       *os.File
	fd      int // of f, for the per-request fstat
	ix      *lineindex.Index
	index   string // where the index came from or went to; "" if in memory only
	size    int64  // of the file as indexed
	modTime int64  // of the file as indexed, Unix nanoseconds
	lines   int64
	etag    string // `"tag-`: line N's ETag is etag + N + `"`
	about   string // the body of GET /

	refs  atomic.Int64 // requests using f, plus one while current; f closes at 0
	stale atomic.Bool  // f is known to differ from ix: no line is served from it

	goneWarned bool // the watcher said the path is gone (watcher only)
}

func newGeneration(f *os.File, ix *lineindex.Index, index string) *generation {
	g := &generation{
		f: f, fd: int(f.Fd()), ix: ix, index: index,
		size: ix.Size(), modTime: ix.ModTime().UnixNano(), lines: ix.Lines(),
	}
	// The ETag changes with any change of the file the index notices.
	h := sha256.New()
	fp := ix.Fingerprint()
	h.Write(fp[:])
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(g.size)))
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(g.modTime)))
	g.etag = `"` + hex.EncodeToString(h.Sum(nil)[:8]) + "-"
	g.about = fmt.Sprintf(aboutText, fmt.Sprintf("has %d lines (%d bytes)", g.lines, g.size))
	g.refs.Store(1)
	return g
}

const aboutText = `lined serves the lines of one text file over HTTP.

The file %s.

GET /lines/N   line N (from 1), exactly as stored, newline included;
               HEAD too; 400 for a malformed N, 413 beyond the last line,
               503 while the file is being indexed
GET /healthz   200 while the server runs
GET /readyz    200 once the file is indexed, else 503 and the progress
GET /metrics   Prometheus metrics
`

// appendETag appends the ETag of line n to b.
func (g *generation) appendETag(b []byte, n int64) []byte {
	b = append(b, g.etag...)
	b = strconv.AppendInt(b, n, 10)
	return append(b, '"')
}

// acquire takes a reference to the file, unless it is already closed.
func (g *generation) acquire() bool {
	for {
		n := g.refs.Load()
		if n == 0 {
			return false
		}
		if g.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (g *generation) release() {
	if g.refs.Add(-1) == 0 {
		g.f.Close()
	}
}

// acquire returns the current generation with a reference taken, or nil if
// none is loaded yet.
func (s *Server) acquire() *generation {
	for {
		g := s.cur.Load()
		if g == nil || g.acquire() {
			return g
		}
		// Retired between the load and the acquire: a newer one is current.
	}
}

// install makes g current and retires the previous generation.
func (s *Server) install(g *generation) {
	if old := s.cur.Swap(g); old != nil {
		old.release()
	}
	s.metrics.loaded(g)
}

// poke wakes the watcher to check the file now.
func (s *Server) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// minPokeGap spaces the checks that requests ask for (by a 413, say), so
// that a flood of them costs at most a few stats a second.
const minPokeGap = 50 * time.Millisecond

// watch loads first, then keeps the served index in step with the file
// until ctx ends.
func (s *Server) watch(ctx context.Context, first *os.File) {
	// A failure is retried at every check, but logged once until it
	// changes or a load succeeds.
	var lastErr string
	fail := func(err error) {
		if ctx.Err() == nil && err.Error() != lastErr {
			s.log.Error("cannot load the file; will retry", "file", s.cfg.File, "err", err)
		}
		lastErr = err.Error()
	}
	if err := s.load(ctx, first, nil); err != nil {
		first.Close()
		fail(err)
	}
	ticker := time.NewTicker(s.cfg.CheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-s.kick:
			select {
			case <-ctx.Done():
				return
			case <-time.After(minPokeGap):
			}
		}
		reason, force := s.check()
		if reason == "" {
			continue
		}
		if lastErr == "" {
			s.log.Info("loading the file again", "file", s.cfg.File, "reason", reason)
		}
		if err := s.reload(ctx, force); err != nil {
			fail(err)
			continue
		}
		lastErr = ""
	}
}

// check compares the current generation with the file and says why it must
// be loaded again, if it must; force means even a saved index that looks
// valid is not to be trusted.
func (s *Server) check() (reason string, force bool) {
	g := s.cur.Load()
	if g == nil {
		return "not loaded yet", false
	}
	open, oerr := g.f.Stat()
	path, perr := os.Stat(s.cfg.File)
	switch {
	case oerr != nil:
		g.stale.Store(true)
		return "cannot stat the open file: " + oerr.Error(), false
	case !g.statMatches():
		g.stale.Store(true)
		if perr != nil {
			return "the file changed and its path is gone", false
		}
		return fmt.Sprintf("the file changed: %d bytes modified at %s, indexed %d bytes modified at %s",
			open.Size(), open.ModTime().UTC().Format(time.RFC3339Nano), g.size, time.Unix(0, g.modTime).UTC().Format(time.RFC3339Nano)), false
	case g.stale.Load():
		return "a line read from the file did not match the index", true
	case perr != nil:
		if !g.goneWarned {
			g.goneWarned = true
			s.log.Warn("the file's path is gone; serving the file still open while it does not change", "file", s.cfg.File, "err", perr)
		}
		return "", false
	case !os.SameFile(open, path):
		// The old file is still consistent with its index: it is served
		// until the new one is ready.
		return "the path names another file now", false
	}
	return "", false
}

// reload opens the path again and loads it.
func (s *Server) reload(ctx context.Context, force bool) error {
	f, err := s.cfg.Open(s.cfg.File)
	if err != nil {
		return err
	}
	var distrust error
	if force {
		distrust = errors.New("the file no longer matched its index")
	}
	if err := s.load(ctx, f, distrust); err != nil {
		f.Close()
		return err
	}
	return nil
}

// load makes f current with a valid index: a saved one, unless distrust
// says why not to look, or a new one, built and saved.
func (s *Server) load(ctx context.Context, f *os.File, distrust error) error {
	start := time.Now()
	var ix *lineindex.Index
	var path string
	why := distrust
	if why == nil {
		ix, path, why = lineindex.Open(f, s.cfg.IndexPaths)
	}
	if ix == nil {
		var err error
		if ix, path, err = s.build(ctx, f, why); err != nil {
			return err
		}
	}
	s.install(newGeneration(f, ix, path))
	s.log.Info("serving", "file", s.cfg.File, "lines", ix.Lines(), "bytes", ix.Size(),
		"index", cmp.Or(path, "(memory only)"), "addr", s.addr, "took", time.Since(start).Round(time.Microsecond))
	return nil
}

// build indexes f, showing progress on /readyz and in the log, and saves
// the index where it can.
func (s *Server) build(ctx context.Context, f *os.File, why error) (*lineindex.Index, string, error) {
	reason := "no index yet"
	if !errors.Is(why, lineindex.ErrNoIndex) {
		reason = why.Error()
	}
	s.log.Info("indexing", "file", s.cfg.File, "reason", reason)
	s.progress.done.Store(0)
	if fi, err := f.Stat(); err == nil {
		s.progress.total.Store(fi.Size())
	}
	s.building.Store(true)
	defer s.building.Store(false)
	if s.beforeBuild != nil {
		s.beforeBuild()
	}
	start := time.Now()
	lastLog := start
	ix, err := lineindex.Build(ctx, f, lineindex.BuildOptions{Progress: func(done, total int64) {
		s.progress.done.Store(done)
		s.progress.total.Store(total)
		if now := time.Now(); now.Sub(lastLog) >= time.Second {
			lastLog = now
			s.log.Info("indexing", "file", s.cfg.File, "progress", s.progressText())
		}
	}})
	if err != nil {
		return nil, "", fmt.Errorf("indexing: %w", err)
	}
	took := time.Since(start)
	s.metrics.built(took)
	path, err := lineindex.Save(ix, s.cfg.IndexPaths)
	if err != nil {
		s.log.Warn("index not saved, serving it from memory; it will be built again at the next start", "file", s.cfg.File, "err", err)
	}
	s.log.Info("indexed", "file", s.cfg.File, "lines", ix.Lines(), "bytes", ix.Size(),
		"took", took.Round(time.Millisecond), "index", cmp.Or(path, "(memory only)"))
	return ix, path, nil
}

// progressText says how far the running index build is.
func (s *Server) progressText() string {
	done, total := s.progress.done.Load(), s.progress.total.Load()
	pct := int64(100)
	if total > 0 {
		pct = done * 100 / total
	}
	return fmt.Sprintf("indexing: %d%% (%.1f of %.1f MiB)", pct, float64(done)/(1<<20), float64(total)/(1<<20))
}
