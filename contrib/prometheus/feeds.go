package matroskaprom

import (
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FeedFigures are the figures of one invalidation feed: a consumer of the
// database's commit log (contrib/pgcdc), as its service reads them from
// the consumer's Stats. This package does not import contrib/pgcdc; the
// service maps one onto the other:
//
//	feeds := map[string]func() matroskaprom.FeedFigures{"orders": func() matroskaprom.FeedFigures {
//		st := consumer.Stats()
//		return matroskaprom.FeedFigures{
//			Active: st.Active, LagBytes: float64(st.LagBytes), LagSeconds: st.LagTime.Seconds(),
//			Transactions: st.Transactions, Rows: st.Rows, Invalidations: st.Invalidations,
//			Retries: st.Retries, LastErrorAt: st.LastErrorAt,
//		}
//	}}
//	reg.MustRegister(matroskaprom.NewFeedCollector(feeds, matroskaprom.Options{}))
type FeedFigures struct {
	Active bool // the consumer streams its slot

	// LagBytes is the WAL its slot holds back; negative while unknown
	// (before the first sample), and then not exported. LagSeconds is how
	// long ago the transaction being invalidated committed.
	LagBytes, LagSeconds float64

	// Counters since the consumer started.
	Transactions, Rows, Invalidations, Retries uint64

	// LastErrorAt is when the last error happened; zero for none.
	LastErrorAt time.Time
}

// FeedCollector is a prometheus.Collector over the figures of feeds, each
// labelled "feed" with its name.
type FeedCollector struct {
	names   []string // sorted
	feeds   map[string]func() FeedFigures
	metrics []feedMetric
}

type feedMetric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*FeedFigures) (float64, bool)
}

// NewFeedCollector returns a collector of the figures of feeds, by name.
// Every scrape calls each function once. Metrics (with Options.Namespace,
// default "matroska"): feed_active, feed_lag_bytes, feed_lag_seconds,
// feed_transactions_total, feed_rows_total, feed_invalidations_total,
// feed_retries_total and feed_last_error_timestamp_seconds (0: none).
func NewFeedCollector(feeds map[string]func() FeedFigures, opts Options) *FeedCollector {
	ns := opts.Namespace
	if ns == "" {
		ns = "matroska"
	}
	c := &FeedCollector{feeds: maps.Clone(feeds), names: slices.Sorted(maps.Keys(feeds))}
	always := func(f func(*FeedFigures) float64) func(*FeedFigures) (float64, bool) {
		return func(ff *FeedFigures) (float64, bool) { return f(ff), true }
	}
	defs := []struct {
		name, help string
		typ        prometheus.ValueType
		value      func(*FeedFigures) (float64, bool)
	}{
		{"active", "1 while the feed's consumer streams its slot.", prometheus.GaugeValue,
			always(func(f *FeedFigures) float64 { return boolean(f.Active) })},
		{"lag_bytes", "WAL the feed's slot holds back on the database server.", prometheus.GaugeValue,
			func(f *FeedFigures) (float64, bool) { return f.LagBytes, f.LagBytes >= 0 }},
		{"lag_seconds", "Age of the commit of the transaction the consumer invalidates now; 0 when it has none pending.", prometheus.GaugeValue,
			always(func(f *FeedFigures) float64 { return f.LagSeconds })},
		{"transactions_total", "Committed transactions invalidated and confirmed.", prometheus.CounterValue,
			always(func(f *FeedFigures) float64 { return count(f.Transactions) })},
		{"rows_total", "Row changes of the consumer's tables.", prometheus.CounterValue,
			always(func(f *FeedFigures) float64 { return count(f.Rows) })},
		{"invalidations_total", "Invalidate calls that succeeded.", prometheus.CounterValue,
			always(func(f *FeedFigures) float64 { return count(f.Invalidations) })},
		{"retries_total", "Invalidate calls that failed and were retried.", prometheus.CounterValue,
			always(func(f *FeedFigures) float64 { return count(f.Retries) })},
		{"last_error_timestamp_seconds", "Unix time of the consumer's last error; 0 for none.", prometheus.GaugeValue,
			always(func(f *FeedFigures) float64 {
				if f.LastErrorAt.IsZero() {
					return 0
				}
				return float64(f.LastErrorAt.UnixNano()) / 1e9
			})},
	}
	for _, d := range defs {
		c.metrics = append(c.metrics, feedMetric{
			desc:  prometheus.NewDesc(prometheus.BuildFQName(ns, "feed", d.name), d.help, []string{"feed"}, opts.ConstLabels),
			typ:   d.typ,
			value: d.value,
		})
	}
	return c
}

// Describe sends the descriptions of every metric.
func (c *FeedCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect reads each feed's figures once and sends its metrics.
func (c *FeedCollector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.names {
		f := c.feeds[name]()
		for _, m := range c.metrics {
			v, ok := m.value(&f)
			if !ok {
				continue
			}
			pm, err := prometheus.NewConstMetric(m.desc, m.typ, v, name)
			if err != nil {
				pm = prometheus.NewInvalidMetric(m.desc, err)
			}
			ch <- pm
		}
	}
}
