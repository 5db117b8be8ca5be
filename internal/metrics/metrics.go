// Package metrics exposes Cella's Prometheus metrics: requests by verb,
// resource and code, request latency, and objects stored per resource.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
