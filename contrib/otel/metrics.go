package matroskaotel

import (
	"context"
	"errors"
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/matroska-go/matroska/tiered"
)

// Source is what Register reads; *tiered.Cache is one.
type Source interface {
	Stats() tiered.Stats
	NodeID() string
}

// kind is the kind of an observable instrument.
type kind uint8

const (
	counter kind = iota // cumulative since the cache started
	updown              // a size that goes up and down, and adds up across nodes
	gauge               // a position or a state
)

// definition is one observed figure. Figures with the same name are one
// instrument, told apart by their tier.
type definition struct {
	name, unit, desc string
	kind             kind
	tier             string // "l1" or "l2" for the hits and misses, else ""
	value            func(*tiered.Stats) int64
}

// count converts a counter; a uint64 past int64 is far beyond any cache's
// life, but it saturates rather than wrap.
func count(v uint64) int64 { return int64(min(v, math.MaxInt64)) }

func boolean(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// definitions are the observed figures: those of contrib/prometheus, named
// matroska.cache.[subsystem.]name, with the hits and the misses of the two
// tiers one instrument each.
var definitions = []definition{
	{"matroska.cache.hits", "{call}", "Calls answered from L1 (matroska.tier=l1) or from Redis (l2).", counter, "l1", func(s *tiered.Stats) int64 { return count(s.L1Hits) }},
	{"matroska.cache.hits", "{call}", "", counter, "l2", func(s *tiered.Stats) int64 { return count(s.L2Hits) }},
	{"matroska.cache.misses", "{call}", "L1 lookups that missed or were skipped because L1 was not trusted (matroska.tier=l1), calls that found nothing in Redis either (l2).", counter, "l1", func(s *tiered.Stats) int64 { return count(s.L1Misses) }},
	{"matroska.cache.misses", "{call}", "", counter, "l2", func(s *tiered.Stats) int64 { return count(s.L2Misses) }},
	{"matroska.cache.loads", "{call}", "Loader calls.", counter, "", func(s *tiered.Stats) int64 { return count(s.Loads) }},
	{"matroska.cache.load_errors", "{call}", "Loader calls that failed (never cached).", counter, "", func(s *tiered.Stats) int64 { return count(s.LoadErrors) }},
	{"matroska.cache.shared_loads", "{call}", "Callers that received another caller's load.", counter, "", func(s *tiered.Stats) int64 { return count(s.Shared) }},
	{"matroska.cache.refused_puts", "{value}", "Loaded values not stored because an invalidation overtook them.", counter, "", func(s *tiered.Stats) int64 { return count(s.RefusedPuts) }},
	{"matroska.cache.refused_fills", "{fill}", "L1 fills refused by a tombstone, the floor or a reset.", counter, "", func(s *tiered.Stats) int64 { return count(s.RefusedFills) }},
	{"matroska.cache.corrupt_entries", "{entry}", "Undecodable entries met in Redis.", counter, "", func(s *tiered.Stats) int64 { return count(s.Corrupt) }},
	{"matroska.cache.lost_index", "{entry}", "Redis entries dropped on read because part of their index was gone.", counter, "", func(s *tiered.Stats) int64 { return count(s.LostIndex) }},
	{"matroska.cache.checked_reads", "{read}", "Redis reads the node could not vouch for from the invalidations it applied, read again with the index check.", counter, "", func(s *tiered.Stats) int64 { return count(s.CheckedReads) }},
	{"matroska.cache.invalidations_sent", "{invalidation}", "Invalidations that reached Redis.", counter, "", func(s *tiered.Stats) int64 { return count(s.InvalidationsSent) }},
	{"matroska.cache.invalidations_applied", "{message}", "Bus messages applied to L1.", counter, "", func(s *tiered.Stats) int64 { return count(s.InvalidationsApplied) }},
	{"matroska.cache.degraded", "{call}", "Calls answered by the loader without Redis.", counter, "", func(s *tiered.Stats) int64 { return count(s.Degraded) }},
	{"matroska.cache.breaker_opens", "{open}", "Times the circuit breaker opened.", counter, "", func(s *tiered.Stats) int64 { return count(s.BreakerOpens) }},
	{"matroska.cache.rejoined_loads", "{call}", "Callers that joined a load an invalidation had overtaken, and loaded again.", counter, "", func(s *tiered.Stats) int64 { return count(s.Rejoined) }},
	{"matroska.cache.refused_writes", "{value}", "Loaded values Redis refused to store (out of memory, read-only, failing persistence), answered uncached.", counter, "", func(s *tiered.Stats) int64 { return count(s.RefusedWrites) }},
	{"matroska.cache.holds", "{hold}", "Holds received: invalidations Redis refused, after which no node serves the cache until Redis takes writes again.", counter, "", func(s *tiered.Stats) int64 { return count(s.Holds) }},
	{"matroska.cache.codec_mismatches", "{entry}", "Entries met in Redis in another codec than this node's.", counter, "", func(s *tiered.Stats) int64 { return count(s.CodecMismatches) }},
	{"matroska.cache.unfinished_invalidations", "{invalidation}", "Invalidations in effect whose clean-up was cut short (swept later).", counter, "", func(s *tiered.Stats) int64 { return count(s.Unfinished) }},
	{"matroska.cache.combined_invalidations", "{invalidation}", "Invalidate and Delete calls sent to Redis together with others of this node (combined under load).", counter, "", func(s *tiered.Stats) int64 { return count(s.InvalidationsCombined) }},
	{"matroska.cache.leases", "{lease}", "Cross-node load leases taken.", counter, "", func(s *tiered.Stats) int64 { return count(s.Leases) }},
	{"matroska.cache.lease_waits", "{call}", "Loads that waited for another node's lease.", counter, "", func(s *tiered.Stats) int64 { return count(s.LeaseWaits) }},
	{"matroska.cache.lease_notified", "{call}", "Lease waits ended by a fill announcement rather than by polling.", counter, "", func(s *tiered.Stats) int64 { return count(s.LeaseNotified) }},
	{"matroska.cache.lease_takeovers", "{lease}", "Leases taken after waiting with no announcement: the holder's had run out.", counter, "", func(s *tiered.Stats) int64 { return count(s.LeaseTakeovers) }},
	{"matroska.cache.refreshes", "{refresh}", "Background refreshes started.", counter, "", func(s *tiered.Stats) int64 { return count(s.Refreshes) }},
	{"matroska.cache.refreshes_stored", "{refresh}", "Background refreshes whose value was stored.", counter, "", func(s *tiered.Stats) int64 { return count(s.RefreshesStored) }},
	{"matroska.cache.refreshes_refused", "{refresh}", "Background refreshes not stored because an invalidation overtook them.", counter, "", func(s *tiered.Stats) int64 { return count(s.RefreshesRefused) }},
	{"matroska.cache.stale_served", "{call}", "Failed loads answered with a value kept for StaleIfError.", counter, "", func(s *tiered.Stats) int64 { return count(s.StaleServed) }},

	{"matroska.cache.l1.entries", "{entry}", "Entries in the L1 dependency index.", updown, "", func(s *tiered.Stats) int64 { return int64(s.L1.Entries) }},
	{"matroska.cache.l1.dependencies", "{dependency}", "Dependencies in the L1 index.", updown, "", func(s *tiered.Stats) int64 { return int64(s.L1.Deps) }},
	{"matroska.cache.l1.tombstones", "{tombstone}", "Invalidations remembered by L1.", updown, "", func(s *tiered.Stats) int64 { return int64(s.L1.Tombstones) }},
	{"matroska.cache.l1.fills", "{fill}", "L1 fills accepted.", counter, "", func(s *tiered.Stats) int64 { return count(s.L1.Fills) }},
	{"matroska.cache.l1.dropped_fills", "{fill}", "L1 fills dropped by Ristretto's full Set buffer.", counter, "", func(s *tiered.Stats) int64 { return count(s.L1.Dropped) }},
	{"matroska.cache.l1.invalidated", "{entry}", "L1 entries dropped by invalidations.", counter, "", func(s *tiered.Stats) int64 { return count(s.L1.Invalidated) }},
	{"matroska.cache.l1.expired", "{entry}", "L1 entries dropped past their expiry.", counter, "", func(s *tiered.Stats) int64 { return count(s.L1.Expired) }},
	{"matroska.cache.l1.flushes", "{flush}", "L1 resets: first sync, a gap the log could not fill, an epoch change.", counter, "", func(s *tiered.Stats) int64 { return count(s.Flushes) }},

	{"matroska.cache.bus.received", "{message}", "Messages received on the channel.", counter, "", func(s *tiered.Stats) int64 { return count(s.Bus.Received) }},
	{"matroska.cache.bus.malformed", "{message}", "Messages dropped as malformed.", counter, "", func(s *tiered.Stats) int64 { return count(s.Bus.Malformed) }},
	{"matroska.cache.bus.gaps", "{gap}", "Sequence gaps seen on the channel.", counter, "", func(s *tiered.Stats) int64 { return count(s.Bus.Gaps) }},
	{"matroska.cache.bus.replays", "{invalidation}", "Invalidations replayed from the log after a gap.", counter, "", func(s *tiered.Stats) int64 { return count(s.Replays) }},
	{"matroska.cache.bus.reconnects", "{reconnect}", "Subscriptions confirmed again after the first.", counter, "", func(s *tiered.Stats) int64 { return count(s.Bus.Reconnects) }},
	{"matroska.cache.bus.silences", "{silence}", "Trust windows passed without a sign of life.", counter, "", func(s *tiered.Stats) int64 { return count(s.Bus.Silences) }},
	{"matroska.cache.bus.lost", "{message}", "Messages found missing by a heartbeat.", counter, "", func(s *tiered.Stats) int64 { return count(s.Bus.Lost) }},
	{"matroska.cache.bus.forged", "{message}", "Messages dropped because they are not signed with the MessageKey.", counter, "", func(s *tiered.Stats) int64 { return count(s.Bus.Forged) }},
	{"matroska.cache.bus.stale_epoch", "{message}", "Messages of another epoch than the current one, ignored.", counter, "", func(s *tiered.Stats) int64 { return count(s.Bus.StaleEpoch) }},
	{"matroska.cache.bus.sequence", "1", "Last invalidation sequence applied.", gauge, "", func(s *tiered.Stats) int64 { return count(s.Bus.Seq) }},
	{"matroska.cache.bus.trusted", "1", "1 when the bus lets this node serve L1, 0 while it catches up (always 0 in one-process mode, which has no bus).", gauge, "", func(s *tiered.Stats) int64 { return boolean(s.Bus.Trusted) }},
}

// instrument is one observable instrument and the figures it reports.
type instrument struct {
	obs  metric.Int64Observable
	defs []definition
}

// makeInstruments makes one instrument per name in definitions.
func (o *Observer) makeInstruments() error {
	var errs []error
	for _, d := range definitions {
		if n := len(o.instruments); n > 0 && o.instruments[n-1].defs[0].name == d.name {
			o.instruments[n-1].defs = append(o.instruments[n-1].defs, d)
			continue
		}
		var (
			obs metric.Int64Observable
			err error
		)
		switch d.kind {
		case counter:
			obs, err = o.meter.Int64ObservableCounter(d.name, metric.WithUnit(d.unit), metric.WithDescription(d.desc))
		case updown:
			obs, err = o.meter.Int64ObservableUpDownCounter(d.name, metric.WithUnit(d.unit), metric.WithDescription(d.desc))
		case gauge:
			obs, err = o.meter.Int64ObservableGauge(d.name, metric.WithUnit(d.unit), metric.WithDescription(d.desc))
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.instruments = append(o.instruments, instrument{obs: obs, defs: []definition{d}})
		o.observables = append(o.observables, obs)
	}
	return errors.Join(errs...)
}

// Register ties the Observer to src, the cache made with it in its Config:
// from then on each collection of the MeterProvider's readers reads
// src.Stats once and reports every figure, with the attribute
// matroska.node = src.NodeID() (which the propagation histogram carries
// from then on too). Unregister the Registration to stop (before the
// cache is closed, or after: Stats may be read after Close). An Observer
// is registered once: a second Register is ErrRegistered.
func (o *Observer) Register(src Source) (metric.Registration, error) {
	if !o.registered.CompareAndSwap(false, true) {
		return nil, ErrRegistered
	}
	base := append([]attribute.KeyValue{AttrNode.String(src.NodeID())}, o.attrs...)
	opt := func(tier string) metric.ObserveOption {
		kvs := base
		if tier != "" {
			kvs = append(kvs[:len(kvs):len(kvs)], AttrTier.String(tier))
		}
		return metric.WithAttributeSet(attribute.NewSet(kvs...))
	}
	// The options, by instrument and figure, made once.
	opts := make([][]metric.ObserveOption, len(o.instruments))
	for i, in := range o.instruments {
		for _, d := range in.defs {
			opts[i] = append(opts[i], opt(d.tier))
		}
	}
	reg, err := o.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		st := src.Stats()
		for i, in := range o.instruments {
			for j, d := range in.defs {
				ob.ObserveInt64(in.obs, d.value(&st), opts[i][j])
			}
		}
		return nil
	}, o.observables...)
	if err != nil {
		o.registered.Store(false)
		return nil, err
	}
	lagAttrs := metric.WithAttributeSet(attribute.NewSet(base...))
	o.lagAttrs.Store(&lagAttrs)
	return reg, nil
}
