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
	"strings"
	"sync/atomic"
	"time"

	"github.com/lined/lined/internal/lineindex"
)

// generation is one loaded state of the file: the open file, the index that
// describes it, and what responses derive from them. Only its flags and its
// reference count change once it is published.
type generation struct {
	f       *os.File
	src     *lineindex.Source // f, read as ix's version: every read checked
	ix      *lineindex.Index
	index   string // where the index came from or went to; "" if in memory only
	size    int64  // of the file as indexed
	modTime int64  // of the file as indexed, Unix nanoseconds
	lines   int64
	etag    string // `"tag-`: line N's ETag is etag + N + `"`
	about   string // the body of GET /

	refs  atomic.Int64 // requests using f and ix, plus one while current; both close at 0
	stale atomic.Bool  // f is known to differ from ix: no line is served from it
	// indexChanged: ix's own file was truncated or overwritten in place
	// (its body is a mapping of that file); the file f may be unchanged,
	// so a saved index may still do.
	indexChanged atomic.Bool

	goneWarned bool // the watcher said the path is gone (watcher only)
}

func newGeneration(f *os.File, ix *lineindex.Index, index string) *generation {
	// The Source keeps f's descriptor number: f is closed only when the
	// last request using this generation releases it, so the number cannot
	// name another file while a request reads through it.
	g := &generation{
		f: f, src: ix.Source(f), ix: ix, index: index,
		size: ix.Size(), modTime: ix.ModTime().UnixNano(), lines: ix.Lines(),
	}
	// The ETag changes with any change of the file the index notices: its
	// content checksum covers every byte, where the fingerprint samples.
	h := sha256.New()
	fp := ix.Fingerprint()
	h.Write(fp[:])
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(g.size)))
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(g.modTime)))
	h.Write(binary.LittleEndian.AppendUint32(nil, ix.ContentChecksum()))
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
		g.ix.Close() // unmaps it: no request is using it any more
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
	if err := s.load(ctx, first, nil, true); err != nil {
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
		reason, how := s.check()
		if reason == "" {
			continue
		}
		if lastErr == "" {
			s.log.Info("loading the file again", "file", s.cfg.File, "reason", reason)
		}
		if err := s.reload(ctx, how); err != nil {
			fail(err)
			continue
		}
		lastErr = ""
	}
}

// reloadHow says how the watcher loads the file again.
type reloadHow int

const (
	fromPath      reloadHow = iota // open the path again; a saved index may do
	fromPathAnew                   // open the path again and index it anew
	fromOpenAgain                  // index the open file anew (its path is gone); save nothing
)

// check compares the current generation with the file and says why it must
// be loaded again, if it must, and how.
func (s *Server) check() (reason string, how reloadHow) {
	g := s.cur.Load()
	if g == nil {
		return "not loaded yet", fromPath
	}
	open, oerr := g.f.Stat()
	path, perr := os.Stat(s.cfg.File)
	switch {
	case oerr != nil:
		g.stale.Store(true)
		return "cannot stat the open file: " + oerr.Error(), fromPath
	case !g.src.Unchanged():
		g.stale.Store(true)
		if open.Size() == g.size && open.ModTime().UnixNano() == g.modTime {
			// Only the status change time moved: a rename, a link or
			// unlink, new permissions, or a rewrite that kept the size and
			// put the modification time back. The content must be read
			// again: through the path, or the open file if none leads to it.
			const why = "the file's status changed (renamed, linked, deleted, chmod, or rewritten keeping its size and modification time)"
			switch {
			case perr != nil:
				return why + " and its path is gone: indexing the open file again", fromOpenAgain
			case !os.SameFile(open, path):
				return "the path names another file now", fromPath
			}
			return why, fromPath
		}
		if perr != nil {
			return "the file changed and its path is gone", fromPath
		}
		return fmt.Sprintf("the file changed: %d bytes modified at %s, indexed %d bytes modified at %s",
			open.Size(), open.ModTime().UTC().Format(time.RFC3339Nano), g.size, time.Unix(0, g.modTime).UTC().Format(time.RFC3339Nano)), fromPath
	case g.stale.Load() && g.indexChanged.Load():
		return "the index file was changed in place", fromPath
	case g.stale.Load():
		return "a line read from the file did not match the index", fromPathAnew
	case perr != nil:
		if !g.goneWarned {
			g.goneWarned = true
			s.log.Warn("the file's path is gone; serving the file still open while it does not change", "file", s.cfg.File, "err", perr)
		}
		return "", fromPath
	case !os.SameFile(open, path):
		// The old file is still consistent with its index: it is served
		// until the new one is ready.
		return "the path names another file now", fromPath
	}
	return "", fromPath
}

