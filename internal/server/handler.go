package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lined/lined/internal/lineindex"
)

// Header values, shared by all responses: they are set into the header map
// directly, which spares net/http's canonicalisation and an allocation each.
var (
	textPlain  = []string{"text/plain; charset=utf-8"}
	nosniff    = []string{"nosniff"}
	allowGet   = []string{"GET, HEAD"}
	retryAfter = []string{"1"}
	connClose  = []string{"close"}
)

// smallLengths are the Content-Length values of short bodies.
var smallLengths = func() (t [1024][]string) {
	for i := range t {
		t[i] = []string{strconv.Itoa(i)}
	}
	return t
}()

func contentLength(n int64) []string {
	if n < int64(len(smallLengths)) {
		return smallLengths[n]
	}
	return []string{strconv.FormatInt(n, 10)}
}

// bufSize is the size of the buffers lines are found with: a line that fits
// is written from it in one piece; a longer one streams from the file.
const bufSize = 16 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// streamBufSize is the size of the buffers the rest of a long line is copied
// through: large enough that a long line costs few reads, writes and
// deadline updates (a 100 MiB line streams at 1.8 GB/s, against 1.15 GB/s
// through bufSize), small enough that many slow clients of long lines cost
// little; held only while a line longer than bufSize streams.
const streamBufSize = 64 << 10

var streamPool = sync.Pool{New: func() any { b := make([]byte, streamBufSize); return &b }}

// Fixed response bodies. No body ever carries a path or an error's text;
// those go to the log.
const (
	bodyNotFound  = "not found\n"
	bodyMethod    = "method not allowed: use GET or HEAD\n"
	bodyIndexing  = "not ready: the file is being indexed, try again shortly\n"
	bodyFailed    = "not ready: the file cannot be indexed (the server's log says why); it is tried again when it changes\n"
	bodyChanged   = "the file changed and is being indexed again, try again shortly\n"
	bodyGrowing   = "the file grew and its new lines are being indexed, try again shortly\n"
	bodyReadError = "internal error: the line could not be read\n"
	bodyStopping  = "stopping\n"
	bodyBadTarget = "bad request: an absolute request target must be http://HOST/PATH\n"
	bodySeveral   = "not found: several files are served; their lines are at /files/NAME/lines/N, the list at /files/\n"
)

const (
	linesPrefix = "/lines/"
	filesPrefix = "/files/"
)

// ServeHTTP routes a request. It matches the path as the client sent it,
// before percent-decoding: /lines/%31 is not /lines/1 but a malformed
// number (400), so that every line has exactly one URL.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h := w.Header()
	h["Date"] = s.date.at(start)
	h["X-Content-Type-Options"] = nosniff
	if s.draining.Load() {
		h["Connection"] = connClose
	}
	path, ok := requestPath(r)
	var code int
	var n int64
	switch {
	case !ok:
		code, n = text(w, r, http.StatusBadRequest, bodyBadTarget)
	case strings.HasPrefix(path, linesPrefix) && len(s.files) == 1:
		code, n = s.files[0].serveLine(w, r, path[len(linesPrefix):])
	case strings.HasPrefix(path, linesPrefix):
		code, n = text(w, r, http.StatusNotFound, bodySeveral)
	case strings.HasPrefix(path, filesPrefix):
		code, n = s.serveFiles(w, r, path[len(filesPrefix):])
	case path == "/" || path == "/healthz" || path == "/readyz" || path == "/metrics":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			code, n = methodNotAllowed(w, r)
			break
		}
		switch path {
		case "/":
			code, n = text(w, r, http.StatusOK, s.about())
		case "/healthz":
			code, n = text(w, r, http.StatusOK, "ok\n")
		case "/readyz":
			code, n = s.readyz(w, r)
		case "/metrics":
			code, n = s.metrics.serve(w, r)
		}
	default:
		code, n = text(w, r, http.StatusNotFound, bodyNotFound)
	}
	took := time.Since(start)
	s.metrics.observe(code, n, took)
	if s.cfg.AccessLog {
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.RequestURI),
			slog.Int("status", code), slog.Int64("bytes", n),
			slog.Duration("duration", took), slog.String("remote", r.RemoteAddr))
	}
}

// dateCache is the Date header of the current second. Formatted once a
// second rather than by net/http for every response, it spares a clock
// read and the formatting, a few per cent of a small response's cost.
type dateCache struct{ cur atomic.Pointer[dateValue] }

type dateValue struct {
	sec   int64
	value []string
}

// at returns the Date header value for now.
func (d *dateCache) at(now time.Time) []string {
	sec := now.Unix()
	if v := d.cur.Load(); v != nil && v.sec == sec {
		return v.value
	}
	v := &dateValue{sec: sec, value: []string{now.UTC().Format(http.TimeFormat)}}
	d.cur.Store(v)
	return v.value
}

