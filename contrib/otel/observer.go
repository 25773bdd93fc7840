package matroskaotel

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/matroska-go/matroska/tiered"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/matroska-go/matroska/contrib/otel"

// The attributes of the spans and the metrics.
const (
	AttrNode    = attribute.Key("matroska.node")    // the cache's NodeID (metrics)
	AttrTier    = attribute.Key("matroska.tier")    // "l1" or "l2" (hits and misses)
	AttrKey     = attribute.Key("matroska.key")     // the key read, loaded or set (spans, with Options.RecordKeys)
	AttrKeys    = attribute.Key("matroska.keys")    // keys read or loaded, dependencies invalidated (spans)
	AttrFound   = attribute.Key("matroska.found")   // keys a read found, or a load returned a value for (spans)
	AttrRefresh = attribute.Key("matroska.refresh") // a load is a background refresh (spans)
)

// Options configure an Observer. The zero value is ready to use.
type Options struct {
	// MeterProvider makes the meter of the metrics.
	// default: otel.GetMeterProvider()
	MeterProvider metric.MeterProvider

	// TracerProvider makes the tracer of the spans.
	// default: otel.GetTracerProvider()
	TracerProvider trace.TracerProvider

	// Attributes are added to every span and every metric point.
	Attributes []attribute.KeyValue

	// RecordKeys adds the key (matroska.key) to the spans of reads, loads
	// and sets. Keys often hold user ids or other personal data, which
	// then reach the tracing backend: turn it on only if they do not, or
	// if that is fine.
	// default: false
	RecordKeys bool
}

// Observer makes spans of a cache's operations and metrics of its figures.
// It is a tiered.Observer, for tiered.Config.Observer; Register ties it to
// the cache made with that Config. It is safe for concurrent use.
type Observer struct {
	tracer     trace.Tracer
	meter      metric.Meter
	attrs      []attribute.KeyValue // Options.Attributes
	recordKeys bool

	// lag is the propagation histogram; lagAttrs its attributes, with the
	// node once Register has named it.
	lag      metric.Float64Histogram
	lagAttrs atomic.Pointer[metric.MeasurementOption]

	instruments []instrument        // one per name, in the order of definitions
	observables []metric.Observable // the same, for RegisterCallback
	registered  atomic.Bool
}

var _ tiered.Observer = (*Observer)(nil)

// ErrRegistered is returned by Register when the Observer has been
// registered before: an Observer belongs to one cache.
var ErrRegistered = errors.New("matroskaotel: Observer already registered (make one per cache)")

// New returns an Observer with the tracer and the instruments of opts'
// providers. Its error is the MeterProvider's, if it refuses an instrument.
func New(opts Options) (*Observer, error) {
	mp, tp := opts.MeterProvider, opts.TracerProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	o := &Observer{
		tracer:     tp.Tracer(ScopeName),
		meter:      mp.Meter(ScopeName),
		attrs:      append([]attribute.KeyValue(nil), opts.Attributes...),
		recordKeys: opts.RecordKeys,
	}
	var err error
	o.lag, err = o.meter.Float64Histogram("matroska.cache.propagation.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Time from an invalidation by this node until the bus delivered it back to this node."),
		metric.WithExplicitBucketBoundaries(lagBuckets...))
	if err != nil {
		return nil, err
	}
	lagAttrs := metric.WithAttributeSet(attribute.NewSet(o.attrs...))
	o.lagAttrs.Store(&lagAttrs)
	if err := o.makeInstruments(); err != nil {
		return nil, err
	}
	return o, nil
}

// lagBuckets are the propagation histogram's bounds, in seconds: a
// broadcast comes back within a millisecond or so on a quiet network, and
// within the trust window (seconds) at worst.
var lagBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// spanNames and spanKinds are by tiered.OpKind.
var (
	spanNames = [...]string{
		tiered.OpRead:       "matroska.read",
		tiered.OpLoad:       "matroska.load",
		tiered.OpInvalidate: "matroska.invalidate",
		tiered.OpSet:        "matroska.set",
	}
	spanKinds = [...]trace.SpanKind{
		tiered.OpRead:       trace.SpanKindClient,
		tiered.OpLoad:       trace.SpanKindInternal,
		tiered.OpInvalidate: trace.SpanKindClient,
		tiered.OpSet:        trace.SpanKindClient,
	}
)

// Begin starts the span of op; the func it returns ends it with the
// outcome. It is tiered.Observer's Begin, which the cache calls; a load's
// loader runs in the context it returns.
func (o *Observer) Begin(ctx context.Context, op tiered.Op) (context.Context, func(tiered.Outcome)) {
	name, kind := "matroska."+op.Kind.String(), trace.SpanKindInternal
	if int(op.Kind) < len(spanNames) && spanNames[op.Kind] != "" {
		name, kind = spanNames[op.Kind], spanKinds[op.Kind]
	}
	attrs := make([]attribute.KeyValue, 0, len(o.attrs)+3)
	attrs = append(attrs, o.attrs...)
	if o.recordKeys && op.Kind != tiered.OpInvalidate {
		attrs = append(attrs, AttrKey.String(op.Key))
	}
	attrs = append(attrs, AttrKeys.Int(op.Keys))
	if op.Kind == tiered.OpLoad {
		attrs = append(attrs, AttrRefresh.Bool(op.Refresh))
	}
	ctx, span := o.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	return ctx, func(out tiered.Outcome) { end(span, op.Kind, out) }
}

// end ends the span of an operation of kind k with its outcome.
func end(span trace.Span, k tiered.OpKind, out tiered.Outcome) {
	if k == tiered.OpRead || k == tiered.OpLoad {
		span.SetAttributes(AttrFound.Int(out.Found))
	}
	if err := out.Err; err != nil && !(k == tiered.OpLoad && errors.Is(err, tiered.ErrNotFound)) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Propagated records d in the propagation histogram. It is
// tiered.Observer's Propagated, which the cache calls.
func (o *Observer) Propagated(d time.Duration) {
	o.lag.Record(context.Background(), d.Seconds(), *o.lagAttrs.Load())
}