// reload loads the file again, as how says.
func (s *Server) reload(ctx context.Context, how reloadHow) error {
	if how == fromOpenAgain {
		return s.reloadOpen(ctx)
	}
	f, err := s.cfg.Open(s.cfg.File)
	if err != nil {
		return err
	}
	var distrust error
	if how == fromPathAnew {
		distrust = errors.New("the file no longer matched its index")
	}
	if err := s.load(ctx, f, distrust, true); err != nil {
		f.Close()
		return err
	}
	return nil
}

// reloadOpen indexes the current generation's file anew, through a
// duplicate of its descriptor: its path is gone, and its status changed.
// The index is not saved: no path names the file any more.
func (s *Server) reloadOpen(ctx context.Context) error {
	g := s.acquire()
	if g == nil {
		return errors.New("no file open")
	}
	f, err := dupFile(g.f)
	g.release()
	if err != nil {
		return err
	}
	if err := s.load(ctx, f, errors.New("its status changed and its path is gone"), false); err != nil {
		f.Close()
		return err
	}
	if g := s.cur.Load(); g != nil && !g.goneWarned {
		g.goneWarned = true
		s.log.Warn("the file's path is gone; serving the file still open while it does not change", "file", s.cfg.File)
	}
	return nil
}

// load makes f current with a valid index: a saved one, unless distrust
// says why not to look, or a new one, built and saved if save.
func (s *Server) load(ctx context.Context, f *os.File, distrust error, save bool) error {
	start := time.Now()
	lastLog := start
	defer s.building.Store(false)
	l, err := lineindex.Load(ctx, f, lineindex.LoadOptions{
		Paths:   s.cfg.IndexPaths,
		Rebuild: distrust,
		NoSave:  !save,
		Build: lineindex.BuildOptions{
			Settle: s.cfg.Settle,
			Settling: func(wait time.Duration) {
				s.progress.settling.Store(true)
				s.log.Info("waiting for the file to settle", "file", s.cfg.File, "wait", wait.Round(time.Millisecond))
			},
			Progress: func(done, total int64) {
				s.progress.settling.Store(false)
				s.progress.done.Store(done)
				s.progress.total.Store(total)
				if now := time.Now(); now.Sub(lastLog) >= time.Second {
					lastLog = now
					s.log.Info("indexing", "file", s.cfg.File, "progress", s.progressText())
				}
			},
		},
		OnBuild: func(why error) {
			reason := "no index yet"
			if !errors.Is(why, lineindex.ErrNoIndex) {
				reason = why.Error()
			}
			s.log.Info("indexing", "file", s.cfg.File, "reason", reason)
			s.progress.done.Store(0)
			s.progress.settling.Store(false)
			if fi, err := f.Stat(); err == nil {
				s.progress.total.Store(fi.Size())
			}
			s.building.Store(true)
			if s.beforeBuild != nil {
				s.beforeBuild()
			}
		},
	})
	if err != nil {
		return fmt.Errorf("indexing: %w", err)
	}
	ix := l.Index
	if l.Built {
		s.metrics.built(l.Took)
		switch {
		case l.SaveErr != nil && save:
			s.log.Warn("index not saved, serving it from memory; it will be built again at the next start", "file", s.cfg.File, "err", strings.ReplaceAll(l.SaveErr.Error(), "\n", "; "))
		case l.Passed != nil:
			s.log.Info("index saved in the next place", "file", s.cfg.File, "index", l.Path, "passed", strings.ReplaceAll(l.Passed.Error(), "\n", "; "))
		}
		s.log.Info("indexed", "file", s.cfg.File, "lines", ix.Lines(), "bytes", ix.Size(),
			"took", l.Took.Round(time.Millisecond), "index", cmp.Or(l.Path, "(memory only)"))
	}
	s.install(newGeneration(f, ix, l.Path))
	s.log.Info("serving", "file", s.cfg.File, "lines", ix.Lines(), "bytes", ix.Size(),
		"index", cmp.Or(l.Path, "(memory only)"), "addr", s.addr, "took", time.Since(start).Round(time.Microsecond))
	return nil
}

// progressText says how far the running index build is.
func (s *Server) progressText() string {
	if s.progress.settling.Load() {
		return "waiting for the file to settle: it changed moments ago"
	}
	done, total := s.progress.done.Load(), s.progress.total.Load()
	pct := int64(100)
	if total > 0 {
		pct = done * 100 / total
	}
	return fmt.Sprintf("indexing: %d%% (%.1f of %.1f MiB)", pct, float64(done)/(1<<20), float64(total)/(1<<20))
}