// requestPath is the path of r exactly as the client sent it: the request
// target up to '?', after "http://authority" in the absolute form. Not
// r.URL.EscapedPath, which decodes and escapes again a path that is not a
// valid escaping (one with a raw byte ≥ 0x80, say), so that /%6Cines/1\xff
// would be routed as /lines/1%FF. An absolute target with another scheme
// than http (lined speaks plain HTTP), or without a host, is not valid
// (ok is false): net/http parses any scheme. A request made in-process,
// without a RequestURI, falls back to EscapedPath.
func requestPath(r *http.Request) (path string, ok bool) {
	p := r.RequestURI
	if p == "" {
		return r.URL.EscapedPath(), true
	}
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p != "" && p[0] != '/' {
		if scheme, rest, found := strings.Cut(p, "://"); found {
			authority, path, hasPath := strings.Cut(rest, "/")
			switch {
			case !strings.EqualFold(scheme, "http") || authority == "":
				return "", false
			case !hasPath:
				return "", true
			}
			return "/" + path, true
		}
	}
	return p, true
}

// text answers with a short plain-text body (none for HEAD).
func text(w http.ResponseWriter, r *http.Request, code int, body string) (int, int64) {
	h := w.Header()
	h["Content-Type"] = textPlain
	h["Content-Length"] = contentLength(int64(len(body)))
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return code, 0
	}
	n, _ := io.WriteString(w, body)
	return code, int64(n)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) (int, int64) {
	w.Header()["Allow"] = allowGet
	return text(w, r, http.StatusMethodNotAllowed, bodyMethod)
}

// unavailable answers 503 with Retry-After.
func unavailable(w http.ResponseWriter, r *http.Request, body string) (int, int64) {
	w.Header()["Retry-After"] = retryAfter
	return text(w, r, http.StatusServiceUnavailable, body)
}

// cannotLoad tells whether the file's last load failed and no other runs.
func (s *file) cannotLoad() bool { return s.failed.Load() && !s.building.Load() }

// notReady is the body of a 503 for a file that has no index to serve:
// body, unless it cannot be loaded.
func (s *file) notReady(body string) string {
	if s.cannotLoad() {
		return bodyFailed
	}
	return body
}

func (s *file) about() string {
	if g := s.cur.Load(); g != nil {
		return g.about
	}
	if s.cannotLoad() {
		return notIndexedAbout
	}
	return notLoadedAbout
}

var (
	notLoadedAbout  = strings.Replace(aboutText, "%s", "is being indexed", 1)
	notIndexedAbout = strings.Replace(aboutText, "%s", "cannot be indexed (the server's log says why)", 1)
)

// about is the text of GET /: with one file, the file's.
func (s *Server) about() string {
	if len(s.files) == 1 {
		return s.files[0].about()
	}
	var b strings.Builder
	fmt.Fprintf(&b, severalAboutText, len(s.files))
	return b.String()
}

// ready tells whether the file's lines are served.
func (s *file) ready() bool {
	g := s.cur.Load()
	return g != nil && !g.stale.Load() && !s.srv.draining.Load()
}

// status is what /readyz says of the file: whether it is ready, and why.
func (s *file) status() (bool, string) {
	g := s.cur.Load()
	switch {
	case g != nil && !g.stale.Load():
		return true, "ready: " + strconv.FormatInt(g.lines, 10) + " lines"
	case s.building.Load():
		return false, s.progressText()
	case s.failed.Load():
		return false, "cannot index the file (the log says why); waiting for it to change"
	case g != nil:
		return false, "the file changed; waiting to index it again"
	}
	return false, "loading"
}

// readyz is 200 once every file is ready, else 503; with several files,
// one line a file says how it is.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) (int, int64) {
	if s.draining.Load() {
		return text(w, r, http.StatusServiceUnavailable, bodyStopping)
	}
	code := http.StatusOK
	var b strings.Builder
	for _, f := range s.files {
		ok, why := f.status()
		if !ok {
			code = http.StatusServiceUnavailable
		}
		if len(s.files) > 1 {
			b.WriteString(f.name + ": ")
		}
		b.WriteString(why + "\n")
	}
	return text(w, r, code, b.String())
}

// serveFiles answers /files/ (the list of files) and /files/NAME/lines/ARG.
// NAME is matched once percent-decoded, since a file's name may hold any
// byte; ARG, as for /lines/, as sent.
func (s *Server) serveFiles(w http.ResponseWriter, r *http.Request, rest string) (int, int64) {
	if rest == "" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return methodNotAllowed(w, r)
		}
		return s.listFiles(w, r)
	}
	escaped, arg, _ := strings.Cut(rest, "/")
	name, err := url.PathUnescape(escaped)
	f := s.byName[name]
	if err != nil || f == nil || !strings.HasPrefix(arg, "lines/") {
		return text(w, r, http.StatusNotFound, bodyNotFound)
	}
	return f.serveLine(w, r, arg[len("lines/"):])
}

