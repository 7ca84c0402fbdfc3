package server

import (
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in a registry of its own.
// Those of a file carry its name as the label "file".
type metrics struct {
	requests *prometheus.CounterVec
	byCode   map[int]prometheus.Counter // the codes the server answers, resolved once
	latency  prometheus.Histogram
	bytes    prometheus.Counter
	handler  http.Handler
}

// fileMetrics are one file's metrics, resolved once from their vectors.
type fileMetrics struct {
	lines, size, build prometheus.Gauge
	builds, extends    prometheus.Counter
	served             prometheus.Counter // lines sent in 200 answers to GET
	ranges             prometheus.Counter // of which answers to N-M
}

func newMetrics(s *Server) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lined_http_requests_total", Help: "HTTP requests answered, by status code.",
		}, []string{"code"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lined_http_request_duration_seconds", Help: "Time to answer a request, body written.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lined_http_response_body_bytes_total", Help: "Bytes of response bodies written.",
		}),
		byCode: map[int]prometheus.Counter{},
	}
	for _, code := range []int{200, 304, 400, 404, 405, 413, 500, 503} {
		m.byCode[code] = m.requests.WithLabelValues(strconv.Itoa(code))
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"file"})
	}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"file"})
	}
	lines := gauge("lined_file_lines", "Lines in the served file, as indexed.")
	size := gauge("lined_file_bytes", "Size of the served file, as indexed.")
	build := gauge("lined_index_build_seconds", "How long the file's last index build took (0: the index was loaded, not built).")
	builds := counter("lined_index_builds_total", "Index builds since the start.")
	extends := counter("lined_index_extensions_total", "Index extensions since the start: the file grew, and only what was appended was indexed.")
	served := counter("lined_lines_served_total", "Lines sent in answers to GET /lines/N and /lines/N-M (a range counts its lines).")
	ranges := counter("lined_range_requests_total", "GET /lines/N-M answered with lines.")
	reg.MustRegister(m.requests, m.latency, m.bytes, lines, size, build, builds, extends, served, ranges,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lined_http_open_connections", Help: "HTTP connections open now.",
		}, func() float64 { return float64(s.conns.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lined_block_cache_size_bytes", Help: "Bytes of decompressed text the block cache can hold, for every compressed file (0: no cache).",
		}, func() float64 { return float64(s.cache.Size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lined_block_cache_bytes", Help: "Bytes of decompressed text the block cache holds now.",
		}, func() float64 { return float64(s.cache.Held()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	for _, f := range s.files {
		f.metrics = fileMetrics{
			lines: lines.WithLabelValues(f.name), size: size.WithLabelValues(f.name), build: build.WithLabelValues(f.name),
			builds: builds.WithLabelValues(f.name), extends: extends.WithLabelValues(f.name),
			served: served.WithLabelValues(f.name), ranges: ranges.WithLabelValues(f.name),
		}
		count := func(name, help string, n *atomic.Int64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{"file": f.name}},
				func() float64 { return float64(n.Load()) })
		}
		reg.MustRegister(
			count("lined_block_cache_hits_total", "Blocks of a compressed file's text found in the block cache.", &f.decompressed.Hits),
			count("lined_block_cache_misses_total", "Blocks of a compressed file's text not found in the block cache, and decompressed.", &f.decompressed.Misses),
			count("lined_decompressed_bytes_total", "Bytes of a compressed file's text decompressed to answer requests (not to index it): read, or passed on the way from an access point.", &f.decompressed.Bytes))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lined_ready", Help: "1 when the file's lines are served, 0 while it is indexed or the server stops.",
			ConstLabels: prometheus.Labels{"file": f.name},
		}, func() float64 {
			if f.ready() {
				return 1
			}
			return 0
		}))
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: errorLogger{s}})
	return m
}

// observe counts one answered request.
func (m *metrics) observe(code int, bytes int64, took time.Duration) {
	c, ok := m.byCode[code]
	if !ok {
		c = m.requests.WithLabelValues(strconv.Itoa(code))
	}
	c.Inc()
	m.bytes.Add(float64(bytes))
	m.latency.Observe(took.Seconds())
}

func (m fileMetrics) loaded(g *generation) {
	m.lines.Set(float64(g.lines))
	m.size.Set(float64(g.size))
}

func (m fileMetrics) built(took time.Duration) {
	m.build.Set(took.Seconds())
	m.builds.Inc()
}

func (m fileMetrics) extended() { m.extends.Inc() }

// sent counts the lines of one answer to GET.
func (m fileMetrics) sent(lines int64, isRange bool) {
	m.served.Add(float64(lines))
	if isRange {
		m.ranges.Inc()
	}
}

// serve writes the metrics; the status is 200 unless gathering failed. The
// byte count is what was sent: none for HEAD, whose body net/http drops.
func (m *metrics) serve(w http.ResponseWriter, r *http.Request) (int, int64) {
	cw := &countingWriter{ResponseWriter: w, code: http.StatusOK}
	m.handler.ServeHTTP(cw, r)
	if r.Method == http.MethodHead {
		return cw.code, 0
	}
	return cw.code, cw.n
}

type countingWriter struct {
	http.ResponseWriter
	code int
	n    int64
}

func (c *countingWriter) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// errorLogger routes promhttp's errors to the server's log.
type errorLogger struct{ s *Server }

func (e errorLogger) Println(v ...any) { e.s.log.Error("metrics", "err", fmt.Sprint(v...)) }
