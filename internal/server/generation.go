package server

import (
	"fmt"
	"os"
	"sort"
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
	src     *lineindex.Source // f, read as ix's version: every read checked
	ix      *lineindex.Index
	index   string // where the index came from or went to; "" if in memory only
	size    int64  // of the text as indexed (decompressed, if the file is compressed)
	stored  int64  // of the file itself as indexed: size, unless it is compressed
	modTime int64  // of the file as indexed, Unix nanoseconds
	whole   int64  // see writesSince
	lines   int64
	// etags are the ETag prefixes of the lines: line N's ETag is the
	// prefix of the last range from at or before N, then N and '"'. A
	// file that grew keeps the ETags of its old lines, unchanged; the
	// lines that grew or are new get the new version's.
	etags []etagRange
	// lastOpen: the last line has no newline (it grows if the file does)
	lastOpen bool
	about    string // the body of GET /

	refs  atomic.Int64 // requests using f and ix, plus one while current; both close at 0
	stale atomic.Bool  // f is known to differ from ix: no line is served from it
	// indexChanged: ix's own file was truncated or overwritten in place
	// (its body is a mapping of that file); the file f may be unchanged,
	// so a saved index may still do.
	indexChanged atomic.Bool

	goneWarned bool // the watcher said the path is gone (watcher only)
}

// rewritten tells whether a write that left g's file no larger was
// reported since it was indexed (see lineindex.Source.Rewritten).
func (g *generation) rewritten() bool {
	return g.src.Rewritten != nil && g.src.Rewritten()
}

// newGeneration returns the generation of f and ix, its index, saved at
// index, its reads sharing o; writes tells what is known of the writes to
// f since its stat was read for ix.
func newGeneration(f *os.File, ix *lineindex.Index, index string, o lineindex.SourceOptions, writes writesSince) *generation {
	// The Source keeps f's descriptor number: f is closed only when the
	// last request using this generation releases it, so the number cannot
	// name another file while a request reads through it.
	g := &generation{
		f: f, src: ix.Source(f, o), ix: ix, index: index,
		size: ix.Size(), modTime: ix.ModTime().UnixNano(), lines: ix.Lines(),
	}
	g.src.Unwritten, g.src.Rewritten, g.whole = writes.unwritten, writes.rewritten, writes.whole
	g.etags = []etagRange{{from: 1, prefix: `"` + ix.Tag() + "-"}}
	// Only a plain file is extended as it grows: a compressed one is
	// indexed anew, and its last byte here would be a compressed one.
	var compressed string
	compressed, g.stored = ix.Compressed()
	if compressed == "" && g.size > 0 {
		var b [1]byte
		if n, _ := f.ReadAt(b[:], g.size-1); n == 1 {
			g.lastOpen = b[0] != '\n'
		}
	}
	g.about = fmt.Sprintf(aboutText, fmt.Sprintf("has %d lines (%d bytes)", g.lines, g.size))
	g.refs.Store(1)
	return g
}

const severalAboutText = `lined serves the lines of %d text files over HTTP.

GET /files/                   the files: name, lines, bytes, readiness (JSON
                              when asked for application/json)
GET /files/NAME/lines/N       line N (from 1) of file NAME, exactly as stored
GET /files/NAME/lines/N-M     lines N to M (up to the last) of file NAME
GET /healthz                  200 while the server runs
GET /readyz                   200 once every file is indexed, else 503
GET /metrics                  Prometheus metrics, by file
`

const aboutText = `lined serves the lines of one text file over HTTP.

The file %s.

GET /lines/N   line N (from 1), exactly as stored, newline included;
               HEAD too; 400 for a malformed N, 413 beyond the last line,
               503 while the file is being indexed
GET /lines/N-M lines N to M (up to the last), in one body; X-Lines says
               which; 400 if M < N or the range is too wide
GET /healthz   200 while the server runs
GET /readyz    200 once the file is indexed, else 503 and the progress
GET /metrics   Prometheus metrics
`

// etagRange is the ETag prefix of the lines from one on.
type etagRange struct {
	from   int64
	prefix string // `"tag-`
	made   time.Time
}

// etagsMergedWithin: a range made more recently than this before the file
// grows again is taken into the new one, so that a file that grows all the
// time keeps a range per such period, not one per append. Lines appended
// then get new ETags a few more times, which costs a client a 200 instead
// of a 304, not a wrong line.
const etagsMergedWithin = 10 * time.Second

// grownTo returns the generation of f, g's file now that it has grown, and
// x, its index: its first unchanged lines keep their ETags.
func (g *generation) grownTo(f *os.File, x *lineindex.Index, unchanged int64, index string, now time.Time, o lineindex.SourceOptions, writes writesSince) *generation {
	n := newGeneration(f, x, index, o, writes)
	var etags []etagRange
	for _, r := range g.etags {
		if r.from <= unchanged {
			etags = append(etags, r)
		}
	}
	from := unchanged + 1
	if k := len(etags); k > 1 && now.Sub(etags[k-1].made) < etagsMergedWithin {
		from = etags[k-1].from
		etags = etags[:k-1]
	}
	n.etags = append(etags, etagRange{from: from, prefix: n.etags[0].prefix, made: now})
	return n
}

// appendETag appends the ETag of lines first to last (one line if they are
// the same) to b. Lines change with the file only from some line on, so
// the ETag of a run of lines is that of the version its last line has.
func (g *generation) appendETag(b []byte, first, last int64) []byte {
	// The last range that starts at or before last; the first starts at 1.
	i := sort.Search(len(g.etags), func(i int) bool { return g.etags[i].from > last }) - 1
	b = append(b, g.etags[max(i, 0)].prefix...)
	b = strconv.AppendInt(b, first, 10)
	if last != first {
		b = append(b, '-')
		b = strconv.AppendInt(b, last, 10)
	}
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
func (s *file) acquire() *generation {
	for {
		g := s.cur.Load()
		if g == nil || g.acquire() {
			return g
		}
		// Retired between the load and the acquire: a newer one is current.
	}
}

// install makes g current and retires the previous generation.
func (s *file) install(g *generation) {
	if old := s.cur.Swap(g); old != nil {
		old.release()
	}
	s.metrics.loaded(g)
}