// fileEntry is one file in the list of /files/.
type fileEntry struct {
	Name  string `json:"name"`
	Lines int64  `json:"lines"`
	Bytes int64  `json:"bytes"`
	Ready bool   `json:"ready"`
}

// listFiles answers GET /files/: one line a file (name, lines, bytes,
// readiness), or a JSON array when the client accepts application/json.
// Lines and bytes are those indexed, 0 before the first index.
func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) (int, int64) {
	entries := make([]fileEntry, len(s.files))
	for i, f := range s.files {
		entries[i] = fileEntry{Name: f.name, Ready: f.ready()}
		if g := f.cur.Load(); g != nil {
			entries[i].Lines, entries[i].Bytes = g.lines, g.size
		}
	}
	if acceptsJSON(r.Header["Accept"]) {
		body, _ := json.Marshal(entries)
		h := w.Header()
		h["Content-Type"] = jsonType
		h["Content-Length"] = contentLength(int64(len(body)) + 1)
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return http.StatusOK, 0
		}
		n, _ := w.Write(append(body, '\n'))
		return http.StatusOK, int64(n)
	}
	var b strings.Builder
	for _, e := range entries {
		state := "ready"
		if !e.Ready {
			state = "not ready"
		}
		fmt.Fprintf(&b, "%s\t%d lines\t%d bytes\t%s\n", e.Name, e.Lines, e.Bytes, state)
	}
	return text(w, r, http.StatusOK, b.String())
}

var jsonType = []string{"application/json"}

// acceptsJSON tells whether an Accept header asks for application/json
// (with a non-zero quality), the one other type /files/ offers.
func acceptsJSON(accept []string) bool {
	for _, v := range accept {
		for part := range strings.SplitSeq(v, ",") {
			typ, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(typ), "application/json") {
				continue
			}
			if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
				if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// serveLine answers GET or HEAD /lines/arg: line N, or lines N-M.
func (s *file) serveLine(w http.ResponseWriter, r *http.Request, arg string) (int, int64) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(w, r)
	}
	first, last, err := lineindex.ParseLines(arg)
	if err != nil {
		return text(w, r, http.StatusBadRequest, "invalid line number: "+err.Error()+"\n")
	}
	if last-first >= s.cfg.MaxRange {
		return text(w, r, http.StatusBadRequest,
			"invalid range: more than "+strconv.FormatInt(s.cfg.MaxRange, 10)+" lines (the most one request may ask for)\n")
	}
	g := s.acquire()
	if g == nil {
		return unavailable(w, r, s.notReady(bodyIndexing))
	}
	defer g.release()
	if g.stale.Load() {
		return unavailable(w, r, s.notReady(bodyChanged))
	}
	if first > g.lines {
		// The count is only true of the file as it was indexed: if it
		// changed since, or grew, line first may be there now (being
		// indexed).
		same, grown := s.unchanged(g)
		switch {
		case !same:
			return unavailable(w, r, bodyChanged)
		case grown:
			return unavailable(w, r, bodyGrowing)
		}
		s.poke()
		return text(w, r, http.StatusRequestEntityTooLarge,
			(&lineindex.RangeError{N: first, Lines: g.lines}).Error()+"\n")
	}
	last = min(last, g.lines) // a range stops at the last line, as sed's does
	isRange := strings.IndexByte(arg, '-') >= 0

	var tag [96]byte
	etag := g.appendETag(tag[:0], first, last)
	h := w.Header()
	if s.srv.cacheControl != nil {
		h["Cache-Control"] = s.srv.cacheControl
	}
	if isRange {
		h["X-Lines"] = []string{strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10)}
	}
	if etagMatch(r.Header["If-None-Match"], etag) {
		switch same, grown := s.unchanged(g); {
		case !same:
			return unavailable(w, r, bodyChanged)
		case grown && last == g.lines && g.lastOpen:
			return unavailable(w, r, bodyGrowing) // the last line grew
		}
		h["Etag"] = []string{string(etag)}
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified, 0
	}

	bufp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bufp)
	// Every read goes through g.src, which checks that the file is still
	// the indexed version after it: the bytes are that version's.
	line, err := g.ix.FindRange(g.src, first, last, *bufp)
	if err != nil && s.grewDuringRead(g, last, err) {
		line, err = g.ix.FindRange(g.src, first, last, *bufp)
	}
	if err != nil {
		return s.readFailed(w, r, g, last, err)
	}
	h["Etag"] = []string{string(etag)}
	h["Content-Type"] = textPlain
	h["Content-Length"] = contentLength(line.Length)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return http.StatusOK, 0
	}
	s.metrics.sent(last-first+1, isRange)
	if int64(len(line.Head)) == line.Length {
		written, _ := w.Write(line.Head) // a failed write is the client's going
		return http.StatusOK, int64(written)
	}
	return http.StatusOK, s.stream(w, g, line)
}

