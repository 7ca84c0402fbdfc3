package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/lined/lined/internal/lineindex"
)

// load makes f current with a valid index: a saved one, unless distrust
// says why not to look, or a new one, built and saved if save.
func (s *file) load(ctx context.Context, f *os.File, distrust error, save bool) error {
	start := time.Now()
	lastLog := start
	defer s.building.Store(false)
	m := s.notes.mark(f) // before Load reads f's stat
	l, err := lineindex.Load(ctx, f, lineindex.LoadOptions{
		Paths:   s.indexPaths,
		Rebuild: distrust,
		NoSave:  !save,
		Build: lineindex.BuildOptions{
			Settle: s.cfg.Settle,
			Settling: func(wait time.Duration) {
				s.progress.settling.Store(true)
				s.log.Info("waiting for the file to settle", "file", s.path, "wait", wait.Round(time.Millisecond))
			},
			Progress: func(done, total int64) {
				s.progress.settling.Store(false)
				s.progress.done.Store(done)
				s.progress.total.Store(total)
				if now := time.Now(); now.Sub(lastLog) >= time.Second {
					lastLog = now
					s.log.Info("indexing", "file", s.path, "progress", s.progressText())
				}
			},
		},
		OnBuild: func(why error) {
			reason := "no index yet"
			if !errors.Is(why, lineindex.ErrNoIndex) {
				reason = why.Error()
			}
			s.log.Info("indexing", "file", s.path, "reason", reason)
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
	if l.Extended {
		s.log.Info("the file grew: index extended", "file", s.path, "from", l.ExtendedFrom, "lines", ix.Lines(), "took", l.Took)
	}
	if l.Extended {
		s.metrics.extended()
	} else if l.Built {
		s.metrics.built(l.Took)
		switch {
		case l.SaveErr != nil && save:
			s.log.Warn("index not saved, serving it from memory; it will be built again at the next start", "file", s.path, "err", strings.ReplaceAll(l.SaveErr.Error(), "\n", "; "))
		case l.Passed != nil:
			s.log.Info("index saved in the next place", "file", s.path, "index", l.Path, "passed", strings.ReplaceAll(l.Passed.Error(), "\n", "; "))
		}
		s.log.Info("indexed", "file", s.path, "lines", ix.Lines(), "bytes", ix.Size(),
			"took", l.Took.Round(time.Millisecond), "index", cmp.Or(l.Path, "(memory only)"))
	}
	whole := ix.ModTime().UnixNano()
	if l.Extended {
		whole = math.MinInt64 // a saved index's old bytes were not read now
	}
	s.install(newGeneration(f, ix, l.Path, s.sourceOptions(), s.since(m, whole)))
	s.log.Info("serving", "file", s.path, "lines", ix.Lines(), "bytes", ix.Size(),
		"index", cmp.Or(l.Path, "(memory only)"), "addr", s.srv.addr, "took", time.Since(start).Round(time.Microsecond))
	return nil
}

// progressText says how far the running index build is.
func (s *file) progressText() string {
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

// writesSince is what the notes can tell of the writes to a file since a
// mark (see lineindex.Source.Unwritten and Rewritten). whole is the
// modification time (Unix nanoseconds) of the file when all of its bytes
// that an index describes were last read, by a build: a rewrite no later
// than that is in the index.
type writesSince struct {
	unwritten, rewritten func() bool
	whole                int64
}

// since returns what the notes can tell of the writes to the file marked
// by m since, whole as in writesSince.
func (s *file) since(m mark, whole int64) writesSince {
	return writesSince{
		unwritten: func() bool { return s.notes.unwritten(m) },
		rewritten: func() bool { return s.notes.rewritten(m, whole) },
		whole:     whole,
	}
}

// sourceOptions are what the reads of the file's text share: the server's
// block cache, and the file's counts.
func (s *file) sourceOptions() lineindex.SourceOptions {
	return lineindex.SourceOptions{Cache: s.srv.cache, Stats: &s.decompressed}
}
