// Package matroskaprom exports the figures of a tiered.Cache (Cache.Stats)
// as Prometheus metrics.
//
//	reg.MustRegister(matroskaprom.NewCollector(cache, matroskaprom.Options{}))
//
// Every scrape reads Stats once. Counters are cumulative since the cache
// started and are exported as Prometheus counters (suffix _total); positions
// and sizes (entries, dependencies, the bus sequence, trust) are gauges. The
// metrics carry a "node" label with the cache's NodeID, so that several
// caches in one process can be registered side by side.
//
// NewFeedCollector exports the figures of the invalidation feeds a service
// runs (contrib/pgcdc's consumers: lag, counters, last error) with a
// "feed" label; the service maps its consumer's Stats onto FeedFigures.
//
// It lives in its own module so that the library does not depend on the
// Prometheus client.
package matroskaprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/matroska-go/matroska/tiered"
)

// Source is what the collector reads; *tiered.Cache is one.
type Source interface {
	Stats() tiered.Stats
	NodeID() string
}

// Options configure a Collector.
type Options struct {
	// Namespace prefixes every metric name.
	// default: "matroska"
	Namespace string

	// ConstLabels are added to every metric.
	ConstLabels prometheus.Labels
}

// Collector is a prometheus.Collector over one cache's Stats.
type Collector struct {
	src     Source
	metrics []metric
}

type metric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*tiered.Stats) float64
}

// NewCollector returns a collector of src's figures.
func NewCollector(src Source, opts Options) *Collector {
	ns := opts.Namespace
	if ns == "" {
		ns = "matroska"
	}
	c := &Collector{src: src}
	for _, d := range definitions {
		name := prometheus.BuildFQName(ns, d.subsystem, d.name)
		typ := prometheus.GaugeValue
		if d.counter {
			name += "_total"
			typ = prometheus.CounterValue
		}
		c.metrics = append(c.metrics, metric{
			desc:  prometheus.NewDesc(name, d.help, []string{"node"}, opts.ConstLabels),
			typ:   typ,
			value: d.value,
		})
	}
	return c
}

// Describe sends the descriptions of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect reads the cache's Stats once and sends every metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	node := c.src.NodeID()
	for _, m := range c.metrics {
		pm, err := prometheus.NewConstMetric(m.desc, m.typ, m.value(&st), node)
		if err != nil {
			pm = prometheus.NewInvalidMetric(m.desc, err)
		}
		ch <- pm
	}
}