// unchanged tells whether g's file still holds the bytes it was indexed
// with (see lineindex.Source): the same, or grown; if not, g is stale and
// the watcher is woken. It wakes the watcher too when the file grew.
func (s *file) unchanged(g *generation) (same, grown bool) {
	switch g.src.State() {
	case lineindex.Same:
		return true, false
	case lineindex.Grown:
		s.poke()
		return true, true
	}
	g.stale.Store(true)
	s.poke()
	return false, false
}

// grewDuringRead tells whether a read of line n failed because the file
// grew while it was read, in a way its check could not tell from a change
// (an append held up between stamping the file and moving its size), and
// the file is now seen grown: line n, which it kept, can be read again.
// The last line, if it had no newline, is not kept by a growth.
func (s *file) grewDuringRead(g *generation, n int64, err error) bool {
	return errors.Is(err, lineindex.ErrMismatch) && !errors.Is(err, lineindex.ErrIndexChanged) &&
		!(n == g.lines && g.lastOpen) && g.src.State() == lineindex.Grown
}

// readFailed answers a line that could not be read: 503 if the file no
// longer matches the index (it is indexed again) or the index file was
// changed in place (it is loaded again, and rebuilt only if it is no longer
// valid), else 500.
func (s *file) readFailed(w http.ResponseWriter, r *http.Request, g *generation, n int64, err error) (int, int64) {
	if errors.Is(err, lineindex.ErrMismatch) && !errors.Is(err, lineindex.ErrIndexChanged) && g.src.State() == lineindex.Grown {
		// The last line, which had no newline, grew: the file is being
		// extended, not indexed again.
		s.poke()
		return unavailable(w, r, bodyGrowing)
	}
	if errors.Is(err, lineindex.ErrMismatch) {
		if errors.Is(err, lineindex.ErrIndexChanged) {
			// Before stale: the watcher reads the two in that order.
			g.indexChanged.Store(true)
			s.log.Warn("the index file was changed in place; loading it again", "file", s.path, "index", g.index, "line", n)
		} else {
			s.log.Warn("the file no longer matches its index; indexing it again", "file", s.path, "line", n)
		}
		g.stale.Store(true)
		s.poke()
		return unavailable(w, r, bodyChanged)
	}
	s.log.Error("cannot read a line", "file", s.path, "line", n, "err", err)
	s.poke()
	return text(w, r, http.StatusInternalServerError, bodyReadError)
}

// etagMatch tells whether an If-None-Match header (values) matches etag:
// "*", or a list of entity tags compared weakly, as RFC 9110 says.
func etagMatch(values []string, etag []byte) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == string(etag) {
				return true
			}
		}
	}
	return false
}

// stream writes a line longer than the buffer: the head Find read, then
// the rest from the file through a stream buffer, never the whole line at
// once. It
// returns the number of bytes written. If the file cannot be read or no
// longer matches, the response is cut short (net/http then closes the
// connection, as the body is shorter than its Content-Length) and the error
// logged; the client sees a failed transfer, never wrong bytes.
func (s *file) stream(w http.ResponseWriter, g *generation, line lineindex.Line) int64 {
	bufp := streamPool.Get().(*[]byte)
	defer streamPool.Put(bufp)
	dw := &deadlineWriter{w: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout, buf: *bufp}
	src := &recordingReaderAt{r: g.src}
	n, err := line.WriteTo(dw, src)
	switch {
	case err == nil:
	case src.err != nil || errors.Is(err, lineindex.ErrMismatch):
		if errors.Is(err, lineindex.ErrMismatch) {
			g.stale.Store(true)
		}
		s.poke()
		s.log.Error("cannot read a line; response cut short", "file", s.path, "line", line.Number, "err", err)
	default:
		s.log.Debug("client went away during a long line", "line", line.Number, "err", err)
	}
	return n
}

// deadlineWriter pushes the connection's write deadline forward before each
// write, so that a long line is bounded by the client's pace rather than by
// one timeout for the whole response.
type deadlineWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.w.Write(p)
}

// ReadFrom copies through d's buffer, so that each write gets its deadline.
func (d *deadlineWriter) ReadFrom(r io.Reader) (int64, error) {
	return io.CopyBuffer(writerOnly{d}, r, d.buf)
}

type writerOnly struct{ io.Writer }

// recordingReaderAt remembers a read error, to tell a failing file from a
// failing client.
type recordingReaderAt struct {
	r   io.ReaderAt
	err error
}

func (r *recordingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
