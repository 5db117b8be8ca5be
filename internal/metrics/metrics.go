// Package metrics exposes Cella's Prometheus metrics: requests by verb,
// resource and code, request latency, objects stored per resource, and
// the memory each resource's watch cache holds for watches.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"cella.dev/cella/internal/watchcache"
)

// ObjectCounter counts the objects of one resource.
type ObjectCounter struct {
	Resource string
	Count    func(ctx context.Context) (int64, error)
}

// Metrics holds the registry and the request metrics.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New registers the metrics. objects are counted on each scrape.
func New(objects []ObjectCounter) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Requests answered, by verb, group, resource, subresource and HTTP code.",
		}, []string{"verb", "group", "resource", "subresource", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Time to answer non-streaming requests, by verb and resource.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"verb", "group", "resource"}),
	}
	reg.MustRegister(m.requests, m.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&objectCollector{objects: objects, desc: prometheus.NewDesc(
		"apiserver_storage_objects", "Objects stored, by resource.", []string{"resource"}, nil)})
	return m
}

// Observe records one answered request.
func (m *Metrics) Observe(verb, group, resource, subresource string, code int, elapsed time.Duration) {
	m.requests.WithLabelValues(verb, group, resource, subresource, strconv.Itoa(code)).Inc()
	if verb != "watch" {
		m.latency.WithLabelValues(verb, group, resource).Observe(elapsed.Seconds())
	}
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

type objectCollector struct {
	objects []ObjectCounter
	desc    *prometheus.Desc
}

func (c *objectCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *objectCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, o := range c.objects {
		n, err := o.Count(ctx)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), o.Resource)
	}
}

// WatchCache is the watch cache of one resource, as AddWatchCaches reports
// it.
type WatchCache struct {
	Resource string
	// Stats returns the cache's accounting; it is called on each scrape.
	Stats func() watchcache.Stats
}

// AddWatchCaches registers, by resource, what the watch caches hold: the
// events and bytes of their history (cella_watch_cache_history_events,
// cella_watch_cache_history_bytes), their watchers and the bytes queued
// for readers (cella_watch_cache_watchers, cella_watch_buffered_bytes), and
// the watchers ended for falling behind
// (cella_watch_cache_terminated_watchers_total). Bytes are as the caches
// count them against --watch-history-bytes and --watch-buffer-bytes.
func (m *Metrics) AddWatchCaches(caches []WatchCache) {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"resource"}, nil)
	}
	m.reg.MustRegister(&watchCacheCollector{
		caches:        caches,
		historyEvents: desc("cella_watch_cache_history_events", "Events kept in the watch cache's history, by resource."),
		historyBytes:  desc("cella_watch_cache_history_bytes", "Bytes of the events kept in the watch cache's history (keys, values and previous values), by resource."),
		watchers:      desc("cella_watch_cache_watchers", "Watches served from the watch cache, by resource."),
		buffered:      desc("cella_watch_buffered_bytes", "Bytes of the events queued for watch readers that have not yet received them, by resource."),
		terminated:    desc("cella_watch_cache_terminated_watchers_total", "Watches ended because their reader fell behind the watch cache's history, by resource."),
	})
}

type watchCacheCollector struct {
	caches                                                      []WatchCache
	historyEvents, historyBytes, watchers, buffered, terminated *prometheus.Desc
}

func (c *watchCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.historyEvents
	ch <- c.historyBytes
	ch <- c.watchers
	ch <- c.buffered
	ch <- c.terminated
}

func (c *watchCacheCollector) Collect(ch chan<- prometheus.Metric) {
	for _, wc := range c.caches {
		st := wc.Stats()
		ch <- prometheus.MustNewConstMetric(c.historyEvents, prometheus.GaugeValue, float64(st.HistoryEvents), wc.Resource)
		ch <- prometheus.MustNewConstMetric(c.historyBytes, prometheus.GaugeValue, float64(st.HistoryBytes), wc.Resource)
		ch <- prometheus.MustNewConstMetric(c.watchers, prometheus.GaugeValue, float64(st.Watchers), wc.Resource)
		ch <- prometheus.MustNewConstMetric(c.buffered, prometheus.GaugeValue, float64(st.BufferedBytes), wc.Resource)
		ch <- prometheus.MustNewConstMetric(c.terminated, prometheus.CounterValue, float64(st.Terminated), wc.Resource)
	}
}
