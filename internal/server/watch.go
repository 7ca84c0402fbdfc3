package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/lined/lined/internal/lineindex"
)

// poke wakes the watcher to check the file now.
func (s *file) poke() {
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
func (s *file) watch(ctx context.Context, first *os.File) {
	// A failure is retried at every check, but logged once until it
	// changes or a load succeeds.
	var lastErr string
	fail := func(err error) {
		if ctx.Err() == nil && err.Error() != lastErr {
			s.log.Error("cannot load the file; will retry", "file", s.path, "err", err)
		}
		lastErr = err.Error()
		s.failed.Store(ctx.Err() == nil)
	}
	var again retry
	if err := s.load(ctx, first, nil, true); err != nil {
		was, _ := first.Stat()
		first.Close()
		fail(err)
		again.failed(was, s.cfg.CheckInterval)
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
		g := s.cur.Load()
		d := check(g, s.path)
		if d.stale {
			g.stale.Store(true)
		}
		if d.gone != nil {
			s.warnGone(g, d.gone)
		}
		if d.reason == "" || !again.due(s.path) {
			continue
		}
		if lastErr == "" && d.how != extendIndex {
			s.log.Info("loading the file again", "file", s.path, "reason", d.reason)
		}
		was, _ := os.Stat(s.path)
		if err := s.reload(ctx, d.how); err != nil {
			fail(err)
			again.failed(was, s.cfg.CheckInterval)
			continue
		}
		again = retry{}
		lastErr = ""
		s.failed.Store(false)
	}
}

// retry holds back a load that failed while the file stays as it was: a
// corrupt 100 GB .gz would otherwise be decompressed anew at every check,
// and at every request's poke. An unchanged file is tried again after a
// wait that doubles from 8 check intervals up to maxRetryWait, for
// failures that pass (a read error, memory short).
type retry struct {
	was  os.FileInfo // the file when the load that failed began; nil: none failed
	next time.Time
	wait time.Duration
}

const maxRetryWait = time.Minute

// failed records a load that failed on the file was describes (nil if it
// could not be seen).
func (r *retry) failed(was os.FileInfo, interval time.Duration) {
	r.wait = min(max(2*r.wait, 8*interval), maxRetryWait)
	r.was, r.next = was, time.Now().Add(r.wait)
}

// due tells whether to load again: nothing failed, the path names another
// file or the file changed since, or the wait is over.
func (r *retry) due(path string) bool {
	if r.was == nil {
		return true
	}
	fi, err := os.Stat(path)
	if err != nil || !os.SameFile(fi, r.was) || fi.Size() != r.was.Size() || !fi.ModTime().Equal(r.was.ModTime()) || fi.Mode() != r.was.Mode() {
		return true
	}
	return !time.Now().Before(r.next)
}

// reloadHow says how the watcher loads the file again.
type reloadHow int

const (
	fromPath      reloadHow = iota // open the path again; a saved index may do
	fromPathAnew                   // open the path again and index it anew
	fromOpenAgain                  // index the open file anew (its path is gone); save nothing
	extendIndex                    // the open file grew: index what was appended
)

// decision is what the watcher makes of the file as it is now, compared
// with the current generation.
type decision struct {
	// stale: the generation no longer describes the file, and must serve
	// no line.
	stale bool
	// reason says why the file must be loaded again, and how says how;
	// no reason: it need not be.
	reason string
	how    reloadHow
	// gone: the path no longer leads to a file, and the one still open is
	// served while it does not change (the watcher warns, once).
	gone error
}

// check compares g, the current generation (nil if none yet), with the file
// it was loaded from and the file that path names now, and decides what the
// watcher must do. It changes nothing.
func check(g *generation, path string) decision {
	if g == nil {
		return decision{reason: "not loaded yet"}
	}
	open, oerr := g.f.Stat()
	named, perr := os.Stat(path)
	state := g.src.State()
	switch {
	case oerr != nil:
		return decision{stale: true, reason: "cannot stat the open file: " + oerr.Error()}
	case state == lineindex.Changed && perr == nil && os.SameFile(open, named) && g.rewritten():
		// A saved index would pass for one of a file that only grew, or
		// be one taken from the file before the rewrite was reported.
		return decision{stale: true, reason: "a write left the file no larger (rewritten in place, or cut) before it grew", how: fromPathAnew}
	case state == lineindex.Changed:
		if open.Size() == g.stored && open.ModTime().UnixNano() == g.modTime {
			// Only the status change time moved, and the Source could not
			// take it for a chmod, a link or a rename: the file may have
			// been rewritten, keeping its size and putting its
			// modification time back, which a saved index cannot tell
			// from a chmod. The content must be read again, whole:
			// through the path, or the open file if none leads to it.
			const why = "the file's status changed, and it was written to or could not be watched (rewritten keeping its size and modification time?)"
			switch {
			case perr != nil:
				return decision{stale: true, reason: why + " and its path is gone: indexing the open file again", how: fromOpenAgain}
			case !os.SameFile(open, named):
				return decision{stale: true, reason: "the path names another file now"}
			}
			return decision{stale: true, reason: why, how: fromPathAnew}
		}
		if perr != nil {
			return decision{stale: true, reason: "the file changed and its path is gone"}
		}
		return decision{stale: true, reason: fmt.Sprintf("the file changed: %d bytes modified at %s, indexed %d bytes modified at %s",
			open.Size(), open.ModTime().UTC().Format(time.RFC3339Nano), g.stored, time.Unix(0, g.modTime).UTC().Format(time.RFC3339Nano))}
	case g.stale.Load() && g.indexChanged.Load():
		return decision{reason: "the index file was changed in place"}
	case g.stale.Load():
		return decision{reason: "a line read from the file did not match the index", how: fromPathAnew}
	case perr == nil && !os.SameFile(open, named):
		// The old file is still consistent with its index: it is served
		// until the new one is ready.
		return decision{reason: "the path names another file now"}
	case state == lineindex.Grown:
		return decision{reason: "the file grew", how: extendIndex, gone: perr}
	case perr != nil:
		return decision{gone: perr}
	}
	return decision{}
}

// saveEvery: an index extended as its file grows is saved at most this
// often (and read back mapped, out of the heap); in between it grows in
// memory. A restart extends the saved one.
const saveEvery = 10 * time.Second

// extend indexes what was appended to the current generation's file, and
// makes the result current: the old lines keep answering throughout, and
// keep their ETags. A file that changed otherwise is indexed anew.
func (s *file) extend(ctx context.Context) error {
	g := s.acquire()
	if g == nil {
		return errors.New("no file open")
	}
	defer g.release()
	start := time.Now()
	m := s.notes.mark(g.f) // before Extend reads the file's stat
	x, unchanged, err := g.ix.Extend(ctx, g.f, lineindex.BuildOptions{})
	if err == nil && g.rewritten() {
		// Reported before m, so the new generation's mark would not show it.
		x.Close()
		err = fmt.Errorf("%w: a write left it no larger (rewritten in place, or cut) before it grew", lineindex.ErrMismatch)
	}
	if errors.Is(err, lineindex.ErrMismatch) {
		g.stale.Store(true)
		s.log.Info("loading the file again", "file", s.path, "reason", err.Error())
		return s.reload(ctx, fromPathAnew)
	}
	if err != nil {
		return err
	}
	f, err := dupFile(g.f)
	if err != nil {
		return err
	}
	index := ""
	if g.index != "" && time.Since(s.saved) >= saveEvery {
		saved, path, err := x.Save(s.indexPaths, f)
		if err != nil {
			s.log.Warn("extended index not saved; serving it from memory", "file", s.path, "err", strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		if saved != x {
			x.Close()
		}
		x, index, s.saved = saved, path, time.Now()
	} else {
		index = g.index // the saved index, which a restart extends
	}
	s.install(g.grownTo(f, x, unchanged, index, time.Now(), s.sourceOptions(), s.since(m, g.whole)))
	s.metrics.extended()
	s.log.Debug("the file grew: index extended", "file", s.path, "from", g.lines, "lines", x.Lines(), "took", time.Since(start))
	return nil
}

// reload loads the file again, as how says.
func (s *file) reload(ctx context.Context, how reloadHow) error {
	switch how {
	case fromOpenAgain:
		return s.reloadOpen(ctx)
	case extendIndex:
		return s.extend(ctx)
	}
	f, err := s.cfg.Open(s.path)
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
func (s *file) reloadOpen(ctx context.Context) error {
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
	s.warnGone(s.cur.Load(), errors.New("renamed or deleted"))
	return nil
}

// warnGone says, once for g, that the path of g's file is gone and the file
// still open is served.
func (s *file) warnGone(g *generation, why error) {
	if g != nil && !g.goneWarned {
		g.goneWarned = true
		s.log.Warn("the file's path is gone; serving the file still open while it does not change", "file", s.path, "err", why)
	}
}
